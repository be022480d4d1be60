/**
 * Reading, waiting and events as a Qt user expects them (QLocalSocket /
 * QLocalServer), one suite per behaviour that once differed: the wait loop,
 * a readyRead read by another handler, events before the socket is handed
 * out, the buffer after a local or a peer close, errors on every channel,
 * close() during listen(), and readLine on lines of any length.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError, type ConnectOptions, type ServerOptions } from '../src/index.js';
import { delay, pair as sharedPair, rejectsWith, throwsWith, type Pair } from './connection-helpers.js';
import { distDir, finished, fullName, isWindows, tempDir, uniqueName } from './helpers.js';

const KEY = randomBytes(32);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir('lsqt-');
  dirs.push(d);
  return d;
}

/** The shared pair (connection-helpers.ts), authenticated with this file's in-memory key unless raw. */
function pair(serverOptions: ServerOptions = {}, clientOptions: ConnectOptions = {}): Promise<Pair> {
  return sharedPair({ key: KEY, ...serverOptions }, { key: KEY, ...clientOptions });
}

/** Resolves on the next `event` of `socket`, or rejects after `ms`. */
function next(socket: LocalSocket, event: 'readyRead' | 'readChannelFinished', ms = 5000): Promise<unknown> {
  return once(socket, event, { signal: AbortSignal.timeout(ms) });
}

// ---- 1. the Qt wait loop ------------------------------------------------------

describe('waitForReadyRead waits for new data (the Qt wait loop ends)', () => {
  test('while (bytesAvailable < n) await waitForReadyRead() waits for each new piece and ends', async () => {
    const p = await pair();
    try {
      await p.peer.write('abc');
      while (p.client.bytesAvailable < 3) await p.client.waitForReadyRead({ timeout: 5000 });
      // A partial message is buffered now: the loop must wait for the rest, not spin on what is there.
      setTimeout(() => void p.peer.write('defghij'), 30);
      let turns = 0;
      while (p.client.bytesAvailable < 10) {
        turns++;
        // Before, each wait resolved at once on the buffered bytes: the loop ran only microtasks, forever.
        assert.ok(turns <= 10, 'the loop spins instead of waiting for new data');
        await p.client.waitForReadyRead({ timeout: 5000 });
      }
      assert.equal(p.client.read().toString(), 'abcdefghij');
    } finally {
      await p.close();
    }
  });

  test('with a partial message buffered and nothing new, the wait times out (its own deadline fires)', async () => {
    const p = await pair();
    try {
      await p.peer.write('partial');
      while (p.client.bytesAvailable < 7) await p.client.waitForReadyRead({ timeout: 5000 });
      await rejectsWith(p.client.waitForReadyRead({ timeout: 100 }), 'TIMEOUT');
      assert.equal(p.client.bytesAvailable, 7, 'the buffered bytes stay');
    } finally {
      await p.close();
    }
  });

  test('the loop ends with PEER_CLOSED when the peer closes before the message is whole', async () => {
    const p = await pair();
    try {
      await p.peer.write('half');
      setTimeout(() => void p.peer.disconnectFromServer(), 30);
      const loop = (async () => {
        for (let turns = 1; p.client.bytesAvailable < 100; turns++) {
          assert.ok(turns <= 10, 'the loop spins instead of waiting for new data');
          await p.client.waitForReadyRead({ timeout: 5000 });
        }
      })();
      await rejectsWith(loop, 'PEER_CLOSED', 'the wait loop');
      assert.equal(p.client.read().toString(), 'half', 'what was received stays readable');
      await rejectsWith(p.client.waitForReadyRead({ timeout: 5000 }), 'PEER_CLOSED', 'a wait after the peer closed');
    } finally {
      await p.close();
    }
  });

  test('after the peer half-closed (allowHalfOpen), a wait rejects at once with PEER_CLOSED', { skip: isWindows && 'Windows named pipes have no half-close' }, async () => {
    const p = await pair({}, { allowHalfOpen: true });
    try {
      await p.peer.end();
      await next(p.client, 'readChannelFinished');
      assert.equal(p.client.state, 'connected');
      await rejectsWith(p.client.waitForReadyRead({ timeout: 5000 }), 'PEER_CLOSED');
    } finally {
      await p.close();
    }
  });
});

