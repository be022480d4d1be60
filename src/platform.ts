/**
 * What name resolution needs to know about the machine. Injectable so the
 * Windows and macOS rules are unit-tested on Linux.
 */
import fs from 'node:fs';
import os from 'node:os';

export interface PlatformInfo {
  platform: NodeJS.Platform;
  env: Readonly<Record<string, string | undefined>>;
  tmpdir: string;
  /** Undefined on Windows. */
  uid: number | undefined;
  /** Whether $XDG_RUNTIME_DIR may be used (ours, a real directory, 0700). */
  runtimeDirIsSafe(dir: string): boolean;
  /**
   * `process.versions.uv`: libuv before 1.48 pads abstract names, so they are
   * refused there. When absent, abstract names are assumed to work.
   */
  libuvVersion?: string;
  /** The canonical form of an existing path (symlinks resolved), or undefined if it cannot be resolved. For `qtCompatible` names. */
  realpath?(path: string): string | undefined;
}

export function currentPlatform(): PlatformInfo {
  return {
    platform: process.platform,
    env: process.env,
    tmpdir: os.tmpdir(),
    uid: typeof process.getuid === 'function' ? process.getuid() : undefined,
    libuvVersion: process.versions.uv,
    realpath: (p) => {
      try {
        return fs.realpathSync.native(p);
      } catch {
        return undefined;
      }
    },
    runtimeDirIsSafe: (dir) => {
      try {
        const st = fs.lstatSync(dir);
        return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Longest Unix socket path in bytes, without the terminating NUL: sun_path is
 * 108 bytes on Linux and 104 on macOS and the BSDs.
 */
export function maxSocketPathBytes(platform: NodeJS.Platform): number {
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

/** Longest full pipe name Windows accepts (`\\.\pipe\...`), in characters. */
export const MAX_PIPE_NAME_CHARS = 256;
