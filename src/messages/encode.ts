/**
 * Sending frames. Small frames are built straight into a shared slab, back
 * to back, and the run of frames one connection sends in a tick (its
 * "region") goes to that socket's writer as ONE write: one copy per frame and
 * no per-frame writer call, promise or allocation. The region is handed over
 * at the end of the tick, when it reaches FLUSH_BYTES (so the bytes count in
 * the socket's bytesToWrite and backpressure holds), or as soon as another
 * connection or a large frame needs the slab. Every frame of a region shares
 * one promise, settled when the region reached the kernel.
 *
 * The one rule for everyone else: nothing may be written to a socket while
 * its region is open. So a frame built elsewhere (a broadcast, a close
 * frame) goes through writeWholeFrame, and the end of the stream through
 * endAfterFrames: both hand the region over first.
 *
 * Slab bytes are never reused, so a region's view stays valid while the
 * writer holds it. A region handed over while the connection's queue is not
 * empty is copied out of the slab first: a region that has to wait (the peer
 * is slow) then holds only its own bytes, never a whole shared slab, so each
 * connection keeps at most one slab alive. Large frames are a header plus the
 * payload as it is (not copied), written back to back right after the
 * connection's region.
 */
import type { LocalSocket } from '../socket.js';
import { QUEUED_BYTES } from '../writer.js';
import { FRAME_HEADER_BYTES, FrameType, tooLarge, writeFrameHeader } from './frame.js';

/** Frames up to this size are built in the slab; larger payloads go out as they are. */
export const SMALL_FRAME = 8 * 1024;
/** A region this big is handed to the writer at once (the writer passes writes of 16 KiB and more on without copying them). */
const FLUSH_BYTES = 16 * 1024;
const SLAB_BYTES = 64 * 1024;

/** Buffer's native UTF-8 methods (present on every Buffer since Node 0.x, under Buffer#write and #toString). */
export interface NativeText {
  utf8Write(text: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

let slab: Buffer = Buffer.allocUnsafeSlow(0);
let used = 0;

// The one open region: whose, where it starts, and its shared promise (made on first use).
let owner: LocalSocket | null = null;
let regionStart = 0;
let promise: Promise<void> | null = null;
let resolveRegion: (() => void) | null = null;
let rejectRegion: ((err: unknown) => void) | null = null;
let flushScheduled = false;

const ignore = (): void => {};

function regionPromise(): Promise<void> {
  if (promise === null) {
    promise = new Promise<void>((resolve, reject) => {
      resolveRegion = resolve;
      rejectRegion = reject;
    });
  }
  return promise;
}

/** Hands the open region (if any) to its socket's writer. */
function flush(): void {
  const socket = owner;
  if (socket === null) return;
  owner = null;
  const view = slab.subarray(regionStart, used);
  // Queue empty: the kernel takes the view at once (the common case, no copy).
  const bytes = socket[QUEUED_BYTES] === 0 ? view : Buffer.from(view);
  used = (used + 7) & ~7;
  const p = promise;
  const resolve = resolveRegion;
  const reject = rejectRegion;
  promise = null;
  resolveRegion = null;
  rejectRegion = null;
  const written = socket.write(bytes);
  if (p !== null) {
    written.then(resolve, (err: unknown) => {
      // Senders may not await: a failure must not become an unhandled rejection (it is also on the socket's events).
      p.catch(ignore);
      reject!(err);
    });
  }
}

function flushAtTickEnd(): void {
  flushScheduled = false;
  flush();
}

/** Makes room for `bytes` in `socket`'s open region; returns the offset to write at. */
function reserve(socket: LocalSocket, bytes: number): number {
  if (owner !== socket || slab.length - used < bytes) {
    flush();
    if (slab.length - used < bytes) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      used = 0;
    }
    owner = socket;
    regionStart = used;
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushAtTickEnd);
    }
  }
  return used;
}

/** Closes a frame written at the end of the region; returns the region's promise if `settle` (else no promise is made). */
function commit(end: number, settle: boolean): Promise<void> | undefined {
  used = end;
  const p = settle ? regionPromise() : undefined;
  if (end - regionStart >= FLUSH_BYTES) flush();
  return p;
}

/**
 * Every byte queued for the peer on `socket`: its writer's queue (accepted and waiting) and the
 * frames built in the slab this tick and not yet handed over.
 */
export function queuedBytes(socket: LocalSocket): number {
  return socket[QUEUED_BYTES] + (owner === socket ? used - regionStart : 0);
}

