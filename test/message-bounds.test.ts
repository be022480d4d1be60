/**
 * What a message peer can make us hold, tried as a careless or hostile peer
 * would: requests pipelined and never read (the replies pile up), requests
 * by the hundred thousand (handlers pile up), ids reused while in flight (a
 * handler run twice), and handlers left running after the peer has gone.
 * Each test asserts on the bound itself (bytes queued, handlers running), not
 * on speed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import {
  CLOSE_METHOD, CloseCode, connect, connectMessages, encodeFrameHeader, FrameDecoder, FrameType, listenMessages, LocalSocketError,
  MessageServer, MessageSocket, RpcErrorCode,
  type LocalSocket, type MessageServerOptions,
} from '../src/index.js';
import { cutReason, encodeCloseFrame } from '../src/messages/close.js';
import { queuedBytes } from '../src/messages/encode.js';
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT } from '../src/messages/message-socket.js';
import { WAITING_FACTOR, Writer } from '../src/writer.js';
import { rejectsWith, throwsWith } from './connection-helpers.js';
import { uniqueName, waitFor } from './helpers.js';

const KEY = Buffer.alloc(32, 9);
const KiB = 1024;
const MiB = 1024 * KiB;
/** A generous "never hang" guard for event-driven waits, not a timing assertion. */
const GUARD_MS = 60_000;

/** One 'J' frame holding `value` as JSON. */
function frame(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value));
  return Buffer.concat([encodeFrameHeader(FrameType.JSON, payload.length), payload]);
}

function requestFrame(id: number, method: string, params?: unknown): Buffer {
  return frame(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
}

function cancelFrame(id: number): Buffer {
  return frame({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id } });
}

async function server(options: MessageServerOptions = {}): Promise<MessageServer> {
  return listenMessages(uniqueName('mb'), { key: KEY, maxPendingConnections: 64, ...options });
}

/** A raw authenticated connection to `s` (it speaks frames itself), and the server's peer for it. */
async function rawPeer(s: MessageServer, readBuffer = 1 * MiB): Promise<{ client: LocalSocket; peer: MessageSocket }> {
  const joined = once(s, 'peerJoined') as Promise<[MessageSocket]>;
  const client = await connect(s.server.serverName!, { key: KEY, maxReadBuffer: readBuffer });
  const [peer] = await joined;
  return { client, peer };
}

/** Decodes every frame the raw client receives into `replies` (JSON values), as they arrive. */
interface Reply {
  id?: unknown;
  result?: unknown;
  error?: { code: number };
}

function readReplies(client: LocalSocket): { replies: Reply[] } {
  const decoder = new FrameDecoder(16 * MiB);
  const out = { replies: [] as Reply[] };
  const pull = (): void => {
    while (client.bytesAvailable > 0) {
      decoder.push(client.read(), (_type, payload) => out.replies.push(JSON.parse(payload.toString('utf8')) as Reply));
    }
  };
  client.on('readyRead', pull);
  pull();
  return out;
}

/** A handler that holds every call until released; counts calls and the most running at once. */
function holdingHandler(): {
  handler: (params: unknown, context: { signal: AbortSignal }) => Promise<unknown>;
  calls: number;
  running: number;
  maxRunning: number;
  signals: AbortSignal[];
  release(value?: unknown): void;
} {
  const waiting: Array<(value: unknown) => void> = [];
  const h = {
    calls: 0,
    running: 0,
    maxRunning: 0,
    signals: [] as AbortSignal[],
    handler: (_params: unknown, context: { signal: AbortSignal }): Promise<unknown> => {
      h.calls++;
      h.running++;
      h.maxRunning = Math.max(h.maxRunning, h.running);
      h.signals.push(context.signal);
      return new Promise((resolve) => waiting.push((value) => {
        h.running--;
        resolve(value);
      }));
    },
    release(value: unknown = 'done'): void {
      for (const resolve of waiting.splice(0)) resolve(value);
    },
  };
  return h;
}

