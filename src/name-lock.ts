/**
 * A short-lived mutex per socket path, held only while a server claims the
 * name (link, probe, reclaim a stale file).
 *
 * On Linux it is an abstract-namespace socket, which the kernel drops when its
 * holder dies, so the lock can never go stale. Its address is derived from a
 * per-user secret kept in the private directory (0700), so no other user can
 * compute it, bind it first, and keep our server from starting. The address
 * fills all 108 bytes of sun_path: Node 20 (libuv < 1.48) pads abstract names
 * to that length with NULs and later versions use the exact length, so a name
 * that is already full length is the same address for both, and servers on
 * different Node versions exclude each other.
 *
 * Elsewhere it is a directory in the private directory, taken with mkdir
 * (atomic) and broken when older than STALE_LOCK_MS.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadKey } from './auth/key.js';
import { sleep } from './deadline.js';
import { LocalSocketError } from './errors.js';
import { fromSystemError } from './error-map.js';
import { privateDirectory } from './names.js';
import { ensurePrivateDir, openPrivateDir } from './private-dir.js';
import type { PlatformInfo } from './platform.js';

const STALE_LOCK_MS = 10_000;
const SUN_PATH_BYTES = 108;
const LOCK_SECRET_FILE = '.lock-secret';

export type ReleaseLock = () => Promise<void>;

/** The per-user lock secret, read (or created) once per process. */
let secret: { dir: string; value: Buffer } | null = null;

function lockSecret(p: PlatformInfo): Buffer {
  const dir = privateDirectory(p);
  if (secret && secret.dir === dir) return secret.value;
  const checked = openPrivateDir(dir, p.uid, true);
  try {
    // Same rules as a key file: created atomically, owner-only, a regular file, opened without following links.
    const value = loadKey(checked.join(LOCK_SECRET_FILE), true, p).key;
    secret = { dir, value };
    return value;
  } finally {
    checked.close();
  }
}

/** The abstract address of the lock for `socketPath`: `\0` + 107 bytes, unknowable without the secret. */
export function lockAddress(socketPath: string, p: PlatformInfo): string {
  const digest = createHash('sha256').update(lockSecret(p)).update('\0').update(socketPath).digest('hex');
  return `\0${`localsocket-lock-${digest}`.padEnd(SUN_PATH_BYTES - 1, '-')}`;
}

function directoryLockKey(socketPath: string, p: PlatformInfo): string {
  return createHash('sha256').update(`${p.uid ?? ''}:${socketPath}`).digest('hex').slice(0, 40);
}

function tryAbstractLock(address: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(fromSystemError(err, 'listen'));
    });
    // Anything that connects to the lock is dropped at once.
    server.on('connection', (c) => c.destroy());
    server.listen({ path: address, exclusive: true }, () => resolve(server));
  });
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

/**
 * Takes the lock for `socketPath`, waiting up to `timeoutMs` for another of
 * our own servers that holds it.
 * @throws LocalSocketError TIMEOUT, ACCESS_DENIED (unsafe private directory)
 */
export async function acquireNameLock(socketPath: string, timeoutMs: number, p: PlatformInfo): Promise<ReleaseLock> {
  const deadline = Date.now() + timeoutMs;
  let lockDir: string | undefined;
  let address: string | undefined;
  if (p.platform === 'linux') {
    address = lockAddress(socketPath, p);
  } else {
    const base = path.join(privateDirectory(p), '.locks');
    ensurePrivateDir(privateDirectory(p), p.uid);
    ensurePrivateDir(base, p.uid);
    lockDir = path.join(base, directoryLockKey(socketPath, p));
  }
  for (let attempt = 0; ; attempt++) {
    if (lockDir) {
      if (tryDirectoryLock(lockDir)) {
        const dir = lockDir;
        return async () => fs.rmSync(dir, { recursive: true, force: true });
      }
    } else {
      const server = await tryAbstractLock(address!);
      if (server) return () => new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new LocalSocketError('TIMEOUT', 'listen: timed out waiting for another server claiming this name');
    }
    await sleep(Math.min(remaining, 2 + Math.random() * Math.min(50, 2 ** attempt)));
  }
}
