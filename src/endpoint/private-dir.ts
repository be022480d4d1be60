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
import { LocalSocketError } from '../errors.js';

/** How a checked directory is named in errors, and whose it may be. */
export interface DirRules {
  /** The start of the error message: "private socket directory is unsafe", "key directory refused". */
  what: string;
  /** Also accept a directory owned by root (root can read everything anyway), as ssh does for key directories. */
  rootMayOwn?: boolean;
}

const PRIVATE: DirRules = { what: 'private socket directory is unsafe' };

/** The path stays out of the message (it may be another user's); it is on `cause` when the OS gave one. */
function unsafe(rules: DirRules, why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `${rules.what}: ${why}`, { cause });
}

function checkStats(st: fs.Stats, uid: number | undefined, rules: DirRules): void {
  if (st.isSymbolicLink()) throw unsafe(rules, 'it is a symbolic link');
  if (!st.isDirectory()) throw unsafe(rules, 'it is not a directory');
  if (uid !== undefined && st.uid !== uid && !(rules.rootMayOwn && st.uid === 0)) throw unsafe(rules, 'it belongs to another user');
  if ((st.mode & 0o022) !== 0) throw unsafe(rules, 'others can write to it');
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

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function makeDir(dir: string, rules: DirRules): void {
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
      throw unsafe(rules, 'cannot create it', again);
    }
    throw unsafe(rules, 'cannot create it', err);
  }
}

/**
 * Opens and checks the private directory (`create`: make it first if missing).
 * @throws LocalSocketError SERVER_NOT_FOUND (missing, not creating), ACCESS_DENIED (unsafe or not creatable)
 */
export function openPrivateDir(dir: string, uid: number | undefined, create: boolean, rules: DirRules = PRIVATE): PrivateDir {
  if (create) makeDir(dir, rules);
  if (process.platform !== 'linux') {
    checkPrivateDir(dir, uid, rules);
    return { reach: dir, join: (name) => path.join(dir, name), close: () => {} };
  }
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LocalSocketError('SERVER_NOT_FOUND', 'server not found', { cause: err });
    if (code === 'ELOOP') throw unsafe(rules, 'it is a symbolic link', err);
    // O_DIRECTORY | O_NOFOLLOW on a link gives ENOTDIR: lstat (which never follows) tells which it is.
    if (code === 'ENOTDIR') throw unsafe(rules, isLink(dir) ? 'it is a symbolic link' : 'it is not a directory', err);
    throw unsafe(rules, 'cannot open it', err);
  }
  try {
    checkStats(fs.fstatSync(fd), uid, rules);
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
 * The checked directories dials go through, by path (Linux): the descriptor of each stays open, so
 * a dial costs one lstat of the path instead of open + fstat + close (system calls cost 5-20 µs each
 * on a loaded VM: most of what a raw-mode connect spends beyond raw `net`). At most
 * {@link MAX_CACHED_DIRS}, each closed when evicted; O_CLOEXEC (Node's default), so no child
 * inherits one.
 */
interface CachedDir {
  fd: number;
  dev: number;
  ino: number;
  uid: number | undefined;
  dir: PrivateDir;
}
const cachedDirs = new Map<string, CachedDir>();
const MAX_CACHED_DIRS = 8;
const keepOpen = (): void => {};

function forget(path: string, entry: CachedDir): void {
  cachedDirs.delete(path);
  fs.closeSync(entry.fd);
}

/**
 * The lstat of a private directory that name resolution just made (platform.ts `takenByOther`),
 * handed to the dial made in the same synchronous run so that one connect lstats the directory
 * once, not twice (a system call costs 5-20 µs on a loaded VM). It is forgotten at the end of that
 * run (a microtask): a dial on any later turn, a retry included, looks at the path afresh.
 */
let dirSeen: { dir: string; st: fs.Stats } | null = null;

function forgetDirSeen(): void {
  dirSeen = null;
}

/** Records the lstat of `dir` made now, for a dial in this same run. */
export function noteDirSeen(dir: string, st: fs.Stats): void {
  if (dirSeen === null) queueMicrotask(forgetDirSeen);
  dirSeen = { dir, st };
}

/** The lstat of `dir` made in this run, if any, taken once. */
function takeDirSeen(dir: string): fs.Stats | undefined {
  if (dirSeen === null || dirSeen.dir !== dir) return undefined;
  const { st } = dirSeen;
  dirSeen = null;
  return st;
}

/**
 * The private directory to dial through, as {@link openPrivateDir} (never creating it), with the
 * same checks and errors, but its descriptor kept for the next dial (`close()` does nothing). Each
 * use checks the path again with one lstat: the same directory (device and inode of the descriptor),
 * still a directory that is ours and not writable by others. If the path now names something else
 * (replaced, removed, a link), the kept descriptor is closed and the directory opened and checked
 * afresh, so every dial sees what a fresh open would. As with a fresh open, a swap after the check
 * leads nowhere: the socket is reached through the checked descriptor, never by the path.
 * @throws LocalSocketError SERVER_NOT_FOUND (missing), ACCESS_DENIED (unsafe)
 */
export function openPrivateDirForDial(dir: string, uid: number | undefined): PrivateDir {
  if (process.platform !== 'linux') return openPrivateDir(dir, uid, false);
  const entry = cachedDirs.get(dir);
  if (entry !== undefined) {
    let st: fs.Stats | undefined = takeDirSeen(dir);
    if (st === undefined) {
      try {
        st = fs.lstatSync(dir);
      } catch {
        st = undefined; // gone or unreadable: the fresh open below says which
      }
    }
    if (st !== undefined && st.dev === entry.dev && st.ino === entry.ino && entry.uid === uid) {
      checkStats(st, uid, PRIVATE); // the mode or owner may have changed since: refused as a fresh check would
      return entry.dir;
    }
    forget(dir, entry);
  }
  const opened = openPrivateDir(dir, uid, false);
  const fd = Number(opened.reach.slice('/proc/self/fd/'.length));
  const st = fs.fstatSync(fd);
  if (cachedDirs.size >= MAX_CACHED_DIRS) {
    const [oldest, old] = cachedDirs.entries().next().value as [string, CachedDir];
    forget(oldest, old);
  }
  const reach = opened.reach;
  const kept: PrivateDir = { reach, join: (name) => `${reach}/${name}`, close: keepOpen };
  cachedDirs.set(dir, { fd, dev: st.dev, ino: st.ino, uid, dir: kept });
  return kept;
}

/**
 * Checks by path (for reports, and platforms without /proc).
 * @throws LocalSocketError SERVER_NOT_FOUND (missing), ACCESS_DENIED (unsafe)
 */
export function checkPrivateDir(dir: string, uid: number | undefined, rules: DirRules = PRIVATE): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LocalSocketError('SERVER_NOT_FOUND', 'server not found', { cause: err });
    }
    throw unsafe(rules, 'cannot inspect it', err);
  }
  checkStats(st, uid, rules);
}

/**
 * Creates the directory 0700 if missing (never following a symlink), then checks it.
 * @throws LocalSocketError ACCESS_DENIED
 */
export function ensurePrivateDir(dir: string, uid: number | undefined): void {
  openPrivateDir(dir, uid, true).close();
}
