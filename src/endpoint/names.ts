/**
 * Server name -> endpoint. Pure (all machine facts come from PlatformInfo), so
 * every platform's rules are tested everywhere. The safety of the private
 * directory is checked later, when it is used (private-dir.ts).
 */
// Unix rules are POSIX paths whatever the host, so they resolve (and are tested) the same on Windows.
import { posix as path } from 'node:path';
import { recordFile } from './pipe-record.js';
import { LocalSocketError } from '../errors.js';
import { currentPlatform, MAX_PIPE_NAME_CHARS, maxSocketPathBytes, type PlatformInfo } from './platform.js';

/** What a name resolved to: a Unix socket file, a Linux abstract name, or a Windows named pipe. */
export type EndpointKind = 'unix' | 'abstract' | 'pipe';

/** Where a server name leads, as {@link resolveName} computes it. */
export interface Endpoint {
  /** The kind of address. */
  kind: EndpointKind;
  /** The name as given. */
  name: string;
  /**
   * What the OS sees: a socket path, `\0name` for abstract, or `\\.\pipe\name`.
   * When `record` is true (Windows), the record file that names the pipe instead.
   */
  address: string;
  /**
   * Windows, a short name with auth on: the pipe name is random, chosen at each
   * listen and published in the record file `address`, in the user's private
   * `%LOCALAPPDATA%\localsocket\pipes` (so no other user can predict it, take it
   * first or keep it). `fullServerName` gives the pipe once listening or connected.
   */
  record?: boolean;
  /** For short names: the private per-user directory that must be created and checked. */
  privateDir?: string;
  /** The Unix path is longer than sun_path; reachable only through a directory descriptor (Linux). */
  longPath: boolean;
}

/** How a server name is resolved (options of `connect`, `listen` and {@link resolveName}). */
export interface NameOptions {
  /**
   * Resolve exactly as Qt's QLocalServer/QLocalSocket do, to talk to Qt programs:
   * a short name goes into the canonical `$TMPDIR` (or `/tmp`) rather than a private directory.
   * @defaultValue false
   */
  qtCompatible?: boolean;
  /**
   * Linux abstract namespace (no file; gone when the server closes). Needs Node.js 22 or later
   * (libuv 1.48+): older runtimes pad the address, so they refuse it with `UNSUPPORTED`.
   * @defaultValue false
   */
  abstract?: boolean;
}

const PIPE_PREFIX = '\\\\.\\pipe\\';
const NAME_MAX_BYTES = 255;
/** 107 bytes of sun_path less the longest `/proc/self/fd/N/` prefix (N up to 2147483647). */
export const LINUX_SHORT_NAME_MAX_BYTES = 107 - '/proc/self/fd/2147483647/'.length;

function invalidName(why: string): LocalSocketError {
  return new LocalSocketError('INVALID_NAME', `invalid server name: ${why}`);
}

function checkBasicName(name: unknown): string {
  if (typeof name !== 'string') throw invalidName('must be a string');
  if (name.length === 0) throw invalidName('empty');
  if (name.includes('\0')) throw invalidName('contains a NUL character');
  return name;
}

/**
 * The user's own localsocket directory, `$XDG_CONFIG_HOME/localsocket` (or
 * `~/.config/localsocket`): where the default key lives, and the place for
 * state that must not depend on a shared temp directory. It is checked like
 * the private directory wherever it is used.
 *
 * @param p - the machine facts.
 * @returns the directory, or undefined when there is neither `$XDG_CONFIG_HOME` nor a home directory.
 */
export function userDirectory(p: PlatformInfo): string | undefined {
  const config = p.env.XDG_CONFIG_HOME;
  if (config && path.isAbsolute(config)) return path.join(config, 'localsocket');
  if (p.homedir && path.isAbsolute(p.homedir)) return path.join(p.homedir, '.config', 'localsocket');
  return undefined;
}

