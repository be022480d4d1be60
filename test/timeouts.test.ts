/**
 * Every wait has a deadline: nothing can wait forever.
 * A server that accepts and never answers, and a client that connects and
 * stalls, are cut off within their deadlines; every wait with a deadline in
 * the past settles at once (resolving if its condition holds, else TIMEOUT);
 * an aborted signal rejects ABORTED at once; every wait has a finite default;
 * NaN and Infinity are refused.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError } from '../src/index.js';
import { DEFAULTS } from '../src/options.js';
import { fullName, isLinux, isWindows, tempDir, uniqueName } from './helpers.js';
import { busyListener, closeRawServer, delay, pair, rawServer, rejectsWith, settleWithin, tick, type Pair } from './connection-helpers.js';

const RAW = { auth: false } as const;
/** Deadline checks allow this much on a shared, noisy machine. */
const MARGIN_MS = 2000;

/** A plain server that accepts and never writes a byte. */
async function muteServer(): Promise<{ file: string; held: net.Socket[]; close(): Promise<void> }> {
  const dir = tempDir();
  const file = fullName(dir, 'mute.sock');
  const held: net.Socket[] = [];
  const server = await rawServer(file, (c) => {
    c.on('error', () => {});
    held.push(c);
  });
  return {
    file,
    held,
    close: async () => {
      for (const c of held) c.destroy();
      await closeRawServer(server);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function elapsed<T>(fn: () => Promise<T>): Promise<[PromiseSettledResult<T>, number]> {
  const started = Date.now();
  const outcome = await settleWithin(fn(), 30_000, 'operation');
  return [outcome, Date.now() - started];
}

function assertTimedOut(outcome: PromiseSettledResult<unknown>, ms: number, deadline: number, what: string): void {
  assert.equal(outcome.status, 'rejected', `${what}: expected TIMEOUT, it resolved`);
  const reason = (outcome as PromiseRejectedResult).reason;
  assert.ok(reason instanceof LocalSocketError && reason.code === 'TIMEOUT', `${what}: expected TIMEOUT, got ${String(reason)}`);
  assert.ok(ms < deadline + MARGIN_MS, `${what}: cut off after ${ms} ms, deadline ${deadline} ms`);
}

// ---- a server that accepts and never answers ----------------------------------------

test('a server that accepts and never answers: connect is cut off by its deadline (handshake)', async () => {
  const mute = await muteServer();
  try {
    const [byTimeout, t1] = await elapsed(() => connect(mute.file, { timeout: 300 }));
    assertTimedOut(byTimeout, t1, 300, 'connect timeout');
    const [byHandshake, t2] = await elapsed(() => connect(mute.file, { timeout: 20_000, handshakeTimeout: 300 }));
    assertTimedOut(byHandshake, t2, 300, 'handshakeTimeout');
    assert.ok(mute.held.length >= 2, 'the server did accept');
  } finally {
    await mute.close();
  }
});

test('a server that accepts and never answers (raw mode): waitForReadyRead and idleTimeout cut it off', async () => {
  const mute = await muteServer();
  try {
    const client = await connect(mute.file, { ...RAW, timeout: 5000 });
    const [waited, t1] = await elapsed(() => client.waitForReadyRead({ timeout: 300 }));
    assertTimedOut(waited, t1, 300, 'waitForReadyRead');
    assert.equal(client.state, 'connected', 'a wait that expires leaves the socket as it was');
    client.abort();

    const idle = await connect(mute.file, { ...RAW, timeout: 5000, idleTimeout: 300 });
    const errors: LocalSocketError[] = [];
    idle.on('error', (e) => errors.push(e));
    const started = Date.now();
    await idle.waitForDisconnected({ timeout: 300 + MARGIN_MS });
    const took = Date.now() - started;
    assert.ok(took >= 250, `dropped after ${took} ms, not before its idle timeout`);
    assert.equal(idle.lastError?.code, 'TIMEOUT');
    assert.deepEqual(errors.map((e) => e.code), ['TIMEOUT']);
  } finally {
    await mute.close();
  }
});

test('a server that never accepts (backlog full; on Windows every pipe instance busy): connect is cut off by its deadline', { skip: !isLinux && !isWindows && 'backlog behaviour is Linux-specific' }, async () => {
  const busy = await busyListener();
  try {
    for (const options of [{ ...RAW, timeout: 300 }, { timeout: 300 }]) {
      const [outcome, ms] = await elapsed(() => connect(busy.file, options));
      assertTimedOut(outcome, ms, 300, `connect ${JSON.stringify(options)}`);
    }
  } finally {
    await busy.close();
  }
});

// ---- a client that connects and stalls -------------------------------------------

/** A plain client that connects, optionally sends `bytes`, then stalls. Resolves when the server drops it. */
async function stallingClient(address: string, bytes?: Buffer): Promise<{ dropped: Promise<number>; socket: net.Socket }> {
  const socket = net.createConnection(address);
  socket.on('error', () => {});
  socket.on('data', () => {}); // reads the HELLO, if any
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const started = Date.now();
  if (bytes) socket.write(bytes);
  const dropped = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return { dropped, socket };
}

test('a client that connects and stalls in the handshake is dropped within handshakeTimeout', async () => {
  const server = await listen(uniqueName('hs'), { handshakeTimeout: 300 });
  const refused: LocalSocketError[] = [];
  server.on('refused', (e) => refused.push(e));
  try {
    const silent = await stallingClient(server.fullServerName!);
    // Half of a client proof, then nothing.
    const half = await stallingClient(server.fullServerName!, Buffer.concat([Buffer.from('LSC2'), Buffer.alloc(4), Buffer.from('0123456789')]));
    for (const [what, c] of [['silent', silent], ['half a proof', half]] as const) {
      const ms = await settleWithin(c.dropped, 300 + MARGIN_MS, `${what} client dropped`);
      assert.equal(ms.status, 'fulfilled');
      const took = (ms as PromiseFulfilledResult<number>).value;
      assert.ok(took >= 250, `${what}: dropped after ${took} ms, not before its deadline`);
    }
    assert.equal(refused.length, 2);
    for (const e of refused) assert.equal(e.code, 'TIMEOUT');
    assert.equal(server.hasPendingConnections(), false, 'no stalled peer became a connection');
    assert.equal(server.connectionCount, 0);
  } finally {
    await server.close();
  }
});

for (const mode of ['raw', 'authenticated'] as const) {
  test(`a client that connects and stalls is dropped by the server within idleTimeout (${mode})`, async () => {
    const options = mode === 'raw' ? { ...RAW, idleTimeout: 300 } : { idleTimeout: 300 };
    const server = await listen(uniqueName('idle'), options);
    try {
      const accepted = server.waitForNewConnection({ timeout: 5000 });
      const client = mode === 'raw' ? await connect(server.serverName!, { ...RAW, timeout: 5000 }) : await connect(server.serverName!, { timeout: 5000 });
      const serverSide = await accepted;
      const errors: LocalSocketError[] = [];
      serverSide.on('error', (e) => errors.push(e));
      const started = Date.now();
      await serverSide.waitForDisconnected({ timeout: 300 + MARGIN_MS });
      const took = Date.now() - started;
      assert.ok(took < 300 + MARGIN_MS, `dropped after ${took} ms`);
      assert.equal(serverSide.lastError?.code, 'TIMEOUT');
      assert.deepEqual(errors.map((e) => e.code), ['TIMEOUT']);
      // The stalled client learns of it.
      await client.waitForDisconnected({ timeout: MARGIN_MS });
      assert.equal(server.connectionCount, 0);
    } finally {
      await server.close();
    }
  });
}

test('idleTimeout counts from the last activity: a peer that keeps talking is not dropped', async () => {
  const p = await pair({ ...RAW, idleTimeout: 1500 }, { ...RAW });
  try {
    p.peer.on('readyRead', () => p.peer.read());
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      await p.client.write('ping\n');
      await delay(100);
    }
    assert.equal(p.peer.state, 'connected', 'still connected after 3 s of traffic with a 1.5 s idle timeout');
    await p.peer.waitForDisconnected({ timeout: 1500 + MARGIN_MS });
    assert.equal(p.peer.lastError?.code, 'TIMEOUT', 'dropped once the traffic stopped');
  } finally {
    await p.close();
  }
});

// ---- deadlines in the past, aborted signals ---------------------------------------------

/**
 * Asserts `make()` settles "at once": before the event loop gets to run any
 * I/O (it wins a race against setImmediate), and well under 50 ms.
 */
async function atOnce<T>(what: string, make: () => Promise<T>): Promise<PromiseSettledResult<T>> {
  let settled: PromiseSettledResult<T> | null = null;
  const p = make().then(
    (value) => (settled = { status: 'fulfilled', value }),
    (reason: unknown) => (settled = { status: 'rejected', reason }),
  );
  // "At once" is an ordering, not a speed: settled before the next setImmediate
  // callback, which holds however busy the machine is (no assertion on milliseconds).
  await tick();
  assert.ok(settled !== null, `${what}: still pending after the next event loop turn`);
  await p;
  return settled;
}

async function expectAtOnce(what: string, make: () => Promise<unknown>, code: 'TIMEOUT' | 'ABORTED' | null): Promise<void> {
  const outcome = await atOnce(what, make);
  if (code === null) {
    assert.equal(outcome.status, 'fulfilled', `${what}: expected to resolve, got ${String((outcome as PromiseRejectedResult).reason)}`);
  } else {
    assert.equal(outcome.status, 'rejected', `${what}: expected ${code}, it resolved`);
    const reason = (outcome as PromiseRejectedResult).reason;
    assert.ok(reason instanceof LocalSocketError && reason.code === code, `${what}: expected ${code}, got ${String(reason)}`);
  }
}

interface Fixtures {
  p: Pair;
  /** Connected, nothing to read, nothing queued. */
  quiet: LocalSocket;
  /** Connected, with bytes to read. */
  withData: LocalSocket;
  /** Connected, nothing to read, writes pending to a peer that does not read. */
  blocked: LocalSocket;
  /** Still connecting (its server never answers the handshake). */
  connecting: LocalSocket;
  unconnected: LocalSocket;
  /** A server with a connection pending, and one without. */
  withPending: LocalServer;
  cleanup(): Promise<void>;
}

async function fixtures(): Promise<Fixtures> {
  const p = await pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 64 * 1024 });
  const q = await pair();
  await p.peer.write('data');
  while (p.client.bytesAvailable === 0) await p.client.waitForReadyRead({ timeout: 5000 });
  // The peer never reads: the client's writes stay pending.
  const pending = p.client.write(Buffer.alloc(8 * 1024 * 1024));
  pending.catch(() => {});
  await delay(20);
  assert.ok(p.client.bytesToWrite > 0);
  const mute = await muteServer();
  const connecting = new LocalSocket();
  const connectingDone = connecting.connectToServer(mute.file, { timeout: 20_000 });
  connectingDone.catch(() => {});
  const withPending = await listen(uniqueName('pend'));
  const waiting = await connect(withPending.serverName!);
  const deadline = Date.now() + 5000;
  while (!withPending.hasPendingConnections() && Date.now() < deadline) await delay(5);
  assert.ok(withPending.hasPendingConnections());
  assert.equal(connecting.state, 'connecting');
  return {
    p,
    quiet: q.client,
    withData: p.client,
    blocked: p.client,
    connecting,
    unconnected: new LocalSocket(),
    withPending,
    cleanup: async () => {
      connecting.abort();
      waiting.abort();
      await withPending.close();
      await p.close();
      await q.close();
      await mute.close();
    },
  };
}

