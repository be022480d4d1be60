/**
 * Message frames, pure (no sockets): type (1 byte) | payload length (uint32
 * big-endian) | payload. The decoder checks the type and the length on the
 * 5-byte header, before it allocates or keeps anything of the payload (as
 * `ws`'s receiver checks maxPayload on its header). A frame that lies wholly
 * inside one chunk is handed out as a view of that chunk; only a frame split
 * across chunks is assembled, into one buffer of exactly its announced size.
 */
import { LocalSocketError } from '../errors.js';

/** Bytes in a frame header: the type byte and the 4-byte big-endian payload length. */
export const FRAME_HEADER_BYTES = 5;

/** Frame types: `JSON` (0x4A, 'J') carries one UTF-8 JSON value, `BINARY` (0x42, 'B') opaque bytes. */
export const FrameType = {
  /** 0x4A ('J'): the payload is one JSON value, UTF-8. */
  JSON: 0x4a,
  /** 0x42 ('B'): the payload is opaque bytes. */
  BINARY: 0x42,
} as const;

/** Default limit on a frame's payload, in bytes (1 MiB). */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

/** The largest length a frame header can carry. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

function isFrameType(type: number): boolean {
  return type === FrameType.JSON || type === FrameType.BINARY;
}

/** The PROTOCOL_ERROR for a frame type other than 'J' or 'B'. */
export function badType(type: number): LocalSocketError {
  return new LocalSocketError('PROTOCOL_ERROR', `bad frame type 0x${type.toString(16).padStart(2, '0')}`);
}

/** The MESSAGE_TOO_LARGE for a payload of `length` bytes over `max`. */
export function tooLarge(length: number, max: number): LocalSocketError {
  return new LocalSocketError('MESSAGE_TOO_LARGE', `a message of ${length} bytes exceeds maxMessageSize (${max})`);
}

/**
 * Encodes a frame header.
 * @param type - `FrameType.JSON` or `FrameType.BINARY`.
 * @param length - The payload's length in bytes, an integer from 0 to 2^32 - 1.
 * @returns A new 5-byte buffer.
 * @throws LocalSocketError `INVALID_ARGUMENT` for another type or a length out of range.
 */
export function encodeFrameHeader(type: number, length: number): Buffer {
  if (!isFrameType(type)) throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: unknown frame type');
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_LENGTH) {
    throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: frame length out of range');
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, type, length);
  return header;
}

/** Writes a header at `offset` of `target` (no checks: the callers have made them). */
export function writeFrameHeader(target: Uint8Array, offset: number, type: number, length: number): void {
  target[offset] = type;
  target[offset + 1] = length >>> 24;
  target[offset + 2] = (length >>> 16) & 0xff;
  target[offset + 3] = (length >>> 8) & 0xff;
  target[offset + 4] = length & 0xff;
}

/** Called for each complete frame, in order. `payload` may be a view of the chunk pushed: copy it to keep it past the call's data. */
export type FrameHandler = (type: number, payload: Buffer) => void;

/**
 * Called for each complete frame, in order, with where its payload lies: `source[start, end)`.
 * `source` is the chunk pushed (or, for a frame split across chunks, its assembled payload).
 */
export type FrameSliceHandler<T = unknown> = (this: T, type: number, source: Buffer, start: number, end: number) => void;

/**
 * Turns a byte stream into frames. Holds at most one incomplete frame: its
 * header (under 5 bytes) or its payload (at most `maxMessageSize` bytes).
 */
export class FrameDecoder {
  /**
   * Largest payload accepted, in bytes, as given to the constructor; a header
   * announcing more fails the decoder with `MESSAGE_TOO_LARGE`.
   * @defaultValue 1048576 (1 MiB, {@link DEFAULT_MAX_MESSAGE_SIZE})
   */
  readonly maxMessageSize: number;
  /** Header bytes of a frame whose header is split across chunks. */
  #header: Buffer | null = null;
  #headerHave = 0;
  /** Payload of a frame split across chunks, allocated at its announced size. */
  #payload: Buffer | null = null;
  #payloadHave = 0;
  #type = 0;
  #failure: LocalSocketError | null = null;

