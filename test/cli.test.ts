/**
 * The `localsocket` executable, driven as a child process exactly as a user
 * runs it: `node dist/cjs/cli/main.js ...`. Exit codes, the one-line error
 * format, and the socket files left (or not) on disk are checked from outside.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveName } from '../src/endpoint/names.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { ensurePrivateDir } from '../src/endpoint/private-dir.js';
import { until } from './cli-helpers.js';
import { abstractWorks, distDir, isWindows, uniqueName } from './helpers.js';

const MAIN = path.join(distDir, 'cjs', 'cli', 'main.js');
const ERROR_LINE = /^localsocket: [A-Z_]+: \S.*\n$/;

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** How it ended: an exit code, or the signal that killed it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the CLI; collects its output from the first byte. */
function start(args: string[], input?: string | Buffer): Cli {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => {}); // a child that exits early must not fail the test through EPIPE
  if (input !== undefined) child.stdin!.end(input);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => Buffer.concat(out).toString(), stderr: () => Buffer.concat(err).toString(), exited };
}

/** Runs the CLI to completion (killed after `timeoutMs`, which fails the test). */
async function run(args: string[], input: string | Buffer = '', timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = start(args, input);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await cli.exited;
  clearTimeout(timer);
  assert.equal(signal, null, `localsocket ${args.join(' ')} was killed (${signal}); stderr: ${cli.stderr()}`);
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}


/** Starts `listen` and resolves once it reported its endpoint on stderr. */
async function startListen(args: string[]): Promise<{ cli: Cli; endpoint: string }> {
  const cli = start(['listen', ...args]);
  const exitedEarly = cli.exited.then(({ code }) => {
    throw new Error(`listen exited early (${code}): ${cli.stderr()}`);
  });
  const match = await Promise.race([until(cli.stderr, /^listening on (.+)$/m, 'listen'), exitedEarly]);
  exitedEarly.catch(() => {});
  return { cli, endpoint: match[1]! };
}

/**
 * The exit status of a `listen` stopped with stop(): 0 on Unix (SIGTERM asks for a clean stop).
 * Windows has no signals between processes: child.kill() is TerminateProcess, so the status is
 * null there (and a named pipe leaves nothing behind to clean up).
 */
const STOPPED = isWindows ? null : 0;

async function stop(cli: Cli, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (cli.child.exitCode !== null) return cli.child.exitCode;
  cli.child.kill(signal);
  const { code } = await cli.exited;
  return code;
}

function resolvedPath(name: string): string {
  return resolveName(name, {}, currentPlatform()).address;
}

/** A socket file with nobody behind it: a raw server bound it and was killed with SIGKILL. */
async function makeStaleSocket(file: string): Promise<void> {
  // The path is the last argument (Deno puts its own eval file name before it).
  const script = "const s=require('net').createServer();s.listen(process.argv.at(-1),()=>process.stdout.write('ready\\n'));";
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', () => reject(new Error('the stale-socket helper exited early')));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  assert.ok(fs.lstatSync(file).isSocket(), 'the killed server left its socket file');
}