for (const timeout of [0, -1, -1000]) {
  test(`every wait with a deadline in the past (timeout ${timeout}) settles at once: resolved if its condition holds, else TIMEOUT`, async () => {
    const f = await fixtures();
    try {
      const o = { timeout };
      // Conditions that hold: resolve.
      await expectAtOnce('waitForConnected on a connected socket', () => f.quiet.waitForConnected(o), null);
      await expectAtOnce('waitForBytesWritten with nothing queued', () => f.quiet.waitForBytesWritten(o), null);
      await expectAtOnce('waitForDisconnected on an unconnected socket', () => f.unconnected.waitForDisconnected(o), null);
      const taken = await atOnce('waitForNewConnection with one pending', () => f.withPending.waitForNewConnection(o));
      assert.equal(taken.status, 'fulfilled');
      (taken as PromiseFulfilledResult<LocalSocket>).value.abort();
      // Conditions that do not hold yet: TIMEOUT.
      await expectAtOnce('waitForConnected while connecting', () => f.connecting.waitForConnected(o), 'TIMEOUT');
      await expectAtOnce('waitForReadyRead with nothing to read', () => f.quiet.waitForReadyRead(o), 'TIMEOUT');
      // As Qt's: it waits for new data, and bytes already buffered are not new.
      await expectAtOnce('waitForReadyRead with bytes available', () => f.withData.waitForReadyRead(o), 'TIMEOUT');
      await expectAtOnce('waitForBytesWritten with writes pending', () => f.blocked.waitForBytesWritten(o), 'TIMEOUT');
      await expectAtOnce('waitForDisconnected while connected', () => f.quiet.waitForDisconnected(o), 'TIMEOUT');
      await expectAtOnce('waitForNewConnection with none pending', () => f.withPending.waitForNewConnection(o), 'TIMEOUT');
      assert.equal(f.connecting.state, 'connecting', 'an expired wait does not change the socket');
      assert.equal(f.quiet.state, 'connected');
    } finally {
      await f.cleanup();
    }
  });
}

