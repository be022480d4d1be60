/**
 * Connection helpers for the tests that drive real sockets: a connected
 * pair (client and the server's side), plain net servers and a listener whose
 * backlog is full, assertions on error codes (rejectsWith, throwsWith) and on
 * settling within a deadline, and a wait for descriptors to come back.
 * Kept apart from helpers.ts (names, temp dirs, fixtures, platform checks),
 * which every test file imports.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError, type ErrorCode } from '../src/index.js';
import type { ConnectOptions, ServerOptions } from '../src/index.js';
import { finished, fullName, isWindows, openFdCount, runFixture, tempDir, uniqueName, waitForLine } from './helpers.js';

/** Codes a pending write may settle with when its socket goes away (aborted, peer gone, closed, timed out). */
export const WRITE_TEARDOWN_CODES: readonly ErrorCode[] = ['ABORTED', 'PEER_CLOSED', 'CONNECTION_ERROR', 'INVALID_STATE', 'TIMEOUT'];

export interface Pair {
  name: string;
  server: LocalServer;
  /** The connecting side. */
  client: LocalSocket;
  /** The server's side of the same connection. */
  peer: LocalSocket;
  close(): Promise<void>;
}

/** A server on a fresh name, one client connected to it, and the server's side of that connection. */
export async function pair(serverOptions: ServerOptions = {}, clientOptions: ConnectOptions = {}): Promise<Pair> {
  const name = uniqueName('f');
  const server = await listen(name, serverOptions);
  const accepted = server.waitForNewConnection({ timeout: 10_000 });
  const client = await connect(name, { timeout: 10_000, ...clientOptions });
  const peer = await accepted;
  return {
    name,
    server,
    client,
    peer,
    close: async () => {
      client.abort();
      peer.abort();
      await server.close();
    },
  };
}

/** Asserts that `promise` rejects with a LocalSocketError of `code`, and returns the error. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what = 'operation'): Promise<LocalSocketError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, `${what}: expected a LocalSocketError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code} (${err.message})`);
    return err;
  }
  assert.fail(`${what}: expected a rejection with ${code}, but it resolved with ${String(value)}`);
}

/** Asserts that `fn` throws (synchronously) a LocalSocketError of `code`, and returns the error. */
export function throwsWith(fn: () => unknown, code: ErrorCode, what = 'operation'): LocalSocketError {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, `${what}: expected a LocalSocketError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected ${code}, got ${err.code} (${err.message})`);
    return err;
  }
  if (result instanceof Promise) result.catch(() => {});
  assert.fail(`${what}: expected a synchronous throw of ${code}, got ${result instanceof Promise ? 'a promise' : String(result)}`);
}

/** Settles `promise` or fails the test if it has not settled within `ms`. */
export async function settleWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const expired = Symbol('expired');
  const outcome = await Promise.race([
    promise.then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    ),
    new Promise<typeof expired>((resolve) => {
      timer = setTimeout(() => resolve(expired), ms);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === expired) assert.fail(`${what}: did not settle within ${ms} ms`);
  return outcome;
}

/** Settles every promise or fails if any is still pending after `ms`. */
export async function allSettleWithin<T>(promises: Promise<T>[], ms: number, what: string): Promise<PromiseSettledResult<T>[]> {
  const results = await settleWithin(Promise.allSettled(promises), ms, what);
  assert.equal(results.status, 'fulfilled');
  return (results as PromiseFulfilledResult<PromiseSettledResult<T>[]>).value;
}

/** Asserts every rejection in `results` is a LocalSocketError with one of `codes`. Returns the codes seen. */
export function assertSettledWith(results: PromiseSettledResult<unknown>[], codes: readonly ErrorCode[], what: string): Map<string, number> {
  const seen = new Map<string, number>();
  for (const r of results) {
    let key = 'resolved';
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof LocalSocketError, `${what}: rejected with a non-LocalSocketError: ${String(r.reason)}`);
      assert.ok(codes.includes(r.reason.code), `${what}: rejected with undocumented code ${r.reason.code} (${r.reason.message})`);
      key = r.reason.code;
    }
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

const ERRNO = /\bE[A-Z]{2,}\b/;
const STACK = /Error:|\n\s+at\s/;
const ABSOLUTE_PATH = /(?:^|[\s'"(=:])\/[^\s/]/;

/** A message is short and says nothing about OS internals (no errno text, no paths, no stack lines). */
export function assertCleanMessage(err: LocalSocketError, forbidden: string[] = []): void {
  const m = err.message;
  assert.ok(!ERRNO.test(m), `message carries an errno string: ${JSON.stringify(m)}`);
  assert.ok(!STACK.test(m), `message carries a stack or error prefix: ${JSON.stringify(m)}`);
  assert.ok(!ABSOLUTE_PATH.test(m), `message carries a path: ${JSON.stringify(m)}`);
  assert.ok(!m.includes('\n'), `message spans lines: ${JSON.stringify(m)}`);
  assert.ok(m.length <= 200, `message is not short (${m.length} chars)`);
  for (const f of forbidden) assert.ok(!m.includes(f), `message carries ${JSON.stringify(f)}: ${JSON.stringify(m)}`);
}

/** Waits until the descriptor count is at most `baseline` (descriptors close asynchronously), or `ms` passed. */
export async function fdsSettleTo(baseline: number, ms = 3000): Promise<number> {
  const deadline = Date.now() + ms;
  let count = openFdCount();
  while (count > baseline && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    count = openFdCount();
  }
  return count;
}

/** A plain net server on `path` (a full path): what a non-localsocket peer looks like. */
export async function rawServer(path: string, onConnection: (c: net.Socket) => void = () => {}): Promise<net.Server> {
  const server = net.createServer(onConnection);
  server.listen(path);
  await once(server, 'listening');
  return server;
}

export function closeRawServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Resolves on the next macrotask turn; lets I/O callbacks run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A plain listener in another process that never accepts again, at a name where a connect can
 * only wait. Linux: its event loop is blocked and its backlog filled, so a further connect fails
 * with EAGAIN at once (and the library retries). Windows: its only pipe instance
 * (NODE_PENDING_PIPE_INSTANCES=1) is taken, so a further connect gets ERROR_PIPE_BUSY and libuv
 * waits in WaitNamedPipe. `fillers` reports how the connects that filled it ended.
 */
export async function busyListener(blockMs?: number): Promise<{ dir: string; file: string; fillers: string[]; close(): Promise<void> }> {
  const dir = tempDir();
  const file = fullName(dir, 'busy.sock');
  const args = [file, 'block', '1', ...(blockMs === undefined ? [] : [String(blockMs)])];
  const child = runFixture('plain-listener.js', args, isWindows ? { env: { NODE_PENDING_PIPE_INSTANCES: '1' } } : {});
  const sockets: net.Socket[] = [];
  const fillers: string[] = [];
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    const done = finished(child, 10_000);
    child.kill('SIGKILL');
    await done;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForLine(child, /^ready/);
    // Windows: one connect takes the one instance (the kernel completes it; nobody accepts it).
    for (let i = 0; i < (isWindows ? 1 : 64); i++) {
      const s = net.createConnection(file);
      sockets.push(s);
      const outcome = await new Promise<string>((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      fillers.push(outcome);
      if (outcome !== 'connected') break;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { dir, file, fillers, close };
}
