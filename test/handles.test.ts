/**
 * Handle management: a descriptor is released exactly once, nothing
 * touches a released one, and nothing leaks. 2,000 connect/close cycles that
 * end in every way bring /proc/self/fd back to its baseline; every operation
 * after close fails with INVALID_STATE and touches nothing.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError } from '../src/index.js';
import { finished, isLinux, openFdCount, runFixture, uniqueName, waitForLine } from './helpers.js';
import { allSettleWithin, delay, fdsSettleTo, rejectsWith, settleWithin, tick, WRITE_TEARDOWN_CODES, assertSettledWith } from './connection-helpers.js';

const CYCLE_DEADLINE_MS = 10_000;
const PAYLOAD = Buffer.alloc(256 * 1024, 0x61);

interface Holding {
  server: LocalServer;
  /** The server's sides still connected. */
  taken: Set<LocalSocket>;
  /** The server's side of the most recent connection. */
  latest: LocalSocket | null;
}

/** A server that takes every connection and keeps its side open (never reads past its small buffer). */
async function holdingServer(name: string): Promise<Holding> {
  const server = await listen(name, { maxReadBuffer: 16 * 1024, maxPendingConnections: 64 });
  const holding: Holding = { server, taken: new Set(), latest: null };
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket = s;
      holding.taken.add(socket);
      holding.latest = socket;
      socket.on('stateChanged', (state) => {
        if (state === 'unconnected') holding.taken.delete(socket);
      });
    }
  });
  return holding;
}

/**
 * The application on the server side reads what is left and so sees the end.
 * (A side that stopped reading because its buffer is full sees the peer's
 * close only once it reads again, as with any stream socket.)
 */
async function drainUntilClosed(socket: LocalSocket): Promise<void> {
  const drain = (): void => {
    if (socket.state !== 'unconnected' || socket.bytesAvailable > 0) socket.read();
  };
  socket.on('readyRead', drain);
  try {
    drain();
    await socket.waitForDisconnected({ timeout: CYCLE_DEADLINE_MS });
  } finally {
    socket.off('readyRead', drain);
  }
}

// ---- one cycle of each kind -------------------------------------------------

async function gracefulCycle(name: string, holding: Holding, i: number): Promise<void> {
  const taken = holding.taken;
  const client = await connect(name, { timeout: CYCLE_DEADLINE_MS });
  await client.write(`hello ${i}\n`);
  if (i % 2 === 0) {
    await client.disconnectFromServer();
  } else {
    // The server's side closes first; the client follows. The client's connect resolves after one
    // round trip, before the server has checked its proof: close server sides as they appear.
    const deadline = Date.now() + CYCLE_DEADLINE_MS;
    while (client.state === 'connected' && Date.now() < deadline) {
      for (const s of [...taken]) void s.disconnectFromServer();
      await tick();
    }
    await client.waitForDisconnected({ timeout: CYCLE_DEADLINE_MS });
    await client.disconnectFromServer();
  }
  assert.equal(client.state, 'unconnected');
}

async function abortDuringConnectCycle(name: string, i: number): Promise<void> {
  const client = new LocalSocket();
  const controller = new AbortController();
  const connecting = client.connectToServer(name, { timeout: CYCLE_DEADLINE_MS, signal: controller.signal });
  // Abort at different points of the connect: at once, after the dial started, after I/O ran.
  switch (i % 4) {
    case 0:
      client.abort();
      break;
    case 1:
      await Promise.resolve();
      client.abort();
      break;
    case 2:
      await tick();
      client.abort();
      break;
    default:
      controller.abort();
  }
  const outcome = await settleWithin(connecting, CYCLE_DEADLINE_MS, 'connect aborted');
  // Aborted before it finished, or it won the race and the abort closed a connected socket.
  if (outcome.status === 'rejected') {
    assert.ok(outcome.reason instanceof LocalSocketError && outcome.reason.code === 'ABORTED', `connect rejected with ${String(outcome.reason)}`);
  }
  client.abort();
  assert.equal(client.state, 'unconnected');
}

let abortCycles = 0;