test('an already-aborted signal rejects every wait and connect with ABORTED at once, even if the condition holds', async () => {
  const f = await fixtures();
  try {
    const reason = new Error('stop');
    const signal = AbortSignal.abort(reason);
    const o = { signal, timeout: 10_000 };
    await expectAtOnce('waitForConnected (connected)', () => f.quiet.waitForConnected(o), 'ABORTED');
    await expectAtOnce('waitForConnected (connecting)', () => f.connecting.waitForConnected(o), 'ABORTED');
    await expectAtOnce('waitForReadyRead (data)', () => f.withData.waitForReadyRead(o), 'ABORTED');
    await expectAtOnce('waitForReadyRead (none)', () => f.quiet.waitForReadyRead(o), 'ABORTED');
    await expectAtOnce('waitForBytesWritten (idle)', () => f.quiet.waitForBytesWritten(o), 'ABORTED');
    await expectAtOnce('waitForBytesWritten (pending)', () => f.blocked.waitForBytesWritten(o), 'ABORTED');
    await expectAtOnce('waitForDisconnected (unconnected)', () => f.unconnected.waitForDisconnected(o), 'ABORTED');
    await expectAtOnce('waitForDisconnected (connected)', () => f.quiet.waitForDisconnected(o), 'ABORTED');
    await expectAtOnce('waitForNewConnection (pending)', () => f.withPending.waitForNewConnection(o), 'ABORTED');
    assert.ok(f.withPending.hasPendingConnections(), 'an aborted wait takes nothing');
    await expectAtOnce('connect', () => connect(f.p.name, o), 'ABORTED');
    await expectAtOnce('connectToServer', () => new LocalSocket().connectToServer(f.p.name, o), 'ABORTED');
  } finally {
    await f.cleanup();
  }
});

