/**
 * LocalSocket's public API: states and events, reading, the bounded
 * read buffer, connecting (deadline, waiting for a server, AbortSignal),
 * Node stream interop, and disconnectFromServer/abort in every state.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, describe, test } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError } from '../src/index.js';
import { DEFAULTS } from '../src/options.js';
import { fullName, isWindows, noStrayErrors, tempDir, uniqueName } from './helpers.js';
import { rejectsWith } from './connection-helpers.js';

// Started at load, so its default deadline runs alongside the other tests; checked in the last test.
const defaultDeadline = (async () => {
  const started = Date.now();
  try {
    const s = await connect(uniqueName('never-there'), { waitForServer: true });
    s.abort();
    return { code: 'CONNECTED', elapsed: Date.now() - started };
  } catch (err) {
    return { code: (err as LocalSocketError).code, elapsed: Date.now() - started };
  }
})();

/** Why half-close tests cannot hold on Windows (libuv's eof_timer, src/win/pipe.c). */
const NO_HALF_CLOSE =
  'Windows named pipes have no half-close: after end() libuv closes the whole pipe once no data arrived for 50 ms, and the peer sees end-of-stream only then';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});


function throwsCode(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => e instanceof LocalSocketError && e.code === expected);
}

interface Pair {
  name: string;
  server: LocalServer;
  client: LocalSocket;
  accepted: LocalSocket;
  close(): Promise<void>;
}

/** A server, a client connected to it, and the server's side of that connection. */
async function pair(clientOptions: ConstructorParameters<typeof LocalSocket>[0] = {}, client?: LocalSocket): Promise<Pair> {
  const name = uniqueName('sock');
  const server = await listen(name, { auth: false });
  const c = client ?? new LocalSocket(clientOptions);
  await c.connectToServer(name, { timeout: 3000, auth: false, ...clientOptions });
  const accepted = await server.waitForNewConnection({ timeout: 3000 });
  return {
    name,
    server,
    client: c,
    accepted,
    close: async () => {
      c.abort();
      accepted.abort();
      await server.close();
    },
  };
}

/** Records every stateChanged and lifecycle event of a socket, in order. */
function record(socket: LocalSocket): string[] {
  const log: string[] = [];
  socket.on('stateChanged', (state, previous) => log.push(`${previous}->${state}`));
  socket.on('connected', () => log.push('connected'));
  socket.on('disconnected', () => log.push('disconnected'));
  socket.on('error', (err) => log.push(`error:${err.code}`));
  return log;
}

/** Waits for the next readyRead event (as waitForReadyRead does), with a deadline. */
async function nextReadyRead(socket: LocalSocket, timeoutMs = 3000): Promise<void> {
  await once(socket, 'readyRead', { signal: AbortSignal.timeout(timeoutMs) });
}

async function until(socket: LocalSocket, bytes: number): Promise<void> {
  while (socket.bytesAvailable < bytes) await nextReadyRead(socket);
}

/** Rejects if `promise` has not settled within `ms` (so a hang fails the test and its finally cleans up). */
async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no progress within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

// ---------------------------------------------------------------------------

