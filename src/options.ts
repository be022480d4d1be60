/**
 * Option types, and the one resolution pass of each public entry point:
 * `resolveConnectOptions` / `resolveServerOptions` check every option once
 * (names, types, ranges, auth included) and return them typed and frozen.
 * Nothing downstream sees the caller's raw object or checks it again.
 */
import { checkAuthOptions, type AuthOptions, type AuthSettings } from './auth/options.js';
import type { Access } from './endpoint/bind.js';
import type { WaitOptions } from './deadline.js';
import { DEFAULTS } from './defaults.js';
import type { NameOptions } from './endpoint/names.js';
import { checkOptionNames, CONNECT_OPTIONS, SERVER_OPTIONS, WAIT_OPTIONS } from './option-names.js';
import { checkBoolean, checkObject, checkOneOf, checkSignal, checkTimeout, optionalLimit } from './validate.js';

export { DEFAULTS };

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

/** {@link SocketLimits}, checked, every one set. */
export interface ResolvedLimits {
  readonly maxReadBuffer: number;
  readonly maxWriteBuffer: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
  readonly allowHalfOpen: boolean;
}

/** The limits of a socket made without options. */
export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  maxReadBuffer: DEFAULTS.maxReadBuffer,
  maxWriteBuffer: DEFAULTS.maxWriteBuffer,
  idleTimeout: 0,
  closeTimeout: DEFAULTS.closeTimeout,
  allowHalfOpen: false,
});

/**
 * Checks the limits in `raw`; a limit `raw` does not set is taken from `base`.
 * @throws LocalSocketError INVALID_ARGUMENT for a bad limit
 */
export function resolveLimits(raw: Record<string, unknown>, base: ResolvedLimits = DEFAULT_LIMITS): ResolvedLimits {
  return Object.freeze({
    maxReadBuffer: optionalLimit(raw.maxReadBuffer, 'maxReadBuffer', base.maxReadBuffer),
    maxWriteBuffer: optionalLimit(raw.maxWriteBuffer, 'maxWriteBuffer', base.maxWriteBuffer),
    idleTimeout: checkTimeout(raw.idleTimeout, base.idleTimeout, 'idleTimeout'),
    closeTimeout: checkTimeout(raw.closeTimeout, base.closeTimeout, 'closeTimeout'),
    allowHalfOpen: checkBoolean(raw.allowHalfOpen, 'allowHalfOpen', base.allowHalfOpen),
  });
}

/**
 * The options of `new LocalSocket()`: the limits. The other connect options
 * are accepted too (so one object can serve `new LocalSocket(options)` and
 * `connectToServer(name, options)`), and are read by `connectToServer()`.
 * @throws LocalSocketError INVALID_ARGUMENT for a non-object, an unknown name or a bad limit
 */
export function resolveSocketOptions(options: unknown): ResolvedLimits {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, CONNECT_OPTIONS);
  return resolveLimits(raw);
}

function resolveNameOptions(raw: Record<string, unknown>): Readonly<NameOptions> {
  return Object.freeze({
    qtCompatible: checkBoolean(raw.qtCompatible, 'qtCompatible', false),
    abstract: checkBoolean(raw.abstract, 'abstract', false),
  });
}

/** Options of `connect()` and `LocalSocket.connectToServer()`: limits, name resolution, authentication, and these. */
export interface ConnectOptions extends SocketLimits, NameOptions, AuthOptions {
  /**
   * Deadline for the whole connect in ms, retries and handshake included (`TIMEOUT` when it passes).
   * The handshake is also bounded by `handshakeTimeout` (5 s by default): a server that accepts but
   * does not answer (stopped, stuck, not a localsocket server) fails `TIMEOUT` after that, whatever
   * this deadline is.
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

/** {@link ConnectOptions}, checked once, every one set (frozen). */
export interface ResolvedConnect {
  readonly limits: ResolvedLimits;
  readonly names: Readonly<NameOptions>;
  readonly auth: AuthSettings;
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly waitForServer: boolean;
}

/**
 * The one check of a connect's options.
 * @param options - from the caller.
 * @param baseLimits - where a limit the options do not set comes from: the socket's own
 *   (from its constructor) for `connectToServer()`.
 * @throws LocalSocketError INVALID_ARGUMENT for a non-object, an unknown name or a bad option
 */
export function resolveConnectOptions(options: unknown, baseLimits: ResolvedLimits = DEFAULT_LIMITS): ResolvedConnect {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, CONNECT_OPTIONS);
  return connectOptionsFrom(raw, baseLimits);
}

/**
 * The connect options in `raw`, whose names an outer entry point (`connectMessages()`) has
 * already checked against its own list.
 * @throws LocalSocketError INVALID_ARGUMENT for a bad option
 */
export function connectOptionsFrom(raw: Record<string, unknown>, baseLimits: ResolvedLimits = DEFAULT_LIMITS): ResolvedConnect {
  return Object.freeze({
    limits: resolveLimits(raw, baseLimits),
    names: resolveNameOptions(raw),
    timeout: checkTimeout(raw.timeout, DEFAULTS.connectTimeout),
    signal: checkSignal(raw.signal),
    waitForServer: checkBoolean(raw.waitForServer, 'waitForServer', false),
    auth: checkAuthOptions(raw),
  });
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
  // An inherited listening descriptor is not an option: it is the name, `listen({ fd })`.
}

/** {@link ServerOptions}, checked once, every one set (frozen). */
export interface ResolvedServer {
  readonly limits: ResolvedLimits;
  readonly names: Readonly<NameOptions>;
  readonly auth: AuthSettings;
  readonly access: Access;
  readonly maxPendingConnections: number;
  readonly maxConnections: number;
  readonly maxHandshakes: number;
}

/**
 * The one check of a server's options.
 * @throws LocalSocketError INVALID_ARGUMENT for a non-object, an unknown name or a bad option
 */
export function resolveServerOptions(options: unknown): ResolvedServer {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, SERVER_OPTIONS);
  return serverOptionsFrom(raw);
}

/**
 * The server options in `raw`, whose names an outer entry point (`new MessageServer()`) has
 * already checked against its own list.
 * @throws LocalSocketError INVALID_ARGUMENT for a bad option
 */
export function serverOptionsFrom(raw: Record<string, unknown>): ResolvedServer {
  return Object.freeze({
    limits: resolveLimits(raw),
    names: resolveNameOptions(raw),
    access: checkOneOf(raw.access, 'access', ['user', 'group', 'world'] as const, 'user'),
    maxPendingConnections: optionalLimit(raw.maxPendingConnections, 'maxPendingConnections', DEFAULTS.maxPendingConnections),
    maxConnections: optionalLimit(raw.maxConnections, 'maxConnections', Infinity, true),
    maxHandshakes: optionalLimit(raw.maxHandshakes, 'maxHandshakes', DEFAULTS.maxHandshakes),
    auth: checkAuthOptions(raw),
  });
}

/** {@link WaitOptions}, checked once, every one set. */
export interface ResolvedWait {
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * The one check of a `waitFor...()` call's options.
 * @throws LocalSocketError INVALID_ARGUMENT for a non-object, an unknown name or a bad option
 */
export function resolveWaitOptions(options: WaitOptions | undefined): ResolvedWait {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, WAIT_OPTIONS);
  return { timeout: checkTimeout(raw.timeout, DEFAULTS.waitTimeout), signal: checkSignal(raw.signal) };
}
