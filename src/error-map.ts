/**
 * Maps what the OS (through libuv) reports to our stable codes. Node surfaces
 * libuv error names (`ENOENT`, `EPIPE`, ...) on every platform, Windows
 * included; raw Win32 codes can still arrive as numbers (`errno`) or names
 * (`ERROR_PIPE_BUSY`) from other layers, so both tables exist.
 */
import { LocalSocketError, type ErrorCode } from './errors.js';

/** What the caller was doing: the same errno means different things per operation. */
export type Operation = 'connect' | 'listen' | 'read' | 'write' | 'close' | 'resolve' | 'key' | 'accept';

/** Unix errno names (as libuv names them) to codes, independent of operation. */
export const ERRNO_TABLE: Readonly<Record<string, ErrorCode>> = {
  ENOENT: 'SERVER_NOT_FOUND',
  ENOTDIR: 'SERVER_NOT_FOUND',
  ECONNREFUSED: 'CONNECTION_REFUSED',
  EAGAIN: 'CONNECTION_REFUSED',
  EWOULDBLOCK: 'CONNECTION_REFUSED',
  EBUSY: 'CONNECTION_REFUSED',
  ECONNRESET: 'CONNECTION_ERROR',
  ECONNABORTED: 'CONNECTION_ERROR',
  EPIPE: 'CONNECTION_ERROR',
  ENOTCONN: 'CONNECTION_ERROR',
  EOF: 'PEER_CLOSED',
  EACCES: 'ACCESS_DENIED',
  EPERM: 'ACCESS_DENIED',
  EROFS: 'ACCESS_DENIED',
  EMFILE: 'RESOURCE_EXHAUSTED',
  ENFILE: 'RESOURCE_EXHAUSTED',
  ENOBUFS: 'RESOURCE_EXHAUSTED',
  ENOMEM: 'RESOURCE_EXHAUSTED',
  ENOSPC: 'RESOURCE_EXHAUSTED',
  ETIMEDOUT: 'TIMEOUT',
  EADDRINUSE: 'ADDRESS_IN_USE',
  EEXIST: 'ADDRESS_IN_USE',
  ENAMETOOLONG: 'INVALID_NAME',
  EINVAL: 'INVALID_NAME',
  ELOOP: 'INVALID_NAME',
  EISDIR: 'INVALID_NAME',
  ENOTSOCK: 'CONNECTION_REFUSED',
  EPROTOTYPE: 'CONNECTION_REFUSED',
  EAFNOSUPPORT: 'UNSUPPORTED',
  ENOTSUP: 'UNSUPPORTED',
  EOPNOTSUPP: 'UNSUPPORTED',
  ENOSYS: 'UNSUPPORTED',
  ECANCELED: 'ABORTED',
  ABORT_ERR: 'ABORTED',
};

/**
 * Win32 error codes (winerror.h) seen on named pipes, to codes. Keyed by number;
 * WIN32_NAMES gives the symbolic names for the same entries.
 */
export const WINDOWS_TABLE: Readonly<Record<number, ErrorCode>> = {
  2: 'SERVER_NOT_FOUND', // ERROR_FILE_NOT_FOUND
  3: 'SERVER_NOT_FOUND', // ERROR_PATH_NOT_FOUND
  4: 'RESOURCE_EXHAUSTED', // ERROR_TOO_MANY_OPEN_FILES
  5: 'ACCESS_DENIED', // ERROR_ACCESS_DENIED
  6: 'INVALID_STATE', // ERROR_INVALID_HANDLE
  8: 'RESOURCE_EXHAUSTED', // ERROR_NOT_ENOUGH_MEMORY
  14: 'RESOURCE_EXHAUSTED', // ERROR_OUTOFMEMORY
  53: 'SERVER_NOT_FOUND', // ERROR_BAD_NETPATH
  64: 'CONNECTION_ERROR', // ERROR_NETNAME_DELETED
  67: 'SERVER_NOT_FOUND', // ERROR_BAD_NET_NAME
  87: 'INVALID_ARGUMENT', // ERROR_INVALID_PARAMETER
  109: 'CONNECTION_ERROR', // ERROR_BROKEN_PIPE (the peer's end is gone)
  121: 'TIMEOUT', // ERROR_SEM_TIMEOUT
  123: 'INVALID_NAME', // ERROR_INVALID_NAME
  161: 'INVALID_NAME', // ERROR_BAD_PATHNAME
  206: 'INVALID_NAME', // ERROR_FILENAME_EXCED_RANGE
  230: 'CONNECTION_ERROR', // ERROR_BAD_PIPE
  231: 'CONNECTION_REFUSED', // ERROR_PIPE_BUSY
  232: 'CONNECTION_ERROR', // ERROR_NO_DATA (pipe is being closed)
  233: 'CONNECTION_ERROR', // ERROR_PIPE_NOT_CONNECTED
  234: 'RESOURCE_EXHAUSTED', // ERROR_MORE_DATA
  535: 'CONNECTION_REFUSED', // ERROR_PIPE_CONNECTED
  536: 'CONNECTION_REFUSED', // ERROR_PIPE_LISTENING
  995: 'ABORTED', // ERROR_OPERATION_ABORTED
  1450: 'RESOURCE_EXHAUSTED', // ERROR_NO_SYSTEM_RESOURCES
  1460: 'TIMEOUT', // ERROR_TIMEOUT
};

