/**
 * `localsocket check NAME`: what is at a name. The endpoint, whether a server
 * answers (and whether it offers the localsocket handshake), whether a
 * leftover socket file is stale, and the owner and mode of the socket and of
 * its directory. Exit 0 only if a server answers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultKeyPath, loadKey } from '../auth/key.js';
import type { ResolvedAuth } from '../auth/options.js';
import { isBusyDialError } from '../busy-errors.js';
import { authenticate } from '../connector.js';
import { dialOnce } from '../endpoint/dial.js';
import { LocalSocketError } from '../errors.js';
import { findPublishedPipe } from '../endpoint/pipe-record.js';
import { resolveName, type Endpoint } from '../endpoint/names.js';
import { currentPlatform } from '../endpoint/platform.js';
import { checkPrivateDir } from '../endpoint/private-dir.js';
import { KEY_FILE_OPTION, nameOptions, NAME_OPTIONS, optionsHelp, stringOption, type OptionSpecs, type Values } from './args.js';
import { displayAddress, EXIT, formatMode } from './output.js';

export const CHECK_OPTIONS: OptionSpecs = {
  ...NAME_OPTIONS,
  'key-file': { ...KEY_FILE_OPTION, description: 'verify the server with this key', defaultText: 'your key, if it exists; check never creates one' },
};

export const CHECK_HELP = `Usage: localsocket check NAME [options]

Reports what is at NAME: the resolved endpoint, whether a server answers
and whether it proves it holds your key (a real handshake, so the server
sees an authenticated connection, not a refused peer),
whether a leftover socket file is stale (no server behind it: the next
"listen" reclaims it), and the owner and mode of the socket file and its
directory. Exits 0 only if a server answers, 1 otherwise.

Options:
${optionsHelp(CHECK_OPTIONS)}`;

const DIAL_TIMEOUT_MS = 1000;
const HANDSHAKE_WAIT_MS = 1000;

export type Answer = 'answers' | 'busy' | 'refused' | 'missing' | 'denied' | 'error';

export interface DialResult {
  answer: Answer;
  detail: string;
}

/**
 * The key to prove with: --key-file, else the default key if it exists (check
 * never creates one). Without a key, a throwaway one still shows whether the
 * server speaks the handshake (it answers any hello), but cannot verify it.
 */
function checkKey(values: Values): { auth: ResolvedAuth; verifiable: boolean } {
  const platform = currentPlatform();
  const file = stringOption(values, 'key-file') ?? defaultKeyPath(platform);
  const explicit = stringOption(values, 'key-file') !== undefined;
  if (!explicit && !fs.existsSync(file)) {
    return { auth: { key: randomBytes(32), keyFile: null, keyCreated: false, handshakeTimeout: HANDSHAKE_WAIT_MS }, verifiable: false };
  }
  const loaded = loadKey(file, false, platform);
  return { auth: { key: loaded.key, keyFile: loaded.file, keyCreated: false, handshakeTimeout: HANDSHAKE_WAIT_MS }, verifiable: true };
}

function dialFailure(err: unknown, endpoint: Endpoint): DialResult {
  const code = err instanceof LocalSocketError ? err.code : 'UNKNOWN';
  if (isBusyDialError(err)) return { answer: 'busy', detail: 'a server is up but busy (its backlog is full)' };
  // Windows: on ERROR_PIPE_BUSY libuv waits for a free instance itself, so a busy pipe shows as a dial that times out.
  if (code === 'TIMEOUT' && endpoint.kind === 'pipe') return { answer: 'busy', detail: 'a server is up but busy (every pipe instance is taken)' };
  if (code === 'CONNECTION_REFUSED') return { answer: 'refused', detail: 'no server answers (connection refused)' };
  if (code === 'SERVER_NOT_FOUND') return { answer: 'missing', detail: 'no server (nothing at this name)' };
  if (code === 'ACCESS_DENIED') return { answer: 'denied', detail: 'cannot tell: access denied' };
  return { answer: 'error', detail: `cannot tell: ${code}` };
}

/**
 * Dials, then runs a real handshake (the same connector a client uses), so a
 * check is an authenticated connection that closes, not a refused peer in the
 * server's log.
 */
