/**
 * The auth options: checked once with the other options (`checkAuthOptions`,
 * no I/O), then turned into a key when connecting or listening
 * (`loadAuth`: in memory, a named file, or the per-user default).
 */
import { DEFAULTS } from '../defaults.js';
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from '../endpoint/platform.js';
import { checkBoolean, checkTimeout } from '../validate.js';
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

/** The auth options, checked: where the key comes from, not the key itself (no file is read yet). */
export interface AuthSettings {
  /** False in raw mode. */
  readonly enabled: boolean;
  /** A key given in memory (a private copy), else null. */
  readonly key: Buffer | null;
  /** A key file given by name, else null (with `key` null too: the per-user default key). */
  readonly keyFile: string | null;
  readonly handshakeTimeout: number;
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
 * Checks the auth options; reads nothing from disk.
 * @throws LocalSocketError INVALID_ARGUMENT (bad option, bad key, keyFile not a path)
 */
export function checkAuthOptions(raw: Record<string, unknown>): AuthSettings {
  const enabled = checkBoolean(raw.auth, 'auth', true);
  const handshakeTimeout = checkTimeout(raw.handshakeTimeout, DEFAULTS.handshakeTimeout, 'handshakeTimeout');
  if (!enabled) return Object.freeze({ enabled, key: null, keyFile: null, handshakeTimeout });
  if (raw.key !== undefined) return Object.freeze({ enabled, key: checkKey(raw.key), keyFile: null, handshakeTimeout });
  if (raw.keyFile !== undefined && (typeof raw.keyFile !== 'string' || raw.keyFile.length === 0)) {
    throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: keyFile must be a path');
  }
  return Object.freeze({ enabled, key: null, keyFile: (raw.keyFile as string | undefined) ?? null, handshakeTimeout });
}

/**
 * Null in raw mode. Reads (or, for the default key, creates) the key, once
 * per process and file.
 * @throws LocalSocketError INVALID_ARGUMENT (missing keyFile), ACCESS_DENIED (unsafe key file)
 */
export function loadAuth(settings: AuthSettings, p: PlatformInfo): ResolvedAuth | null {
  const { enabled, key, keyFile, handshakeTimeout } = settings;
  if (!enabled) return null;
  if (key !== null) return { key, keyFile: null, keyCreated: false, handshakeTimeout };
  if (keyFile !== null) {
    const loaded = loadKey(keyFile, false, p);
    return { key: loaded.key, keyFile: loaded.file, keyCreated: false, handshakeTimeout };
  }
  const loaded = loadKey(defaultKeyPath(p), true, p);
  return { key: loaded.key, keyFile: loaded.file, keyCreated: loaded.created, handshakeTimeout };
}
