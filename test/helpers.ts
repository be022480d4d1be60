/** Shared test utilities: unique names, descriptor counts, child processes, an unprivileged user. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const isWindows = process.platform === 'win32';
export const isLinux = process.platform === 'linux';
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
/**
 * The Windows node.exe running under Wine (scripts/windows): Wine's loader sets WINELOADER in
 * every process it starts. Only for the documented divergences (scripts/windows/README.md).
 */
export const isWine = isWindows && process.env.WINELOADER !== undefined;
/** Why a test of "two servers race for one name" cannot hold under Wine. */
export const WINE_SECOND_LISTEN =
  'Wine divergence: a second listen on a live pipe name succeeds at the OS level (real Windows: EADDRINUSE, libuv creates the first instance with FILE_FLAG_FIRST_PIPE_INSTANCE), so two listens racing past the probe both win';

/** A fresh short server name, unique to this test run. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** A fresh world-traversable directory for tests that need full paths. */
export function tempDir(prefix = 'lstest-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Whether every user may traverse `dir` and each directory above it. */
function traversableByAll(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      if ((fs.statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (path.dirname(d) === d) return true;
  }
}

/**
 * A fresh 0755 directory that another user can reach, for tests that run a
 * peer as a second user. Under os.tmpdir() when every user can traverse it;
 * otherwise (TMPDIR is private, as `npm test` makes it) under /tmp.
 */
export function sharedTempDir(prefix = 'lstest-shared-'): string {
  const base = isWindows || traversableByAll(os.tmpdir()) ? os.tmpdir() : '/tmp';
  const dir = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * A full server name for tests that need one rather than a short name: the
 * socket path `dir/base` on Unix; on Windows a pipe name unique to `dir`
 * (`\\.\pipe\<dir's name>-<base>`), since named pipes live in no directory.
 */
export function fullName(dir: string, base: string): string {
  return isWindows ? `\\\\.\\pipe\\${path.basename(dir)}-${base}` : path.join(dir, base);
}

/** Open descriptors of this process (Linux). */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export const distDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const fixture = (name: string): string => path.join(distDir, 'test', 'fixtures', name);

/** Resolves once `child` prints a line matching `pattern` on stdout (with a deadline). */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got: ${buffer.slice(-500)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        cleanup();
        resolve(line);
      }
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`child exited before printing ${pattern}; got: ${buffer.slice(-500)}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Runs a fixture script with node; returns the child (stdout/stderr piped).
 * As another user, it runs the run's copy of the fixtures (which that user can
 * reach wherever the checkout is) in an environment of that user's own: HOME,
 * TMPDIR and XDG_CONFIG_HOME in its home for this run, plus `options.env`.
 */
export function runFixture(name: string, args: string[], options: { asUser?: PeerUser; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  if (options.asUser) {
    const u = options.asUser;
    const home = peerHome(u);
    const env = { PATH: process.env.PATH, USER: u.name, LOGNAME: u.name, HOME: home, TMPDIR: path.join(home, 'tmp'), XDG_CONFIG_HOME: path.join(home, 'config'), ...options.env };
    return spawn(
      'setpriv',
      [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', process.execPath, path.join(testPeers()!.root, 'dist', 'test', 'fixtures', name), ...args],
      { stdio: ['pipe', 'pipe', 'pipe'], env },
    );
  }
  return spawn(process.execPath, [fixture(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
}

/** Collects a child's stdout and exit code. */
export function finished(child: ChildProcess, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not finish within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

export interface PeerUser {
  name: string;
  uid: number;
  gid: number;
}

/** This run's second-user set-up, from scripts/run-tests.mjs (scripts/test-peers.mjs); null outside it. */
interface TestPeers {
  runId: string;
  /** Reachable by every user: the copy of dist the peers run, and their homes. */
  root: string;
  /** The comment field of this run's users (names the wrapper that deletes them). */
  comment: string;
}

function testPeers(): TestPeers | null {
  const raw = process.env.LOCALSOCKET_TEST_PEERS;
  return raw === undefined ? null : (JSON.parse(raw) as TestPeers);
}

/**
 * Why tests that need a second user skip here, saying how to run them; false
 * when `unprivilegedUser()` works.
 */
export function secondUserSkip(): string | false {
  if (testPeers() !== null) return false;
  return process.env.LOCALSOCKET_TEST_PEERS_SKIP
    ?? 'second users are made by scripts/run-tests.mjs (npm test, as root on Linux), which deletes them afterwards: run the file through it';
}

function userExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The user's home for this run (in the run's peer root, 0700, theirs), made on first use. */
function peerHome(user: PeerUser): string {
  const home = path.join(testPeers()!.root, 'home', user.name);
  if (!fs.existsSync(path.join(home, 'tmp'))) {
    for (const dir of [home, path.join(home, 'tmp'), path.join(home, 'config')]) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chownSync(dir, user.uid, user.gid);
    }
  }
  return home;
}

/**
 * An unprivileged user for permission tests, so that no permission test
 * passes only because root ignores file modes. Each `name` is a different
 * user, made for this test run (as `<name>-<run id>`) on first use and deleted
 * with everything it left when the run ends (scripts/run-tests.mjs).
 * Returns null where that is impossible; {@link secondUserSkip} says why.
 */
export function unprivilegedUser(name = 'lsock-peer'): PeerUser | null {
  const peers = testPeers();
  if (!isRoot || !isLinux || peers === null) return null;
  const user = `${name}-${peers.runId}`;
  // Test files run in parallel processes: another may be making the same user, or holding the passwd lock.
  for (let attempt = 0; !userExists(user); attempt++) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', path.join(peers.root, 'home', user), '--shell', '/usr/sbin/nologin', '--comment', peers.comment, user], { stdio: 'ignore' });
    } catch (err) {
      if (attempt >= 50) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { name: user, uid, gid };
}

/** Fails the test on any unhandled rejection or uncaught exception while `fn` runs and shortly after. */
export async function noStrayErrors(fn: () => Promise<void>): Promise<void> {
  const seen: unknown[] = [];
  const onError = (err: unknown): void => {
    seen.push(err);
  };
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  }
  if (seen.length > 0) throw new Error(`stray errors: ${seen.map(String).join('; ')}`);
}

/** Polls `predicate` every 5 ms until it holds, or rejects after `timeoutMs`. */
export function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}
/**
 * Whether this runtime binds Linux abstract names at their exact length
 * (libuv 1.48+, Node 22+). Node 20 pads them, so the library refuses them there.
 */
export const abstractWorks = isLinux && ((): boolean => {
  const [major = 0, minor = 0] = process.versions.uv.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 48);
})();
/** Skip reason for tests that need working abstract names. */
export const ABSTRACT_SKIP = !isLinux ? 'abstract names are Linux-only' : !abstractWorks && `libuv ${process.versions.uv} pads abstract names (Node 22+ needed); test/abstract.test.ts checks the UNSUPPORTED refusal here`;
