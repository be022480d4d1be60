/**
 * Concurrency: the event loop is the thread model. Concurrent
 * async writers never interleave inside one write, even when a small write
 * queue splits their records; readers get data in order; closing (every
 * way) while writes and waits are pending is safe; many processes using one
 * name at once is safe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError } from '../src/index.js';
import { finished, noStrayErrors, runFixture, uniqueName } from './helpers.js';
import { allSettleWithin, assertSettledWith, delay, pair, tick, WRITE_TEARDOWN_CODES, type Pair } from './connection-helpers.js';

const KiB = 1024;
const RECORD_BODY = 64 * KiB;
const HEADER = 8;
const WRITERS = 100;
const SETTLE_MS = 10_000;

/** A record: [u32 index][u32 body length] then the body, every byte of it the index's low byte. */
function record(index: number): Buffer {
  const buf = Buffer.alloc(HEADER + RECORD_BODY, index & 0xff);
  buf.writeUInt32BE(index, 0);
  buf.writeUInt32BE(RECORD_BODY, 4);
  return buf;
}

/** A random pause: some microtasks, some event-loop turns, some timers. */
async function jitter(): Promise<void> {
  const r = Math.random();
  if (r < 0.3) return;
  if (r < 0.6) {
    for (let i = 0; i < Math.floor(Math.random() * 5); i++) await Promise.resolve();
  } else if (r < 0.9) {
    await tick();
  } else {
    await delay(Math.floor(Math.random() * 5));
  }
}

/** Reads records in random-sized pieces, checking each one whole; resolves with their indexes in arrival order. */
async function readRecords(socket: LocalSocket, count: number): Promise<number[]> {
  const order: number[] = [];
  let pending: Buffer = Buffer.alloc(0);
  while (order.length < count) {
    if (socket.bytesAvailable === 0) await socket.waitForReadyRead({ timeout: SETTLE_MS });
    // Read in odd sizes so records are reassembled from pieces.
    const piece = socket.read(1 + Math.floor(Math.random() * 100 * KiB));
    pending = pending.length === 0 ? piece : Buffer.concat([pending, piece]);
    while (pending.length >= HEADER) {
      const index = pending.readUInt32BE(0);
      const length = pending.readUInt32BE(4);
      assert.equal(length, RECORD_BODY, `record ${order.length}: bad length ${length} (records interleaved?)`);
      if (pending.length < HEADER + length) break;
      const body = pending.subarray(HEADER, HEADER + length);
      const expected = index & 0xff;
      const bad = body.findIndex((b) => b !== expected);
      assert.equal(bad, -1, `record ${index}: byte ${bad} is ${body[bad]}, expected ${expected}: another write interleaved`);
      order.push(index);
      pending = Buffer.from(pending.subarray(HEADER + length));
    }
  }
  assert.equal(pending.length, 0, 'no stray bytes after the last record');
  return order;
}

test('100 concurrent async writers of 64 KiB records through a 256 KiB queue: every record whole, in call order, all complete', async () => {
  const limit = 256 * KiB;
  // The reader's buffer is small too: the kernel fills, the writers wait and are split.
  const p = await pair({ maxReadBuffer: 64 * KiB }, { maxWriteBuffer: limit });
  try {
    let maxQueued = 0;
    let over = 0;
    const sample = (): void => {
      maxQueued = Math.max(maxQueued, p.client.bytesToWrite);
      if (p.client.bytesToWrite > limit) over++;
    };
    p.client.on('bytesWritten', sample);
    const callOrder: number[] = [];
    const reading = readRecords(p.peer, WRITERS);
    const writers = Array.from({ length: WRITERS }, async (_, index) => {
      await jitter();
      callOrder.push(index);
      const done = p.client.write(record(index));
      sample();
      await done;
      await jitter();
      return index;
    });
    const results = await allSettleWithin(writers, 30_000, 'writers');
    for (const r of results) assert.equal(r.status, 'fulfilled', `a writer failed: ${String((r as PromiseRejectedResult).reason)}`);
    const arrived = await reading;
    assert.equal(over, 0, 'bytesToWrite never exceeded maxWriteBuffer');
    assert.ok(maxQueued > limit / 2, `writes had to wait for room (max queued ${maxQueued})`);
    assert.deepEqual(arrived, callOrder, 'records arrive in the order write() was called');
    assert.deepEqual([...arrived].sort((a, b) => a - b), Array.from({ length: WRITERS }, (_, i) => i), 'every record arrived once');
    assert.equal(p.client.bytesToWrite, 0);
  } finally {
    await p.close();
  }
});

