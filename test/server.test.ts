/**
 * LocalServer: one live server per name, stale-socket reclaim that is
 * race-free across processes, close() that removes only its own file, access
 * modes with no moment of wider access, bounded queues, the ways to take
 * pending connections, and adopting an inherited listening descriptor.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { connect, listen, LocalServer, LocalSocketError, type LocalSocket } from '../src/index.js';
import { ABSTRACT_SKIP, finished, fixture, fullName, sharedTempDir, isLinux, isWindows, runFixture, secondUserSkip, tempDir, uniqueName, unprivilegedUser, waitForLine, type PeerUser } from './helpers.js';
import { rejectsWith } from './connection-helpers.js';

const children = new Set<ChildProcess>();
const dirs: string[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves once `child` has exited (at once if it already has). */
function exited(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A fresh directory, removed after the file's tests; `shared`: one a second user can reach (see sharedTempDir). */
function dir(shared = false): string {
  const d = shared ? sharedTempDir('lsserver-') : tempDir('lsserver-');
  dirs.push(d);
  return d;
}

/** A server child (fixture server-listen): greets with `hello <pid>` and echoes. */
function serverChild(name: string, options: object = {}, flags: string[] = []): ChildProcess {
  return track(runFixture('server-listen.js', [name, JSON.stringify(options), ...flags]));
}


/** Reads one line from a socket (with a deadline). */
async function readLine(socket: LocalSocket): Promise<string> {
  for (;;) {
    const line = socket.readLine();
    if (line) return line.toString().trimEnd();
    // Waits for new data (the Qt wait loop); a partial line stays buffered meanwhile.
    await socket.waitForReadyRead({ timeout: 3000 });
  }
}

/** Connects to a server-listen child, returns the pid it greets with, and checks the echo. */
async function greeting(name: string, options: object = {}): Promise<number> {
  const socket = await connect(name, { timeout: 3000, ...options });
  try {
    const hello = await readLine(socket);
    assert.match(hello, /^hello \d+$/);
    await socket.write('echo-me\n');
    assert.equal(await readLine(socket), 'echo-me');
    return Number(hello.split(' ')[1]);
  } finally {
    socket.abort();
  }
}

/** Takes every connection of an in-process server and echoes on it. */
function echoAll(server: LocalServer): void {
  const serve = (): void => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket = s;
      socket.on('error', () => {});
      socket.on('readyRead', () => void socket.write(socket.read()).catch(() => {}));
    }
  };
  server.on('newConnection', serve);
  serve();
}

