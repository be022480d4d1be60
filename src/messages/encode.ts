/**
 * Building outgoing frames. A small frame (header and payload) is written
 * straight into a shared slab and handed out as a view of it, as Node's own
 * Buffer pool does: one copy, no allocation but the view, and a JSON text is
 * encoded in place without measuring it first. Frames never share bytes and a
 * slab region is never reused, so views stay valid while the writer holds
 * them. A large frame is its header plus the payload as it is (not copied);
 * the caller writes both in one go.
 */
import { FRAME_HEADER_BYTES, FrameType, tooLarge, writeFrameHeader } from './frame.js';

/** Frames up to this size are built in the slab; larger payloads go out as they are. */
export const SMALL_FRAME = 8 * 1024;
const SLAB_BYTES = 64 * 1024;

let slab: Buffer | null = null;
let used = 0;

function reserve(bytes: number): Buffer {
  if (slab === null || SLAB_BYTES - used < bytes) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    used = 0;
  }
  return slab;
}

/** Moves past a frame just written, keeping the next one 8-byte aligned. */
function commit(end: number): void {
  used = (end + 7) & ~7;
}

/** One frame in one buffer, or a header and a payload to write back to back. */
export type Encoded = Buffer | [header: Buffer, payload: Uint8Array];

/**
 * Encodes a JSON text as a 'J' frame.
 * @throws LocalSocketError MESSAGE_TOO_LARGE when its UTF-8 form exceeds `max` (nothing is written).
 */
export function encodeJsonFrame(text: string, max: number): Encoded {
  // A UTF-16 code unit never takes more than 3 bytes in UTF-8.
  const worst = FRAME_HEADER_BYTES + text.length * 3;
  if (worst <= SMALL_FRAME) {
    const buf = reserve(worst);
    const start = used;
    const length = buf.write(text, start + FRAME_HEADER_BYTES);
    if (length > max) throw tooLarge(length, max);
    writeFrameHeader(buf, start, FrameType.JSON, length);
    const end = start + FRAME_HEADER_BYTES + length;
    commit(end);
    return buf.subarray(start, end);
  }
  const payload = Buffer.from(text);
  if (payload.length > max) throw tooLarge(payload.length, max);
  return [header(FrameType.JSON, payload.length), payload];
}

/**
 * Encodes bytes as a 'B' frame (small ones copied into the slab, large ones referenced).
 * @throws LocalSocketError MESSAGE_TOO_LARGE when `data` exceeds `max` (nothing is written).
 */
export function encodeBinaryFrame(data: Uint8Array, max: number): Encoded {
  const length = data.length;
  if (length > max) throw tooLarge(length, max);
  const size = FRAME_HEADER_BYTES + length;
  if (size <= SMALL_FRAME) {
    const buf = reserve(size);
    const start = used;
    writeFrameHeader(buf, start, FrameType.BINARY, length);
    buf.set(data, start + FRAME_HEADER_BYTES);
    commit(start + size);
    return buf.subarray(start, start + size);
  }
  return [header(FrameType.BINARY, length), data];
}

function header(type: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(h, 0, type, length);
  return h;
}