test('both directions at once: two sets of concurrent writers and two readers, each stream whole and in order', async () => {
  const p = await pair({ maxReadBuffer: 32 * KiB, maxWriteBuffer: 128 * KiB }, { maxReadBuffer: 32 * KiB, maxWriteBuffer: 128 * KiB });
  try {
    const run = async (from: LocalSocket, to: LocalSocket): Promise<void> => {
      const callOrder: number[] = [];
      const reading = readRecords(to, 40);
      const writers = Array.from({ length: 40 }, async (_, index) => {
        await jitter();
        callOrder.push(index);
        await from.write(record(index));
      });
      await Promise.all(writers);
      assert.deepEqual(await reading, callOrder);
    };
    await allSettleWithin([run(p.client, p.peer), run(p.peer, p.client)], 30_000, 'both directions').then((rs) => {
      for (const r of rs) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
    });
  } finally {
    await p.close();
  }
});

test('concurrent readers waiting on one socket: every byte is read once, in order', async () => {
  const p = await pair();
  try {
    const total = 512 * KiB;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = (i * 7) % 256;
    const got: Array<[number, Buffer]> = [];
    let seq = 0;
    let received = 0;
    const reader = async (): Promise<void> => {
      while (received < total) {
        try {
          // The Qt idiom: waitForReadyRead waits for new data, so wait only when nothing is buffered.
          if (p.peer.bytesAvailable === 0) await p.peer.waitForReadyRead({ timeout: 5000 });
        } catch (err) {
          if (received >= total) return;
          throw err;
        }
        const chunk = p.peer.read(1 + Math.floor(Math.random() * 8 * KiB));
        if (chunk.length === 0) continue;
        got.push([seq++, chunk]);
        received += chunk.length;
        await jitter();
      }
    };
    const readers = Array.from({ length: 8 }, reader);
    for (let at = 0; at < total; at += 10_000) void p.client.write(data, at, Math.min(10_000, total - at));
    await p.client.waitForBytesWritten({ timeout: SETTLE_MS });
    const deadline = Date.now() + SETTLE_MS;
    while (received < total && Date.now() < deadline) await delay(5);
    // Wake the readers still waiting, so they all finish.
    void p.client.write('!');
    await allSettleWithin(readers, SETTLE_MS, 'readers');
    const joined = Buffer.concat(got.sort((a, b) => a[0] - b[0]).map(([, c]) => c));
    assert.ok(joined.subarray(0, total).equals(data), 'the readers together saw the stream exactly, in order');
  } finally {
    await p.close();
  }
});

// ---- closing while writes and waits are pending ---------------------------------------------

interface Busy {
  p: Pair;
  /** A second client whose connection the server has not taken (pending). */
  untaken: LocalSocket;
  /**
   * A second server with a waitForNewConnection pending. (Not on p.server: a
   * wait there would take the pending connection at once.)
   */
  lonely: LocalServer;
  serverWait: Promise<LocalSocket>;
  writes: Promise<void>[];
  waits: Promise<unknown>[];
}

/** Marks a wait as handled (its outcome is still checked with allSettled later). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** A pair with writers and waits pending on both sides, and a pending server wait. */
async function busyPair(): Promise<Busy> {
  const p = await pair({ maxReadBuffer: 16 * KiB, maxWriteBuffer: 64 * KiB }, { maxReadBuffer: 16 * KiB, maxWriteBuffer: 64 * KiB });
  const untaken = await connect(p.name, { timeout: 5000, maxWriteBuffer: 64 * KiB });
  const deadline = Date.now() + 5000;
  while (!p.server.hasPendingConnections() && Date.now() < deadline) await delay(5);
  const writes: Promise<void>[] = [];
  for (const socket of [p.client, p.peer, untaken]) {
    for (let i = 0; i < 30; i++) {
      const w = socket.write(record(i));
      writes.push(w);
    }
  }
  // Writers still arriving while the close happens.
  const late = (async () => {
    for (let i = 0; i < 20; i++) {
      await jitter();
      for (const socket of [p.client, p.peer, untaken]) {
        const w = socket.write(record(100 + i));
        writes.push(w);
      }
    }
  })();
  const waits: Promise<unknown>[] = [late];
  for (const socket of [p.client, p.peer, untaken]) {
    waits.push(handled(socket.waitForBytesWritten({ timeout: SETTLE_MS })));
    waits.push(handled(socket.waitForDisconnected({ timeout: SETTLE_MS })));
  }
  // Nothing is sent to the untaken client: its read wait stays pending.
  waits.push(handled(untaken.waitForReadyRead({ timeout: SETTLE_MS })));
  const lonely = await listen(uniqueName('lonely'));
  const serverWait = handled(lonely.waitForNewConnection({ timeout: SETTLE_MS }));
  await delay(10);
  return { p, untaken, lonely, serverWait, writes, waits };
}

/** What pending writes and waits settle with when a close ends them (not their own deadline: they settle well before it). */
const CLOSE_CODES = WRITE_TEARDOWN_CODES.filter((c) => c !== 'TIMEOUT');
const CLOSE_SETTLE_MS = SETTLE_MS / 2;

