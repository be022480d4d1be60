/**
 * Scenario 5, memory. Every measurement uses fresh processes (--expose-gc), so
 * nothing left by another measurement is counted.
 *
 * a) Idle connections: a server process and a client process hold 1,000 open,
 *    idle connections. Per connection = (RSS after - RSS before) / 1,000,
 *    both after garbage collection; "before" is after one warm-up connection.
 *    Server side and client side are reported separately and summed.
 *    Ours uses the default (authenticated) mode. Both sides' processes run
 *    with the young generation pinned (see SEMI_SPACE_MIB).
 * b) Writer peak: the reader accepts and never reads; the writer offers 1 GiB
 *    in fresh 64 KiB chunks, honouring backpressure as each API offers it
 *    (ours: await when bytesToWrite would pass maxWriteBuffer; raw: await
 *    'drain'), until it stalls. Reported: peak RSS above the settled
 *    baseline (sampled every 5 ms), and peak bytesToWrite / writableLength.
 */
import { once } from 'node:events';
import net from 'node:net';
import { connect, listen, type LocalServer, type LocalSocket } from '../src/index.js';
import {
  alternate, keyFromHex, log, median, ratioRow, rawSocketPath, settledRss, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type Impl, type Row, type ScenarioResult,
} from './common.js';

const CONNECTIONS = 1000;
const CHUNK_SIZE = 64 * 1024;
const OFFERED = 1024 ** 3;
const STALL_MS = 400;
/**
 * V8 grows its young generation (up to 16 MiB per semi-space) when many objects
 * survive in a short time, as they do while 1,000 connections are opened. That
 * growth is a one-off per process, not a per-connection cost, yet divided by
 * 1,000 it would dominate the figure; both implementations' processes get the
 * same fixed young-generation size so only per-connection memory is counted.
 */
const SEMI_SPACE_MIB = 1;

// ---- server worker ---------------------------------------------------------------------------

const held: Array<LocalSocket | net.Socket> = [];
let oursServer: LocalServer | null = null;
let rawServer: net.Server | null = null;

const key = (): Buffer => keyFromHex(process.env.LSB_KEY!);

async function startServer(impl: Impl, neverRead: boolean): Promise<string> {
  if (impl === 'ours') {
    const name = uniqueName(neverRead ? 'mw' : 'mi');
    oursServer = await listen(name, { key: key(), maxPendingConnections: 128 });
    // A never-reading reader still takes the connection; it just never calls read().
    oursServer.on('newConnection', () => {
      for (let s = oursServer!.nextPendingConnection(); s; s = oursServer!.nextPendingConnection()) held.push(s);
    });
    return name;
  }
  const path = rawSocketPath(neverRead ? 'mw' : 'mi');
  rawServer = net.createServer({ pauseOnConnect: neverRead }, (sock) => {
    sock.on('error', () => {});
    held.push(sock);
  });
  await new Promise<void>((resolve) => rawServer!.listen({ path, backlog: 511 }, resolve));
  return path;
}

// ---- client worker ----------------------------------------------------------------------------

async function open(impl: Impl, where: string): Promise<LocalSocket | net.Socket> {
  if (impl === 'ours') return connect(where, { key: key() });
  const sock = net.createConnection({ path: where });
  await once(sock, 'connect');
  return sock;
}

