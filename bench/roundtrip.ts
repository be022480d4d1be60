/**
 * Scenario 2, round trip: the client sends 64 bytes, the server echoes them,
 * 20,000 times in a row; p50 and p99 of each round trip, in microseconds.
 * Server (an echo) and client are separate processes. The client loop is
 * driven by callbacks, identical for both implementations, so the harness adds
 * the same (small) cost to each.
 */
import { once } from 'node:events';
import net from 'node:net';
import { connect, listen, type LocalServer, type LocalSocket } from '../src/index.js';
import {
  alternate, keyFromHex, log, median, nowNs, percentileSorted, pinToCpu, ratioRow, rawSocketPath, sortedCopy, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type Impl, type ScenarioResult,
} from './common.js';

const MESSAGE = 64;
const ROUND_TRIPS = 20_000;

// ---- server worker (echo) ----------------------------------------------------------

let oursServer: LocalServer | null = null;
let rawServer: net.Server | null = null;

export function echoOurs(s: LocalSocket): void {
  s.on('readyRead', () => {
    void s.write(s.read());
  });
}

export function echoRaw(sock: net.Socket): void {
  sock.on('error', () => {});
  sock.on('data', (data: Buffer) => sock.write(data));
}

/** Starts an echo server of each kind; used by this scenario and by many-clients. */
export async function startEchoServers(prefix: string, options: { auth?: boolean } = {}): Promise<{ name: string; path: string }> {
  const name = uniqueName(prefix);
  oursServer = await listen(name, options.auth === false ? { auth: false } : { key: keyFromHex(process.env.LSB_KEY!), maxPendingConnections: 256 });
  oursServer.on('newConnection', () => {
    for (let s = oursServer!.nextPendingConnection(); s; s = oursServer!.nextPendingConnection()) echoOurs(s);
  });
  const path = rawSocketPath(prefix);
  rawServer = net.createServer(echoRaw);
  await new Promise<void>((resolve) => rawServer!.listen({ path, backlog: 511 }, resolve));
  return { name, path };
}

// ---- client worker -------------------------------------------------------------------

/** One round trip after another on a connected socket; fills `out` with nanoseconds per trip. */
function loopOurs(s: LocalSocket, out: Float64Array): Promise<void> {
  const message = Buffer.alloc(MESSAGE, 0x61);
  return new Promise((resolve) => {
    let i = 0;
    let got = 0;
    let t0 = 0;
    const onReady = (): void => {
      got += s.read().length;
      if (got < MESSAGE) return;
      got -= MESSAGE;
      out[i++] = nowNs() - t0;
      if (i === out.length) {
        s.off('readyRead', onReady);
        resolve();
        return;
      }
      t0 = nowNs();
      void s.write(message);
    };
    s.on('readyRead', onReady);
    t0 = nowNs();
    void s.write(message);
  });
}

function loopRaw(sock: net.Socket, out: Float64Array): Promise<void> {
  const message = Buffer.alloc(MESSAGE, 0x61);
  return new Promise((resolve) => {
    let i = 0;
    let got = 0;
    let t0 = 0;
    const onData = (data: Buffer): void => {
      got += data.length;
      if (got < MESSAGE) return;
      got -= MESSAGE;
      out[i++] = nowNs() - t0;
      if (i === out.length) {
        sock.off('data', onData);
        resolve();
        return;
      }
      t0 = nowNs();
      sock.write(message);
    };
    sock.on('data', onData);
    t0 = nowNs();
    sock.write(message);
  });
}

export async function connectOurs(name: string): Promise<LocalSocket> {
  return connect(name, { key: keyFromHex(process.env.LSB_KEY!) });
}

export async function connectRaw(path: string): Promise<net.Socket> {
  const sock = net.createConnection({ path });
  await once(sock, 'connect');
  return sock;
}

