/**
 * A short-lived mutex per socket path, held only while a server claims the
 * name (link, probe, reclaim a stale file).
 *
 * Where it lives: in a private directory of ours (0700, checked on its
 * descriptor), so no other user can see its name, create it first or remove
 * it. For a short name that is the private directory the socket goes into;
 * for a full path it is `<config>/localsocket/locks` (the directory of the
 * default key), which does not depend on a shared temp directory another user
 * could have created first.
 *
 * On Linux the lock is a directory `<hash of the socket path>` holding one
 * listening socket of its holder, under a name unique to that holder:
 * - take: bind and listen inside a fresh temp directory, then rename() that
 *   directory to the lock's name. rename() replaces an empty directory and
 *   fails on a non-empty one, atomically: one of several racers wins.
 * - release: remove our socket (a name only we ever use), then rmdir() the
 *   lock, which succeeds only while it is empty.
 * - after a crash: the socket stays but refuses connections, for good (a
 *   closed socket never listens again). Whoever finds the lock taken probes
 *   each socket in it and removes the ones that refuse, then rmdir()s the
 *   lock. Removing by a unique name can only remove that dead socket, and
 *   rmdir() never removes a lock someone holds (it is not empty), so
 *   reclaiming is race-free, with no timer and nothing that goes stale. A
 *   path in a directory, unlike an abstract address, is the same for every
 *   Node version.
 *
 * Elsewhere it is a directory taken with mkdir (atomic) and broken when older
 * than STALE_LOCK_MS.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { backoff, NAME_LOCK_BACKOFF } from '../backoff.js';
import { sleep } from '../deadline.js';
import { LocalSocketError } from '../errors.js';
import { fromSystemError } from '../error-map.js';
import { privateDirectory, userDirectory, type Endpoint } from './names.js';
import { openPrivateDir, type PrivateDir } from './private-dir.js';
import type { PlatformInfo } from './platform.js';

const STALE_LOCK_MS = 10_000;
const PROBE_TIMEOUT_MS = 1000;

export type ReleaseLock = () => Promise<void>;

function lockKey(socketPath: string): string {
  return createHash('sha256').update(socketPath).digest('hex').slice(0, 32);
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/**
 * The checked directory that holds the locks for this endpoint: inside the
 * private directory for a short name; for a full path under the user's own
 * directory, or (only when that cannot be created, e.g. no home) the private one.
 */
function openLockParent(endpoint: Endpoint, p: PlatformInfo): PrivateDir {
  if (!endpoint.privateDir) {
    const own = userDirectory(p);
    if (own) {
      let user: PrivateDir | undefined;
      try {
        user = openPrivateDir(own, p.uid, true, { what: 'localsocket directory is unsafe' });
      } catch (err) {
        if (!(err instanceof LocalSocketError && /cannot create it$/.test(err.message))) throw err;
      }
      if (user) {
        try {
          return openPrivateDir(user.join('locks'), p.uid, true, { what: 'lock directory is unsafe' });
        } finally {
          user.close();
        }
      }
    }
  }
  const dir = openPrivateDir(endpoint.privateDir ?? privateDirectory(p), p.uid, true);
  try {
    return openPrivateDir(dir.join('.locks'), p.uid, true, { what: 'lock directory is unsafe' });
  } finally {
    dir.close();
  }
}

/** Whether a socket answers: only a refused connection (or no file) proves it dead. */
function socketIsDead(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath });
    const done = (dead: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(dead);
    };
    // A lock holder that does not answer in time is counted as alive: we wait, we never remove it.
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done(false));
    socket.once('error', (err) => done(isCode(err, 'ECONNREFUSED', 'ENOENT')));
  });
}

