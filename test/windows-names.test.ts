/**
 * Windows default names: a short name with auth never becomes a fixed pipe.
 * Each listen() picks a random pipe and publishes it in a record in the
 * user's private directory; clients read the record and dial that pipe only
 * while its server is alive. Proven here with real pipes and processes: one
 * server per name (the exclusion comes from the private directory, so it
 * holds under Wine too), a plain `\\.\pipe\<name>` created first by another
 * process changes nothing, a restart changes the pipe, a crashed server's
 * record is never followed (even to a pipe someone else now holds) and is
 * replaced, a corrupt record is refused at once, and the reconnecting client
 * follows a restart. Windows only (npm run test:windows runs it under Wine);
 * the record format and checks are in pipe-record.test.ts, run everywhere.
 *
 * Wine has one user: "another user" is modelled by another process. What
 * that cannot show (an ACL that keeps other users out of %LOCALAPPDATA%)
 * is Windows' default, stated in docs/SECURITY.md, not tested here.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  connect, connectReconnecting, listen, listenMessages, singleInstance, type LocalServer, type LocalSocket, type PrimaryInstance, type SecondInstanceInfo,
} from '../src/index.js';
import { encodeRecord, filesOf, readRecord, recordFile } from '../src/endpoint/pipe-record.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { MAIN } from './cli-helpers.js';
import { rejectsWith } from './connection-helpers.js';
import { finished, isWindows, runFixture, tempDir, uniqueName, waitForLine } from './helpers.js';

const PIPE = '\\\\.\\pipe\\';
const PUBLISHED = /^\\\\\.\\pipe\\localsocket-[0-9a-f]{32}$/;
const windowsOnly = { skip: !isWindows && 'Windows named pipes only (run by npm run test:windows)' } as const;

const children = new Set<ChildProcess>();
let home = '';
before(() => {
  if (!isWindows) return;
  // Records and the default key go to a private temporary %LOCALAPPDATA%; child processes inherit it.
  home = tempDir('lswinnames-');
  process.env.LOCALAPPDATA = home;
});
after(() => {
  for (const child of children) child.kill('SIGKILL');
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The fixture server (default auth, default key), greeting each client with `hello <pid>`. */
function serverChild(name: string, flags: string[] = []): ChildProcess {
  return track(runFixture('server-listen.js', [name, '{}', ...flags]));
}

/**
 * A plain pipe server in another process, as another user would create it:
 * prints `listening`, counts connections, answers `count N` to a `count` line.
 */