export const WIN32_NAMES: Readonly<Record<string, number>> = {
  ERROR_FILE_NOT_FOUND: 2,
  ERROR_PATH_NOT_FOUND: 3,
  ERROR_TOO_MANY_OPEN_FILES: 4,
  ERROR_ACCESS_DENIED: 5,
  ERROR_INVALID_HANDLE: 6,
  ERROR_NOT_ENOUGH_MEMORY: 8,
  ERROR_OUTOFMEMORY: 14,
  ERROR_BAD_NETPATH: 53,
  ERROR_NETNAME_DELETED: 64,
  ERROR_BAD_NET_NAME: 67,
  ERROR_INVALID_PARAMETER: 87,
  ERROR_BROKEN_PIPE: 109,
  ERROR_SEM_TIMEOUT: 121,
  ERROR_INVALID_NAME: 123,
  ERROR_BAD_PATHNAME: 161,
  ERROR_FILENAME_EXCED_RANGE: 206,
  ERROR_BAD_PIPE: 230,
  ERROR_PIPE_BUSY: 231,
  ERROR_NO_DATA: 232,
  ERROR_PIPE_NOT_CONNECTED: 233,
  ERROR_MORE_DATA: 234,
  ERROR_PIPE_CONNECTED: 535,
  ERROR_PIPE_LISTENING: 536,
  ERROR_OPERATION_ABORTED: 995,
  ERROR_NO_SYSTEM_RESOURCES: 1450,
  ERROR_TIMEOUT: 1460,
};

/**
 * On an established connection, the peer going away while we read, write or close is PEER_CLOSED,
 * as Qt reports it (its socket engine turns EPIPE and ECONNRESET into RemoteHostClosedError, which
 * QLocalSocket reports as PeerClosedError; on Windows a broken or closing pipe is PeerClosedError).
 * On Unix a write to a peer that closed fails EPIPE, and a peer that closed with our bytes unread
 * resets the connection (ECONNRESET); on Windows libuv reports a write cut off by the peer's exit
 * (ERROR_BROKEN_PIPE) as EOF. CONNECTION_ERROR stays for real I/O faults.
 */
const PEER_GONE: Readonly<Record<string, ErrorCode>> = {
  EPIPE: 'PEER_CLOSED',
  ECONNRESET: 'PEER_CLOSED',
  EOF: 'PEER_CLOSED',
  ERROR_BROKEN_PIPE: 'PEER_CLOSED',
  ERROR_NO_DATA: 'PEER_CLOSED',
  ERROR_PIPE_NOT_CONNECTED: 'PEER_CLOSED',
};

/** The same, for raw Win32 codes on an established connection. */
const PEER_GONE_WIN32: Readonly<Record<number, ErrorCode>> = {
  109: 'PEER_CLOSED', // ERROR_BROKEN_PIPE
  232: 'PEER_CLOSED', // ERROR_NO_DATA (the pipe is being closed)
  233: 'PEER_CLOSED', // ERROR_PIPE_NOT_CONNECTED
};

