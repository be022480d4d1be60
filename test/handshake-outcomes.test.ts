/**
 * Connect outcomes that must not depend on timing: a server that answers
 * BUSY and closes without reading the hello, a BUSY that crosses the
 * client's proof, and the raw-mode hint given only on evidence of a raw server.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BUSY_MESSAGE, CLIENT_HELLO_SIZE, CLIENT_PROOF_SIZE, RAW_SERVER_HINT, serverProof, freshNonce } from '../src/auth/handshake.js';
import { connect, listen, LocalSocketError } from '../src/index.js';
import { connectMessages, isBusyDrop } from '../src/messages/message-socket.js';
import { makeHome, run, until } from './cli-helpers.js';
import { fullName, isWindows, tempDir } from './helpers.js';

const KEY = Buffer.alloc(32, 0x5a);
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function address(base: string): string {
  if (isWindows) return `\\\\.\\pipe\\lsout-${process.pid}-${base}-${Math.random().toString(36).slice(2)}`;
  const dir = tempDir('lsout-');
  dirs.push(dir);
  return path.join(dir, base);
}

async function serve(at: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(at, resolve));
  return server;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    const value = await promise;
    (value as { abort?: () => void }).abort?.();
    return { code: 'connected', message: '' };
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, String(err));
    return { code: err.code, message: err.message };
  }
}

/** Reads exactly `n` bytes from a raw socket. */
function readExactly(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= n) {
        s.off('data', onData);
        s.pause();
        if (got.length > n) s.unshift(got.subarray(n));
        resolve(got.subarray(0, n));
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('closed')));
    s.resume();
  });
}

describe('a server that answers BUSY and closes without reading the hello', () => {
  test('is RESOURCE_EXHAUSTED every time, whether or not the hello write met the closed connection', async () => {
    const at = address('busy');
    // BUSY at once and close at once, never reading: the client's hello write either lands in the
    // server's unread queue (the client then reads BUSY) or meets the closed connection (EPIPE).
    const server = await serve(at, (s) => {
      s.write(BUSY_MESSAGE);
      s.destroy();
    });
    try {
      const outcomes = new Map<string, number>();
      // Each connect retries until its deadline (every attempt is told busy); the deadline only
      // bounds the test, generous so that a loaded machine still completes a first attempt.
      for (let i = 0; i < 8; i++) {
        const { code } = await codeOf(connect(at, { key: KEY, timeout: 1000 }));
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
      }
      assert.deepEqual([...outcomes], [['RESOURCE_EXHAUSTED', 8]]);
    } finally {
      server.close();
    }
  });
});

/**
 * A server holding the key that answers the first connection's hello with its proof, waits for
 * the client's proof (so the client has certainly sent it and counts itself connected), then
 * drops it with BUSY; later connections are served normally (an echo of one JSON-RPC request).
 */
async function crossingServer(at: string, drops: number, key: Buffer): Promise<{ server: net.Server; served: () => number }> {
  let connections = 0;
  let served = 0;
  const server = await serve(at, (s) => {
    const index = connections++;
    void (async () => {
      const hello = await readExactly(s, CLIENT_HELLO_SIZE);
      const serverNonce = freshNonce();
      s.write(serverProof(key, hello.subarray(8), serverNonce));
      await readExactly(s, CLIENT_PROOF_SIZE);
      if (index < drops) {
        s.end(BUSY_MESSAGE);
        return;
      }
      // Served: answer the one request with its own params.
      const header = await readExactly(s, 5);
      const body = await readExactly(s, header.readUInt32BE(1));
      const request = JSON.parse(body.toString()) as { id: number; params: unknown };
      const reply = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: request.params }));
      const frame = Buffer.alloc(5);
      frame[0] = 0x4a;
      frame.writeUInt32BE(reply.length, 1);
      served++;
      s.end(Buffer.concat([frame, reply]));
    })().catch(() => s.destroy());
  });
  return { server, served: () => served };
}

