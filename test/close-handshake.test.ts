/**
 * The close handshake of message connections: a side that closes on purpose
 * sends the close frame (a code and a reason), so the other side reports
 * "closed by the peer (code, reason)", and a crash or kill reports "lost".
 * Checked against the vectors of docs/test-vectors.json, under two-way
 * traffic (1,000 closes from each side; 250 under Wine), with child processes killed, and
 * through the CLI; and every request in flight rejects with the reason the
 * connection failed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  CloseCode, connect, connectMessages, listen, listenMessages, LocalSocketError, MessageSocket,
  type CloseInfo, type LocalServer, type LocalSocket, type MessageServer,
} from '../src/index.js';
import { encodeCloseFrame } from '../src/messages/close.js';
import { encodeFrameHeader, FrameDecoder, FrameType } from '../src/messages/frame.js';
import { makeHome, run, start, until, type CliHome } from './cli-helpers.js';
import { distDir, isWindows, isWine, uniqueName } from './helpers.js';

const key = randomBytes(32);
const VECTORS = JSON.parse(fs.readFileSync(path.join(distDir, '..', 'docs', 'test-vectors.json'), 'utf8')) as {
  close: {
    codes: Record<string, number>;
    max_reason_bytes: number;
    frames: Record<string, { value: { params: { code: number; reason: string } }; frame: string }>;
    valid_params: Record<string, { params: unknown; code: number; reason: string }>;
    invalid_params: Record<string, { params: unknown }>;
  };
};

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Waits for `event` (all its arguments), failing after `ms` so that no test hangs. */
function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 20_000): Promise<T> {
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

/** The error `promise` rejects with, checked to be a LocalSocketError of `code`. */
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

function jsonFrame(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value));
  return Buffer.concat([encodeFrameHeader(FrameType.JSON, payload.length), payload]);
}

/** A server whose accepted connections the test handles itself, and a byte-level client of it. */
async function bytePair(): Promise<{ server: LocalServer; client: LocalSocket; peer: LocalSocket }> {
  const server = await listen(uniqueName('ch'), { key });
  cleanups.push(() => server.close());
  const accepted = next(server, 'newConnection');
  const client = await connect(server.serverName!, { key });
  await accepted;
  const peer = server.nextPendingConnection()!;
  cleanups.push(() => {
    client.abort();
    peer.abort();
  });
  return { server, client, peer };
}