  /**
   * @param maxMessageSize - Largest payload accepted, in bytes. @defaultValue 1048576
   * @throws LocalSocketError `INVALID_ARGUMENT` if it is not an integer from 0 to 2^32 - 1.
   */
  constructor(maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE) {
    if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > MAX_FRAME_LENGTH) {
      throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: maxMessageSize must be an integer from 0 to 4294967295');
    }
    this.maxMessageSize = maxMessageSize;
  }

  /** Bytes held of an incomplete frame (header and payload). */
  get buffered(): number {
    return this.#payload !== null ? FRAME_HEADER_BYTES + this.#payloadHave : this.#headerHave;
  }

  /**
   * Feeds bytes; calls `onFrame` for each complete frame, in order.
   * @param chunk - The next bytes of the stream (any length, 0 included).
   * @param onFrame - Receives each frame's type and payload.
   * @throws LocalSocketError `MESSAGE_TOO_LARGE` when a header announces more than
   *   `maxMessageSize` (nothing of it is allocated), `PROTOCOL_ERROR` for an unknown type.
   *   After either, the decoder is failed: every later push throws the same error.
   *   An error thrown by `onFrame` propagates; the frames after it in the chunk are not delivered.
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    this.#run(chunk, onFrame, false, undefined);
  }

  /**
   * As push(), but hands out where each payload lies instead of a view of it: a caller that
   * decodes the payload at once (e.g. as text) saves making a Buffer per frame.
   * @param chunk - The next bytes of the stream.
   * @param onFrame - Receives each frame's type, and its payload as `source[start, end)`.
   * @param thisArg - `this` for onFrame (so that a caller needs no closure of its own).
   * @throws LocalSocketError as push().
   */
  pushSlices<T>(chunk: Buffer, onFrame: FrameSliceHandler<T>, thisArg?: T): void {
    this.#run(chunk, onFrame as FrameSliceHandler, true, thisArg);
  }

  #run(chunk: Buffer, onFrame: FrameHandler | FrameSliceHandler, slices: boolean, thisArg: unknown): void {
    if (this.#failure !== null) throw this.#failure;
    const end = chunk.length;
    let pos = 0;
    if (this.#headerHave > 0) {
      // Completing a split header.
      const header = this.#header!;
      const take = Math.min(FRAME_HEADER_BYTES - this.#headerHave, end);
      chunk.copy(header, this.#headerHave, 0, take);
      this.#headerHave += take;
      pos = take;
      if (this.#headerHave < FRAME_HEADER_BYTES) return;
      this.#headerHave = 0;
      const length = this.#checkHeader(header, 0);
      if (end - pos >= length) {
        const start = pos;
        pos += length;
        if (slices) (onFrame as FrameSliceHandler).call(thisArg, this.#type, chunk, start, pos);
        else (onFrame as FrameHandler)(this.#type, chunk.subarray(start, pos));
      } else {
        this.#startPayload(chunk, pos, length);
        return;
      }
    } else if (this.#payload !== null) {
      // Completing a split payload.
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadHave, end);
      chunk.copy(payload, this.#payloadHave, 0, take);
      this.#payloadHave += take;
      pos = take;
      if (this.#payloadHave < payload.length) return;
      this.#payload = null;
      this.#payloadHave = 0;
      if (slices) (onFrame as FrameSliceHandler).call(thisArg, this.#type, payload, 0, payload.length);
      else (onFrame as FrameHandler)(this.#type, payload);
    }
    // Whole frames inside the chunk: views, no copies.
    while (end - pos >= FRAME_HEADER_BYTES) {
      const length = this.#checkHeader(chunk, pos);
      const start = pos + FRAME_HEADER_BYTES;
      if (end - start < length) {
        this.#startPayload(chunk, start, length);
        return;
      }
      pos = start + length;
      if (slices) (onFrame as FrameSliceHandler).call(thisArg, this.#type, chunk, start, pos);
      else (onFrame as FrameHandler)(this.#type, chunk.subarray(start, pos));
    }
    if (pos < end) {
      const header = (this.#header ??= Buffer.allocUnsafe(FRAME_HEADER_BYTES));
      chunk.copy(header, 0, pos, end);
      this.#headerHave = end - pos;
    }
  }

  /** Validates the header at `at`; sets #type and returns the length. */
  #checkHeader(bytes: Buffer, at: number): number {
    const type = bytes[at]!;
    if (type !== FrameType.JSON && type !== FrameType.BINARY) throw this.#fail(badType(type));
    const length = bytes[at + 1]! * 0x100_0000 + ((bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!);
    if (length > this.maxMessageSize) throw this.#fail(tooLarge(length, this.maxMessageSize));
    this.#type = type;
    return length;
  }

  /** Begins assembling a split frame: exactly `length` bytes, allocated once (length <= maxMessageSize). */
  #startPayload(chunk: Buffer, from: number, length: number): void {
    const payload = Buffer.allocUnsafe(length);
    const have = chunk.length - from;
    chunk.copy(payload, 0, from, chunk.length);
    this.#payload = payload;
    this.#payloadHave = have;
  }

  #fail(err: LocalSocketError): LocalSocketError {
    this.#failure = err;
    this.#header = null;
    this.#headerHave = 0;
    this.#payload = null;
    this.#payloadHave = 0;
    return err;
  }
}