async function roundTrip(name: string, options: object = {}, payload = 'round-trip\n'): Promise<string> {
  const socket = await connect(name, { timeout: 3000, ...options });
  try {
    await socket.write(payload);
    return `${await readLine(socket)}\n`;
  } finally {
    socket.abort();
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

const unix = { skip: isWindows && 'Unix sockets only (skipped on Windows; the named-pipe equivalents are in windows.test.ts)' } as const;

// ---------------------------------------------------------------------------

describe('one live server per name', () => {
  test('a second listen on a live short name is ADDRESS_IN_USE; the first keeps working', async () => {
    const name = uniqueName('dup');
    const first = await listen(name);
    echoAll(first);
    try {
      const file = first.fullServerName!;
      const before = isWindows ? null : fs.lstatSync(file); // a named pipe has no file
      await rejectsWith(listen(name), 'ADDRESS_IN_USE');
      const second = new LocalServer();
      await rejectsWith(second.listen(name), 'ADDRESS_IN_USE');
      assert.equal(second.isListening, false);
      if (before) assert.equal(fs.lstatSync(file).ino, before.ino, 'the live socket file was not replaced');
      assert.equal(await roundTrip(name), 'round-trip\n');
    } finally {
      await first.close();
    }
  });

  test('a second listen on a live full path (Windows: a full pipe name) is ADDRESS_IN_USE; the first keeps working', async () => {
    const file = fullName(dir(), 'dup.sock');
    const first = await listen(file);
    echoAll(first);
    try {
      const before = isWindows ? null : fs.lstatSync(file);
      await rejectsWith(listen(file), 'ADDRESS_IN_USE');
      await rejectsWith(listen(file, { access: 'world' }), 'ADDRESS_IN_USE');
      if (before) assert.equal(fs.lstatSync(file).ino, before.ino);
      assert.equal(await roundTrip(file), 'round-trip\n');
    } finally {
      await first.close();
    }
  });

  test('a second listen on a live abstract name is ADDRESS_IN_USE', { skip: ABSTRACT_SKIP }, async () => {
    const name = uniqueName('abs');
    const first = await listen(name, { abstract: true });
    echoAll(first);
    try {
      assert.equal(first.fullServerName, `\0${name}`);
      await rejectsWith(listen(name, { abstract: true }), 'ADDRESS_IN_USE');
      assert.equal(await roundTrip(name, { abstract: true }), 'round-trip\n');
    } finally {
      await first.close();
    }
  });

  test('a server in another process holds the name: ADDRESS_IN_USE here', async () => {
    const name = uniqueName('xproc');
    const child = serverChild(name);
    const line = await waitForLine(child, /^(listening|error)/);
    assert.match(line, /^listening /);
    await rejectsWith(listen(name), 'ADDRESS_IN_USE');
    assert.equal(await greeting(name), child.pid);
    child.stdin!.end();
    assert.equal(await exited(child), 0);
  });

  test('a LocalServer listens once: a second listen() is INVALID_STATE', async () => {
    const server = await listen(uniqueName('once'));
    try {
      await rejectsWith(server.listen(uniqueName('once')), 'INVALID_STATE');
    } finally {
      await server.close();
    }
    await rejectsWith(server.listen(uniqueName('once')), 'INVALID_STATE');
  });
});

// ---------------------------------------------------------------------------

/** Starts a server child, SIGKILLs it, and returns the stale socket file it leaves. */
async function staleSocket(name: string): Promise<string> {
  const child = serverChild(name);
  const line = await waitForLine(child, /^(listening|error)/);
  assert.match(line, /^listening /);
  const file = line.split(' ')[2]!;
  child.kill('SIGKILL');
  await exited(child);
  assert.ok(fs.lstatSync(file).isSocket(), 'the killed server left its socket file');
  return file;
}

describe('stale sockets', unix, () => {
  test('a socket file left by a SIGKILLed server is reclaimed by the next listen', async () => {
    const name = uniqueName('stale');
    const file = await staleSocket(name);
    const staleIno = fs.lstatSync(file).ino;
    // Nobody answers on it.
    await rejectsWith(connect(name, { timeout: 1000 }), 'CONNECTION_REFUSED');
    const server = await listen(name);
    echoAll(server);
    try {
      assert.equal(server.fullServerName, file);
      assert.notEqual(fs.lstatSync(file).ino, staleIno, 'a new socket replaced the stale one');
      assert.equal(await roundTrip(name), 'round-trip\n');
    } finally {
      await server.close();
    }
    assert.equal(fs.existsSync(file), false);
  });

  test('RACE: 5 processes start at once on a name with a stale file: exactly one listens (4 rounds)', async () => {
    const name = uniqueName('race');
    const contenders = 5;
    for (let round = 0; round < 4; round++) {
      // Round 0 starts from nothing; every later round from the stale file of the killed previous winner.
      const kids = Array.from({ length: contenders }, () => serverChild(name, {}, ['--wait-go']));
      await Promise.all(kids.map((k) => waitForLine(k, /^ready$/)));
      const results = kids.map((k) => waitForLine(k, /^(listening|error)/));
      for (const k of kids) k.stdin!.write('go\n');
      const lines = await Promise.all(results);
      const winners = kids.filter((_, i) => lines[i]!.startsWith('listening'));
      assert.equal(winners.length, 1, `round ${round}: exactly one listens: ${lines.join(' | ')}`);
      assert.deepEqual(
        lines.filter((l) => !l.startsWith('listening')),
        Array(contenders - 1).fill('error ADDRESS_IN_USE'),
        `round ${round}`,
      );
      const winner = winners[0]!;
      const losers = kids.filter((k) => k !== winner);
      assert.deepEqual(await Promise.all(losers.map((k) => exited(k))), Array(contenders - 1).fill(0));
      // The losers never removed the live socket: the winner still answers.
      assert.equal(await greeting(name), winner.pid, `round ${round}: the winner answers`);
      assert.equal(await greeting(name), winner.pid, `round ${round}: and keeps answering`);
      winner.kill('SIGKILL');
      await exited(winner);
    }
  });

  test('RACE: 8 concurrent listen() calls in one process on a stale name: exactly one wins', async () => {
    const name = uniqueName('race-in');
    await staleSocket(name);
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => listen(name)));
    const winners = outcomes.filter((o): o is PromiseFulfilledResult<LocalServer> => o.status === 'fulfilled').map((o) => o.value);
    try {
      assert.equal(winners.length, 1);
      for (const o of outcomes) {
        if (o.status === 'rejected') assert.equal((o.reason as LocalSocketError).code, 'ADDRESS_IN_USE');
      }
      echoAll(winners[0]!);
      assert.equal(await roundTrip(name), 'round-trip\n');
    } finally {
      for (const w of winners) await w.close();
    }
  });

  test('RACE: processes starting while a live server holds the name never remove its socket', async () => {
    const file = path.join(dir(), 'live-race.sock');
    const holder = serverChild(file);
    assert.match(await waitForLine(holder, /^(listening|error)/), /^listening /);
    const ino = fs.lstatSync(file).ino;
    const kids = Array.from({ length: 4 }, () => serverChild(file, {}, ['--wait-go']));
    await Promise.all(kids.map((k) => waitForLine(k, /^ready$/)));
    const results = kids.map((k) => waitForLine(k, /^(listening|error)/));
    for (const k of kids) k.stdin!.write('go\n');
    assert.deepEqual(await Promise.all(results), Array(4).fill('error ADDRESS_IN_USE'));
    assert.equal(fs.lstatSync(file).ino, ino);
    assert.equal(await greeting(file), holder.pid);
    await Promise.all(kids.map((k) => exited(k)));
    holder.stdin!.end();
    assert.equal(await exited(holder), 0);
    assert.equal(fs.existsSync(file), false, 'the holder removed its own file on close');
  });

  test('a regular file at the path: ADDRESS_IN_USE, and the file is untouched', async () => {
    const file = path.join(dir(), 'regular');
    fs.writeFileSync(file, 'precious data');
    fs.chmodSync(file, 0o640);
    const before = fs.lstatSync(file);
    await rejectsWith(listen(file), 'ADDRESS_IN_USE');
    const afterSt = fs.lstatSync(file);
    assert.equal(fs.readFileSync(file, 'utf8'), 'precious data');
    assert.equal(afterSt.ino, before.ino);
    assert.equal(afterSt.mode, before.mode);
    assert.equal(afterSt.mtimeMs, before.mtimeMs);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['regular'], 'no staging leftovers');
  });

  test('a symlink or a directory at the path: ADDRESS_IN_USE, left alone', async () => {
    const d = dir();
    const target = path.join(d, 'target');
    fs.writeFileSync(target, 'x');
    const link = path.join(d, 'link.sock');
    fs.symlinkSync(target, link);
    await rejectsWith(listen(link), 'ADDRESS_IN_USE');
    assert.equal(fs.readlinkSync(link), target);
    assert.equal(fs.readFileSync(target, 'utf8'), 'x');
    const sub = path.join(d, 'sub.sock');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'inside'), 'y');
    await rejectsWith(listen(sub), 'ADDRESS_IN_USE');
    assert.deepEqual(fs.readdirSync(sub), ['inside']);
    assert.deepEqual(fs.readdirSync(d).sort(), ['link.sock', 'sub.sock', 'target']);
  });

  test('close() removes the socket file this server created', async () => {
    const file = path.join(dir(), 'own.sock');
    const server = await listen(file);
    assert.ok(fs.lstatSync(file).isSocket());
    await server.close();
    assert.equal(fs.existsSync(file), false);
    await server.close(); // idempotent
    assert.equal(server.state, 'closed');
  });

  test('close() leaves a file that replaced ours after listen alone', async () => {
    const file = path.join(dir(), 'replaced.sock');
    const server = await listen(file);
    fs.unlinkSync(file);
    fs.writeFileSync(file, 'someone else');
    await server.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'someone else');
  });

  test("close() leaves another server's socket at the same path alone; that server keeps working", async () => {
    const file = path.join(dir(), 'two.sock');
    const orphaned = await listen(file);
    fs.unlinkSync(file); // someone removed our file...
    const current = await listen(file); // ...and another server took the name
    echoAll(current);
    const ino = fs.lstatSync(file).ino;
    await orphaned.close();
    assert.equal(fs.lstatSync(file).ino, ino, "the other server's socket is still there");
    assert.equal(await roundTrip(file), 'round-trip\n');
    await current.close();
    assert.equal(fs.existsSync(file), false);
  });
});

