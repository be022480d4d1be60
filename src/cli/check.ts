/**
 * `localsocket check NAME`: what is at a name. The endpoint, whether a server
 * answers (and whether it offers the localsocket handshake), whether a
 * leftover socket file is stale, and the owner and mode of the socket and of
 * its directory. Exit 0 only if a server answers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { dialOnce } from '../dial.js';
import { LocalSocketError } from '../errors.js';
import { resolveName, type Endpoint } from '../names.js';
import { currentPlatform } from '../platform.js';
import { checkPrivateDir } from '../private-dir.js';
import { nameOptions, NAME_OPTIONS, type OptionSpecs, type Values } from './args.js';
import { displayAddress, EXIT, formatMode } from './output.js';

export const CHECK_OPTIONS: OptionSpecs = { ...NAME_OPTIONS };

export const CHECK_HELP = `Usage: localsocket check NAME [options]

Reports what is at NAME: the resolved endpoint, whether a server answers,
whether a leftover socket file is stale (no server behind it: the next
"listen" reclaims it), and the owner and mode of the socket file and its
directory. Exits 0 only if a server answers, 1 otherwise.

Options:
  --qt                   resolve NAME as Qt does
  --abstract             Linux abstract namespace
  -h, --help             show this help`;

const DIAL_TIMEOUT_MS = 1000;
const GREETING_WAIT_MS = 300;
const HELLO_MAGIC = Buffer.from('LSH1', 'latin1');

type Answer = 'answers' | 'busy' | 'refused' | 'missing' | 'denied' | 'error';

interface DialResult {
  answer: Answer;
  detail: string;
}

/** What the server says first: a localsocket server greets at once with its handshake hello. */
function greeting(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const finish = (text: string): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= HELLO_MAGIC.length) {
        finish(got.subarray(0, HELLO_MAGIC.length).equals(HELLO_MAGIC) ? 'offers the localsocket handshake' : 'speaks first, not the localsocket handshake');
      }
    };
    const onClose = (): void => finish('closed the connection at once');
    const timer = setTimeout(() => finish('sends no greeting (raw mode, or not a localsocket server)'), GREETING_WAIT_MS);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {});
  });
}

async function dial(endpoint: Endpoint): Promise<DialResult> {
  let socket: net.Socket;
  try {
    socket = await dialOnce(endpoint, DIAL_TIMEOUT_MS);
  } catch (err) {
    const code = err instanceof LocalSocketError ? err.code : 'UNKNOWN';
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === 'EAGAIN' || cause === 'EWOULDBLOCK' || cause === 'EBUSY') return { answer: 'busy', detail: 'a server is up but busy (its backlog is full)' };
    // Windows: on ERROR_PIPE_BUSY libuv waits for a free instance itself, so a busy pipe shows as a dial that times out.
    if (code === 'TIMEOUT' && endpoint.kind === 'pipe') return { answer: 'busy', detail: 'a server is up but busy (every pipe instance is taken)' };
    if (code === 'CONNECTION_REFUSED') return { answer: 'refused', detail: 'no server answers (connection refused)' };
    if (code === 'SERVER_NOT_FOUND') return { answer: 'missing', detail: 'no server (nothing at this name)' };
    if (code === 'ACCESS_DENIED') return { answer: 'denied', detail: 'cannot tell: access denied' };
    return { answer: 'error', detail: `cannot tell: ${code}` };
  }
  try {
    return { answer: 'answers', detail: `a server answers; it ${await greeting(socket)}` };
  } finally {
    socket.destroy();
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

function row(label: string, value: string): string {
  return `${`${label}:`.padEnd(11)}${value}\n`;
}

export async function runCheck(values: Values, name: string): Promise<number> {
  const endpoint = resolveName(name, nameOptions(values), currentPlatform());
  const result = await dial(endpoint);
  let out = row('name', name) + row('endpoint', displayAddress(endpoint)) + row('kind', endpoint.kind);
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
