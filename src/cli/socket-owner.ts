/**
 * Which process holds a listening Unix socket, where the platform can tell
 * (Linux), looked for among the user's own processes only.
 *
 * /proc/net/unix shows each socket's inode and the path it was bound at, as
 * the binder wrote it. The library binds through a directory descriptor under
 * a staging name and then renames the file into place, so the table's path
 * (`/proc/self/fd/N/.localsocket-<random>/<random>.sock`) is not the name's path. But
 * a connection made to the name creates the server's end at once, and that
 * end shows the listener's path too: `ls` reads the table, connects, reads it
 * again, and follows the one new listener path to the listening socket's
 * inode and to the process holding it (its `socket:[inode]` descriptor; for a
 * descriptor-relative path, that process's descriptor N must be the private
 * directory). Anything ambiguous gives no pid rather than a wrong one.
 *
 * Until the server accepts it, the server's end has no socket file, and the
 * table shows its inode as 0: such rows cannot be told apart by inode, so a
 * path is new when it has more inode-0 rows than before, or a row with an
 * inode not seen before (ours, accepted meanwhile; or, if ours is still
 * pending, the one whose acceptance kept the count of inode-0 rows level).
 * Reads are bounded by the number of sockets, processes and descriptors;
 * /proc files never block.
 */
import fs from 'node:fs';
import path from 'node:path';

/** One row of /proc/net/unix. */
export interface UnixRow {
  /** 0 for a server's end of a connection not accepted yet (it has no socket file until then). */
  inode: number;
  /** A listening socket (__SO_ACCEPTCON). */
  listening: boolean;
  /** As bound (may be relative to the binder's `/proc/self/fd/N`); '' when unbound. */
  path: string;
}

/** The rows of /proc/net/unix, or null where there is none (not Linux, or hidden). */
export function readUnixTable(file = '/proc/net/unix'): UnixRow[] | null {
  if (process.platform !== 'linux') return null;
  let table: string;
  try {
    table = fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  const rows: UnixRow[] = [];
  // "Num RefCount Protocol Flags Type St Inode Path".
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 7) continue;
    const inode = Number(fields[6]);
    if (!Number.isSafeInteger(inode) || inode < 0) continue;
    rows.push({ inode, listening: (Number.parseInt(fields[3]!, 16) & 0x10000) !== 0, path: fields.slice(7).join(' ') });
  }
  return rows;
}

/** The pids of our own processes holding socket `inode` (sorted). */
export function pidsHoldingInode(inode: number, uid: number | undefined, proc = '/proc'): number[] {
  const target = `socket:[${inode}]`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(proc);
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const dir = `${proc}/${entry}`;
    try {
      if (uid !== undefined && fs.statSync(dir).uid !== uid) continue;
      for (const fd of fs.readdirSync(`${dir}/fd`)) {
        if (fs.readlinkSync(`${dir}/fd/${fd}`) === target) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // The process ended meanwhile, or its descriptors are not ours to read.
    }
  }
  return pids.sort((a, b) => a - b);
}

/** True when the listener path `bound`, as process `pid` sees it, lies in `dir` (or is `file`). */
function boundInDirectory(pid: number, bound: string, dir: string, file: string): boolean {
  if (bound === file) return true;
  const relative = /^\/proc\/self\/fd\/(\d+)\//.exec(bound);
  if (relative === null) return false;
  try {
    return fs.readlinkSync(`/proc/${pid}/fd/${relative[1]!}`) === dir;
  } catch {
    return false;
  }
}

/** How many connections to each listener path wait to be accepted (server's ends with inode 0). */
function pendingPerPath(rows: UnixRow[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) if (r.inode === 0 && !r.listening && r.path !== '') counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
  return counts;
}

/**
 * The pids that may hold the server `file` belongs to, from the table before and after a
 * connection to it was made (see the file comment). More than one when other connections to
 * servers in the same directory appeared in between: a caller narrows them with another probe.
 */
export function ownersFromConnection(before: UnixRow[], after: UnixRow[], file: string, uid: number | undefined): Set<number> {
  const known = new Set(before.map((r) => r.inode));
  const dir = path.dirname(file);
  const owners = new Set<number>();
  const pendingBefore = pendingPerPath(before);
  const paths = new Set(after.filter((r) => r.inode !== 0 && !known.has(r.inode) && !r.listening && r.path !== '').map((r) => r.path));
  for (const [bound, count] of pendingPerPath(after)) if (count > (pendingBefore.get(bound) ?? 0)) paths.add(bound);
  paths.add(file); // a server that bound the path itself
  for (const bound of paths) {
    for (const listener of after) {
      if (!listener.listening || listener.path !== bound) continue;
      for (const pid of pidsHoldingInode(listener.inode, uid)) if (boundInDirectory(pid, bound, dir, file)) owners.add(pid);
    }
  }
  return owners;
}