/**
 * Floods `client` with `frames` (pre-encoded requests, batched into ~64 KiB writes),
 * awaiting each write, until `count` requests went out or the connection ends.
 */
async function flood(client: LocalSocket, makeFrame: (id: number) => Buffer, count: number): Promise<number> {
  let id = 0;
  while (id < count && client.state === 'connected') {
    const batch: Buffer[] = [];
    let bytes = 0;
    while (bytes < 64 * KiB && id < count) {
      const f = makeFrame(++id);
      batch.push(f);
      bytes += f.length;
    }
    try {
      await client.write(Buffer.concat(batch));
    } catch {
      break; // dropped by the server: the point of the test
    }
  }
  return id;
}

describe('replies to a peer that does not read', () => {
  for (const paramsBytes of [1000, 10]) {
    test(`a peer pipelining requests (${paramsBytes}-byte params) and never reading is dropped with RESOURCE_EXHAUSTED; its queue never passes maxWriteBuffer`, { timeout: GUARD_MS * 2 }, async () => {
      const maxWriteBuffer = 256 * KiB;
      // A short closeTimeout only shortens the linger of the close handshake after the drop.
      const s = await server({ maxWriteBuffer, closeTimeout: 500 });
      s.handle('echo', (params) => params);
      try {
        // The client reads nothing (16 KiB read buffer, never read): the replies back up on the server.
        const { client, peer } = await rawPeer(s, 16 * KiB);
        let maxQueued = 0;
        let requests = 0;
        // Sampled as each request arrives, i.e. after the reply to the one before was queued.
        peer.on('request', () => {
          requests++;
          maxQueued = Math.max(maxQueued, queuedBytes(peer.socket));
        });
        const left = once(s, 'peerLeft') as Promise<[MessageSocket, LocalSocketError | null]>;
        const params = 'x'.repeat(paramsBytes);
        const one = requestFrame(1, 'echo', params);
        // Far more replies than the write buffer holds: 64 times over.
        const count = Math.ceil((64 * maxWriteBuffer) / one.length);
        const sending = flood(client, (id) => requestFrame(id, 'echo', params), count);
        const [gone, reason] = await left;
        assert.equal(gone, peer);
        assert.equal(reason?.code, 'RESOURCE_EXHAUSTED', `dropped with ${reason?.code}`);
        assert.ok(maxQueued <= maxWriteBuffer, `queued ${maxQueued} bytes for the peer, over its ${maxWriteBuffer}`);
        // It was dropped because its replies were piling up, not for anything else: more were asked for than fit.
        assert.ok(requests * one.length > maxWriteBuffer, `only ${requests} requests arrived`);
        // The drop sends the 1013 close frame behind what is queued and lingers (a slow reader still
        // learns why it was dropped) until closeTimeout at most. Meanwhile the queue holds at most the
        // reply that crossed W and the close frame, and the connection still counts for the server.
        // Not events.once: the linger ending at closeTimeout is reported as an 'error' (TIMEOUT) first.
        const lingered = new Promise<void>((resolve) => {
          if (peer.socket.state === 'unconnected') resolve();
          else peer.socket.once('disconnected', () => resolve());
        });
        const lingerBound = maxWriteBuffer + one.length + encodeCloseFrame(CloseCode.OVERLOADED, cutReason(reason!.message)).length;
        assert.ok(queuedBytes(peer.socket) <= lingerBound, `queued ${queuedBytes(peer.socket)} bytes while lingering, over ${lingerBound}`);
        await lingered;
        assert.equal(queuedBytes(peer.socket), 0, 'nothing stays queued once the dropped connection is gone');
        await waitFor(() => s.server.connectionCount === 0, GUARD_MS, 'the dropped connection is let go');
        await sending;
        client.abort();
      } finally {
        await s.close();
      }
    });
  }

  test('a peer that pipelines 10,000 requests whose answers fit in maxWriteBuffer, and reads them, is served in full', { timeout: GUARD_MS }, async () => {
    const s = await server();
    s.handle('echo', (params) => params);
    try {
      const client = await connectMessages(s.server.serverName!, { key: KEY });
      const count = 10_000;
      // Whatever the scheduling, all the answers together fit in the server's write buffer (1 MiB).
      const answer = frame({ jsonrpc: '2.0', id: count, result: { i: count } });
      assert.ok(count * answer.length < 1 * MiB, `answers of ${count * answer.length} bytes`);
      const results = await Promise.all(Array.from({ length: count }, (_, i) => client.request('echo', { i })));
      assert.equal(results.length, count);
      assert.deepEqual(results[count - 1], { i: count - 1 });
      assert.equal(s.peerCount, 1, 'not dropped');
      await client.close();
    } finally {
      await s.close();
    }
  });

  test('a lone reply larger than maxWriteBuffer still goes out (it is taken in pieces)', { timeout: GUARD_MS }, async () => {
    const s = await server({ maxWriteBuffer: 64 * KiB });
    const big = 'b'.repeat(300 * KiB);
    s.handle('big', () => big);
    try {
      const client = await connectMessages(s.server.serverName!, { key: KEY });
      assert.equal(await client.request('big'), big);
      assert.equal(s.peerCount, 1);
      await client.close();
    } finally {
      await s.close();
    }
  });
});

