/**
 * One connection attempt at the `net` level, with a deadline and an
 * AbortSignal. On any failure the half-made socket is destroyed before the
 * promise settles, so no descriptor outlives the attempt.
 */
import net from 'node:net';
import { abortedError, timeoutError } from './deadline.js';
import { fromSystemError } from './error-map.js';
import type { Endpoint } from './names.js';
import { shortPathFor } from './short-path.js';

export function dialOnce(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  let short: ReturnType<typeof shortPathFor>;
  try {
    short = shortPathFor(endpoint.address, endpoint.longPath, 'connect');
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.createConnection({ path: short.path, allowHalfOpen: true });
    const timer = setTimeout(() => fail(timeoutError('connect')), Math.max(timeoutMs, 0));
    const onAbort = (): void => fail(abortedError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener('connect', onConnect);
      short.release();
    };
    const fail = (err: unknown): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(fromSystemError(err, 'connect'));
    const onConnect = (): void => {
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
