/**
 * ReconnectingClient: backoff with jitter within bounds, events for each
 * state, handlers kept across reconnects, in-flight requests rejected with
 * PEER_CLOSED and never resent, requests made while reconnecting waiting
 * within their own timeout, close() ending everything, and a SIGKILLed
 * server with 50 clients mid-traffic.
 *
 * Runs over named pipes under Windows too (scripts/windows/test.sh; the
 * whole file passes under Wine in about 5 s). Where timings differ under
 * Wine: a connect that finds every instance of a pipe busy (as while a
 * server is closing) sits in libuv's 30-second busy-pipe wait
 * (WaitNamedPipe) until the attempt's own deadline ends it. A SIGKILLed
 * server's pipe is gone at once (ENOENT, retried with backoff), so these
 * tests do not meet that wait; each attempt's deadline (`timeout`) bounds
 * it where it happens.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  backoffDelay, connectReconnecting, listenMessages, LocalSocketError, ReconnectingClient,
  type MessageServer, type ReconnectState,
} from '../src/index.js';
import { allSettleWithin, fdsSettleTo, rejectsWith, throwsWith } from './connection-helpers.js';
import { isLinux, openFdCount, runFixture, tempDir, uniqueName, waitForLine } from './helpers.js';

const KEY = Buffer.alloc(32, 9);
const children = new Set<ChildProcess>();
const dirs: string[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function until(predicate: () => boolean, what: string, ms = 10_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms${detail ? ` (${detail()})` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Records every state change of a client. */
function states(client: ReconnectingClient): ReconnectState[] {
  const seen: ReconnectState[] = [];
  client.on('stateChanged', (state) => seen.push(state));
  return seen;
}

describe('backoff', () => {
  test('doubles from initialDelay, is capped at maxDelay, and jitter takes off at most its share', () => {
    const o = { initialDelay: 100, maxDelay: 1000, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o)), [100, 200, 400, 800, 1000, 1000]);
    const j = { initialDelay: 100, maxDelay: 1000, jitter: 0.5 };
    assert.equal(backoffDelay(1, j, 0), 100);
    assert.equal(backoffDelay(1, j, 0.999999), 50);
    assert.equal(backoffDelay(10, j, 0.5), 750);
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(1 + (i % 12), j);
      assert.ok(d >= 50 && d <= 1000, `delay ${d} out of bounds`);
    }
    // Huge attempt numbers stay finite and capped.
    assert.equal(backoffDelay(10_000, o), 1000);
  });

  test('bad options throw INVALID_ARGUMENT', () => {
    throwsWith(() => new ReconnectingClient('x', { jitter: 2 }), 'INVALID_ARGUMENT');
    throwsWith(() => new ReconnectingClient('x', { initialDelay: 500, maxDelay: 100 }), 'INVALID_ARGUMENT');
    throwsWith(() => new ReconnectingClient('x', { maxAttempts: 0 }), 'INVALID_ARGUMENT');
    throwsWith(() => new ReconnectingClient('x', { initialDelay: Infinity }), 'INVALID_ARGUMENT');
    throwsWith(() => new ReconnectingClient(7 as unknown as string), 'INVALID_ARGUMENT');
  });
});

