/**
 * The close handshake of message connections. A side that ends a connection
 * on purpose sends one last frame, the notification
 * `{"jsonrpc":"2.0","method":"$/close","params":{"code":<int>,"reason":<string>}}`,
 * then half-closes (end-of-stream) and keeps reading, discarding, until the
 * peer closes too or the close deadline passes. So the receiver can tell
 * "closed by the peer (code, reason)" from "connection lost", and a peer that
 * was writing when the close came never meets a reset (its bytes are still
 * read). A notification, not a new frame type: a peer that predates it sees an
 * unknown `$/` notification (which JSON-RPC peers ignore) followed by the end.
 */
import { LocalSocketError, type ErrorCode } from '../errors.js';
import type { LocalSocket } from '../socket.js';
import { endAfterFrames, writeWholeFrame } from './encode.js';
import { FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from './frame.js';

/** The method of the close notification. */
export const CLOSE_METHOD = '$/close';

/** Longest close reason, in UTF-8 bytes (as WebSocket's 123). A longer reason is cut at a character boundary when sent. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Close codes (the numbers WebSocket uses for the same meanings). 1000-3999 belong to the
 * protocol; 4000-4999 are free for applications. Nothing outside 1000-4999 is valid on the wire.
 */
export const CloseCode = {
  /** 1000: closed on purpose, nothing wrong (a client that is done, `close()` without a code). */
  NORMAL: 1000,
  /** 1001: the sender is shutting down or going away (a server stopping, a process leaving on a signal). */
  GOING_AWAY: 1001,
  /** 1002: the receiver broke the protocol (bad frame, bad JSON-RPC shape): `PROTOCOL_ERROR`. */
  PROTOCOL_ERROR: 1002,
  /** 1009: a frame announced more than the sender of this close accepts: `MESSAGE_TOO_LARGE`. */
  TOO_LARGE: 1009,
  /** 1011: the sender failed for a reason of its own (an unexpected error). */
  INTERNAL_ERROR: 1011,
  /** 1012: the server restarts and will be back at once: reconnect without waiting. */
  RESTARTING: 1012,
  /** 1013: the sender is overloaded or the peer used too much of it (`RESOURCE_EXHAUSTED`): try later. */
  OVERLOADED: 1013,
} as const;

/** Smallest and largest valid close codes. */
const MIN_CODE = 1000;
const MAX_CODE = 4999;

/** How a message connection ended, as reported with `close`, `peerLeft` and `disconnected`. */
export interface CloseInfo {
  /**
   * True when the connection ended by the close handshake: `close()` here, or the peer's close
   * frame. False when it was lost (the peer crashed, was killed, or closed without a close frame),
   * aborted here, or failed here (then `error` says why).
   */
  readonly clean: boolean;
  /** Which side ended it: `'local'` (close(), abort(), or a failure found here) or `'peer'`. */
  readonly by: 'local' | 'peer';
  /** The close code sent (local) or received (peer); null when no close frame was involved. */
  readonly code: number | null;
  /** The close reason sent or received ('' for none). */
  readonly reason: string;
  /** The failure, when the end was not clean and not a local abort(); else null. */
  readonly error: LocalSocketError | null;
}

/** Options of a close: the code and reason sent to the peer. */
export interface CloseOptions {
  /** The close code, an integer from 1000 to 4999 (see {@link CloseCode}). @defaultValue 1000 (NORMAL) */
  code?: number;
  /** A short reason, at most 123 UTF-8 bytes (cut at a character boundary beyond). @defaultValue '' */
  reason?: string;
}

/**
 * The close code for a connection this side fails (the single mapping every drop uses).
 * @param code - the error code of the failure.
 * @returns the close code sent to the peer.
 */
export function closeCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'PROTOCOL_ERROR':
      return CloseCode.PROTOCOL_ERROR;
    case 'MESSAGE_TOO_LARGE':
      return CloseCode.TOO_LARGE;
    case 'RESOURCE_EXHAUSTED':
      return CloseCode.OVERLOADED;
    default:
      return CloseCode.INTERNAL_ERROR;
  }
}

/**
 * The error code a request still waiting gets when the peer closes with `code`: the peer's
 * reason when it names one of ours, else PEER_CLOSED.
 * @param code - the close code received.
 * @returns the error code for the requests in flight.
 */
export function errorCodeForClose(code: number): ErrorCode {
  switch (code) {
    case CloseCode.PROTOCOL_ERROR:
      return 'PROTOCOL_ERROR';
    case CloseCode.TOO_LARGE:
      return 'MESSAGE_TOO_LARGE';
    case CloseCode.OVERLOADED:
      return 'RESOURCE_EXHAUSTED';
    default:
      return 'PEER_CLOSED';
  }
}

const NAMES: Readonly<Record<number, string>> = {
  1000: 'normal',
  1001: 'going away',
  1002: 'protocol error',
  1009: 'message too large',
  1011: 'internal error',
  1012: 'restarting',
  1013: 'overloaded',
};

/**
 * Words for a close code and reason, for messages: `1001 going away: shutting down`.
 * @param code - the close code.
 * @param reason - the close reason.
 * @returns the text.
 */