// ---------------------------------------------------------------------------

const MODES = { user: 0o600, group: 0o660, world: 0o666 } as const;

describe('access', unix, () => {
  test("access 'user' | 'group' | 'world' give socket modes 0600 / 0660 / 0666 (default 'user')", async () => {
    const d = dir();
    for (const access of ['user', 'group', 'world'] as const) {
      const file = path.join(d, `${access}.sock`);
      const server = await listen(file, { access });
      try {
        assert.equal(fs.lstatSync(file).mode & 0o7777, MODES[access], access);
      } finally {
        await server.close();
      }
    }
    const server = await listen(path.join(d, 'default.sock'));
    try {
      assert.equal(fs.lstatSync(path.join(d, 'default.sock')).mode & 0o7777, 0o600);
    } finally {
      await server.close();
    }
    await rejectsWith(listen(path.join(d, 'bad.sock'), { access: 'everyone' as 'world' }), 'INVALID_ARGUMENT');
  });

  const peer = unprivilegedUser();
  const needPeer = { skip: (isWindows && 'Unix only') || (!peer && secondUserSkip()) } as const;

  async function peerConnect(file: string, asUser: PeerUser): Promise<string> {
    const child = track(runFixture('server-connect.js', [file, JSON.stringify({ auth: false })], { asUser }));
    const { stdout } = await finished(child);
    return stdout.trim();
  }

  async function rawServer(file: string, access: 'user' | 'group' | 'world'): Promise<LocalServer> {
    const server = await listen(file, { access, auth: false });
    echoAll(server);
    return server;
  }

  test("another user cannot connect to a 'user' server (ACCESS_DENIED) but can to a 'world' one", needPeer, async () => {
    const d = dir(true); // 0755: the other user can reach the directory
    const userFile = path.join(d, 'user.sock');
    const worldFile = path.join(d, 'world.sock');
    const userServer = await rawServer(userFile, 'user');
    const worldServer = await rawServer(worldFile, 'world');
    try {
      assert.equal(await peerConnect(userFile, peer!), 'error ACCESS_DENIED');
      assert.equal(await peerConnect(worldFile, peer!), 'connected\nreply ping');
    } finally {
      await userServer.close();
      await worldServer.close();
    }
  });

  test("'group' lets in a peer of our group only", needPeer, async () => {
    const d = dir(true);
    const file = path.join(d, 'group.sock');
    const server = await rawServer(file, 'group');
    const ourGid = process.getgid!();
    try {
      assert.notEqual(peer!.gid, ourGid);
      assert.equal(await peerConnect(file, peer!), 'error ACCESS_DENIED');
      assert.equal(await peerConnect(file, { ...peer!, gid: ourGid }), 'connected\nreply ping');
    } finally {
      await server.close();
    }
    const userServer = await rawServer(path.join(d, 'user.sock'), 'user');
    try {
      assert.equal(await peerConnect(path.join(d, 'user.sock'), { ...peer!, gid: ourGid }), 'error ACCESS_DENIED');
    } finally {
      await userServer.close();
    }
  });

  test('the socket is never observed wider open than asked, and appears with its final mode', async () => {
    const d = dir();
    const oldUmask = process.umask(0); // a bind-then-chmod server would briefly show 0777
    try {
      for (const access of ['user', 'group', 'world'] as const) {
        const file = path.join(d, `watched-${access}.sock`);
        const watcher = track(runFixture('server-watch-mode.js', [file]));
        await waitForLine(watcher, /^watching$/);
        const cycles = 15;
        for (let i = 0; i < cycles; i++) {
          const server = await listen(file, { access });
          assert.equal(fs.lstatSync(file).mode & 0o7777, MODES[access]);
          // The first server stays until the watcher has seen it, so the check is never vacuous.
          if (i === 0) await waitForLine(watcher, /^seen$/);
          await new Promise((r) => setTimeout(r, 8));
          await server.close();
        }
        const result = waitForLine(watcher, /^\{/);
        watcher.stdin!.write('stop\n');
        const report = JSON.parse(await result) as {
          checks: number;
          present: number;
          modes: Record<string, number>;
          kinds: string[];
          stagingModes: string[];
        };
        await exited(watcher);
        assert.ok(report.present > 0, `${access}: the watcher saw the socket (${report.checks} checks)`);
        assert.deepEqual(Object.keys(report.modes), [MODES[access].toString(8)], `${access}: modes seen ${JSON.stringify(report.modes)}`);
        assert.deepEqual(report.kinds, ['socket']);
        for (const m of report.stagingModes) assert.equal(m, '700', `${access}: staging directory mode`);
      }
    } finally {
      process.umask(oldUmask);
    }
  });
});

// ---------------------------------------------------------------------------

describe('limits', () => {
  for (const auth of [false, true]) {
    test(`maxPendingConnections 3 (auth ${auth ? 'on' : 'off'}): nobody takes connections, further clients are refused, the queue never passes 3`, async () => {
      const name = uniqueName('pending');
      const server = await listen(name, { maxPendingConnections: 3, auth });
      assert.equal(server.maxPendingConnections, 3);
      let queued = 0;
      let maxQueued = 0;
      const refusals: LocalSocketError[] = [];
      server.on('newConnection', () => {
        queued++;
        maxQueued = Math.max(maxQueued, queued);
      });
      server.on('refused', (err) => refusals.push(err));
      const clients: LocalSocket[] = [];
      try {
        const total = 9;
        const attempts = await Promise.allSettled(
          Array.from({ length: total }, () => connect(name, { timeout: 3000, auth })),
        );
        for (const a of attempts) {
          if (a.status === 'fulfilled') clients.push(a.value);
          else {
            assert.ok(a.reason instanceof LocalSocketError, String(a.reason));
            // With the handshake, a client told BUSY retries until its deadline, then reports the lack of room
            // (RESOURCE_EXHAUSTED; TIMEOUT when its last try found the kernel backlog of 3 full), never AUTH_FAILED.
            if (auth) assert.ok(['RESOURCE_EXHAUSTED', 'TIMEOUT'].includes(a.reason.code), a.reason.message);
          }
        }
        // Every refused client is closed promptly.
        await waitFor(() => clients.filter((c) => c.state === 'connected').length <= 3, 3000, 'refused clients to be closed');
        await new Promise((r) => setTimeout(r, 100));
        const stillConnected = clients.filter((c) => c.state === 'connected');
        assert.equal(stillConnected.length, 3, 'the three queued clients stay connected');
        assert.equal(maxQueued, 3, 'the pending queue never held more than 3');
        // Raw peers are refused once each; authenticating clients are told BUSY on every retry.
        assert.ok(refusals.length >= 1 && (auth || refusals.length <= total - 3), `refused: ${refusals.length}`);
        // With auth, a client whose deadline ends during a retry's handshake leaves: PEER_CLOSED. Never AUTH_FAILED.
        for (const r of refusals) assert.ok(r.code === 'RESOURCE_EXHAUSTED' || (auth && r.code === 'PEER_CLOSED'), r.code);
        // Exactly three are waiting to be taken.
        const taken: LocalSocket[] = [];
        for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) taken.push(s);
        assert.equal(taken.length, 3);
        queued = 0;
        // With room again, a new client is queued.
        const late = await connect(name, { timeout: 3000, auth });
        clients.push(late);
        await server.waitForNewConnection({ timeout: 3000 }).then((s) => taken.push(s));
        assert.equal(late.state, 'connected');
        for (const t of taken) t.abort();
      } finally {
        for (const c of clients) c.abort();
        await server.close();
      }
    });
  }

  test('maxConnections 2: past it new clients are refused and `refused` fires', async () => {
    const name = uniqueName('maxconn');
    const server = await listen(name, { maxConnections: 2, auth: false });
    const refusals: LocalSocketError[] = [];
    server.on('refused', (err) => refusals.push(err));
    const clients: LocalSocket[] = [];
    try {
      clients.push(await connect(name, { timeout: 3000, auth: false }));
      const a = await server.waitForNewConnection({ timeout: 3000 });
      clients.push(await connect(name, { timeout: 3000, auth: false }));
      await server.waitForNewConnection({ timeout: 3000 }); // taken connections count too
      assert.equal(server.connectionCount, 2);
      for (let i = 0; i < 3; i++) {
        const extra = await connect(name, { timeout: 3000, auth: false }).catch((e: unknown) => e);
        if (extra instanceof LocalSocketError) continue;
        const s = extra as LocalSocket;
        clients.push(s);
        await s.waitForDisconnected({ timeout: 3000 });
      }
      await waitFor(() => refusals.length === 3, 3000, 'three refused events');
      for (const r of refusals) assert.equal(r.code, 'RESOURCE_EXHAUSTED');
      assert.equal(server.connectionCount, 2);
      assert.equal(server.hasPendingConnections(), false);
      // When one closes, there is room again.
      a.abort();
      await waitFor(() => server.connectionCount === 1, 3000, 'the closed connection to be counted out');
      clients.push(await connect(name, { timeout: 3000, auth: false }));
      const c = await server.waitForNewConnection({ timeout: 3000 });
      assert.equal(c.state, 'connected');
      assert.equal(refusals.length, 3);
    } finally {
      for (const c of clients) c.abort();
      await server.close();
    }
  });

  test('limits are validated', async () => {
    for (const bad of [0, -1, 1.5, NaN, '3', Infinity]) {
      assert.throws(() => new LocalServer({ maxPendingConnections: bad as number }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    }
    for (const bad of [0, -1, 2.5, NaN, '3']) {
      assert.throws(() => new LocalServer({ maxConnections: bad as number }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    }
    assert.equal(new LocalServer().maxPendingConnections, 30, 'Qt default');
  });
});

// ---------------------------------------------------------------------------

describe('taking pending connections', () => {
  test('newConnection, hasPendingConnections and nextPendingConnection', async () => {
    const name = uniqueName('pend');
    const server = await listen(name);
    try {
      assert.equal(server.hasPendingConnections(), false);
      assert.equal(server.nextPendingConnection(), null);
      const arrived = new Promise<void>((resolve) => server.once('newConnection', resolve));
      const client = await connect(name, { timeout: 3000 });
      await arrived;
      assert.equal(server.hasPendingConnections(), true);
      const accepted = server.nextPendingConnection();
      assert.ok(accepted);
      assert.equal(accepted.state, 'connected');
      assert.equal(server.hasPendingConnections(), false);
      assert.equal(server.nextPendingConnection(), null);
      await client.write('to server');
      if (accepted.bytesAvailable === 0) await accepted.waitForReadyRead({ timeout: 3000 });
      assert.equal(accepted.read().toString(), 'to server');
      await accepted.write('to client');
      if (client.bytesAvailable === 0) await client.waitForReadyRead({ timeout: 3000 });
      assert.equal(client.read().toString(), 'to client');
      client.abort();
      accepted.abort();
    } finally {
      await server.close();
    }
  });

  test('a connection whose client left before it was taken is dropped from the queue', async () => {
    const name = uniqueName('gone');
    const server = await listen(name);
    try {
      const arrived = new Promise<void>((resolve) => server.once('newConnection', resolve));
      const client = await connect(name, { timeout: 3000 });
      await arrived;
      client.abort();
      await waitFor(() => !server.hasPendingConnections(), 3000, 'the dead connection to leave the queue');
      assert.equal(server.nextPendingConnection(), null);
    } finally {
      await server.close();
    }
  });

  test('waitForNewConnection: TIMEOUT, ABORTED, resolves on arrival, INVALID_STATE on close', async () => {
    const name = uniqueName('wait');
    const server = await listen(name);
    try {
      await rejectsWith(server.waitForNewConnection({ timeout: 50 }), 'TIMEOUT');
      await rejectsWith(server.waitForNewConnection({ timeout: 0 }), 'TIMEOUT');
      const controller = new AbortController();
      const aborted = server.waitForNewConnection({ timeout: 5000, signal: controller.signal });
      setTimeout(() => controller.abort(), 30);
      await rejectsWith(aborted, 'ABORTED');
      await rejectsWith(server.waitForNewConnection({ signal: AbortSignal.abort() }), 'ABORTED');
      assert.equal(server.listenerCount('newConnection'), 0, 'waits clean up their listeners');

      const waiting = server.waitForNewConnection({ timeout: 5000 });
      let settled = false;
      void waiting.then(() => (settled = true), () => (settled = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(settled, false, 'still waiting with nobody connecting');
      const client = await connect(name, { timeout: 3000 });
      const accepted = await waiting;
      assert.equal(accepted.state, 'connected');
      assert.equal(server.hasPendingConnections(), false, 'the wait took the connection');
      client.abort();
      accepted.abort();

      const pendingWait = server.waitForNewConnection({ timeout: 5000 });
      setTimeout(() => void server.close(), 30);
      await rejectsWith(pendingWait, 'INVALID_STATE');
      await rejectsWith(server.waitForNewConnection({ timeout: 1000 }), 'INVALID_STATE');
    } finally {
      await server.close();
    }
  });

  test('waitForNewConnection returns a connection that was already pending at once', async () => {
    const name = uniqueName('already');
    const server = await listen(name);
    try {
      const arrived = new Promise<void>((resolve) => server.once('newConnection', resolve));
      const client = await connect(name, { timeout: 3000 });
      await arrived;
      const accepted = await server.waitForNewConnection({ timeout: 0 });
      assert.equal(accepted.state, 'connected');
      client.abort();
      accepted.abort();
    } finally {
      await server.close();
    }
  });

  test('waitForNewConnection rejects bad options with INVALID_ARGUMENT', async () => {
    const server = new LocalServer();
    await assert.rejects(server.waitForNewConnection({ timeout: NaN }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(server.waitForNewConnection({ timeout: Infinity }), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(
      server.waitForNewConnection({ signal: {} as AbortSignal }),
      (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT',
    );
  });

  test('for await (const s of server) yields connections and ends when the server closes', async () => {
    const name = uniqueName('iter');
    const server = await listen(name);
    const seen: string[] = [];
    const loop = (async () => {
      for await (const socket of server) {
        if (socket.bytesAvailable === 0) await socket.waitForReadyRead({ timeout: 3000 });
        seen.push(socket.read().toString());
        socket.abort();
        if (seen.length === 3) void server.close();
      }
      return 'ended';
    })();
    const clients: LocalSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await connect(name, { timeout: 3000 });
      clients.push(c);
      await c.write(`client ${i}`);
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([loop, new Promise((r) => (timer = setTimeout(() => r('still running'), 5000)))]);
    clearTimeout(timer);
    assert.equal(outcome, 'ended');
    assert.deepEqual(seen.sort(), ['client 0', 'client 1', 'client 2']);
    for (const c of clients) c.abort();
  });

  test('for await ends at once on a closed server, and when it closes while waiting', async () => {
    const server = await listen(uniqueName('iter2'));
    const loop = (async () => {
      let n = 0;
      for await (const _ of server) n++;
      return n;
    })();
    setTimeout(() => void server.close(), 50);
    assert.equal(await loop, 0);
    let again = 0;
    for await (const _ of server) again++;
    assert.equal(again, 0);
  });
});

// ---------------------------------------------------------------------------

describe('an inherited listening descriptor', unix, () => {
  test('a child adopts fd 3 with listen({ fd: 3 }) and a client round-trips through it', async () => {
    const d = dir();
    const file = path.join(d, 'inherited.sock');
    const alias = path.join(d, 'alias.sock');
    const parentServer = net.createServer();
    await new Promise<void>((resolve) => parentServer.listen(file, resolve));
    const fd = (parentServer as unknown as { _handle: { fd: number } })._handle.fd;
    assert.ok(Number.isInteger(fd) && fd > 2);
    // net unlinks the path it bound when it closes; a second name keeps the socket reachable after that.
    fs.linkSync(file, alias);
    const child = track(
      spawn(process.execPath, [fixture('server-listen.js'), 'fd:3', '{}'], { stdio: ['pipe', 'pipe', 'pipe', fd] }),
    );
    // Linux names the path the descriptor is bound to (from /proc/net/unix); elsewhere it stays fd:3.
    const where = isLinux ? file : 'fd:3';
    assert.equal(await waitForLine(child, /^(listening|error)/), `listening ${child.pid} ${where}`);
    // Only the child accepts from now on.
    await new Promise<void>((resolve) => parentServer.close(() => resolve()));
    assert.equal(await greeting(alias), child.pid);
    assert.equal(await greeting(alias), child.pid);
    child.stdin!.end();
    assert.equal(await exited(child), 0);
    assert.ok(fs.lstatSync(alias).isSocket(), 'an adopted descriptor has no file of ours to remove');
  });

  test('listen({ fd }) with a bad descriptor is INVALID_ARGUMENT and the server ends closed', async () => {
    for (const bad of [-1, 1.5, NaN, '3']) {
      const server = new LocalServer();
      await rejectsWith(server.listen({ fd: bad as number }), 'INVALID_ARGUMENT');
      assert.equal(server.state, 'closed');
    }
  });
});
