/**
 * One connection attempt at the `net` level, with a deadline and an
 * AbortSignal. On any failure the half-made socket is destroyed before the
 * promise settles, so no descriptor outlives the attempt.
 *
 * A socket in the private directory is reached through a descriptor of that
 * directory, opened and checked first (private-dir.ts), never by its path.
 */
import net from 'node:net';
import path from 'node:path';
import type { CancelSignal } from '../cancel.js';
import { abortedError, timeoutError } from '../deadline.js';
import { fromSystemError } from '../error-map.js';
import { LocalSocketError } from '../errors.js';
import type { Endpoint } from './names.js';
import { findPublishedPipe } from './pipe-record.js';
import { currentPlatform, maxSocketPathBytes } from './platform.js';
import { openPrivateDirForDial } from './private-dir.js';
import { shortPathFor, type ShortPath } from './short-path.js';

/** The pipe a connection was dialed to, when it was read from a record (for `fullServerName`). */
const dialedPipes = new WeakMap<net.Socket, string>();

/**
 * The endpoint a dialed connection actually reached: for a Windows record
 * endpoint, the published pipe; otherwise `endpoint` itself.
 * @param endpoint - what the name resolved to.
 * @param transport - a connection made by {@link dialOnce}.
 */
export function reachedEndpoint(endpoint: Endpoint, transport: net.Socket): Endpoint {
  const pipe = dialedPipes.get(transport);
  return pipe === undefined ? endpoint : { kind: 'pipe', name: endpoint.name, address: pipe, longPath: false };
}

function nothing(): void {}

/** The path to hand to connect() for `endpoint`, and what to release once connect() was made. */
function reachFor(endpoint: Endpoint, uid: number | undefined): ShortPath {
  // Windows default names: the record is read again at every dial, so a restarted server is found at its new pipe.
  if (endpoint.record) return { path: findPublishedPipe(endpoint.address, currentPlatform()).pipe, release: nothing };
  if (endpoint.privateDir && process.platform === 'linux') {
    // The checked directory's descriptor is kept open for the next dial (private-dir.ts): nothing to release.
    const dir = openPrivateDirForDial(endpoint.privateDir, uid);
    const reach = dir.join(path.basename(endpoint.address));
    if (Buffer.byteLength(reach) > maxSocketPathBytes('linux')) throw new LocalSocketError('INVALID_NAME', 'invalid server name: too long');
    return { path: reach, release: nothing };
  }
  if (endpoint.privateDir) openPrivateDirForDial(endpoint.privateDir, uid).close();
  return shortPathFor(endpoint.address, endpoint.longPath, 'connect');
}

/**
 * Connects once. `uid` is the owner the private directory must have.
 * @throws LocalSocketError (rejects) with the mapped OS error, TIMEOUT or ABORTED
 */
export function dialOnce(endpoint: Endpoint, timeoutMs: number, signal?: CancelSignal, uid?: number): Promise<net.Socket> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  let reach: ShortPath;
  try {
    reach = reachFor(endpoint, uid ?? (typeof process.getuid === 'function' ? process.getuid() : undefined));
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.createConnection({ path: reach.path, allowHalfOpen: true });
    if (endpoint.record) dialedPipes.set(socket, reach.path);
    // A Unix socket connect on Linux never waits: connect(2) on a non-blocking AF_UNIX socket
    // connects or fails (EAGAIN when the backlog is full) at once, and libuv reports it on the next
    // turn of the loop. No deadline timer or abort listener can fire first, so none is set; an abort
    // meanwhile is seen as the attempt ends. Named pipes (Windows) and other systems keep both.
    const waits = process.platform !== 'linux' || endpoint.kind === 'pipe';
    const timer = waits ? setTimeout(() => fail(timeoutError('connect')), Math.max(timeoutMs, 0)) : undefined;
    const onAbort = (): void => fail(abortedError(signal!));
    if (waits) signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      if (waits) {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      socket.removeListener('error', onError);
      socket.removeListener('connect', onConnect);
      reach.release();
    };
    const fail = (err: unknown): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    // Aborted meanwhile: the attempt ends ABORTED whichever way the connect went.
    const onError = (err: Error): void => fail(signal?.aborted ? abortedError(signal) : fromSystemError(err, 'connect'));
    const onConnect = (): void => {
      if (signal?.aborted) {
        fail(abortedError(signal));
        return;
      }
      cleanup();
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

export type ProbeResult = 'alive' | 'stale' | 'missing';

/**
 * Does a server answer on this endpoint? `alive` also covers a server whose
 * backlog is full (busy) and endpoints we may not probe (someone else's):
 * only a refused connection proves a socket file stale.
 */
export async function probe(endpoint: Endpoint, timeoutMs: number): Promise<ProbeResult> {
  try {
    const socket = await dialOnce(endpoint, timeoutMs);
    socket.destroy();
    return 'alive';
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') return 'stale';
    if (cause?.code === 'ENOENT') return 'missing';
    return 'alive';
  }
}