export function describeClose(code: number, reason: string): string {
  const name = NAMES[code] ?? (code >= 4000 ? 'application' : 'code');
  return reason === '' ? `${code} ${name}` : `${code} ${name}: ${reason}`;
}

/**
 * Checks close options.
 * @param options - what the caller passed.
 * @returns the code and the reason, cut to MAX_CLOSE_REASON_BYTES.
 * @throws LocalSocketError INVALID_ARGUMENT for a code outside 1000-4999 or a reason that is not a string.
 */
export function checkCloseOptions(options: unknown, fallbackCode: number, fallbackReason: string): { code: number; reason: string } {
  if (options === undefined) return { code: fallbackCode, reason: fallbackReason };
  if (typeof options !== 'object' || options === null) throw invalidClose('options must be an object');
  const { code, reason } = options as { code?: unknown; reason?: unknown };
  if (code !== undefined && !isCloseCode(code)) throw invalidClose('close code must be an integer from 1000 to 4999');
  if (reason !== undefined && typeof reason !== 'string') throw invalidClose('close reason must be a string');
  return { code: (code as number | undefined) ?? fallbackCode, reason: cutReason((reason as string | undefined) ?? fallbackReason) };
}

function invalidClose(why: string): LocalSocketError {
  return new LocalSocketError('INVALID_ARGUMENT', `invalid argument: ${why}`);
}

function isCloseCode(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= MIN_CODE && (value as number) <= MAX_CODE;
}

/** The longest prefix of `text` within MAX_CLOSE_REASON_BYTES UTF-8 bytes, never splitting a character. */
export function cutReason(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= MAX_CLOSE_REASON_BYTES) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break;
    out += ch;
    bytes += size;
  }
  return out;
}

/**
 * The whole close frame, in the canonical layout (members in this order, no spaces).
 * @param code - a close code (1000-4999).
 * @param reason - at most MAX_CLOSE_REASON_BYTES UTF-8 bytes.
 * @returns the frame: header and JSON payload.
 */
export function encodeCloseFrame(code: number, reason: string): Buffer {
  const text = `{"jsonrpc":"2.0","method":"${CLOSE_METHOD}","params":{"code":${code},"reason":${JSON.stringify(reason)}}}`;
  const length = Buffer.byteLength(text, 'utf8');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(frame, 0, FrameType.JSON, length);
  frame.write(text, FRAME_HEADER_BYTES, length, 'utf8');
  return frame;
}

/**
 * Reads the params of a received close notification.
 * @param params - the notification's params.
 * @returns the code and reason.
 * @throws LocalSocketError PROTOCOL_ERROR unless params is an object with an integer `code` from
 *   1000 to 4999 and, if present, a string `reason` of at most 123 UTF-8 bytes.
 */
export function readClose(params: unknown): { code: number; reason: string } {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw badClose('params must be an object');
  const { code, reason } = params as { code?: unknown; reason?: unknown };
  if (!isCloseCode(code)) throw badClose('code must be an integer from 1000 to 4999');
  if (reason !== undefined && (typeof reason !== 'string' || Buffer.byteLength(reason, 'utf8') > MAX_CLOSE_REASON_BYTES)) {
    throw badClose(`reason must be a string of at most ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes`);
  }
  return { code, reason: (reason as string | undefined) ?? '' };
}

function badClose(why: string): LocalSocketError {
  return new LocalSocketError('PROTOCOL_ERROR', `protocol error: bad close frame (${why})`);
}

function ignore(): void {}

/**
 * Ends a connection by the handshake: queues the close frame behind what is queued, sends
 * end-of-stream once it is flushed, and reads (discarding) until the peer closes too, all within
 * the socket's closeTimeout; past it the socket is aborted. Memory: the queued bytes (at most
 * maxWriteBuffer, plus the one frame that crossed it on a drop) and the close frame, held at most
 * closeTimeout.
 * @param socket - the connection.
 * @param code - the close code.
 * @param reason - the reason (already cut).
 * @returns resolves once the socket is closed; never rejects.
 */
export async function closeGracefully(socket: LocalSocket, code: number, reason: string): Promise<void> {
  if (socket.state === 'unconnected') return;
  const deadline = performance.now() + socket.closeTimeout;
  // The peer's bytes after our close are read and dropped: reading is what spares it a reset.
  const discard = (): void => {
    while (socket.bytesAvailable > 0) socket.read();
  };
  socket.on('readyRead', discard);
  try {
    // After the frames built this tick: they go out before the close frame.
    if (socket.state === 'connected') void writeWholeFrame(socket, encodeCloseFrame(code, reason)).catch(ignore);
    discard();
    await endAfterFrames(socket);
    const left = Math.max(0, deadline - performance.now());
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off('disconnected', done);
        resolve();
      };
      const timer = setTimeout(done, Math.ceil(left));
      socket.on('disconnected', done);
      // Closed while end() flushed (the state changed under the await).
      if ((socket.state as string) === 'unconnected') done();
    });
  } finally {
    socket.off('readyRead', discard);
    // Past the deadline (or a peer that never closes): let go now. A no-op once closed.
    socket.abort();
  }
}
