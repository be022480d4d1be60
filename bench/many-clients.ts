/**
 * Scenario 6, many clients: 200 clients, all connected first, then all doing
 * 64-byte round trips at once against one echo server; total round trips per
 * second. The echo server is one process, the 200 clients share another.
 */
import type net from 'node:net';
import type { LocalSocket } from '../src/index.js';
import { connectOurs, connectRaw, startEchoServers } from './roundtrip.js';
import {
  alternate, log, nowNs, ratioRow, spawnWorker,
  type BenchConfig, type Commands, type Impl, type ScenarioResult,
} from './common.js';

const CLIENTS = 200;
const PER_CLIENT = 250;
const MESSAGE = 64;

function tripsOurs(s: LocalSocket, count: number): Promise<void> {
  const message = Buffer.alloc(MESSAGE, 0x63);
  return new Promise((resolve) => {
    let left = count;
    let got = 0;
    const onReady = (): void => {
      got += s.read().length;
      while (got >= MESSAGE) {
        got -= MESSAGE;
        if (--left === 0) {
          s.off('readyRead', onReady);
          resolve();
          return;
        }
        void s.write(message);
      }
    };
    s.on('readyRead', onReady);
    void s.write(message);
  });
}

function tripsRaw(sock: net.Socket, count: number): Promise<void> {
  const message = Buffer.alloc(MESSAGE, 0x63);
  return new Promise((resolve) => {
    let left = count;
    let got = 0;
    const onData = (data: Buffer): void => {
      got += data.length;
      while (got >= MESSAGE) {
        got -= MESSAGE;
        if (--left === 0) {
          sock.off('data', onData);
          resolve();
          return;
        }
        sock.write(message);
      }
    };
    sock.on('data', onData);
    sock.write(message);
  });
}

export const commands: Commands = {
  start: () => startEchoServers('mc'),
  /** Connects `clients` sockets (untimed), then times `perClient` round trips on all of them at once. */
  async run(args: { impl: Impl; name: string; path: string; clients: number; perClient: number }): Promise<number> {
    if (args.impl === 'ours') {
      const sockets: LocalSocket[] = [];
      for (let i = 0; i < args.clients; i++) sockets.push(await connectOurs(args.name));
      const t0 = nowNs();
      await Promise.all(sockets.map((s) => tripsOurs(s, args.perClient)));
      const ns = nowNs() - t0;
      for (const s of sockets) s.abort();
      return ns;
    }
    const sockets: net.Socket[] = [];
    for (let i = 0; i < args.clients; i++) sockets.push(await connectRaw(args.path));
    const t0 = nowNs();
    await Promise.all(sockets.map((s) => tripsRaw(s, args.perClient)));
    const ns = nowNs() - t0;
    for (const s of sockets) s.destroy();
    return ns;
  },
};

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const perClient = config.quick ? PER_CLIENT / 5 : PER_CLIENT;
  const reps = config.reps;
  const server = await spawnWorker('many-clients', config, { label: 'server' });
  const client = await spawnWorker('many-clients', config, { label: 'client' });
  try {
    const where = await server.call<{ name: string; path: string }>('start');
    for (const impl of ['raw', 'ours'] as Impl[]) await client.call('run', { impl, ...where, clients: CLIENTS, perClient: perClient / 5 });
    const rates: Record<Impl, number[]> = { raw: [], ours: [] };
    await alternate(reps, async (impl) => {
      const ns = await client.call<number>('run', { impl, ...where, clients: CLIENTS, perClient });
      const rate = (CLIENTS * perClient) / (ns / 1e9);
      rates[impl].push(rate);
      log(`many clients ${impl}: ${(rate / 1000).toFixed(1)}k round trips/s`);
    });
    return {
      name: 'many-clients',
      rows: [ratioRow('many-clients', `${CLIENTS} clients x ${perClient} round trips of 64 B`, 'round trips/s', rates.raw, rates.ours, { op: '>=', value: 0.95 })],
      notes: [],
      details: { clients: CLIENTS, roundTripsPerClient: perClient, reps, roundTripsPerSecond: rates, processes: 'echo server in one process, all clients in another' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