/** Removes the dead holders' sockets from a taken lock, then the lock if it is empty. */
async function reclaimIfDead(lock: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = fs.readdirSync(lock);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return true;
    throw fromSystemError(err, 'listen');
  }
  for (const entry of entries) {
    const socketPath = path.join(lock, entry);
    if (!(await socketIsDead(socketPath))) return false;
    // The name is unique to its (dead) holder: this can remove nothing else.
    fs.rmSync(socketPath, { force: true });
  }
  try {
    fs.rmdirSync(lock);
  } catch (err) {
    // Taken again meanwhile (not empty) or already gone: nothing of anyone else's was touched.
    if (!isCode(err, 'ENOENT', 'ENOTEMPTY', 'EEXIST')) throw fromSystemError(err, 'listen');
  }
  return true;
}

function listenOnLockSocket(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(fromSystemError(err, 'listen')));
    server.listen({ path: socketPath }, () => resolve());
  });
}

async function acquireSocketLock(parent: PrivateDir, socketPath: string, deadline: number): Promise<ReleaseLock> {
  const lock = parent.join(lockKey(socketPath));
  const id = randomBytes(8).toString('hex');
  const staging = parent.join(`.take-${id}`);
  try {
    fs.mkdirSync(staging, { mode: 0o700 });
  } catch (err) {
    throw fromSystemError(err, 'listen');
  }
  const server = net.createServer((c) => c.destroy());
  let held = false;
  try {
    await listenOnLockSocket(server, path.join(staging, `${id}.sock`));
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(staging, lock);
        held = true;
        break;
      } catch (err) {
        if (!isCode(err, 'ENOTEMPTY', 'EEXIST')) throw fromSystemError(err, 'listen');
      }
      // A dead holder was cleared: try again at once (still within the deadline, whatever happens).
      if ((await reclaimIfDead(lock)) && Date.now() < deadline) continue;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new LocalSocketError('TIMEOUT', 'listen: timed out waiting for another server claiming this name');
      }
      await sleep(Math.min(remaining, backoff(NAME_LOCK_BACKOFF, attempt)));
    }
  } finally {
    if (!held) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return async () => {
    // Our socket's name is ours alone; rmdir() removes the lock only while it is empty.
    fs.rmSync(path.join(lock, `${id}.sock`), { force: true });
    try {
      fs.rmdirSync(lock);
    } catch {
      // Already reclaimed by a racer that found our socket closed: the lock is free either way.
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

function tryDirectoryLock(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, 'listen');
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs > STALE_LOCK_MS) fs.rmdirSync(dir);
    } catch {
      // Released meanwhile: the next attempt takes it.
    }
    return false;
  }
}

async function acquireDirectoryLock(parent: PrivateDir, socketPath: string, deadline: number): Promise<ReleaseLock> {
  const dir = parent.join(lockKey(socketPath));
  for (let attempt = 0; ; attempt++) {
    if (tryDirectoryLock(dir)) return async () => fs.rmSync(dir, { recursive: true, force: true });
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new LocalSocketError('TIMEOUT', 'listen: timed out waiting for another server claiming this name');
    }
    await sleep(Math.min(remaining, backoff(NAME_LOCK_BACKOFF, attempt)));
  }
}

/**
 * Takes the lock for the endpoint's socket path, waiting up to `timeoutMs`
 * for another of our own servers that holds it.
 * @throws LocalSocketError TIMEOUT, ACCESS_DENIED (unsafe private, user or lock directory)
 */
export async function acquireNameLock(endpoint: Endpoint, timeoutMs: number, p: PlatformInfo): Promise<ReleaseLock> {
  const deadline = Date.now() + timeoutMs;
  const parent = openLockParent(endpoint, p);
  let release: ReleaseLock;
  try {
    release =
      p.platform === 'linux'
        ? await acquireSocketLock(parent, endpoint.address, deadline)
        : await acquireDirectoryLock(parent, endpoint.address, deadline);
  } catch (err) {
    parent.close();
    throw err;
  }
  return async () => {
    try {
      await release();
    } finally {
      parent.close();
    }
  };
}