function squatterChild(pipe: string): ChildProcess {
  const script = `
    const net = require('net');
    let count = 0;
    const server = net.createServer((c) => { count++; c.on('error', () => {}); c.destroy(); });
    server.listen(process.argv[1], () => process.stdout.write('listening\\n'));
    let buf = '';
    process.stdin.on('data', (d) => {
      buf += d;
      if (buf.includes('count\\n')) { buf = ''; process.stdout.write('count ' + count + '\\n'); }
    });
    process.stdin.on('end', () => server.close(() => process.exit(0)));`;
  return track(spawn(process.execPath, ['-e', script, pipe], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

async function connectionsTo(squatter: ChildProcess): Promise<number> {
  const reply = waitForLine(squatter, /^count \d+$/, 15_000);
  squatter.stdin!.write('count\n');
  return Number((await reply).split(' ')[1]);
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Connects with the default key and returns the first line the fixture or an echo server sends back. */
async function greeting(name: string): Promise<{ line: string; pipe: string | null }> {
  const socket = await connect(name, { timeout: 10_000 });
  try {
    let line: Buffer | null;
    while ((line = socket.readLine()) === null) await socket.waitForReadyRead({ timeout: 10_000 });
    return { line: line.toString().trimEnd(), pipe: socket.fullServerName };
  } finally {
    socket.abort();
  }
}

function greetAll(server: LocalServer, text: string): void {
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket: LocalSocket = s;
      socket.on('error', () => {});
      socket.write(`${text}\n`).catch(() => {});
    }
  });
}

function recordOf(name: string): string {
  return recordFile(name, currentPlatform());
}

describe('a default name is a random pipe published in a private record', windowsOnly, () => {
  test('the server listens on \\\\.\\pipe\\localsocket-<128 random bits>, not on \\\\.\\pipe\\<name>; a client finds it through the record', async () => {
    const name = uniqueName('pub');
    const server = await listen(name);
    greetAll(server, 'ours');
    try {
      assert.match(server.fullServerName!, PUBLISHED);
      assert.equal(server.serverName, name);
      const record = readRecord(recordOf(name), currentPlatform());
      assert.equal(record.pipe, server.fullServerName);
      assert.equal(record.pid, process.pid);
      const reached = await greeting(name);
      assert.deepEqual(reached, { line: 'ours', pipe: server.fullServerName });
      // Nothing listens on the name another user would guess.
      await rejectsWith(connect(`${PIPE}${name}`, { auth: false, timeout: 2000 }), 'SERVER_NOT_FOUND');
    } finally {
      await server.close();
    }
    assert.equal(fs.existsSync(recordOf(name)), false, 'close() removes the record');
    await rejectsWith(connect(name, { timeout: 2000 }), 'SERVER_NOT_FOUND');
  });

  test('two servers for one name: the second gets ADDRESS_IN_USE, in this process, from another process, and in another letter case', async () => {
    const name = uniqueName('Two');
    const first = await listen(name);
    greetAll(first, 'first');
    try {
      await rejectsWith(listen(name), 'ADDRESS_IN_USE');
      await rejectsWith(listen(name.toLowerCase()), 'ADDRESS_IN_USE');
      const child = serverChild(name);
      assert.equal(await waitForLine(child, /^(listening|error)/, 20_000), 'error ADDRESS_IN_USE');
      await exitOf(child);
      assert.equal((await greeting(name)).line, 'first', 'the first server keeps the name');
    } finally {
      await first.close();
    }
    // Once it is gone, another process takes the name.
    const child = serverChild(name);
    const line = await waitForLine(child, /^(listening|error)/, 20_000);
    assert.match(line, /^listening \d+ \\\\\.\\pipe\\localsocket-[0-9a-f]{32}$/);
    assert.equal((await greeting(name)).line, `hello ${child.pid}`);
    child.stdin!.end();
    await exitOf(child);
  });

  test('RACE: 5 processes start at once on a free default name: exactly one listens (the exclusion is the private lock file, so it holds under Wine)', async () => {
    const name = uniqueName('race');
    const kids = Array.from({ length: 5 }, () => serverChild(name, ['--wait-go']));
    await Promise.all(kids.map((k) => waitForLine(k, /^ready$/, 20_000)));
    const results = kids.map((k) => waitForLine(k, /^(listening|error)/, 20_000));
    for (const k of kids) k.stdin!.write('go\n');
    const lines = await Promise.all(results);
    const winners = kids.filter((_, i) => lines[i]!.startsWith('listening'));
    assert.equal(winners.length, 1, `exactly one listens: ${lines.join(' | ')}`);
    assert.deepEqual(lines.filter((l) => !l.startsWith('listening')), Array(4).fill('error ADDRESS_IN_USE'));
    assert.equal((await greeting(name)).line, `hello ${winners[0]!.pid}`);
    for (const k of kids) k.stdin!.end();
    await Promise.all(kids.map((k) => exitOf(k)));
  });

  test('a plain \\\\.\\pipe\\<name> created first by another process has no effect on listen, connect or singleInstance, and is never opened', async () => {
    const name = uniqueName('squat');
    const squatter = squatterChild(`${PIPE}${name}`);
    assert.equal(await waitForLine(squatter, /^listening$/, 20_000), 'listening');
    // No server of ours yet: a client finds no record and does not fall back to the plain pipe.
    await rejectsWith(connect(name, { timeout: 2000 }), 'SERVER_NOT_FOUND');
    const server = await listen(name);
    greetAll(server, 'ours');
    try {
      assert.equal((await greeting(name)).line, 'ours');
    } finally {
      await server.close();
    }
    const first = await singleInstance(name, { argv: ['first'], cwd: 'C:\\' });
    assert.equal(first.primary, true);
    const primary = first as PrimaryInstance;
    const received: SecondInstanceInfo[] = [];
    primary.on('secondInstance', (info) => received.push(info));
    try {
      const second = await singleInstance(name, { argv: ['second', 'file.txt'], cwd: 'C:\\work' });
      assert.equal(second.primary, false);
      assert.deepEqual(received, [{ argv: ['second', 'file.txt'], cwd: 'C:\\work' }]);
    } finally {
      await primary.close();
    }
    assert.equal(await connectionsTo(squatter), 0, 'the squatter never saw a connection');
    squatter.stdin!.end();
    await exitOf(squatter);
  });

  test('the pipe name seen during one server\'s life is worthless after a restart', async () => {
    const name = uniqueName('restart');
    const before = await listen(name);
    const seen = before.fullServerName!;
    await before.close();
    const after = await listen(name);
    greetAll(after, 'after');
    try {
      assert.match(after.fullServerName!, PUBLISHED);
      assert.notEqual(after.fullServerName, seen);
      // The old pipe is gone, and the new server is not behind it.
      await rejectsWith(connect(seen, { auth: false, timeout: 2000 }), 'SERVER_NOT_FOUND');
      assert.deepEqual(await greeting(name), { line: 'after', pipe: after.fullServerName });
    } finally {
      await after.close();
    }
  });

  test('a crashed server\'s record is stale: no client opens its pipe, even once someone else holds that pipe; the next server replaces the record', async () => {
    const name = uniqueName('crash');
    const child = serverChild(name);
    const line = await waitForLine(child, /^(listening|error)/, 20_000);
    const crashedPipe = line.split(' ')[2]!;
    assert.match(crashedPipe, PUBLISHED);
    child.kill('SIGKILL'); // TerminateProcess: no cleanup runs
    await exitOf(child);
    assert.equal(readRecord(recordOf(name), currentPlatform()).pipe, crashedPipe, 'the crash left its record behind');
    // Someone who listed the pipe name while the server ran now creates it.
    const squatter = squatterChild(crashedPipe);
    assert.equal(await waitForLine(squatter, /^listening$/, 20_000), 'listening');
    await rejectsWith(connect(name, { timeout: 2000 }), 'SERVER_NOT_FOUND');
    // Retrying until the deadline does not dial it either.
    await rejectsWith(connect(name, { timeout: 1500, waitForServer: true }), 'TIMEOUT');
    const server = await listen(name);
    greetAll(server, 'replacement');
    try {
      assert.notEqual(server.fullServerName, crashedPipe);
      assert.equal(readRecord(recordOf(name), currentPlatform()).pipe, server.fullServerName, 'the record was replaced');
      assert.deepEqual(await greeting(name), { line: 'replacement', pipe: server.fullServerName });
      // Liveness files of the crashed server were swept.
      const files = filesOf(recordOf(name));
      const live = fs.readdirSync(files.dir).filter((e) => files.isLive(e));
      assert.deepEqual(live, [path.win32.basename(files.live(server.fullServerName!.slice(-32)))]);
    } finally {
      await server.close();
    }
    assert.equal(await connectionsTo(squatter), 0, 'the squatter never saw a connection');
    squatter.stdin!.end();
    await exitOf(squatter);
  });

  test('a stale record held open by a reading client when the next server publishes (Windows refuses the rename meanwhile): the server waits for the reader, then listens and replaces the record', async () => {
    // After a kill -9, reconnecting clients read the stale record in a loop; a restart under 50 of them failed ACCESS_DENIED.
    const name = uniqueName('held');
    const record = recordOf(name);
    fs.mkdirSync(path.win32.dirname(record), { recursive: true });
    fs.writeFileSync(record, encodeRecord('0123456789abcdef0123456789abcdef', 1));
    let reader: number | null = fs.openSync(record, 'r'); // what readRecord does, for a moment
    // A spy, not a fake: every rename is the real one; the first refused while the reader holds the record lets the reader go.
    const realRename = fs.renameSync;
    let refusedWhileHeld = 0;
    fs.renameSync = (from: fs.PathLike, to: fs.PathLike): void => {
      try {
        realRename(from, to);
      } catch (err) {
        if (reader !== null && to === record) {
          refusedWhileHeld++;
          const fd = reader;
          reader = null;
          setImmediate(() => fs.closeSync(fd));
        }
        throw err;
      }
    };
    let server: LocalServer;
    try {
      server = await listen(name);
    } finally {
      fs.renameSync = realRename;
      if (reader !== null) fs.closeSync(reader);
    }
    try {
      assert.equal(refusedWhileHeld, 1, 'the OS refused the rename while the old record was open (else this test proves nothing)');
      assert.equal(readRecord(record, currentPlatform()).pipe, server.fullServerName, 'the record was replaced');
      greetAll(server, 'after the reader');
      assert.equal((await greeting(name)).line, 'after the reader');
    } finally {
      await server.close();
    }
  });

  test('a corrupt record is refused cleanly (ACCESS_DENIED at once, not retried until the deadline); a record of a dead pipe is SERVER_NOT_FOUND; a server replaces either', async () => {
    const name = uniqueName('corrupt');
    const record = recordOf(name);
    fs.mkdirSync(path.win32.dirname(record), { recursive: true });
    for (const bad of ['garbage\n', '', Buffer.alloc(64 * 1024, 0x61)]) {
      fs.writeFileSync(record, bad);
      await rejectsWith(connect(name, { timeout: 5000 }), 'ACCESS_DENIED');
      await rejectsWith(connect(name, { timeout: 60_000, waitForServer: true }), 'ACCESS_DENIED');
    }
    fs.rmSync(record);
    fs.mkdirSync(record);
    await rejectsWith(connect(name, { timeout: 5000 }), 'ACCESS_DENIED');
    await rejectsWith(listen(name), 'ACCESS_DENIED');
    fs.rmdirSync(record);
    // Well formed, but no server holds that pipe's liveness lock.
    fs.writeFileSync(record, encodeRecord('0123456789abcdef0123456789abcdef', 1));
    await rejectsWith(connect(name, { timeout: 5000 }), 'SERVER_NOT_FOUND');
    fs.writeFileSync(record, 'garbage\n');
    const server = await listen(name);
    greetAll(server, 'fresh');
    try {
      assert.equal((await greeting(name)).line, 'fresh');
    } finally {
      await server.close();
    }
  });

  test('the reconnecting client follows a restarted server to its new pipe name', async () => {
    const name = uniqueName('follow');
    let server = await listenMessages(name);
    server.handle('who', () => 'first');
    const firstPipe = server.fullServerName;
    const client = await connectReconnecting(name, { initialDelay: 10, maxDelay: 100 });
    try {
      assert.equal(await client.request('who', null, { timeout: 10_000 }), 'first');
      const lost = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
      await server.close();
      await lost;
      server = await listenMessages(name);
      server.handle('who', () => 'second');
      assert.notEqual(server.fullServerName, firstPipe);
      // Made while the client has no connection: it waits for the next one, at the new pipe.
      assert.equal(await client.request('who', null, { timeout: 20_000 }), 'second');
      assert.equal(client.connectCount, 2);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('localsocket path NAME prints the published pipe and says it came from the record; --raw, --qt and full names are the plain pipe', async () => {
    const name = uniqueName('clipath');
    const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      finished(track(spawn(process.execPath, [MAIN, 'path', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })));
    const none = await cli([name]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^localsocket: SERVER_NOT_FOUND: /);
    assert.equal(none.stdout, '');
    const server = await listen(name);
    try {
      const found = await cli([name]);
      assert.equal(found.code, 0);
      assert.equal(found.stdout, `${server.fullServerName}\n`);
      assert.equal(found.stderr, `from: record file ${recordOf(name)} (server pid ${process.pid})\n`);
    } finally {
      await server.close();
    }
    const raw = await cli([name, '--raw']);
    assert.deepEqual([raw.code, raw.stdout, raw.stderr], [0, `${PIPE}${name}\n`, 'from: raw mode: the plain pipe\n']);
    const qt = await cli([name, '--qt']);
    assert.deepEqual([qt.code, qt.stdout, qt.stderr], [0, `${PIPE}${name}\n`, 'from: Qt-compatible name: the plain pipe\n']);
    const full = await cli([`${PIPE}${name}`]);
    assert.deepEqual([full.code, full.stdout, full.stderr], [0, `${PIPE}${name}\n`, 'from: spelt out in full\n']);
  });
});
