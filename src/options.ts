/** Option types and defaults, checked once at the public entry points. */
import type { AuthOptions } from './auth/options.js';
import type { Access } from './bind.js';
import type { NameOptions } from './names.js';
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

export interface SocketLimits {
  /** Most bytes buffered for reading before the socket stops reading from the kernel. */
  maxReadBuffer?: number;
  /** Most bytes accepted for writing and not yet handed to the kernel (`bytesToWrite`). */
  maxWriteBuffer?: number;
  /** Drop the connection (TIMEOUT) after this many ms with no data either way. 0 = off. */
  idleTimeout?: number;
  /** How long `disconnectFromServer()` may wait to flush before it aborts. */
  closeTimeout?: number;
  /**
   * Keep writing after the peer's end-of-stream, until you call `end()` or
   * `disconnectFromServer()` (request/response over a half-closed connection).
   * Default false: the socket closes once what is queued is written (Qt, and Node's default).
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

export interface ConnectOptions extends SocketLimits, NameOptions, AuthOptions {
  /** Deadline for the whole connect, retries and handshake included. */
  timeout?: number;
  signal?: AbortSignal;
  /** Keep retrying while no server is up yet (ENOENT / refused) until the deadline. */
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
  return {
    limits: resolveLimits(raw),
    names: resolveNameOptions(raw),
    timeout: checkTimeout(raw.timeout, DEFAULTS.connectTimeout),
    signal: checkSignal(raw.signal),
    waitForServer: checkBoolean(raw.waitForServer, 'waitForServer', false),
  };
}

export interface ServerOptions extends SocketLimits, NameOptions, AuthOptions {
  /** Peers still in the handshake at most; past it the oldest is dropped. Default 64. */
  maxHandshakes?: number;
  /** Who may connect, by file permissions: only us (default), our group, everyone. */
  access?: Access;
  /** Connections accepted but not yet taken; past it new peers are refused. Default 30. */
  maxPendingConnections?: number;
  /** Open connections (taken, pending and handshaking) at most. Default unlimited. */
  maxConnections?: number;
  /** Adopt an inherited, already listening descriptor (e.g. systemd's fd 3). */
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
  return {
    limits: resolveLimits(raw),
    names: resolveNameOptions(raw),
    access: checkOneOf(raw.access, 'access', ['user', 'group', 'world'] as const, 'user'),
    maxPendingConnections: optionalLimit(raw.maxPendingConnections, 'maxPendingConnections', DEFAULTS.maxPendingConnections),
    maxConnections: optionalLimit(raw.maxConnections, 'maxConnections', Infinity, true),
    maxHandshakes: optionalLimit(raw.maxHandshakes, 'maxHandshakes', DEFAULTS.maxHandshakes),
  };
}
