/**
 * MessageServer: the peer list and its events, handlers registered once for
 * every peer, and broadcast (one encoding, one write per peer, never waiting
 * for a peer; a peer that falls behind is dropped with RESOURCE_EXHAUSTED
 * and memory stays bounded).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import {
  connect, connectMessages, listenMessages, LocalSocketError, MessageServer,
  type LocalSocket, type MessageSocket,
} from '../src/index.js';
import { rejectsWith, throwsWith } from './connection-helpers.js';
import { uniqueName } from './helpers.js';

const KEY = Buffer.alloc(32, 7);

/** Resolves once `predicate()` holds, checking on every event-loop turn (fails after `ms`). */
async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('MessageServer peers', () => {
  test('peerJoined and peerLeft track the peer list; peers is a snapshot', async () => {
    const server = await listenMessages(uniqueName('ms'), { key: KEY });
    const joined: MessageSocket[] = [];
    const left: Array<[MessageSocket, LocalSocketError | null]> = [];
    server.on('peerJoined', (peer) => joined.push(peer));
    server.on('peerLeft', (peer, reason) => left.push([peer, reason]));
    try {
      const a = await connectMessages(server.server.serverName!, { key: KEY });
      const b = await connectMessages(server.server.serverName!, { key: KEY });
      await until(() => joined.length === 2, 'two peers joined');
      assert.equal(server.peerCount, 2);
      const snapshot = server.peers;
      assert.deepEqual(new Set(snapshot), new Set(joined));
      assert.ok(Object.isFrozen(snapshot));
      await a.close();
      await until(() => left.length === 1, 'one peer left');
      assert.equal(server.peerCount, 1);
      assert.equal(snapshot.length, 2, 'an earlier snapshot does not change');
      assert.ok(!server.peers.includes(left[0]![0]));
      assert.equal(left[0]![1]?.code, 'PEER_CLOSED');
      await b.close();
      await until(() => server.peerCount === 0, 'no peers');
    } finally {
      await server.close();
    }
  });

  test('handlers registered on the server serve every peer, including ones registered after the peer joined', async () => {
    const server = await listenMessages(uniqueName('ms'), { key: KEY });
    const seen: string[] = [];
    server.handle('whoami', (_params, context) => server.peers.indexOf(context.peer));
    try {
      const a = await connectMessages(server.server.serverName!, { key: KEY });
      const b = await connectMessages(server.server.serverName!, { key: KEY });
      await until(() => server.peerCount === 2, 'two peers');
      const ids = [await a.request('whoami'), await b.request('whoami')];
      assert.deepEqual(new Set(ids), new Set([0, 1]));
      // Registered while both peers are connected: applies to them too.
      server.handle('double', (params) => (params as number) * 2);
      server.onNotification('note', (params) => seen.push(params as string));
      assert.equal(await a.request('double', 21), 42);
      assert.equal(await b.request('double', 5), 10);
      await a.notify('note', 'from a');
      await b.notify('note', 'from b');
      await until(() => seen.length === 2, 'two notifications');
      assert.deepEqual(seen.sort(), ['from a', 'from b']);
      await a.close();
      await b.close();
    } finally {
      await server.close();
    }
  });

  test('close() stops listening and closes every peer', async () => {
    const server = await listenMessages(uniqueName('ms'), { key: KEY });
    const client = await connectMessages(server.server.serverName!, { key: KEY });
    await until(() => server.peerCount === 1, 'one peer');
    const closed = once(client, 'close');
    let serverClosed = false;
    server.on('close', () => (serverClosed = true));
    await server.close();
    await closed;
    assert.equal(server.isListening, false);
    assert.equal(server.peerCount, 0);
    assert.ok(serverClosed);
    await rejectsWith(connect(server.server.serverName!, { key: KEY, timeout: 500 }), 'SERVER_NOT_FOUND');
  });
});