describe('a BUSY that crosses the client proof', () => {
  test('fails the message connection with RESOURCE_EXHAUSTED (a busy drop), never a bare PEER_CLOSED', async () => {
    const at = address('cross');
    const { server } = await crossingServer(at, 1, KEY);
    try {
      const peer = await connectMessages(at, { key: KEY, timeout: 5000 });
      peer.on('error', () => {});
      const closed = new Promise<unknown>((resolve) => peer.once('close', resolve));
      const err = await peer.request('echo', { n: 1 }, { timeout: 10_000 }).then(
        () => assert.fail('the request cannot succeed on a dropped connection'),
        (e: unknown) => e,
      );
      assert.ok(isBusyDrop(err), `a busy drop, got ${String(err)}`);
      const reason = await closed;
      assert.ok(reason instanceof LocalSocketError && reason.code === 'RESOURCE_EXHAUSTED', `close reason ${String(reason)}`);
    } finally {
      server.close();
    }
  });

  test('localsocket call retries it on a new connection and prints the result', async () => {
    const home = makeHome();
    const at = address('cross-cli');
    // The CLI reads the default key of its home: the fake server must hold the same one.
    const key = Buffer.from(fs.readFileSync(path.join(home.env.XDG_CONFIG_HOME!, 'localsocket', 'key'), 'utf8').trim(), 'hex');
    const { server, served } = await crossingServer(at, 2, key);
    try {
      const result = await run(home, ['call', at, 'echo', '{"text":"hi"}', '--timeout', '10000']);
      assert.equal(result.stderr, '');
      assert.equal(result.code, 0);
      assert.equal(result.stdout, '{"text":"hi"}\n');
      assert.equal(served(), 1);
    } finally {
      server.close();
      home.remove();
    }
  });
});

describe('the raw-mode hint is given only on evidence of a raw server', () => {
  test('bytes that are not a handshake answer: PROTOCOL_ERROR with the hint', async () => {
    const at = address('garbage');
    const server = await serve(at, (s) => s.write('hello from a plain server\n'));
    try {
      const { code, message } = await codeOf(connect(at, { key: KEY, timeout: 5000 }));
      assert.equal(code, 'PROTOCOL_ERROR');
      assert.ok(message.includes(RAW_SERVER_HINT), message);
    } finally {
      server.close();
    }
  });

  test('a handshake answer cut short: PROTOCOL_ERROR without the hint', async () => {
    const at = address('cut');
    const server = await serve(at, (s) => {
      void readExactly(s, CLIENT_HELLO_SIZE).then(() => s.end(Buffer.from('LSS2\0\0\0\0abc', 'latin1')), () => {});
    });
    try {
      const { code, message } = await codeOf(connect(at, { key: KEY, timeout: 5000 }));
      assert.equal(code, 'PROTOCOL_ERROR');
      assert.ok(!message.includes('raw mode'), message);
    } finally {
      server.close();
    }
  });

  test('a server that read the hello and closed without a word: CONNECTION_REFUSED at the deadline, no hint', async () => {
    const at = address('closer');
    const server = await serve(at, (s) => {
      void readExactly(s, CLIENT_HELLO_SIZE).then(() => s.end(), () => {});
    });
    try {
      const { code, message } = await codeOf(connect(at, { key: KEY, timeout: 200 }));
      assert.equal(code, 'CONNECTION_REFUSED');
      assert.ok(!message.includes('raw mode'), message);
    } finally {
      server.close();
    }
  });
});

/**
 * connect() resolves only once the client's proof has been handed to the kernel: a client that
 * closes or exits right after connecting (a health check, a connect-and-abort loop) was a
 * connection for the server, never a peer that left in the middle of the handshake. (Holding the
 * proof back to send it with the first write was tried for speed: this is what it broke.)
 */
describe('a client that closes right after connect() resolves', () => {
  for (const how of ['abort', 'disconnectFromServer'] as const) {
    test(`(${how}) is a connection for the server, not a refused handshake`, async () => {
      const dir = tempDir('lsout-');
      dirs.push(dir);
      const name = fullName(dir, 'quick');
      const server = await listen(name, { key: KEY });
      let connections = 0;
      const refused: string[] = [];
      server.on('newConnection', () => {
        for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
          connections++;
          s.on('error', () => {});
        }
      });
      server.on('refused', (err) => refused.push(err.code));
      try {
        const COUNT = 20;
        for (let i = 0; i < COUNT; i++) {
          const client = await connect(name, { key: KEY });
          if (how === 'abort') client.abort();
          else void client.disconnectFromServer();
        }
        // Every one of them ends up as one or the other: wait for all (a deadline only against a hang).
        await until(() => String(connections + refused.length), new RegExp(`^${COUNT}$`), 'every connect seen by the server', 60_000);
        assert.deepEqual({ connections, refused }, { connections: COUNT, refused: [] });
      } finally {
        await server.close();
      }
    });
  }
});
