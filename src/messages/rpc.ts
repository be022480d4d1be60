/**
 * JSON-RPC 2.0 shapes used by the message layer: the standard error codes,
 * how a handler's thrown value becomes an error reply (its code and message,
 * never its stack), and how an error reply becomes a REMOTE_ERROR here.
 */
import { LocalSocketError, type RemoteErrorDetail } from '../errors.js';

/** JSON-RPC error codes used on the wire. */
export const RpcErrorCode = {
  /** The peer sent invalid JSON. */
  PARSE_ERROR: -32700,
  /** The peer sent JSON that is not a valid request. */
  INVALID_REQUEST: -32600,
  /** No handler for the method. */
  METHOD_NOT_FOUND: -32601,
  /** The handler refused its params. */
  INVALID_PARAMS: -32602,
  /** The reply could not be built (e.g. the result cannot be serialised or exceeds maxMessageSize). */
  INTERNAL_ERROR: -32603,
  /** A handler threw a plain Error: its message is sent. */
  APPLICATION_ERROR: -32000,
  /**
   * The peer already had `maxRequestsInFlight` requests running on this connection: this one was
   * not run. Safe to retry once an earlier request has been answered.
   */
  TOO_MANY_REQUESTS: -32001,
  /** The requester cancelled the request (`$/cancelRequest`) before it was answered. */
  REQUEST_CANCELLED: -32800,
} as const;

/** The notification that cancels a request (as LSP names it); params `{ id }`. */
export const CANCEL_METHOD = '$/cancelRequest';

/** Longest remote message kept on a REMOTE_ERROR's `message` (the full text stays on `remote.message`). */
const MAX_MESSAGE_SHOWN = 500;

/**
 * An error a handler may throw to choose the JSON-RPC code, message and data of its error reply.
 * Any thrown object with an integer `code` and a string `message` works the same way.
 */
export class RpcError extends Error {
  /** The JSON-RPC error code sent to the peer (an integer). */
  readonly code: number;
  /** Optional data sent with the error (must be JSON-serialisable). */
  readonly data?: unknown;

  /**
   * @param code - An integer error code (applications: -32000 to -32099 or outside the reserved range).
   * @param message - Sent to the peer as is.
   * @param data - Optional JSON value sent along.
   * @throws LocalSocketError `INVALID_ARGUMENT` if `code` is not an integer or `message` not a string.
   */
  constructor(code: number, message: string, data?: unknown) {
    if (!Number.isInteger(code) || typeof message !== 'string') {
      throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: RpcError needs an integer code and a string message');
    }
    super(message);
    this.code = code;
    if (data !== undefined) this.data = data;
  }

  /** Always `'RpcError'`. */
  override get name(): string {
    return 'RpcError';
  }
}

/** The error object sent for a value a handler threw: only its code, message and data, never a stack. */
export function toErrorObject(err: unknown): RemoteErrorDetail {
  if (typeof err === 'object' && err !== null) {
    const { code, message, data } = err as { code?: unknown; message?: unknown; data?: unknown };
    if (Number.isInteger(code) && typeof message === 'string') {
      return data === undefined ? { code: code as number, message } : { code: code as number, message, data };
    }
    if (err instanceof Error) return { code: RpcErrorCode.APPLICATION_ERROR, message: err.message || 'handler failed' };
  }
  if (typeof err === 'string') return { code: RpcErrorCode.APPLICATION_ERROR, message: err };
  return { code: RpcErrorCode.APPLICATION_ERROR, message: 'handler failed' };
}

/** True for a well-formed JSON-RPC error object. */
export function isErrorObject(value: unknown): value is RemoteErrorDetail {
  if (typeof value !== 'object' || value === null) return false;
  const { code, message } = value as { code?: unknown; message?: unknown };
  return Number.isInteger(code) && typeof message === 'string';
}

/** The REMOTE_ERROR a request rejects with when the peer answers with `detail`. */
export function remoteError(detail: RemoteErrorDetail): LocalSocketError {
  const remote: RemoteErrorDetail = detail.data === undefined
    ? { code: detail.code, message: detail.message }
    : { code: detail.code, message: detail.message, data: detail.data };
  const shown = remote.message.length > MAX_MESSAGE_SHOWN ? `${remote.message.slice(0, MAX_MESSAGE_SHOWN)}...` : remote.message;
  return new LocalSocketError('REMOTE_ERROR', `${shown} (remote code ${remote.code})`, { remote });
}

/** True for a request or reply id: an integer (JSON-RPC also allows strings; this layer sends integers only). */
export function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}
