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
}

/** os.tmpdir() reads three environment variables through a slow path: remember it while they stay the same. */
let tmpdirCache: { key: string; value: string } | null = null;

function tmpdir(): string {
  const env = process.env;
  const key = `${env.TMPDIR}\0${env.TMP}\0${env.TEMP}`;
  if (tmpdirCache === null || tmpdirCache.key !== key) tmpdirCache = { key, value: os.tmpdir() };
  return tmpdirCache.value;
}

export function currentPlatform(): PlatformInfo {
  return {
    platform: process.platform,
    env: process.env,
    tmpdir: tmpdir(),
    uid: typeof process.getuid === 'function' ? process.getuid() : undefined,
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
