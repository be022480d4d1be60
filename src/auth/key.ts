/**
 * The per-user secret both sides prove they hold. 32 random bytes, stored as
 * 64 hex characters in a file only its owner can read, created atomically on
 * first use. A key file others can read or write, a symlink, or anything but a
 * regular file (a FIFO, socket or device) is refused, the way ssh refuses a
 * private key with loose permissions.
 *
 * The file is opened once, without following links and without blocking (a
 * FIFO planted at the key path would otherwise block the whole event loop),
 * and every check is made on the open descriptor, never on the path again.
 *
 * Its directory is checked the same way first (opened without following a
 * link, checked on the descriptor: a real directory, ours or root's, that
 * nobody else can write to), and on Linux the key is then reached through that
 * descriptor. A key directory that is a link into another user's directory,
 * or that others can write to, would let them delete or replace the key.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from '../endpoint/platform.js';
import { openPrivateDir, type DirRules, type PrivateDir } from '../endpoint/private-dir.js';

export const KEY_BYTES = 32;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 1024;
/**
 * A key file larger than this is refused without being read. The key limit
 * applies to the key itself (after whitespace and a BOM are removed); this
 * only bounds what a reader takes in.
 */
export const MAX_KEY_FILE_BYTES = 8192;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A key and where it came from, for diagnostics that name the file (never the key). */
export interface LoadedKey {
  key: Buffer;
  /** The key file, or null for a key given in memory. */
  file: string | null;
  /** True when this process created the key file just now. */
  created: boolean;
}

/** No path in the message (errors may be shown to others); the caller knows which file it asked for. */
function keyError(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `key file refused: ${why}`, { cause });
}

/** Like the private directory, but root may own it (as ssh allows for key directories): root can read any key anyway. */
const KEY_DIR: DirRules = { what: 'key directory refused', rootMayOwn: true };

/**
 * The key file's directory, opened and checked (Windows: not checked, Node cannot read ACLs).
 * @throws LocalSocketError ACCESS_DENIED (unsafe), INVALID_ARGUMENT (missing)
 */
function openKeyDir(file: string, p: PlatformInfo): PrivateDir {
  const dir = path.dirname(file);
  if (p.platform === 'win32') return { reach: dir, join: (name) => path.join(dir, name), close: () => {} };
  try {
    return openPrivateDir(dir, p.uid, false, KEY_DIR);
  } catch (err) {
    // Missing, or a file where the directory should be: creating it then reports that it cannot be made.
    const missing = err instanceof LocalSocketError && (err.code === 'SERVER_NOT_FOUND' || /not a directory$/.test(err.message));
    if (missing) {
      throw new LocalSocketError('INVALID_ARGUMENT', 'key file not found', { cause: (err as LocalSocketError).cause });
    }
    throw err;
  }
}

/** Where the default key lives: $XDG_CONFIG_HOME or ~/.config on Unix, %LOCALAPPDATA% on Windows. */
export function defaultKeyPath(p: PlatformInfo): string {
  if (p.platform === 'win32') {
    const base = p.env.LOCALAPPDATA || path.win32.join(os.homedir(), 'AppData', 'Local');
    return path.win32.join(base, 'localsocket', 'key');
  }
  const config = p.env.XDG_CONFIG_HOME && path.posix.isAbsolute(p.env.XDG_CONFIG_HOME) ? p.env.XDG_CONFIG_HOME : path.posix.join(os.homedir(), '.config');
  return path.posix.join(config, 'localsocket', 'key');
}

/** Checks a key given in memory: bytes, 16 to 1024 of them. */
export function checkKey(key: unknown): Buffer {
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_KEY_BYTES || key.byteLength > MAX_KEY_BYTES) {
    throw new LocalSocketError('INVALID_ARGUMENT', `invalid argument: key must be a Uint8Array of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes`);
  }
  return Buffer.from(key);
}

/** ASCII whitespace around the key: space, tab, LF, VT, FF, CR (and nothing else, unlike String.prototype.trim). */
function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * The key in a key file's bytes: one leading UTF-8 BOM and surrounding ASCII
 * whitespace are ignored; what remains must be 32 to 2048 hex digits, an even
 * number of them (16 to 1024 bytes).
 * @throws LocalSocketError ACCESS_DENIED ("key file refused: not a localsocket key ...") otherwise
 */
export function parseKeyFile(bytes: Buffer): Buffer {
  let start = bytes.subarray(0, 3).equals(UTF8_BOM) ? 3 : 0;
  let end = bytes.length;
  while (start < end && isAsciiSpace(bytes[start]!)) start++;
  while (end > start && isAsciiSpace(bytes[end - 1]!)) end--;
  const hex = bytes.toString('latin1', start, end);
  if (!/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0 || hex.length < MIN_KEY_BYTES * 2 || hex.length > MAX_KEY_BYTES * 2) {
    throw keyError(`not a localsocket key (expected ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes as hex text)`);
  }
  return Buffer.from(hex, 'hex');
}

function openFlags(p: PlatformInfo): number {
  // Windows has neither O_NOFOLLOW nor FIFOs at a file path; there lstat guards links (below).
  if (p.platform === 'win32') return fs.constants.O_RDONLY;
  return fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
}

