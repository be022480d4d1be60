/**
 * The message layer over real connections: JSON and binary messages,
 * requests and notifications both ways, errors from handlers, timeouts and
 * cancellation that reach the peer, PEER_CLOSED for requests in flight,
 * limits on both sides, garbage, messages larger than the read buffer,
 * concurrent senders and the write bound.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { after, describe, test } from 'node:test';
import {
  connect, connectMessages, ErrorCodes, listen, LocalServer, LocalSocket, LocalSocketError, MessageSocket, RpcError,
  type CloseInfo, type ConnectOptions, type MessageOptions, type ServerOptions,
} from '../src/index.js';
import { encodeFrameHeader, FrameType } from '../src/messages/frame.js';
import { uniqueName } from './helpers.js';

const key = randomBytes(32);
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** Waits for `event` with a deadline (no test waits forever). Unlike events.once, an 'error' event does not reject it. */
function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} event within ${ms} ms`));
    }, ms);
    const on = (...args: unknown[]): void => {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args as T);
    };
    emitter.on(event, on);
  });
}

/** `promise`, or a failure if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms = 10_000, what = 'promise'): Promise<T> {
  let timer: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Rejects with the LocalSocketError `promise` settles with, checking its code. */
async function rejectsCode(promise: Promise<unknown>, code: string): Promise<LocalSocketError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, `expected a LocalSocketError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof LocalSocketError && e.code === code);
}

interface SocketPair {
  server: LocalServer;
  client: LocalSocket;
  peer: LocalSocket;
}

/** A server (in-memory key), a client connected to it, and the server's side of the connection. */
async function socketPair(serverOptions: ServerOptions = {}, clientOptions: ConnectOptions = {}): Promise<SocketPair> {
  const name = uniqueName('msg');
  const server = await listen(name, { key, ...serverOptions });
  cleanups.push(() => server.close());
  const accepted = server.waitForNewConnection({ timeout: 10_000 });
  const client = await connect(name, { key, timeout: 10_000, ...clientOptions });
  const peer = await accepted;
  cleanups.push(() => {
    client.abort();
    peer.abort();
  });
  return { server, client, peer };
}

interface MessagePair extends SocketPair {
  a: MessageSocket;
  b: MessageSocket;
}

/** Two MessageSockets on one connection: `a` the client side, `b` the server side. */
async function messagePair(
  options: { server?: ServerOptions; client?: ConnectOptions; a?: MessageOptions; b?: MessageOptions } = {},
): Promise<MessagePair> {
  const pair = await socketPair(options.server, options.client);
  return { ...pair, a: new MessageSocket(pair.client, options.a), b: new MessageSocket(pair.peer, options.b) };
}

/** Collects `count` emissions of `event`. */
function collect<T>(emitter: EventEmitter, event: string, count: number, ms = 20_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const got: T[] = [];
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`only ${got.length} of ${count} ${event} events within ${ms} ms`));
    }, ms);
    const on = (value: T): void => {
      got.push(value);
      if (got.length === count) {
        clearTimeout(timer);
        emitter.off(event, on);
        resolve(got);
      }
    };
    emitter.on(event, on);
  });
}

/** A deterministic payload whose bytes depend on a tag and their position. */
function pattern(tag: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (tag * 131 + i * 7) & 0xff;
  return b;
}