export async function dial(endpoint: Endpoint, values: Values, onConnected?: () => void): Promise<DialResult> {
  let transport;
  try {
    transport = await dialOnce(endpoint, DIAL_TIMEOUT_MS, undefined, currentPlatform().uid);
  } catch (err) {
    return dialFailure(err, endpoint);
  }
  onConnected?.(); // e.g. `ls` looking for the server's end of this connection
  let key;
  try {
    key = checkKey(values);
  } catch (err) {
    transport.destroy();
    throw err;
  }
  const { auth, verifiable } = key;
  try {
    await authenticate(transport, auth, Date.now() + HANDSHAKE_WAIT_MS, new AbortController().signal);
    transport.end();
    transport.destroySoon();
    return { answer: 'answers', detail: verifiable ? 'a server answers; authenticated (it holds our key)' : 'a server answers; it offers the localsocket handshake' };
  } catch (err) {
    const code = err instanceof LocalSocketError ? err.code : 'UNKNOWN';
    if (code === 'AUTH_FAILED') {
      return { answer: 'answers', detail: verifiable ? `a server answers; key mismatch: it does not hold our key (${auth.keyFile})` : 'a server answers; it offers the localsocket handshake (no key here to verify it)' };
    }
    if (code === 'RESOURCE_EXHAUSTED') return { answer: 'busy', detail: 'a server answers but is busy (no handshake slot free)' };
    if (code === 'PROTOCOL_ERROR') return { answer: 'answers', detail: 'a server answers; no localsocket handshake (raw mode, or not a localsocket server)' };
    // Silence is not evidence of raw mode: an overloaded or stuck server is silent too.
    if (code === 'TIMEOUT') return { answer: 'answers', detail: 'a server accepted the connection but did not answer the handshake (busy, stuck, raw mode, or not a localsocket server)' };
    if (code === 'CONNECTION_REFUSED') return { answer: 'answers', detail: 'a server answers but closed the connection at once' };
    return dialFailure(err, endpoint);
  }
}

function ownerText(st: fs.Stats): string {
  const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
  let who = `uid ${st.uid}`;
  if (st.uid === me) who += ` (you, ${os.userInfo().username})`;
  else if (st.uid === 0) who += ' (root)';
  return `${who}, gid ${st.gid}`;
}

function describeFile(file: string): { exists: boolean; isSocket: boolean; text: string } {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false, isSocket: false, text: 'none' };
    return { exists: false, isSocket: false, text: 'cannot inspect it (access denied)' };
  }
  const kind = st.isSocket() ? 'socket' : st.isSymbolicLink() ? 'symbolic link' : st.isDirectory() ? 'directory' : 'not a socket';
  return { exists: true, isSocket: st.isSocket(), text: `${kind}, mode ${formatMode(st.mode)}, owner ${ownerText(st)}` };
}

function describeDirectory(endpoint: Endpoint): string {
  const dir = endpoint.privateDir ?? path.dirname(endpoint.address);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return `${dir}: does not exist`;
  }
  let text = `${dir}: mode ${formatMode(st.mode)}, owner ${ownerText(st)}`;
  if (endpoint.privateDir) {
    try {
      checkPrivateDir(endpoint.privateDir, currentPlatform().uid);
      text += ' (private: ok)';
    } catch (err) {
      text += ` (UNSAFE: ${err instanceof LocalSocketError ? err.message : 'cannot check it'})`;
    }
  }
  return text;
}

/** Windows default names: the pipe the record names, or why there is none to dial; and the record. */
function describePublished(record: string): { endpoint: string; record: string } {
  try {
    const found = findPublishedPipe(record, currentPlatform());
    return { endpoint: found.pipe, record: `${record} (server pid ${found.pid})` };
  } catch (err) {
    const message = err instanceof LocalSocketError ? err.message : 'cannot read it';
    return { endpoint: `none published (${message})`, record };
  }
}

function row(label: string, value: string): string {
  return `${`${label}:`.padEnd(11)}${value}\n`;
}

export async function runCheck(values: Values, name: string): Promise<number> {
  const endpoint = resolveName(name, nameOptions(values), currentPlatform());
  const result = await dial(endpoint, values);
  // Windows default names: the endpoint is the pipe the record names now, and the record is shown beside it.
  const shown: { endpoint: string; record?: string } = endpoint.record ? describePublished(endpoint.address) : { endpoint: displayAddress(endpoint) };
  let out = row('name', name) + row('endpoint', shown.endpoint) + (shown.record !== undefined ? row('record', shown.record) : '') + row('kind', endpoint.kind);
  out += row('server', result.detail);
  if (endpoint.kind === 'unix') {
    const file = describeFile(endpoint.address);
    let state = file.text;
    if (file.isSocket && result.answer === 'refused') state = `stale: a leftover socket file no server answers on (the next listen reclaims it); ${file.text}`;
    else if (file.isSocket && result.answer === 'answers') state = `live; ${file.text}`;
    out += row('socket', state);
    out += row('directory', describeDirectory(endpoint));
  } else if (endpoint.kind === 'abstract') {
    out += row('socket', 'abstract: no file and no file permissions (only the handshake keeps others out)');
  } else {
    out += row('socket', 'named pipe: no file; access is set by the pipe security descriptor');
  }
  process.stdout.write(out);
  return result.answer === 'answers' || result.answer === 'busy' ? EXIT.ok : EXIT.failure;
}