/**
 * Hands `socket`'s open region (if it has one) to its writer now. Callers that write a frame of
 * their own use writeWholeFrame, which does this first.
 */
export function flushFrames(socket: LocalSocket): void {
  if (owner === socket) flush();
}

/**
 * Writes one whole frame, already encoded (a broadcast shared by every peer, a close frame), on
 * `socket` now. The frames built for the socket this tick go first, so messages keep their order:
 * every write of a frame made outside this module goes through here.
 * @returns Resolves when the frame reached the kernel; rejects with the write's error (also on the
 *   socket's events).
 */
export function writeWholeFrame(socket: LocalSocket, frame: Uint8Array): Promise<void> {
  flushFrames(socket);
  return socket.write(frame);
}

/**
 * As writeWholeFrame, within a bound: when something is already queued for the peer and the frame
 * would take what is queued past `limit` bytes, nothing is written. A frame into an empty queue
 * always goes, however large (the writer takes it in pieces). A failed write is reported on the
 * socket's events (the writer marks its promise observed).
 * @returns whether the frame was written
 */
export function writeWholeFrameWithin(socket: LocalSocket, frame: Uint8Array, limit: number): boolean {
  flushFrames(socket);
  // Everything queued counts (accepted and waiting), measured once this tick's frames are handed over.
  const queued = socket[QUEUED_BYTES];
  if (queued > 0 && queued + frame.length > limit) return false;
  void socket.write(frame);
  return true;
}

/**
 * Ends the stream of `socket` once the frames built for it this tick are handed over (they are
 * sent before the end).
 * @returns socket.end()'s promise
 */
export function endAfterFrames(socket: LocalSocket): Promise<void> {
  flushFrames(socket);
  return socket.end();
}

/**
 * Sends a JSON text as a 'J' frame on `socket`.
 * @returns Resolves when the frame reached the kernel; rejects with the write's error.
 * @throws LocalSocketError MESSAGE_TOO_LARGE when its UTF-8 form exceeds `max` (nothing is written).
 */
export function sendJsonFrame(socket: LocalSocket, text: string, max: number): Promise<void> {
  return jsonFrame(socket, text, max, true)!;
}

/**
 * As sendJsonFrame, for frames nobody awaits (requests, replies, cancellations): no promise is
 * made for them; a failed write still reaches the socket's error and close events.
 * @throws LocalSocketError MESSAGE_TOO_LARGE when its UTF-8 form exceeds `max` (nothing is written).
 */
export function queueJsonFrame(socket: LocalSocket, text: string, max: number): void {
  void jsonFrame(socket, text, max, false);
}

function jsonFrame(socket: LocalSocket, text: string, max: number, settle: boolean): Promise<void> | undefined {
  // A UTF-16 code unit never takes more than 3 bytes in UTF-8.
  const worst = FRAME_HEADER_BYTES + text.length * 3;
  if (worst <= SMALL_FRAME) {
    const at = reserve(socket, worst);
    // Measured: a JS copy loop loses to the native encoder here, as the text is usually a concatenation V8 must flatten first.
    // utf8Write directly: Buffer#write's argument handling cost more than the encoding of a small text here.
    const length = (slab as unknown as NativeText).utf8Write(text, at + FRAME_HEADER_BYTES, slab.length - at - FRAME_HEADER_BYTES);
    if (length > max) throw tooLarge(length, max);
    writeFrameHeader(slab, at, FrameType.JSON, length);
    return commit(at + FRAME_HEADER_BYTES + length, settle);
  }
  const payload = Buffer.from(text);
  if (payload.length > max) throw tooLarge(payload.length, max);
  return sendLarge(socket, FrameType.JSON, payload);
}

/**
 * Sends bytes as a 'B' frame on `socket` (small ones copied, large ones referenced as they are).
 * @returns Resolves when the frame reached the kernel; rejects with the write's error.
 * @throws LocalSocketError MESSAGE_TOO_LARGE when `data` exceeds `max` (nothing is written).
 */
export function sendBinaryFrame(socket: LocalSocket, data: Uint8Array, max: number): Promise<void> {
  const length = data.length;
  if (length > max) throw tooLarge(length, max);
  const size = FRAME_HEADER_BYTES + length;
  if (size <= SMALL_FRAME) {
    const at = reserve(socket, size);
    writeFrameHeader(slab, at, FrameType.BINARY, length);
    slab.set(data, at + FRAME_HEADER_BYTES);
    return commit(at + size, true)!;
  }
  return sendLarge(socket, FrameType.BINARY, data);
}

