/**
 * The one error type the library throws or rejects with. `code` is stable and
 * documented; `message` is short and never carries OS internals (errno strings,
 * other users' paths, stack traces). The original error stays on `cause` for
 * local logging only: nothing here is ever sent to a peer.
 */

/**
 * Every {@link LocalSocketError.code}, in one list:
 *
 * - `SERVER_NOT_FOUND`: nothing listens at the name (no socket file, no pipe, a stale file).
 * - `CONNECTION_REFUSED`: a server exists but refused or dropped the connection before it was established.
 * - `PEER_CLOSED`: the other side closed or reset the connection.
 * - `CONNECTION_ERROR`: the connection failed for another OS reason (kept on `cause`).
 * - `ACCESS_DENIED`: permissions or ownership forbid the operation (socket file, private directory, key file).
 * - `RESOURCE_EXHAUSTED`: a limit was reached (descriptors, connections, the server's pending queue).
 * - `TIMEOUT`: a deadline (`timeout`) passed.
 * - `MESSAGE_TOO_LARGE`: more bytes than a configured limit.
 * - `ADDRESS_IN_USE`: another live server owns the name.
 * - `INVALID_NAME`: the server name cannot be used (empty, too long, bad characters).
 * - `INVALID_ARGUMENT`: an option or argument has the wrong type or value.
 * - `INVALID_STATE`: the call does not fit the object's state (write before connect, listen twice).
 * - `AUTH_FAILED`: the handshake failed: wrong key, an impostor server, or a client without the key.
 * - `PROTOCOL_ERROR`: the peer sent bytes the handshake (or the message protocol) does not allow.
 * - `REMOTE_ERROR`: the peer answered a request with an error (its code, message and data on `remote`).
 * - `ABORTED`: the caller's `AbortSignal` fired.
 * - `UNSUPPORTED`: this platform or Node version cannot do what was asked.
 * - `UNKNOWN`: an unexpected OS error (kept on `cause`).
 */
export const ErrorCodes = [
  'SERVER_NOT_FOUND',
  'CONNECTION_REFUSED',
  'PEER_CLOSED',
  'CONNECTION_ERROR',
  'ACCESS_DENIED',
  'RESOURCE_EXHAUSTED',
  'TIMEOUT',
  'MESSAGE_TOO_LARGE',
  'ADDRESS_IN_USE',
  'INVALID_NAME',
  'INVALID_ARGUMENT',
  'INVALID_STATE',
  'AUTH_FAILED',
  'PROTOCOL_ERROR',
  'REMOTE_ERROR',
  'ABORTED',
  'UNSUPPORTED',
  'UNKNOWN',
] as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[number];

/** What the peer answered a request with, on a `REMOTE_ERROR` (JSON-RPC error object; never a remote stack). */
export interface RemoteErrorDetail {
  /** The JSON-RPC error code the peer chose (an integer; -32601 for an unknown method, -32000 for a plain thrown Error). */
  code: number;
  /** The peer's message. */
  message: string;
  /** Optional data the peer attached. */
  data?: unknown;
}

// A registry-wide symbol: two loaded copies of the package (a CommonJS and an
// ESM install, or two versions in one tree) recognise each other's errors.
const BRAND = Symbol.for('localsocket.LocalSocketError');

/**
 * The error every API of this package throws or rejects with. Check `code`,
 * not `message`. `instanceof LocalSocketError` also holds for errors made by
 * another loaded copy of the package.
 */
export class LocalSocketError extends Error {
  /** What went wrong, stable across versions: one of {@link ErrorCodes}. */
  readonly code: ErrorCode;
  /** Set on `REMOTE_ERROR` only: the peer's error code, message and data. */
  readonly remote?: RemoteErrorDetail;

  /**
   * @param code - one of {@link ErrorCodes}.
   * @param message - a short sentence without OS internals.
   * @param options - `cause`: the original error, for local logging; `remote`: what the peer answered, for `REMOTE_ERROR`.
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; remote?: RemoteErrorDetail }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.remote !== undefined) this.remote = options.remote;
  }

  /** Always `'LocalSocketError'`. */
  override get name(): string {
    return 'LocalSocketError';
  }

  /** @internal The brand that {@link LocalSocketError.[Symbol.hasInstance]} looks for. */
  get [BRAND](): true {
    return true;
  }

  /**
   * `value instanceof LocalSocketError`: true for errors of any loaded copy of
   * this package (they carry the same `Symbol.for` brand). Subclasses keep the
   * ordinary prototype check.
   *
   * @param value - anything.
   * @returns whether `value` is a LocalSocketError (or, for a subclass, an instance of it).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== LocalSocketError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

/**
 * Whether `value` is a {@link LocalSocketError}, optionally with a given code.
 *
 * @param value - anything, typically a caught error.
 * @param code - when given, the error must also have this code.
 * @returns true if `value` is a LocalSocketError (from any loaded copy of the package) with `code` if given.
 */
export function isLocalSocketError(value: unknown, code?: ErrorCode): value is LocalSocketError {
  return value instanceof LocalSocketError && (code === undefined || value.code === code);
}

/**
 * A LocalSocketError without a stack trace, for the errors of the normal close
 * path (a peer that closes, a local abort): they come from event handlers, where
 * a stack says nothing, and capturing one costs more than the rest of a close.
 * @internal
 */
export function closePathError(code: ErrorCode, message: string): LocalSocketError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new LocalSocketError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
