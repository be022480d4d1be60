/**
 * Scenario 3, connect: time until a connection is usable, p50 and p99.
 *   raw net:        net.createConnection() until 'connect'
 *   ours raw mode:  connect(name, { auth: false }) resolved
 *   ours auth:      connect(name, { key }) resolved (mutual HMAC handshake done)
 * A fourth kind is the physical floor of a one-round-trip handshake:
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
import net from 'node:net';
import { connect, listen, type LocalServer } from '../src/index.js';
import {
  interleavedPercentiles, keyFromHex, log, nowNs, ratioRow, rawSocketPath, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type ScenarioResult,
} from './common.js';

const CONNECTS = 1000;
type Kind = 'raw' | 'oursRaw' | 'oursAuth' | 'rawExchange';
const KINDS: Kind[] = ['raw', 'oursRaw', 'oursAuth', 'rawExchange'];
const ROUND_TRIP_BYTES = 64;

interface Where {
  raw: string;
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
  if (kind === 'raw') {
    const sock = net.createConnection({ path: where.raw });
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
    const rawExchange = rawSocketPath('exchange');
    const x = net.createServer(exchangeServer);
    await new Promise<void>((resolve) => x.listen({ path: rawExchange, backlog: 511 }, resolve));
    servers.push(a, b, r, x);
    return { raw, oursRaw, oursAuth, rawExchange };
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
    await client.call('run', { where, count: 100, rep: 0 }); // warm-up
    const res: Array<Record<Kind, { p50: number; p99: number }>> = [];
    for (let rep = 0; rep < reps; rep++) {
      const r = await client.call<Record<Kind, { p50: number; p99: number }>>('run', { where, count, rep });
      res.push(r);
      log(`connect p50/p99 µs: raw ${r.raw.p50.toFixed(0)}/${r.raw.p99.toFixed(0)}, ours raw mode ${r.oursRaw.p50.toFixed(0)}/${r.oursRaw.p99.toFixed(0)}, ours auth ${r.oursAuth.p50.toFixed(0)}/${r.oursAuth.p99.toFixed(0)}, floor (raw connect + 64 B round trip) ${r.rawExchange.p50.toFixed(0)}/${r.rawExchange.p99.toFixed(0)}`);
    }
    const pick = (kind: Kind, k: 'p50' | 'p99'): number[] => res.map((r) => r[kind][k]);
    return {
      name: 'connect',
      rows: [
        ratioRow('connect', 'connect p50, ours raw mode', 'µs', pick('raw', 'p50'), pick('oursRaw', 'p50'), { op: '<=', value: 1.3 }),
        ratioRow('connect', 'connect p99, ours raw mode', 'µs', pick('raw', 'p99'), pick('oursRaw', 'p99')),
        ratioRow('connect', 'connect p50, ours authenticated', 'µs', pick('raw', 'p50'), pick('oursAuth', 'p50')),
        ratioRow('connect', 'connect p99, ours authenticated', 'µs', pick('raw', 'p99'), pick('oursAuth', 'p99')),
        ratioRow('connect', 'connect p50, floor: raw connect + one 64 B round trip', 'µs', pick('raw', 'p50'), pick('rawExchange', 'p50')),
        ratioRow('connect', 'connect p50, ours authenticated vs the floor', 'µs', pick('rawExchange', 'p50'), pick('oursAuth', 'p50'), { op: '<=', value: 1.25 }),
      ],
      notes: ['"floor" = raw net connect plus one 64-byte round trip, no crypto and no library: the least any one-round-trip handshake can cost; the last row compares the authenticated connect with it (floor in the raw column)'],
      details: { connectsPerKindPerRep: count, reps, perRep: res, processes: 'servers in one process, client in another; kinds interleaved connection by connection' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
