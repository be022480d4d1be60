/**
 * Windows rendezvous records: where a server with a default (authenticated)
 * name publishes the random pipe name it listens on, and how a client finds
 * and checks it.
 *
 * A fixed pipe name (`\\.\pipe\myapp`) can be created first by any local user,
 * who then blocks our server or receives our clients (and, because Node's pipe
 * client cannot lower its impersonation level, may impersonate them once they
 * have written). So a default name never becomes a fixed pipe: each listen()
 * picks `\\.\pipe\localsocket-<128 random bits>` and writes it into a record in
 * the user's private directory (`%LOCALAPPDATA%\localsocket\pipes`, whose
 * inherited ACL lets no other user read or write it). Files there, per name
 * (`<id>` derives from the name, case-folded as Windows folds pipe names):
 *
 * - `<id>.pipe`: the record (format below), replaced atomically (temp + rename);
 * - `<id>.lock`: the claim lock, held with an exclusive share mode only while a
 *   server claims the name (pipe-claim.ts);
 * - `<id>.<hex>.live`: the liveness lock of the server listening on
 *   `\\.\pipe\localsocket-<hex>`, held (exclusive share mode) for that server's
 *   whole life. Windows closes it when the process dies, however it dies.
 *
 * A client dials the recorded pipe only while that pipe's own liveness lock is
 * held: a record left by a crashed server is never followed, so an attacker
 * who listed the pipe name while the server ran and created it afterwards is
 * never opened.
 *
 * Record format, version 1: ASCII, three lines, each ended by LF, nothing else:
 *
 *     localsocket-pipe 1
 *     pipe \\.\pipe\localsocket-<32 lowercase hex digits>
 *     pid <decimal process id, 1 to 10 digits, no leading zero>
 *
 * At most {@link MAX_RECORD_BYTES} bytes; anything else is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from './platform.js';

const PIPE_PREFIX = '\\\\.\\pipe\\';
/** Prefix of every published pipe name, after `\\.\pipe\`. */
export const PUBLISHED_PIPE_PREFIX = `${PIPE_PREFIX}localsocket-`;
const HEADER = 'localsocket-pipe 1';
const HEX_CHARS = 32;
const MAX_PID_DIGITS = 10;
/** Longest valid record: header, pipe line and pid line with their LFs (93 bytes). */
export const MAX_RECORD_BYTES = HEADER.length + 1 + 'pipe '.length + PUBLISHED_PIPE_PREFIX.length + HEX_CHARS + 1 + 'pid '.length + MAX_PID_DIGITS + 1;
const RECORD_PATTERN = /^localsocket-pipe 1\npipe \\\\\.\\pipe\\localsocket-([0-9a-f]{32})\npid ([1-9][0-9]{0,9})\n$/;

/**
 * Windows share mode "none" (libuv's UV_FS_O_EXLOCK): no other handle may be
 * open on the file meanwhile, and the kernel drops it with its process.
 */
export const EXCLUSIVE_OPEN = 0x10000000;

/** What a record says. */
export interface PipeRecord {
  /** The random part: `\\.\pipe\localsocket-<hex>`. */
  hex: string;
  /** The full pipe name. */
  pipe: string;
  /** The process that listens (for diagnostics only; never trusted for liveness). */
  pid: number;
}

/** The files of one name in the record directory. */
export interface RecordFiles {
  /** The record directory (`...\localsocket\pipes`). */
  dir: string;
  /** The record itself. */
  record: string;
  /** The claim lock. */
  lock: string;
  /** The liveness lock of the server on `\\.\pipe\localsocket-<hex>`. */
  live(hex: string): string;
  /** A fresh temporary file for an atomic replacement of the record. */
  temp(): string;
  /** Whether a directory entry is a liveness lock of this name. */
  isLive(entry: string): boolean;
}

/** `%LOCALAPPDATA%\localsocket\pipes` (the key's directory, `pipes` inside). */
export function recordDirectory(p: PlatformInfo): string {
  const base = p.env.LOCALAPPDATA || path.win32.join(p.env.USERPROFILE || os.homedir(), 'AppData', 'Local');
  return path.win32.join(base, 'localsocket', 'pipes');
}

/**
 * The record file of a short name: readable prefix plus a hash of the
 * case-folded name (pipe names are case-insensitive, file names may not be).
 */
