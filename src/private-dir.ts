/**
 * The per-user directory that holds short-named sockets, made and checked the
 * way tmux and ssh-agent do: created 0700, and before every use proven to be a
 * real directory (not a symlink), owned by us, and not writable by others.
 * Anyone else could have created it first in a shared temp dir.
 */
import fs from 'node:fs';
import { LocalSocketError } from './errors.js';

function unsafe(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `private socket directory is unsafe: ${why}`, { cause });
}

/** Throws ACCESS_DENIED unless `dir` is a directory we own that others cannot write. */
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
  if (st.isSymbolicLink()) throw unsafe('it is a symbolic link');
  if (!st.isDirectory()) throw unsafe('it is not a directory');
  if (uid !== undefined && st.uid !== uid) throw unsafe('it belongs to another user');
  if ((st.mode & 0o022) !== 0) throw unsafe('others can write to it');
}

/** Creates the directory 0700 if missing (never following a symlink), then checks it. */
export function ensurePrivateDir(dir: string, uid: number | undefined): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fs.mkdirSync(dir, { mode: 0o700, recursive: true });
    else if (code !== 'EEXIST') throw unsafe('cannot create it', err);
  }
  checkPrivateDir(dir, uid);
}