describe('requests in flight', () => {
  test('200,000 requests in flight with distinct ids: at most maxRequestsInFlight handlers run, the rest get -32001 at once', { timeout: GUARD_MS * 3 }, async () => {
    // A large write buffer: this test is about the handler count, not about unread replies.
    const s = await server({ maxWriteBuffer: 64 * MiB });
    const hold = holdingHandler();
    s.handle('hold', hold.handler);
    try {
      const { client, peer } = await rawPeer(s);
      assert.equal(peer.maxRequestsInFlight, DEFAULT_MAX_REQUESTS_IN_FLIGHT);
      assert.equal(DEFAULT_MAX_REQUESTS_IN_FLIGHT, 128);
      const got = readReplies(client);
      const total = 200_000;
      const sent = await flood(client, (id) => requestFrame(id, 'hold'), total);
      assert.equal(sent, total);
      const refused = total - DEFAULT_MAX_REQUESTS_IN_FLIGHT;
      await waitFor(() => got.replies.length >= refused, GUARD_MS, `${refused} refusals`);
      assert.equal(hold.calls, DEFAULT_MAX_REQUESTS_IN_FLIGHT, 'handlers run');
      assert.equal(hold.maxRunning, DEFAULT_MAX_REQUESTS_IN_FLIGHT);
      assert.equal(peer.runningRequests, DEFAULT_MAX_REQUESTS_IN_FLIGHT);
      assert.ok(got.replies.every((r) => r.error?.code === RpcErrorCode.TOO_MANY_REQUESTS), 'every early answer is the refusal');
      assert.equal(RpcErrorCode.TOO_MANY_REQUESTS, -32001);
      // The first 128 ids ran; every later one was refused, exactly once each.
      const refusedIds = new Set(got.replies.map((r) => r.id));
      assert.equal(refusedIds.size, refused);
      assert.ok(!refusedIds.has(1) && !refusedIds.has(DEFAULT_MAX_REQUESTS_IN_FLIGHT) && refusedIds.has(total));
      hold.release('ran');
      await waitFor(() => got.replies.length === total, GUARD_MS, 'the held requests answered');
      assert.equal(got.replies.filter((r) => r.result === 'ran').length, DEFAULT_MAX_REQUESTS_IN_FLIGHT);
      assert.equal(peer.runningRequests, 0);
      // Room again: a new request runs.
      await client.write(requestFrame(total + 1, 'hold'));
      await waitFor(() => hold.calls === DEFAULT_MAX_REQUESTS_IN_FLIGHT + 1, GUARD_MS, 'a new request runs');
      assert.equal(s.peerCount, 1, 'refusing is not dropping');
      client.abort();
    } finally {
      await s.close();
    }
  });

  test('a cancelled request keeps its slot until its handler settles (cancel does not make room for more handlers)', { timeout: GUARD_MS }, async () => {
    const s = await server({ maxRequestsInFlight: 4 });
    const hold = holdingHandler(); // ignores its signal: keeps running after the cancel
    s.handle('hold', hold.handler);
    try {
      const { client, peer } = await rawPeer(s);
      assert.equal(peer.maxRequestsInFlight, 4);
      const got = readReplies(client);
      await client.write(Buffer.concat([1, 2, 3, 4].map((id) => requestFrame(id, 'hold'))));
      await client.write(Buffer.concat([1, 2, 3, 4].map(cancelFrame)));
      await waitFor(() => got.replies.length === 4, GUARD_MS, 'four cancellations answered');
      assert.ok(got.replies.every((r) => r.error?.code === RpcErrorCode.REQUEST_CANCELLED));
      assert.ok(hold.signals.every((signal) => signal.aborted), 'the handlers were told');
      // Ids 5..1004: refused, the four cancelled handlers still run.
      await client.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => requestFrame(5 + i, 'hold'))));
      await waitFor(() => got.replies.length === 1004, GUARD_MS, 'a thousand refusals');
      assert.ok(got.replies.slice(4).every((r) => r.error?.code === RpcErrorCode.TOO_MANY_REQUESTS));
      assert.equal(hold.calls, 4);
      assert.equal(peer.runningRequests, 4);
      hold.release();
      await waitFor(() => peer.runningRequests === 0, GUARD_MS, 'the handlers settled');
      assert.equal(got.replies.length, 1004, 'nothing is answered twice (the cancelled ones were answered already)');
      await client.write(requestFrame(2000, 'hold'));
      await waitFor(() => hold.calls === 5, GUARD_MS, 'room again');
      client.abort();
    } finally {
      await s.close();
    }
  });

  test('maxRequestsInFlight is checked on every entry point', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '8', 2 ** 31]) {
      throwsWith(() => new MessageServer({ maxRequestsInFlight: bad as number }), 'INVALID_ARGUMENT', `MessageServer ${String(bad)}`);
      await rejectsWith(connectMessages(uniqueName('none'), { key: KEY, maxRequestsInFlight: bad as number }), 'INVALID_ARGUMENT', `connectMessages ${String(bad)}`);
    }
    const s = await server({ maxRequestsInFlight: 1 });
    try {
      const { client, peer } = await rawPeer(s);
      assert.equal(peer.maxRequestsInFlight, 1);
      throwsWith(() => new MessageSocket(client, { maxRequestsInFlight: 0 }), 'INVALID_ARGUMENT', 'MessageSocket 0');
      const own = new MessageSocket(client, { maxRequestsInFlight: 2 ** 31 - 1 });
      assert.equal(own.maxRequestsInFlight, 2 ** 31 - 1);
      const viaConnect = await connectMessages(s.server.serverName!, { key: KEY, maxRequestsInFlight: 7 });
      assert.equal(viaConnect.maxRequestsInFlight, 7);
      own.abort();
      viaConnect.abort();
    } finally {
      await s.close();
    }
  });
});

