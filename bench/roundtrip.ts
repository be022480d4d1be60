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
  alternate, keyFromHex, log, median, nowNs, percentileSorted, ratioRow, rawSocketPath, sortedCopy, spawnWorker, uniqueName,
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

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? ROUND_TRIPS / 4 : ROUND_TRIPS;
  const reps = config.reps;
  const server = await spawnWorker('roundtrip', config, { label: 'server' });
  const client = await spawnWorker('roundtrip', config, { label: 'client' });
  try {
    const where = await server.call<{ name: string; path: string }>('start');
    for (const impl of ['raw', 'ours'] as Impl[]) await client.call('run', { impl, ...where, count: count / 4 });
    const res: Record<Impl, Array<{ p50: number; p99: number; mean: number }>> = { raw: [], ours: [] };
    await alternate(reps, async (impl) => {
      const r = await client.call<{ p50: number; p99: number; mean: number }>('run', { impl, ...where, count });
      res[impl].push(r);
      log(`roundtrip ${impl}: p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs`);
    });
    const pick = (impl: Impl, k: 'p50' | 'p99' | 'mean'): number[] => res[impl].map((r) => r[k]);
    return {
      name: 'roundtrip',
      rows: [
        ratioRow('roundtrip', `round trip 64 B x ${count} p50`, 'µs', pick('raw', 'p50'), pick('ours', 'p50'), { op: '<=', value: 1.05 }),
        ratioRow('roundtrip', `round trip 64 B x ${count} p99`, 'µs', pick('raw', 'p99'), pick('ours', 'p99')),
      ],
      notes: [],
      details: { roundTrips: count, messageBytes: MESSAGE, reps, raw: res.raw, ours: res.ours, medianMeanRaw: median(pick('raw', 'mean')), medianMeanOurs: median(pick('ours', 'mean')), processes: 'echo server and client in separate processes' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