describe('MessageServer broadcast', () => {
  test('every peer gets the notification; the frame is encoded once and the same Buffer is written to each', async () => {
    const server = await listenMessages(uniqueName('mb'), { key: KEY });
    const clients: MessageSocket[] = [];
    try {
      for (let i = 0; i < 5; i++) clients.push(await connectMessages(server.server.serverName!, { key: KEY }));
      await until(() => server.peerCount === 5, 'five peers');
      const written: Uint8Array[] = [];
      for (const peer of server.peers) {
        const socket = peer.socket;
        const original = socket.write.bind(socket);
        socket.write = (data: Uint8Array | string, offset?: number, length?: number) => {
          written.push(data as Uint8Array);
          return original(data, offset, length);
        };
      }
      const received = clients.map((c) => once(c, 'notification'));
      assert.equal(server.broadcast('tick', { n: 1 }), 5);
      const got = await Promise.all(received);
      for (const [method, params] of got) {
        assert.equal(method, 'tick');
        assert.deepEqual(params, { n: 1 });
      }
      assert.equal(written.length, 5, 'one write per peer');
      for (const buffer of written) assert.equal(buffer, written[0], 'the same Buffer object for every peer');
      // A notification without params has no params member.
      const bare = clients.map((c) => once(c, 'notification'));
      server.broadcast('bare');
      for (const [method, params] of await Promise.all(bare)) {
        assert.equal(method, 'bare');
        assert.equal(params, undefined);
      }
    } finally {
      for (const c of clients) c.abort();
      await server.close();
    }
  });

  test('a broadcast keeps its place after messages the peer was sent earlier in the same tick', async () => {
    const server = await listenMessages(uniqueName('mo'), { key: KEY });
    const client = await connectMessages(server.server.serverName!, { key: KEY });
    try {
      await until(() => server.peerCount === 1, 'one peer');
      const order: string[] = [];
      client.on('notification', (method) => order.push(method));
      const peer = server.peers[0]!;
      void peer.notify('first');
      server.broadcast('second');
      void peer.notify('third');
      await until(() => order.length === 3, 'three notifications');
      assert.deepEqual(order, ['first', 'second', 'third']);
    } finally {
      client.abort();
      await server.close();
    }
  });

  test('broadcastBinary sends one binary message to every peer', async () => {
    const server = await listenMessages(uniqueName('mb'), { key: KEY });
    const clients: MessageSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await connectMessages(server.server.serverName!, { key: KEY }));
      await until(() => server.peerCount === 3, 'three peers');
      const received = clients.map((c) => once(c, 'binary'));
      assert.equal(server.broadcastBinary(Buffer.from([1, 2, 3])), 3);
      for (const [data] of await Promise.all(received)) assert.deepEqual([...(data as Buffer)], [1, 2, 3]);
    } finally {
      for (const c of clients) c.abort();
      await server.close();
    }
  });

  test('a message over maxMessageSize throws MESSAGE_TOO_LARGE and reaches no one; bad arguments throw INVALID_ARGUMENT', async () => {
    const server = await listenMessages(uniqueName('mb'), { key: KEY, maxMessageSize: 100 });
    const client = await connectMessages(server.server.serverName!, { key: KEY, maxMessageSize: 100 });
    try {
      await until(() => server.peerCount === 1, 'one peer');
      let got = 0;
      client.on('notification', () => got++);
      throwsWith(() => server.broadcast('big', 'x'.repeat(200)), 'MESSAGE_TOO_LARGE');
      throwsWith(() => server.broadcastBinary(Buffer.alloc(101)), 'MESSAGE_TOO_LARGE');
      throwsWith(() => server.broadcast(42 as unknown as string), 'INVALID_ARGUMENT');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      throwsWith(() => server.broadcast('cyclic', cyclic), 'INVALID_ARGUMENT');
      throwsWith(() => server.broadcastBinary('text' as unknown as Uint8Array), 'INVALID_ARGUMENT');
      // The connection is fine and the next broadcast arrives (and is the first one to).
      const next = once(client, 'notification');
      server.broadcast('small', 1);
      assert.deepEqual(await next, ['small', 1]);
      assert.equal(got, 1);
    } finally {
      client.abort();
      await server.close();
    }
  });

  test('one peer that never reads: the 99 others get every message, the slow one is dropped with RESOURCE_EXHAUSTED, bytesToWrite stays bounded', async () => {
    const maxWriteBuffer = 64 * 1024;
    const server = await listenMessages(uniqueName('slow'), { key: KEY, maxWriteBuffer, maxPendingConnections: 128 });
    const name = server.server.serverName!;
    const fast: MessageSocket[] = [];
    let slow: LocalSocket | null = null;
    const left: Array<LocalSocketError | null> = [];
    server.on('peerLeft', (_peer, reason) => left.push(reason));
    try {
      for (let i = 0; i < 99; i++) fast.push(await connectMessages(name, { key: KEY }));
      // A plain socket whose owner never calls read(): its small read buffer fills and it stops reading.
      slow = await connect(name, { key: KEY, maxReadBuffer: 4096 });
      await until(() => server.peerCount === 100, '100 peers');
      const counts = new Array<number>(fast.length).fill(0);
      fast.forEach((c, i) => c.on('notification', () => counts[i]!++));

      const MESSAGES = 3000;
      const payload = 'x'.repeat(1000); // ~1 KiB frames: 3 MB per peer in all, far past what a stalled peer can absorb
      let maxQueued = 0;
      let maxQueuedTotal = 0;
      for (let n = 0; n < MESSAGES; n++) {
        const sent = server.broadcast('data', { n, payload });
        // broadcast is synchronous: it returns a count, never a promise to wait on.
        assert.equal(typeof sent, 'number');
        let total = 0;
        for (const peer of server.peers) {
          maxQueued = Math.max(maxQueued, peer.socket.bytesToWrite);
          total += peer.socket.bytesToWrite;
        }
        maxQueuedTotal = Math.max(maxQueuedTotal, total);
        // The producer keeps pace with the readers that do read (as a real producer would):
        // they are never more than 20 messages behind, far below their write limit. The peer
        // that never reads falls behind regardless, and broadcast itself never waits for anyone.
        if (n % 10 === 9) {
          const deadline = Date.now() + 30_000;
          while (Math.min(...counts) < n - 20) {
            if (Date.now() > deadline) assert.fail(`the readers fell behind: ${Math.min(...counts)} of ${n}`);
            await new Promise((r) => setTimeout(r, 1));
          }
        }
      }
      await until(() => counts.every((c) => c === MESSAGES), 'the 99 readers got every message', 30_000);
      assert.equal(left.length, 1, 'exactly one peer was dropped');
      assert.equal(left[0]?.code, 'RESOURCE_EXHAUSTED');
      assert.equal(server.peerCount, 99);
      assert.ok(maxQueued <= maxWriteBuffer, `a peer queued ${maxQueued} bytes, over its limit ${maxWriteBuffer}`);
      assert.ok(maxQueuedTotal <= 100 * maxWriteBuffer, `the server queued ${maxQueuedTotal} bytes in all`);
      // The dropped peer's side sees its connection end once it reads again (what it reads is whole frames, then the end).
      await until(() => {
        if (slow!.state !== 'unconnected' && slow!.bytesAvailable > 0) slow!.read();
        return slow!.state === 'unconnected';
      }, 'the slow client sees the end of its connection');
    } finally {
      slow?.abort();
      for (const c of fast) c.abort();
      await server.close();
    }
  });
});