/**
 * The private per-user directory for short names.
 *
 * @param p - the machine facts.
 * @returns `$XDG_RUNTIME_DIR/localsocket` when that directory is usable, else `<tmpdir>/localsocket-<uid>`,
 *   unless another user holds that one (a directory of theirs, a file, a link): then
 *   `$XDG_CONFIG_HOME/localsocket/sockets` (or `~/.config/localsocket/sockets`), which
 *   server and client both reach without configuration.
 */
export function privateDirectory(p: PlatformInfo): string {
  const runtime = p.env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime) && p.runtimeDirIsSafe(runtime)) return path.join(runtime, 'localsocket');
  const shared = path.join(p.tmpdir, `localsocket-${p.uid ?? 'user'}`);
  const own = userDirectory(p);
  if (own && p.takenByOther?.(shared)) return path.join(own, 'sockets');
  return shared;
}

/** What {@link resolveName} reads: the name options, and whether auth is on. */
export interface ResolveOptions extends NameOptions {
  /**
   * As the `auth` option of `listen`/`connect`: on Windows a short name with auth
   * is published through a record; raw mode (`false`) keeps the plain `\\.\pipe\<name>`.
   * No effect on Unix names.
   * @defaultValue true
   */
  auth?: boolean;
}

function resolvePipe(name: string, options: ResolveOptions, p: PlatformInfo): Endpoint {
  if (options.abstract) throw new LocalSocketError('UNSUPPORTED', 'abstract names exist only on Linux');
  let address: string;
  if (name.startsWith(PIPE_PREFIX)) address = name;
  else if (name.startsWith('\\\\')) throw invalidName('only local pipes (\\\\.\\pipe\\...) are supported');
  else if (!options.qtCompatible && /[\\/]/.test(name)) throw invalidName('a short name cannot contain slashes');
  else address = PIPE_PREFIX + name;
  if (address.length === PIPE_PREFIX.length) throw invalidName('empty pipe name');
  // Windows normalises "." and ".." in \\.\ paths: they would not name a pipe.
  const pipeName = address.slice(PIPE_PREFIX.length);
  if (pipeName === '.' || pipeName === '..') throw invalidName('"." and ".." are not names');
  if (address.slice(PIPE_PREFIX.length).includes('\\') && !options.qtCompatible) {
    throw invalidName('a pipe name cannot contain a backslash');
  }
  if (address.length > MAX_PIPE_NAME_CHARS) throw invalidName(`longer than ${MAX_PIPE_NAME_CHARS} characters`);
  // Spelt out in full, Qt's names and raw mode keep the plain pipe: the peer may be a program that knows only that name.
  if (address !== name && !options.qtCompatible && options.auth !== false) {
    return { kind: 'pipe', name, address: recordFile(name, p), record: true, longPath: false };
  }
  return { kind: 'pipe', name, address, longPath: false };
}

function resolveAbstract(name: string, p: PlatformInfo): Endpoint {
  if (p.platform !== 'linux') throw new LocalSocketError('UNSUPPORTED', 'abstract names exist only on Linux');
  // libuv before 1.48 (Node 20) pads abstract addresses with NULs to the full
  // sun_path: another program (socat, Python, Qt, Node 22) would see a different name.
  if (p.libuvVersion !== undefined && !libuvBindsExactLength(p.libuvVersion)) {
    throw new LocalSocketError('UNSUPPORTED', 'abstract names need Node.js 22 or later (libuv 1.48+): this runtime pads them, so other programs could not reach them');
  }
  const limit = maxSocketPathBytes(p.platform);
  // One byte of sun_path is the leading NUL that marks the abstract namespace.
  if (Buffer.byteLength(name) > limit) throw invalidName(`longer than ${limit} bytes`);
  return { kind: 'abstract', name, address: `\0${name}`, longPath: false };
}