const closers: Array<[string, (b: Busy) => Promise<void> | void, (b: Busy) => LocalSocket[]]> = [
  ['client abort()', (b) => b.p.client.abort(), (b) => [b.p.client, b.p.peer]],
  ['client disconnectFromServer()', (b) => void b.p.client.disconnectFromServer(), (b) => [b.p.client]],
  ['peer abort()', (b) => b.p.peer.abort(), (b) => [b.p.client, b.p.peer]],
  ['peer disconnectFromServer()', (b) => void b.p.peer.disconnectFromServer(), (b) => [b.p.peer]],
  ['server.close()', async (b) => void (await Promise.all([b.p.server.close(), b.lonely.close()])), (b) => [b.untaken]],
];

for (const [what, close, settlesFor] of closers) {
  test(`closing while writes and waits are pending is safe: ${what}`, async () => {
    await noStrayErrors(async () => {
      const b = await busyPair();
      const serverWait = b.serverWait;
      try {
        assert.ok(b.p.client.bytesToWrite > 0 && b.p.peer.bytesToWrite > 0, 'writes are pending on both sides');
        const errors: LocalSocketError[] = [];
        for (const s of [b.p.client, b.p.peer, b.untaken]) s.on('error', (e) => errors.push(e));
        await close(b);
        // Whatever the close left open is closed next (an application would), so everything can settle;
        // first check that what the close itself should end ends on its own.
        const own = settlesFor(b);
        // A disconnectFromServer() flushes first: with peers that do not read, it waits its closeTimeout.
        // The peers read here so the flush can finish.
        for (const s of [b.p.client, b.p.peer, b.untaken]) {
          s.on('readyRead', () => {
            if (s.state !== 'unconnected') s.read();
          });
          if (s.bytesAvailable > 0) s.read();
        }
        for (const s of own) await s.waitForDisconnected({ timeout: SETTLE_MS });
        if (what === 'server.close()') {
          await assert.rejects(serverWait, (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_STATE');
        }
        b.p.client.abort();
        b.p.peer.abort();
        b.untaken.abort();
        const writes = await allSettleWithin(b.writes, CLOSE_SETTLE_MS, 'pending writes');
        assertSettledWith(writes, CLOSE_CODES, 'pending writes');
        const waits = await allSettleWithin(b.waits, CLOSE_SETTLE_MS, 'pending waits');
        assertSettledWith(waits, CLOSE_CODES, 'pending waits');
        for (const e of errors) assert.ok(e instanceof LocalSocketError && WRITE_TEARDOWN_CODES.includes(e.code), `error event ${e.code}`);
      } finally {
        b.p.client.abort();
        b.p.peer.abort();
        b.untaken.abort();
        await b.p.server.close();
        await b.lonely.close();
        await allSettleWithin([serverWait], SETTLE_MS, 'server wait');
      }
    });
  });
}

test('closing both ends and the server in the same tick, with writers mid-flight, is safe', async () => {
  await noStrayErrors(async () => {
    for (let round = 0; round < 20; round++) {
      const b = await busyPair();
      void b.p.client.disconnectFromServer();
      b.p.peer.abort();
      void b.p.server.close();
      void b.lonely.close();
      b.untaken.abort();
      b.p.client.abort();
      const all = await allSettleWithin([...b.writes, ...b.waits], CLOSE_SETTLE_MS, `round ${round}`);
      assertSettledWith(all, CLOSE_CODES, `round ${round}`);
      const [serverWait] = await allSettleWithin([b.serverWait], SETTLE_MS, 'server wait');
      assertSettledWith([serverWait!], ['INVALID_STATE'], 'server wait');
    }
  });
});

// ---- many processes, one name --------------------------------------------------------

test('4 processes each connecting 50 times to one server at once: every round trip succeeds', { timeout: 90_000 }, async () => {
  await noStrayErrors(async () => {
    const name = uniqueName('many');
    const server: LocalServer = await listen(name, { maxPendingConnections: 64 });
    const lines = new Map<string, number>();
    let connections = 0;
    const serverErrors: LocalSocketError[] = [];
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
        const socket = s;
        connections++;
        socket.on('error', (e) => serverErrors.push(e));
        socket.on('readyRead', () => {
          for (let line = socket.readLine(256); line; line = socket.readLine(256)) {
            const text = line.toString();
            lines.set(text, (lines.get(text) ?? 0) + 1);
            void socket.write(line);
          }
        });
      }
    });
    try {
      const children = Array.from({ length: 4 }, (_, id) => runFixture('echo-round-trips.js', [name, '50', String(id)]));
      const results = await Promise.all(children.map((c) => finished(c, 60_000)));
      for (const [id, r] of results.entries()) {
        assert.equal(r.code, 0, `child ${id} failed: ${r.stderr}`);
        assert.match(r.stdout, /done 50/);
      }
      assert.equal(connections, 200, 'the server took every connection');
      assert.equal(lines.size, 200, 'every line arrived');
      for (const [line, count] of lines) assert.equal(count, 1, `${line.trim()} arrived ${count} times`);
      for (const e of serverErrors) assert.ok(['PEER_CLOSED', 'CONNECTION_ERROR'].includes(e.code), e.code);
    } finally {
      await server.close();
    }
  });
});
