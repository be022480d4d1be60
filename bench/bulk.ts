/**
 * Scenario 1, bulk stream: 1 GiB from server to client in 64 KiB writes, with
 * backpressure honoured the way each API offers it:
 *   raw net:  if (!socket.write(chunk)) await 'drain'
 *   ours:     write; when the next chunk would pass maxWriteBuffer, await the
 *             last write's promise (bytesToWrite never exceeds the limit).
 * Server and client are separate processes; the client times from sending the
 * request to receiving the last byte.
 */
import { once } from 'node:events';
import net from 'node:net';
import { connect, listen, type LocalServer, type LocalSocket } from '../src/index.js';
import {
  alternate, keyFromHex, log, nowNs, ratioRow, rawSocketPath, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type Impl, type ScenarioResult,
} from './common.js';

const CHUNK_SIZE = 64 * 1024;
const GiB = 1024 ** 3;

// ---- server worker -------------------------------------------------------------

const chunk = Buffer.alloc(CHUNK_SIZE, 0x5a);
let oursServer: LocalServer | null = null;
let rawServer: net.Server | null = null;

async function sendOurs(s: LocalSocket, chunks: number): Promise<void> {
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < chunks; i++) {
    last = s.write(chunk);
    if (s.bytesToWrite + CHUNK_SIZE > s.maxWriteBuffer) await last;
  }
  await last;
}

async function sendRaw(sock: net.Socket, chunks: number): Promise<void> {
  for (let i = 0; i < chunks; i++) {
    if (!sock.write(chunk)) await once(sock, 'drain');
  }
}

function serveOurs(s: LocalSocket): void {
  const onReady = (): void => {
    if (s.bytesAvailable < 4) return;
    s.off('readyRead', onReady);
    const chunks = s.read(4).readUInt32LE(0);
    sendOurs(s, chunks).catch(() => {});
  };
  s.on('readyRead', onReady);
  onReady();
}

function serveRaw(sock: net.Socket): void {
  sock.on('error', () => {});
  let header = Buffer.alloc(0);
  const onData = (data: Buffer): void => {
    header = Buffer.concat([header, data]);
    if (header.length < 4) return;
    sock.off('data', onData);
    sendRaw(sock, header.readUInt32LE(0)).catch(() => {});
  };
  sock.on('data', onData);
}

// ---- client worker -------------------------------------------------------------

async function receiveOurs(name: string, total: number): Promise<number> {
  const s = await connect(name, { key: keyFromHex(process.env.LSB_KEY!) });
  let got = 0;
  const done = new Promise<void>((resolve) => {
    s.on('readyRead', () => {
      got += s.read().length;
      if (got >= total) resolve();
    });
  });
  const header = Buffer.alloc(4);
  header.writeUInt32LE(total / CHUNK_SIZE, 0);
  const t0 = nowNs();
  void s.write(header);
  await done;
  const t1 = nowNs();
  s.abort();
  return (t1 - t0) / 1e9;
}

async function receiveRaw(path: string, total: number): Promise<number> {
  const sock = net.createConnection({ path });
  await once(sock, 'connect');
  let got = 0;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (data: Buffer) => {
      got += data.length;
      if (got >= total) resolve();
    });
  });
  const header = Buffer.alloc(4);
  header.writeUInt32LE(total / CHUNK_SIZE, 0);
  const t0 = nowNs();
  sock.write(header);
  await done;
  const t1 = nowNs();
  sock.destroy();
  return (t1 - t0) / 1e9;
}

export const commands: Commands = {
  async start(): Promise<{ name: string; path: string }> {
    const name = uniqueName('bulk');
    oursServer = await listen(name, { key: keyFromHex(process.env.LSB_KEY!) });
    oursServer.on('newConnection', () => {
      for (let s = oursServer!.nextPendingConnection(); s; s = oursServer!.nextPendingConnection()) serveOurs(s);
    });
    const path = rawSocketPath('bulk');
    rawServer = net.createServer(serveRaw);
    await new Promise<void>((resolve) => rawServer!.listen(path, resolve));
    return { name, path };
  },
  async run(args: { impl: Impl; name: string; path: string; total: number }): Promise<number> {
    return args.impl === 'ours' ? receiveOurs(args.name, args.total) : receiveRaw(args.path, args.total);
  },
};

// ---- orchestration -------------------------------------------------------------

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const total = config.quick ? GiB / 8 : GiB;
  // One run takes well under a second, and this machine's throughput swings
  // from run to run: twice the repetitions for a steadier median.
  const reps = config.reps * 2;
  const server = await spawnWorker('bulk', config, { label: 'server' });
  const client = await spawnWorker('bulk', config, { label: 'client' });
  try {
    const where = await server.call<{ name: string; path: string }>('start');
    // Warm-up: a quarter of the size, each implementation, untimed.
    for (const impl of ['raw', 'ours'] as Impl[]) await client.call('run', { impl, ...where, total: total / 4 });
    const secs: Record<Impl, number[]> = { raw: [], ours: [] };
    await alternate(reps, async (impl) => {
      const s = await client.call<number>('run', { impl, ...where, total });
      secs[impl].push(s);
      log(`bulk ${impl}: ${(total / s / 1e9).toFixed(2)} GB/s`);
    });
    const gbps = (xs: number[]): number[] => xs.map((s) => total / s / 1e9);
    return {
      name: 'bulk',
      rows: [ratioRow('bulk', `bulk ${total / GiB} GiB in 64 KiB writes`, 'GB/s', gbps(secs.raw), gbps(secs.ours), { op: '>=', value: 0.95 })],
      notes: [],
      details: { totalBytes: total, chunkBytes: CHUNK_SIZE, reps, secondsRaw: secs.raw, secondsOurs: secs.ours, processes: 'server and client in separate processes' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
