/**
 * Scenario "broadcast": the message server's broadcast and the reconnecting
 * client's idle cost, server and clients in separate processes.
 *
 *   broadcast  N broadcasts of one 64-byte notification frame to 100
 *              connected peers, until every peer has received every byte.
 *              Ours: MessageServer.broadcast(method, params) (JSON encoded
 *              once per broadcast, one write per peer). Raw: the same 64
 *              bytes, encoded once by hand, written to each of 100 raw `net`
 *              sockets with socket.write(). Both sides are paced the same
 *              way (every 50 broadcasts, wait a turn of the event loop while
 *              any peer has more than 256 KiB queued), so neither grows
 *              memory nor (ours) drops a peer. A second raw row corks each
 *              socket over those 50 broadcasts (what a careful hand does). The 100 receivers, in one
 *              process, only count bytes (ours: LocalSocket readyRead/read;
 *              raw: 'data'). Timed from the first broadcast (sender's clock)
 *              to the last byte (receiver's clock; both the monotonic clock).
 *   idle       RSS per idle connection (server+client, 1,000 open after 100
 *              warm-up connections): a ReconnectingClient on a MessageServer
 *              vs a bare LocalSocket on a LocalServer; the client side is
 *              also reported alone. Every connection of a process is made
 *              with one options object holding one key (a reconnecting
 *              client keeps a reference to its options to reconnect).
 */
import { once } from 'node:events';
import net from 'node:net';
import {
  connect, connectReconnecting, listen, listenMessages,
  type LocalServer, type LocalSocket, type MessageServer,
} from '../src/index.js';
import { encodeFrameHeader, FrameType } from '../src/messages/frame.js';
import {
  alternate, keyFromHex, log, nowNs, ratioRow, rawSocketPath, settledRss, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type Impl, type ScenarioResult,
} from './common.js';

const PEERS = 100;
const BROADCASTS = 20_000;
const FRAME_BYTES = 64;
const PACE_EVERY = 50;
const PACE_QUEUED = 256 * 1024;
const IDLE_CONNECTIONS = 1000;
const IDLE_WARM = 100;

const key = (): Buffer => keyFromHex(process.env.LSB_KEY!);

/** Params that make the notification frame exactly FRAME_BYTES long. */
function params(): { p: string } {
  const base = JSON.stringify({ jsonrpc: '2.0', method: 'tick', params: { p: '' } }).length + 5;
  return { p: 'x'.repeat(FRAME_BYTES - base) };
}

function rawFrame(): Buffer {
  const text = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'tick', params: params() }));
  const frame = Buffer.concat([encodeFrameHeader(FrameType.JSON, text.length), text]);
  if (frame.length !== FRAME_BYTES) throw new Error(`frame is ${frame.length} bytes`);
  return frame;
}

// ---- sender worker -------------------------------------------------------------------------------

let oursServer: MessageServer | null = null;
const rawPeers: net.Socket[] = [];
let rawServer: net.Server | null = null;

async function startSender(): Promise<{ name: string; path: string }> {
  const name = uniqueName('bc');
  oursServer = await listenMessages(name, { key: key(), maxPendingConnections: 128 });
  const path = rawSocketPath('bc');
  rawServer = net.createServer((sock) => {
    sock.on('error', () => {});
    rawPeers.push(sock);
  });
  await new Promise<void>((resolve) => rawServer!.listen({ path, backlog: 511 }, resolve));
  return { name, path };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function sendOurs(count: number): Promise<number> {
  const server = oursServer!;
  const peers = server.peers;
  if (peers.length !== PEERS) throw new Error(`ours has ${peers.length} peers`);
  const p = params();
  const t0 = nowNs();
  for (let i = 0; i < count; i++) {
    if (server.broadcast('tick', p) !== PEERS) throw new Error('a peer was dropped');
    if (i % PACE_EVERY === PACE_EVERY - 1) {
      while (peers.some((peer) => peer.socket.bytesToWrite > PACE_QUEUED)) await turn();
    }
  }
  return t0;
}

/** Raw: one write() per socket per broadcast; `corked`: each socket corked over the PACE_EVERY broadcasts between checks. */
async function sendRaw(count: number, corked: boolean): Promise<number> {
  if (rawPeers.length !== PEERS) throw new Error(`raw has ${rawPeers.length} peers`);
  const frame = rawFrame();
  const t0 = nowNs();
  for (let i = 0; i < count; i++) {
    if (corked && i % PACE_EVERY === 0) for (const sock of rawPeers) sock.cork();
    for (const sock of rawPeers) sock.write(frame);
    if (i % PACE_EVERY === PACE_EVERY - 1 || i === count - 1) {
      if (corked) for (const sock of rawPeers) sock.uncork();
      while (rawPeers.some((sock) => sock.writableLength > PACE_QUEUED)) await turn();
    }
  }
  return t0;
}

// ---- receiver worker -----------------------------------------------------------------------------

const oursReceivers: LocalSocket[] = [];
const rawReceivers: net.Socket[] = [];
let received = 0;
let expected = Infinity;
let lastByte = 0;
let onDone: (() => void) | null = null;

function count(bytes: number): void {
  received += bytes;
  if (received >= expected) {
    lastByte = nowNs();
    onDone?.();
  }
}

async function openReceivers(where: { name: string; path: string }): Promise<void> {
  for (let i = 0; i < PEERS; i++) {
    const s = await connect(where.name, { key: key() });
    s.on('readyRead', () => count(s.read().length));
    oursReceivers.push(s);
    const r = net.createConnection({ path: where.path });
    await once(r, 'connect');
    r.on('data', (chunk: Buffer) => count(chunk.length));
    rawReceivers.push(r);
  }
}

// ---- idle memory workers ---------------------------------------------------------------------------

const held: unknown[] = []; // LocalSockets, ReconnectingClients and message peers kept alive
let idleServer: LocalServer | MessageServer | null = null;

async function idleStart(kind: 'bare' | 'reconnecting'): Promise<string> {
  const name = uniqueName('bi');
  if (kind === 'bare') {
    const server = await listen(name, { key: key(), maxPendingConnections: 128 });
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) held.push(s);
    });
    idleServer = server;
  } else {
    idleServer = await listenMessages(name, { key: key(), maxPendingConnections: 128 });
  }
  return name;
}