describe('request ids', () => {
  test('a request whose id is still in flight fails the connection with PROTOCOL_ERROR; its handler never runs twice', { timeout: GUARD_MS }, async () => {
    const s = await server();
    const hold = holdingHandler();
    s.handle('hold', hold.handler);
    try {
      const { client } = await rawPeer(s);
      const left = once(s, 'peerLeft') as Promise<[MessageSocket, LocalSocketError | null]>;
      // 10,000 requests under one id, in one write.
      // The server may drop the connection before the write completes.
      await client.write(Buffer.concat(Array.from({ length: 10_000 }, () => requestFrame(7, 'hold')))).catch(() => {});
      const [, reason] = await left;
      assert.equal(reason?.code, 'PROTOCOL_ERROR');
      assert.equal(hold.calls, 1, 'the handler ran once');
      assert.ok(hold.signals[0]!.aborted, 'and was told the connection ended');
      client.abort();
    } finally {
      hold.release();
      await s.close();
    }
  });

  test('an id may be used again once its request was answered (or cancelled)', { timeout: GUARD_MS }, async () => {
    const s = await server();
    const hold = holdingHandler();
    s.handle('hold', hold.handler);
    s.handle('echo', (params) => params);
    try {
      const { client } = await rawPeer(s);
      const got = readReplies(client);
      // Synchronous handlers: answered before the next frame is read.
      await client.write(Buffer.concat([requestFrame(5, 'echo', 'a'), requestFrame(5, 'echo', 'b')]));
      await waitFor(() => got.replies.length === 2, GUARD_MS, 'two answers');
      assert.deepEqual(got.replies.map((r) => r.result), ['a', 'b']);
      // Asynchronous: answered, then reused.
      await client.write(requestFrame(9, 'hold'));
      await waitFor(() => hold.calls === 1, GUARD_MS, 'the handler runs');
      hold.release('first');
      await waitFor(() => got.replies.length === 3, GUARD_MS, 'answered');
      await client.write(requestFrame(9, 'hold'));
      await waitFor(() => hold.calls === 2, GUARD_MS, 'the same id runs again');
      // Cancelled (answered -32800), then reused while the first handler still runs.
      await client.write(cancelFrame(9));
      await waitFor(() => got.replies.length === 4, GUARD_MS, 'cancellation answered');
      await client.write(requestFrame(9, 'hold'));
      await waitFor(() => hold.calls === 3, GUARD_MS, 'reused after the cancel');
      hold.release('later');
      await waitFor(() => got.replies.length === 5, GUARD_MS, 'one more answer');
      assert.equal(got.replies[4]!.result, 'later');
      assert.equal(s.peerCount, 1);
      client.abort();
    } finally {
      await s.close();
    }
  });
});

