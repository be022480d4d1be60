/**
 * Establishing a connection, in one place: resolve the name, load the key
 * (once per process and file), dial, retry with backoff while the server is
 * busy or not up yet, and run the client handshake. `LocalSocket` and the
 * CLI's `check` both use it; it hands back a connected transport.
 */
import type net from 'node:net';
import { clientHandshake } from './auth/handshake.js';
import { loadAuth, type ResolvedAuth } from './auth/options.js';
import { backoff, CONNECT_BACKOFF } from './backoff.js';
import { isBusyDialError } from './busy-errors.js';
import type { CancelSignal } from './cancel.js';
import { abortedError, sleep } from './deadline.js';
import { dialOnce } from './endpoint/dial.js';
import { fromSystemError } from './error-map.js';
import { LocalSocketError } from './errors.js';
import { resolveName, type Endpoint } from './endpoint/names.js';
import type { ResolvedConnect } from './options.js';
import { currentPlatform } from './endpoint/platform.js';

/** What a connect needs, already checked. */
export interface ConnectPlan {
  endpoint: Endpoint;
  /** Null in raw mode. */
  auth: ResolvedAuth | null;
  deadline: number;
  waitForServer: boolean;
  signal: CancelSignal;
  uid: number | undefined;
  /** Dials made so far by `establish` (for the connect diagnostics). */
  attempts?: number;
}

/**
 * Resolves the name and loads the key, for options already checked.
 * @throws LocalSocketError INVALID_NAME, UNSUPPORTED, INVALID_ARGUMENT (missing key file), ACCESS_DENIED
 */
export function planConnect(name: string, options: ResolvedConnect, signal: CancelSignal): ConnectPlan {
  const platform = currentPlatform();
  // Raw mode keeps plain pipe names on Windows.
  const endpoint = resolveName(name, { ...options.names, auth: options.auth.enabled }, platform);
  const auth = loadAuth(options.auth, platform);
  return { endpoint, auth, deadline: Date.now() + options.timeout, waitForServer: options.waitForServer, signal, uid: platform.uid };
}

/** Busy or not there yet: worth another try before the deadline. */
function retryable(err: unknown, waitForServer: boolean): boolean {
  if (!(err instanceof LocalSocketError)) return false;
  // The handshake said "busy", or the server closed before answering (connection limit, shutting down).
  if (err.code === 'RESOURCE_EXHAUSTED' && err.cause === undefined) return true;
  if (err.code === 'CONNECTION_REFUSED' && err.cause === undefined) return true;
  const cause = (err.cause as { code?: string; syscall?: string } | undefined);
  // The server exists but is busy: its backlog is full (EAGAIN) or, on Windows, every pipe instance is taken.
  if (isBusyDialError(err)) return true;
  // Windows: libuv waits for a busy pipe itself (WaitNamedPipe, 30 s), then fails with ETIMEDOUT; our deadline may be later.
  if (cause?.code === 'ETIMEDOUT' && cause.syscall === 'connect') return true;
  return waitForServer && (err.code === 'SERVER_NOT_FOUND' || err.code === 'CONNECTION_REFUSED');
}

/** The error to report when the deadline passes while retrying `last`. */
function atDeadline(last: LocalSocketError): LocalSocketError {
  // A refusal for lack of room keeps its code: it is not a timeout of ours, and never AUTH_FAILED.
  if (last.cause === undefined && (last.code === 'RESOURCE_EXHAUSTED' || last.code === 'CONNECTION_REFUSED')) {
    return new LocalSocketError(last.code, `${last.message} (retried until the deadline)`);
  }
  return new LocalSocketError('TIMEOUT', 'connect: timed out', { cause: last });
}

/**
 * One attempt: dial, then the handshake when `auth` is given. The transport is
 * destroyed on any failure.
 * @throws LocalSocketError as `establish`, without retrying
 */
export function attemptOnce(endpoint: Endpoint, auth: ResolvedAuth | null, deadline: number, signal: CancelSignal, uid: number | undefined): Promise<net.Socket> {
  const dialed = dialOnce(endpoint, deadline - Date.now(), signal, uid);
  // Raw mode: no handshake to wait for, so no async step between the dial and the checks.
  if (auth === null) return dialed.then((transport) => checkedAfterHandshake(transport, signal));
  return dialed.then(async (transport) => {
    await authenticate(transport, auth, deadline, signal);
    return transport;
  });
}

/**
 * The transport, unless the connect was aborted or the server dropped it
 * meanwhile (then it is destroyed and the error thrown).
 * @throws LocalSocketError ABORTED, CONNECTION_REFUSED
 */
function checkedAfterHandshake(transport: net.Socket, signal: CancelSignal): net.Socket {
  try {
    if (signal.aborted) throw abortedError(signal);
    // Dropped as our proof went out (the server ran out of room meanwhile): not connected; retried.
    if (transport.destroyed) throw new LocalSocketError('CONNECTION_REFUSED', 'connect: the server closed the connection during the handshake');
  } catch (err) {
    transport.destroy();
    throw err;
  }
  return transport;
}

/**
 * The client handshake on a dialed transport (nothing in raw mode). The
 * transport is destroyed on failure.
 * @throws LocalSocketError AUTH_FAILED, RESOURCE_EXHAUSTED, CONNECTION_REFUSED, PROTOCOL_ERROR, TIMEOUT, ABORTED
 */
export async function authenticate(transport: net.Socket, auth: ResolvedAuth | null, deadline: number, signal: CancelSignal): Promise<void> {
  try {
    if (auth) await clientHandshake(transport, auth.key, Math.min(deadline, Date.now() + auth.handshakeTimeout), signal, auth);
  } catch (err) {
    transport.destroy();
    throw err;
  }
  checkedAfterHandshake(transport, signal);
}

/**
 * Dials and authenticates, retrying within the plan's deadline.
 * @throws LocalSocketError SERVER_NOT_FOUND, CONNECTION_REFUSED, RESOURCE_EXHAUSTED, ACCESS_DENIED, AUTH_FAILED,
 * PROTOCOL_ERROR, TIMEOUT, ABORTED
 */
export async function establish(plan: ConnectPlan): Promise<net.Socket> {
  const { endpoint, auth, deadline, signal } = plan;
  let lastRefusal: LocalSocketError | null = null;
  for (let attempt = 0; ; attempt++) {
    plan.attempts = attempt + 1;
    try {
      return await attemptOnce(endpoint, auth, deadline, signal, plan.uid);
    } catch (caught) {
      const err = caught instanceof LocalSocketError ? caught : fromSystemError(caught, 'connect');
      // The deadline ran out during a retry: report why we were retrying, not the last attempt's cut-off.
      if (err.code === 'TIMEOUT' && lastRefusal) throw atDeadline(lastRefusal);
      const remaining = deadline - Date.now();
      if (!retryable(err, plan.waitForServer)) throw err;
      if (remaining <= 0) throw atDeadline(err);
      lastRefusal = err;
      // Capped so a server that appears (or frees up) is found quickly.
      const delay = Math.min(remaining, backoff(CONNECT_BACKOFF, attempt));
      await sleep(delay, signal);
    }
  }
}
