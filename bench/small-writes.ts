/**
 * Scenario 4, small writes: one client makes 2 million 64-byte writes; writes
 * per second delivered (timed from the first write until the server, another
 * process, acknowledges the last byte with one byte back). Backpressure is
 * honoured by every variant:
 *   raw net, one write() per message:  if (!write(m)) await 'drain'
 *   raw net, corked batches of 1,000:  cork(); 1,000 x write(m); uncork(); await 'drain' if needed
 *   ours:  write(m) per message (the library coalesces); when bytesToWrite
 *          would pass maxWriteBuffer, await the last write's promise.
 */
import { once } from 'node:events';
import net from 'node:net';
import { connect, listen, type LocalServer, type LocalSocket } from '../src/index.js';
import {
  keyFromHex, log, median, nowNs, ratioRow, rawSocketPath, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type ScenarioResult,
} from './common.js';

const MESSAGE = 64;
const WRITES = 2_000_000;
const CORK_BATCH = 1000;
type Variant = 'rawEach' | 'rawCorked' | 'ours';

// ---- server worker (counts bytes, acks the total) --------------------------------------------

let oursServer: LocalServer | null = null;
let rawServer: net.Server | null = null;

/** The first 4 bytes carry the message count; one byte goes back once all have arrived. */
function sinkOurs(s: LocalSocket): void {
  let expected = -1;
  let got = 0;
  s.on('readyRead', () => {
    if (expected < 0) {
      if (s.bytesAvailable < 4) return;
      expected = s.read(4).readUInt32LE(0) * MESSAGE;
    }
    got += s.read().length;
    if (got >= expected) void s.write(Buffer.from([1]));
  });
}

function sinkRaw(sock: net.Socket): void {
  sock.on('error', () => {});
  let expected = -1;
  let got = 0;
  let head = Buffer.alloc(0);
  sock.on('data', (data: Buffer) => {
    if (expected < 0) {
      head = Buffer.concat([head, data]);
      if (head.length < 4) return;
      expected = head.readUInt32LE(0) * MESSAGE;
      got = head.length - 4;
    } else got += data.length;
    if (got >= expected) sock.write(Buffer.from([1]));
  });
}

// ---- client worker ---------------------------------------------------------------------------

function header(count: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(count, 0);
  return h;
}

async function writeOurs(name: string, count: number): Promise<number> {
  const s = await connect(name, { key: keyFromHex(process.env.LSB_KEY!) });
  const acked = new Promise<void>((resolve) => s.once('readyRead', () => resolve()));
  const message = Buffer.alloc(MESSAGE, 0x62);
  const t0 = nowNs();
  let last = s.write(header(count));
  for (let i = 0; i < count; i++) {
    last = s.write(message);
    if (s.bytesToWrite + MESSAGE > s.maxWriteBuffer) await last;
  }
  await last;
  await acked;
  const t1 = nowNs();
  s.abort();
  return t1 - t0;
}

async function writeRaw(path: string, count: number, corked: boolean): Promise<number> {
  const sock = net.createConnection({ path });
  await once(sock, 'connect');
  const acked = once(sock, 'data');
  const message = Buffer.alloc(MESSAGE, 0x62);
  const t0 = nowNs();
  sock.write(header(count));
  if (corked) {
    for (let i = 0; i < count; ) {
      const end = Math.min(count, i + CORK_BATCH);
      sock.cork();
      for (; i < end; i++) sock.write(message);
      sock.uncork();
      if (sock.writableNeedDrain) await once(sock, 'drain');
    }
  } else {
    for (let i = 0; i < count; i++) {
      if (!sock.write(message)) await once(sock, 'drain');
    }
  }
  await acked;
  const t1 = nowNs();
  sock.destroy();
  return t1 - t0;
}

export const commands: Commands = {
  async start(): Promise<{ name: string; path: string }> {
    const name = uniqueName('sw');
    oursServer = await listen(name, { key: keyFromHex(process.env.LSB_KEY!) });
    oursServer.on('newConnection', () => {
      for (let s = oursServer!.nextPendingConnection(); s; s = oursServer!.nextPendingConnection()) sinkOurs(s);
    });
    const path = rawSocketPath('sw');
    rawServer = net.createServer(sinkRaw);
    await new Promise<void>((resolve) => rawServer!.listen(path, resolve));
    return { name, path };
  },
  /** Returns nanoseconds for `count` writes, delivered and acknowledged. */
  run(args: { variant: Variant; name: string; path: string; count: number }): Promise<number> {
    if (args.variant === 'ours') return writeOurs(args.name, args.count);
    return writeRaw(args.path, args.count, args.variant === 'rawCorked');
  },
};

// ---- orchestration ------------------------------------------------------------------------------

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? WRITES / 8 : WRITES;
  const reps = config.reps;
  const server = await spawnWorker('small-writes', config, { label: 'server' });
  const client = await spawnWorker('small-writes', config, { label: 'client' });
  const variants: Variant[] = ['rawEach', 'rawCorked', 'ours'];
  try {
    const where = await server.call<{ name: string; path: string }>('start');
    for (const variant of variants) await client.call('run', { variant, ...where, count: count / 20 });
    const rates: Record<Variant, number[]> = { rawEach: [], rawCorked: [], ours: [] };
    for (let rep = 0; rep < reps; rep++) {
      for (let k = 0; k < variants.length; k++) {
        const variant = variants[(k + rep) % variants.length]!;
        const ns = await client.call<number>('run', { variant, ...where, count });
        rates[variant].push(count / (ns / 1e9));
        log(`small writes ${variant}: ${(count / (ns / 1e9) / 1e6).toFixed(2)} M writes/s`);
      }
    }
    const notes: string[] = [];
    return {
      name: 'small-writes',
      rows: [
        ratioRow('small-writes', `${count / 1e6}M x 64 B writes vs raw write()/msg`, 'writes/s', rates.rawEach, rates.ours, { op: '>=', value: 5 }),
        ratioRow('small-writes', `${count / 1e6}M x 64 B writes vs raw corked x${CORK_BATCH}`, 'writes/s', rates.rawCorked, rates.ours, { op: '>=', value: 1 }),
      ],
      notes,
      details: { writes: count, messageBytes: MESSAGE, corkBatch: CORK_BATCH, reps, writesPerSecond: rates, medians: { rawEach: median(rates.rawEach), rawCorked: median(rates.rawCorked), ours: median(rates.ours) }, processes: 'writer (client) and counting server in separate processes' },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
