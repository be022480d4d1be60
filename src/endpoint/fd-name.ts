/**
 * The name an inherited listening descriptor is bound to (listen({ fd })).
 * Linux lists every Unix socket of the network namespace in /proc/net/unix
 * with its inode and bound path; the descriptor's inode picks our line.
 * Elsewhere, or when the kernel does not say, the caller keeps `fd:N`.
 */
import fs from 'node:fs';
import type { Endpoint } from './names.js';

/** One /proc/net/unix line: Num RefCount Protocol Flags Type St Inode [Path]. */
const LINE = /^\S+: \S+ \S+ \S+ \S+ \S+ +(\d+)(?: (.+))?$/;

/**
 * Finds the bound path of `inode` in the text of /proc/net/unix.
 * @param table the file's text
 * @param inode the socket's inode number, in decimal
 * @returns the path as the kernel shows it (`@name` for the abstract namespace), or null
 */
export function pathOfInode(table: string, inode: string): string | null {
  for (const line of table.split('\n')) {
    const match = LINE.exec(line);
    if (match && match[1] === inode) return match[2] ?? null;
  }
  return null;
}

/**
 * The endpoint an inherited Unix socket descriptor is bound to, where the
 * platform can tell (Linux); null otherwise, or for an unnamed socket.
 * @param fd an open descriptor
 * @returns the endpoint, or null when unknown
 */
export function endpointOfFd(fd: number): Endpoint | null {
  if (process.platform !== 'linux') return null;
  let bound: string | null;
  try {
    const inode = fs.statSync(`/proc/self/fd/${fd}`, { bigint: true }).ino.toString();
    bound = pathOfInode(fs.readFileSync('/proc/net/unix', 'utf8'), inode);
  } catch {
    return null; // no /proc (a container without it), or the descriptor is not what we thought
  }
  if (bound === null) return null;
  // The kernel shows NUL bytes as '@': the abstract namespace's leading one, and the padding that
  // libuv binds after the name (it passes the whole sun_path), which is dropped here.
  if (bound.startsWith('@')) {
    const name = bound.slice(1).replace(/@+$/, '');
    return { kind: 'abstract', name: `@${name}`, address: `\0${name}`, longPath: false };
  }
  // A relative path, or one bound through a directory descriptor, names nothing we can show.
  if (!bound.startsWith('/') || bound.startsWith('/proc/')) return null;
  return { kind: 'unix', name: bound, address: bound, longPath: false };
}
