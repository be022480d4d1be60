/**
 * Which process holds a listening Unix socket, where the platform can tell
 * (Linux): the socket's inode from /proc/net/unix, matched against the
 * descriptors (`socket:[inode]` links in /proc/<pid>/fd) of the user's own
 * processes. Other users' processes are not looked at (their fd directories
 * are not readable anyway, and nothing they hold is ours to report).
 * Reads are bounded by the number of processes and descriptors; /proc files
 * cannot block.
 */
import fs from 'node:fs';

/** The inode of the listening socket bound at `file`, per /proc/net/unix, or null. */
export function listeningInode(file: string, netUnix = '/proc/net/unix'): number | null {
  let table: string;
  try {
    table = fs.readFileSync(netUnix, 'latin1');
  } catch {
    return null;
  }
  // "Num RefCount Protocol Flags Type St Inode Path": Flags has __SO_ACCEPTCON (0x10000) for a listener.
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8 || fields.slice(7).join(' ') !== file) continue;
    const flags = Number.parseInt(fields[3]!, 16);
    if ((flags & 0x10000) === 0) continue;
    const inode = Number(fields[6]);
    if (Number.isSafeInteger(inode) && inode > 0) return inode;
  }
  return null;
}

/** The pids of our own processes holding socket `inode` (sorted), or [] when none or unknown. */
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

/** The pids holding the listening socket at `file` (Linux), or null where the platform cannot tell. */
export function socketOwners(file: string, uid: number | undefined): number[] | null {
  if (process.platform !== 'linux') return null;
  const inode = listeningInode(file);
  return inode === null ? [] : pidsHoldingInode(inode, uid);
}
