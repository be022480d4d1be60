/**
 * Windows named pipes: what the Unix tests check through socket files, checked
 * here through the pipe namespace. Names and their 256-character limit, case
 * folding, ADDRESS_IN_USE from the library's own probe (so it holds under Wine,
 * where a second listen on a live pipe succeeds at the OS level), a server
 * killed outright leaving nothing stale, access modes, and busy pipes waited
 * for within the connect deadline. Run by `npm run test:windows` (Windows
 * node.exe under Wine); skipped on other platforms.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { connect, listen, LocalServer, LocalSocketError, type LocalSocket } from '../src/index.js';
import { resolveName } from '../src/endpoint/names.js';
import { currentPlatform, MAX_PIPE_NAME_CHARS } from '../src/endpoint/platform.js';
import { distDir, isWindows, isWine, runFixture, uniqueName, waitForLine, WINE_SECOND_LISTEN } from './helpers.js';
import { rejectsWith } from './connection-helpers.js';

const PIPE = '\\\\.\\pipe\\';
const RAW = { auth: false } as const;
const windowsOnly = { skip: !isWindows && 'Windows named pipes only (run by npm run test:windows)' } as const;

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A fixture server-listen child: greets with `hello <pid>` and echoes; stdin's end closes it. */
function serverChild(name: string, flags: string[] = []): ChildProcess {
  return track(runFixture('server-listen.js', [name, JSON.stringify(RAW), ...flags]));
}

function echoAll(server: LocalServer): void {
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket: LocalSocket = s;
      socket.on('error', () => {});
      socket.on('readyRead', () => void socket.write(socket.read()).catch(() => {}));
    }
  });
}

async function roundTrip(name: string): Promise<string> {
  const socket = await connect(name, { ...RAW, timeout: 5000 });
  try {
    await socket.write('ping');
    while (socket.bytesAvailable < 4) await socket.waitForReadyRead({ timeout: 5000 });
    return socket.read().toString();
  } finally {
    socket.abort();
  }
}

/** Connects raw and returns the first line the server sends. */
async function greeting(name: string): Promise<string> {
  const socket = await connect(name, { ...RAW, timeout: 5000 });
  try {
    let line: Buffer | null;
    while ((line = socket.readLine()) === null) await socket.waitForReadyRead({ timeout: 5000 });
    return line.toString().trimEnd();
  } finally {
    socket.abort();
  }
}