function unixEndpoint(name: string, address: string, p: PlatformInfo, privateDir?: string): Endpoint {
  const limit = maxSocketPathBytes(p.platform);
  const longPath = Buffer.byteLength(address) > limit;
  if (longPath) {
    if (p.platform !== 'linux') throw invalidName(`the socket path is longer than ${limit} bytes`);
    // Reached as /proc/self/fd/N/<basename>: the basename must fit with room for that prefix.
    if (Buffer.byteLength(path.basename(address)) > limit - '/proc/self/fd/2147483647/'.length) {
      throw invalidName('the last part of the path is too long for a socket');
    }
  }
  const endpoint: Endpoint = { kind: 'unix', name, address, longPath };
  if (privateDir) endpoint.privateDir = privateDir;
  return endpoint;
}

/**
 * Whether this libuv binds and connects abstract names at their exact length
 * (1.48 and later) rather than padded to 108 bytes.
 *
 * @param version - `process.versions.uv`, e.g. `"1.46.0"`.
 * @returns true for libuv 1.48 and later (and any 2.x).
 */
export function libuvBindsExactLength(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 48);
}

function qtTempPath(p: PlatformInfo): string {
  // QDir::tempPath(): $TMPDIR if set and not empty, else /tmp; cleaned (no
  // trailing slash) and canonical (symlinks resolved). A directory that does
  // not exist has no canonical path: the cleaned one is kept.
  const tmp = p.env.TMPDIR;
  const cleaned = path.posix.normalize(tmp && tmp.length > 0 ? tmp : '/tmp').replace(/(.)\/+$/, '$1');
  return p.realpath?.(cleaned) ?? cleaned;
}

/**
 * Server name to endpoint, without touching the file system (except to
 * canonicalise `$TMPDIR` for `qtCompatible` names). A short name is a file in
 * a private per-user directory on Unix; on Windows it is a random pipe
 * published in a record file (`record: true`, `address` = the record file),
 * or `\\.\pipe\<name>` with `auth: false` or `qtCompatible`; a name with a
 * slash is a path (a full `\\.\pipe\...` name on Windows).
 *
 * Public API: it tells where a name leads (what `listen` binds and `connect`
 * dials) without binding or dialing. With a {@link PlatformInfo} it computes
 * another platform's rules, anywhere (tests, tools).
 *
 * @param name - the server name.
 * @param options - `qtCompatible` or `abstract`, and `auth` (default true) as given to `listen`/`connect`.
 * @param p - the machine facts.
 * @defaultValue p: this machine and process
 * @returns the endpoint: kind, OS address, and the private directory to create if any.
 * @throws {@link LocalSocketError} `INVALID_NAME` for an empty name, a NUL byte, `.`/`..`, or a name too long for the platform;
 *   `UNSUPPORTED` for `abstract` off Linux or on a runtime that pads abstract names (Node 20).
 */
export function resolveName(name: unknown, options: ResolveOptions = {}, p: PlatformInfo = currentPlatform()): Endpoint {
  const checked = checkBasicName(name);
  if (p.platform === 'win32') return resolvePipe(checked, options, p);
  if (options.abstract) return resolveAbstract(checked, p);
  if (options.qtCompatible) {
    const address = checked.startsWith('/') ? checked : `${qtTempPath(p)}/${checked}`;
    return unixEndpoint(checked, address, p);
  }
  if (checked.includes('/')) return unixEndpoint(checked, path.resolve(checked), p);
  if (checked === '.' || checked === '..') throw invalidName('"." and ".." are not names');
  if (Buffer.byteLength(checked) > NAME_MAX_BYTES) throw invalidName(`longer than ${NAME_MAX_BYTES} bytes`);
  // Linux reaches the socket as /proc/self/fd/N/<name> (private-dir.ts), which must fit in sun_path
  // for every N: one fixed limit, whatever the private directory's length or the descriptor number.
  if (p.platform === 'linux' && Buffer.byteLength(checked) > LINUX_SHORT_NAME_MAX_BYTES) {
    throw invalidName(`longer than ${LINUX_SHORT_NAME_MAX_BYTES} bytes (on Linux a short name is reached as /proc/self/fd/N/<name>)`);
  }
  const dir = privateDirectory(p);
  return unixEndpoint(checked, path.join(dir, checked), p, dir);
}