describe('MessageServer refusals', () => {
  test('a connection turned away by the server limits is reported as refused and never becomes a peer', async () => {
    const server = await listenMessages(uniqueName('mr'), { key: KEY, maxConnections: 1 });
    const refused: LocalSocketError[] = [];
    server.on('refused', (reason) => refused.push(reason));
    const first = await connectMessages(server.server.serverName!, { key: KEY });
    try {
      await until(() => server.peerCount === 1, 'one peer');
      await connect(server.server.serverName!, { key: KEY, timeout: 1000 }).then((s) => s.abort(), () => {});
      await until(() => refused.length >= 1, 'a refusal');
      assert.equal(refused[0]!.code, 'RESOURCE_EXHAUSTED');
      assert.equal(server.peerCount, 1);
    } finally {
      first.abort();
      await server.close();
    }
  });
});

describe('MessageServer options', () => {
  test('bad options throw INVALID_ARGUMENT; listen twice is INVALID_STATE; a taken name is ADDRESS_IN_USE', async () => {
    throwsWith(() => new MessageServer({ maxMessageSize: -1 }), 'INVALID_ARGUMENT');
    throwsWith(() => new MessageServer({ maxWriteBuffer: 0 }), 'INVALID_ARGUMENT');
    throwsWith(() => new MessageServer({ requestTimeout: Infinity }), 'INVALID_ARGUMENT');
    const server = await listenMessages(uniqueName('mo'), { key: KEY });
    try {
      await rejectsWith(server.listen(uniqueName('mo')), 'INVALID_STATE');
      await rejectsWith(listenMessages(server.server.serverName!, { key: KEY }), 'ADDRESS_IN_USE');
      throwsWith(() => server.handle(1 as unknown as string, () => 1), 'INVALID_ARGUMENT');
      throwsWith(() => server.onNotification('x', null as unknown as () => void), 'INVALID_ARGUMENT');
    } finally {
      await server.close();
    }
  });
});