export function recordFile(name: string, p: PlatformInfo): string {
  const folded = name.toLowerCase();
  const readable = folded.replace(/[^a-z0-9_-]/g, '_').slice(0, 32);
  const digest = createHash('sha256').update('localsocket pipe record\0').update(folded).digest('hex').slice(0, 32);
  return path.win32.join(recordDirectory(p), `${readable}-${digest}.pipe`);
}

/** The other files that go with a record file (same directory, same stem). */
export function filesOf(record: string): RecordFiles {
  // The record path was built with path.win32; tests on other platforms pass native paths.
  const paths = record.includes('\\') ? path.win32 : path;
  const dir = paths.dirname(record);
  const stem = paths.basename(record, '.pipe');
  return {
    dir,
    record,
    lock: paths.join(dir, `${stem}.lock`),
    live: (hex) => paths.join(dir, `${stem}.${hex}.live`),
    temp: () => paths.join(dir, `${stem}.${randomBytes(8).toString('hex')}.tmp`),
    isLive: (entry) => entry.startsWith(`${stem}.`) && entry.endsWith('.live'),
  };
}

/** The pipe name for a random part. */
export function publishedPipe(hex: string): string {
  return `${PUBLISHED_PIPE_PREFIX}${hex}`;
}

/** A fresh random part: 128 bits, as 32 lowercase hex digits. */
export function randomPipeHex(): string {
  return randomBytes(HEX_CHARS / 2).toString('hex');
}

/** The record's bytes. */
export function encodeRecord(hex: string, pid: number): Buffer {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError('pipe hex must be 32 lowercase hex digits');
  if (!Number.isSafeInteger(pid) || pid < 1 || String(pid).length > MAX_PID_DIGITS) throw new RangeError('pid out of range');
  return Buffer.from(`${HEADER}\npipe ${publishedPipe(hex)}\npid ${pid}\n`, 'ascii');
}

function refused(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `pipe record refused: ${why}`, { cause });
}

function notFound(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('SERVER_NOT_FOUND', `server not found: ${why}`, { cause });
}

/**
 * Parses a record strictly.
 * @throws LocalSocketError ACCESS_DENIED for anything but a version-1 record
 */
export function parseRecord(bytes: Buffer): PipeRecord {
  if (bytes.length > MAX_RECORD_BYTES) throw refused('too large');
  const match = RECORD_PATTERN.exec(bytes.toString('latin1'));
  if (!match) throw refused('not a localsocket pipe record');
  const hex = match[1]!;
  return { hex, pipe: publishedPipe(hex), pid: Number(match[2]) };
}

function openFlags(p: PlatformInfo): number {
  // Windows has neither O_NOFOLLOW nor FIFOs at a file path: lstat guards links there (below).
  if (p.platform === 'win32') return fs.constants.O_RDONLY;
  return fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
}

/** The record directory and its parent are real directories, not links or junctions (lstat reports both as links). */
function checkDirectory(dir: string, p: PlatformInfo): void {
  const paths = dir.includes('\\') ? path.win32 : path;
  for (const d of [paths.dirname(dir), dir]) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound('no pipe record', err);
      throw refused('cannot inspect its directory', err);
    }
    if (st.isSymbolicLink()) throw refused('its directory is a link');
    if (!st.isDirectory()) throw refused('its directory is not a directory');
    if (p.platform !== 'win32' && p.uid !== undefined && st.uid !== p.uid) throw refused('its directory belongs to another user');
  }
}

/** How often a record replaced between our look and our open is looked at again (see openLookedAt). */
const REPLACED_RETRIES = 3;

/**
 * Opens the record file that lstat looked at: a regular file, not a link.
 * A server republishing the record (temp + rename) can replace it between
 * the lstat and the open; that is normal, so the new file is looked at and
 * opened again, a few times, then reported as SERVER_NOT_FOUND ("being
 * replaced"), which callers retry like a record that is not there yet.
 * Returns the descriptor with its fstat, for the checks made on what was opened.
 * @throws LocalSocketError SERVER_NOT_FOUND (no record, or replaced on every try), ACCESS_DENIED (a link, not a regular file, cannot open)
 */
