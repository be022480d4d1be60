/**
 * A short-lived mutex per socket path, held only while a server claims the
 * name (link, probe, reclaim a stale file). On Linux it is an abstract-namespace
 * socket: the kernel drops it when its holder dies, so the lock itself can
 * never go stale. Elsewhere it is a directory in our private directory, taken
 * with mkdir (atomic) and broken when older than STALE_LOCK_MS.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep } from './deadline.js';
import { LocalSocketError } from './errors.js';
import { privateDirectory } from './names.js';
import { ensurePrivateDir } from './private-dir.js';
import type { PlatformInfo } from './platform.js';

const STALE_LOCK_MS = 10_000;

export type ReleaseLock = () => Promise<void>;

function lockKey(socketPath: string, p: PlatformInfo): string {
  return createHash('sha256').update(`${p.uid ?? ''}:${socketPath}`).digest('hex').slice(0, 40);
}

function tryAbstractLock(key: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    // Anything that connects to the lock is dropped at once.
    server.on('connection', (c) => c.destroy());
    server.listen({ path: `\0localsocket-lock-${key}`, exclusive: true }, () => resolve(server));
  });
}

function tryDirectoryLock(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs > STALE_LOCK_MS) fs.rmdirSync(dir);
    } catch {
      // Released meanwhile: the next attempt takes it.
    }
    return false;
  }
}

export async function acquireNameLock(socketPath: string, timeoutMs: number, p: PlatformInfo): Promise<ReleaseLock> {
  const key = lockKey(socketPath, p);
  const deadline = Date.now() + timeoutMs;
  let lockDir: string | undefined;
  if (p.platform !== 'linux') {
    const base = path.join(privateDirectory(p), '.locks');
    ensurePrivateDir(privateDirectory(p), p.uid);
    ensurePrivateDir(base, p.uid);
    lockDir = path.join(base, key);
  }
  for (let attempt = 0; ; attempt++) {
    if (lockDir) {
      if (tryDirectoryLock(lockDir)) {
        const dir = lockDir;
        return async () => fs.rmSync(dir, { recursive: true, force: true });
      }
    } else {
      const server = await tryAbstractLock(key);
      if (server) return () => new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new LocalSocketError('TIMEOUT', 'listen: timed out waiting for another server claiming this name');
    }
    await sleep(Math.min(remaining, 2 + Math.random() * Math.min(50, 2 ** attempt)));
  }
}
