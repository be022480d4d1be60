/**
 * Scenario "first-answer": time to first answer. From nothing to the reply of
 * one request on a new message connection, p50 and p99:
 *   ours authenticated: connectMessages(name, { key }) + one request('echo')
 *   ours raw mode:      connectMessages(name, { auth: false }) + one request('echo')
 * against its floor on raw `net` (no library, no crypto):
 *   floor authenticated: raw connect + two 64-byte round trips (one stands for the
 *                        handshake's round trip, one for the request)
 *   floor raw mode:      raw connect + one 64-byte round trip
 * The servers (one process) take every connection as it arrives; the client
 * (another process) rotates through the four kinds connection by connection
 * and closes each connection before the next.
 */
import { once } from 'node:events';
import net from 'node:net';
import { connectMessages, listen, MessageSocket, type LocalServer } from '../src/index.js';
import {
  interleavedPercentiles, keyFromHex, log, nowNs, ratioRow, rawSocketPath, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type ScenarioResult,
} from './common.js';

const CONNECTS = 500;
/** Connects of each kind before the measured ones: the first ~1,000 of a new connection path run slower (JIT, kernel caches), raw net as well. */
const WARM_UP = 1000;
const MESSAGE = 64;
type Kind = 'oursAuth' | 'oursRaw' | 'floor2' | 'floor1';
const KINDS: Kind[] = ['floor2', 'oursAuth', 'floor1', 'oursRaw'];

interface Where {
  oursAuth: string;
  oursRaw: string;
  echo: string;
}

// ---- server worker ---------------------------------------------------------------

const held: unknown[] = [];

function serveMessages(server: LocalServer): void {
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      s.on('error', () => {});
      new MessageSocket(s).handle('echo', (p) => p);
    }
  });
}

// ---- client worker ---------------------------------------------------------------

const PAYLOAD = 'p'.repeat(MESSAGE);
const MESSAGE_BYTES = Buffer.alloc(MESSAGE, 0x61);

/** Raw connect, then `trips` 64-byte round trips one after another. */
async function floorOnce(path: string, trips: number): Promise<void> {
  const sock = net.createConnection({ path });
  await once(sock, 'connect');
  await new Promise<void>((resolve) => {
    let got = 0;
    let done = 0;
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got < MESSAGE) return;
      got -= MESSAGE;
      if (++done === trips) return resolve();
      sock.write(MESSAGE_BYTES);
    });
    sock.write(MESSAGE_BYTES);
  });
  sock.destroy();
}

async function oursOnce(name: string, auth: boolean, key: Buffer): Promise<void> {
  const m = await connectMessages(name, auth ? { key } : { auth: false });
  await m.request('echo', PAYLOAD);
  m.abort();
}

async function once1(kind: Kind, where: Where, key: Buffer): Promise<number> {
  const t0 = nowNs();
  if (kind === 'floor2') await floorOnce(where.echo, 2);
  else if (kind === 'floor1') await floorOnce(where.echo, 1);
  else await oursOnce(kind === 'oursAuth' ? where.oursAuth : where.oursRaw, kind === 'oursAuth', key);
  return nowNs() - t0;
}

export const commands: Commands = {
  async start(): Promise<Where> {
    const key = keyFromHex(process.env.LSB_KEY!);
    const oursAuth = uniqueName('fa');
    const oursRaw = uniqueName('fr');
    const a = await listen(oursAuth, { key });
    const b = await listen(oursRaw, { auth: false });
    serveMessages(a);
    serveMessages(b);
    const echo = rawSocketPath('first');
    const r = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.on('data', (d) => sock.write(d));
    });
    await new Promise<void>((resolve) => r.listen({ path: echo, backlog: 511 }, resolve));
    held.push(a, b, r);
    return { oursAuth, oursRaw, echo };
  },
  /** `count` of each kind, interleaved; p50/p99 per kind in µs. */
  async run(args: { where: Where; count: number; rep: number }): Promise<Record<Kind, { p50: number; p99: number }>> {
    const key = keyFromHex(process.env.LSB_KEY!);
    return interleavedPercentiles(KINDS, args.count, args.rep, (kind) => once1(kind, args.where, key));
  },
};

// ---- orchestration ---------------------------------------------------------------

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const count = config.quick ? CONNECTS / 4 : CONNECTS;
  const reps = config.reps;
  const server = await spawnWorker('first-answer', config, { label: 'server' });
  const client = await spawnWorker('first-answer', config, { label: 'client' });
  try {
    const where = await server.call<Where>('start');
    await client.call('run', { where, count: WARM_UP, rep: 0 }); // warm-up
    const res: Array<Record<Kind, { p50: number; p99: number }>> = [];
    for (let rep = 0; rep < reps; rep++) {
      const r = await client.call<Record<Kind, { p50: number; p99: number }>>('run', { where, count, rep });
      res.push(r);
      log(`first answer p50 µs: ours auth ${r.oursAuth.p50.toFixed(0)} (floor ${r.floor2.p50.toFixed(0)}), ours raw mode ${r.oursRaw.p50.toFixed(0)} (floor ${r.floor1.p50.toFixed(0)})`);
    }
    const pick = (kind: Kind, k: 'p50' | 'p99'): number[] => res.map((r) => r[kind][k]);
    return {
      name: 'first-answer',
      rows: [
        ratioRow('first-answer', 'connectMessages + 1 request p50, authenticated (raw: connect + 2 round trips)', 'µs', pick('floor2', 'p50'), pick('oursAuth', 'p50'), { op: '<=', value: 1.3 }),
        ratioRow('first-answer', 'connectMessages + 1 request p99, authenticated (raw: connect + 2 round trips)', 'µs', pick('floor2', 'p99'), pick('oursAuth', 'p99')),
        ratioRow('first-answer', 'connectMessages + 1 request p50, raw mode (raw: connect + 1 round trip)', 'µs', pick('floor1', 'p50'), pick('oursRaw', 'p50'), { op: '<=', value: 1.3 }),
        ratioRow('first-answer', 'connectMessages + 1 request p99, raw mode (raw: connect + 1 round trip)', 'µs', pick('floor1', 'p99'), pick('oursRaw', 'p99')),
      ],
      notes: ['the raw column is the floor, raw net connect plus 64-byte round trips (two for the authenticated row: handshake + request; one for raw mode), no library and no crypto'],
      details: { connectsPerKindPerRep: count, reps, perRep: res },
    };
  } finally {
    await client.stop();
    await server.stop();
  }
}
