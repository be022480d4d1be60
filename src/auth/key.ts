/**
 * The per-user secret both sides prove they hold. 32 random bytes, stored as
 * 64 hex characters in a file only its owner can read, created atomically on
 * first use. A key file others can read or write, or a symlink, is refused,
 * the way ssh refuses a private key with loose permissions.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from '../platform.js';

export const KEY_BYTES = 32;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 1024;

function keyError(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `key file refused: ${why}`, { cause });
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

/** Checks a key given in memory: bytes, at least 16 of them. */
export function checkKey(key: unknown): Buffer {
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_KEY_BYTES || key.byteLength > MAX_KEY_BYTES) {
    throw new LocalSocketError('INVALID_ARGUMENT', `invalid argument: key must be a Uint8Array of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes`);
  }
  return Buffer.from(key);
}

function parseKeyText(text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]+$/i.test(hex) || hex.length % 2 !== 0 || hex.length < MIN_KEY_BYTES * 2) {
    throw keyError('not a localsocket key (expected hex text)');
  }
  return Buffer.from(hex, 'hex');
}

/** Reads a key file without following symlinks and checks who may reach it. */
export function readKeyFile(file: string, p: PlatformInfo): Buffer {
  let fd: number;
  // Windows has no O_NOFOLLOW, uid or group/other modes (the file's ACL, which Node cannot read,
  // decides; %LOCALAPPDATA% is private to its user by default): refuse a symbolic link or junction
  // seen by lstat, and check below that the file opened is the one looked at.
  let seen: fs.Stats | undefined;
  try {
    if (p.platform === 'win32') {
      seen = fs.lstatSync(file);
      if (seen.isSymbolicLink()) throw keyError('it is a symbolic link');
    }
    const noFollow = p.platform === 'win32' ? 0 : fs.constants.O_NOFOLLOW;
    fd = fs.openSync(file, fs.constants.O_RDONLY | noFollow);
  } catch (err) {
    if (err instanceof LocalSocketError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw keyError('it is a symbolic link', err);
    if (code === 'ENOENT') throw new LocalSocketError('INVALID_ARGUMENT', 'key file not found', { cause: err });
    throw keyError('cannot open it', err);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw keyError('not a regular file');
    if (seen && (st.ino !== seen.ino || st.dev !== seen.dev)) throw keyError('it was replaced while being opened');
    if (p.platform !== 'win32') {
      if (p.uid !== undefined && st.uid !== p.uid) throw keyError('it belongs to another user');
      if ((st.mode & 0o077) !== 0) throw keyError('other users can read or write it');
    }
    if (st.size > MAX_KEY_BYTES * 2 + 2) throw keyError('too large');
    const text = fs.readFileSync(fd, 'utf8');
    return parseKeyText(text);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates the key file if missing (atomically: write a private temp file, then link it into place). */
export function ensureKeyFile(file: string, p: PlatformInfo): Buffer {
  if (!fs.existsSync(file)) {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.key-${process.pid}-${randomBytes(6).toString('hex')}`);
    const text = `${randomBytes(KEY_BYTES).toString('hex')}\n`;
    fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(temp, file);
    } catch (err) {
      // Someone else created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw keyError('cannot create it', err);
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }
  return readKeyFile(file, p);
}