async function offer(impl: Impl, where: string): Promise<{ peakRssDelta: number; peakQueued: number; accepted: number; limit: number }> {
  const s = await open(impl, where);
  const base = (await settledRss()).rss;
  let peakRss = base;
  let peakQueued = 0;
  let accepted = 0;
  let lastProgress = Date.now();
  const queued = (): number => (impl === 'ours' ? (s as LocalSocket).bytesToWrite : (s as net.Socket).writableLength);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakQueued = Math.max(peakQueued, queued());
  }, 5);
  let stop!: () => void;
  const stalled = new Promise<void>((resolve) => (stop = resolve));
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > STALL_MS) stop();
  }, 50);
  const produce = async (): Promise<void> => {
    for (let offered = 0; offered < OFFERED; offered += CHUNK_SIZE) {
      const chunk = Buffer.allocUnsafe(CHUNK_SIZE).fill(offered & 0xff);
      if (impl === 'ours') {
        const o = s as LocalSocket;
        const p = o.write(chunk);
        if (o.bytesToWrite + CHUNK_SIZE > o.maxWriteBuffer) await p;
      } else {
        const r = s as net.Socket;
        if (!r.write(chunk)) await once(r, 'drain');
      }
      accepted += CHUNK_SIZE;
      lastProgress = Date.now();
      peakQueued = Math.max(peakQueued, queued());
    }
  };
  const producing = produce().catch(() => {});
  await Promise.race([stalled, producing]);
  clearInterval(sampler);
  clearInterval(watchdog);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const limit = impl === 'ours' ? (s as LocalSocket).maxWriteBuffer : (s as net.Socket).writableHighWaterMark;
  if (impl === 'ours') (s as LocalSocket).abort();
  else (s as net.Socket).destroy();
  return { peakRssDelta: peakRss - base, peakQueued, accepted, limit };
}

export const commands: Commands = {
  start: (args: { impl: Impl; neverRead: boolean }) => startServer(args.impl, args.neverRead),
  baseline: async () => settledRss(),
  measure: async () => settledRss(),
  async warm(args: { impl: Impl; where: string }): Promise<void> {
    const s = await open(args.impl, args.where);
    if (args.impl === 'ours') (s as LocalSocket).abort();
    else (s as net.Socket).destroy();
  },
  async openMany(args: { impl: Impl; where: string; count: number }): Promise<void> {
    for (let i = 0; i < args.count; i++) held.push(await open(args.impl, args.where));
  },
  heldCount: () => held.filter((s) => ('isConnected' in s ? s.isConnected : !s.destroyed)).length,
  offer: (args: { impl: Impl; where: string }) => offer(args.impl, args.where),
};

// ---- orchestration -------------------------------------------------------------------------------

interface IdleFigures {
  serverPerConn: number;
  clientPerConn: number;
  totalPerConn: number;
  serverHeapPerConn: number;
  clientHeapPerConn: number;
}