describe('ReconnectingClient', () => {
  test('survives a server restart: in-flight request rejects PEER_CLOSED, a new one waits for the next connection, handlers are kept', async () => {
    const name = uniqueName('rc');
    let server: MessageServer = await listenMessages(name, { key: KEY });
    server.handle('never', () => new Promise(() => {}));
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 10, maxDelay: 50 });
    const seen = states(client);
    const events: string[] = [];
    client.on('disconnected', (reason, info) => events.push(`disconnected ${reason?.code} ${info.clean ? 'clean' : 'lost'} ${info.code}`));
    client.on('reconnecting', () => events.push('reconnecting'));
    client.on('connected', () => events.push('connected'));
    const hellos: unknown[] = [];
    client.handle('clientSide', (params) => (params as number) + 1);
    client.onNotification('hello', (params) => hellos.push(params));
    try {
      assert.equal(client.state, 'connected');
      assert.equal(client.connectCount, 1);
      const inFlight = client.request('never', null, { timeout: 10_000 });
      await until(() => server.peerCount === 1, 'the peer is in');
      // The client learns of the close (and rejects) while the server's close still waits for it to hang up.
      const rejected = rejectsWith(inFlight, 'PEER_CLOSED', 'request in flight when the server went away');
      await server.close();
      await rejected;
      await until(() => client.state === 'reconnecting', 'reconnecting');
      // Made while there is no connection: it waits for the next one.
      const later = client.request('echo', 5, { timeout: 10_000 });
      const laterNotify = client.notify('note', 'queued', { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 100));
      server = await listenMessages(name, { key: KEY });
      const notes: unknown[] = [];
      server.onNotification('note', (params) => notes.push(params));
      server.handle('echo', (params) => params);
      assert.equal(await later, 5);
      await laterNotify;
      await until(() => notes.length === 1, 'the notification made while reconnecting arrived');
      assert.equal(client.connectCount, 2);
      // Handlers registered before the reconnect serve the new connection.
      await until(() => server.peerCount === 1, 'the client is a peer again');
      const peer = server.peers[0]!;
      assert.equal(await peer.request('clientSide', 41), 42);
      server.broadcast('hello', 'again');
      await until(() => hellos.length === 1, 'notification handler kept');
      assert.deepEqual(hellos, ['again']);
      assert.deepEqual(seen, ['reconnecting', 'connected']);
      // The server closed on purpose (its close frame, 1001 going away), not lost.
      assert.equal(events[0], 'disconnected PEER_CLOSED clean 1001');
      assert.equal(events[1], 'reconnecting');
      assert.equal(events.at(-1), 'connected');
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('notification, message and binary events are re-emitted from every connection, for listeners added before or after connecting', async () => {
    const name = uniqueName('re');
    let server = await listenMessages(name, { key: KEY });
    const client = new ReconnectingClient(name, { key: KEY, initialDelay: 10, maxDelay: 50 });
    const seen: string[] = [];
    client.on('notification', (method, params) => seen.push(`notification ${method} ${JSON.stringify(params)}`));
    client.start();
    try {
      await client.waitForConnected({ timeout: 10_000 });
      client.on('binary', (data) => seen.push(`binary ${[...data].join(',')}`));
      client.on('message', (value) => seen.push(`message ${JSON.stringify(value)}`));
      await until(() => server.peerCount === 1, 'peer');
      server.broadcast('n', 1);
      server.broadcastBinary(Buffer.from([7]));
      await server.peers[0]!.send({ plain: true });
      await until(() => seen.length === 3, 'three events');
      await server.close();
      await until(() => client.state === 'reconnecting', 'reconnecting');
      server = await listenMessages(name, { key: KEY });
      await client.waitForConnected({ timeout: 10_000 });
      await until(() => server.peerCount === 1, 'peer again');
      server.broadcast('n', 2);
      server.broadcastBinary(Buffer.from([8]));
      await until(() => seen.length === 5, 'two more events');
      assert.deepEqual(seen, ['notification n 1', 'binary 7', 'message {"plain":true}', 'notification n 2', 'binary 8']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('the first connection waits for a server that is not up yet (waitForServer), within the timeout, without backoff events', async () => {
    const name = uniqueName('rw');
    const connecting = connectReconnecting(name, { key: KEY, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    const server = await listenMessages(name, { key: KEY });
    try {
      const client = await connecting;
      let reconnecting = 0;
      client.on('reconnecting', () => reconnecting++);
      assert.equal(client.state, 'connected');
      assert.equal(client.connectCount, 1);
      assert.equal(reconnecting, 0);
      await client.close();
    } finally {
      await server.close();
    }
    // Without a server at all, the first connection fails at its deadline and the client is closed.
    await rejectsWith(connectReconnecting(uniqueName('rw'), { key: KEY, timeout: 200 }), 'TIMEOUT');
  });

  test('gives up after maxAttempts with the last error; events for each attempt', async () => {
    const client = new ReconnectingClient(uniqueName('none'), { key: KEY, waitForServer: false, maxAttempts: 3, initialDelay: 1, maxDelay: 5 });
    const seen = states(client);
    let connecting = 0;
    let reconnecting = 0;
    let closedWith: LocalSocketError | null | undefined;
    client.on('connecting', () => connecting++);
    client.on('reconnecting', () => reconnecting++);
    client.on('closed', (reason) => (closedWith = reason));
    client.on('error', () => {});
    const waiting = client.waitForConnected({ timeout: 10_000 });
    client.start();
    await rejectsWith(waiting, 'SERVER_NOT_FOUND', 'waitForConnected after the last attempt');
    assert.equal(connecting, 3);
    assert.equal(reconnecting, 2);
    assert.equal(closedWith?.code, 'SERVER_NOT_FOUND');
    assert.deepEqual(seen, ['connecting', 'closed']);
    await rejectsWith(client.request('x'), 'SERVER_NOT_FOUND', 'request on a client that gave up');
    throwsWith(() => client.start(), 'INVALID_STATE');
    await rejectsWith(connectReconnecting(uniqueName('none'), { key: KEY, waitForServer: false, maxAttempts: 1 }), 'SERVER_NOT_FOUND');
  });

  test('a wrong key is fatal: AUTH_FAILED closes the client at once, no retry', async () => {
    const name = uniqueName('rk');
    const server = await listenMessages(name, { key: KEY });
    try {
      const client = new ReconnectingClient(name, { key: Buffer.alloc(32, 1), initialDelay: 1, maxDelay: 5 });
      let attempts = 0;
      let error: LocalSocketError | null = null;
      client.on('connecting', () => attempts++);
      client.on('error', (err) => (error = err));
      const waiting = client.waitForConnected({ timeout: 10_000 });
      client.start();
      await rejectsWith(waiting, 'AUTH_FAILED');
      assert.equal(attempts, 1);
      assert.equal((error as LocalSocketError | null)?.code, 'AUTH_FAILED');
      assert.equal(client.state, 'closed');
    } finally {
      await server.close();
    }
  });

  test('a request made while reconnecting rejects with TIMEOUT at its own deadline, or ABORTED by its signal', async () => {
    const name = uniqueName('rt');
    const server = await listenMessages(name, { key: KEY });
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 10, maxDelay: 20 });
    try {
      await server.close();
      await until(() => client.state === 'reconnecting', 'reconnecting');
      await rejectsWith(client.request('x', null, { timeout: 200 }), 'TIMEOUT');
      await rejectsWith(client.notify('x', null, { timeout: 100 }), 'TIMEOUT');
      await rejectsWith(client.request('x', null, { timeout: 10_000, signal: AbortSignal.timeout(100) }), 'ABORTED');
      await rejectsWith(client.waitForConnected({ timeout: 50 }), 'TIMEOUT');
      assert.equal(client.state, 'reconnecting', 'still trying');
    } finally {
      await client.close();
    }
  });

  test('close() ends everything: waiting requests reject INVALID_STATE, no further attempts, the server sees the peer leave', async () => {
    const name = uniqueName('rx');
    const server = await listenMessages(name, { key: KEY });
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 10, maxDelay: 20 });
    await until(() => server.peerCount === 1, 'peer joined');
    let left = false;
    server.on('peerLeft', () => (left = true));
    await client.close();
    assert.equal(client.state, 'closed');
    await until(() => left, 'the server saw the peer leave');
    await rejectsWith(client.request('x'), 'INVALID_STATE');
    await client.close(); // idempotent

    // Closed while reconnecting: the waiter rejects and attempts stop.
    const other = await connectReconnecting(name, { key: KEY, initialDelay: 10, maxDelay: 20 });
    let attempts = 0;
    other.on('connecting', () => attempts++);
    await server.close();
    await until(() => other.state === 'reconnecting' && attempts >= 2, 'retrying');
    const waiting = other.request('x', null, { timeout: 10_000 });
    let closedWith: LocalSocketError | null | undefined;
    other.on('closed', (reason) => (closedWith = reason));
    await other.close();
    await rejectsWith(waiting, 'INVALID_STATE');
    assert.equal(closedWith, null);
    const after = attempts;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(attempts, after, 'no attempt after close()');
  });

  test('an AbortSignal passed in the options closes the client', async () => {
    const name = uniqueName('ra');
    const server = await listenMessages(name, { key: KEY });
    const controller = new AbortController();
    const client = await connectReconnecting(name, { key: KEY, signal: controller.signal });
    try {
      controller.abort();
      await until(() => client.state === 'closed', 'closed by the signal');
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('no descriptor leak: 20 server restarts, failed attempts in between, then close()', { skip: !isLinux && 'counts /proc/self/fd' }, async () => {
    const name = uniqueName('rf');
    const baseline = openFdCount();
    const client = new ReconnectingClient(name, { key: KEY, initialDelay: 1, maxDelay: 20, waitForServer: false });
    client.on('error', () => {});
    client.start();
    let failed = 0;
    client.on('reconnecting', (_attempt, _delay, lastError) => {
      if (lastError) failed++;
    });
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 10)); // a few attempts find no server
      const server = await listenMessages(name, { key: KEY });
      await client.waitForConnected({ timeout: 10_000 });
      await server.close();
      await until(() => client.state !== 'connected', 'the client saw the server go');
    }
    assert.ok(client.connectCount === 20);
    assert.ok(failed > 0, 'some attempts failed in between');
    await client.close();
    const settled = await fdsSettleTo(baseline);
    assert.ok(settled <= baseline, `descriptors: ${settled} after, ${baseline} before`);
  });

  test('kill -9 of the server with 50 clients mid-traffic, then a restart: every client reconnects, no request runs twice, none hangs', async (t) => {
    const dir = tempDir('lsreconnect-');
    dirs.push(dir);
    const name = uniqueName('kill');
    const keyHex = KEY.toString('hex');
    const start = async (log: string): Promise<ChildProcess> => {
      const child = runFixture('message-counter.js', [name, keyHex, log]);
      children.add(child);
      child.once('exit', () => children.delete(child));
      const line = await waitForLine(child, /^(listening|error)/, 20_000);
      assert.match(line, /^listening/);
      return child;
    };
    const logA = path.join(dir, 'a.log');
    const logB = path.join(dir, 'b.log');
    const serverA = await start(logA);
    const clients: ReconnectingClient[] = [];
    for (let i = 0; i < 50; i++) clients.push(await connectReconnecting(name, { key: KEY, initialDelay: 20, maxDelay: 400, timeout: 5000 }));
    const disconnects = new Array<number>(50).fill(0);
    clients.forEach((c, i) => c.on('disconnected', () => disconnects[i]!++));
    // What each client last failed with, to say why one is missing if the test fails.
    const lastErrors = new Array<string>(50).fill('');
    clients.forEach((c, i) => {
      const note = (err: unknown): void => {
        lastErrors[i] = err instanceof LocalSocketError ? `${err.code}: ${err.message}` : String(err);
      };
      c.on('reconnecting', (_attempt, _delay, err) => err && note(err));
      c.on('error', note);
    });
    const stragglers = (): string => clients
      .map((c, i) => ({ i, c }))
      .filter(({ i }) => lastPid[i] !== currentPid)
      .slice(0, 5)
      .map(({ i, c }) => `client ${i}: ${c.state}, ${c.connectCount} connects, last error ${lastErrors[i] || 'none'}`)
      .join('; ');
    let currentPid = 0;

    const answers = new Map<string, number>();
    const lastPid = new Array<number>(50).fill(0);
    const failures = new Map<string, number>();
    let stop = false;
    const loops = clients.map(async (client, i) => {
      for (let n = 0; !stop; n++) {
        const nonce = `${i}-${n}`;
        try {
          const reply = (await client.request('work', { nonce }, { timeout: 15_000 })) as { nonce: string; pid: number };
          assert.equal(reply.nonce, nonce);
          answers.set(nonce, (answers.get(nonce) ?? 0) + 1);
          lastPid[i] = reply.pid;
        } catch (err) {
          const code = err instanceof LocalSocketError ? err.code : String(err);
          failures.set(code, (failures.get(code) ?? 0) + 1);
          if (client.state === 'closed') return;
        }
      }
    });
    try {
      await until(() => answers.size >= 1000, '1,000 answers before the kill', 30_000);
      serverA.kill('SIGKILL');
      await until(() => clients.every((c) => c.state !== 'connected'), 'every client saw the server die', 15_000);
      const answeredBeforeRestart = answers.size;
      const serverB = await start(logB);
      currentPid = serverB.pid!;
      const restartedAt = Date.now();
      await until(() => lastPid.every((pid) => pid === serverB.pid), 'every client got an answer from the restarted server', 30_000, stragglers);
      t.diagnostic(`every client answered by the restarted server ${Date.now() - restartedAt} ms after it listened`);
      stop = true;
      await allSettleWithin(loops, 20_000, 'the request loops');
      assert.ok(answers.size > answeredBeforeRestart);
      for (const [i, c] of clients.entries()) {
        assert.equal(c.connectCount, 2, `client ${i} connected twice`);
        assert.equal(disconnects[i], 1, `client ${i} lost its connection once`);
      }
      for (const [nonce, times] of answers) assert.equal(times, 1, `nonce ${nonce} answered ${times} times`);
      // Server side: every nonce was run at most once across both server processes.
      serverB.stdin!.end();
      await new Promise((r) => serverB.once('exit', r));
      const ran = [...fs.readFileSync(logA, 'utf8').split('\n'), ...fs.readFileSync(logB, 'utf8').split('\n')].filter(Boolean);
      const runs = new Map<string, number>();
      for (const nonce of ran) runs.set(nonce, (runs.get(nonce) ?? 0) + 1);
      for (const [nonce, times] of runs) assert.equal(times, 1, `nonce ${nonce} ran ${times} times`);
      // Everything answered was run; what failed in flight was run at most once (above) and never resent.
      for (const nonce of answers.keys()) assert.ok(runs.has(nonce), `answered nonce ${nonce} is in a server log`);
      // The only failures are requests in flight when the server died.
      t.diagnostic(`answers ${answers.size} (${answeredBeforeRestart} before the restart), failed in flight: ${JSON.stringify(Object.fromEntries(failures))}`);
      for (const code of failures.keys()) assert.ok(code === 'PEER_CLOSED' || code === 'CONNECTION_ERROR', `unexpected failure ${code}`);
    } finally {
      stop = true;
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
