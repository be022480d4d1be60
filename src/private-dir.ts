/**
 * The per-user directory that holds short-named sockets, made and checked the
 * way tmux and ssh-agent do: created 0700, proven to be a real directory (not
 * a symlink), owned by us, and not writable by others. Anyone else could have
 * created it first in a shared temp dir.
 *
 * On Linux the directory is opened once (O_DIRECTORY | O_NOFOLLOW), checked on
 * that descriptor, and the socket inside is then reached through the
 * descriptor (`/proc/self/fd/N/<name>`), never by the path again: a directory
 * swapped in between the check and the use (where the temp dir above it is
 * writable by others) is never the one we connect or bind in.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LocalSocketError } from './errors.js';

/** The path stays out of the message (it may be another user's); it is on `cause` when the OS gave one. */
function unsafe(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `private socket directory is unsafe: ${why}`, { cause });
}

function checkStats(st: fs.Stats, uid: number | undefined): void {
  if (st.isSymbolicLink()) throw unsafe('it is a symbolic link');
  if (!st.isDirectory()) throw unsafe('it is not a directory');
  if (uid !== undefined && st.uid !== uid) throw unsafe('it belongs to another user');
  if ((st.mode & 0o022) !== 0) throw unsafe('others can write to it');
}

/** An opened, checked private directory. */
export interface PrivateDir {
  /** A path that reaches the checked directory itself: `/proc/self/fd/N` on Linux, else the directory path. */
  readonly reach: string;
  /** The path of `name` inside the checked directory. */
  join(name: string): string;
  /** Closes the descriptor. Safe to call twice. */
  close(): void;
}

function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    try {
      if (code === 'ENOENT') {
        fs.mkdirSync(dir, { mode: 0o700, recursive: true });
        return;
      }
    } catch (again) {
      throw unsafe('cannot create it', again);
    }
    throw unsafe('cannot create it', err);
  }
}

/**
 * Opens and checks the private directory (`create`: make it first if missing).
 * @throws LocalSocketError SERVER_NOT_FOUND (missing, not creating), ACCESS_DENIED (unsafe or not creatable)
 */
export function openPrivateDir(dir: string, uid: number | undefined, create: boolean): PrivateDir {
  if (create) makeDir(dir);
  if (process.platform !== 'linux') {
    checkPrivateDir(dir, uid);
    return { reach: dir, join: (name) => path.join(dir, name), close: () => {} };
  }
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LocalSocketError('SERVER_NOT_FOUND', 'server not found', { cause: err });
    if (code === 'ELOOP') throw unsafe('it is a symbolic link', err);
    if (code === 'ENOTDIR') throw unsafe('it is not a directory', err);
    throw unsafe('cannot open it', err);
  }
  try {
    checkStats(fs.fstatSync(fd), uid);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let open = true;
  const reach = `/proc/self/fd/${fd}`;
  return {
    reach,
    join: (name) => `${reach}/${name}`,
    close: () => {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}

/**
 * Checks by path (for reports, and platforms without /proc).
 * @throws LocalSocketError SERVER_NOT_FOUND (missing), ACCESS_DENIED (unsafe)
 */
export function checkPrivateDir(dir: string, uid: number | undefined): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LocalSocketError('SERVER_NOT_FOUND', 'server not found', { cause: err });
    }
    throw unsafe('cannot inspect it', err);
  }
  checkStats(st, uid);
}

/**
 * Creates the directory 0700 if missing (never following a symlink), then checks it.
 * @throws LocalSocketError ACCESS_DENIED
 */
export function ensurePrivateDir(dir: string, uid: number | undefined): void {
  openPrivateDir(dir, uid, true).close();
}
