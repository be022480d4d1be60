/** Option types and defaults, checked once at the public entry points. */
import type { AuthOptions } from './auth/options.js';
import type { Access } from './bind.js';
import type { NameOptions } from './names.js';
import { checkOptionNames, CONNECT_OPTIONS, SERVER_OPTIONS } from './option-names.js';
import { checkBoolean, checkObject, checkOneOf, checkSignal, checkTimeout, optionalLimit } from './validate.js';

export const DEFAULTS = {
  maxReadBuffer: 1024 * 1024,
  maxWriteBuffer: 1024 * 1024,
  connectTimeout: 10_000,
  waitTimeout: 30_000,
  closeTimeout: 10_000,
  handshakeTimeout: 5_000,
  maxPendingConnections: 30,
  maxHandshakes: 64,
} as const;

/**
 * Per-connection limits, for clients ({@link ConnectOptions}) and for every
 * connection a server accepts ({@link ServerOptions}). A value that is not a
 * positive whole number (or 0 where "off" is allowed) throws
 * `INVALID_ARGUMENT`.
 */
export interface SocketLimits {
  /**
   * Most bytes buffered for reading before the socket stops reading from the kernel.
   * @defaultValue 1048576 (1 MiB)
   */
  maxReadBuffer?: number;
  /**
   * Most bytes accepted for writing and not yet handed to the kernel (`bytesToWrite`).
   * @defaultValue 1048576 (1 MiB)
   */
  maxWriteBuffer?: number;
  /**
   * Drop the connection (`TIMEOUT`) after this many ms with no data either way. 0 = off.
   * @defaultValue 0
   */
  idleTimeout?: number;
  /**
   * How long `disconnectFromServer()` may wait to flush, in ms, before it aborts.
   * @defaultValue 10000
   */
  closeTimeout?: number;
  /**
   * Keep writing after the peer's end-of-stream, until you call `end()` or
   * `disconnectFromServer()` (request/response over a half-closed connection).
   * When false, the socket closes once what is queued is written (Qt, and Node's default).
   * @defaultValue false
   */
  allowHalfOpen?: boolean;
}

export interface ResolvedLimits {
  maxReadBuffer: number;
  maxWriteBuffer: number;
  idleTimeout: number;
  closeTimeout: number;
  allowHalfOpen: boolean;
}

/** Limits already resolved, shared by every connection of a server (resolved once, frozen). */
const resolvedLimits = new WeakSet<object>();

export function isResolvedLimits(value: unknown): value is ResolvedLimits {
  return typeof value === 'object' && value !== null && resolvedLimits.has(value);
}

export function resolveLimits(raw: Record<string, unknown>): ResolvedLimits {
  if (isResolvedLimits(raw)) return raw;
  const limits: ResolvedLimits = {
    maxReadBuffer: optionalLimit(raw.maxReadBuffer, 'maxReadBuffer', DEFAULTS.maxReadBuffer),
    maxWriteBuffer: optionalLimit(raw.maxWriteBuffer, 'maxWriteBuffer', DEFAULTS.maxWriteBuffer),
    idleTimeout: checkTimeout(raw.idleTimeout, 0, 'idleTimeout'),
    closeTimeout: checkTimeout(raw.closeTimeout, DEFAULTS.closeTimeout, 'closeTimeout'),
    allowHalfOpen: checkBoolean(raw.allowHalfOpen, 'allowHalfOpen', false),
  };
  Object.freeze(limits);
  resolvedLimits.add(limits);
  return limits;
}

export function resolveNameOptions(raw: Record<string, unknown>): NameOptions {
  return {
    qtCompatible: checkBoolean(raw.qtCompatible, 'qtCompatible', false),
    abstract: checkBoolean(raw.abstract, 'abstract', false),
  };
}

/** Options of `connect()` and `LocalSocket.connectToServer()`: limits, name resolution, authentication, and these. */
export interface ConnectOptions extends SocketLimits, NameOptions, AuthOptions {
  /**
   * Deadline for the whole connect in ms, retries and handshake included (`TIMEOUT` when it passes).
   * @defaultValue 10000
   */
  timeout?: number;
  /** Aborts the connect (`ABORTED`, with the signal's reason as `cause`). */
  signal?: AbortSignal;
  /**
   * Keep retrying while no server is up yet (no socket file, refused) until the deadline.
   * @defaultValue false
   */
  waitForServer?: boolean;
}

export interface ResolvedConnect {
  limits: ResolvedLimits;
  names: NameOptions;
  timeout: number;
  signal: AbortSignal | undefined;
  waitForServer: boolean;
}

export function resolveConnectOptions(options: unknown): ResolvedConnect {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, CONNECT_OPTIONS);
  return {
    limits: resolveLimits(raw),
    names: resolveNameOptions(raw),
    timeout: checkTimeout(raw.timeout, DEFAULTS.connectTimeout),
    signal: checkSignal(raw.signal),
    waitForServer: checkBoolean(raw.waitForServer, 'waitForServer', false),
  };
}

/** Options of `listen()` and `new LocalServer()`: limits for each accepted connection, name resolution, authentication, and these. */
export interface ServerOptions extends SocketLimits, NameOptions, AuthOptions {
  /**
   * Peers still in the handshake at most; past it the oldest is dropped.
   * @defaultValue 64
   */
  maxHandshakes?: number;
  /**
   * Who may connect, by file permissions: only us, our group, everyone.
   * @defaultValue 'user'
   */
  access?: Access;
  /**
   * Connections accepted but not yet taken with `nextPendingConnection()`; past it new peers are refused.
   * @defaultValue 30
   */
  maxPendingConnections?: number;
  /**
   * Open connections (taken, pending and handshaking) at most; past it new peers are refused.
   * @defaultValue Infinity (no limit)
   */
  maxConnections?: number;
  /** Adopt an inherited, already listening descriptor (e.g. systemd's fd 3) instead of binding a name. */
  fd?: number;
}

export interface ResolvedServer {
  limits: ResolvedLimits;
  names: NameOptions;
  access: Access;
  maxPendingConnections: number;
  maxConnections: number;
  maxHandshakes: number;
}

export function resolveServerOptions(options: unknown): ResolvedServer {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, SERVER_OPTIONS);
  return {
    limits: resolveLimits(raw),
    names: resolveNameOptions(raw),
    access: checkOneOf(raw.access, 'access', ['user', 'group', 'world'] as const, 'user'),
    maxPendingConnections: optionalLimit(raw.maxPendingConnections, 'maxPendingConnections', DEFAULTS.maxPendingConnections),
    maxConnections: optionalLimit(raw.maxConnections, 'maxConnections', Infinity, true),
    maxHandshakes: optionalLimit(raw.maxHandshakes, 'maxHandshakes', DEFAULTS.maxHandshakes),
  };
}