/**
 * A large frame: the header joins the socket's region, which is handed over at once; the payload
 * follows as its own write in the same tick, so nothing can come between them.
 */
function sendLarge(socket: LocalSocket, type: number, payload: Uint8Array): Promise<void> {
  const at = reserve(socket, FRAME_HEADER_BYTES);
  writeFrameHeader(slab, at, type, payload.length);
  used = at + FRAME_HEADER_BYTES;
  flush();
  return socket.write(payload);
}

// ---- JSON-RPC envelopes, written straight into the slab -------------------------------------------

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
/** The constant parts of the envelopes, in JSON.stringify's member order (jsonrpc, id, method, params | result). */
export const ENVELOPE = {
  open: ascii('{"jsonrpc":"2.0"'),
  id: ascii(',"id":'),
  method: ascii(',"method":'),
  params: ascii(',"params":'),
  result: ascii(',"result":'),
} as const;
/** Bytes of every constant part together, and of the longest id (a sign and 16 digits), and the closing brace: a bound for one envelope. */
const ENVELOPE_FIXED = 16 + 6 + 10 + 10 + 17 + 1;

/** Copies a few bytes with a loop: for runs this short, cheaper than a native call. */
function put(target: Buffer, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n; i++) target[at + i] = bytes[i]!;
  return at + n;
}

/** Writes a safe integer in decimal (a negative one with its sign); returns the end. */
function putInt(target: Buffer, at: number, value: number): number {
  if (value < 0) {
    target[at] = 0x2d; // -
    return putInt(target, at + 1, -value);
  }
  if (value < 10) {
    target[at] = 0x30 + value;
    return at + 1;
  }
  let digits = 0;
  for (let v = value; v > 0; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = at + digits - 1; i >= at; i--) {
    target[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

// The last method name encoded as a JSON string: a sender usually repeats one method many times.
let lastMethod: string | null = null;
let lastMethodBytes: Uint8Array = new Uint8Array(0);

function methodBytes(method: string): Uint8Array {
  if (method !== lastMethod) {
    lastMethodBytes = Buffer.from(JSON.stringify(method));
    lastMethod = method;
  }
  return lastMethodBytes;
}

/**
 * Sends a JSON-RPC envelope `{"jsonrpc":"2.0"[,"id":id][,"method":method][,"<member>":json]}`,
 * byte for byte what JSON.stringify makes of the same object, without building its text:
 * the constant parts are copied, the method's bytes reused, only `json` is encoded.
 * @param id - The id (any safe integer, negative ones included), or null for none (a notification).
 * @param method - The method, or null (a result).
 * @param member - ENVELOPE.params or ENVELOPE.result, with `json` (already JSON text), or null for neither.
 * @param settle - Whether a promise is wanted.
 * @throws LocalSocketError MESSAGE_TOO_LARGE when the frame exceeds `max` (nothing is written).
 */
export function envelopeFrame(
  socket: LocalSocket, max: number, settle: boolean, id: number | null, method: string | null, member: Uint8Array | null, json: string | null,
): Promise<void> | undefined {
  const name = method === null ? null : methodBytes(method);
  const worst = FRAME_HEADER_BYTES + ENVELOPE_FIXED + (name === null ? 0 : name.length) + (json === null ? 0 : json.length * 3);
  if (worst > SMALL_FRAME) {
    // Large: the text as JSON.stringify would make it, through the large-frame path.
    let text = '{"jsonrpc":"2.0"';
    if (id !== null) text += ',"id":' + id;
    if (method !== null) text += ',"method":' + JSON.stringify(method);
    if (member !== null) text += (member === ENVELOPE.result ? ',"result":' : ',"params":') + json;
    return jsonFrame(socket, text + '}', max, settle);
  }
  const at = reserve(socket, worst);
  let p = put(slab, at + FRAME_HEADER_BYTES, ENVELOPE.open);
  if (id !== null) p = putInt(slab, put(slab, p, ENVELOPE.id), id);
  if (name !== null) p = put(slab, put(slab, p, ENVELOPE.method), name);
  if (member !== null) {
    p = put(slab, p, member);
    p += (slab as unknown as NativeText).utf8Write(json!, p, slab.length - p);
  }
  slab[p++] = 0x7d; // }
  const length = p - at - FRAME_HEADER_BYTES;
  if (length > max) throw tooLarge(length, max);
  writeFrameHeader(slab, at, FrameType.JSON, length);
  return commit(p, settle);
}
