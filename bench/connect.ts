/**
 * Scenario 3, connect: time until a connection is usable, p50 and p99.
 *   raw net:        net.createConnection() until 'connect'
 *   ours raw mode:  connect(name, { auth: false }) resolved
 *   ours auth:      connect(name, { key }) resolved (mutual HMAC handshake done)
 * A fourth kind is the floor of a raw-mode connect that checks what localsocket checks:
 *   raw net + checks: the system calls of those checks, then a raw net connect
 *                   made as ours is made, no library: getuid, lstat of
 *                   $XDG_RUNTIME_DIR (when set) and of the private directory, and the
 *                   connect through the directory's kept descriptor
 *                   (/proc/self/fd/N/<name>). Linux only (elsewhere the same
 *                   as raw net). The raw-mode connect is also measured
 *                   against it, to tell the checks' cost from the library's.
 * A fifth kind is the physical floor of a one-round-trip handshake:
 *   raw net + round trip: raw net connect, then one 64-byte round trip (the
 *                   client writes 64 B, the server echoes them), no crypto and
 *                   no library. A raw connect alone returns before the server
 *                   has even run, so no handshake can approach it; the
 *                   authenticated connect is measured against this floor.
 * The servers (one per kind, all in one server process) take every connection
 * as it arrives; the client (another process) connects one at a time,
 * rotating through the three kinds connection by connection, and closes each
 * connection before the next.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, listen, type LocalServer } from '../src/index.js';
import {
  interleavedPercentiles, keyFromHex, log, nowNs, ratioRow, rawSocketPath, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type ScenarioResult,
} from './common.js';

const CONNECTS = 1000;
/** Connects of each kind before the measured ones: the first ~1,000 of a new connection path run slower (JIT, kernel caches), raw net as well. */
const WARM_UP = 1000;
type Kind = 'raw' | 'rawChecked' | 'oursRaw' | 'oursAuth' | 'rawExchange';
const KINDS: Kind[] = ['raw', 'rawChecked', 'oursRaw', 'oursAuth', 'rawExchange'];
const ROUND_TRIP_BYTES = 64;

interface Where {
  raw: string;
  /** A raw server's socket inside a directory of its own (`checkedDir`), for the "raw net + checks" kind. */
  rawChecked: string;
  checkedDir: string;
  oursRaw: string;
  oursAuth: string;
  rawExchange: string;
}

// ---- server worker ---------------------------------------------------------------

const servers: Array<LocalServer | net.Server> = [];

function takeAll(server: LocalServer): void {
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      // Held until the client closes it; the socket then releases itself.
      s.on('error', () => {});
    }
  });
}

// ---- client worker -----------------------------------------------------------------

/** Resolves once `size` more bytes have arrived on `sock`. */
function bytes(sock: net.Socket, size: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (data: Buffer): void => {
      got += data.length;
      if (got < size) return;
      sock.off('data', onData);
      resolve();
    };
    sock.on('data', onData);
  });
}

/** The floor's server: echoes what it receives. */
function exchangeServer(sock: net.Socket): void {
  sock.on('error', () => {});
  sock.on('data', (d) => sock.write(d));
}

/** The kept descriptor of the checked directory (as ours keeps one per private directory). */
let checkedDirFd: number | null = null;

