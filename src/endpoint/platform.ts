/**
 * What name resolution needs to know about the machine. Injectable so the
 * Windows and macOS rules are unit-tested on Linux.
 */
import fs from 'node:fs';
import os from 'node:os';
import { noteDirSeen } from './private-dir.js';

/**
 * The machine facts name resolution depends on, passed to {@link resolveName}
 * so that any platform's rules can be computed anywhere. Public API, as the
 * type of that argument: build one to ask how a name resolves elsewhere (e.g.
 * `platform: 'win32'`); leave it out for this machine.
 */
export interface PlatformInfo {
  /** `process.platform`: `'win32'` gives pipe names, `'linux'` allows abstract and long paths. */
  platform: NodeJS.Platform;
  /** Environment: `XDG_RUNTIME_DIR`, and `TMPDIR` for `qtCompatible` names. */
  env: Readonly<Record<string, string | undefined>>;
  /** `os.tmpdir()`: the base of the private directory when `XDG_RUNTIME_DIR` cannot be used. */
  tmpdir: string;
  /** Undefined on Windows. */
  uid: number | undefined;
  /** Whether $XDG_RUNTIME_DIR may be used (ours, a real directory, 0700). */
  runtimeDirIsSafe(dir: string): boolean;
  /**
   * Whether another user holds `<tmpdir>/localsocket-<uid>`: something is
   * there that is not a real directory of ours (another user's directory, a
   * file, a symbolic link). Short names then live in the fallback directory
   * under the user's config directory. When absent, it is assumed free.
   */
  takenByOther?(dir: string): boolean;
  /** `os.homedir()`: the base of `~/.config` when `$XDG_CONFIG_HOME` is not set. */
  homedir?: string;
  /**
   * `process.versions.uv`: libuv before 1.48 pads abstract names, so they are
   * refused there. When absent, abstract names are assumed to work.
   */
  libuvVersion?: string;
  /** The canonical form of an existing path (symlinks resolved), or undefined if it cannot be resolved. For `qtCompatible` names. */
  realpath?(path: string): string | undefined;
}

/** os.tmpdir() reads three environment variables through a slow path: remember it while they stay the same. */
let tmpdirCache: { key: string; value: string } | null = null;

function tmpdir(): string {
  const env = process.env;
  const key = `${env.TMPDIR}\0${env.TMP}\0${env.TEMP}`;
  if (tmpdirCache === null || tmpdirCache.key !== key) tmpdirCache = { key, value: os.tmpdir() };
  return tmpdirCache.value;
}

function homedir(): string | undefined {
  try {
    return os.homedir();
  } catch {
    // No $HOME and no passwd entry: there is no config directory to fall back on.
    return undefined;
  }
}

/**
 * This machine and process, as {@link PlatformInfo}.
 *
 * @returns the live values (environment, temp directory, uid, libuv version).
 */
export function currentPlatform(): PlatformInfo {
  // One getuid (a system call) per call; not kept across calls (setuid exists).
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  // The object is kept while the uid and the environment object stay the same: everything else in it
  // is read live (the getters and checks). Building it costs ~3 µs (an object literal with accessors
  // is not a cheap allocation in V8), on every connect. Frozen, since every caller shares it.
  if (live === null || live.uid !== uid || live.env !== process.env) live = Object.freeze(platformFor(uid));
  return live;
}

let live: PlatformInfo | null = null;

function platformFor(uid: number | undefined): PlatformInfo {
  return {
    platform: process.platform,
    env: process.env,
    // Lazy: only a private-directory name without a usable $XDG_RUNTIME_DIR needs them.
    get tmpdir() {
      return tmpdir();
    },
    uid,
    libuvVersion: process.versions.uv,
    realpath: (p) => {
      try {
        return fs.realpathSync.native(p);
      } catch {
        return undefined;
      }
    },
    get homedir() {
      return homedir();
    },
    takenByOther: (dir) => {
      try {
        // lstat never blocks and never follows a link another user planted.
        const st = fs.lstatSync(dir);
        // The dial made in this same turn checks this very lstat instead of making another (private-dir.ts).
        noteDirSeen(dir, st);
        return !st.isDirectory() || st.uid !== uid;
      } catch {
        return false;
      }
    },
    runtimeDirIsSafe: (dir) => {
      try {
        const st = fs.lstatSync(dir);
        return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Longest Unix socket path in bytes, without the terminating NUL: sun_path is
 * 108 bytes on Linux and 104 on macOS and the BSDs.
 *
 * @param platform - a `process.platform` value.
 * @returns 107 on Linux and Android, 103 elsewhere.
 */
export function maxSocketPathBytes(platform: NodeJS.Platform): number {
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

/** Longest full pipe name Windows accepts (`\\.\pipe\...`), in characters. */
export const MAX_PIPE_NAME_CHARS = 256;