describe('handlers after the connection ends', () => {
  const endings = {
    'the peer aborts': async (client: MessageSocket): Promise<void> => client.abort(),
    'the peer closes': (client: MessageSocket): Promise<void> => client.close(),
    'the server closes': async (_client: MessageSocket, s: MessageServer): Promise<void> => s.close(),
    'the peer breaks the protocol': async (client: MessageSocket): Promise<void> => {
      await client.socket.write(Buffer.from([0x58, 0, 0, 0, 0])); // an unknown frame type
    },
  } as const;
  for (const [ending, end] of Object.entries(endings)) {
    test(`when ${ending}, every handler still running sees its signal aborted, and nothing it returns is sent`, { timeout: GUARD_MS }, async () => {
      const s = await server();
      const hold = holdingHandler();
      s.handle('hold', hold.handler);
      try {
        const joined = once(s, 'peerJoined') as Promise<[MessageSocket]>;
        const client = await connectMessages(s.server.serverName!, { key: KEY });
        const [peer] = await joined;
        const answers = Array.from({ length: 5 }, () => client.request('hold', undefined, { timeout: GUARD_MS }).catch((e: unknown) => e));
        await waitFor(() => hold.running === 5, GUARD_MS, 'five handlers running');
        // Not events.once: it would reject on the peer's 'error' event (the protocol-error case).
        const closed = new Promise((resolve) => peer.once('close', resolve));
        // Every write on the peer's socket after its end is recorded. The close handshake's own
        // close frame may be among them (it is sent once the connection has ended); no answer may.
        const writtenAfterEnd: Buffer[] = [];
        const write = peer.socket.write.bind(peer.socket);
        peer.socket.write = ((data: Uint8Array | string, offset?: number, length?: number) => {
          if (!peer.isOpen) {
            const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
            const start = offset ?? 0;
            writtenAfterEnd.push(bytes.subarray(start, length === undefined ? undefined : start + length));
          }
          return write(data, offset, length);
        }) as LocalSocket['write'];
        await end(client, s);
        await closed;
        assert.ok(hold.signals.every((signal) => signal.aborted), 'every handler saw its signal abort');
        hold.release({ big: 'r'.repeat(100 * KiB) });
        await waitFor(() => hold.running === 0, GUARD_MS, 'handlers returned');
        await new Promise((r) => setImmediate(r));
        const sentAfterEnd: Array<{ id?: unknown; method?: unknown }> = [];
        const decoder = new FrameDecoder(16 * MiB);
        for (const chunk of writtenAfterEnd) {
          decoder.push(chunk, (type, payload) => {
            assert.equal(type, FrameType.JSON, 'only a JSON frame may follow the end');
            sentAfterEnd.push(JSON.parse(payload.toString('utf8')) as { id?: unknown; method?: unknown });
          });
        }
        assert.equal(decoder.buffered, 0, 'whole frames only');
        assert.ok(sentAfterEnd.every((m) => m.method === CLOSE_METHOD && m.id === undefined), `after the end, only the close frame: ${JSON.stringify(sentAfterEnd).slice(0, 200)}`);
        assert.ok(sentAfterEnd.length <= 1, 'at most one close frame');
        // What may still be queued is that close frame (a pipe may not have taken it yet), nothing more.
        const closeFrameBytes = writtenAfterEnd.reduce((sum, chunk) => sum + chunk.length, 0);
        assert.ok(queuedBytes(peer.socket) <= closeFrameBytes, `${queuedBytes(peer.socket)} bytes queued, the close frame is ${closeFrameBytes}`);
        for (const answer of await Promise.all(answers)) assert.ok(answer instanceof LocalSocketError, 'the requester saw the end, not a result');
        client.abort();
      } finally {
        await s.close();
      }
    });
  }
});

