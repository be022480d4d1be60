/**
 * diagnostics_channel events: each documented channel is subscribed to and
 * its payloads checked against what happened (server up and down, connects
 * that succeed after retries or fail, refusals with their reason code and no
 * key material, a stalled handshake evicted, message connections opening and
 * closing, requests traced from start to settle).
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import {
  connect, connectMessages, DiagnosticChannels, listen, listenMessages, LocalSocketError, RpcError,
  type LocalServer, type MessageSocket,
} from '../src/index.js';
import { CLIENT_HELLO_SIZE } from '../src/auth/handshake.js';
import { distDir, isWindows, uniqueName } from './helpers.js';

const KEY = Buffer.alloc(32, 5);
const OTHER_KEY = Buffer.alloc(32, 6);

type Payload = Record<string, unknown>;

/** Subscribes to `name` for the duration of `fn`, collecting what is published. */
async function collecting(names: string[], fn: (seen: Map<string, Payload[]>) => Promise<void>): Promise<void> {
  const seen = new Map<string, Payload[]>(names.map((n) => [n, []]));
  const handlers = names.map((name) => {
    const handler = (message: unknown): void => void seen.get(name)!.push(message as Payload);
    diagnosticsChannel.subscribe(name, handler);
    return [name, handler] as const;
  });
  try {
    await fn(seen);
  } finally {
    for (const [name, handler] of handlers) diagnosticsChannel.unsubscribe(name, handler);
  }
}

/** Resolves once `predicate()` holds, checking on every event-loop turn (fails after `ms`). */
async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** No Buffer, typed array or key bytes anywhere in a payload (shallow: payloads are flat). */
function assertNoKeyMaterial(payload: Payload): void {
  for (const [field, value] of Object.entries(payload)) {
    assert.ok(!(value instanceof Uint8Array), `${field} must not carry bytes`);
    if (typeof value === 'string') {
      assert.ok(!value.includes(KEY.toString('hex')) && !value.includes(OTHER_KEY.toString('hex')), `${field} must not carry the key`);
    }
  }
}

test('the documented channel names', () => {
  assert.deepEqual(DiagnosticChannels, {
    serverListening: 'localsocket:server:listening',
    serverClosed: 'localsocket:server:closed',
    connectStart: 'localsocket:client:connectStart',
    connected: 'localsocket:client:connected',
    connectFailed: 'localsocket:client:connectFailed',
    handshakeRefused: 'localsocket:server:handshakeRefused',
    busy: 'localsocket:server:busy',
    evicted: 'localsocket:server:evicted',
    messageOpen: 'localsocket:messages:open',
    messageClose: 'localsocket:messages:close',
    request: 'localsocket:request',
  });
  // Every channel is listed in the document that describes the payloads.
  const doc = fs.readFileSync(path.resolve(distDir, '..', 'docs', 'DIAGNOSTICS.md'), 'utf8');
  for (const name of Object.values(DiagnosticChannels)) assert.ok(doc.includes(`\`${name}`), `docs/DIAGNOSTICS.md documents ${name}`);
});

test('server listening and closed', async () => {
  const { serverListening, serverClosed } = DiagnosticChannels;
  await collecting([serverListening, serverClosed], async (seen) => {
    const server = await listen(uniqueName('dg'), { key: KEY });
    assert.deepEqual(seen.get(serverListening), [{ server, endpoint: server.fullServerName }]);
    assert.deepEqual(seen.get(serverClosed), []);
    await server.close();
    assert.deepEqual(seen.get(serverClosed), [{ server }]);
  });
});

