/**
 * A writer after teardown: writes pending when abort()
 * runs, when the peer dies (SIGKILL or abort), and when disconnectFromServer()
 * is called all settle within a deadline, with a documented code; nothing
 * throws uncaught, nothing is left unhandled (even writes nobody awaits), and
 * nothing is written to a torn-down transport.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { connect, LocalSocket, LocalSocketError } from '../src/index.js';
import { Writer } from '../src/writer.js';
import { finished, noStrayErrors, runFixture, uniqueName, waitForLine } from './helpers.js';
import { allSettleWithin, assertSettledWith, delay, pair, tick, WRITE_TEARDOWN_CODES, type Pair } from './connection-helpers.js';

const SETTLE_MS = 5000;
const MiB = 1024 * 1024;

// ---- a guard on net.Socket: nothing may write to a destroyed transport --------------

const originalWrite = net.Socket.prototype.write;
let lateWrites: string[] = [];
/** The transport that wrote last: where a test injects an I/O fault. */
let lastWriter: net.Socket | null = null;

before(() => {
  net.Socket.prototype.write = function guardedWrite(this: net.Socket, ...args: unknown[]): boolean {
    lastWriter = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the transport a test injects a fault into
    if (this.destroyed) lateWrites.push(new Error('write to a destroyed transport').stack ?? 'write after destroy');
    return (originalWrite as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof originalWrite;
});
after(() => {
  net.Socket.prototype.write = originalWrite;
});
beforeEach(() => {
  lateWrites = [];
});

function assertNoLateWrites(): void {
  assert.deepEqual(lateWrites, [], 'something wrote to a torn-down transport');
}

/**
 * Queues writes of every kind on `socket`: small ones coalesced in one tick,
 * large ones, some waiting for room, some awaited by the caller and some
 * fire-and-forget (never awaited, no handler). Returns the awaited ones.
 */
function queueWrites(socket: LocalSocket): Promise<void>[] {
  const awaited: Promise<void>[] = [];
  const big = Buffer.alloc(MiB, 0x62);
  for (let i = 0; i < 20; i++) awaited.push(socket.write(`small ${i}\n`));
  for (let i = 0; i < 8; i++) awaited.push(socket.write(big));
  for (let i = 0; i < 20; i++) void socket.write(big.subarray(0, 100_000 + i)); // fire and forget
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the point: promises nobody observes must not surface as unhandled rejections
  for (let i = 0; i < 20; i++) socket.write('forgotten'); // not even `void`: truly unobserved
  awaited.push(socket.write(big, 10, 500_000));
  return awaited;
}

interface Watch {
  events: string[];
  errors: LocalSocketError[];
  bytesWrittenAfterDisconnect: number;
}

function watch(socket: LocalSocket, withErrorListener = true): Watch {
  const w: Watch = { events: [], errors: [], bytesWrittenAfterDisconnect: 0 };
  let disconnected = false;
  socket.on('disconnected', () => {
    disconnected = true;
    w.events.push('disconnected');
  });
  socket.on('bytesWritten', () => {
    if (disconnected) w.bytesWrittenAfterDisconnect++;
  });
  if (withErrorListener) socket.on('error', (e) => w.errors.push(e));
  return w;
}

async function pendingPair(): Promise<Pair> {
  // The receiver stops reading at 16 KiB; the writer's queue is 256 KiB: most writes wait.
  return pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 256 * 1024 });
}

async function afterTeardownChecks(socket: LocalSocket, w: Watch): Promise<void> {
  assert.equal(socket.state, 'unconnected');
  assert.equal(socket.bytesToWrite, 0, 'nothing stays queued');
  // A write after teardown rejects at once and stays handled.
  const late = socket.write('late');
  const outcome = await allSettleWithin([late], 1000, 'write after teardown');
  assertSettledWith(outcome, ['INVALID_STATE'], 'write after teardown');
  assert.equal(w.bytesWrittenAfterDisconnect, 0, 'no bytesWritten after disconnected');
  await delay(30);
  assertNoLateWrites();
}

