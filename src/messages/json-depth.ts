/**
 * The nesting-depth limit for JSON messages, checked without recursion.
 *
 * A JSON value nested thousands of arrays deep is a few kilobytes, yet every
 * recursive reader or printer (JSON.stringify, util.inspect, Python's json)
 * runs out of stack on it. So a message may nest at most MAX_JSON_DEPTH
 * arrays and objects (the JSON-RPC envelope counts as one), a receiver checks
 * that with one linear scan of the bytes before parsing, and a sender checks
 * its own text before writing it, so that it never sends what its peer must
 * refuse.
 *
 * The scan counts `[` and `{` outside strings: inside a string a `"` ends it
 * unless escaped, and every byte of a multi-byte UTF-8 character is >= 0x80,
 * so it can never be taken for a bracket or a quote. The scan does not
 * validate the JSON: the parser that follows does.
 */

/** Arrays and objects a JSON message may nest: `[]` is depth 1, `{"a":[1]}` is depth 2. */
export const MAX_JSON_DEPTH = 128;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether the JSON text in `bytes[start, end)` nests deeper than MAX_JSON_DEPTH. Linear, no recursion. */
export function bytesTooDeep(bytes: Uint8Array, start: number, end: number): boolean {
  return nestsDeeper(bytes, start, end, MAX_JSON_DEPTH);
}

/**
 * Texts up to this many UTF-16 units are scanned in one reused buffer (their UTF-8 form fits:
 * at most 3 bytes a unit); longer ones, rare and bounded by the message size, in their own.
 */
const SCRATCH_UNITS = 4 * 1024;
let scratch: Buffer | null = null;

/**
 * Whether JSON text nests deeper than `limit`: the same scan as bytesTooDeep, on the text's UTF-8
 * form. Every byte of a multi-byte character is >= 0x80, as is every UTF-16 unit that is not
 * ASCII, so the scan finds the same brackets and quotes in either form.
 */
export function textTooDeep(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  if (text.length < 2 * (limit + 1)) return false;
  if (text.length > SCRATCH_UNITS) {
    const bytes = Buffer.from(text, 'utf8');
    return nestsDeeper(bytes, 0, bytes.length, limit);
  }
  scratch ??= Buffer.allocUnsafeSlow(3 * SCRATCH_UNITS);
  return nestsDeeper(scratch, 0, scratch.write(text, 0, 'utf8'), limit);
}

/** The scan: `[` and `{` outside strings, more than `limit` deep. */
function nestsDeeper(bytes: Uint8Array, start: number, end: number, limit: number): boolean {
  // Shorter cannot exceed the limit: depth d takes d openings and d closings.
  if (end - start < 2 * (limit + 1)) return false;
  let depth = 0;
  let inString = false;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}