test('connect start and connected, with the time taken and the number of attempts', async () => {
  const { connectStart, connected, connectFailed } = DiagnosticChannels;
  // On Windows a full pipe name: a default name's endpoint is its record until a server publishes a pipe.
  const name = isWindows ? `\\\\.\\pipe\\${uniqueName('dg')}` : uniqueName('dg');
  let server: LocalServer | null = null;
  await collecting([connectStart, connected, connectFailed], async (seen) => {
    // The server comes up only once the client has started: the client retries until it is there.
    const starting = connect(name, { key: KEY, waitForServer: true, timeout: 20_000 });
    await until(() => seen.get(connectStart)!.length === 1, 'connect start published');
    server = await listen(name, { key: KEY });
    const socket = await starting;
    try {
      const [start] = seen.get(connectStart)!;
      assert.deepEqual(start, { endpoint: server.fullServerName, authenticated: true });
      const [done] = seen.get(connected)!;
      assert.equal(done!.endpoint, server.fullServerName);
      assert.equal(done!.authenticated, true);
      assert.equal(typeof done!.durationMs, 'number');
      assert.ok((done!.durationMs as number) >= 0);
      assert.ok((done!.attempts as number) >= 2, `a connect that waited for the server dialled more than once (${String(done!.attempts)})`);
      assert.deepEqual(seen.get(connectFailed), []);
    } finally {
      socket.abort();
      await server.close();
    }
  });
});

test('connect failed: the error, the attempts, the time taken', async () => {
  const { connectStart, connected, connectFailed } = DiagnosticChannels;
  await collecting([connectStart, connected, connectFailed], async (seen) => {
    await assert.rejects(connect(uniqueName('dg-none'), { key: KEY }), { code: 'SERVER_NOT_FOUND' });
    assert.equal(seen.get(connectStart)!.length, 1);
    assert.deepEqual(seen.get(connected), []);
    const [failed] = seen.get(connectFailed)!;
    assert.ok(failed!.error instanceof LocalSocketError);
    assert.equal((failed!.error as LocalSocketError).code, 'SERVER_NOT_FOUND');
    assert.equal(failed!.attempts, 1);
    assert.equal(failed!.authenticated, true);
    assert.equal(typeof failed!.durationMs, 'number');
  });
});

test('handshake refused: the reason code, never key material', async () => {
  const { handshakeRefused } = DiagnosticChannels;
  await collecting([handshakeRefused], async (seen) => {
    const server = await listen(uniqueName('dg'), { key: KEY });
    try {
      // A client with another key checks our proof first and leaves: the server sees it go mid-handshake.
      await assert.rejects(connect(server.serverName!, { key: OTHER_KEY }), { code: 'AUTH_FAILED' });
      await until(() => seen.get(handshakeRefused)!.length === 1, 'refusal published');
      const [left] = seen.get(handshakeRefused)!;
      assert.equal(left!.server, server);
      assert.equal(left!.code, 'PEER_CLOSED');
      assert.match(left!.message as string, /before its proof/);
      assert.deepEqual(Object.keys(left!).sort(), ['code', 'message', 'server']);
      assertNoKeyMaterial(left!);
      // A peer that does not speak the handshake at all.
      const garbage = net.connect(server.fullServerName!);
      garbage.on('error', () => {});
      garbage.resume();
      garbage.end(Buffer.alloc(CLIENT_HELLO_SIZE, 0x78));
      await until(() => seen.get(handshakeRefused)!.length === 2, 'second refusal published');
      const refusal = seen.get(handshakeRefused)![1]!;
      assert.equal(refusal.code, 'PROTOCOL_ERROR');
      assertNoKeyMaterial(refusal);
      garbage.destroy();
    } finally {
      await server.close();
    }
  });
});

test('busy: a peer over the connection limit', async () => {
  const { busy, handshakeRefused } = DiagnosticChannels;
  await collecting([busy, handshakeRefused], async (seen) => {
    const server = await listen(uniqueName('dg'), { key: KEY, maxConnections: 1 });
    const first = await connect(server.serverName!, { key: KEY });
    try {
      await assert.rejects(connect(server.serverName!, { key: KEY, timeout: 300 }));
      assert.ok(seen.get(busy)!.length >= 1, 'busy published');
      const [turnedAway] = seen.get(busy)!;
      assert.equal(turnedAway!.server, server);
      assert.match(turnedAway!.message as string, /connection limit/);
      assert.deepEqual(seen.get(handshakeRefused), [], 'a limit is not a handshake refusal');
    } finally {
      first.abort();
      await server.close();
    }
  });
});

