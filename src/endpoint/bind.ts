/**
 * Binding a net.Server to an endpoint, one function per kind of endpoint.
 *
 * Unix paths are claimed race-free and never wider open than asked:
 * 1. take the per-path name lock (name-lock.ts), kept in a private directory of ours;
 * 2. bind and listen in a fresh 0700 staging directory next to the target,
 *    and chmod the socket there, where nobody else can reach it yet;
 * 3. hard-link it to the target name: link() fails if the name exists, so
 *    this is the atomic claim;
 * 4. if the name exists: a socket that answers is live (ADDRESS_IN_USE); one
 *    that refuses is stale and is removed, but only if it is still the same
 *    file we probed, and we try again.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { probe } from './dial.js';
import { LocalSocketError } from '../errors.js';
import { fromSystemError } from '../error-map.js';
import { acquireNameLock } from './name-lock.js';
import type { Endpoint } from './names.js';
import { openPrivateDir } from './private-dir.js';
import { maxSocketPathBytes, type PlatformInfo } from './platform.js';
import { shortPathFor } from './short-path.js';

/**
 * Who may connect to a server, by the permissions of its socket file (the
 * `access` option of {@link ServerOptions}; Qt's `setSocketOptions` access
 * flags):
 *
 * - `'user'`: only our user (mode 0600; on Windows, the pipe's default ACL).
 * - `'group'`: our user and our group (0660; not available for named pipes: `UNSUPPORTED`).
 * - `'world'`: every local user (0666; on Windows, readable and writable by all).
 *
 * The socket is never reachable with wider permissions, not even between bind
 * and chmod. An abstract name has no permissions at all: there only the
 * handshake keeps others out. With auth (the default), a peer must also hold the key.
 * @defaultValue 'user'
 */
export type Access = 'user' | 'group' | 'world';

const SOCKET_MODE: Record<Access, number> = { user: 0o600, group: 0o660, world: 0o666 };
const PROBE_TIMEOUT_MS = 1000;
const LOCK_TIMEOUT_MS = 5000;

export interface Binding {
  /** Removes the socket file if (and only if) it is still the one we created. */
  removeOwnFile(): void;
}

const NO_FILE: Binding = { removeOwnFile: () => {} };

export function listenOn(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(fromSystemError(err, 'listen'));
    server.once('error', onError);
    server.listen(options, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

function addressInUse(): LocalSocketError {
  return new LocalSocketError('ADDRESS_IN_USE', 'listen: another server is listening on this name');
}

function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}

/**
 * Links `staged` to `target`, reclaiming a proven-stale socket at `target`.
 * Both are paths we may use (inside a checked directory). Caller holds the name lock.
 */
async function claimName(staged: string, target: string, endpoint: Endpoint): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.linkSync(staged, target);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, 'listen');
    }
    const before = lstatOrNull(target);
    if (!before) continue;
    if (!before.isSocket()) throw addressInUse();
    const state = await probe(endpoint, PROBE_TIMEOUT_MS);
    if (state === 'alive') throw addressInUse();
    const after = lstatOrNull(target);
    if (after && sameFile(before, after)) {
      try {
        fs.unlinkSync(target);
      } catch (err) {
        // Not ours to remove (another user's stale socket in a shared dir).
        throw new LocalSocketError('ADDRESS_IN_USE', 'listen: a stale socket of another user holds this name', { cause: err });
      }
    }
  }
  throw addressInUse();
}

/** Where the socket's directory is reached: through a checked descriptor for the private directory. */
function socketDirectory(endpoint: Endpoint, p: PlatformInfo): { dir: string; close(): void } {
  if (endpoint.privateDir) {
    const checked = openPrivateDir(endpoint.privateDir, p.uid, true);
    return { dir: checked.reach, close: () => checked.close() };
  }
  return { dir: path.dirname(endpoint.address), close: () => {} };
}

export async function bindUnixPath(
  server: net.Server,
  endpoint: Endpoint,
  access: Access,
  backlog: number,
  p: PlatformInfo,
  stillWanted: () => boolean = () => true,
): Promise<Binding> {
  const directory = socketDirectory(endpoint, p);
  let keepDirectory = false;
  try {
    const target = path.join(directory.dir, path.basename(endpoint.address));
    const release = await acquireNameLock(endpoint, LOCK_TIMEOUT_MS, p);
    let stagingDir: string | undefined;
    try {
      if (!stillWanted()) throw cancelled();
      try {
        stagingDir = fs.mkdtempSync(path.join(directory.dir, '.localsocket-'));
      } catch (err) {
        throw fromSystemError(err, 'listen');
      }
      // Random basename: libuv unlinks the bound path when the server closes,
      // and a /proc/self/fd/N path may by then name another directory.
      const staged = path.join(stagingDir, `${randomBytes(6).toString('hex')}.sock`);
      const tooLong = Buffer.byteLength(staged) > maxSocketPathBytes(p.platform);
      if (tooLong && p.platform !== 'linux') throw new LocalSocketError('INVALID_NAME', 'invalid server name: the socket path is too long');
      const short = shortPathFor(staged, tooLong, 'listen');
      try {
        await listenOn(server, { path: short.path, backlog });
      } finally {
        short.release();
      }
      try {
        fs.chmodSync(staged, SOCKET_MODE[access]);
        if (!stillWanted()) throw cancelled();
        await claimName(staged, target, endpoint);
      } catch (err) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw err instanceof LocalSocketError ? err : fromSystemError(err, 'listen');
      }
      const ours = fs.lstatSync(target);
      keepDirectory = true;
      return {
        removeOwnFile: () => {
          const now = lstatOrNull(target);
          if (now && sameFile(now, ours)) fs.rmSync(target, { force: true });
          directory.close();
        },
      };
    } finally {
      if (stagingDir) fs.rmSync(stagingDir, { recursive: true, force: true });
      await release();
    }
  } finally {
    if (!keepDirectory) directory.close();
  }
}

function cancelled(): LocalSocketError {
  return new LocalSocketError('ABORTED', 'listen: the server was closed while it was starting');
}

export async function bindAbstract(server: net.Server, endpoint: Endpoint, backlog: number): Promise<Binding> {
  try {
    await listenOn(server, { path: endpoint.address, backlog, exclusive: true });
  } catch (err) {
    if (err instanceof LocalSocketError && err.code === 'ADDRESS_IN_USE') throw addressInUse();
    throw err;
  }
  return NO_FILE;
}

/**
 * Windows: libuv creates the first pipe instance exclusively, so a second
 * listen fails with EADDRINUSE on real Windows. We probe first as well, so
 * the guarantee holds where that flag is not honoured (Wine).
 */
export async function bindPipe(server: net.Server, endpoint: Endpoint, access: Access, backlog: number): Promise<Binding> {
  if (access === 'group') throw new LocalSocketError('UNSUPPORTED', "listen: access 'group' is not available for named pipes");
  if ((await probe(endpoint, PROBE_TIMEOUT_MS)) !== 'missing') throw addressInUse();
  const world = access === 'world';
  await listenOn(server, { path: endpoint.address, backlog, readableAll: world, writableAll: world });
  return NO_FILE;
}

export async function bindFd(server: net.Server, fd: number): Promise<Binding> {
  await listenOn(server, { fd } as net.ListenOptions);
  return NO_FILE;
}