test('a signal fired during a wait rejects it with ABORTED promptly and leaves no listener behind', async () => {
  const p = await pair();
  try {
    const controller = new AbortController();
    const waits = [
      p.client.waitForReadyRead({ signal: controller.signal }),
      p.client.waitForDisconnected({ signal: controller.signal }),
      p.server.waitForNewConnection({ signal: controller.signal }),
    ];
    const before = { readyRead: p.client.listenerCount('readyRead'), stateChanged: p.client.listenerCount('stateChanged') };
    assert.ok(before.readyRead >= 1 && before.stateChanged >= 1, 'the waits are listening');
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    for (const w of waits) await rejectsWith(w, 'ABORTED');
    assert.ok(Date.now() - started < 30 + MARGIN_MS);
    assert.equal(p.client.listenerCount('readyRead'), 0, 'no readyRead listener left');
    assert.equal(p.client.listenerCount('stateChanged'), 0, 'no stateChanged listener left');
    assert.equal(p.server.listenerCount('newConnection'), 0, 'no newConnection listener left');
  } finally {
    await p.close();
  }
});

// ---- finite defaults -------------------------------------------------------------------

test('every default deadline is finite', () => {
  for (const key of ['connectTimeout', 'waitTimeout', 'closeTimeout', 'handshakeTimeout'] as const) {
    const value = DEFAULTS[key];
    assert.ok(Number.isFinite(value) && value > 0 && value <= 60_000, `${key} = ${value}`);
  }
});

/** Asserts `promise` is still pending now, then, after `remaining` more mocked ms, rejects with TIMEOUT. */
async function expiresAt(t: TestContext, promise: Promise<unknown>, at: number, what: string, slack = 0): Promise<void> {
  const state: { settled: unknown } = { settled: null };
  promise.then(
    () => (state.settled = 'resolved'),
    (err: unknown) => (state.settled = err),
  );
  t.mock.timers.tick(at - 1 - slack);
  await tick();
  assert.equal(state.settled, null, `${what}: settled before its default deadline`);
  t.mock.timers.tick(1 + 2 * slack);
  await tick();
  await tick();
  const settled = state.settled as unknown;
  assert.ok(settled instanceof LocalSocketError && settled.code === 'TIMEOUT', `${what}: expected TIMEOUT at ${at} ms, got ${String(settled)}`);
}