function idleHeld(): number {
  if (idleServer && 'peerCount' in idleServer) return idleServer.peerCount;
  return held.length;
}

/** One options object (and key) for every connection of the process, as a program loads its key once. Both kinds alike. */
let idleOptions: { key: Buffer } | null = null;

async function idleOpen(kind: 'bare' | 'reconnecting', name: string, n: number): Promise<void> {
  const options = (idleOptions ??= { key: key() });
  for (let i = 0; i < n; i++) {
    held.push(kind === 'bare' ? await connect(name, options) : await connectReconnecting(name, options));
  }
}

export const commands: Commands = {
  startSender: () => startSender(),
  peers: () => ({ ours: oursServer?.peerCount ?? 0, raw: rawPeers.length }),
  send: (args: { impl: Impl | 'corked'; count: number }) => (args.impl === 'ours' ? sendOurs(args.count) : sendRaw(args.count, args.impl === 'corked')),
  openReceivers: (args: { where: { name: string; path: string } }) => openReceivers(args.where),
  arm(args: { bytes: number }): void {
    received = 0;
    expected = args.bytes;
    lastByte = 0;
  },
  done: () =>
    new Promise<number>((resolve) => {
      if (received >= expected) return resolve(lastByte);
      onDone = () => {
        onDone = null;
        resolve(lastByte);
      };
    }),
  idleStart: (args: { kind: 'bare' | 'reconnecting' }) => idleStart(args.kind),
  idleOpen: (args: { kind: 'bare' | 'reconnecting'; name: string; count: number }) => idleOpen(args.kind, args.name, args.count),
  idleHeld: () => idleHeld(),
  measure: async () => settledRss(),
};

// ---- orchestration ---------------------------------------------------------------------------------

interface IdleFigures {
  total: number;
  client: number;
  heap: number;
}