describe('messages', () => {
  test('JSON and binary messages arrive in order, intact (empty binary included)', async () => {
    const { a, b } = await messagePair();
    const got: unknown[] = [];
    b.on('message', (v) => got.push(v));
    b.on('binary', (d) => got.push(Buffer.from(d)));
    const done = collect(b, 'binary', 2);
    void a.send({ hello: 'wörld', n: [1, 2, 3] });
    void a.sendBinary(Buffer.from([0, 1, 2, 255]));
    void a.send('plain string');
    void a.send(null);
    await a.sendBinary(new Uint8Array(0));
    await done;
    assert.deepEqual(got, [{ hello: 'wörld', n: [1, 2, 3] }, Buffer.from([0, 1, 2, 255]), 'plain string', null, Buffer.alloc(0)]);
  });

  test('messages larger than the read buffer arrive whole (either side, JSON and binary)', async () => {
    const small = { maxReadBuffer: 16 * 1024, maxWriteBuffer: 16 * 1024 };
    const { a, b } = await messagePair({ server: small, client: small });
    const big = pattern(3, 900_000);
    const text = 'x'.repeat(500_000);
    const gotBinary = next<[Buffer]>(b, 'binary');
    const gotJson = next<[unknown]>(a, 'message');
    await Promise.all([a.sendBinary(big), b.send({ text })]);
    assert.ok((await gotBinary)[0].equals(big));
    assert.deepEqual((await gotJson)[0], { text });
    // And requests whose params and result are larger than the buffers.
    b.handle('echo', (params) => params);
    assert.deepEqual(await a.request('echo', { text }), { text });
  });

  test('bytes sent before the MessageSocket is made are not lost', async () => {
    const { client, peer } = await socketPair();
    const a = new MessageSocket(client);
    await a.send({ early: true });
    // waitForReadyRead waits for new bytes (Qt's meaning): only if none have arrived yet.
    if (peer.bytesAvailable === 0) await peer.waitForReadyRead({ timeout: 10_000 });
    const b = new MessageSocket(peer);
    assert.deepEqual((await next<[unknown]>(b, 'message'))[0], { early: true });
  });

  test('works in raw mode too (no handshake)', async () => {
    const { a, b } = await messagePair({ server: { auth: false }, client: { auth: false } });
    b.handle('add', (p) => (p as number[]).reduce((x, y) => x + y, 0));
    assert.equal(await a.request('add', [1, 2, 3]), 6);
  });

  test('connectMessages connects and wraps; bad message options are refused before connecting', async () => {
    const name = uniqueName('msgc');
    const server = await listen(name, { key });
    cleanups.push(() => server.close());
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) new MessageSocket(s).handle('ping', () => 'pong');
    });
    const m = await connectMessages(name, { key, requestTimeout: 5000 });
    assert.equal(m.requestTimeout, 5000);
    assert.equal(await m.request('ping'), 'pong');
    await m.close();
    await assert.rejects(connectMessages(name, { key, maxMessageSize: -1 }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(connectMessages(name, { key, requestTimeout: Infinity }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
  });

  test('bad arguments: promise methods reject with INVALID_ARGUMENT (never throw), the others throw; a socket that is not connected or already wrapped is INVALID_STATE', async () => {
    const { a, client } = await messagePair();
    /** The call itself must not throw: a promise-returning method reports bad arguments by rejecting. */
    const rejectsNotThrows = async (fn: () => Promise<unknown>, code: string): Promise<void> => {
      let promise: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        promise = fn();
      });
      await rejectsCode(promise!, code);
    };
    await rejectsNotThrows(() => a.request(1 as unknown as string), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.request('m', undefined, { timeout: Number.NaN }), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.request('m', undefined, { signal: {} as AbortSignal }), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.notify(null as unknown as string), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.send(undefined), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.send(10n), 'INVALID_ARGUMENT');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await rejectsNotThrows(() => a.request('m', cyclic), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.sendBinary('text' as unknown as Uint8Array), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.socket.write(42 as unknown as Uint8Array), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.socket.waitForReadyRead({ timeout: Number.NaN }), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.socket.waitForBytesWritten({ timeout: Number.NaN }), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.socket.waitForConnected({ signal: 'x' as unknown as AbortSignal }), 'INVALID_ARGUMENT');
    await rejectsNotThrows(() => a.socket.waitForDisconnected({ timeout: Infinity }), 'INVALID_ARGUMENT');
    throwsCode(() => a.handle('m', 'nope' as never), 'INVALID_ARGUMENT');
    throwsCode(() => a.onNotification(5 as unknown as string, () => {}), 'INVALID_ARGUMENT');
    throwsCode(() => new MessageSocket(client), 'INVALID_STATE');
    throwsCode(() => new MessageSocket(new LocalSocket()), 'INVALID_STATE');
    throwsCode(() => new MessageSocket({} as LocalSocket), 'INVALID_ARGUMENT');
    throwsCode(() => new MessageSocket(client, { maxMessageSize: 1.5 }), 'INVALID_ARGUMENT');
    assert.ok(ErrorCodes.includes('REMOTE_ERROR'));
  });
});