/** Everything a byte-level socket receives until its peer closes, as JSON frames. */
function framesUntilEnd(socket: LocalSocket, ms = 20_000, onFirst: () => void = () => {}): Promise<unknown[]> {
  const decoder = new FrameDecoder(1 << 20);
  const frames: unknown[] = [];
  const pull = (): void => {
    while (socket.bytesAvailable > 0) {
      decoder.push(socket.read(), (type, payload) => {
        if (type === FrameType.JSON) frames.push(JSON.parse(payload.toString('utf8')));
        if (frames.length === 1) onFirst();
      });
    }
  };
  socket.on('readyRead', pull);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the peer did not close within ${ms} ms`)), ms);
    const done = (): void => {
      clearTimeout(timer);
      pull();
      resolve(frames);
    };
    if (socket.state === 'unconnected') done();
    else socket.once('disconnected', done);
    pull();
  });
}

/** The close frames among `frames`, as [code, reason]. */
function closeFramesIn(frames: unknown[]): Array<[number, string]> {
  return frames
    .filter((f): f is { method: string; params: { code: number; reason: string } } => (f as { method?: unknown }).method === '$/close')
    .map((f) => [f.params.code, f.params.reason]);
}

async function messagePair(): Promise<{ server: MessageServer; a: MessageSocket; b: MessageSocket }> {
  const server = await listenMessages(uniqueName('cm'), { key });
  cleanups.push(() => server.close());
  const joined = next<[MessageSocket]>(server, 'peerJoined');
  const a = await connectMessages(server.server.serverName!, { key });
  const [b] = await joined;
  cleanups.push(() => a.abort());
  return { server, a, b };
}

describe('the close frame, as docs/test-vectors.json has it', () => {
  test('the codes, and each frame byte for byte as a sender writes it', () => {
    assert.deepEqual(VECTORS.close.codes, { ...CloseCode });
    assert.equal(VECTORS.close.max_reason_bytes, 123);
    for (const [name, v] of Object.entries(VECTORS.close.frames)) {
      const { code, reason } = v.value.params;
      assert.equal(encodeCloseFrame(code, reason).toString('hex'), v.frame, name);
    }
  });

  test('a receiver reports each frame as a clean close by the peer with its code and reason; its requests reject with the code the table names', async () => {
    const table: Record<number, string> = { 1000: 'PEER_CLOSED', 1001: 'PEER_CLOSED', 1009: 'MESSAGE_TOO_LARGE', 4000: 'PEER_CLOSED' };
    for (const [name, v] of Object.entries(VECTORS.close.frames)) {
      const { client, peer } = await bytePair();
      const receiver = new MessageSocket(peer);
      const errors: LocalSocketError[] = [];
      receiver.on('error', (e) => errors.push(e));
      const closed = next<[LocalSocketError | null, CloseInfo]>(receiver, 'close');
      const waiting = receiver.request('anything');
      const rejected = rejectsCode(waiting, table[v.value.params.code]!);
      await client.write(Buffer.from(v.frame, 'hex'));
      const [reason, info] = await closed;
      assert.equal(reason?.code, 'PEER_CLOSED', name);
      assert.deepEqual(info, { clean: true, by: 'peer', code: v.value.params.code, reason: v.value.params.reason, error: null }, name);
      const err = await rejected;
      assert.ok(err.message.includes(String(v.value.params.code)), `${name}: the code is in "${err.message}"`);
      assert.deepEqual(errors, [], `${name}: no error event`);
      // The receiver closed at once, without a close frame of its own.
      const back = await framesUntilEnd(client);
      assert.deepEqual(closeFramesIn(back), [], name);
    }
  });

  test('other valid params are accepted (no reason, 123 bytes, members in another order)', async () => {
    for (const [name, v] of Object.entries(VECTORS.close.valid_params)) {
      const { client, peer } = await bytePair();
      const receiver = new MessageSocket(peer);
      const closed = next<[LocalSocketError | null, CloseInfo]>(receiver, 'close');
      await client.write(jsonFrame({ jsonrpc: '2.0', method: '$/close', params: v.params }));
      const [, info] = await closed;
      assert.deepEqual([info.clean, info.by, info.code, info.reason], [true, 'peer', v.code, v.reason], name);
    }
  });

  test('malformed params are PROTOCOL_ERROR: the receiver fails the connection and answers with close code 1002', async () => {
    for (const [name, v] of Object.entries(VECTORS.close.invalid_params)) {
      const { client, peer } = await bytePair();
      const receiver = new MessageSocket(peer);
      const error = next<[LocalSocketError]>(receiver, 'error');
      const closed = next<[LocalSocketError | null, CloseInfo]>(receiver, 'close');
      const back = framesUntilEnd(client);
      await client.write(jsonFrame({ jsonrpc: '2.0', method: '$/close', params: v.params }));
      assert.equal((await error)[0].code, 'PROTOCOL_ERROR', name);
      const [reason, info] = await closed;
      assert.equal(reason?.code, 'PROTOCOL_ERROR', name);
      assert.deepEqual([info.clean, info.by, info.code], [false, 'local', 1002], name);
      assert.equal(info.error, reason, name);
      const codes = closeFramesIn(await back);
      assert.equal(codes.length, 1, `${name}: one close frame back`);
      assert.equal(codes[0]![0], 1002, name);
      assert.match(codes[0]![1], /bad close frame/, name);
    }
  });

  test('a $/close with an id is an ordinary request (answered -32601), not a close', async () => {
    const { a, b } = await messagePair();
    const err = await rejectsCode(b.request('$/close', { code: 1000 }), 'REMOTE_ERROR');
    assert.equal(err.remote?.code, -32601);
    assert.equal(a.isOpen, true);
    assert.equal(b.isOpen, true);
  });
});

describe('close() and the peer', () => {
  test('close({ code, reason }) reaches the peer; the reason is cut to 123 UTF-8 bytes at a character boundary', async () => {
    const { a, b } = await messagePair();
    const closedB = next<[LocalSocketError | null, CloseInfo]>(b, 'close');
    const closedA = next<[LocalSocketError | null, CloseInfo]>(a, 'close');
    const long = '€'.repeat(50); // 150 bytes: 41 characters (123 bytes) fit
    await a.close({ code: 4321, reason: long });
    const [reasonA, infoA] = await closedA;
    assert.equal(reasonA, null);
    assert.deepEqual(infoA, { clean: true, by: 'local', code: 4321, reason: '€'.repeat(41), error: null });
    const [reasonB, infoB] = await closedB;
    assert.equal(reasonB?.code, 'PEER_CLOSED');
    assert.match(reasonB!.message, /4321/);
    assert.deepEqual(infoB, { clean: true, by: 'peer', code: 4321, reason: '€'.repeat(41), error: null });
  });

  test('a bad code or reason rejects INVALID_ARGUMENT and closes nothing', async () => {
    const { a, b } = await messagePair();
    for (const bad of [{ code: 999 }, { code: 5000 }, { code: 1000.5 }, { code: '1000' }, { reason: 7 }, 'x']) {
      await rejectsCode(a.close(bad as never), 'INVALID_ARGUMENT');
    }
    assert.equal(a.isOpen, true);
    b.handle('echo', (p) => p);
    assert.equal(await a.request('echo', 5), 5);
  });

  test("the peer's requests in flight reject with the code the close code names: 1013 RESOURCE_EXHAUSTED, 1002 PROTOCOL_ERROR, 1001 PEER_CLOSED", async () => {
    for (const [code, expected] of [[1013, 'RESOURCE_EXHAUSTED'], [1002, 'PROTOCOL_ERROR'], [1001, 'PEER_CLOSED'], [4000, 'PEER_CLOSED']] as const) {
      const { a, b } = await messagePair();
      a.handle('hang', () => new Promise(() => {}));
      const inFlight = b.request('hang');
      const rejected = rejectsCode(inFlight, expected);
      await next(a, 'request');
      await a.close({ code, reason: 'why' });
      const err = await rejected;
      assert.match(err.message, new RegExp(`${code}.*why`));
    }
  });

  test('abort() sends no close frame: the peer reports the connection lost', async () => {
    const { a, b } = await messagePair();
    const closedB = next<[LocalSocketError | null, CloseInfo]>(b, 'close');
    a.abort();
    const [reason, info] = await closedB;
    assert.equal(reason?.code, 'PEER_CLOSED');
    assert.deepEqual([info.clean, info.by, info.code, info.reason], [false, 'peer', null, '']);
    assert.equal(info.error, reason);
  });

  test('MessageServer.close() tells every peer 1001 going away, or the code it is given', async () => {
    const { server, a } = await messagePair();
    const closed = next<[LocalSocketError | null, CloseInfo]>(a, 'close');
    await server.close();
    const [, info] = await closed;
    assert.deepEqual([info.clean, info.by, info.code, info.reason], [true, 'peer', 1001, 'the server is shutting down']);

    const other = await messagePair();
    const closedOther = next<[LocalSocketError | null, CloseInfo]>(other.a, 'close');
    const left = next<[MessageSocket, LocalSocketError | null, CloseInfo]>(other.server, 'peerLeft');
    await other.server.close({ code: CloseCode.RESTARTING, reason: 'upgrade' });
    assert.deepEqual((await closedOther)[1], { clean: true, by: 'peer', code: 1012, reason: 'upgrade', error: null });
    // The server's own side of that peer: closed here, cleanly.
    const [, reasonLeft, infoLeft] = await left;
    assert.equal(reasonLeft, null);
    assert.deepEqual(infoLeft, { clean: true, by: 'local', code: 1012, reason: 'upgrade', error: null });
    await rejectsCode(messagePair().then((p) => p.server.close({ code: 1 } as never)), 'INVALID_ARGUMENT');
  });

  test('a peer dropped by a broadcast for falling behind is sent 1013 OVERLOADED behind what was queued', async () => {
    const server = await listenMessages(uniqueName('cm'), { key, maxWriteBuffer: 64 * 1024, closeTimeout: 20_000 });
    cleanups.push(() => server.close());
    const joined = next<[MessageSocket]>(server, 'peerJoined');
    // A byte-level client that does not read until the drop: its queue on the server fills.
    const client = await connect(server.server.serverName!, { key, maxReadBuffer: 16 * 1024 });
    cleanups.push(() => client.abort());
    await joined;
    const left = next<[MessageSocket, LocalSocketError | null, CloseInfo]>(server, 'peerLeft');
    const chunk = Buffer.alloc(16 * 1024);
    while (server.peerCount > 0) {
      server.broadcastBinary(chunk);
      await new Promise((r) => setImmediate(r));
    }
    const [, reason, info] = await left;
    assert.equal(reason?.code, 'RESOURCE_EXHAUSTED');
    assert.deepEqual([info.clean, info.by, info.code], [false, 'local', 1013]);
    // Now read: everything queued, then the close frame.
    const frames = await framesUntilEnd(client);
    assert.deepEqual(closeFramesIn(frames).map(([code]) => code), [1013]);
  });
});

describe('requests in flight reject with the reason the connection failed', () => {
  /** A server that answers the first frame with `reply` and records what comes back. */
  async function lyingServer(reply: Buffer): Promise<{ name: string; received: Promise<unknown[]> }> {
    const server = await listen(uniqueName('lie'), { key });
    cleanups.push(() => server.close());
    const received = new Promise<unknown[]>((resolve, reject) => {
      server.once('newConnection', () => {
        const peer = server.nextPendingConnection()!;
        cleanups.push(() => peer.abort());
        // The reply answers the request: it is in flight when the reply comes.
        framesUntilEnd(peer, 20_000, () => void peer.write(reply)).then(resolve, reject);
      });
    });
    return { name: server.serverName!, received };
  }

  for (const [what, reply, code, closeCode] of [
    ['a frame header announcing 2 GiB', encodeFrameHeader(FrameType.BINARY, 2 ** 31), 'MESSAGE_TOO_LARGE', 1009],
    ['a bad frame type', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'PROTOCOL_ERROR', 1002],
    ['a reply without result or error', jsonFrame({ jsonrpc: '2.0', id: 1 }), 'PROTOCOL_ERROR', 1002],
  ] as const) {
    test(`${what}: the request rejects ${code} (the failure as cause), the server is sent close code ${closeCode}`, async () => {
      const { name, received } = await lyingServer(reply);
      const client = await connectMessages(name, { key });
      const closed = next<[LocalSocketError | null, CloseInfo]>(client, 'close');
      client.on('error', () => {});
      const err = await rejectsCode(client.request('anything', null, { timeout: 20_000 }), code);
      assert.ok(err.cause instanceof LocalSocketError && err.cause.code === code, 'the failure is the cause');
      const [reason, info] = await closed;
      assert.equal(reason, err.cause);
      assert.deepEqual([info.clean, info.by, info.code], [false, 'local', closeCode]);
      const codes = closeFramesIn(await received);
      assert.deepEqual(codes.map(([c]) => c), [closeCode]);
      assert.equal(codes[0]![1], (err.cause as LocalSocketError).message.slice(0, 123));
    });
  }
});

describe('the CLI', () => {
  const homes: CliHome[] = [];
  after(() => {
    for (const h of homes) h.remove();
  });
  function home(): CliHome {
    const h = makeHome();
    homes.push(h);
    return h;
  }
  /**
   * A name the CLI child and this process resolve alike: a full path, or on Windows a full pipe
   * name (a default name's pipe is published under each process's own %LOCALAPPDATA%).
   */
  const nameIn = (h: CliHome, base: string): string => (isWindows ? `\\\\.\\pipe\\${uniqueName(base)}` : path.join(h.dir, `${base}.sock`));

  for (const [what, reply, code] of [
    ['a frame header announcing 2 GiB', encodeFrameHeader(FrameType.BINARY, 2 ** 31), 'MESSAGE_TOO_LARGE'],
    ['a bad frame type', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'PROTOCOL_ERROR'],
  ] as const) {
    test(`call prints the real reason: ${what} -> ${code}`, async () => {
      const h = home();
      const name = nameIn(h, 'liar');
      const server = await listen(name, { keyFile: h.keyFile });
      cleanups.push(() => server.close());
      server.on('newConnection', () => {
        for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
          const peer = s;
          cleanups.push(() => peer.abort());
          peer.once('readyRead', () => void peer.write(reply));
        }
      });
      const result = await run(h, ['call', name, 'anything', '--key-file', h.keyFile]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`^localsocket: ${code}: `), result.stderr);
      assert.doesNotMatch(result.stderr, /PEER_CLOSED/);
    });
  }

  test('listen --messages says 1001 "shutting down" on SIGTERM; call and notify close normally (1000)', async () => {
    const h = home();
    const name = nameIn(h, 'cli-server');
    const cli = start(h, ['listen', name, '--messages', '--key-file', h.keyFile]);
    cleanups.push(() => void cli.child.kill('SIGKILL'));
    await until(cli.stderr, /^listening on /m, 'listen --messages');
    const client = await connectMessages(name, { keyFile: h.keyFile });
    const closed = next<[LocalSocketError | null, CloseInfo]>(client, 'close');
    // On Windows, Node's kill('SIGTERM') terminates the process outright (no handler runs), so
    // there is no signal to answer with a close frame: only the client part below applies there.
    if (!isWindows) {
      cli.child.kill('SIGTERM');
      const [reason, info] = await closed;
      assert.equal(reason?.code, 'PEER_CLOSED');
      assert.deepEqual(info, { clean: true, by: 'peer', code: 1001, reason: 'shutting down', error: null });
      assert.equal((await cli.exited).code, 0);
    } else {
      client.abort();
    }

    // The other way round: the CLI as a client.
    const own = nameIn(h, 'node-server');
    const server = await listenMessages(own, { keyFile: h.keyFile });
    cleanups.push(() => server.close());
    server.handle('echo', (p) => p);
    const infos: CloseInfo[] = [];
    server.on('peerLeft', (_peer, _reason, i) => infos.push(i));
    assert.equal((await run(h, ['call', own, 'echo', '[1]', '--key-file', h.keyFile])).code, 0);
    assert.equal((await run(h, ['notify', own, 'note', '--key-file', h.keyFile])).code, 0);
    await until(() => String(infos.length), /^2$/, 'both peers left');
    for (const i of infos) assert.deepEqual([i.clean, i.by, i.code], [true, 'peer', 1000]);
  });

  test('kill -9 of a child peer is reported as lost, not clean, on either side', async () => {
    const h = home();
    const name = nameIn(h, 'killed-server');
    // The child is the server.
    const cli = start(h, ['listen', name, '--messages', '--key-file', h.keyFile]);
    cleanups.push(() => void cli.child.kill('SIGKILL'));
    await until(cli.stderr, /^listening on /m, 'listen --messages');
    const client = await connectMessages(name, { keyFile: h.keyFile });
    const closed = next<[LocalSocketError | null, CloseInfo]>(client, 'close');
    cli.child.kill('SIGKILL');
    const [reason, info] = await closed;
    assert.equal(reason?.code, 'PEER_CLOSED');
    assert.deepEqual([info.clean, info.by, info.code, info.reason], [false, 'peer', null, '']);
    await cli.exited;

    // The child is the client, killed while its request waits.
    const own = nameIn(h, 'node-server');
    const server = await listenMessages(own, { keyFile: h.keyFile });
    cleanups.push(() => server.close());
    server.handle('hang', () => new Promise(() => {}));
    const left = next<[MessageSocket, LocalSocketError | null, CloseInfo]>(server, 'peerLeft');
    // Listened to synchronously: the request may be read on the very tick the peer joins.
    const asked = new Promise<void>((resolve) => server.once('peerJoined', (peer) => peer.once('request', () => resolve())));
    const caller = start(h, ['call', own, 'hang', '--key-file', h.keyFile, '--timeout', '60000']);
    cleanups.push(() => void caller.child.kill('SIGKILL'));
    await asked;
    caller.child.kill('SIGKILL');
    const [, reasonLeft, infoLeft] = await left;
    assert.equal(reasonLeft?.code, 'PEER_CLOSED');
    assert.deepEqual([infoLeft.clean, infoLeft.by, infoLeft.code], [false, 'peer', null]);
    await caller.exited;
  });
});

// Under Wine each connection costs tens of milliseconds of Wine's own server (the 1,000 took 20-40 s
// of the Windows suite's time, and the server-side variant ends that server, below), so there it
// is 250, in the same batches of 50. The 1,000 run everywhere else.
const CLOSES = isWine ? 250 : 1000;
describe(`${CLOSES.toLocaleString('en-US')} clean closes from each side during two-way traffic`, () => {
  const BATCH = 50;
  /** Codes a request or send may end with when the connection closes under it; never CONNECTION_ERROR. */
  const ENDINGS = new Set(['PEER_CLOSED', 'INVALID_STATE', 'ABORTED']);

  /** A client and the server's side of it (connected one at a time, so that they pair up). */
  async function connectPeer(server: MessageServer): Promise<{ client: MessageSocket; peer: MessageSocket }> {
    const joined = next<[MessageSocket]>(server, 'peerJoined', 60_000);
    const client = await connectMessages(server.server.serverName!, { key });
    const [peer] = await joined;
    return { client, peer };
  }

  /**
   * Traffic both ways on one connection (requests each way, notifications, binary messages, and the
   * batch's broadcasts), closed by `closer` once traffic flows, with a code and reason of its own.
   * Resolves with what the other side saw, and every failure code met on the way.
   */
  async function closeUnderTraffic(client: MessageSocket, peer: MessageSocket, i: number, closer: 'client' | 'server'): Promise<{ info: CloseInfo; codes: string[] }> {
    const codes: string[] = [];
    const note = (err: unknown): void => void codes.push(err instanceof LocalSocketError ? err.code : `not a LocalSocketError: ${String(err)}`);
    const code = 4000 + (i % 1000);
    const reason = `${closer} closes connection ${i}`;
    for (const side of [client, peer]) {
      side.on('error', note);
      side.socket.on('error', note);
      side.handle('echo', (p) => p);
    }
    const clientClosed = next<[LocalSocketError | null, CloseInfo]>(client, 'close', 120_000);
    const peerClosed = next<[LocalSocketError | null, CloseInfo]>(peer, 'close', 120_000);
    // Each side keeps a request, a notification and a binary message going until it closes.
    let replies = 0;
    let flowing: () => void = () => {};
    const started = new Promise<void>((resolve) => (flowing = resolve));
    const pump = (side: MessageSocket): void => {
      if (!side.isOpen) return;
      side.request('echo', i).then(() => {
        if (++replies === 4) flowing();
        pump(side);
      }, note);
      side.notify('tick', i).catch(note);
      side.sendBinary(Buffer.alloc(256, i)).catch(note);
    };
    pump(client);
    pump(peer);
    await started;
    const closing = closer === 'client' ? client : peer;
    await closing.close({ code, reason });
    const [otherReason, info] = await (closer === 'client' ? peerClosed : clientClosed);
    const [, ownInfo] = await (closer === 'client' ? clientClosed : peerClosed);
    if (otherReason) codes.push(otherReason.code);
    assert.deepEqual(ownInfo, { clean: true, by: 'local', code, reason, error: null });
    return { info, codes };
  }

  // Under Wine, the server-side variant ends Wine itself: its wineserver exits midway (4 of the
  // last 7 runs of this file, always in this test; no Windows program can legitimately do that),
  // and every process of the prefix then waits forever. It runs on Linux; under Wine it is skipped
  // with this reason until Wine is fixed (scripts/windows/test.sh's watchdog reports such exits).
  for (const closer of ['client', 'server'] as const) {
    const skipUnderWine = isWine && closer === 'server' && 'Wine\'s wineserver exits during this test (a Wine defect): see the comment above';
    test(`closed by the ${closer}: the peer gets the code and reason every time, and no CONNECTION_ERROR`, { skip: skipUnderWine }, async () => {
      const server = await listenMessages(uniqueName('cc'), { key, maxPendingConnections: BATCH * 2 });
      cleanups.push(() => server.close());
      server.onNotification('tick', () => {});
      let clean = 0;
      const seen = new Map<string, number>();
      for (let first = 0; first < CLOSES; first += BATCH) {
        const pairs: Array<{ client: MessageSocket; peer: MessageSocket }> = [];
        for (let k = 0; k < BATCH; k++) pairs.push(await connectPeer(server));
        // Broadcasts to every peer of the batch while they close.
        const broadcasting = setInterval(() => server.broadcast('news', first), 1);
        const batch = await Promise.all(pairs.map(({ client, peer }, k) => closeUnderTraffic(client, peer, first + k, closer))).finally(() => clearInterval(broadcasting));
        for (const [k, { info, codes }] of batch.entries()) {
          const i = first + k;
          assert.deepEqual([info.clean, info.by, info.code, info.reason], [true, 'peer', 4000 + (i % 1000), `${closer} closes connection ${i}`], `connection ${i}`);
          if (info.clean) clean++;
          for (const c of codes) seen.set(c, (seen.get(c) ?? 0) + 1);
        }
      }
      assert.equal(clean, CLOSES);
      assert.equal(seen.get('CONNECTION_ERROR') ?? 0, 0, `failure codes met: ${JSON.stringify([...seen])}`);
      for (const c of seen.keys()) assert.ok(ENDINGS.has(c), `unexpected code ${c} (${JSON.stringify([...seen])})`);
    });
  }
});