function openLookedAt(file: string, p: PlatformInfo): { fd: number; st: fs.Stats } {
  for (let attempt = 0; ; attempt++) {
    let seen: fs.Stats;
    let fd: number;
    try {
      seen = fs.lstatSync(file);
      if (seen.isSymbolicLink()) throw refused('it is a symbolic link');
      if (!seen.isFile()) throw refused('not a regular file');
      fd = fs.openSync(file, openFlags(p));
    } catch (err) {
      if (err instanceof LocalSocketError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound('no pipe record', err);
      if (code === 'ELOOP') throw refused('it is a symbolic link', err);
      if (code === 'ENXIO' || code === 'EOPNOTSUPP') throw refused('not a regular file', err);
      // Windows: a record being replaced at this instant; the caller's retry reads the new one.
      if (code === 'EBUSY' || code === 'EPERM') throw notFound('the pipe record is being replaced', err);
      throw refused('cannot open it', err);
    }
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw refused('cannot inspect it', err);
    }
    if (st.ino === seen.ino && st.dev === seen.dev) return { fd, st };
    fs.closeSync(fd);
    if (attempt + 1 >= REPLACED_RETRIES) throw notFound('the pipe record is being replaced');
  }
}

/**
 * Reads and checks a record file the way a key file is checked: the
 * directory and the file are not links, the file is a regular file (opened
 * without following links and without blocking where the OS allows), the
 * file opened is the one looked at, owned by us and private where the
 * platform can tell (not on Windows: Node cannot read ACLs), at most
 * {@link MAX_RECORD_BYTES}, and strictly in the format.
 * @throws LocalSocketError SERVER_NOT_FOUND (no record, or one being replaced), ACCESS_DENIED (anything unsafe or malformed)
 */
export function readRecord(file: string, p: PlatformInfo): PipeRecord {
  const paths = file.includes('\\') ? path.win32 : path;
  checkDirectory(paths.dirname(file), p);
  const { fd, st } = openLookedAt(file, p);
  try {
    if (!st.isFile()) throw refused('not a regular file');
    if (p.platform !== 'win32') {
      if (p.uid !== undefined && st.uid !== p.uid) throw refused('it belongs to another user');
      if ((st.mode & 0o077) !== 0) throw refused('other users can read or write it');
    }
    if (st.size > MAX_RECORD_BYTES) throw refused('too large');
    // One byte more than allowed: a file that grew since fstat is still caught.
    const buffer = Buffer.alloc(MAX_RECORD_BYTES + 1);
    let length = 0;
    try {
      for (let n; length < buffer.length && (n = fs.readSync(fd, buffer, length, buffer.length - length, null)) > 0; ) length += n;
    } catch (err) {
      throw refused('cannot read it', err);
    }
    return parseRecord(buffer.subarray(0, length));
  } finally {
    fs.closeSync(fd);
  }
}

/** What a liveness lock tells: held by a live server, or not. */
export type Liveness = 'alive' | 'gone';

/**
 * Whether the server on `\\.\pipe\localsocket-<hex>` still runs: its liveness
 * lock is held (our open fails with a sharing violation, EBUSY). A missing
 * file, or one we can open, means that server is gone. Our open, if it
 * succeeds, is closed at once; it never blocks (no FIFOs at Windows paths).
 */
export function liveness(files: RecordFiles, hex: string): Liveness {
  let fd: number;
  try {
    fd = fs.openSync(files.live(hex), fs.constants.O_RDONLY);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBUSY' ? 'alive' : 'gone';
  }
  fs.closeSync(fd);
  return 'gone';
}

/** Where a pipe came from, for `localsocket path`. */
export interface PublishedPipe {
  /** The pipe to dial. */
  pipe: string;
  /** The record it was read from. */
  record: string;
  /** The listening process, as the record states it. */
  pid: number;
}

/**
 * The pipe a client may dial for a record endpoint: read from the record,
 * and only while that pipe's server holds its liveness lock.
 * @throws LocalSocketError SERVER_NOT_FOUND (no record, or its server is gone), ACCESS_DENIED (bad record)
 */
export function findPublishedPipe(record: string, p: PlatformInfo): PublishedPipe {
  const found = readRecord(record, p);
  if (liveness(filesOf(record), found.hex) !== 'alive') throw notFound('the pipe record is stale (its server is gone)');
  return { pipe: found.pipe, record, pid: found.pid };
}
