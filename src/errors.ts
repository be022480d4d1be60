/**
 * The one error type the library throws or rejects with. `code` is stable and
 * documented; `message` is short and never carries OS internals (errno strings,
 * other users' paths, stack traces). The original error stays on `cause` for
 * local logging only: nothing here is ever sent to a peer.
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

export class LocalSocketError extends Error {
  readonly code: ErrorCode;
  /** Set on `REMOTE_ERROR` only: the peer's error code, message and data. */
  readonly remote?: RemoteErrorDetail;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; remote?: RemoteErrorDetail }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.remote !== undefined) this.remote = options.remote;
  }

  override get name(): string {
    return 'LocalSocketError';
  }
}

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