async function idleOnce(config: BenchConfig, impl: Impl, count: number): Promise<IdleFigures> {
  const execArgv = [`--max-semi-space-size=${SEMI_SPACE_MIB}`];
  const server = await spawnWorker('memory', config, { exposeGc: true, execArgv, label: `idle-server-${impl}` });
  const client = await spawnWorker('memory', config, { exposeGc: true, execArgv, label: `idle-client-${impl}` });
  try {
    const where = await server.call<string>('start', { impl, neverRead: false });
    await client.call('warm', { impl, where });
    type Mem = { rss: number; heapUsed: number; external: number };
    const [sb, cb] = await Promise.all([server.call<Mem>('baseline'), client.call<Mem>('baseline')]);
    await client.call('openMany', { impl, where, count });
    // Let the server finish taking the last connections.
    for (let i = 0; i < 100 && (await server.call<number>('heldCount')) < count; i++) await new Promise((r) => setTimeout(r, 20));
    const held = await server.call<number>('heldCount');
    if (held !== count) throw new Error(`memory: server holds ${held} of ${count} connections`);
    const [sa, ca] = await Promise.all([server.call<Mem>('measure'), client.call<Mem>('measure')]);
    const serverPerConn = (sa.rss - sb.rss) / count;
    const clientPerConn = (ca.rss - cb.rss) / count;
    return {
      serverPerConn,
      clientPerConn,
      totalPerConn: serverPerConn + clientPerConn,
      serverHeapPerConn: (sa.heapUsed + sa.external - sb.heapUsed - sb.external) / count,
      clientHeapPerConn: (ca.heapUsed + ca.external - cb.heapUsed - cb.external) / count,
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}

async function offerOnce(config: BenchConfig, impl: Impl): Promise<{ peakRssDelta: number; peakQueued: number; accepted: number; limit: number }> {
  const reader = await spawnWorker('memory', config, { exposeGc: true, label: `reader-${impl}` });
  const writer = await spawnWorker('memory', config, { exposeGc: true, label: `writer-${impl}` });
  try {
    const where = await reader.call<string>('start', { impl, neverRead: true });
    return await writer.call('offer', { impl, where });
  } finally {
    await writer.stop();
    await reader.stop();
  }
}

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? CONNECTIONS / 4 : CONNECTIONS;
  const reps = config.reps;
  const idle: Record<Impl, IdleFigures[]> = { raw: [], ours: [] };
  await alternate(reps, async (impl) => {
    const f = await idleOnce(config, impl, count);
    idle[impl].push(f);
    log(`idle ${impl}: ${(f.serverPerConn / 1024).toFixed(1)} KiB server + ${(f.clientPerConn / 1024).toFixed(1)} KiB client per connection (heap+external ${(f.serverHeapPerConn / 1024).toFixed(1)} + ${(f.clientHeapPerConn / 1024).toFixed(1)} KiB)`);
  });
  const offers: Record<Impl, Array<{ peakRssDelta: number; peakQueued: number; accepted: number; limit: number }>> = { raw: [], ours: [] };
  await alternate(reps, async (impl) => {
    const o = await offerOnce(config, impl);
    offers[impl].push(o);
    log(`writer peak ${impl}: RSS +${(o.peakRssDelta / 2 ** 20).toFixed(1)} MiB, queued peak ${(o.peakQueued / 1024).toFixed(0)} KiB (limit ${(o.limit / 1024).toFixed(0)} KiB), ${(o.accepted / 2 ** 20).toFixed(1)} MiB accepted before the stall`);
  });
  const kib = (xs: number[]): number[] => xs.map((x) => x / 1024);
  const pick = (impl: Impl, k: keyof IdleFigures): number[] => kib(idle[impl].map((f) => f[k]));
  const heap = (impl: Impl): number[] => kib(idle[impl].map((f) => f.serverHeapPerConn + f.clientHeapPerConn));
  const offerPick = (impl: Impl, k: 'peakRssDelta' | 'peakQueued'): number[] => kib(offers[impl].map((o) => o[k]));
  const rows: Row[] = [
    ratioRow('memory', `RSS per idle connection, server+client (${count})`, 'KiB', pick('raw', 'totalPerConn'), pick('ours', 'totalPerConn'), { op: '<=', value: 2 }),
    ratioRow('memory', 'RSS per idle connection, server side', 'KiB', pick('raw', 'serverPerConn'), pick('ours', 'serverPerConn')),
    ratioRow('memory', 'RSS per idle connection, client side', 'KiB', pick('raw', 'clientPerConn'), pick('ours', 'clientPerConn')),
    ratioRow('memory', 'JS heap+external per idle connection, server+client', 'KiB', heap('raw'), heap('ours')),
    ratioRow('memory', 'writer peak RSS growth, 1 GiB offered, reader stalled', 'KiB', offerPick('raw', 'peakRssDelta'), offerPick('ours', 'peakRssDelta')),
    ratioRow('memory', 'writer peak queued bytes (bytesToWrite / writableLength)', 'KiB', offerPick('raw', 'peakQueued'), offerPick('ours', 'peakQueued')),
  ];
  // The write limit check: ours must stay near its configured maxWriteBuffer.
  const oursLimit = offers.ours[0]?.limit ?? 0;
  const oursQueued = median(offers.ours.map((o) => o.peakQueued));
  const oursGrowth = median(offers.ours.map((o) => o.peakRssDelta));
  const bounded = oursQueued <= oursLimit;
  const notes = [
    `writer: ours peak bytesToWrite ${(oursQueued / 1024).toFixed(0)} KiB ${bounded ? '<=' : '>'} maxWriteBuffer ${(oursLimit / 1024).toFixed(0)} KiB; peak RSS growth ${(oursGrowth / 2 ** 20).toFixed(1)} MiB while 1 GiB was offered${bounded ? '' : ' - WRITE LIMIT EXCEEDED'}`,
  ];
  return {
    name: 'memory',
    rows,
    notes,
    details: { connections: count, reps, idle, writerPeak: offers, offeredBytes: OFFERED, chunkBytes: CHUNK_SIZE, oursWriteLimitHeld: bounded, processes: 'fresh server/reader and client/writer processes per measurement' },
  };
}