describe('localsocket CLI', () => {
  it('prints help for the tool and for every command, exit 0', async () => {
    const commands = ['demo', 'listen', 'connect', 'check', 'path'];
    // Independent processes, started together: under Wine each start is seconds of latency. Six at
    // once each take longer on a busy machine, so each gets 60 s (a hang, not a slow start, fails).
    const [top, ...helps] = await Promise.all([run(['--help'], '', 60_000), ...commands.map((command) => run([command, '--help'], '', 60_000))]);
    assert.equal(top!.code, 0);
    for (const [i, command] of commands.entries()) {
      assert.match(top!.stdout, new RegExp(`^  ${command} `, 'm'));
      const help = helps[i]!;
      assert.equal(help.code, 0, `${command} --help`);
      assert.match(help.stdout, new RegExp(`^Usage: localsocket ${command}`));
      assert.equal(help.stderr, '');
    }
  });

  it('reports usage errors as one INVALID_ARGUMENT line with exit 2', async () => {
    const cases = [
      ['connect'], // missing NAME
      ['listen', uniqueName('cli'), '--bogus'],
      ['listen', uniqueName('cli'), '--access', 'everyone'],
      ['connect', uniqueName('cli'), '--timeout', 'soon'],
      ['connect', uniqueName('cli'), '--raw', '--key-file', 'k'],
      ['path', 'a', 'b'],
      ['frobnicate'],
      [],
    ];
    // Independent processes, started together: under Wine each start is seconds of latency. Eight
    // at once each take longer on a busy machine, so each gets 60 s (a hang, not a slow start, fails).
    const results = await Promise.all(cases.map((args) => run(args, '', 60_000)));
    for (const [i, args] of cases.entries()) {
      const result = results[i]!;
      assert.equal(result.code, 2, `exit status of: localsocket ${args.join(' ')}`);
      assert.match(result.stderr, ERROR_LINE, `one error line for: localsocket ${args.join(' ')}`);
      assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: /);
      assert.equal(result.stdout, '');
    }
  });

  it('connect to a missing server: one SERVER_NOT_FOUND line, exit 1', async () => {
    const result = await run(['connect', uniqueName('cli-none'), '--timeout', '2000'], 'hello\n');
    assert.equal(result.code, 1);
    assert.match(result.stderr, ERROR_LINE);
    assert.match(result.stderr, /^localsocket: SERVER_NOT_FOUND: /);
    assert.equal(result.stdout, '');
  });

  it('path prints the endpoint a name resolves to', async () => {
    const name = uniqueName('cli-path');
    // Windows default names publish a random pipe only while a server runs (windows-names.test.ts): raw names are plain.
    const result = await run(['path', name, ...(isWindows ? ['--raw'] : [])]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${resolveName(name, { auth: !isWindows }, currentPlatform()).address}\n`);
    const qt = await run(['--qt', 'path', name]);
    assert.equal(qt.stdout, `${resolveName(name, { qtCompatible: true }, currentPlatform()).address}\n`);
    if (abstractWorks) assert.equal((await run(['path', name, '--abstract'])).stdout, `@${name}\n`);
  });

  it('listen --echo and connect: round trip with the default authentication', async () => {
    const name = uniqueName('cli-echo');
    const { cli, endpoint } = await startListen([name, '--echo']);
    try {
      if (isWindows) assert.match(endpoint, /^\\\\\.\\pipe\\localsocket-[0-9a-f]{32}$/, 'a random pipe published in the record');
      else assert.equal(endpoint, resolvedPath(name));
      const line = await run(['connect', name], 'hello, server\n');
      assert.deepEqual(line, { code: 0, stdout: 'hello, server\n', stderr: '' });
      // A larger binary payload comes back byte for byte, even though stdin ends right after it.
      const payload = randomBytes(1024 * 1024);
      const big = start(['connect', name], payload);
      const chunks: Buffer[] = [];
      big.child.stdout!.on('data', (c: Buffer) => chunks.push(c));
      assert.equal((await big.exited).code, 0, big.stderr());
      assert.ok(Buffer.concat(chunks).equals(payload), 'echoed bytes equal the bytes sent');
    } finally {
      assert.equal(await stop(cli), STOPPED);
    }
  });

  it('listen --raw and connect --raw: round trip without the handshake', async () => {
    const name = uniqueName('cli-raw');
    const { cli } = await startListen([name, '--echo', '--raw']);
    try {
      const result = await run(['connect', name, '--raw'], 'plain bytes\n');
      assert.deepEqual(result, { code: 0, stdout: 'plain bytes\n', stderr: '' });
    } finally {
      assert.equal(await stop(cli), STOPPED);
    }
  });

  it('listen without --echo writes what clients send to stdout', async () => {
    const name = uniqueName('cli-sink');
    const { cli } = await startListen([name]);
    try {
      assert.equal((await run(['connect', name], 'first\n')).code, 0);
      assert.equal((await run(['connect', name], 'second\n')).code, 0);
      await until(cli.stdout, /first\nsecond\n/, 'listen stdout');
    } finally {
      assert.equal(await stop(cli), STOPPED);
    }
    assert.equal(cli.stdout(), 'first\nsecond\n');
  });

  it('--max-connections refuses peers beyond the limit', async () => {
    const name = uniqueName('cli-max');
    const { cli } = await startListen([name, '--echo', '--max-connections', '1']);
    const holder = start(['connect', name]); // stdin left open: holds the one connection
    try {
      holder.child.stdin!.write('held\n');
      await until(holder.stdout, /held\n/, 'first client');
      const second = await run(['connect', name, '--timeout', '3000'], 'x');
      assert.equal(second.code, 1);
      assert.match(second.stderr, ERROR_LINE);
      holder.child.stdin!.end();
      assert.equal((await holder.exited).code, 0);
    } finally {
      holder.child.kill('SIGKILL');
      await stop(cli);
    }
  });

  it('check: a live name exits 0, a stale (Unix only: pipes vanish with their server) and a missing name exit 1', async () => {
    const live = uniqueName('cli-live');
    // Named pipes have no group: access 'group' is UNSUPPORTED there.
    const { cli, endpoint } = await startListen(isWindows ? [live] : [live, '--access', 'group']);
    try {
      const result = await run(['check', live]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`^endpoint: +${endpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      assert.match(result.stdout, /^server: +a server answers; authenticated \(it holds our key\)$/m);
      if (isWindows) {
        assert.match(result.stdout, /^kind: +pipe$/m);
        assert.match(result.stdout, /^record: +.*\.pipe \(server pid \d+\)$/m, 'the record the pipe name was read from');
        assert.match(result.stdout, /^socket: +named pipe: /m);
      } else {
        assert.match(result.stdout, /^socket: +live; socket, mode 0660, owner uid \d+/m);
        assert.match(result.stdout, /^directory: .*mode 0700, owner uid \d+.*\(private: ok\)$/m);
      }
    } finally {
      await stop(cli);
    }

    const missing = await run(['check', uniqueName('cli-missing')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^server: +no server \(nothing at this name\)$/m);
    assert.match(missing.stdout, isWindows ? /^socket: +named pipe: /m : /^socket: +none$/m);
    if (isWindows) return; // no stale pipe: a named pipe goes away with its last handle

    const stale = uniqueName('cli-stale');
    const file = resolvedPath(stale);
    ensurePrivateDir(path.dirname(file), currentPlatform().uid);
    await makeStaleSocket(file);
    try {
      const result = await run(['check', stale]);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /^server: +no server answers \(connection refused\)$/m);
      assert.match(result.stdout, /^socket: +stale: /m);
      assert.equal(result.stderr, '');
      assert.ok(fs.existsSync(file), 'check only looks: it never removes a file');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('connect --wait finds a server that starts 500 ms later', async () => {
    const name = uniqueName('cli-wait');
    const client = start(['connect', name, '--wait', '--timeout', '8000'], 'late hello\n');
    let server: Cli | undefined;
    try {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(client.child.exitCode, null, `connect --wait gave up early: ${client.stderr()}`);
      server = (await startListen([name, '--echo'])).cli;
      const { code } = await client.exited;
      assert.equal(code, 0, client.stderr());
      assert.equal(client.stdout(), 'late hello\n');
    } finally {
      client.child.kill('SIGKILL');
      if (server) await stop(server);
    }
  });

  it('SIGTERM and SIGINT stop listen cleanly and remove its socket', { skip: isWindows && 'Windows has no SIGTERM/SIGINT for another process (kill() is TerminateProcess), and named pipes leave no file' }, async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const name = uniqueName('cli-term');
      const { cli, endpoint } = await startListen([name, '--echo']);
      assert.ok(fs.lstatSync(endpoint).isSocket(), 'socket file exists while listening');
      // An open connection must not keep the server from stopping.
      const client = start(['connect', name]);
      client.child.stdin!.write('ping\n');
      await until(client.stdout, /ping\n/, 'client');
      assert.equal(await stop(cli, signal), 0, `${signal}: ${cli.stderr()}`);
      assert.equal(fs.existsSync(endpoint), false, `${signal} removed the socket file`);
      assert.equal((await client.exited).code, 0, client.stderr());
    }
  });

  it('demo runs to completion and prints its report', async () => {
    const result = await run(['demo'], '', 20_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress bar or errors when stderr is not a terminal');
    const { stdout } = result;
    // A named pipe goes away with its server: there is no stale one to reclaim on Windows.
    assert.match(stdout, isWindows ? /skipped: named pipes vanish with their server/ : /listen\(\) proved it stale, removed it and took the name/);
    assert.match(stdout, /sent "hello" +-> +echoed "hello"/);
    if (isWindows) {
      // A default name has no fixed pipe: the pipe an attacker would guess is never opened.
      assert.match(stdout, /the client never opened it: SERVER_NOT_FOUND: /);
      assert.match(stdout, /bytes the squatter received: 0$/m);
    } else {
      assert.match(stdout, /the client refused it: AUTH_FAILED: /);
      assert.match(stdout, /application bytes the impostor received: 0$/m);
    }
    assert.match(stdout, /64 MiB went there and back in .*SHA-256 of both sides match/);
    assert.match(stdout, /^report$/m);
    assert.match(stdout, /^ {2}connect, handshake included +[\d.]+ m?s \(median of 20/m);
    assert.match(stdout, /^ {2}64 MiB echo +[\d.]+ m?s, [\d.]+ MiB\/s each way$/m);
    assert.match(stdout, isWindows ? /^ {2}stale socket +skipped \(named pipes vanish with their server\)$/m : /^ {2}stale socket +reclaimed in /m);
    assert.match(stdout, isWindows ? /^ {2}impostor +never opened \(SERVER_NOT_FOUND: no record of ours names that pipe\)$/m : /^ {2}impostor +refused \(AUTH_FAILED\)$/m);
    assert.match(stdout, /^demo finished: everything worked$/m);
    const endpoint = stdout.match(/^ {2}endpoint: +(.+)$/m)?.[1];
    assert.ok(endpoint, 'the demo names its endpoint');
    if (!isWindows) assert.equal(fs.existsSync(endpoint), false, 'the demo removed its socket');
  });

  it('demo cleans up when interrupted with SIGINT', { skip: isWindows && 'no SIGINT for a child process on Windows' }, async () => {
    // A stream far larger than can finish before the signal lands.
    const demo = start(['demo', '--mib', '8192']);
    try {
      await until(demo.stdout, /^ {2}streaming /m, 'demo stream step', 15_000);
      const endpoint = demo.stdout().match(/^ {2}endpoint: +(.+)$/m)![1]!;
      const demoName = demo.stdout().match(/^ {2}name: +(.+)$/m)![1]!;
      if (!isWindows) assert.ok(fs.existsSync(endpoint), 'the demo server is listening when interrupted');
      demo.child.kill('SIGINT');
      const { code } = await demo.exited;
      assert.equal(code, 130, demo.stderr());
      assert.match(demo.stderr(), ERROR_LINE);
      assert.match(demo.stderr(), /^localsocket: ABORTED: demo interrupted/);
      assert.doesNotMatch(demo.stdout(), /demo finished/);
      if (!isWindows) {
        const dir = path.dirname(endpoint);
        const left = fs.readdirSync(dir).filter((entry) => entry.startsWith(demoName));
        assert.deepEqual(left, [], 'no socket file of the demo is left behind');
      }
    } finally {
      demo.child.kill('SIGKILL');
    }
  });
});