// ---- 2. a readyRead read by another handler -----------------------------------

describe('a readyRead read by another handler still wakes a waiter', () => {
  test('one handler reads everything on readyRead; a concurrent waitForReadyRead resolves', async () => {
    const p = await pair();
    try {
      const seen: string[] = [];
      p.client.on('readyRead', () => seen.push(p.client.read().toString()));
      const waiting = p.client.waitForReadyRead({ timeout: 5000 });
      await p.peer.write('taken by the handler');
      await waiting; // before: TIMEOUT, the waiter looked at an empty buffer
      assert.equal(p.client.bytesAvailable, 0);
      assert.deepEqual(seen, ['taken by the handler']);
    } finally {
      await p.close();
    }
  });

  test('...and stays resolved when the peer closes right after', async () => {
    const p = await pair();
    try {
      p.client.on('readyRead', () => p.client.read());
      const waiting = p.client.waitForReadyRead({ timeout: 5000 });
      await p.peer.write('last words');
      void p.peer.disconnectFromServer();
      await waiting; // before: PEER_CLOSED
    } finally {
      await p.close();
    }
  });
});

// ---- 3. no event before the socket is handed out ----------------------------------

describe('no event of a socket fires before it is handed out', () => {
  test('client: a greeting that comes with the end of the handshake is announced after await connect()', async () => {
    // The server greets as soon as it takes a connection: the greeting often arrives with the handshake's last bytes.
    const name = uniqueName('greet');
    const server = await listen(name, { key: KEY });
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) void s.write('hello\n');
    });
    try {
      for (let round = 0; round < 10; round++) {
        const socket = await connect(name, { key: KEY, timeout: 5000 });
        try {
          const heard = next(socket, 'readyRead', 5000);
          await heard.catch(() => assert.fail(`round ${round}: readyRead for the greeting never came after connect() resolved`));
          assert.equal(socket.readLine()?.toString(), 'hello\n');
        } finally {
          socket.abort();
        }
      }
    } finally {
      await server.close();
    }
  });

  test('client: a server that greets and closes at once: readyRead, readChannelFinished, disconnected, in that order', async () => {
    const name = uniqueName('bye');
    const server = await listen(name, { key: KEY });
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
        void s.write('go away\n');
        void s.disconnectFromServer();
      }
    });
    try {
      for (let round = 0; round < 10; round++) {
        const socket = await connect(name, { key: KEY, timeout: 5000 });
        const events: string[] = [];
        let greeting = '';
        socket.on('readyRead', () => {
          events.push('readyRead');
          greeting += socket.read().toString();
        });
        socket.on('readChannelFinished', () => events.push('readChannelFinished'));
        socket.on('disconnected', () => events.push('disconnected'));
        await socket.waitForDisconnected({ timeout: 5000 });
        assert.equal(greeting, 'go away\n', `round ${round}`);
        assert.deepEqual(events.filter((e, i) => e !== 'readyRead' || events.indexOf('readyRead') === i), ['readyRead', 'readChannelFinished', 'disconnected'], `round ${round}`);
      }
    } finally {
      await server.close();
    }
  });

  test('server: bytes and end-of-stream that came while the connection was pending are announced after nextPendingConnection()', { skip: isWindows && 'Windows named pipes have no half-close' }, async () => {
    const p = await pair({ allowHalfOpen: true });
    try {
      // A second client writes and half-closes before the server takes it.
      const client = await connect(p.name, { key: KEY, timeout: 5000 });
      await client.write('early bytes');
      await client.end();
      const deadline = Date.now() + 5000;
      while (!p.server.hasPendingConnections() && Date.now() < deadline) await delay(5);
      await delay(50); // the bytes and the end-of-stream reach the pending socket
      const taken = p.server.nextPendingConnection();
      assert.ok(taken);
      const events: string[] = [];
      taken.on('readyRead', () => events.push(`readyRead:${taken.bytesAvailable}`));
      taken.on('readChannelFinished', () => events.push('readChannelFinished'));
      await next(taken, 'readChannelFinished');
      assert.deepEqual(events, ['readyRead:11', 'readChannelFinished']);
      assert.equal(taken.read().toString(), 'early bytes');
      taken.abort();
      client.abort();
    } finally {
      await p.close();
    }
  });

  test('server: waitForNewConnection and for await hand out sockets whose early bytes are announced after', async () => {
    const name = uniqueName('early');
    const server = await listen(name, { key: KEY });
    const clients: LocalSocket[] = [];
    try {
      for (const how of ['waitForNewConnection', 'for await'] as const) {
        const client = await connect(name, { key: KEY, timeout: 5000 });
        clients.push(client);
        await client.write(`${how}\n`);
        await delay(30);
        let taken: LocalSocket | undefined;
        if (how === 'waitForNewConnection') taken = await server.waitForNewConnection({ timeout: 5000 });
        else for await (const s of server) {
          taken = s;
          break;
        }
        assert.ok(taken);
        await next(taken, 'readyRead').catch(() => assert.fail(`${how}: no readyRead for bytes that came before the hand-out`));
        assert.equal(taken.readLine()?.toString(), `${how}\n`);
        taken.abort();
      }
    } finally {
      for (const c of clients) c.abort();
      await server.close();
    }
  });

  test('a waitForReadyRead started right after the hand-out hears the early bytes, even if the peer has left', async () => {
    const name = uniqueName('left');
    const server = await listen(name, { key: KEY });
    try {
      const client = await connect(name, { key: KEY, timeout: 5000 });
      await client.write('bye');
      const taken = await server.waitForNewConnection({ timeout: 5000 });
      const waiting = taken.waitForReadyRead({ timeout: 5000 });
      client.abort();
      await waiting;
      assert.equal(taken.read().toString(), 'bye');
      taken.abort();
    } finally {
      await server.close();
    }
  });
});

