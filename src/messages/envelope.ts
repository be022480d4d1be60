/**
 * A fast path for reading the JSON-RPC envelopes this library writes. Peers
 * (this one, the Python one) write `{"jsonrpc":"2.0"[,"id":N][,"method":"m"]
 * [,"params":...|,"result":...]}` in that order and without spaces; for that
 * exact layout the envelope is read by comparing bytes and only the params or
 * result are handed to JSON.parse (the envelope object was most of the
 * parse's cost). Anything else (another order, spaces, escapes in the method,
 * an error reply, a number that is not a plain integer) is left to the
 * generic path: readEnvelope returns false and nothing is lost.
 */
import type { NativeText } from './encode.js';
import { ENVELOPE } from './encode.js';

/** What readEnvelope found; one object, overwritten by every call (read it at once). */
export const envelope = {
  /** -1 when the envelope has no id (a notification). */
  id: -1,
  /** The method (a request or notification), or null (a result). */
  method: null as string | null,
  /** The params or the result; undefined when absent. */
  value: undefined as unknown,
};

function match(src: Buffer, at: number, end: number, bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (end - at < n) return false;
  for (let i = 0; i < n; i++) if (src[at + i] !== bytes[i]) return false;
  return true;
}

// The last method read, and its bytes: a receiver usually sees one method many times.
let lastBytes: Buffer = Buffer.alloc(0);
let lastMethod = '';

function methodAt(src: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === lastBytes.length) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (src[start + i] !== lastBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastMethod;
  }
  lastMethod = (src as unknown as NativeText).utf8Slice(start, end);
  lastBytes = Buffer.from(src.subarray(start, end));
  return lastMethod;
}

/**
 * Reads `src[start, end)` if it is a request, notification or result in the canonical layout.
 * @returns true with the fields in `envelope`; false to use the generic path (not an error).
 */
export function readEnvelope(src: Buffer, start: number, end: number): boolean {
  if (src[end - 1] !== 0x7d || !match(src, start, end, ENVELOPE.open)) return false;
  let p = start + ENVELOPE.open.length;
  let id = -1;
  if (match(src, p, end, ENVELOPE.id)) {
    p += ENVELOPE.id.length;
    const first = p;
    let value = 0;
    while (p < end && src[p]! >= 0x30 && src[p]! <= 0x39) value = value * 10 + (src[p++]! - 0x30);
    const digits = p - first;
    // JSON forbids leading zeros; an id must be a safe integer (exact while it is one: rounding is monotonic).
    if (digits === 0 || digits > 16 || value > Number.MAX_SAFE_INTEGER || (digits > 1 && src[first] === 0x30)) return false;
    id = value;
  }
  let method: string | null = null;
  let member: Uint8Array;
  if (match(src, p, end, ENVELOPE.method)) {
    p += ENVELOPE.method.length;
    if (src[p] !== 0x22) return false;
    const first = ++p;
    for (;;) {
      if (p >= end) return false;
      const c = src[p]!;
      if (c === 0x22) break;
      if (c === 0x5c || c < 0x20) return false; // escapes and control characters: the generic path
      p++;
    }
    method = methodAt(src, first, p);
    p++;
    if (p === end - 1) {
      envelope.id = id;
      envelope.method = method;
      envelope.value = undefined;
      return true;
    }
    member = ENVELOPE.params;
  } else if (id >= 0) {
    member = ENVELOPE.result;
  } else {
    return false;
  }
  if (!match(src, p, end, member)) return false;
  p += member.length;
  let value: unknown;
  try {
    // The rest, up to the closing brace, must be one JSON value; if it is not, the generic path decides.
    value = JSON.parse((src as unknown as NativeText).utf8Slice(p, end - 1));
  } catch {
    return false;
  }
  envelope.id = id;
  envelope.method = method;
  envelope.value = value;
  return true;
}