async function idleOnce(config: BenchConfig, kind: 'bare' | 'reconnecting', n: number): Promise<IdleFigures> {
  const execArgv = ['--max-semi-space-size=1'];
  const server = await spawnWorker('broadcast', config, { exposeGc: true, execArgv, label: `idle-server-${kind}` });
  const client = await spawnWorker('broadcast', config, { exposeGc: true, execArgv, label: `idle-client-${kind}` });
  try {
    const name = await server.call<string>('idleStart', { kind });
    // Warm-up connections, kept: the code paths are compiled (and tiered up) before the baseline, so
    // one-off code memory is not divided into the per-connection figure.
    await client.call('idleOpen', { kind, name, count: IDLE_WARM });
    type Mem = { rss: number; heapUsed: number; external: number };
    const [sb, cb] = await Promise.all([server.call<Mem>('measure'), client.call<Mem>('measure')]);
    await client.call('idleOpen', { kind, name, count: n });
    for (let i = 0; i < 100 && (await server.call<number>('idleHeld')) < n + IDLE_WARM; i++) await new Promise((r) => setTimeout(r, 20));
    const heldNow = await server.call<number>('idleHeld');
    if (heldNow !== n + IDLE_WARM) throw new Error(`idle ${kind}: server holds ${heldNow} of ${n + IDLE_WARM}`);
    const [sa, ca] = await Promise.all([server.call<Mem>('measure'), client.call<Mem>('measure')]);
    const heap = (m: Mem): number => m.heapUsed + m.external;
    return { total: (sa.rss - sb.rss + ca.rss - cb.rss) / n, client: (ca.rss - cb.rss) / n, heap: (heap(sa) - heap(sb) + heap(ca) - heap(cb)) / n };
  } finally {
    await client.stop();
    await server.stop();
  }
}

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const q = config.quick ? 4 : 1;
  const broadcasts = BROADCASTS / q;
  const rate: Record<Impl | 'corked', number[]> = { raw: [], ours: [], corked: [] };
  const sender = await spawnWorker('broadcast', config, { label: 'sender' });
  const receivers = await spawnWorker('broadcast', config, { label: 'receivers' });
  try {
    const where = await sender.call<{ name: string; path: string }>('startSender');
    await receivers.call('openReceivers', { where });
    for (let i = 0; i < 100; i++) {
      const p = await sender.call<{ ours: number; raw: number }>('peers');
      if (p.ours === PEERS && p.raw === PEERS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const once_ = async (impl: Impl | 'corked', n: number): Promise<number> => {
      await receivers.call('arm', { bytes: n * PEERS * FRAME_BYTES });
      const done = receivers.call<number>('done');
      const t0 = await sender.call<number>('send', { impl, count: n });
      const t1 = await done;
      return (n * PEERS) / ((t1 - t0) / 1e9);
    };
    await once_('raw', broadcasts / 10);
    await once_('ours', broadcasts / 10);
    await once_('corked', broadcasts / 10);
    await alternate(config.reps, async (impl) => {
      for (const variant of impl === 'raw' ? (['raw', 'corked'] as const) : (['ours'] as const)) {
        const r = await once_(variant, broadcasts);
        rate[variant].push(r);
        log(`broadcast ${variant}: ${(r / 1e6).toFixed(2)} M frames delivered/s (${(r / PEERS / 1e3).toFixed(1)} k broadcasts/s)`);
      }
    });
  } finally {
    await receivers.stop();
    await sender.stop();
  }
  const idle: Record<'bare' | 'reconnecting', IdleFigures[]> = { bare: [], reconnecting: [] };
  const idleReps = Math.max(1, Math.min(config.reps, 5));
  for (let rep = 0; rep < idleReps; rep++) {
    for (const kind of rep % 2 === 0 ? (['bare', 'reconnecting'] as const) : (['reconnecting', 'bare'] as const)) {
      const f = await idleOnce(config, kind, IDLE_CONNECTIONS / q);
      idle[kind].push(f);
      log(`idle ${kind}: ${(f.total / 1024).toFixed(1)} KiB per connection (server+client), client ${(f.client / 1024).toFixed(1)} KiB; JS heap+external ${(f.heap / 1024).toFixed(1)} KiB`);
    }
  }
  const kib = (xs: IdleFigures[], k: keyof IdleFigures): number[] => xs.map((x) => x[k] / 1024);
  return {
    name: 'broadcast',
    rows: [
      ratioRow('broadcast', `64 B notification to ${PEERS} peers (raw: same bytes, ${PEERS} net writes)`, 'frames/s', rate.raw, rate.ours, { op: '>=', value: 0.8 }),
      ratioRow('broadcast', `64 B notification to ${PEERS} peers (raw: same bytes, sockets corked per ${PACE_EVERY} broadcasts)`, 'frames/s', rate.corked, rate.ours),
      ratioRow('broadcast', 'idle RSS per reconnecting client connection, server+client (raw column: bare LocalSocket)', 'KiB', kib(idle.bare, 'total'), kib(idle.reconnecting, 'total'), { op: '<=', value: 1.25 }),
      ratioRow('broadcast', 'idle RSS per reconnecting client connection, client side (raw column: bare LocalSocket)', 'KiB', kib(idle.bare, 'client'), kib(idle.reconnecting, 'client')),
      ratioRow('broadcast', 'JS heap+external per reconnecting client connection, server+client (raw column: bare LocalSocket)', 'KiB', kib(idle.bare, 'heap'), kib(idle.reconnecting, 'heap')),
    ],
    notes: [`broadcast: ${broadcasts} broadcasts x ${PEERS} peers x ${FRAME_BYTES} B per repetition; both sides paced alike (wait a turn while any peer has > ${PACE_QUEUED / 1024} KiB queued); receivers count bytes only`],
    details: { peers: PEERS, broadcasts, frameBytes: FRAME_BYTES, idleConnections: IDLE_CONNECTIONS / q, idleReps, rate, idle },
  };
}