// ---- 4. the buffer after a local or a peer close --------------------------------

describe('the read buffer after a close', () => {
  for (const how of ['disconnectFromServer', 'abort'] as const) {
    test(`a local ${how}() drops what is unread: bytesAvailable is 0 and read() fails alike`, async () => {
      const p = await pair();
      try {
        await p.peer.write('unread');
        while (p.client.bytesAvailable < 6) await p.client.waitForReadyRead({ timeout: 5000 });
        const closing = how === 'abort' ? (p.client.abort(), Promise.resolve()) : p.client.disconnectFromServer();
        assert.equal(p.client.bytesAvailable, 0, 'at once, even while closing');
        throwsWith(() => p.client.read(), 'INVALID_STATE', 'read while closing');
        await closing;
        assert.equal(p.client.state, 'unconnected');
        assert.equal(p.client.bytesAvailable, 0, 'before: 6, while read() threw INVALID_STATE');
        throwsWith(() => p.client.read(), 'INVALID_STATE', 'read');
        throwsWith(() => p.client.peek(), 'INVALID_STATE', 'peek');
        throwsWith(() => p.client.readLine(), 'INVALID_STATE', 'readLine');
        assert.equal(p.client.canReadLine(), false);
        await rejectsWith(p.client.waitForReadyRead({ timeout: 5000 }), 'INVALID_STATE');
      } finally {
        await p.close();
      }
    });
  }

  test('disconnectFromServer() after the peer closed drops what was left too', async () => {
    const p = await pair();
    try {
      await p.peer.write('left over');
      await p.peer.disconnectFromServer();
      await p.client.waitForDisconnected({ timeout: 5000 });
      assert.equal(p.client.bytesAvailable, 9, 'readable after the peer closed');
      await p.client.disconnectFromServer();
      assert.equal(p.client.bytesAvailable, 0);
      throwsWith(() => p.client.read(), 'INVALID_STATE');
    } finally {
      await p.close();
    }
  });

  test('after a peer close, what was received stays readable, the last line without a newline included', async () => {
    const p = await pair();
    try {
      await p.peer.write('first\nlast');
      await p.peer.disconnectFromServer();
      await p.client.waitForDisconnected({ timeout: 5000 });
      assert.equal(p.client.canReadLine(), true);
      assert.equal(p.client.readLine()?.toString(), 'first\n');
      assert.equal(p.client.canReadLine(), true, 'the stream has ended: the rest is a line');
      assert.equal(p.client.readLine()?.toString(), 'last', 'before: null forever');
      assert.equal(p.client.readLine(), null);
      assert.equal(p.client.bytesAvailable, 0);
    } finally {
      await p.close();
    }
  });

  test('the line loop while (!canReadLine()) await waitForReadyRead() gets a last line that the peer ends without a newline', async () => {
    const p = await pair();
    try {
      const line = (async () => {
        while (!p.client.canReadLine()) await p.client.waitForReadyRead({ timeout: 5000 });
        return p.client.readLine()?.toString();
      })();
      await p.peer.write('no newline, then the end');
      await delay(30);
      await p.peer.disconnectFromServer();
      // The end-of-stream, arriving during a wait with bytes unread, makes them a line: the wait resolves.
      assert.equal(await line, 'no newline, then the end');
      await rejectsWith(p.client.waitForReadyRead({ timeout: 5000 }), 'PEER_CLOSED', 'nothing more can come');
    } finally {
      await p.close();
    }
  });

  test('while the connection is open, a last piece without a newline waits for more', async () => {
    const p = await pair();
    try {
      await p.peer.write('no newline yet');
      while (p.client.bytesAvailable < 14) await p.client.waitForReadyRead({ timeout: 5000 });
      assert.equal(p.client.readLine(), null);
      assert.equal(p.client.canReadLine(), false);
    } finally {
      await p.close();
    }
  });
});