export const commands: Commands = {
  start: () => startEchoServers('rt'),
  async run(args: { impl: Impl; name: string; path: string; count: number }): Promise<{ p50: number; p99: number; mean: number }> {
    const lat = new Float64Array(args.count);
    if (args.impl === 'ours') {
      const s = await connectOurs(args.name);
      await loopOurs(s, lat);
      s.abort();
    } else {
      const sock = await connectRaw(args.path);
      await loopRaw(sock, lat);
      sock.destroy();
    }
    let sum = 0;
    for (const x of lat) sum += x;
    const sorted = sortedCopy(lat);
    return { p50: percentileSorted(sorted, 50) / 1000, p99: percentileSorted(sorted, 99) / 1000, mean: sum / lat.length / 1000 };
  },
};

// ---- orchestration ---------------------------------------------------------------------

type Figures = { p50: number; p99: number; mean: number };

/** One server process and one client process (both pinned to CPU 0 when `pinned`), raw and ours alternating. */
async function measure(config: BenchConfig, count: number, pinned: boolean): Promise<Record<Impl, Figures[]> | null> {
  const label = pinned ? 'pinned-' : '';
  const server = await spawnWorker('roundtrip', config, { label: `${label}server` });
  const client = await spawnWorker('roundtrip', config, { label: `${label}client` });
  try {
    if (pinned && !(pinToCpu(server.pid, 0) && pinToCpu(client.pid, 0))) return null;
    const where = await server.call<{ name: string; path: string }>('start');
    for (const impl of ['raw', 'ours'] as Impl[]) await client.call('run', { impl, ...where, count: count / 4 });
    const res: Record<Impl, Figures[]> = { raw: [], ours: [] };
    await alternate(config.reps, async (impl) => {
      const r = await client.call<Figures>('run', { impl, ...where, count });
      res[impl].push(r);
      log(`roundtrip${pinned ? ' pinned' : ''} ${impl}: p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs`);
    });
    return res;
  } finally {
    await client.stop();
    await server.stop();
  }
}

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? ROUND_TRIPS / 4 : ROUND_TRIPS;
  const res = (await measure(config, count, false))!;
  // Both processes on one CPU: every round trip is two context switches on that CPU, no cross-CPU wake-up.
  const pinned = await measure(config, count, true);
  const pick = (r: Record<Impl, Figures[]>, impl: Impl, k: 'p50' | 'p99' | 'mean'): number[] => r[impl].map((x) => x[k]);
  const rows = [
    ratioRow('roundtrip', `round trip 64 B x ${count} p50`, 'µs', pick(res, 'raw', 'p50'), pick(res, 'ours', 'p50'), { op: '<=', value: 1.05 }),
    ratioRow('roundtrip', `round trip 64 B x ${count} p99`, 'µs', pick(res, 'raw', 'p99'), pick(res, 'ours', 'p99')),
  ];
  if (pinned) {
    rows.push(
      ratioRow('roundtrip', `round trip 64 B x ${count} p50, both processes pinned to CPU 0`, 'µs', pick(pinned, 'raw', 'p50'), pick(pinned, 'ours', 'p50'), { op: '<=', value: 1.05 }),
      ratioRow('roundtrip', `round trip 64 B x ${count} p99, both processes pinned to CPU 0`, 'µs', pick(pinned, 'raw', 'p99'), pick(pinned, 'ours', 'p99')),
    );
  }
  return {
    name: 'roundtrip',
    rows,
    notes: pinned ? ['the pinned rows run a second server/client pair, both processes pinned to CPU 0 with taskset -a -p'] : ['no pinned rows (taskset unavailable here)'],
    details: {
      roundTrips: count, messageBytes: MESSAGE, reps: config.reps, raw: res.raw, ours: res.ours, pinned,
      medianMeanRaw: median(pick(res, 'raw', 'mean')), medianMeanOurs: median(pick(res, 'ours', 'mean')),
      processes: 'echo server and client in separate processes',
    },
  };
}
