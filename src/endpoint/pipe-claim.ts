/**
 * Windows: a server claims a default (authenticated) name by publishing a
 * random pipe name in the name's record (pipe-record.ts).
 *
 * Why the exclusion lives in files, not in the pipe namespace: any user can
 * create any pipe name (and list the existing ones), so a fixed "lock pipe"
 * could be taken first by someone else and block us for good. The private
 * directory can be reached by no one else, and a file opened with share mode
 * "none" is the one lock Windows drops by itself when its process dies. So:
 *
 * 1. take the claim lock `<id>.lock` (exclusive open; retried while another
 *    of our processes claims the same name, within a deadline);
 * 2. read the current record; if the liveness lock of the pipe it names is
 *    held, a live server has the name: ADDRESS_IN_USE. Anything else (no
 *    record, a crashed server's record, a malformed one) is replaced. The
 *    recorded pipe is never dialed to decide this: a crashed server's pipe
 *    name may by now be held by anyone who listed it, and answering there
 *    must not keep us from starting;
 * 3. create our liveness lock `<id>.<hex>.live` for a fresh 128-bit `hex`,
 *    held open for the server's life;
 * 4. listen on `\\.\pipe\localsocket-<hex>`;
 * 5. publish the record (temp file, then rename over the old one, retried
 *    while clients reading the old one hold it open), sweep the liveness
 *    files of earlier servers, release the claim lock.
 *
 * On close: remove the record if it is still ours, then release and remove
 * the liveness lock. A crash leaves the record, but its liveness lock is gone
 * with the process, so clients refuse to follow it and the next server
 * replaces it.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { backoff, NAME_LOCK_BACKOFF } from '../backoff.js';
import { listenOn, type Access, type Binding } from './bind.js';
import { sleep } from '../deadline.js';
import { LocalSocketError } from '../errors.js';
import type { Endpoint } from './names.js';
import type { PlatformInfo } from './platform.js';
import { encodeRecord, EXCLUSIVE_OPEN, filesOf, liveness, publishedPipe, randomPipeHex, readRecord, type RecordFiles } from './pipe-record.js';

const CLAIM_TIMEOUT_MS = 5000;
/** How long a record replacement waits for clients that hold the old record open (each holds it for a moment). */
const PUBLISH_TIMEOUT_MS = 5000;
/** Attempts at a fresh random pipe name before giving up (a collision of 128 random bits means something else is wrong). */
const NAME_ATTEMPTS = 3;

/** A pipe binding: the pipe actually listened on, and how to give it up. */
export interface PipeBinding extends Binding {
  /** `\\.\pipe\localsocket-<hex>`. */
  address: string;
}

function addressInUse(): LocalSocketError {
  return new LocalSocketError('ADDRESS_IN_USE', 'listen: another server is listening on this name');
}

function unsafe(why: string, cause?: unknown): LocalSocketError {
  return new LocalSocketError('ACCESS_DENIED', `pipe record directory is unsafe: ${why}`, { cause });
}

function cancelled(): LocalSocketError {
  return new LocalSocketError('ABORTED', 'listen: the server was closed while it was starting');
}

/** Creates `...\localsocket\pipes` if needed and checks that it and its parent are directories, not links or junctions. */
function ensureDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unsafe('cannot create it', err);
  }
  for (const d of [path.win32.dirname(dir), dir]) {
    const st = fs.lstatSync(d);
    if (st.isSymbolicLink()) throw unsafe('it is a link');
    if (!st.isDirectory()) throw unsafe('it is not a directory');
  }
}

/** Opens `file` with share mode "none", creating it; null while another handle is open on it. */
function tryExclusive(file: string, flags: number): number | null {
  try {
    return fs.openSync(file, flags | fs.constants.O_RDWR | EXCLUSIVE_OPEN);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY') return null;
    throw new LocalSocketError('ACCESS_DENIED', 'listen: cannot open a pipe record lock', { cause: err });
  }
}

async function takeClaimLock(files: RecordFiles, stillWanted: () => boolean): Promise<number> {
  const deadline = Date.now() + CLAIM_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    const fd = tryExclusive(files.lock, fs.constants.O_CREAT);
    if (fd !== null) return fd;
    if (!stillWanted()) throw cancelled();
    const remaining = deadline - Date.now();
    // Held by another of our processes claiming the name (milliseconds), or briefly by a file scanner.
    if (remaining <= 0) throw new LocalSocketError('TIMEOUT', 'listen: timed out waiting for another server claiming this name');
    await sleep(Math.min(remaining, backoff(NAME_LOCK_BACKOFF, attempt)));
  }
}