// ---- 5. errors on every channel -----------------------------------------------

describe('a failed connect reports on every channel and moves the state machine', () => {
  const cases: Array<[string, string, ConnectOptions, string]> = [
    ['an empty name', '', {}, 'INVALID_NAME'],
    ['a name with a NUL', 'a\0b', {}, 'INVALID_NAME'],
    ['a bad timeout option', 'fine-name', { timeout: Number.NaN }, 'INVALID_ARGUMENT'],
    ['a name nobody listens on', uniqueName('nobody'), { auth: false, timeout: 2000 }, 'SERVER_NOT_FOUND'],
  ];
  for (const [what, name, options, code] of cases) {
    test(`${what}: ${code} as the rejection, the error event and lastError; connecting -> unconnected`, async () => {
      const socket = new LocalSocket();
      const states: string[] = [];
      const errors: LocalSocketError[] = [];
      socket.on('stateChanged', (state, previous) => states.push(`${previous}->${state}`));
      socket.on('error', (err) => errors.push(err));
      const rejection = await rejectsWith(socket.connectToServer(name, options), code as never, what);
      assert.equal(errors.length, 1, 'one error event');
      assert.equal(errors[0], rejection, 'the same error on the event');
      assert.equal(socket.lastError, rejection, 'and on lastError');
      assert.deepEqual(states, ['unconnected->connecting', 'connecting->unconnected']);
      assert.equal(socket.state, 'unconnected');
      // The socket is used up, as after any connect attempt (one connect per LocalSocket).
      await rejectsWith(socket.connectToServer(uniqueName('again')), 'INVALID_STATE', 'a second connect');
      assert.equal(socket.lastError, rejection, 'a call-level INVALID_STATE does not replace the connection error');
      assert.equal(errors.length, 1);
    });
  }
});

// ---- 6. close() during listen() -----------------------------------------------