test('without a timeout option, each wait rejects TIMEOUT after its default (mocked clock)', async (t) => {
  const f = await fixtures();
  const slow = new LocalSocket();
  const mute = await muteServer();
  try {
    // Still connecting after the default wait: its own connect deadline is far away.
    const slowConnect = slow.connectToServer(mute.file, { timeout: 120_000, handshakeTimeout: 120_000 });
    slowConnect.catch(() => {});
    await delay(50);
    assert.equal(slow.state, 'connecting');
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const waits: Array<[string, () => Promise<unknown>]> = [
      ['waitForConnected', () => slow.waitForConnected()],
      ['waitForReadyRead', () => f.quiet.waitForReadyRead()],
      ['waitForBytesWritten', () => f.blocked.waitForBytesWritten()],
      ['waitForDisconnected', () => f.quiet.waitForDisconnected()],
      ['waitForNewConnection', () => f.p.server.waitForNewConnection()],
    ];
    for (const [what, make] of waits) await expiresAt(t, make(), DEFAULTS.waitTimeout, what);
  } finally {
    t.mock.timers.reset();
    slow.abort();
    await f.cleanup();
    await mute.close();
  }
});

test('without a timeout option, connect rejects TIMEOUT after its default (mocked clock)', async (t) => {
  const mute = await muteServer();
  try {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const socket = new LocalSocket();
    const connecting = socket.connectToServer(mute.file, { handshakeTimeout: 120_000 });
    // Let the dial complete (real I/O) so the handshake deadline is armed.
    const deadline = Date.now() + 5000;
    while (mute.held.length === 0 && Date.now() < deadline) await tick();
    await tick();
    // The deadline is measured from the start of connect; a few real ms went by since.
    await expiresAt(t, connecting, DEFAULTS.connectTimeout, 'connect', 200);
  } finally {
    t.mock.timers.reset();
    await mute.close();
  }
});

test('without a closeTimeout option, disconnectFromServer() gives up flushing after its default (mocked clock)', async (t) => {
  // The peer never reads: the flush cannot finish.
  const p = await pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 64 * 1024 });
  try {
    const write = p.client.write(Buffer.alloc(8 * 1024 * 1024));
    write.catch(() => {});
    await delay(20);
    assert.ok(p.client.bytesToWrite > 0);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const closing = p.client.disconnectFromServer();
    const state: { done: boolean } = { done: false };
    void closing.then(() => (state.done = true));
    t.mock.timers.tick(DEFAULTS.closeTimeout - 1);
    await tick();
    assert.equal(state.done, false, 'still flushing before closeTimeout');
    assert.equal(p.client.state, 'closing');
    t.mock.timers.tick(1);
    await tick();
    await tick();
    assert.equal(state.done as boolean, true, 'disconnectFromServer() settled at closeTimeout');
    assert.equal(p.client.state, 'unconnected');
    await rejectsWith(write, 'TIMEOUT', 'the write that could not be flushed');
  } finally {
    t.mock.timers.reset();
    await p.close();
  }
});

test('NaN and Infinity timeouts are INVALID_ARGUMENT for every wait and connect', async () => {
  const p = await pair();
  try {
    for (const timeout of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['waitForConnected', () => p.client.waitForConnected({ timeout })],
        ['waitForReadyRead', () => p.client.waitForReadyRead({ timeout })],
        ['waitForBytesWritten', () => p.client.waitForBytesWritten({ timeout })],
        ['waitForDisconnected', () => p.client.waitForDisconnected({ timeout })],
        ['waitForNewConnection', () => p.server.waitForNewConnection({ timeout })],
        ['connect', () => connect(p.name, { timeout })],
        ['connect handshakeTimeout', () => connect(p.name, { handshakeTimeout: timeout })],
        ['listen handshakeTimeout', () => listen(uniqueName('nan'), { handshakeTimeout: timeout })],
        ['listen idleTimeout', () => listen(uniqueName('nan'), { idleTimeout: timeout })],
      ];
      for (const [what, call] of calls) {
        let outcome: Promise<unknown>;
        try {
          outcome = call();
        } catch (err) {
          outcome = Promise.reject(err);
        }
        await rejectsWith(outcome, 'INVALID_ARGUMENT', `${what}(${timeout})`);
      }
    }
    assert.equal(p.client.state, 'connected', 'refused arguments change nothing');
  } finally {
    await p.close();
  }
});