/** The record as it stands, or null when there is none we could use (missing or malformed: ours to replace). */
function currentRecord(files: RecordFiles, p: PlatformInfo): { hex: string } | null {
  try {
    return readRecord(files.record, p);
  } catch (err) {
    if (err instanceof LocalSocketError && (err.code === 'SERVER_NOT_FOUND' || err.code === 'ACCESS_DENIED')) return null;
    throw err;
  }
}

function createLiveLock(files: RecordFiles): { hex: string; fd: number } {
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const hex = randomPipeHex();
    try {
      return { hex, fd: fs.openSync(files.live(hex), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR | EXCLUSIVE_OPEN) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'EBUSY') throw new LocalSocketError('ACCESS_DENIED', 'listen: cannot create a pipe liveness lock', { cause: err });
    }
  }
  throw new LocalSocketError('ADDRESS_IN_USE', 'listen: no free random pipe name');
}

/**
 * Windows refuses to rename over a file while any handle is open on it (EPERM),
 * and a client reading the old record holds one for a moment; so do clients
 * that read a record deleted meanwhile (delete pending). After a crash, a
 * crowd of reconnecting clients reads the stale record in a loop: the
 * replacement is retried until they let go, within a deadline. Anything at
 * the record path that is not a file is refused at once.
 */
function mayBeReaderHeld(err: unknown, record: string): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY') return false;
  try {
    return fs.lstatSync(record).isFile();
  } catch (statErr) {
    // Gone, or delete pending (its last reader still has it open): the next rename may pass.
    const statCode = (statErr as NodeJS.ErrnoException).code;
    return statCode === 'ENOENT' || statCode === 'EPERM' || statCode === 'EACCES';
  }
}

async function publish(files: RecordFiles, hex: string): Promise<void> {
  const temp = files.temp();
  const deadline = Date.now() + PUBLISH_TIMEOUT_MS;
  try {
    fs.writeFileSync(temp, encodeRecord(hex, process.pid), { flag: 'wx', mode: 0o600 });
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(temp, files.record);
        return;
      } catch (err) {
        const remaining = deadline - Date.now();
        if (remaining <= 0 || !mayBeReaderHeld(err, files.record)) throw err;
        await sleep(Math.min(remaining, 1 + Math.random() * Math.min(50, 2 ** attempt)));
      }
    }
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new LocalSocketError('ACCESS_DENIED', 'listen: cannot write the pipe record', { cause: err });
  }
}

/** Removes liveness files of earlier servers of this name (all gone: we hold the claim and the record was not live). */
function sweep(files: RecordFiles, ours: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(files.dir);
  } catch {
    return;
  }
  const mine = path.win32.basename(files.live(ours));
  for (const entry of entries) {
    if (!files.isLive(entry) || entry === mine) continue;
    try {
      fs.unlinkSync(path.win32.join(files.dir, entry));
    } catch {
      // A client checking it at this instant: the next server sweeps it.
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed.
  }
}

/**
 * Listens on a fresh random pipe and publishes it in the name's record.
 * @throws LocalSocketError ADDRESS_IN_USE (a live server has the name), TIMEOUT (another claim never ended),
 *   ACCESS_DENIED (record directory unusable), UNSUPPORTED (`access: 'group'`), ABORTED (closed while binding)
 */
export async function bindPipeRecord(
  server: net.Server,
  endpoint: Endpoint,
  access: Access,
  backlog: number,
  p: PlatformInfo,
  stillWanted: () => boolean,
): Promise<PipeBinding> {
  if (access === 'group') throw new LocalSocketError('UNSUPPORTED', "listen: access 'group' is not available for named pipes");
  const files = filesOf(endpoint.address);
  ensureDirectory(files.dir);
  const claim = await takeClaimLock(files, stillWanted);
  try {
    if (!stillWanted()) throw cancelled();
    const current = currentRecord(files, p);
    if (current && liveness(files, current.hex) === 'alive') throw addressInUse();
    const live = createLiveLock(files);
    const address = publishedPipe(live.hex);
    const giveUpLive = (): void => {
      closeQuietly(live.fd);
      fs.rmSync(files.live(live.hex), { force: true });
    };
    try {
      const world = access === 'world';
      await listenOn(server, { path: address, backlog, readableAll: world, writableAll: world });
      if (!stillWanted()) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw cancelled();
      }
      await publish(files, live.hex);
    } catch (err) {
      giveUpLive();
      throw err;
    }
    sweep(files, live.hex);
    let released = false;
    return {
      address,
      removeOwnFile: () => {
        if (released) return;
        released = true;
        // Only our own record: it names our pipe (no one else can claim while our liveness lock is held).
        const now = currentRecord(files, p);
        if (now && now.hex === live.hex) fs.rmSync(files.record, { force: true });
        try {
          giveUpLive();
        } catch {
          // A client checking the liveness file at this instant: the next server sweeps it.
        }
      },
    };
  } finally {
    closeQuietly(claim);
  }
}
