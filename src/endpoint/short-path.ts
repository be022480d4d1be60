/**
 * Node's `net` silently truncates a socket path longer than sun_path. On Linux
 * we reach such a path through an open descriptor of its directory,
 * `/proc/self/fd/N/<basename>`, which the kernel resolves like the real path.
 * The descriptor must stay open until bind/connect has happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError } from '../error-map.js';
import type { Operation } from '../error-map.js';

export interface ShortPath {
  /** A path that fits in sun_path and names the same socket. */
  path: string;
  /** Closes the directory descriptor, if one was opened. Safe to call twice. */
  release(): void;
}

export function shortPathFor(fullPath: string, longPath: boolean, operation: Operation): ShortPath {
  if (!longPath) return { path: fullPath, release: () => {} };
  let fd: number;
  try {
    fd = fs.openSync(path.dirname(fullPath), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    throw fromSystemError(err, operation);
  }
  let open = true;
  return {
    path: `/proc/self/fd/${fd}/${path.basename(fullPath)}`,
    release: () => {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    },
  };
}