describe('LocalServer.close() at any moment, listen() in progress included', () => {
  const moments: Array<[string, () => Promise<void>]> = [
    ['at once', async () => {}],
    ['after a turn of the event loop', () => new Promise((r) => setImmediate(r))],
    ['after 1 ms', () => delay(1)],
    ['after 5 ms', () => delay(5)],
  ];
  for (const [when, wait] of moments) {
    test(`close() ${when} after listen(): afterwards nothing listens and nothing is on disk`, async () => {
      const d = dir();
      const name = fullName(d, 'closing.sock');
      const server = new LocalServer({ key: KEY });
      const listening = server.listen(name).then(
        () => 'listened',
        (err: unknown) => (err instanceof LocalSocketError ? err.code : String(err)),
      );
      await wait();
      await server.close();
      const outcome = await listening;
      // Either the bind finished before close() (then close() undid it) or listen() was cut short.
      assert.ok(outcome === 'listened' || outcome === 'ABORTED', `listen() settled with ${outcome}`);
      assert.equal(server.state, 'closed');
      if (!isWindows) assert.deepEqual(fs.readdirSync(d), [], 'no socket file and no staging directory left');
      await rejectsWith(connect(name, { auth: false, timeout: 1000 }), 'SERVER_NOT_FOUND', 'a connect after close()');
      await rejectsWith(server.listen(name), 'INVALID_STATE', 'listen() again');
    });
  }

  test('close() while listen() binds, in a child process: listen() rejects ABORTED and the process exits by itself', async () => {
    const d = dir();
    const name = fullName(d, 'child.sock');
    const index = pathToFileURL(path.join(distDir, 'src', 'index.js')).href;
    const script = [
      `import { LocalServer } from ${JSON.stringify(index)};`,
      `const server = new LocalServer({ auth: false });`,
      `const listening = server.listen(${JSON.stringify(name)}).then(() => 'listened', (e) => e.code);`,
      `await server.close();`,
      `console.log('listen', await listening, 'state', server.state);`,
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Before: listen() resolved, the server kept listening and the process never exited.
    const result = await finished(child, 15_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'listen ABORTED state closed');
    if (!isWindows) assert.deepEqual(fs.readdirSync(d), []);
  });
});

// ---- 7. readLine cannot crash or stall a server ------------------------------------

/** A line server written the way the README's example is: readLine(4096) on readyRead and at end-of-stream. */
function lineServer(socket: LocalSocket, lines: Buffer[]): void {
  const answer = (): void => {
    for (let line; (line = socket.readLine(4096)) !== null; ) lines.push(line);
  };
  socket.on('readyRead', answer);
  socket.on('readChannelFinished', answer);
}

describe('readLine(maxLength) on lines of any length', () => {
  test('a 5,000-byte line comes as 4,096 + 904 bytes, with no throw out of the handler', async () => {
    const p = await pair();
    try {
      const lines: Buffer[] = [];
      lineServer(p.peer, lines);
      await p.client.write(`${'a'.repeat(4999)}\nok\n`);
      while (lines.length < 3) await p.peer.waitForReadyRead({ timeout: 5000 });
      assert.deepEqual(lines.map((l) => l.length), [4096, 904, 3]);
      assert.equal(Buffer.concat(lines).toString(), `${'a'.repeat(4999)}\nok\n`);
    } finally {
      await p.close();
    }
  });

  test('100 KiB without a newline is taken in 4 KiB pieces: nothing stalls, and the connection keeps working', async () => {
    const p = await pair();
    try {
      const lines: Buffer[] = [];
      lineServer(p.peer, lines);
      const total = 100 * 1024;
      await p.client.write('b'.repeat(total));
      const taken = (): number => lines.reduce((n, l) => n + l.length, 0);
      while (taken() < total - 4095) await p.peer.waitForReadyRead({ timeout: 5000 });
      assert.ok(lines.every((l) => l.length === 4096), 'pieces of maxLength bytes');
      assert.ok(p.peer.bytesAvailable < 4096, 'less than one piece waits for more');
      await p.client.write('\n');
      while (taken() < total + 1) await p.peer.waitForReadyRead({ timeout: 5000 });
      assert.equal(taken(), total + 1);
      assert.equal(lines.at(-1)!.toString().endsWith('\n'), true);
    } finally {
      await p.close();
    }
  });

  test('a final line without a newline is read once the peer has ended', { skip: isWindows && 'Windows named pipes have no half-close' }, async () => {
    const p = await pair({ allowHalfOpen: true });
    try {
      const lines: Buffer[] = [];
      lineServer(p.peer, lines);
      await p.client.write('one\ntwo');
      await p.client.end();
      await next(p.peer, 'readChannelFinished');
      assert.deepEqual(lines.map(String), ['one\n', 'two']);
    } finally {
      await p.close();
    }
  });

  test('canReadLine and readLine agree, for every maximum', async () => {
    const p = await pair();
    try {
      await p.peer.write('0123456789\nabc');
      while (p.client.bytesAvailable < 14) await p.client.waitForReadyRead({ timeout: 5000 });
      for (const max of [1, 5, 10, 11, 12, 100]) {
        const expected = max <= 11 ? '0123456789\n'.slice(0, max) : '0123456789\n';
        assert.equal(p.client.canReadLine(max), true, `canReadLine(${max})`);
        assert.equal(p.client.peek(max).subarray(0, expected.length).toString(), expected);
      }
      throwsWith(() => p.client.canReadLine(0), 'INVALID_ARGUMENT');
      assert.equal(p.client.readLine(5)?.toString(), '01234');
      assert.equal(p.client.readLine()?.toString(), '56789\n');
      assert.equal(p.client.canReadLine(4), false, 'three bytes, no newline, connection open');
      assert.equal(p.client.canReadLine(3), true, 'three bytes reach the maximum');
      assert.equal(p.client.readLine(3)?.toString(), 'abc');
    } finally {
      await p.close();
    }
  });
});

// ---- the Qt test idioms of docs/QT-PORTING.md ---------------------------------------

describe('Qt test idioms as docs/QT-PORTING.md writes them', () => {
  test('recycling: a new server on a closed one\'s name, a new socket after abort()', async () => {
    const name = uniqueName('recycle');
    let server = await listen(name, { key: KEY });
    let socket = await connect(name, { key: KEY, timeout: 5000 });
    await server.close();
    await rejectsWith(server.listen(name), 'INVALID_STATE', 'listen() again on the same object');
    server = await listen(name, { key: KEY });
    socket.abort();
    await rejectsWith(socket.connectToServer(name, { key: KEY }), 'INVALID_STATE', 'connectToServer() again on the same object');
    socket = await connect(name, { key: KEY, timeout: 5000 });
    const taken = await server.waitForNewConnection({ timeout: 5000 });
    await socket.write('again\n');
    while (!taken.canReadLine()) await taken.waitForReadyRead({ timeout: 5000 });
    assert.equal(taken.readLine()?.toString(), 'again\n');
    socket.abort();
    taken.abort();
    await server.close();
  });

  test('hitMaximumConnections: past maxPendingConnections a peer is refused and reported; the first is taken', async () => {
    const name = uniqueName('max');
    const server = await listen(name, { key: KEY, maxPendingConnections: 1 });
    try {
      const refused = once(server, 'refused', { signal: AbortSignal.timeout(5000) });
      const clients = await Promise.allSettled([1, 2, 3].map(() => connect(name, { key: KEY, timeout: 5000 })));
      const first = await server.waitForNewConnection({ timeout: 3000 });
      const [reason] = (await refused) as [LocalSocketError];
      assert.equal(reason.code, 'RESOURCE_EXHAUSTED');
      assert.ok(clients.some((c) => c.status === 'fulfilled'));
      first.abort();
      for (const c of clients) if (c.status === 'fulfilled') c.value.abort();
    } finally {
      await server.close();
    }
  });

  test("waitForNewConnection's timedOut is a TIMEOUT rejection", async () => {
    const server = await listen(uniqueName('timedout'), { key: KEY });
    try {
      await rejectsWith(server.waitForNewConnection({ timeout: 50 }), 'TIMEOUT');
    } finally {
      await server.close();
    }
  });
});
