/**
 * The code we show people, run against clients that misbehave: the README's
 * server example (taken from README.md as it is written) and the demo's echo
 * server and line exchange (src/cli/demo.ts). Long lines, no newlines, a
 * final line without a newline, a client that closes half-way: nothing may
 * crash, stall or spin.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { exchangeLine, serveEcho } from '../src/cli/demo.js';
import { connect, listen, LocalSocket, LocalSocketError } from '../src/index.js';
import { delay, rawServer, closeRawServer } from './connection-helpers.js';
import { distDir, fullName, isWindows, tempDir, uniqueName } from './helpers.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir('lsex-');
  dirs.push(d);
  return d;
}

/** Reads until `bytes` bytes are buffered (the Qt wait loop), then takes them. */
async function readExactly(socket: LocalSocket, bytes: number): Promise<string> {
  while (socket.bytesAvailable < bytes) await socket.waitForReadyRead({ timeout: 10_000 });
  return socket.read(bytes).toString();
}

/** The first ```js block after "## Library tour" in README.md: the server example. */
function readmeServerExample(): string {
  const readme = fs.readFileSync(path.join(distDir, '..', 'README.md'), 'utf8');
  const tour = readme.slice(readme.indexOf('## Library tour'));
  const match = /```js\n([\s\S]*?)```/.exec(tour);
  assert.ok(match, 'README.md has a js block in its Library tour');
  return match[1]!;
}

