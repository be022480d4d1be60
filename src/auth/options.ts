/** Turning the auth options into a key: in memory, a named file, or the per-user default. */
import { LocalSocketError } from '../errors.js';
import type { PlatformInfo } from '../platform.js';
import { checkBoolean, checkTimeout } from '../validate.js';
import { DEFAULTS } from '../options.js';
import { checkKey, defaultKeyPath, ensureKeyFile, readKeyFile } from './key.js';

export interface AuthOptions {
  /** Mutual authentication handshake; on by default. `false` is raw mode, for plain peers (Qt, Python). */
  auth?: boolean;
  /** The shared key in memory (16 to 1024 bytes). */
  key?: Uint8Array;
  /** A key file (hex text, owner-only permissions). Must exist. */
  keyFile?: string;
  /** Deadline for the handshake, each side. */
  handshakeTimeout?: number;
}

export interface ResolvedAuth {
  key: Buffer;
  handshakeTimeout: number;
}

/** Null in raw mode. Reads (or, for the default key, creates) the key. */
export function resolveAuth(raw: Record<string, unknown>, p: PlatformInfo): ResolvedAuth | null {
  const enabled = checkBoolean(raw.auth, 'auth', true);
  const handshakeTimeout = checkTimeout(raw.handshakeTimeout, DEFAULTS.handshakeTimeout, 'handshakeTimeout');
  if (!enabled) return null;
  let key: Buffer;
  if (raw.key !== undefined) key = checkKey(raw.key);
  else if (raw.keyFile !== undefined) {
    if (typeof raw.keyFile !== 'string' || raw.keyFile.length === 0) {
      throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: keyFile must be a path');
    }
    key = readKeyFile(raw.keyFile, p);
  } else key = ensureKeyFile(defaultKeyPath(p), p);
  return { key, handshakeTimeout };
}