describe('the writer\'s waiting list', () => {
  test('behind the write being taken, at most WAITING_FACTOR buffers wait: one more fails the connection (RESOURCE_EXHAUSTED), everything settles', async () => {
    const limit = 100;
    const sink = { write: (_chunk: Uint8Array, _cb: (err?: Error | null) => void): void => {} }; // a peer that never takes anything
    let overflow: LocalSocketError | null = null;
    const writer = new Writer(sink, limit, () => {}, (err) => {
      overflow = err;
      writer.fail(err);
    });
    const writes: Promise<void>[] = [writer.write(Buffer.alloc(limit)), writer.write(Buffer.alloc(10 * limit))];
    assert.equal(writer.queued, 11 * limit, 'accepted + the head, of any size');
    for (let i = 0; i < WAITING_FACTOR; i++) writes.push(writer.write(Buffer.alloc(limit)));
    assert.equal(overflow, null, 'WAITING_FACTOR buffers may wait behind the head');
    assert.equal(writer.queued, (11 + WAITING_FACTOR) * limit);
    const refused = writer.write(Buffer.alloc(1));
    assert.equal((overflow as LocalSocketError | null)?.code, 'RESOURCE_EXHAUSTED');
    await rejectsWith(refused, 'RESOURCE_EXHAUSTED', 'the write past the cap');
    for (const w of writes) await rejectsWith(w, 'RESOURCE_EXHAUSTED', 'a write that waited');
    assert.equal(writer.queued, 0);
  });

  test('a caller that awaits each write never meets the cap, however much it sends to a slow peer', async () => {
    const taken: Array<(err?: Error | null) => void> = [];
    const sink = { write: (_chunk: Uint8Array, cb: (err?: Error | null) => void): void => void taken.push(cb) };
    const writer = new Writer(sink, 100, () => {}, () => assert.fail('overflow'));
    // The "kernel" takes what was handed to it once per turn of the event loop.
    let running = true;
    const kernel = (): void => {
      for (const cb of taken.splice(0)) cb();
      if (running) setImmediate(kernel);
    };
    kernel();
    try {
      for (let i = 0; i < 200; i++) await writer.write(Buffer.alloc(1000));
    } finally {
      running = false;
    }
    assert.equal(writer.queued, 0);
  });
});