async function abortWithWritesPendingCycle(name: string, holding: Holding): Promise<void> {
  const client = await connect(name, { timeout: CYCLE_DEADLINE_MS, maxWriteBuffer: 64 * 1024 });
  // A connect resolves before the server has checked the proof, so the server's side of this cycle
  // may be taken after the client is gone: the first bytes name the cycle, to find that side.
  const marker = Buffer.from(`cycle-${String(++abortCycles).padStart(10, '0')}`);
  const writes: Promise<void>[] = [client.write(marker)];
  for (let n = 0; n < 6; n++) writes.push(client.write(PAYLOAD));
  await tick();
  assert.ok(client.bytesToWrite > 0, 'writes are pending when abort() runs');
  client.abort();
  const results = await allSettleWithin(writes, CYCLE_DEADLINE_MS, 'pending writes after abort');
  assertSettledWith(results, ['ABORTED'], 'pending writes after abort');
  assert.ok(results.some((r) => r.status === 'rejected'), 'some writes were still pending');
  const ours = (): LocalSocket | undefined =>
    [...holding.taken].find((s) => s.bytesAvailable >= marker.length && s.peek(marker.length).equals(marker));
  const deadline = Date.now() + CYCLE_DEADLINE_MS;
  while (!ours() && Date.now() < deadline) await tick();
  const serverSide = ours();
  holding.latest = null;
  assert.ok(serverSide, 'the server took the connection');
  // Drain every open server side, this cycle's and any taken late from an earlier aborted connect.
  for (const s of new Set([serverSide, ...holding.taken])) await drainUntilClosed(s);
}

async function serverClosedCycle(name: string, i: number): Promise<void> {
  const server = await listen(name);
  const client = await connect(name, { timeout: CYCLE_DEADLINE_MS });
  const disconnected = client.waitForDisconnected({ timeout: CYCLE_DEADLINE_MS });
  let taken: LocalSocket | null = null;
  if (i % 2 === 1) taken = await server.waitForNewConnection({ timeout: CYCLE_DEADLINE_MS });
  void client.write('x');
  await server.close();
  // A taken connection outlives its server (QLocalServer semantics); its owner closes it.
  taken?.abort();
  await disconnected;
  await client.disconnectFromServer();
}

async function spawnPeer(role: 'server' | 'client', name: string, pattern: RegExp): Promise<ChildProcess> {
  const child = runFixture('peer-process.js', [role, name, '{"maxReadBuffer":16384}']);
  await waitForLine(child, pattern, 15_000);
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exit = finished(child, 15_000);
  child.kill('SIGKILL');
  await exit;
}

/** The peer is another process and dies by SIGKILL; we are the client (even i) or the server (odd i). */
async function peerKilledCycle(name: string, i: number, ours: Holding): Promise<void> {
  if (i % 2 === 0) {
    const peerName = `${name}-k${i}`;
    const child = await spawnPeer('server', peerName, /^ready /);
    const client = await connect(peerName, { timeout: CYCLE_DEADLINE_MS, maxWriteBuffer: 64 * 1024 });
    const writes = [client.write(PAYLOAD), client.write(PAYLOAD), client.write(PAYLOAD)];
    const disconnected = client.waitForDisconnected({ timeout: CYCLE_DEADLINE_MS });
    await killed(child);
    await disconnected;
    assertSettledWith(await allSettleWithin(writes, CYCLE_DEADLINE_MS, 'writes to a killed peer'), WRITE_TEARDOWN_CODES, 'writes');
    await client.disconnectFromServer();
  } else {
    const before = new Set(ours.taken);
    const child = await spawnPeer('client', name, /^connected/);
    // The child's connect resolves before our side has checked its proof: wait for a new connected one.
    const fresh = (): LocalSocket | undefined => [...ours.taken].filter((s) => !before.has(s) && s.state === 'connected').pop();
    const deadline = Date.now() + CYCLE_DEADLINE_MS;
    while (!fresh() && Date.now() < deadline) await tick();
    const socket = fresh();
    assert.ok(socket, 'the server took the child connection');
    const disconnected = socket.waitForDisconnected({ timeout: CYCLE_DEADLINE_MS });
    await killed(child);
    await disconnected;
    socket.abort();
  }
}

// ---- the tests --------------------------------------------------------------