// ---- abort() ------------------------------------------------------------------------

test('abort() with writes pending: every write settles ABORTED, nothing stray, nothing written after', async () => {
  await noStrayErrors(async () => {
    const p = await pendingPair();
    try {
      const w = watch(p.client);
      const writes = queueWrites(p.client);
      await delay(20);
      assert.ok(p.client.bytesToWrite > 0, 'writes are pending');
      p.client.abort();
      const results = await allSettleWithin(writes, SETTLE_MS, 'writes after abort');
      const codes = assertSettledWith(results, ['ABORTED'], 'writes after abort');
      assert.ok((codes.get('ABORTED') ?? 0) > 0, 'some writes were pending and rejected');
      assert.deepEqual(w.errors, [], 'a local abort is not an error event');
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

test('abort() in the same tick as the writes: they reject, and only what already went to the kernel reaches the peer', async () => {
  await noStrayErrors(async () => {
    const p = await pair();
    try {
      const w = watch(p.client);
      const writes = [p.client.write('one'), p.client.write(Buffer.from('two')), p.client.write('three', 1, 2)];
      p.client.abort();
      assertSettledWith(await allSettleWithin(writes, SETTLE_MS, 'writes'), ['ABORTED'], 'writes');
      await p.peer.waitForDisconnected({ timeout: SETTLE_MS });
      // The first write of a tick goes to the kernel at once; the coalesced rest was still queued and is dropped.
      const arrived = p.peer.bytesAvailable;
      assert.ok(arrived <= 3, 'nothing queued behind the first write was sent');
      assert.equal(p.peer.readAll().toString(), 'one'.slice(0, arrived));
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

test('abort() from inside a bytesWritten handler is safe; writes made during teardown reject', async () => {
  await noStrayErrors(async () => {
    // The peer reads (up to its 1 MiB buffer), so some bytes are confirmed and bytesWritten fires.
    // 256 KiB: the writer's waiting list then has room for all of queueWrites() (64 buffers' worth).
    const p = await pair({}, { maxWriteBuffer: 256 * 1024 });
    try {
      const w = watch(p.client);
      const reentrant: Promise<void>[] = [];
      p.client.once('bytesWritten', () => {
        p.client.abort();
        // Re-entrant writes during teardown reject, they do not throw.
        reentrant.push(p.client.write('re-entrant'));
      });
      const writes = queueWrites(p.client);
      const results = await allSettleWithin(writes, SETTLE_MS, 'writes');
      const codes = assertSettledWith(results, ['ABORTED'], 'writes');
      assert.ok((codes.get('ABORTED') ?? 0) > 0, 'abort() in the handler rejected what was left');
      assert.equal(reentrant.length, 1, 'bytesWritten fired');
      assertSettledWith(await allSettleWithin(reentrant, SETTLE_MS, 're-entrant write'), ['INVALID_STATE'], 're-entrant write');
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

test('abort() and writes from inside an error handler are safe', async () => {
  await noStrayErrors(async () => {
    const p = await pendingPair();
    try {
      const w = watch(p.client);
      const reentrant: Promise<void>[] = [];
      p.client.on('error', () => {
        reentrant.push(p.client.write('from the error handler'));
        p.client.abort();
        reentrant.push(p.client.write('after abort in the error handler'));
      });
      const writes = queueWrites(p.client);
      await delay(20);
      // A real I/O fault under the pending writes (the peer going away is PEER_CLOSED, which is no error event).
      const transport = lastWriter!;
      transport.destroy(Object.assign(new Error('software caused connection abort'), { code: 'ECONNABORTED' }));
      const results = await allSettleWithin(writes, SETTLE_MS, 'writes');
      assertSettledWith(results, WRITE_TEARDOWN_CODES, 'writes');
      assert.ok(w.errors.length >= 1, 'an error event fired');
      // The error event comes before the state change: such writes fail with the error or INVALID_STATE.
      const codes = assertSettledWith(await allSettleWithin(reentrant, SETTLE_MS, 're-entrant writes'), WRITE_TEARDOWN_CODES, 're-entrant writes');
      assert.equal(codes.get('resolved'), undefined, 'no write made during teardown succeeds');
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

// ---- the peer dies --------------------------------------------------------------------

async function peerProcess(name: string): Promise<ChildProcess> {
  const child = runFixture('peer-process.js', ['server', name, '{"maxReadBuffer":16384}']);
  await waitForLine(child, /^ready /, 15_000);
  return child;
}

for (const withErrorListener of [true, false]) {
  test(`peer process killed with SIGKILL under pending writes (${withErrorListener ? 'with' : 'without'} an error listener): all settle`, async () => {
    await noStrayErrors(async () => {
      const name = uniqueName('wk');
      const child = await peerProcess(name);
      let client: LocalSocket | null = null;
      try {
        client = await connect(name, { timeout: 10_000, maxWriteBuffer: 256 * 1024 });
        const w = watch(client, withErrorListener);
        const writes = queueWrites(client);
        await delay(50);
        assert.ok(client.bytesToWrite > 0, 'writes are pending');
        const exit = finished(child, 15_000);
        child.kill('SIGKILL');
        await exit;
        const results = await allSettleWithin(writes, SETTLE_MS, 'writes to a killed peer');
        const codes = assertSettledWith(results, WRITE_TEARDOWN_CODES, 'writes to a killed peer');
        assert.ok(results.some((r) => r.status === 'rejected'), `some writes failed: ${[...codes]}`);
        await client.waitForDisconnected({ timeout: SETTLE_MS });
        if (withErrorListener) {
          for (const e of w.errors) assert.ok(WRITE_TEARDOWN_CODES.includes(e.code), e.code);
        }
        await afterTeardownChecks(client, w);
      } finally {
        client?.abort();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  });
}

test('peer abort() under pending writes: all settle, and the server side too', async () => {
  await noStrayErrors(async () => {
    const p = await pendingPair();
    try {
      const w = watch(p.client);
      const writes = queueWrites(p.client);
      // The server's side has writes pending to a client that never reads, too.
      const back = [p.peer.write(Buffer.alloc(4 * MiB)), p.peer.write('tail')];
      await delay(20);
      p.peer.abort();
      assertSettledWith(await allSettleWithin(back, SETTLE_MS, 'server-side writes'), ['ABORTED'], 'server-side writes');
      // The client reads what arrived, so it sees the end; its writes fail or were sent.
      p.client.on('readyRead', () => p.client.read());
      p.client.read();
      const results = await allSettleWithin(writes, SETTLE_MS, 'client writes after peer abort');
      assertSettledWith(results, WRITE_TEARDOWN_CODES, 'client writes after peer abort');
      await p.client.waitForDisconnected({ timeout: SETTLE_MS });
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

// ---- disconnectFromServer() ---------------------------------------------------------

test('disconnectFromServer() with writes pending and a reading peer: everything is flushed, then closed', async () => {
  await noStrayErrors(async () => {
    const p = await pair({}, { maxWriteBuffer: 64 * 1024 });
    try {
      const w = watch(p.client);
      const chunks: Buffer[] = [];
      p.peer.on('readyRead', () => chunks.push(p.peer.read()));
      const payload = Buffer.alloc(3 * MiB);
      for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
      const writes = [p.client.write(payload.subarray(0, MiB)), p.client.write(payload.subarray(MiB, 2 * MiB)), p.client.write(payload.subarray(2 * MiB))];
      void p.client.write('forgotten-but-sent');
      const closing = p.client.disconnectFromServer();
      assert.equal(p.client.state, 'closing');
      // Once closing, nothing more is accepted: it would be written after the close began.
      const refused = p.client.write('too late');
      assertSettledWith(await allSettleWithin([refused], 1000, 'write while closing'), ['INVALID_STATE'], 'write while closing');
      assert.equal(p.client.disconnectFromServer(), closing, 'a second disconnectFromServer() is the same close');
      assertSettledWith(await allSettleWithin(writes, SETTLE_MS, 'flushed writes'), [], 'flushed writes'); // all resolve
      await allSettleWithin([closing], SETTLE_MS, 'disconnectFromServer');
      await p.peer.waitForDisconnected({ timeout: SETTLE_MS });
      const received = Buffer.concat(chunks);
      assert.equal(received.length, payload.length + 'forgotten-but-sent'.length);
      assert.ok(received.subarray(0, payload.length).equals(payload), 'bytes arrive intact and in order');
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

test('disconnectFromServer() with writes pending and a peer that never reads: gives up after closeTimeout, all settle', async () => {
  await noStrayErrors(async () => {
    const p = await pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 256 * 1024, closeTimeout: 300 });
    try {
      const w = watch(p.client);
      const writes = queueWrites(p.client);
      await delay(20);
      const started = Date.now();
      const closing = p.client.disconnectFromServer();
      const results = await allSettleWithin([...writes, closing], SETTLE_MS, 'writes and disconnectFromServer');
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 300 + 3000, `closed within closeTimeout + margin (took ${elapsed} ms)`);
      assert.equal(results.at(-1)!.status, 'fulfilled', 'disconnectFromServer() itself resolves');
      const codes = assertSettledWith(results.slice(0, -1), WRITE_TEARDOWN_CODES, 'writes');
      assert.ok(results.slice(0, -1).some((r) => r.status === 'rejected'), `unsent writes were rejected: ${[...codes]}`);
      await afterTeardownChecks(p.client, w);
    } finally {
      await p.close();
    }
  });
});

test('disconnectFromServer() while the peer process is killed mid-flush: all settle', async () => {
  await noStrayErrors(async () => {
    const name = uniqueName('wd');
    const child = await peerProcess(name);
    let client: LocalSocket | null = null;
    try {
      client = await connect(name, { timeout: 10_000, maxWriteBuffer: 256 * 1024, closeTimeout: 10_000 });
      const w = watch(client);
      const writes = queueWrites(client);
      await delay(30);
      const closing = client.disconnectFromServer();
      await tick();
      const exit = finished(child, 15_000);
      child.kill('SIGKILL');
      await exit;
      const results = await allSettleWithin([...writes, closing], SETTLE_MS, 'writes and disconnectFromServer');
      assert.equal(results.at(-1)!.status, 'fulfilled', 'disconnectFromServer() resolves');
      assertSettledWith(results.slice(0, -1), WRITE_TEARDOWN_CODES, 'writes');
      await afterTeardownChecks(client, w);
    } finally {
      client?.abort();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

// ---- the writer alone, with a sink that fails ------------------------------------------

test('a batch whose kernel write fails settles when the writer is failed, whichever comes first', async () => {
  const epipe = Object.assign(new Error('broken pipe'), { code: 'EPIPE' });
  const reason = new LocalSocketError('CONNECTION_ERROR', 'the connection broke');
  for (const order of ['callback first', 'fail first'] as const) {
    const sink: { callback: ((err?: Error | null) => void) | null } = { callback: null };
    const writer = new Writer({ write: (_chunk, cb) => void (sink.callback = cb ?? null) }, 1024, () => {});
    const writes = [writer.write(Buffer.from('a')), writer.write(Buffer.from('b')), writer.write(Buffer.alloc(2000))];
    await tick();
    const callback = sink.callback;
    assert.ok(callback, 'the batch was handed to the sink');
    if (order === 'callback first') {
      callback(epipe);
      writer.fail(reason);
    } else {
      writer.fail(reason);
      callback(epipe);
    }
    const results = await allSettleWithin(writes, 1000, `writes (${order})`);
    for (const r of results) assert.deepEqual(r, { status: 'rejected', reason }, order);
    assert.equal(writer.bytesToWrite, 0);
  }
});

test('the guard itself: a write to a destroyed net.Socket is caught', async () => {
  // Shows the "nothing written after teardown" checks above can fail.
  const s = new net.Socket();
  s.on('error', () => {});
  s.destroy();
  s.write('x', () => {});
  assert.equal(lateWrites.length, 1);
  lateWrites = [];
});