describe("the README's server example", () => {
  test('survives a 5,000-byte line, 100 KiB without a newline, a client that closes half-way, and a final line without a newline', async () => {
    const d = dir();
    const name = fullName(d, 'readme.sock');
    const key = randomBytes(32);
    // The child's default key lives under this config dir (XDG_CONFIG_HOME, or LOCALAPPDATA on Windows): never the user's own.
    const config = path.join(d, 'config');
    fs.mkdirSync(path.join(config, 'localsocket'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(config, 'localsocket', 'key'), key.toString('hex'), { mode: 0o600 });
    const source = readmeServerExample();
    assert.match(source, /from 'localsocket'/);
    assert.match(source, /'myapp'/);
    const index = pathToFileURL(path.join(distDir, 'src', 'index.js')).href;
    const script = path.join(d, 'server.mjs');
    fs.writeFileSync(script, source.replace("from 'localsocket'", `from ${JSON.stringify(index)}`).replace("'myapp'", JSON.stringify(name)));
    const child = spawn(process.execPath, [script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XDG_CONFIG_HOME: config, LOCALAPPDATA: config },
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const options = { key, timeout: 10_000, waitForServer: true };
    const alive = (): void => assert.equal(child.exitCode, null, `the server died: ${stderr}`);
    try {
      // A 5,000-byte line: answered in two pieces (before: MESSAGE_TOO_LARGE thrown out of the handler killed the server).
      const c1 = await connect(name, options);
      await c1.write(`${'a'.repeat(4999)}\n`);
      assert.equal(await readExactly(c1, 6 + 4096 + 6 + 904), `echo: ${'a'.repeat(4096)}echo: ${'a'.repeat(903)}\n`);
      c1.abort();

      // 100 KiB with no newline: answered 4 KiB at a time (before: the connection stalled), then the client leaves half-way.
      const c2 = await connect(name, options);
      await c2.write('b'.repeat(100 * 1024));
      const pieces = Math.floor((100 * 1024) / 4096);
      assert.equal(await readExactly(c2, pieces * (6 + 4096)), `echo: ${'b'.repeat(4096)}`.repeat(pieces));
      await c2.write('c'.repeat(3000)); // half a line...
      c2.abort(); // ...and gone
      await delay(50);
      alive();

      // Lines sent without reading the answers: the server stops taking them (backpressure), and serves them all once read.
      const c5 = await connect(name, { ...options, maxWriteBuffer: 16 * 1024 * 1024 });
      const lines = 8192;
      for (let i = 0; i < lines; i++) void c5.write(`${'z'.repeat(1023)}\n`).catch(() => {});
      await delay(300);
      // Windows: libuv reads all that a pipe holds at once (README, Windows specifics), so how much one side
      // can write before the other's buffer limit shows is up to the pipe; the answers below are checked there too.
      if (!isWindows) assert.ok(c5.bytesToWrite > 0, 'the server stopped reading while its answers were not read');
      let answers = '';
      while (answers.length < lines * (6 + 1024)) {
        if (c5.bytesAvailable === 0) await c5.waitForReadyRead({ timeout: 10_000 });
        answers += c5.read().toString();
      }
      assert.equal(answers, `echo: ${'z'.repeat(1023)}\n`.repeat(lines));
      c5.abort();

      // A final line without a newline, then end-of-stream: answered, then the server closes.
      if (!isWindows) {
        const c3 = await connect(name, options);
        await c3.write('one\ntwo');
        await c3.end();
        await c3.waitForDisconnected({ timeout: 10_000 });
        assert.equal(c3.read().toString(), 'echo: one\necho: two');
      }

      // The README's own client still gets its answer.
      const c4 = await connect(name, options);
      await c4.write('hello\n');
      while (!c4.canReadLine()) await c4.waitForReadyRead({ timeout: 10_000 });
      assert.equal(c4.readLine()?.toString(), 'echo: hello\n');
      await c4.disconnectFromServer();
      alive();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe("the demo's echo server and line exchange", () => {
  test('the echo server keeps serving after long lines, no newlines and a client that closes half-way', async () => {
    const name = uniqueName('demo-echo');
    const server = await listen(name, { auth: false });
    const open = new Set<LocalSocket>();
    serveEcho(server, open);
    try {
      const rude = await connect(name, { auth: false, timeout: 5000 });
      const big = 'x'.repeat(100 * 1024);
      void rude.write(big).catch(() => {});
      assert.equal(await readExactly(rude, 50 * 1024), big.slice(0, 50 * 1024));
      rude.abort(); // half-way through its own echo
      const polite = await connect(name, { auth: false, timeout: 5000 });
      await polite.write('still there?\n');
      assert.equal(await readExactly(polite, 13), 'still there?\n');
      polite.abort();
    } finally {
      for (const s of open) s.abort();
      await server.close();
    }
  });

  /** A raw peer on a fresh name that answers each connection with `reply`. */
  async function peerAnswering(reply: (peer: import('node:net').Socket) => void): Promise<{ name: string; close(): Promise<void> }> {
    const d = dir();
    const name = fullName(d, 'peer.sock');
    const server = await rawServer(name, (peer) => {
      peer.once('data', () => reply(peer));
    });
    return { name, close: () => closeRawServer(server) };
  }

  /** Counts waitForReadyRead calls: a line that arrives in pieces must be awaited, not spun on. */
  function countWaits(socket: LocalSocket): () => number {
    const original = socket.waitForReadyRead.bind(socket);
    let calls = 0;
    socket.waitForReadyRead = (options) => {
      if (++calls > 50) return Promise.reject(new Error('the demo spins on waitForReadyRead'));
      return original(options);
    };
    return () => calls;
  }

  test('a line that comes back in pieces is awaited, not spun on', async () => {
    const peer = await peerAnswering((p) => {
      p.write('hel');
      setTimeout(() => p.write('lo\n'), 50);
    });
    try {
      const socket = await connect(peer.name, { auth: false, timeout: 5000 });
      const waits = countWaits(socket);
      assert.equal(await exchangeLine(socket, 'hello', new AbortController().signal), 'hello');
      assert.ok(waits() <= 3, `${waits()} waits for two pieces`);
      socket.abort();
    } finally {
      await peer.close();
    }
  });

  test('a peer that sends 100 KiB with no newline and closes: a 1 KiB piece, then the end; nothing hangs', async () => {
    const peer = await peerAnswering((p) => {
      p.write('y'.repeat(100 * 1024));
      setTimeout(() => p.destroy(), 30);
    });
    try {
      const socket = await connect(peer.name, { auth: false, timeout: 5000 });
      countWaits(socket);
      const signal = new AbortController().signal;
      assert.equal(await exchangeLine(socket, 'ping', signal), 'y'.repeat(1024), 'a piece of MAX_LINE bytes (the demo then reports a mismatch)');
      await socket.waitForDisconnected({ timeout: 5000 });
      await assert.rejects(exchangeLine(socket, 'again', signal), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_STATE');
      socket.abort();
    } finally {
      await peer.close();
    }
  });

  test('a peer that answers without a newline and closes: its last line is returned', async () => {
    const peer = await peerAnswering((p) => p.end('no newline'));
    try {
      const socket = await connect(peer.name, { auth: false, timeout: 5000 });
      countWaits(socket);
      assert.equal(await exchangeLine(socket, 'ping', new AbortController().signal), 'no newline');
      socket.abort();
    } finally {
      await peer.close();
    }
  });
});