describe('states and events', () => {
  test('disconnectFromServer: unconnected -> connecting -> connected -> closing -> unconnected', async () => {
    const client = new LocalSocket();
    const log = record(client);
    assert.equal(client.state, 'unconnected');
    const p = await pair({}, client);
    try {
      assert.equal(client.state, 'connected');
      assert.equal(client.isConnected, true);
      await client.disconnectFromServer();
      assert.equal(client.state, 'unconnected');
      assert.deepEqual(log, [
        'unconnected->connecting',
        'connecting->connected',
        'connected',
        'connected->closing',
        'closing->unconnected',
        'disconnected',
      ]);
      // The server side sees the peer leave.
      await p.accepted.waitForDisconnected({ timeout: 3000 });
      assert.equal(p.accepted.state, 'unconnected');
    } finally {
      await p.close();
    }
  });

  test('abort: unconnected -> connecting -> connected -> unconnected, no error event', async () => {
    const client = new LocalSocket();
    const log = record(client);
    const p = await pair({}, client);
    try {
      client.abort();
      assert.equal(client.state, 'unconnected');
      assert.deepEqual(log, ['unconnected->connecting', 'connecting->connected', 'connected', 'connected->unconnected', 'disconnected']);
      await p.accepted.waitForDisconnected({ timeout: 3000 });
    } finally {
      await p.close();
    }
  });

  test('the same sequence with the authentication handshake on (the default)', async () => {
    const name = uniqueName('auth-states');
    const server = await listen(name);
    try {
      const client = new LocalSocket();
      const log = record(client);
      await client.connectToServer(name, { timeout: 3000 });
      const accepted = await server.waitForNewConnection({ timeout: 3000 });
      await client.disconnectFromServer();
      assert.deepEqual(log, [
        'unconnected->connecting',
        'connecting->connected',
        'connected',
        'connected->closing',
        'closing->unconnected',
        'disconnected',
      ]);
      accepted.abort();
    } finally {
      await server.close();
    }
  });

  test('a failed connect: connecting -> unconnected, an error event, lastError, no connected/disconnected', async () => {
    const client = new LocalSocket();
    const log = record(client);
    await rejectsWith(client.connectToServer(uniqueName('missing'), { timeout: 1000 }), 'SERVER_NOT_FOUND');
    assert.deepEqual(log, ['unconnected->connecting', 'connecting->unconnected', 'error:SERVER_NOT_FOUND']);
    assert.equal(client.lastError?.code, 'SERVER_NOT_FOUND');
    await rejectsWith(client.connectToServer(uniqueName('again'), { timeout: 1000 }), 'INVALID_STATE');
  });

  test('the peer closing: disconnected fires once, the socket ends unconnected', async () => {
    const client = new LocalSocket();
    const log = record(client);
    const p = await pair({}, client);
    try {
      await p.accepted.disconnectFromServer();
      await client.waitForDisconnected({ timeout: 3000 });
      assert.equal(log.filter((l) => l === 'disconnected').length, 1);
      assert.equal(log.at(-1), 'disconnected');
      assert.ok(!log.some((l) => l.startsWith('error:')), 'a clean close by the peer is not an error');
    } finally {
      await p.close();
    }
  });

  test('readyRead fires as data arrives; bytesWritten reports every byte written', async () => {
    const p = await pair();
    try {
      let written = 0;
      let events = 0;
      p.client.on('bytesWritten', (n) => {
        assert.ok(Number.isInteger(n) && n > 0);
        written += n;
        events++;
      });
      let readyReads = 0;
      p.accepted.on('readyRead', () => readyReads++);
      await p.client.write('hello');
      assert.equal(written, 5);
      await until(p.accepted, 5);
      assert.ok(readyReads >= 1);
      assert.equal(p.accepted.read().toString(), 'hello');

      const payload = Buffer.alloc(1000, 7);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 100; i++) writes.push(p.client.write(payload));
      await Promise.all(writes);
      await p.client.waitForBytesWritten({ timeout: 3000 });
      assert.equal(written, 5 + 100_000);
      assert.equal(p.client.bytesToWrite, 0);
      assert.ok(events >= 2);
      await until(p.accepted, 100_000);
      assert.equal(p.accepted.readAll().length, 100_000);
    } finally {
      await p.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('reading', () => {
  test('read(n), readAll, peek and bytesAvailable', async () => {
    const p = await pair();
    try {
      assert.equal(p.client.bytesAvailable, 0);
      assert.equal(p.client.read().length, 0);
      await p.accepted.write('hello world');
      await until(p.client, 11);
      assert.equal(p.client.bytesAvailable, 11);
      assert.equal(p.client.peek(5).toString(), 'hello');
      assert.equal(p.client.bytesAvailable, 11, 'peek does not consume');
      assert.equal(p.client.peek().toString(), 'hello world');
      assert.equal(p.client.peek(100).toString(), 'hello world');
      assert.equal(p.client.read(0).length, 0);
      assert.equal(p.client.read(6).toString(), 'hello ');
      assert.equal(p.client.bytesAvailable, 5);
      assert.equal(p.client.read(100).toString(), 'world');
      assert.equal(p.client.bytesAvailable, 0);
      assert.equal(p.client.readAll().length, 0);

      // Across several arrivals.
      await p.accepted.write('abc');
      await until(p.client, 3);
      await p.accepted.write('def');
      await until(p.client, 6);
      assert.equal(p.client.peek(4).toString(), 'abcd');
      assert.equal(p.client.read(4).toString(), 'abcd');
      assert.equal(p.client.readAll().toString(), 'ef');

      for (const bad of [-1, 1.5, NaN, Infinity, '2']) {
        throwsCode(() => p.client.read(bad as number), 'INVALID_ARGUMENT');
        throwsCode(() => p.client.peek(bad as number), 'INVALID_ARGUMENT');
      }
    } finally {
      await p.close();
    }
  });

  test('readLine and canReadLine, lines split across arrivals', async () => {
    const p = await pair();
    try {
      assert.equal(p.client.canReadLine(), false);
      assert.equal(p.client.readLine(), null);
      await p.accepted.write('line1\nline2\npar');
      await until(p.client, 15);
      assert.equal(p.client.canReadLine(), true);
      assert.equal(p.client.readLine()?.toString(), 'line1\n');
      assert.equal(p.client.readLine()?.toString(), 'line2\n');
      assert.equal(p.client.canReadLine(), false);
      assert.equal(p.client.readLine(), null, 'a partial line shorter than the maximum waits');
      assert.equal(p.client.bytesAvailable, 3);
      await p.accepted.write('tial');
      await until(p.client, 7);
      await p.accepted.write('\nnext');
      await until(p.client, 12);
      assert.equal(p.client.readLine()?.toString(), 'partial\n');
      assert.equal(p.client.readAll().toString(), 'next');
      for (const bad of [0, -1, 1.5, NaN]) throwsCode(() => p.client.readLine(bad), 'INVALID_ARGUMENT');
    } finally {
      await p.close();
    }
  });

  test('readLine(max): a line longer than max comes in pieces of max bytes (as Qt), never an error', async () => {
    const p = await pair();
    try {
      const long = `${'x'.repeat(60)}\n`; // 61 bytes with its newline
      await p.accepted.write(long);
      await until(p.client, 61);
      assert.equal(p.client.canReadLine(50), true, 'max bytes buffered: a piece can be read');
      assert.equal(p.client.readLine(50)?.toString(), 'x'.repeat(50));
      assert.equal(p.client.readLine(50)?.toString(), `${'x'.repeat(10)}\n`, 'the rest of the line, with its newline');
      assert.equal(p.client.bytesAvailable, 0);

      await p.accepted.write(long);
      await until(p.client, 61);
      assert.equal(p.client.readLine(61)?.toString(), long, 'a line of exactly max bytes is read whole');

      // No newline at all: pieces of max bytes, and what is left waits for more.
      await p.accepted.write('y'.repeat(100));
      await until(p.client, 100);
      assert.equal(p.client.readLine(200), null, 'under a larger maximum it is just incomplete');
      assert.equal(p.client.readLine(40)?.toString(), 'y'.repeat(40));
      assert.equal(p.client.readLine(40)?.toString(), 'y'.repeat(40));
      assert.equal(p.client.canReadLine(40), false);
      assert.equal(p.client.readLine(40), null, '20 bytes left, no newline: incomplete');
      assert.equal(p.client.read().toString(), 'y'.repeat(20), 'the data is intact');
    } finally {
      await p.close();
    }
  });

  test('what the peer sent before closing stays readable after it closed', async () => {
    const p = await pair();
    try {
      await p.accepted.write('last words');
      await p.accepted.disconnectFromServer();
      await p.client.waitForDisconnected({ timeout: 3000 });
      assert.equal(p.client.state, 'unconnected');
      assert.equal(p.client.read().toString(), 'last words');
    } finally {
      await p.close();
    }
  });

  test('reading a socket that never connected, or that we closed, is INVALID_STATE', async () => {
    const fresh = new LocalSocket();
    throwsCode(() => fresh.read(), 'INVALID_STATE');
    throwsCode(() => fresh.peek(), 'INVALID_STATE');
    throwsCode(() => fresh.readLine(), 'INVALID_STATE');
    const p = await pair();
    try {
      p.client.abort();
      throwsCode(() => p.client.read(), 'INVALID_STATE');
      throwsCode(() => p.client.readLine(), 'INVALID_STATE');
      await rejectsWith(p.client.write('x'), 'INVALID_STATE');
    } finally {
      await p.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('read-buffer backpressure', () => {
  test('maxReadBuffer 64 KiB: a 16 MiB sender is held back, then everything arrives intact and in order', async () => {
    const LIMIT = 64 * 1024;
    const TOTAL = 16 * 1024 * 1024;
    const p = await pair({ maxReadBuffer: LIMIT });
    try {
      assert.equal(p.client.maxReadBuffer, LIMIT);
      const data = randomBytes(TOTAL);
      let maxAvailable = 0;
      let lastArrival = Date.now();
      p.client.on('readyRead', () => {
        maxAvailable = Math.max(maxAvailable, p.client.bytesAvailable);
        lastArrival = Date.now();
      });
      let sent = false;
      const sending = (async () => {
        for (let off = 0; off < TOTAL; off += 256 * 1024) await p.accepted.write(data.subarray(off, off + 256 * 1024));
        sent = true;
      })();
      sending.catch(() => {});

      // Nobody reads: the buffer fills to its bound and stops there. The bound is the limit plus one
      // kernel read. Windows: libuv reads all a pipe holds at once (PeekNamedPipe), the peer's pending
      // write included, so one read can be a whole 256 KiB write plus libuv's 64 KiB pipe buffer.
      const BOUND = isWindows ? LIMIT + 256 * 1024 + 64 * 1024 : 2 * LIMIT;
      await waitFor(() => p.client.bytesAvailable >= LIMIT && Date.now() - lastArrival > 250, 5000, 'the read buffer to fill and settle');
      assert.ok(p.client.bytesAvailable <= BOUND, `bytesAvailable ${p.client.bytesAvailable}`);
      assert.equal(sent, false, 'the sender is held back by backpressure');

      // Now read everything.
      const hash = createHash('sha256');
      let received = 0;
      while (received < TOTAL) {
        if (p.client.bytesAvailable === 0) await p.client.waitForReadyRead({ timeout: 5000 });
        const chunk = p.client.read();
        hash.update(chunk);
        received += chunk.length;
      }
      await sending;
      assert.equal(received, TOTAL);
      assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'all 16 MiB, in order');
      assert.ok(maxAvailable <= BOUND, `bytesAvailable peaked at ${maxAvailable}`);
    } finally {
      await p.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('connecting', () => {
  test('waitForServer retries until a server appears (listening 300 ms after the connect began)', async () => {
    const name = uniqueName('later');
    const client = new LocalSocket();
    const connecting = client.connectToServer(name, { waitForServer: true, timeout: 5000, auth: false });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(client.state, 'connecting', 'still waiting for the server');
    const server = await listen(name, { auth: false });
    try {
      await connecting;
      assert.equal(client.state, 'connected');
      const accepted = await server.waitForNewConnection({ timeout: 3000 });
      await client.write('found you');
      await until(accepted, 9);
      assert.equal(accepted.read().toString(), 'found you');
      accepted.abort();
      client.abort();
    } finally {
      await server.close();
    }
  });

  test('waitForServer also covers a full path (Windows: a full pipe name) whose socket appears later', async () => {
    const d = tempDir();
    dirs.push(d);
    const file = fullName(d, 'later.sock');
    const connecting = connect(file, { waitForServer: true, timeout: 5000, auth: false });
    await new Promise((r) => setTimeout(r, 300));
    const server = await listen(file, { auth: false });
    try {
      const client = await connecting;
      assert.equal(client.state, 'connected');
      client.abort();
    } finally {
      await server.close();
    }
  });

  test('60 clients waiting for a server at once all connect when it appears (no early TIMEOUT from the backoff)', async () => {
    const name = uniqueName('crowd');
    const attempts = Array.from({ length: 60 }, () => connect(name, { waitForServer: true, timeout: 4000, auth: false }));
    await new Promise((r) => setTimeout(r, 400));
    const server = await listen(name, { auth: false, maxPendingConnections: 100 });
    try {
      const results = await Promise.allSettled(attempts);
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as LocalSocketError).code] : []));
      assert.deepEqual(failures, [], 'every waiting client connected');
      for (const r of results) if (r.status === 'fulfilled') r.value.abort();
    } finally {
      await server.close();
    }
  });

  test('without waitForServer a missing name is SERVER_NOT_FOUND at once (not a TIMEOUT)', async () => {
    await rejectsWith(connect(uniqueName('missing'), { timeout: 5000 }), 'SERVER_NOT_FOUND');
    const d = tempDir();
    dirs.push(d);
    await rejectsWith(connect(fullName(d, 'missing.sock'), { timeout: 5000 }), 'SERVER_NOT_FOUND');
  });

  test('with waitForServer and no server, the deadline ends the wait with TIMEOUT', async () => {
    await rejectsWith(connect(uniqueName('none'), { waitForServer: true, timeout: 200 }), 'TIMEOUT');
  });

  test('an AbortSignal aborts a waiting connect with ABORTED', async () => {
    const controller = new AbortController();
    const client = new LocalSocket();
    const log = record(client);
    const connecting = client.connectToServer(uniqueName('abortme'), { waitForServer: true, timeout: 10_000, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(client.state, 'connecting');
    const started = Date.now();
    controller.abort();
    await rejectsWith(connecting, 'ABORTED');
    assert.ok(Date.now() - started < 2000, 'promptly, not at the deadline');
    assert.equal(client.state, 'unconnected');
    assert.deepEqual(log.slice(0, 2), ['unconnected->connecting', 'connecting->unconnected']);
    await rejectsWith(connect(uniqueName('pre'), { signal: AbortSignal.abort(), waitForServer: true }), 'ABORTED');
  });

  test('connect options are validated', async () => {
    for (const timeout of [NaN, Infinity, '100', 2 ** 31]) {
      await assert.rejects(connect(uniqueName('v'), { timeout: timeout as number }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    }
    await assert.rejects(connect(uniqueName('v'), { signal: 'x' as unknown as AbortSignal }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(connect(uniqueName('v'), { waitForServer: 1 as unknown as boolean }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
  });

  test('limits given to connectToServer() apply to the connection; those it does not give stay as the constructor set them', async () => {
    const name = uniqueName('limits');
    const server = await listen(name, { auth: false });
    const sockets: LocalSocket[] = [];
    try {
      const given = new LocalSocket({ maxWriteBuffer: 2048 });
      sockets.push(given);
      await given.connectToServer(name, { auth: false, timeout: 3000, maxReadBuffer: 4096 });
      assert.equal(given.maxReadBuffer, 4096, 'the limit connectToServer() was given');
      assert.equal(given.maxWriteBuffer, 2048, "the constructor's limit, not given again");
      const peer = await server.waitForNewConnection({ timeout: 3000 });
      sockets.push(peer);
      // The limit is enforced, not only reported: never more than 4096 bytes readable.
      const sent = randomBytes(20_000);
      const writing = peer.write(sent);
      const received: Buffer[] = [];
      let total = 0;
      while (total < sent.length) {
        if (given.bytesAvailable === 0) await given.waitForReadyRead({ timeout: 10_000 });
        assert.ok(given.bytesAvailable <= 4096, `bytesAvailable ${given.bytesAvailable} > 4096`);
        const chunk = given.read(1000);
        received.push(chunk);
        total += chunk.length;
      }
      await writing;
      assert.ok(Buffer.concat(received).equals(sent));
      const plain = new LocalSocket({ maxReadBuffer: 512 });
      sockets.push(plain);
      await plain.connectToServer(name, { auth: false, timeout: 3000 });
      assert.equal(plain.maxReadBuffer, 512, "without limits in connectToServer()'s options, the constructor's stay");
      assert.equal(plain.maxWriteBuffer, DEFAULTS.maxWriteBuffer);
    } finally {
      for (const s of sockets) s.abort();
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------

/** Echoes every connection; half-closed by the peer, it flushes and closes (library default). */
function echoServer(server: LocalServer): void {
  const serve = (): void => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket = s;
      socket.on('error', () => {});
      socket.on('readyRead', () => void socket.write(socket.read()).catch(() => {}));
    }
  };
  server.on('newConnection', serve);
}

describe('Node stream interop', () => {
  test('stream.pipeline(file -> socket.toStream() -> file) through an echo server (5 rounds)', { timeout: 15_000 }, async () => {
    const d = tempDir();
    dirs.push(d);
    const name = uniqueName('pipe');
    const server = await listen(name);
    echoServer(server);
    try {
      for (let round = 0; round < 5; round++) {
        const input = path.join(d, `in-${round}.bin`);
        const output = path.join(d, `out-${round}.bin`);
        const data = randomBytes(1024 * 1024 + 12345 * round);
        fs.writeFileSync(input, data);
        const client = await connect(name, { timeout: 3000 });
        try {
          await noStrayErrors(async () => {
            const piping = pipeline(fs.createReadStream(input), client.toStream(), fs.createWriteStream(output));
            await deadline(piping, 5000, `round ${round}: pipeline`);
          });
          assert.ok(fs.readFileSync(output).equals(data), `round ${round}: the file came back byte for byte`);
          await client.waitForDisconnected({ timeout: 3000 });
        } finally {
          client.abort();
        }
      }
    } finally {
      await server.close();
    }
  });

  test('stream.pipeline into socket.toStream() alone, collecting the echo with for await', { timeout: 10_000 }, async () => {
    const d = tempDir();
    dirs.push(d);
    const input = path.join(d, 'in.bin');
    const data = randomBytes(512 * 1024);
    fs.writeFileSync(input, data);
    const name = uniqueName('pipe2');
    const server = await listen(name);
    echoServer(server);
    try {
      const client = await connect(name, { timeout: 3000 });
      try {
        const chunks: Buffer[] = [];
        const collecting = (async () => {
          for await (const chunk of client) chunks.push(chunk);
        })();
        await deadline(pipeline(fs.createReadStream(input), client.toStream()), 5000, 'pipeline');
        await deadline(collecting, 5000, 'for await');
        assert.ok(Buffer.concat(chunks).equals(data));
      } finally {
        client.abort();
      }
    } finally {
      await server.close();
    }
  });

  test('for await (const chunk of socket) yields everything the peer sent, then ends', { timeout: 10_000 }, async () => {
    const p = await pair();
    try {
      const sent: Buffer[] = [];
      const sending = (async () => {
        for (let i = 0; i < 50; i++) {
          const b = randomBytes(1000 + i * 97);
          sent.push(b);
          await p.accepted.write(b);
        }
        await p.accepted.disconnectFromServer();
      })();
      const got: Buffer[] = [];
      const collecting = (async () => {
        for await (const chunk of p.client) {
          assert.ok(Buffer.isBuffer(chunk) && chunk.length > 0);
          got.push(chunk);
        }
      })();
      await deadline(collecting, 5000, 'for await');
      await sending;
      assert.ok(Buffer.concat(got).equals(Buffer.concat(sent)));
    } finally {
      await p.close();
    }
  });

  test('toStream(): a reply that arrives after our end() (state closing) is still read, then the stream ends', { skip: isWindows && NO_HALF_CLOSE }, async () => {
    // A plain half-close-capable peer (raw mode): it answers only after it has seen our end-of-stream.
    const d = tempDir();
    dirs.push(d);
    const file = path.join(d, 'late.sock');
    const peer = net.createServer({ allowHalfOpen: true }, (c) => {
      let request = '';
      c.on('data', (b: Buffer) => (request += b.toString()));
      c.on('end', () => setTimeout(() => c.end(`late reply to ${request}`), 30));
    });
    await new Promise<void>((resolve) => peer.listen(file, resolve));
    const client = await connect(file, { timeout: 3000, auth: false });
    try {
      const stream = client.toStream();
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c)); // reading starts while nothing is there
      const ended = once(stream, 'end');
      ended.catch(() => {});
      stream.end('request');
      await waitFor(() => client.state === 'closing', 3000, 'the client to half-close');
      await deadline(ended, 3000, 'the readable side to end');
      assert.equal(Buffer.concat(chunks).toString(), 'late reply to request');
    } finally {
      client.abort();
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  });

  test('toStream() destroyed with an error aborts the socket', async () => {
    const p = await pair();
    try {
      const stream = p.client.toStream();
      stream.on('error', () => {});
      stream.destroy(new Error('caller gave up'));
      assert.equal(p.client.state, 'unconnected');
      await p.accepted.waitForDisconnected({ timeout: 3000 });
    } finally {
      await p.close();
    }
  });
});

// ---------------------------------------------------------------------------

/** Calls both close operations twice, in both orders; none may throw. */
function closeEveryWay(socket: LocalSocket, order: 'disconnect-first' | 'abort-first'): Promise<void>[] {
  const promises: Promise<void>[] = [];
  assert.doesNotThrow(() => {
    if (order === 'disconnect-first') {
      promises.push(socket.disconnectFromServer(), socket.disconnectFromServer());
      socket.abort();
      socket.abort();
    } else {
      socket.abort();
      socket.abort();
      promises.push(socket.disconnectFromServer(), socket.disconnectFromServer());
    }
  });
  return promises;
}

describe('disconnectFromServer and abort are idempotent in every state', { timeout: 30_000 }, () => {
  for (const order of ['disconnect-first', 'abort-first'] as const) {
    test(`unconnected (never connected), ${order}`, async () => {
      await noStrayErrors(async () => {
        const socket = new LocalSocket();
        const log = record(socket);
        await Promise.all(closeEveryWay(socket, order));
        assert.equal(socket.state, 'unconnected');
        assert.deepEqual(log, [], 'nothing happens: no state change, no event');
        assert.equal(socket.lastError, null);
        assert.equal(socket.bytesToWrite, 0);
      });
    });

    test(`connecting (waiting for a server), ${order}`, async () => {
      await noStrayErrors(async () => {
        const socket = new LocalSocket();
        const log = record(socket);
        const connecting = socket.connectToServer(uniqueName('never'), { waitForServer: true, timeout: 10_000 });
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(socket.state, 'connecting');
        await Promise.all(closeEveryWay(socket, order));
        await rejectsWith(connecting, 'ABORTED');
        assert.equal(socket.state, 'unconnected');
        assert.deepEqual(log, ['unconnected->connecting', 'connecting->unconnected']);
        await Promise.all(closeEveryWay(socket, order));
        assert.equal(log.length, 2);
      });
    });

    test(`connecting (in the handshake with a silent server), ${order}`, async () => {
      await noStrayErrors(async () => {
        const d = tempDir();
        dirs.push(d);
        const file = fullName(d, 'silent.sock');
        const peers: net.Socket[] = [];
        // Accepts and reads (the client hello), never answers the handshake.
        const silent = net.createServer((c) => {
          peers.push(c);
          c.resume();
        });
        await new Promise<void>((resolve) => silent.listen(file, resolve));
        try {
          const socket = new LocalSocket();
          const log = record(socket);
          const connecting = socket.connectToServer(file, { timeout: 10_000 });
          await waitFor(() => peers.length === 1, 3000, 'the transport to connect');
          assert.equal(socket.state, 'connecting');
          const started = Date.now();
          await Promise.all(closeEveryWay(socket, order));
          await rejectsWith(connecting, 'ABORTED');
          assert.ok(Date.now() - started < 2000);
          assert.deepEqual(log, ['unconnected->connecting', 'connecting->unconnected']);
          // The transport was let go.
          await new Promise<void>((resolve) => (peers[0]!.destroyed ? resolve() : peers[0]!.once('close', () => resolve())));
        } finally {
          for (const c of peers) c.destroy();
          await new Promise<void>((resolve) => silent.close(() => resolve()));
        }
      });
    });

    test(`connected, ${order}`, async () => {
      await noStrayErrors(async () => {
        const socket = new LocalSocket();
        const log = record(socket);
        const p = await pair({}, socket);
        try {
          await Promise.all(closeEveryWay(socket, order));
          assert.equal(socket.state, 'unconnected');
          assert.equal(log.filter((l) => l === 'disconnected').length, 1);
          assert.equal(log.filter((l) => l.endsWith('->unconnected')).length, 1);
          assert.ok(!log.some((l) => l.startsWith('error:')), log.join(', '));
          await p.accepted.waitForDisconnected({ timeout: 3000 });
          // And again, now that it is unconnected.
          await Promise.all(closeEveryWay(socket, order));
          assert.equal(log.filter((l) => l === 'disconnected').length, 1);
        } finally {
          await p.close();
        }
      });
    });

    test(`closing (a flush is pending), ${order}`, async () => {
      await noStrayErrors(async () => {
        const socket = new LocalSocket();
        const log = record(socket);
        const p = await pair({ maxWriteBuffer: 256 * 1024 }, socket);
        try {
          // The server does not read: the flush cannot finish.
          const big = socket.write(Buffer.alloc(8 * 1024 * 1024, 1));
          big.catch(() => {});
          await waitFor(() => socket.bytesToWrite > 0, 3000, 'bytes queued');
          const closing = socket.disconnectFromServer();
          assert.equal(socket.state, 'closing');
          const more = closeEveryWay(socket, order);
          await Promise.all([closing, ...more]);
          assert.equal(socket.state, 'unconnected');
          await rejectsWith(big, 'ABORTED');
          assert.equal(log.filter((l) => l === 'disconnected').length, 1);
          assert.deepEqual(
            log.filter((l) => l.includes('->')),
            ['unconnected->connecting', 'connecting->connected', 'connected->closing', 'closing->unconnected'],
          );
          await Promise.all(closeEveryWay(socket, order));
          assert.equal(log.filter((l) => l === 'disconnected').length, 1);
        } finally {
          await p.close();
        }
      });
    });
  }

  test('closing: a second disconnectFromServer waits for the same flush, which completes', async () => {
    await noStrayErrors(async () => {
      const socket = new LocalSocket();
      const log = record(socket);
      const p = await pair({ maxWriteBuffer: 256 * 1024 }, socket);
      try {
        const size = 4 * 1024 * 1024;
        const big = socket.write(Buffer.alloc(size, 2));
        await waitFor(() => socket.bytesToWrite > 0, 3000, 'bytes queued');
        const first = socket.disconnectFromServer();
        const second = socket.disconnectFromServer();
        assert.equal(socket.state, 'closing');
        let received = 0;
        p.accepted.on('readyRead', () => (received += p.accepted.read().length));
        await Promise.all([first, second, big]);
        assert.equal(socket.state, 'unconnected');
        await waitFor(() => received === size, 5000, 'every queued byte to arrive');
        assert.equal(log.filter((l) => l === 'disconnected').length, 1);
      } finally {
        await p.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------

test('connect timeout has a finite default: waiting for a server that never comes ends with TIMEOUT', { timeout: 30_000 }, async () => {
  assert.ok(Number.isFinite(DEFAULTS.connectTimeout) && DEFAULTS.connectTimeout > 0 && DEFAULTS.connectTimeout <= 60_000);
  const result = await defaultDeadline;
  assert.equal(result.code, 'TIMEOUT');
  assert.ok(result.elapsed >= DEFAULTS.connectTimeout - 50, `gave up after ${result.elapsed} ms, the default is ${DEFAULTS.connectTimeout} ms`);
});

describe('half-close between two localsocket peers', () => {
  for (const allowHalfOpen of [true, false]) {
    test(`allowHalfOpen ${allowHalfOpen}: a reply written after the client's end() ${allowHalfOpen ? 'arrives' : 'is refused, the socket having closed'}`, { skip: allowHalfOpen && isWindows && NO_HALF_CLOSE }, async () => {
      const server = await listen(uniqueName('half'), { key: Buffer.alloc(32, 4), allowHalfOpen });
      const outcome = new Promise<string>((resolve) => {
        void server.waitForNewConnection({ timeout: 5000 }).then((peer) => {
          peer.on('readChannelFinished', () => {
            // Answer only after an await, as an async daemon would.
            setTimeout(() => {
              const request = peer.readAll().toString();
              peer.write(`reply to ${request}`).then(
                () => peer.disconnectFromServer().then(() => resolve('sent')),
                (err: LocalSocketError) => resolve(err.code),
              );
            }, 30);
          });
        });
      });
      const client = await connect(server.serverName!, { key: Buffer.alloc(32, 4), timeout: 3000 });
      await client.write('ping');
      await client.end();
      assert.equal(client.state, 'closing');
      await client.waitForDisconnected({ timeout: 5000 });
      const result = await outcome;
      if (allowHalfOpen) {
        assert.equal(result, 'sent');
        assert.equal(client.readAll().toString(), 'reply to ping');
      } else {
        assert.equal(result, 'INVALID_STATE');
        assert.equal(client.bytesAvailable, 0);
      }
      await server.close();
    });
  }
});