test('descriptors return to baseline after 2,000 connect/close cycles ending every way', { skip: !isLinux && 'needs /proc/self/fd to count descriptors (Linux; Node cannot count Windows handles, and under Wine /proc is the Linux one)', timeout: 180_000 }, async () => {
  const name = uniqueName('h');
  const closedName = uniqueName('hc');

  // Warm up every path once so lazily created process-wide descriptors
  // (libuv's signal pipe for child processes, name locks) exist before the baseline.
  {
    const warm = await holdingServer(`${name}-warm`);
    const step = async (what: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (err) {
        throw new Error(`warm-up "${what}" failed: ${String(err)}`, { cause: err });
      }
    };
    await step('graceful 0', () => gracefulCycle(`${name}-warm`, warm, 0));
    await step('graceful 1', () => gracefulCycle(`${name}-warm`, warm, 1));
    await step('abort during connect', () => abortDuringConnectCycle(`${name}-warm`, 0));
    await step('abort with writes pending', () => abortWithWritesPendingCycle(`${name}-warm`, warm));
    await step('server closed', () => serverClosedCycle(`${closedName}-warm`, 0));
    await step('peer killed 0', () => peerKilledCycle(`${name}-warm`, 0, warm));
    await step('peer killed 1', () => peerKilledCycle(`${name}-warm`, 1, warm));
    for (const s of warm.taken) s.abort();
    await warm.server.close();
  }
  await delay(50);
  const baseline = await fdsSettleTo(0, 200);

  const ours = await holdingServer(name);
  const withServer = openFdCount();
  assert.ok(withServer > baseline, 'the listening server holds a descriptor');

  const plan: Array<[string, number, (i: number) => Promise<void>]> = [
    ['graceful disconnectFromServer', 600, (i) => gracefulCycle(name, ours, i)],
    ['abort during connect', 600, (i) => abortDuringConnectCycle(name, i)],
    ['abort with writes pending', 400, () => abortWithWritesPendingCycle(name, ours)],
    ['server closed under the client', 380, (i) => serverClosedCycle(`${closedName}-${i}`, i)],
    ['peer killed with SIGKILL', 20, (i) => peerKilledCycle(name, i, ours)],
  ];
  let total = 0;
  try {
    for (const [what, cycles, run] of plan) {
      for (let i = 0; i < cycles; i++) {
        try {
          await run(i);
        } catch (err) {
          throw new Error(`cycle ${i} of "${what}" failed: ${String(err)}`, { cause: err });
        }
      }
      total += cycles;
      const now = await fdsSettleTo(withServer);
      assert.equal(now, withServer, `after ${cycles} cycles of "${what}": ${now - withServer} descriptors leaked`);
    }
  } finally {
    for (const s of ours.taken) s.abort();
    await ours.server.close();
  }
  assert.ok(total >= 2000, `ran ${total} cycles`);
  const end = await fdsSettleTo(baseline);
  assert.equal(end, baseline, `after all cycles and server.close(): ${end - baseline} descriptors leaked`);
});

type Ending = { what: string; make(): Promise<{ socket: LocalSocket; cleanup(): Promise<void> }> };

/** Sockets closed in every way; each is handed over after the close is complete. */
const endings: Ending[] = [
  {
    what: 'never connected, then abort()',
    async make() {
      const socket = new LocalSocket();
      socket.abort();
      return { socket, cleanup: async () => {} };
    },
  },
  {
    what: 'connect failed (no such server)',
    async make() {
      const socket = new LocalSocket();
      await rejectsWith(socket.connectToServer(uniqueName('missing')), 'SERVER_NOT_FOUND');
      return { socket, cleanup: async () => {} };
    },
  },
  {
    what: 'aborted during connect',
    async make() {
      const server = await listen(uniqueName('h'));
      const socket = new LocalSocket();
      const p = socket.connectToServer(server.serverName!);
      socket.abort();
      await rejectsWith(p, 'ABORTED');
      return { socket, cleanup: () => server.close() };
    },
  },
  {
    what: 'graceful disconnectFromServer()',
    async make() {
      const server = await listen(uniqueName('h'));
      const socket = await connect(server.serverName!);
      await socket.write('bye\n');
      await socket.disconnectFromServer();
      return { socket, cleanup: () => server.close() };
    },
  },
  {
    what: 'abort() with writes pending',
    async make() {
      const server = await listen(uniqueName('h'), { maxReadBuffer: 16 * 1024 });
      const socket = await connect(server.serverName!, { maxWriteBuffer: 64 * 1024 });
      const writes = [socket.write(PAYLOAD), socket.write(PAYLOAD)];
      await tick();
      socket.abort();
      assertSettledWith(await allSettleWithin(writes, 5000, 'writes'), ['ABORTED'], 'writes');
      return { socket, cleanup: () => server.close() };
    },
  },
  {
    what: 'peer aborted, then disconnectFromServer()',
    async make() {
      const server = await listen(uniqueName('h'));
      const accepted = server.waitForNewConnection();
      const socket = await connect(server.serverName!);
      (await accepted).abort();
      await socket.waitForDisconnected({ timeout: 5000 });
      await socket.disconnectFromServer();
      return { socket, cleanup: () => server.close() };
    },
  },
  {
    what: 'server closed under it, then abort()',
    async make() {
      const server = await listen(uniqueName('h'));
      const socket = await connect(server.serverName!);
      await server.close();
      await socket.waitForDisconnected({ timeout: 5000 });
      socket.abort();
      return { socket, cleanup: async () => {} };
    },
  },
  {
    what: 'peer process killed with SIGKILL, then abort()',
    async make() {
      const name = uniqueName('hk');
      const child = await spawnPeer('server', name, /^ready /);
      const socket = await connect(name);
      const disconnected = socket.waitForDisconnected({ timeout: 10_000 });
      await killed(child);
      await disconnected;
      socket.abort();
      return { socket, cleanup: async () => {} };
    },
  },
  {
    what: "the server's side, after the client left and it was closed",
    async make() {
      const server = await listen(uniqueName('h'));
      const accepted = server.waitForNewConnection();
      const client = await connect(server.serverName!);
      const socket = await accepted;
      client.abort();
      await socket.waitForDisconnected({ timeout: 5000 });
      await socket.disconnectFromServer();
      return { socket, cleanup: () => server.close() };
    },
  },
];

