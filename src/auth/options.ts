/** Turning the auth options into a key: in memory, a named file, or the per-user default. */
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from '../platform.js';
import { checkBoolean, checkTimeout } from '../validate.js';
import { DEFAULTS } from '../options.js';
import { checkKey, defaultKeyPath, loadKey } from './key.js';

export interface AuthOptions {
  /**
   * Mutual authentication handshake; on by default. `false` is raw mode, for
   * plain peers (a Qt `QLocalSocket`, Python, `nc -U`).
   * @defaultValue true
   */
  auth?: boolean;
  /** The shared key in memory (16 to 1024 bytes). Takes precedence over `keyFile`. */
  key?: Uint8Array;
  /**
   * A key file (hex text, a regular file, owner-only permissions). Must exist.
   * @defaultValue the per-user key, `$XDG_CONFIG_HOME/localsocket/key` (or
   * `~/.config/localsocket/key`; `%LOCALAPPDATA%\localsocket\key` on Windows), created on first use
   */
  keyFile?: string;
  /**
   * Deadline for the handshake, in milliseconds, on each side.
   * @defaultValue 5000
   */
  handshakeTimeout?: number;
}

export interface ResolvedAuth {
  key: Buffer;
  /** The key file used, for diagnostics (null: key given in memory). */
  keyFile: string | null;
  /** The key file was created by this call. */
  keyCreated: boolean;
  handshakeTimeout: number;
}

/**
 * Null in raw mode. Reads (or, for the default key, creates) the key, once
 * per process and file.
 * @throws LocalSocketError INVALID_ARGUMENT (bad option, missing keyFile), ACCESS_DENIED (unsafe key file)
 */
export function resolveAuth(raw: Record<string, unknown>, p: PlatformInfo): ResolvedAuth | null {
  const enabled = checkBoolean(raw.auth, 'auth', true);
  const handshakeTimeout = checkTimeout(raw.handshakeTimeout, DEFAULTS.handshakeTimeout, 'handshakeTimeout');
  if (!enabled) return null;
  if (raw.key !== undefined) return { key: checkKey(raw.key), keyFile: null, keyCreated: false, handshakeTimeout };
  if (raw.keyFile !== undefined) {
    if (typeof raw.keyFile !== 'string' || raw.keyFile.length === 0) {
      throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: keyFile must be a path');
    }
    const loaded = loadKey(raw.keyFile, false, p);
    return { key: loaded.key, keyFile: loaded.file, keyCreated: false, handshakeTimeout };
  }
  const loaded = loadKey(defaultKeyPath(p), true, p);
  return { key: loaded.key, keyFile: loaded.file, keyCreated: loaded.created, handshakeTimeout };
}