/** Resolves with the exit code once `child` has exited (at once if it already has). */
function exitOf(child: ChildProcess, timeoutMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('pipe names', windowsOnly, () => {
  test('a short name is \\\\.\\pipe\\<name>, a full pipe name passes through, and the server reports it', async () => {
    const name = uniqueName('win');
    assert.equal(resolveName(name, RAW, currentPlatform()).address, `${PIPE}${name}`);
    const server = await listen(name, RAW);
    echoAll(server);
    try {
      assert.equal(server.fullServerName, `${PIPE}${name}`);
      assert.equal(await roundTrip(`${PIPE}${name}`), 'ping', 'the full pipe name reaches the same server');
      assert.equal(await roundTrip(name), 'ping');
    } finally {
      await server.close();
    }
  });

  test(`a full pipe name of ${MAX_PIPE_NAME_CHARS} characters listens and connects; one more is INVALID_NAME before the OS sees it`, async () => {
    const longest = `${PIPE}${uniqueName('max')}`.padEnd(MAX_PIPE_NAME_CHARS, 'x');
    assert.equal(longest.length, MAX_PIPE_NAME_CHARS);
    const server = await listen(longest, RAW);
    echoAll(server);
    try {
      assert.equal(await roundTrip(longest), 'ping');
    } finally {
      await server.close();
    }
    const tooLong = `${longest}y`;
    await rejectsWith(listen(tooLong, RAW), 'INVALID_NAME');
    await rejectsWith(connect(tooLong, { ...RAW, timeout: 1000 }), 'INVALID_NAME');
    // A short name counts with its \\.\pipe\ prefix.
    await rejectsWith(listen('z'.repeat(MAX_PIPE_NAME_CHARS - PIPE.length + 1), RAW), 'INVALID_NAME');
  });

  test('pipe names are case-insensitive: the same name in another case is ADDRESS_IN_USE, and reaches the server', async () => {
    const name = uniqueName('Case');
    const server = await listen(name, RAW);
    echoAll(server);
    try {
      await rejectsWith(listen(name.toLowerCase(), RAW), 'ADDRESS_IN_USE');
      assert.equal(await roundTrip(name.toUpperCase()), 'ping');
    } finally {
      await server.close();
    }
  });

  test('a backslash in a short name, another host, and an abstract name are refused', async () => {
    await rejectsWith(listen('a\\b', RAW), 'INVALID_NAME');
    await rejectsWith(connect('\\\\otherhost\\pipe\\x', { ...RAW, timeout: 1000 }), 'INVALID_NAME');
    await rejectsWith(listen(uniqueName('abs'), { ...RAW, abstract: true, access: 'world' }), 'UNSUPPORTED');
  });
});

describe('one live server per pipe name (the library probes before it listens)', windowsOnly, () => {
  test('a second listen on a live full pipe name is ADDRESS_IN_USE; the first keeps working', async () => {
    const name = `${PIPE}${uniqueName('dup')}`;
    const first = await listen(name, RAW);
    echoAll(first);
    try {
      await rejectsWith(listen(name, RAW), 'ADDRESS_IN_USE');
      await rejectsWith(listen(name, { ...RAW, access: 'world' }), 'ADDRESS_IN_USE');
      const second = new LocalServer(RAW);
      await rejectsWith(second.listen(name), 'ADDRESS_IN_USE');
      assert.equal(second.state, 'closed');
      assert.equal(await roundTrip(name), 'ping');
      assert.equal(await roundTrip(name), 'ping');
    } finally {
      await first.close();
    }
  });

  test('processes starting while a live server holds the name all get ADDRESS_IN_USE; the holder keeps answering', async () => {
    const name = uniqueName('live-race');
    const holder = serverChild(name);
    assert.match(await waitForLine(holder, /^(listening|error)/, 15_000), /^listening /);
    const kids = Array.from({ length: 4 }, () => serverChild(name, ['--wait-go']));
    await Promise.all(kids.map((k) => waitForLine(k, /^ready$/, 15_000)));
    const results = kids.map((k) => waitForLine(k, /^(listening|error)/, 15_000));
    for (const k of kids) k.stdin!.write('go\n');
    assert.deepEqual(await Promise.all(results), Array(4).fill('error ADDRESS_IN_USE'));
    assert.deepEqual(await Promise.all(kids.map((k) => exitOf(k))), Array(4).fill(0));
    for (let i = 0; i < 3; i++) assert.equal(await greeting(name), `hello ${holder.pid}`);
    const done = exitOf(holder);
    holder.stdin!.end();
    assert.equal(await done, 0);
  });

  test('RACE: 5 processes start at once on a free name: exactly one listens', { skip: isWine && WINE_SECOND_LISTEN }, async () => {
    const name = uniqueName('race');
    const kids = Array.from({ length: 5 }, () => serverChild(name, ['--wait-go']));
    await Promise.all(kids.map((k) => waitForLine(k, /^ready$/, 15_000)));
    const results = kids.map((k) => waitForLine(k, /^(listening|error)/, 15_000));
    for (const k of kids) k.stdin!.write('go\n');
    const lines = await Promise.all(results);
    const winners = kids.filter((_, i) => lines[i]!.startsWith('listening'));
    assert.equal(winners.length, 1, `exactly one listens: ${lines.join(' | ')}`);
    assert.deepEqual(lines.filter((l) => !l.startsWith('listening')), Array(4).fill('error ADDRESS_IN_USE'));
    assert.equal(await greeting(name), `hello ${winners[0]!.pid}`);
    for (const k of kids) k.stdin!.end();
    await Promise.all(kids.map((k) => exitOf(k)));
  });

  test('a server killed outright leaves nothing stale: the name is free at once', async () => {
    const name = uniqueName('killed');
    const child = serverChild(name);
    assert.match(await waitForLine(child, /^(listening|error)/, 15_000), /^listening /);
    const done = exitOf(child);
    child.kill('SIGKILL'); // TerminateProcess: the pipe goes away with its last handle
    await done;
    await rejectsWith(connect(name, { ...RAW, timeout: 2000 }), 'SERVER_NOT_FOUND');
    const server = await listen(name, RAW);
    echoAll(server);
    try {
      assert.equal(await roundTrip(name), 'ping');
    } finally {
      await server.close();
    }
  });

  test('close() leaves nothing behind: with no connection open, the name is free at once', async () => {
    // (A connection taken from a server stays open after close(), as in Qt; its pipe instance keeps
    // the name in use until it closes too, on Windows as under Wine.)
    const name = uniqueName('closed');
    const server = await listen(name, RAW);
    await server.close();
    await rejectsWith(connect(name, { ...RAW, timeout: 2000 }), 'SERVER_NOT_FOUND');
    const again = await listen(name, RAW);
    await again.close();
  });
});

describe('access on named pipes', windowsOnly, () => {
  test("'user' (default) and 'world' listen and serve; 'group' is UNSUPPORTED (a pipe has no group)", async () => {
    for (const access of ['user', 'world'] as const) {
      const name = uniqueName(access);
      const server = await listen(name, { ...RAW, access });
      echoAll(server);
      try {
        assert.equal(await roundTrip(name), 'ping', access);
      } finally {
        await server.close();
      }
    }
    const err = await rejectsWith(listen(uniqueName('group'), { ...RAW, access: 'group' }), 'UNSUPPORTED');
    assert.ok(!err.message.includes(PIPE), 'the message does not carry the pipe name');
  });
});

describe('busy pipes (every instance taken: ERROR_PIPE_BUSY)', windowsOnly, () => {
  /** A plain listener with one pipe instance whose event loop is blocked for `blockMs`, with that instance taken. */
  async function busyFor(blockMs: number): Promise<{ name: string; filler: net.Socket; child: ChildProcess }> {
    const name = `${PIPE}${uniqueName('busy')}`;
    const child = track(runFixture('plain-listener.js', [name, 'block', '1', String(blockMs)], { env: { NODE_PENDING_PIPE_INSTANCES: '1' } }));
    await waitForLine(child, /^ready/, 15_000);
    const filler = net.createConnection(name);
    filler.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      filler.once('connect', () => resolve());
      filler.once('error', reject);
    });
    return { name, filler, child };
  }

  test('a connect waits for a busy pipe and gets through once the server accepts again, within its deadline', async () => {
    const busy = await busyFor(1500);
    try {
      const started = Date.now();
      const socket = await connect(busy.name, { ...RAW, timeout: 10_000 });
      const waited = Date.now() - started;
      assert.equal(socket.state, 'connected');
      assert.ok(waited >= 500, `it waited for the busy pipe (${waited} ms)`);
      socket.abort();
    } finally {
      busy.filler.destroy();
      busy.child.kill('SIGKILL');
      await exitOf(busy.child);
    }
  });

  test('localsocket check reports a busy pipe as busy (a server is up), exit 0', async () => {
    const busy = await busyFor(60_000);
    try {
      const cli = spawn(process.execPath, [path.join(distDir, 'cjs', 'cli', 'main.js'), 'check', busy.name], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      cli.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      cli.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => cli.once('close', (c) => resolve(c))); // after stdout drained
      assert.equal(code, 0, out);
      assert.match(out, /^server: +a server is up but busy \(every pipe instance is taken\)$/m);
    } finally {
      busy.filler.destroy();
      busy.child.kill('SIGKILL');
      await exitOf(busy.child);
    }
  });

  test("a connect to a pipe busy past its deadline ends with TIMEOUT at the deadline, not libuv's 30 s", async () => {
    const busy = await busyFor(60_000);
    try {
      const started = Date.now();
      const err = await rejectsWith(connect(busy.name, { ...RAW, timeout: 500 }), 'TIMEOUT');
      const took = Date.now() - started;
      assert.ok(took >= 450 && took < 500 + 2000, `cut off after ${took} ms`);
      assert.ok(err instanceof LocalSocketError);
    } finally {
      busy.filler.destroy();
      busy.child.kill('SIGKILL');
      await exitOf(busy.child);
    }
  });
});