/** What localsocket's raw-mode connect checks, as bare system calls (see the file comment); the path to connect to. */
function checkedPath(where: Where): string {
  if (process.platform !== 'linux') return where.rawChecked;
  checkedDirFd ??= fs.openSync(where.checkedDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  process.getuid!();
  // As ours: $XDG_RUNTIME_DIR is checked when it is set; the private directory is looked at once.
  if (process.env.XDG_RUNTIME_DIR) fs.lstatSync(path.dirname(where.checkedDir));
  fs.lstatSync(where.checkedDir);
  return `/proc/self/fd/${checkedDirFd}/${path.basename(where.rawChecked)}`;
}

async function connectOnce(kind: Kind, where: Where, key: Buffer): Promise<number> {
  const t0 = nowNs();
  if (kind === 'rawExchange') {
    const sock = net.createConnection({ path: where.rawExchange });
    await once(sock, 'connect');
    const reply = bytes(sock, ROUND_TRIP_BYTES);
    sock.write(Buffer.alloc(ROUND_TRIP_BYTES, 3));
    await reply;
    const t1 = nowNs();
    sock.destroy();
    return t1 - t0;
  }
  if (kind === 'raw' || kind === 'rawChecked') {
    // allowHalfOpen as ours dials (no cost of its own).
    const sock = net.createConnection(kind === 'raw' ? { path: where.raw } : { path: checkedPath(where), allowHalfOpen: true });
    await once(sock, 'connect');
    const t1 = nowNs();
    sock.destroy();
    return t1 - t0;
  }
  const s = kind === 'oursRaw' ? await connect(where.oursRaw, { auth: false }) : await connect(where.oursAuth, { key });
  const t1 = nowNs();
  s.abort();
  return t1 - t0;
}

export const commands: Commands = {
  async start(): Promise<Where> {
    const key = keyFromHex(process.env.LSB_KEY!);
    const oursRaw = uniqueName('cr');
    const oursAuth = uniqueName('ca');
    const a = await listen(oursRaw, { auth: false });
    const b = await listen(oursAuth, { key });
    takeAll(a);
    takeAll(b);
    const raw = rawSocketPath('connect');
    const r = net.createServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((resolve) => r.listen({ path: raw, backlog: 511 }, resolve));
    const checkedDir = rawSocketPath('checked');
    fs.mkdirSync(checkedDir, { mode: 0o700 });
    const rawChecked = path.join(checkedDir, 'c.sock');
    const c = net.createServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((resolve) => c.listen({ path: rawChecked, backlog: 511 }, resolve));
    const rawExchange = rawSocketPath('exchange');
    const x = net.createServer(exchangeServer);
    await new Promise<void>((resolve) => x.listen({ path: rawExchange, backlog: 511 }, resolve));
    servers.push(a, b, r, c, x);
    return { raw, rawChecked, checkedDir, oursRaw, oursAuth, rawExchange };
  },
  /** `count` connections of each kind, interleaved; returns p50/p99 per kind in µs. */
  async run(args: { where: Where; count: number; rep: number }): Promise<Record<Kind, { p50: number; p99: number }>> {
    const key = keyFromHex(process.env.LSB_KEY!);
    return interleavedPercentiles(KINDS, args.count, args.rep, (kind) => connectOnce(kind, args.where, key));
  },
};

// ---- orchestration ---------------------------------------------------------------------

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? CONNECTS / 4 : CONNECTS;
  const reps = config.reps;
  const server = await spawnWorker('connect', config, { label: 'server' });
  const client = await spawnWorker('connect', config, { label: 'client' });
  try {
    const where = await server.call<Where>('start');
    await client.call('run', { where, count: WARM_UP, rep: 0 }); // warm-up
    const res: Array<Record<Kind, { p50: number; p99: number }>> = [];
    for (let rep = 0; rep < reps; rep++) {
      const r = await client.call<Record<Kind, { p50: number; p99: number }>>('run', { where, count, rep });
      res.push(r);
      log(`connect p50/p99 µs: raw ${r.raw.p50.toFixed(0)}/${r.raw.p99.toFixed(0)}, raw + checks ${r.rawChecked.p50.toFixed(0)}/${r.rawChecked.p99.toFixed(0)}, ours raw mode ${r.oursRaw.p50.toFixed(0)}/${r.oursRaw.p99.toFixed(0)}, ours auth ${r.oursAuth.p50.toFixed(0)}/${r.oursAuth.p99.toFixed(0)}, floor (raw connect + 64 B round trip) ${r.rawExchange.p50.toFixed(0)}/${r.rawExchange.p99.toFixed(0)}`);
    }
    const pick = (kind: Kind, k: 'p50' | 'p99'): number[] => res.map((r) => r[kind][k]);
    return {
      name: 'connect',
      rows: [
        ratioRow('connect', 'connect p50, ours raw mode', 'µs', pick('raw', 'p50'), pick('oursRaw', 'p50'), { op: '<=', value: 1.3 }),
        ratioRow('connect', 'connect p99, ours raw mode', 'µs', pick('raw', 'p99'), pick('oursRaw', 'p99')),
        ratioRow('connect', 'connect p50, floor: raw net + the checks\' system calls (getuid, lstat, connect via /proc/self/fd)', 'µs', pick('raw', 'p50'), pick('rawChecked', 'p50')),
        ratioRow('connect', 'connect p50, ours raw mode vs that floor', 'µs', pick('rawChecked', 'p50'), pick('oursRaw', 'p50')),
        ratioRow('connect', 'connect p50, ours authenticated', 'µs', pick('raw', 'p50'), pick('oursAuth', 'p50')),
        ratioRow('connect', 'connect p99, ours authenticated', 'µs', pick('raw', 'p99'), pick('oursAuth', 'p99')),
        ratioRow('connect', 'connect p50, floor: raw connect + one 64 B round trip', 'µs', pick('raw', 'p50'), pick('rawExchange', 'p50')),
        ratioRow('connect', 'connect p50, ours authenticated vs the floor', 'µs', pick('rawExchange', 'p50'), pick('oursAuth', 'p50'), { op: '<=', value: 1.25 }),
      ],
      notes: ['"raw net + the checks\' system calls": what localsocket\'s raw-mode connect checks (the uid, the runtime and private directories, the swap-proof connect through the directory\'s descriptor), made bare on raw net: the least a connect with those checks can cost (Linux)', '"floor" = raw net connect plus one 64-byte round trip, no crypto and no library: the least any one-round-trip handshake can cost; the last row compares the authenticated connect with it (floor in the raw column)'],
      details: { connectsPerKindPerRep: count, reps, perRep: res, processes: 'servers in one process, client in another; kinds interleaved connection by connection' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