function openKey(file: string, p: PlatformInfo): { fd: number; seen: fs.Stats | undefined } {
  // Windows: Node cannot read ACLs (%LOCALAPPDATA% is private to its user by default): refuse a
  // symbolic link or junction seen by lstat, and check below that the file opened is the one looked at.
  let seen: fs.Stats | undefined;
  try {
    if (p.platform === 'win32') {
      seen = fs.lstatSync(file);
      if (seen.isSymbolicLink()) throw keyError('it is a symbolic link');
    }
    return { fd: fs.openSync(file, openFlags(p)), seen };
  } catch (err) {
    if (err instanceof LocalSocketError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw keyError('it is a symbolic link', err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new LocalSocketError('INVALID_ARGUMENT', 'key file not found', { cause: err });
    // A socket at the key path cannot be opened at all (ENXIO): still "not a regular file".
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') throw keyError('not a regular file', err);
    throw keyError('cannot open it', err);
  }
}

/**
 * Reads a key file: opened without following symlinks and without blocking,
 * checked on the descriptor (regular file, our own, owner-only).
 * @throws LocalSocketError ACCESS_DENIED (unsafe or unreadable), INVALID_ARGUMENT (missing)
 */
export function readKeyFile(file: string, p: PlatformInfo): Buffer {
  const dir = openKeyDir(file, p);
  let opened: { fd: number; seen: fs.Stats | undefined };
  try {
    opened = openKey(dir.join(path.basename(file)), p);
  } finally {
    dir.close();
  }
  const { fd, seen } = opened;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw keyError('not a regular file');
    if (seen && (st.ino !== seen.ino || st.dev !== seen.dev)) throw keyError('it was replaced while being opened');
    if (p.platform !== 'win32') {
      if (p.uid !== undefined && st.uid !== p.uid) throw keyError('it belongs to another user');
      if ((st.mode & 0o077) !== 0) throw keyError('other users can read or write it');
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw keyError('too large');
    // Read at most one byte past the limit: a file that grew since fstat() is still refused, never read whole.
    const bytes = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    try {
      for (let n; length < bytes.length && (n = fs.readSync(fd, bytes, length, bytes.length - length, null)) > 0; ) length += n;
    } catch (err) {
      throw keyError('cannot read it', err);
    }
    if (length > MAX_KEY_FILE_BYTES) throw keyError('too large');
    return parseKeyFile(bytes.subarray(0, length));
  } finally {
    fs.closeSync(fd);
  }
}

function createKeyFile(file: string, p: PlatformInfo): boolean {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw keyError('cannot create its directory', err);
  }
  // Checked before anything is created in it; both names are then reached through the checked descriptor.
  const dir = openKeyDir(file, p);
  try {
    return linkNewKey(dir, path.basename(file));
  } finally {
    dir.close();
  }
}

function linkNewKey(dir: PrivateDir, name: string): boolean {
  const file = dir.join(name);
  const temp = dir.join(`.key-${process.pid}-${randomBytes(6).toString('hex')}`);
  const text = `${randomBytes(KEY_BYTES).toString('hex')}\n`;
  try {
    fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw keyError('cannot create it', err);
  }
  try {
    fs.linkSync(temp, file);
    return true;
  } catch (err) {
    // Someone else created it first: use theirs (it is checked like any other).
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw keyError('cannot create it', err);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Reads the key file, creating it first if it does not exist (atomically:
 * a private temp file linked into place).
 * @throws LocalSocketError ACCESS_DENIED (unsafe, or cannot be created)
 */
export function ensureKeyFile(file: string, p: PlatformInfo): Buffer {
  return loadDefaultKey(file, p).key;
}

function loadDefaultKey(file: string, p: PlatformInfo): LoadedKey {
  try {
    return { key: readKeyFile(file, p), file, created: false };
  } catch (err) {
    if (!(err instanceof LocalSocketError) || err.code !== 'INVALID_ARGUMENT') throw err;
  }
  const created = createKeyFile(file, p);
  return { key: readKeyFile(file, p), file, created };
}

/**
 * Keys already loaded by this process, by path: a connect does not open the
 * key file again. An entry is reused only while the file's identity and
 * change time are the same, so a rotated key is picked up.
 */
const cache = new Map<string, { loaded: LoadedKey; stamp: string }>();

function stampOf(file: string): string | null {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}`;
  } catch {
    return null;
  }
}

/**
 * The key for a key file (`create`: the default key, created if missing),
 * loaded once per process and file.
 * @throws LocalSocketError ACCESS_DENIED, INVALID_ARGUMENT
 */
export function loadKey(file: string, create: boolean, p: PlatformInfo): LoadedKey {
  const stamp = stampOf(file);
  const hit = cache.get(file);
  if (hit && stamp !== null && hit.stamp === stamp) return { ...hit.loaded, created: false };
  const loaded = create ? loadDefaultKey(file, p) : { key: readKeyFile(file, p), file, created: false };
  const after = stampOf(file);
  if (after !== null) cache.set(file, { loaded, stamp: after });
  return loaded;
}