test('evicted: a silent handshake dropped to make room for an honest client', async () => {
  const { evicted, busy } = DiagnosticChannels;
  await collecting([evicted, busy], async (seen) => {
    const server = await listen(uniqueName('dg'), { key: KEY, maxHandshakes: 1 });
    // A peer that connects and never sends its hello holds the only handshake slot.
    const silent = net.connect(server.fullServerName!);
    silent.on('error', () => {});
    silent.resume(); // read, so that the server's answer and end reach it
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => silent.once('connect', resolve).once('error', reject));
      // The honest client retries on BUSY until the silent peer has stalled long enough to be evicted.
      const honest = await connect(server.serverName!, { key: KEY, timeout: 20_000 });
      honest.abort();
      await silentClosed;
      const [eviction] = seen.get(evicted)!;
      assert.equal(eviction!.server, server);
      assert.equal(eviction!.stage, 'hello');
      assert.equal(typeof eviction!.silentMs, 'number');
      assert.ok(seen.get(busy)!.some((p) => /no progress/.test(p.message as string)), 'the evicted peer was told BUSY');
    } finally {
      silent.destroy();
      await server.close();
    }
  });
});

test('message connections opened and closed, with the close outcome', async () => {
  const { messageOpen, messageClose } = DiagnosticChannels;
  await collecting([messageOpen, messageClose], async (seen) => {
    const server = await listenMessages(uniqueName('dg'), { key: KEY });
    const joined = new Promise<MessageSocket>((resolve) => server.once('peerJoined', resolve));
    try {
      const client = await connectMessages(server.server.serverName!, { key: KEY });
      const peer = await joined;
      const opened = seen.get(messageOpen)!.map((p) => p.socket);
      assert.equal(opened.length, 2);
      assert.ok(opened.includes(client) && opened.includes(peer));
      const peerGone = new Promise((resolve) => peer.once('close', resolve));
      await client.close();
      await peerGone;
      const closes = seen.get(messageClose)!;
      const local = closes.find((p) => p.socket === client)!;
      assert.equal(local.reason, null);
      assert.deepEqual({ ...(local.info as object) }, { clean: true, by: 'local', code: 1000, reason: '', error: null });
      const remote = closes.find((p) => p.socket === peer)!;
      assert.ok(remote.reason instanceof LocalSocketError, 'the server side saw the peer go');
      assert.deepEqual({ ...(remote.info as object) }, { clean: true, by: 'peer', code: 1000, reason: '', error: null });
    } finally {
      await server.close();
    }
  });
});

test('requests as a tracing channel: start, end, asyncStart, asyncEnd, error', async () => {
  const events = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
  const log: Array<[string, Payload]> = [];
  const handlers = Object.fromEntries(events.map((e) => [e, (message: unknown) => void log.push([e, message as Payload])]));
  const tracing = diagnosticsChannel.tracingChannel(DiagnosticChannels.request);
  tracing.subscribe(handlers as never);
  const server = await listenMessages(uniqueName('dg'), { key: KEY });
  server.handle('sum', (params) => (params as number[]).reduce((a, b) => a + b, 0));
  server.handle('fail', () => {
    throw new RpcError(-32001, 'no');
  });
  try {
    const client = await connectMessages(server.server.serverName!, { key: KEY });
    assert.equal(await client.request('sum', [1, 2]), 3);
    assert.deepEqual(log.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd']);
    const context = log[0]![1];
    assert.ok(log.every(([, c]) => c === context), 'one context object travels through every event');
    assert.equal(context.socket, client);
    assert.equal(context.method, 'sum');
    assert.equal(typeof context.id, 'number');
    assert.equal(context.result, 3);
    assert.ok((context.durationMs as number) >= 0);
    log.length = 0;
    await assert.rejects(client.request('fail'), { code: 'REMOTE_ERROR' });
    assert.deepEqual(log.map(([e]) => e), ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    const failed = log[0]![1];
    assert.equal(failed.method, 'fail');
    assert.equal((failed.error as LocalSocketError).code, 'REMOTE_ERROR');
    assert.equal(typeof failed.durationMs, 'number');
    await client.close();
  } finally {
    tracing.unsubscribe(handlers as never);
    await server.close();
  }
});
