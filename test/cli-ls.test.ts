/**
 * `localsocket ls`: the names in the private directory with their state
 * (live and authenticated, live with another key, stale after a SIGKILLed
 * server), the pid holding each live one on Linux, dot-files and non-socket
 * entries ignored, and `--clean` removing only the proven-stale entries.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ERROR_LINE, makeHome, run, start, stop, until, type Cli, type CliHome } from './cli-helpers.js';
import { isLinux, isWindows } from './helpers.js';

interface Entry {
  name: string;
  path: string;
  state: string;
  detail: string;
  authenticated: boolean | null;
  pid: number | null;
  removed?: boolean;
}

async function listening(home: CliHome, args: string[]): Promise<Cli> {
  const cli = start(home, args);
  await until(cli.stderr, /^listening on /m, `localsocket ${args.join(' ')}`);
  return cli;
}

function parse(stdout: string): Entry[] {
  return JSON.parse(stdout) as Entry[];
}

describe('localsocket ls', { skip: isWindows && 'Windows has no private socket directory to list (test below: UNSUPPORTED)' }, () => {
  test('an empty or missing directory lists nothing', async () => {
    const home = makeHome();
    try {
      const text = await run(home, ['ls']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^no names in .+localsocket\n$/);
      const json = await run(home, ['ls', '--json']);
      assert.deepEqual(JSON.parse(json.stdout), []);
    } finally {
      home.remove();
    }
  });

  test('live (authenticated or not), stale after SIGKILL, the pid; dot-files and other files ignored; --clean removes only the stale', { timeout: 60_000 }, async () => {
    const home = makeHome();
    const otherKey = path.join(home.dir, 'other-key');
    fs.writeFileSync(otherKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const servers: Cli[] = [];
    try {
      const live = await listening(home, ['listen', 'alive', '--echo']);
      servers.push(live);
      const foreign = await listening(home, ['listen', 'foreign', '--echo', '--key-file', otherKey]);
      servers.push(foreign);
      // A server killed outright leaves its socket file behind: stale.
      const killed = await listening(home, ['listen', 'crashed', '--echo']);
      killed.child.kill('SIGKILL');
      await killed.exited;
      const dir = path.join(home.env.XDG_RUNTIME_DIR!, 'localsocket');
      assert.ok(fs.lstatSync(path.join(dir, 'crashed')).isSocket(), 'the killed server left its socket file');
      // A live server's name lock lives in the same directory, under a dot-name: never listed.
      assert.ok(fs.lstatSync(path.join(dir, '.locks')).isDirectory(), 'the name locks are in the private directory');
      // Not names: a dot-file (a lock, a record) and a regular file.
      fs.writeFileSync(path.join(dir, '.alive.lock'), '');
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a socket');

      const json = await run(home, ['ls', '--json']);
      assert.equal(json.code, 0, json.stderr);
      const entries = parse(json.stdout);
      assert.deepEqual(entries.map((e) => [e.name, e.state, e.authenticated]), [
        ['alive', 'live', true],
        ['crashed', 'stale', null],
        ['foreign', 'live', false],
      ]);
      for (const e of entries) assert.equal(e.path, path.join(dir, e.name));
      const byName = new Map(entries.map((e) => [e.name, e]));
      assert.equal(byName.get('crashed')!.pid, null);
      if (isLinux) {
        // Several servers share the directory: each one's own pid, none mistaken for another's.
        assert.equal(byName.get('alive')!.pid, live.child.pid, 'alive: its server\'s pid');
        assert.equal(byName.get('foreign')!.pid, foreign.child.pid, 'foreign: its server\'s pid');
      } else {
        assert.equal(byName.get('alive')!.pid, null, 'no pid where the platform cannot tell');
      }

      const text = await run(home, ['ls']);
      assert.equal(text.code, 0, text.stderr);
      const rows = text.stdout.trimEnd().split('\n');
      assert.match(rows[0]!, /^NAME\s+STATE\s+PID\s+DETAIL$/);
      const pidColumn = (child: Cli['child']): string => (isLinux ? String(child.pid) : '-');
      assert.match(rows[1]!, new RegExp(`^alive\\s+live, authenticated\\s+${pidColumn(live.child)}\\s+a server answers; authenticated`));
      assert.match(rows[2]!, /^crashed\s+stale\s+-\s+no server answers/);
      assert.match(rows[3]!, new RegExp(`^foreign\\s+live, not authenticated\\s+${pidColumn(foreign.child)}\\s+a server answers; key mismatch`));
      assert.equal(rows.length, 4);
      assert.ok(fs.existsSync(path.join(dir, 'crashed')), 'ls without --clean changes nothing');

      const clean = await run(home, ['ls', '--clean']);
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(clean.stdout, new RegExp(`^removed stale crashed \\(${path.join(dir, 'crashed').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'));
      assert.equal(clean.stdout.match(/^removed /gm)!.length, 1, 'only the stale entry is removed');
      assert.ok(!fs.existsSync(path.join(dir, 'crashed')));
      for (const kept of ['alive', 'foreign', '.alive.lock', 'notes.txt']) assert.ok(fs.existsSync(path.join(dir, kept)), `${kept} kept`);

      const after = parse((await run(home, ['ls', '--json', '--clean'])).stdout);
      assert.deepEqual(after.map((e) => [e.name, e.state, e.removed]), [['alive', 'live', false], ['foreign', 'live', false]]);
      // The live servers still serve.
      assert.equal((await run(home, ['connect', 'alive'], 'still here')).stdout, 'still here');
    } finally {
      for (const cli of servers) await stop(cli);
      home.remove();
    }
  });

  test('when <tmp>/localsocket-<uid> is taken, ls lists the fallback directory the short names moved to', { skip: (isWindows || process.getuid === undefined) && 'the temp-dir fallback is for Unix users' }, async () => {
    const home = makeHome();
    delete home.env.XDG_RUNTIME_DIR;
    // Something that is not our directory where the private directory would be: short names move to the config dir.
    fs.writeFileSync(path.join(home.dir, `localsocket-${process.getuid!()}`), 'squat');
    const servers: Cli[] = [];
    try {
      const live = await listening(home, ['listen', 'moved', '--echo']);
      servers.push(live);
      const fallback = path.join(home.env.XDG_CONFIG_HOME!, 'localsocket', 'sockets');
      assert.ok(fs.lstatSync(path.join(fallback, 'moved')).isSocket(), 'the server is in the fallback directory');
      const json = await run(home, ['ls', '--json']);
      assert.equal(json.code, 0, json.stderr);
      const entries = parse(json.stdout);
      assert.deepEqual(entries.map((e) => [e.name, e.path, e.state, e.authenticated]), [['moved', path.join(fallback, 'moved'), 'live', true]]);
      if (isLinux) assert.equal(entries[0]!.pid, live.child.pid);
    } finally {
      for (const cli of servers) await stop(cli);
      home.remove();
    }
  });

  test('a server that has not accepted the probe yet (stopped: the kernel shows its end of the connection with inode 0) is live with its pid', { skip: !isLinux && 'pids come from /proc (Linux)' }, async () => {
    const home = makeHome();
    const servers: Cli[] = [];
    try {
      const stopped = await listening(home, ['listen', 'stopped', '--echo']);
      servers.push(stopped);
      servers.push(await listening(home, ['listen', 'other', '--echo']));
      stopped.child.kill('SIGSTOP');
      const json = await run(home, ['ls', '--json']);
      assert.equal(json.code, 0, json.stderr);
      const entries = parse(json.stdout);
      assert.deepEqual(entries.map((e) => [e.name, e.state]), [['other', 'live'], ['stopped', 'live']]);
      assert.match(entries[1]!.detail, /did not answer the handshake/, 'the probe of the stopped server was never accepted');
      assert.equal(entries[1]!.pid, stopped.child.pid);
      assert.equal(entries[0]!.pid, servers[1]!.child.pid);
    } finally {
      for (const cli of servers) cli.child.kill('SIGCONT');
      for (const cli of servers) await stop(cli);
      home.remove();
    }
  });

  test('--clean --json marks what it removed', async () => {
    const home = makeHome();
    try {
      const killed = await listening(home, ['listen', 'gone', '--echo']);
      killed.child.kill('SIGKILL');
      await killed.exited;
      const result = await run(home, ['ls', '--json', '--clean']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(parse(result.stdout).map((e) => [e.name, e.state, e.removed]), [['gone', 'stale', true]]);
      assert.deepEqual(parse((await run(home, ['ls', '--json'])).stdout), []);
    } finally {
      home.remove();
    }
  });

  test('ls takes no NAME and rejects unknown options', async () => {
    const home = makeHome();
    try {
      const extra = await run(home, ['ls', 'myapp']);
      assert.equal(extra.code, 2);
      assert.match(extra.stderr, ERROR_LINE);
      const help = await run(home, ['help', 'ls']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: localsocket ls/);
    } finally {
      home.remove();
    }
  });
});

test('ls on Windows says UNSUPPORTED', { skip: !isWindows && 'the Windows refusal; Unix lists its private directory (above)' }, async () => {
  const home = makeHome();
  try {
    const result = await run(home, ['ls']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^localsocket: UNSUPPORTED: /);
  } finally {
    home.remove();
  }
});