/** Operation-specific meanings that override the generic table. */
const BY_OPERATION: Partial<Record<Operation, Readonly<Record<string, ErrorCode>>>> = {
  listen: { ENOENT: 'INVALID_NAME', ENOTDIR: 'INVALID_NAME', EEXIST: 'ADDRESS_IN_USE' },
  read: { ENOENT: 'CONNECTION_ERROR', EAGAIN: 'CONNECTION_ERROR', EBUSY: 'CONNECTION_ERROR', ...PEER_GONE },
  write: { ENOENT: 'CONNECTION_ERROR', EAGAIN: 'CONNECTION_ERROR', EBUSY: 'CONNECTION_ERROR', ...PEER_GONE },
  close: PEER_GONE,
  key: { ENOENT: 'INVALID_ARGUMENT', EEXIST: 'INVALID_STATE', ENOTDIR: 'INVALID_ARGUMENT' },
};

/** Operations on an established connection, where PEER_GONE_WIN32 applies. */
const ESTABLISHED: ReadonlySet<Operation> = new Set<Operation>(['read', 'write', 'close']);

const MESSAGES: Readonly<Record<ErrorCode, string>> = {
  SERVER_NOT_FOUND: 'server not found',
  CONNECTION_REFUSED: 'connection refused',
  PEER_CLOSED: 'the peer closed the connection',
  CONNECTION_ERROR: 'the connection broke',
  ACCESS_DENIED: 'access denied',
  RESOURCE_EXHAUSTED: 'out of resources',
  TIMEOUT: 'timed out',
  MESSAGE_TOO_LARGE: 'message too large',
  ADDRESS_IN_USE: 'another server is listening on this name',
  INVALID_NAME: 'invalid server name',
  INVALID_ARGUMENT: 'invalid argument',
  INVALID_STATE: 'operation not allowed in the current state',
  AUTH_FAILED: 'authentication failed',
  PROTOCOL_ERROR: 'protocol error',
  REMOTE_ERROR: 'the peer answered with an error',
  ABORTED: 'aborted',
  UNSUPPORTED: 'not supported on this platform',
  UNKNOWN: 'unexpected system error',
};

/**
 * The code for an OS-level error, or UNKNOWN. Pure: used by tests with injected errors.
 *
 * @param err - what Node or libuv threw (a LocalSocketError keeps its code).
 * @param operation - what was being done: the same errno means different things per operation.
 * @returns the stable code; `UNKNOWN` for anything not in the tables.
 */
export function codeForSystemError(err: unknown, operation: Operation): ErrorCode {
  if (err instanceof LocalSocketError) return err.code;
  if (typeof err !== 'object' || err === null) return 'UNKNOWN';
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  if (typeof code === 'string') {
    const specific = BY_OPERATION[operation]?.[code];
    if (specific) return specific;
    const generic = ERRNO_TABLE[code];
    if (generic) return generic;
    const win32 = WIN32_NAMES[code];
    if (win32 !== undefined) return WINDOWS_TABLE[win32] ?? 'UNKNOWN';
  }
  // A positive errno next to an unknown name is a raw Win32 code.
  if (typeof errno === 'number' && errno > 0) {
    return (ESTABLISHED.has(operation) ? PEER_GONE_WIN32[errno] : undefined) ?? WINDOWS_TABLE[errno] ?? 'UNKNOWN';
  }
  return 'UNKNOWN';
}

/**
 * The short message for a code, prefixed with the operation.
 *
 * @param code - the error code.
 * @param operation - prefixes the message (`connect: server not found`) when given.
 * @returns a message without OS internals.
 */
export function messageFor(code: ErrorCode, operation?: Operation): string {
  return operation ? `${operation}: ${MESSAGES[code]}` : MESSAGES[code];
}

/**
 * Wraps an OS error: short message, stable code, original kept as `cause`.
 *
 * @param err - what Node or libuv threw; a LocalSocketError is returned as is.
 * @param operation - what was being done.
 * @returns the error to throw.
 */
export function fromSystemError(err: unknown, operation: Operation): LocalSocketError {
  if (err instanceof LocalSocketError) return err;
  const code = codeForSystemError(err, operation);
  return new LocalSocketError(code, messageFor(code, operation), { cause: err });
}

/**
 * An error the library detects itself (no OS error behind it).
 *
 * @param code - the error code.
 * @param operation - prefixes the message when given.
 * @param detail - a short, internals-free addition, in parentheses.
 * @returns the error to throw.
 */
export function localError(code: ErrorCode, operation?: Operation, detail?: string): LocalSocketError {
  const base = messageFor(code, operation);
  return new LocalSocketError(code, detail ? `${base} (${detail})` : base);
}