for (const ending of endings) {
  test(`after close (${ending.what}) every operation fails with INVALID_STATE and touches nothing`, { timeout: 30_000 }, async () => {
    const { socket, cleanup } = await ending.make();
    try {
      assert.equal(socket.state, 'unconnected');
      await delay(20); // let the close finish on the OS side
      const events: string[] = [];
      for (const event of ['stateChanged', 'connected', 'disconnected', 'readyRead', 'readChannelFinished', 'bytesWritten', 'error'] as const) {
        socket.on(event, () => events.push(event));
      }
      const fds = isLinux ? openFdCount() : 0;
      const ops: Array<[string, () => unknown]> = [
        ['write(bytes)', () => socket.write(Buffer.from('x'))],
        ['write(string)', () => socket.write('x')],
        ['write(empty)', () => socket.write(Buffer.alloc(0))],
        ['read()', () => socket.read()],
        ['read(1)', () => socket.read(1)],
        ['readAll()', () => socket.readAll()],
        ['readLine()', () => socket.readLine()],
        ['peek()', () => socket.peek()],
        ['waitForConnected', () => socket.waitForConnected({ timeout: 1000 })],
        ['waitForReadyRead', () => socket.waitForReadyRead({ timeout: 1000 })],
        ['waitForBytesWritten', () => socket.waitForBytesWritten({ timeout: 1000 })],
        ['connectToServer again', () => socket.connectToServer(uniqueName('again'))],
      ];
      for (const [what, op] of ops) {
        let outcome: unknown;
        try {
          outcome = op();
        } catch (err) {
          outcome = Promise.reject(err);
        }
        await rejectsWith(Promise.resolve(outcome), 'INVALID_STATE', what);
      }
      // The one wait whose condition holds after close resolves at once.
      await settleWithin(socket.waitForDisconnected({ timeout: 1000 }), 100, 'waitForDisconnected after close');
      // Closing again is a no-op.
      socket.abort();
      await socket.disconnectFromServer();
      socket.destroy();
      await socket.end();
      await delay(20);
      assert.equal(socket.state, 'unconnected');
      assert.equal(socket.bytesToWrite, 0);
      assert.equal(socket.bytesAvailable, 0);
      assert.deepEqual(events, [], 'no event after close');
      if (isLinux) assert.equal(openFdCount(), fds, 'no descriptor opened after close');
    } finally {
      await cleanup();
    }
  });
}

test('a closed server refuses every operation with INVALID_STATE and touches nothing', async () => {
  const server = await listen(uniqueName('h'));
  await server.close();
  const fds = isLinux ? openFdCount() : 0;
  const events: string[] = [];
  for (const event of ['newConnection', 'refused', 'error', 'close'] as const) server.on(event, () => events.push(event));
  await rejectsWith(server.listen(uniqueName('h2')), 'INVALID_STATE', 'listen again');
  await rejectsWith(server.waitForNewConnection({ timeout: 1000 }), 'INVALID_STATE', 'waitForNewConnection');
  assert.equal(server.nextPendingConnection(), null);
  assert.equal(server.hasPendingConnections(), false);
  await server.close();
  await delay(20);
  assert.deepEqual(events, []);
  if (isLinux) assert.equal(openFdCount(), fds);
});