describe('requests and notifications', () => {
  test('requests both ways; a handler can call the requester back; result undefined arrives as null', async () => {
    const { a, b } = await messagePair();
    b.handle('double', (p) => (p as number) * 2);
    a.handle('triple', (p) => (p as number) * 3);
    b.handle('round', async (p, ctx) => {
      assert.equal(ctx.peer, b);
      assert.equal(typeof ctx.id, 'number');
      return ((await ctx.peer.request('triple', p)) as number) + 1;
    });
    b.handle('nothing', () => undefined);
    assert.equal(await a.request('double', 21), 42);
    assert.equal(await b.request('triple', 5), 15);
    assert.equal(await a.request('round', 2), 7);
    assert.equal(await a.request('nothing'), null);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => a.request('double', i)));
    assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => i * 2));
    assert.equal(a.pendingRequests, 0);
  });

  test('every request is seen by the request event, handled or not; params are optional', async () => {
    const { a, b } = await messagePair();
    const seen: unknown[] = [];
    b.on('request', (method, params, id) => seen.push([method, params, typeof id]));
    b.handle('noParams', (p) => p === undefined);
    assert.equal(await a.request('noParams'), true);
    await rejectsCode(a.request('missing', [1]), 'REMOTE_ERROR');
    assert.deepEqual(seen, [['noParams', undefined, 'number'], ['missing', [1], 'number']]);
  });

  test('notifications reach onNotification handlers and the notification event, in order', async () => {
    const { a, b } = await messagePair();
    const handled: unknown[] = [];
    b.onNotification('tick', (p, peer) => {
      assert.equal(peer, b);
      handled.push(p);
    });
    const events = collect<string>(b, 'notification', 3);
    void a.notify('tick', { n: 1 });
    void a.notify('other');
    await a.notify('tick', { n: 2 });
    assert.deepEqual(await events, ['tick', 'other', 'tick']);
    assert.deepEqual(handled, [{ n: 1 }, { n: 2 }]);
    // Either side notifies.
    const back = next<[string, unknown]>(a, 'notification');
    await b.notify('hello', [true]);
    assert.deepEqual(await back, ['hello', [true]]);
  });

  test('an unknown method is REMOTE_ERROR with code -32601', async () => {
    const { a } = await messagePair();
    const err = await rejectsCode(a.request('nope'), 'REMOTE_ERROR');
    assert.equal(err.remote?.code, -32601);
    assert.equal(err.remote?.message, 'method not found');
  });

  test('a handler that throws (or rejects) becomes an error reply with its message and never its stack; the server goes on', async () => {
    const { a, b } = await messagePair();
    b.handle('sync', () => {
      throw new Error('bad input here');
    });
    b.handle('async', async () => {
      throw new TypeError('async failure');
    });
    b.handle('chosen', () => {
      throw new RpcError(-32602, 'invalid params', { field: 'x' });
    });
    b.handle('plainObject', () => Promise.reject({ code: 42, message: 'custom' }));
    b.handle('weird', () => {
      // A handler that throws a non-Error value: the layer must still answer with an error reply.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw 17;
    });
    b.handle('ok', () => 'still serving');
    const sync = await rejectsCode(a.request('sync'), 'REMOTE_ERROR');
    assert.deepEqual(sync.remote, { code: -32000, message: 'bad input here' });
    assert.doesNotMatch(JSON.stringify(sync.remote) + sync.message, /at |\.js|node:/);
    const asyncErr = await rejectsCode(a.request('async'), 'REMOTE_ERROR');
    assert.deepEqual(asyncErr.remote, { code: -32000, message: 'async failure' });
    assert.deepEqual((await rejectsCode(a.request('chosen'), 'REMOTE_ERROR')).remote, { code: -32602, message: 'invalid params', data: { field: 'x' } });
    assert.deepEqual((await rejectsCode(a.request('plainObject'), 'REMOTE_ERROR')).remote, { code: 42, message: 'custom' });
    assert.deepEqual((await rejectsCode(a.request('weird'), 'REMOTE_ERROR')).remote, { code: -32000, message: 'handler failed' });
    assert.equal(await a.request('ok'), 'still serving');
    assert.ok(b.isOpen);
  });

  test('a result that cannot be serialised or is over the limit becomes an internal error reply', async () => {
    const { a, b } = await messagePair({ b: { maxMessageSize: 1000 } });
    b.handle('bigint', () => 10n);
    b.handle('huge', () => 'y'.repeat(5000));
    assert.equal((await rejectsCode(a.request('bigint'), 'REMOTE_ERROR')).remote?.code, -32603);
    assert.equal((await rejectsCode(a.request('huge'), 'REMOTE_ERROR')).remote?.code, -32603);
  });

  test('a timeout rejects with TIMEOUT and cancels the request on the peer (its signal fires, a late reply is dropped)', async () => {
    const { a, b } = await messagePair();
    let release!: () => void;
    const cancelled = new Promise<unknown>((resolve) => {
      b.handle('slow', (_p, ctx) => new Promise((res) => {
        release = () => res('late');
        ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason));
      }));
    });
    await rejectsCode(a.request('slow', null, { timeout: 100 }), 'TIMEOUT');
    const reason = await within(cancelled, 10_000, 'cancellation on the peer');
    assert.ok(reason instanceof LocalSocketError && reason.code === 'ABORTED');
    release(); // its late result is not sent, and nothing breaks
    b.handle('fast', () => 1);
    assert.equal(await a.request('fast'), 1);
    assert.equal(a.pendingRequests, 0);
  });

  test('requests with the default timeout expire one by one (one shared timer), others are untouched', async () => {
    // The answered request must come back within the default timeout: on a loaded machine a
    // fixed 150 ms is too short, so the budget scales with the round trip measured here and now.
    const probe = await messagePair();
    probe.b.handle('sync', () => 'done');
    let rtt = 0;
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await probe.a.request('sync');
      rtt = Math.max(rtt, performance.now() - started);
    }
    const unit = Math.max(1, Math.ceil(rtt * 5 / 20)); // 20 units >= 5 slowest round trips
    const { a, b } = await messagePair({ a: { requestTimeout: 150 * unit } });
    let cancelled = 0;
    b.handle('never', (_p, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => cancelled++)));
    b.handle('soon', () => new Promise((resolve) => setTimeout(() => resolve('ok'), 20)));
    const first = a.request('never');
    const answered = a.request('soon');
    await new Promise((r) => setTimeout(r, 60 * unit));
    const second = a.request('never');
    const own = a.request('never', null, { timeout: 40 * unit }); // its own timer
    await rejectsCode(own, 'TIMEOUT');
    assert.equal(await answered, 'ok');
    await rejectsCode(first, 'TIMEOUT');
    await rejectsCode(second, 'TIMEOUT');
    assert.equal(a.pendingRequests, 0);
    // All three cancellations reach the peer; the answered request sent none.
    b.handle('sync', () => 'done');
    for (let i = 0; i < 100 && cancelled < 3; i++) await a.request('sync');
    assert.equal(cancelled, 3);
  });

  test('the default request timeout applies when none is given', async () => {
    const { a, b } = await messagePair({ a: { requestTimeout: 100 } });
    b.handle('never', () => new Promise(() => {}));
    await rejectsCode(a.request('never'), 'TIMEOUT');
  });

  test('an AbortSignal rejects with ABORTED and the cancellation reaches the peer handler; an aborted signal sends nothing', async () => {
    const { a, b } = await messagePair();
    const started = next(b, 'request');
    const cancelled = new Promise<void>((resolve) => {
      b.handle('wait', (_p, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => resolve())));
    });
    const controller = new AbortController();
    const p = a.request('wait', {}, { signal: controller.signal });
    await started;
    controller.abort();
    await rejectsCode(p, 'ABORTED');
    await within(cancelled, 10_000, 'cancellation on the peer');
    const seen: string[] = [];
    b.on('request', (m) => seen.push(m));
    await rejectsCode(a.request('wait', {}, { signal: AbortSignal.abort() }), 'ABORTED');
    b.handle('mark', () => 'm');
    assert.equal(await a.request('mark'), 'm');
    assert.deepEqual(seen, ['mark'], 'the pre-aborted request never reached the peer');
  });

  test('requests in flight reject with PEER_CLOSED when the peer goes; the handler signal fires on that side', async () => {
    const { a, b } = await messagePair();
    const handlerSignal = new Promise<void>((resolve) => {
      b.handle('hang', (_p, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => resolve())));
    });
    const inFlight = [a.request('hang'), a.request('hang')];
    await next(b, 'request');
    const closed = next<[LocalSocketError | null]>(a, 'close');
    b.abort();
    for (const p of inFlight) await rejectsCode(p, 'PEER_CLOSED');
    await within(handlerSignal, 10_000, 'the handler signal');
    const [reason] = await closed;
    assert.equal(reason?.code, 'PEER_CLOSED');
    assert.equal(a.isOpen, false);
    await rejectsCode(a.request('x'), 'INVALID_STATE');
  });

  test('a local close rejects waiting requests with INVALID_STATE, an abort with ABORTED; close emits close(null)', async () => {
    const one = await messagePair();
    one.b.handle('hang', () => new Promise(() => {}));
    const p1 = one.a.request('hang');
    await next(one.b, 'request');
    const closed = next<[unknown]>(one.a, 'close');
    await one.a.close();
    await rejectsCode(p1, 'INVALID_STATE');
    assert.deepEqual(await closed, [null, { clean: true, by: 'local', code: 1000, reason: '', error: null }]);
    await rejectsCode(one.a.send(1), 'INVALID_STATE');
    await rejectsCode(one.a.sendBinary(Buffer.alloc(1)), 'INVALID_STATE');
    await rejectsCode(one.a.notify('n'), 'INVALID_STATE');
    await one.a.close(); // idempotent

    const two = await messagePair();
    two.b.handle('hang', () => new Promise(() => {}));
    const p2 = two.a.request('hang');
    await next(two.b, 'request');
    two.a.abort();
    two.a.abort();
    await rejectsCode(p2, 'ABORTED');
  });

  test('close() flushes what was sent before it', async () => {
    const { a, b } = await messagePair();
    const got = collect<unknown>(b, 'message', 100);
    for (let i = 0; i < 100; i++) void a.send(i);
    await a.close();
    assert.deepEqual(await got, Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('limits and garbage', () => {
  test('the sender refuses its own oversize message with MESSAGE_TOO_LARGE before writing a byte; the connection stays usable', async () => {
    const { a, b, client } = await messagePair({ a: { maxMessageSize: 100 } });
    await rejectsCode(a.sendBinary(Buffer.alloc(101)), 'MESSAGE_TOO_LARGE');
    assert.equal(client.bytesToWrite, 0);
    await rejectsCode(a.send('z'.repeat(99)), 'MESSAGE_TOO_LARGE'); // 101 bytes of JSON text
    await rejectsCode(a.send('é'.repeat(50)), 'MESSAGE_TOO_LARGE'); // 50 chars, 102 bytes
    await rejectsCode(a.request('m', 'q'.repeat(200)), 'MESSAGE_TOO_LARGE');
    await rejectsCode(a.notify('m', 'q'.repeat(200)), 'MESSAGE_TOO_LARGE');
    assert.equal(a.pendingRequests, 0);
    const big = await rejectsCode(new MessageSocket((await socketPair()).client, { maxMessageSize: 20_000 }).sendBinary(Buffer.alloc(20_001)), 'MESSAGE_TOO_LARGE');
    assert.match(big.message, /20001/);
    const got = next<[Buffer]>(b, 'binary');
    await a.sendBinary(Buffer.alloc(100, 9)); // exactly the limit
    assert.equal((await got)[0].length, 100);
    assert.ok(a.isOpen && b.isOpen);
  });

  test('the receiver fails the connection with MESSAGE_TOO_LARGE on a frame over its limit; the sender sees the end', async () => {
    const { a, b } = await messagePair({ b: { maxMessageSize: 1000 } });
    const error = next<[LocalSocketError]>(b, 'error');
    const closeB = next<[LocalSocketError | null]>(b, 'close');
    const closeA = next<[LocalSocketError | null, CloseInfo]>(a, 'close');
    b.handle('hang', () => new Promise(() => {}));
    await a.sendBinary(Buffer.alloc(1000)); // exactly the limit is fine
    const inFlight = a.request('hang');
    const rejected = rejectsCode(inFlight, 'MESSAGE_TOO_LARGE');
    await a.sendBinary(Buffer.alloc(1001));
    assert.equal((await error)[0].code, 'MESSAGE_TOO_LARGE');
    assert.equal((await closeB)[0]?.code, 'MESSAGE_TOO_LARGE');
    // The sender is told why by the receiver's close frame (1009), and its request in flight says so.
    const [reasonA, infoA] = await closeA;
    assert.equal(reasonA?.code, 'PEER_CLOSED');
    assert.deepEqual([infoA.clean, infoA.by, infoA.code], [true, 'peer', 1009]);
    await rejected;
  });

  test('an announced 4 GiB frame is refused on its header alone, at once', async () => {
    const { client, peer } = await socketPair();
    const b = new MessageSocket(peer);
    const error = next<[LocalSocketError]>(b, 'error');
    await client.write(encodeFrameHeader(FrameType.BINARY, 0xffffffff));
    assert.equal((await error)[0].code, 'MESSAGE_TOO_LARGE');
    assert.equal(b.isOpen, false);
  });

  const garbage: Array<[string, Buffer]> = [
    ['a bad frame type', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['invalid JSON', Buffer.concat([encodeFrameHeader(FrameType.JSON, 5), Buffer.from('{nope')])],
    ['an empty JSON frame', encodeFrameHeader(FrameType.JSON, 0)],
    ['a method that is not a string', jsonFrame({ jsonrpc: '2.0', id: 1, method: 7 })],
    ['a request id that is not an integer', jsonFrame({ jsonrpc: '2.0', id: 'x', method: 'm' })],
    ['a reply without result or error', jsonFrame({ jsonrpc: '2.0', id: 1 })],
    ['a reply with a bad error object', jsonFrame({ jsonrpc: '2.0', id: 1, error: { code: 'E', message: 1 } })],
  ];
  function jsonFrame(value: unknown): Buffer {
    const body = Buffer.from(JSON.stringify(value));
    return Buffer.concat([encodeFrameHeader(FrameType.JSON, body.length), body]);
  }
  for (const [what, bytes] of garbage) {
    test(`${what} fails the connection with PROTOCOL_ERROR`, async () => {
      const { client, peer } = await socketPair();
      const b = new MessageSocket(peer);
      const error = next<[LocalSocketError]>(b, 'error');
      const closed = next<[LocalSocketError | null]>(b, 'close');
      await client.write(bytes);
      assert.equal((await error)[0].code, 'PROTOCOL_ERROR');
      assert.equal((await closed)[0]?.code, 'PROTOCOL_ERROR');
      await client.waitForDisconnected({ timeout: 10_000 });
    });
  }

  test('JSON that is not JSON-RPC is a plain message, not an error', async () => {
    const { a, b } = await messagePair();
    const got = collect<unknown>(b, 'message', 3);
    void a.send([1, 2]);
    void a.send({ jsonrpc: '1.0', method: 'x' });
    await a.send(42);
    assert.deepEqual(await got, [[1, 2], { jsonrpc: '1.0', method: 'x' }, 42]);
  });
});

describe('writing', () => {
  test('concurrent senders never interleave: small, medium and large frames from many tasks arrive whole', async () => {
    // A small write buffer forces the writer's waiting path; sizes straddle the slab and copy limits.
    // The writer's cap on its waiting list (64 buffers' worth, 8 MiB here) leaves room for every
    // sender's outstanding frames (8 senders, two frames each, up to 300 KB).
    const { a, b } = await messagePair({ client: { maxWriteBuffer: 128 * 1024 }, server: { maxReadBuffer: 8 * 1024 } });
    const sizes = [0, 1, 64, 8 * 1024 - 5, 8 * 1024, 20_000, 70_000, 300_000];
    const senders = 8;
    const perSender = 24;
    const expected = new Map<string, number>();
    const received = collect<Buffer>(b, 'binary', senders * perSender, 60_000);
    const tasks = Array.from({ length: senders }, async (_, s) => {
      for (let i = 0; i < perSender; i++) {
        const size = sizes[(s + i) % sizes.length]!;
        const tag = s * 1000 + i;
        const body = Buffer.concat([Buffer.from([s, i]), pattern(tag, size)]);
        expected.set(`${s}:${i}`, size);
        // Half the sends are not awaited, so several tasks' frames queue together.
        if (i % 2 === 0) void a.sendBinary(body);
        else await a.sendBinary(body);
        if (i % 3 === 0) void a.send({ s, i, text: 't'.repeat(size % 5000) });
      }
    });
    await Promise.all(tasks);
    const lastBySender = new Map<number, number>();
    for (const msg of await received) {
      const s = msg[0]!;
      const i = msg[1]!;
      const size = expected.get(`${s}:${i}`);
      assert.equal(msg.length - 2, size, `frame ${s}:${i} has its own length`);
      assert.ok(msg.subarray(2).equals(pattern(s * 1000 + i, size!)), `frame ${s}:${i} is intact`);
      assert.ok((lastBySender.get(s) ?? -1) < i, 'each sender\'s frames in its order');
      lastBySender.set(s, i);
    }
  });

  test('connections sending in the same tick share the frame slab without mixing their frames', async () => {
    const one = await messagePair();
    const two = await messagePair();
    const got1 = collect<unknown>(one.b, 'message', 300);
    const got2 = collect<unknown>(two.b, 'message', 300);
    const bin1 = collect<Buffer>(one.b, 'binary', 100);
    // Alternating, all in one tick: each switch of connection hands the other's frames over first.
    for (let i = 0; i < 300; i++) {
      void one.a.send({ c: 1, i });
      void two.a.send({ c: 2, i, pad: 'x'.repeat(i % 50) });
      if (i % 3 === 0) void one.a.sendBinary(pattern(i, 10 + (i % 7)));
    }
    assert.deepEqual(await got1, Array.from({ length: 300 }, (_, i) => ({ c: 1, i })));
    assert.deepEqual(await got2, Array.from({ length: 300 }, (_, i) => ({ c: 2, i, pad: 'x'.repeat(i % 50) })));
    const bins = await bin1;
    bins.forEach((b, k) => assert.ok(b.equals(pattern(k * 3, 10 + ((k * 3) % 7))), `binary ${k}`));
  });

  test('backpressure: a sender awaiting each send never queues more than maxWriteBuffer, and stalls while the peer does not read', async () => {
    const limit = 64 * 1024;
    const { client, peer } = await socketPair({ maxReadBuffer: 64 * 1024 }, { maxWriteBuffer: limit });
    const a = new MessageSocket(client);
    const chunk = Buffer.alloc(24 * 1024, 1);
    const total = 64 * 1024 * 1024; // far more than kernel buffers hold
    let sent = 0;
    let peak = 0;
    const sender = (async () => {
      while (sent < total) {
        const p = a.sendBinary(chunk);
        peak = Math.max(peak, client.bytesToWrite);
        await p;
        sent += chunk.length + 5;
      }
    })();
    // The peer reads nothing: wait until the sender has made no progress for a while.
    let last = -1;
    while (last !== sent) {
      last = sent;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(sent < total, 'the sender stalled');
    assert.ok(peak <= limit, `peak bytesToWrite ${peak} <= ${limit}`);
    // Now read everything: the sender completes.
    const b = new MessageSocket(peer);
    let frames = 0;
    b.on('binary', (d) => {
      assert.equal(d.length, chunk.length);
      frames++;
    });
    await sender;
    assert.ok(sent >= total);
    while (frames < sent / (chunk.length + 5)) await next(b, 'binary');
    assert.ok(peak <= limit, `peak bytesToWrite ${peak} <= ${limit}`);
  });
});
