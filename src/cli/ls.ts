/**
 * `localsocket ls [--json] [--clean]`: the names in the user's private socket
 * directory, each probed as `check` probes one (a real handshake), with its
 * state: live (a server answers; authenticated when it proves it holds our
 * key), stale (proven: the socket file is there and the connection is
 * refused, so nothing listens), or unknown (anything else: busy, no access,
 * an error). On Linux, the pid of the process holding a live socket.
 * `--clean` removes the proven-stale files, re-checking each just before.
 * Only socket files are listed: dot-files and anything else (lock files,
 * records) are not names.
 */
import fs from 'node:fs';
import { LocalSocketError } from '../errors.js';
import { privateDirectory, resolveName } from '../endpoint/names.js';
import { currentPlatform } from '../endpoint/platform.js';
import { checkPrivateDir } from '../endpoint/private-dir.js';
import { flag, KEY_FILE_OPTION, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { dial, type DialResult } from './check.js';
import { EXIT } from './output.js';
import { ownersFromConnection, readUnixTable, type UnixRow } from './socket-owner.js';

export const LS_OPTIONS: OptionSpecs = {
  json: {
    type: 'boolean',
    description: 'one JSON array: [{"name","path","state","detail",\n"authenticated","pid"}], pid null where unknown (with --clean, each entry also has "removed")',
  },
  clean: { type: 'boolean', description: 'remove the stale entries, printing each one removed' },
  'key-file': { ...KEY_FILE_OPTION, description: 'verify servers with this key', defaultText: 'your key' },
};

export const LS_HELP = `Usage: localsocket ls [options]

Lists the names in your private socket directory, each with its state:
  live     a server answers ("authenticated" when it proves it holds your
           key, "key mismatch" when it does not)
  stale    a leftover socket file nobody listens on (proven: the connection
           is refused); the next "listen" on that name reclaims it
  unknown  cannot tell (busy, access denied, another error)
and, on Linux, the pid of the process holding it (one of your processes).
Each live server sees one authenticated connection that closes.

Options:
${optionsHelp(LS_OPTIONS)}`;

/** One listed name. */
export interface Entry {
  name: string;
  path: string;
  state: 'live' | 'stale' | 'unknown';
  detail: string;
  /** True when the server proved it holds our key; false when it did not or could not; null when nothing answered. */
  authenticated: boolean | null;
  /** The holding process (Linux, live entries); null where unknown. */
  pid: number | null;
}

/** The socket files of the private directory, by name; none if it does not exist. */
function socketNames(dir: string, uid: number | undefined): string[] {
  try {
    checkPrivateDir(dir, uid);
  } catch (err) {
    if (err instanceof LocalSocketError && err.code === 'SERVER_NOT_FOUND') return [];
    throw err;
  }
  const names: string[] = [];
  for (const dirent of fs.readdirSync(dir, { withFileTypes: true })) {
    // Dot-files (locks, records, temporary files) are never names; only sockets are servers.
    if (dirent.name.startsWith('.') || !dirent.isSocket()) continue;
    names.push(dirent.name);
  }
  return names.sort();
}

function stateOf(result: DialResult): Pick<Entry, 'state' | 'authenticated'> {
  if (result.answer === 'refused') return { state: 'stale', authenticated: null };
  if (result.answer === 'answers') return { state: 'live', authenticated: /authenticated/.test(result.detail) };
  if (result.answer === 'busy') return { state: 'live', authenticated: null };
  return { state: 'unknown', authenticated: null };
}

/** Probes at most this many times to tell the owner from other connections made meanwhile. */
const MAX_OWNER_PROBES = 3;

function intersection(a: Set<number>, b: Set<number>): Set<number> {
  return new Set([...a].filter((x) => b.has(x)));
}

async function probe(name: string, values: Values, uid: number | undefined): Promise<Entry> {
  const endpoint = resolveName(name, {}, currentPlatform());
  const first = await probeOnce(endpoint, values, uid);
  const { state, authenticated } = stateOf(first.result);
  // Another connection to a server in the same directory may have come and gone between the two
  // table reads; the real owner is a candidate every time, a bystander hardly twice. A probe that
  // found no candidate (its connection ended before the second read) tells nothing: probe again.
  let owners: Set<number> | null = null;
  let found = first.owners;
  for (let probes = 1; state === 'live' && found !== null; probes++) {
    const candidates: Set<number> = found;
    if (candidates.size > 0) owners = owners === null ? candidates : intersection(owners, candidates);
    if ((owners !== null && owners.size <= 1) || probes >= MAX_OWNER_PROBES) break;
    found = (await probeOnce(endpoint, values, uid)).owners;
  }
  const pid = owners !== null && owners.size === 1 ? [...owners][0]! : null;
  return { name, path: endpoint.address, state, detail: first.result.detail, authenticated, pid };
}

/** One connection to `endpoint`, with /proc/net/unix read before and once it is connected. */
async function probeOnce(endpoint: ReturnType<typeof resolveName>, values: Values, uid: number | undefined): Promise<{ result: DialResult; owners: Set<number> | null }> {
  const before = readUnixTable();
  let after: UnixRow[] | null = null;
  const result = await dial(endpoint, values, () => (after = readUnixTable()));
  const owners = before !== null && after !== null ? ownersFromConnection(before, after, endpoint.address, uid) : null;
  return { result, owners };
}

/** Removes a stale entry if it is still the same stale socket file (a server may have taken the name meanwhile). */
async function removeStale(entry: Entry, values: Values): Promise<boolean> {
  let before: fs.Stats;
  try {
    before = fs.lstatSync(entry.path);
  } catch {
    return false;
  }
  if (!before.isSocket()) return false;
  const again = await dial(resolveName(entry.name, {}, currentPlatform()), values);
  if (again.answer !== 'refused') return false;
  const now = fs.lstatSync(entry.path, { throwIfNoEntry: false });
  if (now === undefined || now.ino !== before.ino || now.dev !== before.dev) return false;
  fs.unlinkSync(entry.path);
  return true;
}

function table(entries: Entry[]): string {
  if (entries.length === 0) return '';
  const rows = entries.map((e) => [e.name, e.state === 'live' ? (e.authenticated ? 'live, authenticated' : e.authenticated === false ? 'live, not authenticated' : 'live') : e.state, e.pid === null ? '-' : String(e.pid), e.detail]);
  const header = ['NAME', 'STATE', 'PID', 'DETAIL'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `${r.slice(0, 3).map((c, i) => c.padEnd(widths[i]!)).join('  ')}  ${r[3]}\n`;
  return line(header) + rows.map(line).join('');
}

export async function runLs(values: Values): Promise<number> {
  const platform = currentPlatform();
  if (platform.platform === 'win32') {
    throw new LocalSocketError('UNSUPPORTED', 'ls: listing named pipes is not supported on Windows');
  }
  const dir = privateDirectory(platform);
  // One at a time: each probe tells its server's connection from the others by what appeared meanwhile.
  const entries: Entry[] = [];
  for (const name of socketNames(dir, platform.uid)) entries.push(await probe(name, values, platform.uid));
  const removed: Entry[] = [];
  if (flag(values, 'clean')) {
    for (const entry of entries) if (entry.state === 'stale' && (await removeStale(entry, values))) removed.push(entry);
  }
  if (flag(values, 'json')) {
    const out = flag(values, 'clean') ? entries.map((e) => ({ ...e, removed: removed.includes(e) })) : entries;
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return EXIT.ok;
  }
  let text = entries.length === 0 ? `no names in ${dir}\n` : table(entries);
  for (const entry of removed) text += `removed stale ${entry.name} (${entry.path})\n`;
  process.stdout.write(text);
  return EXIT.ok;
}
