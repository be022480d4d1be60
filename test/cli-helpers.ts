/** Running the built CLI as child processes in a private temporary home (key, runtime and config dirs). */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { distDir, tempDir } from './helpers.js';

export const MAIN = path.join(distDir, 'cjs', 'cli', 'main.js');
export const ERROR_LINE = /^localsocket: [A-Z_]+: \S.*\n$/;

/** A private home for the children: key file, runtime and config dirs. */
export interface CliHome {
  dir: string;
  keyFile: string;
  env: NodeJS.ProcessEnv;
  remove(): void;
}

/** A temp directory with XDG_RUNTIME_DIR (0700), XDG_CONFIG_HOME holding the default key, and a second key file. */
export function makeHome(): CliHome {
  const dir = tempDir('lscli-');
  const runtime = path.join(dir, 'run');
  const config = path.join(dir, 'config');
  fs.mkdirSync(runtime, { mode: 0o700 });
  fs.chmodSync(runtime, 0o700);
  fs.mkdirSync(path.join(config, 'localsocket'), { recursive: true, mode: 0o700 });
  const key = `${randomBytes(32).toString('hex')}\n`;
  fs.writeFileSync(path.join(config, 'localsocket', 'key'), key, { mode: 0o600 });
  const keyFile = path.join(dir, 'key');
  fs.writeFileSync(keyFile, key, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: config,
    LOCALAPPDATA: config,
    SYSTEMROOT: process.env.SYSTEMROOT,
    WINELOADER: process.env.WINELOADER,
    TMPDIR: dir,
  };
  return { dir, keyFile, env, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(home: CliHome, args: string[], input?: string | Buffer): Cli {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: home.env });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => {});
  if (input !== undefined) child.stdin!.end(input);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => Buffer.concat(out).toString(), stderr: () => Buffer.concat(err).toString(), exited };
}

export async function run(home: CliHome, args: string[], input: string | Buffer = '', timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = start(home, args, input);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await cli.exited;
  clearTimeout(timer);
  assert.equal(signal, null, `localsocket ${args.join(' ')} was killed (${signal}); stderr: ${cli.stderr()}`);
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

export async function until(read: () => string, pattern: RegExp, what: string, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = read().match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`${what}: no match for ${pattern} within ${timeoutMs} ms; got: ${read().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `listen NAME --messages ...` and resolves once it is ready. */
export async function startMessageServer(home: CliHome, name: string, extra: string[] = []): Promise<Cli> {
  const cli = start(home, ['listen', name, '--messages', ...extra]);
  const exitedEarly = cli.exited.then(({ code }) => {
    throw new Error(`listen --messages exited early (${code}): ${cli.stderr()}`);
  });
  await Promise.race([until(cli.stderr, /^listening on .+ \(messages\)$/m, 'listen --messages'), exitedEarly]);
  exitedEarly.catch(() => {});
  return cli;
}

export async function stop(cli: Cli): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGTERM');
  await cli.exited;
}

/** The JSON lines `listen --messages` printed so far. */
export function lines(cli: Cli): Array<Record<string, unknown>> {
  return cli
    .stdout()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
