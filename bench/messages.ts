/**
 * Scenario "messages": the message layer (MessageSocket) against hand-written
 * framing on raw `net` and against vscode-jsonrpc, each over a Unix socket
 * (named pipe on Windows), server and client in separate processes; each kind
 * of measurement below gets its own fresh pair of processes (both sides
 * alternate in them after a warm-up of each).
 *
 *   binary     N x 64-byte binary messages one way, until the receiver (which
 *              hands every message to a callback as a Buffer) acknowledges the
 *              last. Raw: the same 5-byte-header frames packed by hand into
 *              64 KiB buffers (write, await 'drain' when asked), and parsed by
 *              hand on the other side (a view per message, split frames joined).
 *   json       N notifications {"n": i}: ours notify() vs vscode-jsonrpc
 *              sendNotification() over the same kind of socket.
 *   requests   sequential request/reply p50 (ours) vs a raw 64-byte round trip.
 *   in flight  1,000 requests kept in flight; completed per second (raw side:
 *              1,000 64-byte echoes kept in flight by hand). A second yardstick,
 *              the floor of any JSON-RPC: the same requests written by hand on
 *              raw net as newline-delimited JSON (client: stringify, a Map of
 *              ids; server: parse, stringify the answer; client: parse, look
 *              up), so the row says how much is JSON and how much is ours.
 *   idle       RSS per idle connection (server+client, 1,000 open): a
 *              MessageSocket on each end vs a bare LocalSocket on each end.
 *
 * Backpressure is honoured everywhere: ours and vscode-jsonrpc await every
 * 1,000th send's promise (ours also when bytesToWrite would pass
 * maxWriteBuffer); raw awaits 'drain' when write() asks for it.
 */
import { once } from 'node:events';
import net from 'node:net';
import rpcModule from 'vscode-jsonrpc/node';
import { connect, listen, MessageSocket, type LocalServer, type LocalSocket } from '../src/index.js';
import {
  alternate, keyFromHex, log, median, nowNs, percentileSorted, ratioRow, rawSocketPath, settledRss, sortedCopy, spawnWorker, uniqueName,
  type BenchConfig, type Commands, type Row, type ScenarioResult,
} from './common.js';

const rpc = rpcModule as typeof import('vscode-jsonrpc/node');

const MESSAGE = 64;
const FRAME = MESSAGE + 5;
const BINARY_COUNT = 4_000_000;
const JSON_COUNT = 1_000_000;
const VSCODE_COUNT = 200_000;
const ROUND_TRIPS = 20_000;
const IN_FLIGHT = 1000;
const IN_FLIGHT_TOTAL = 300_000;
const IDLE_CONNECTIONS = 1000;
const PACK_BYTES = 64 * 1024;
/**
 * Message senders (ours and vscode-jsonrpc alike) await every 1,000th send: the queue stays
 * about one 64 KiB pack deep, like raw net's 'drain', so sender and receiver overlap. (Awaiting
 * only when a full 1 MiB is queued makes them take turns: the sender then waits for the whole
 * queue to drain before it produces again.)
 */
const AWAIT_EVERY = 1000;

const key = (): Buffer => keyFromHex(process.env.LSB_KEY!);

// ---- server worker ------------------------------------------------------------------------------

let oursServer: LocalServer | null = null;
const rawServers: net.Server[] = [];
const held: unknown[] = [];

/** Ours: counts binary messages and 'tick' notifications; answers 'echo'; acks with a 'done' notification. */
function serveOurs(s: LocalSocket): void {
  const m = new MessageSocket(s);
  let expected = 0;
  let got = 0;
  m.onNotification('expect', (p) => {
    expected = (p as { count: number }).count;
    got = 0;
  });
  const count = (): void => {
    if (++got === expected) void m.notify('done');
  };
  m.on('binary', count);
  m.onNotification('tick', count);
  m.handle('echo', (p) => p);
}

/** Raw: the first 4 bytes carry the frame count; frames parsed by hand, each payload handed on as a view. */
function serveRawFrames(sock: net.Socket): void {
  sock.on('error', () => {});
  let expected = -1;
  let got = 0;
  let pending: Buffer | null = null; // an incomplete frame (or count header) carried to the next chunk
  let sink = 0;
  const onMessage = (payload: Buffer): void => {
    sink += payload.length;
    if (++got === expected) sock.write(Buffer.from([1]));
  };
  sock.on('data', (chunk: Buffer) => {
    let data = chunk;
    if (pending !== null) {
      data = Buffer.concat([pending, chunk]);
      pending = null;
    }
    let pos = 0;
    if (expected < 0) {
      if (data.length < 4) {
        pending = data;
        return;
      }
      expected = data.readUInt32LE(0);
      got = 0;
      pos = 4;
    }
    while (data.length - pos >= 5) {
      const length = data.readUInt32BE(pos + 1);
      if (data.length - pos - 5 < length) break;
      onMessage(data.subarray(pos + 5, pos + 5 + length));
      pos += 5 + length;
    }
    if (pos < data.length) pending = data.subarray(pos);
    if (got === expected) expected = -1;
  });
  void sink;
}

function serveRawEcho(sock: net.Socket): void {
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => sock.write(d));
}

/** Hand-written JSON-RPC over newline-delimited JSON: the least any JSON-RPC must do per request. */
function serveJsonLines(sock: net.Socket): void {
  sock.on('error', () => {});
  let rest = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    let out = '';
    for (const line of lines) {
      const m = JSON.parse(line) as { id: number; params: unknown };
      out += `${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: m.params })}\n`;
    }
    if (out) sock.write(out);
  });
}

function serveVscode(sock: net.Socket): void {
  sock.on('error', () => {});
  const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(sock), new rpc.StreamMessageWriter(sock));
  let expected = 0;
  let got = 0;
  conn.onNotification('expect', (p: { count: number }) => {
    expected = p.count;
    got = 0;
  });
  conn.onNotification('tick', () => {
    if (++got === expected) void conn.sendNotification('done');
  });
  conn.listen();
}

async function rawListen(prefix: string, handler: (s: net.Socket) => void): Promise<string> {
  const path = rawSocketPath(prefix);
  const server = net.createServer(handler);
  await new Promise<void>((resolve) => server.listen({ path, backlog: 511 }, resolve));
  rawServers.push(server);
  return path;
}

interface Where {
  name: string;
  frames: string;
  echo: string;
  vscode: string;
  jsonLines: string;
}

async function start(args: { idle?: 'bare' | 'messages' }): Promise<Where> {
  const name = uniqueName('msg');
  oursServer = await listen(name, { key: key(), maxPendingConnections: 128 });
  oursServer.on('newConnection', () => {
    for (let s = oursServer!.nextPendingConnection(); s; s = oursServer!.nextPendingConnection()) {
      if (args.idle === 'bare') held.push(s);
      else if (args.idle === 'messages') {
        const m = new MessageSocket(s);
        m.handle('echo', (p) => p);
        held.push(m);
      } else serveOurs(s);
    }
  });
  if (args.idle) return { name, frames: '', echo: '', vscode: '', jsonLines: '' };
  return {
    name,
    frames: await rawListen('mf', serveRawFrames),
    echo: await rawListen('me', serveRawEcho),
    vscode: await rawListen('mv', serveVscode),
    jsonLines: await rawListen('mj', serveJsonLines),
  };
}

// ---- client worker -----------------------------------------------------------------------------

async function oursClient(name: string): Promise<MessageSocket> {
  return new MessageSocket(await connect(name, { key: key() }));
}

async function rawClient(path: string): Promise<net.Socket> {
  const sock = net.createConnection({ path });
  await once(sock, 'connect');
  return sock;
}

async function binaryOurs(name: string, count: number): Promise<number> {
  const m = await oursClient(name);
  const s = m.socket;
  await m.notify('expect', { count });
  const done = once(m, 'notification');
  const message = Buffer.alloc(MESSAGE, 0x62);
  const t0 = nowNs();
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < count; i++) {
    last = m.sendBinary(message);
    if (i % AWAIT_EVERY === AWAIT_EVERY - 1 || s.bytesToWrite + FRAME > s.maxWriteBuffer) await last;
  }
  await last;
  await done;
  const t1 = nowNs();
  m.abort();
  return t1 - t0;
}

async function binaryRaw(path: string, count: number): Promise<number> {
  const sock = await rawClient(path);
  const acked = once(sock, 'data');
  const message = Buffer.alloc(MESSAGE, 0x62);
  const t0 = nowNs();
  const head = Buffer.alloc(4);
  head.writeUInt32LE(count, 0);
  sock.write(head);
  let buf = Buffer.allocUnsafe(PACK_BYTES);
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + FRAME > PACK_BYTES) {
      const full = sock.write(buf.subarray(0, off));
      buf = Buffer.allocUnsafe(PACK_BYTES);
      off = 0;
      if (!full) await once(sock, 'drain');
    }
    buf[off] = 0x42;
    buf.writeUInt32BE(MESSAGE, off + 1);
    message.copy(buf, off + 5);
    off += FRAME;
  }
  sock.write(buf.subarray(0, off));
  await acked;
  const t1 = nowNs();
  sock.destroy();
  return t1 - t0;
}

async function jsonOurs(name: string, count: number): Promise<number> {
  const m = await oursClient(name);
  const s = m.socket;
  await m.notify('expect', { count });
  const done = once(m, 'notification');
  const t0 = nowNs();
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < count; i++) {
    last = m.notify('tick', { n: i });
    if (i % AWAIT_EVERY === AWAIT_EVERY - 1 || s.bytesToWrite + 64 > s.maxWriteBuffer) await last;
  }
  await last;
  await done;
  const t1 = nowNs();
  m.abort();
  return t1 - t0;
}

async function jsonVscode(path: string, count: number): Promise<number> {
  const sock = await rawClient(path);
  const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(sock), new rpc.StreamMessageWriter(sock));
  const done = new Promise<void>((resolve) => conn.onNotification('done', () => resolve()));
  conn.listen();
  await conn.sendNotification('expect', { count });
  const t0 = nowNs();
  for (let i = 0; i < count; i++) {
    const p = conn.sendNotification('tick', { n: i });
    if (i % AWAIT_EVERY === AWAIT_EVERY - 1) await p;
  }
  await done;
  const t1 = nowNs();
  conn.dispose();
  sock.destroy();
  return t1 - t0;
}

const PAYLOAD = 'p'.repeat(MESSAGE);

/** Sequential requests; returns the p50 and p99 in µs. */
async function requestsOurs(name: string, n: number): Promise<{ p50: number; p99: number }> {
  const m = await oursClient(name);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = nowNs();
    await m.request('echo', PAYLOAD);
    times[i] = (nowNs() - t0) / 1000;
  }
  m.abort();
  const sorted = sortedCopy(times);
  return { p50: percentileSorted(sorted, 50), p99: percentileSorted(sorted, 99) };
}

/** Raw 64-byte round trips, callback-driven. */
async function roundTripsRaw(path: string, n: number): Promise<{ p50: number; p99: number }> {
  const sock = await rawClient(path);
  const times = new Float64Array(n);
  const message = Buffer.alloc(MESSAGE, 0x61);
  await new Promise<void>((resolve) => {
    let i = 0;
    let got = 0;
    let t0 = nowNs();
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got < MESSAGE) return;
      got -= MESSAGE;
      times[i++] = (nowNs() - t0) / 1000;
      if (i === n) return resolve();
      t0 = nowNs();
      sock.write(message);
    });
    sock.write(message);
  });
  sock.destroy();
  const sorted = sortedCopy(times);
  return { p50: percentileSorted(sorted, 50), p99: percentileSorted(sorted, 99) };
}

async function inFlightOurs(name: string, total: number, window: number): Promise<number> {
  const m = await oursClient(name);
  const t0 = nowNs();
  await new Promise<void>((resolve, reject) => {
    let started = 0;
    let completed = 0;
    const onDone = (): void => {
      if (++completed === total) return resolve();
      if (started < total) {
        started++;
        m.request('echo', PAYLOAD).then(onDone, reject);
      }
    };
    for (; started < window; started++) m.request('echo', PAYLOAD).then(onDone, reject);
  });
  const t1 = nowNs();
  m.abort();
  return t1 - t0;
}

async function inFlightRaw(path: string, total: number, window: number): Promise<number> {
  const sock = await rawClient(path);
  const message = Buffer.alloc(MESSAGE, 0x61);
  const t0 = nowNs();
  await new Promise<void>((resolve) => {
    let started = 0;
    let completed = 0;
    let bytes = 0;
    sock.on('data', (d: Buffer) => {
      bytes += d.length;
      const whole = Math.floor(bytes / MESSAGE);
      bytes -= whole * MESSAGE;
      completed += whole;
      if (completed >= total) return resolve();
      const more = Math.min(whole, total - started);
      if (more > 0) {
        sock.cork();
        for (let k = 0; k < more; k++) sock.write(message);
        sock.uncork();
        started += more;
      }
    });
    sock.cork();
    for (; started < window; started++) sock.write(message);
    sock.uncork();
  });
  const t1 = nowNs();
  sock.destroy();
  return t1 - t0;
}

async function inFlightJsonLines(path: string, total: number, window: number): Promise<number> {
  const sock = await rawClient(path);
  sock.setEncoding('utf8');
  const t0 = nowNs();
  await new Promise<void>((resolve) => {
    const pending = new Map<number, (result: unknown) => void>();
    let nextId = 1;
    let started = 0;
    let completed = 0;
    let rest = '';
    const onDone = (): void => {
      if (++completed === total) resolve();
    };
    const send = (n: number): string => {
      let out = '';
      for (let k = 0; k < n; k++, started++) {
        const id = nextId++;
        pending.set(id, onDone);
        out += `${JSON.stringify({ jsonrpc: '2.0', id, method: 'echo', params: PAYLOAD })}\n`;
      }
      return out;
    };
    sock.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      let answered = 0;
      for (const line of lines) {
        const m = JSON.parse(line) as { id: number; result: unknown };
        const settle = pending.get(m.id)!;
        pending.delete(m.id);
        settle(m.result);
        answered++;
      }
      const more = Math.min(answered, total - started);
      if (more > 0) sock.write(send(more));
    });
    sock.write(send(window));
  });
  const t1 = nowNs();
  sock.destroy();
  return t1 - t0;
}

export const commands: Commands = {
  start: (args: { idle?: 'bare' | 'messages' }) => start(args),
  run(args: { what: string; where: Where; count: number }): Promise<unknown> {
    const { where, count } = args;
    switch (args.what) {
      case 'binaryOurs': return binaryOurs(where.name, count);
      case 'binaryRaw': return binaryRaw(where.frames, count);
      case 'jsonOurs': return jsonOurs(where.name, count);
      case 'jsonVscode': return jsonVscode(where.vscode, count);
      case 'requestsOurs': return requestsOurs(where.name, count);
      case 'roundTripsRaw': return roundTripsRaw(where.echo, count);
      case 'inFlightOurs': return inFlightOurs(where.name, count, IN_FLIGHT);
      case 'inFlightRaw': return inFlightRaw(where.echo, count, IN_FLIGHT);
      case 'inFlightJsonLines': return inFlightJsonLines(where.jsonLines, count, IN_FLIGHT);
      default: throw new Error(`unknown run ${args.what}`);
    }
  },
  measure: async () => settledRss(),
  async warm(args: { where: Where; idle: 'bare' | 'messages' }): Promise<void> {
    const s = await connect(args.where.name, { key: key() });
    if (args.idle === 'messages') new MessageSocket(s).abort();
    else s.abort();
  },
  async openMany(args: { where: Where; idle: 'bare' | 'messages'; count: number }): Promise<void> {
    for (let i = 0; i < args.count; i++) {
      const s = await connect(args.where.name, { key: key() });
      held.push(args.idle === 'messages' ? new MessageSocket(s) : s);
    }
  },
  heldCount: () => held.length,
};

// ---- orchestration ---------------------------------------------------------------------------------

function absoluteRow(metric: string, unit: string, reps: number[], min: number, label: string): Row {
  const ours = median(reps);
  return { scenario: 'messages', metric, unit, raw: null, ours, ratio: null, target: `>= ${label}`, pass: ours >= min, oursReps: reps };
}

async function idleOnce(config: BenchConfig, idle: 'bare' | 'messages', count: number): Promise<number> {
  const execArgv = ['--max-semi-space-size=1'];
  const server = await spawnWorker('messages', config, { exposeGc: true, execArgv, label: `idle-server-${idle}` });
  const client = await spawnWorker('messages', config, { exposeGc: true, execArgv, label: `idle-client-${idle}` });
  try {
    const where = await server.call<Where>('start', { idle });
    await client.call('warm', { where, idle });
    type Mem = { rss: number };
    const [sb, cb] = await Promise.all([server.call<Mem>('measure'), client.call<Mem>('measure')]);
    await client.call('openMany', { where, idle, count });
    for (let i = 0; i < 100 && (await server.call<number>('heldCount')) < count + 1; i++) await new Promise((r) => setTimeout(r, 20));
    const [sa, ca] = await Promise.all([server.call<Mem>('measure'), client.call<Mem>('measure')]);
    return (sa.rss - sb.rss + ca.rss - cb.rss) / count;
  } finally {
    await client.stop();
    await server.stop();
  }
}

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const q = config.quick ? 8 : 1;
  const reps = config.reps;
  const rate = (count: number, ns: number): number => count / (ns / 1e9);
  const r = {
    binaryRaw: [] as number[], binaryOurs: [] as number[], jsonOurs: [] as number[], jsonVscode: [] as number[],
    rttRaw: [] as number[], reqOurs: [] as number[], rttRaw99: [] as number[], reqOurs99: [] as number[],
    inFlightRaw: [] as number[], inFlightOurs: [] as number[], inFlightJsonLines: [] as number[], inFlightOursVsJson: [] as number[], idleBare: [] as number[], idleMessages: [] as number[],
  };
  type Kind = { label: string; raw: string; ours: string; count: number; warmRaw: number; warmOurs: number; record(impl: 'raw' | 'ours', value: unknown, count: number): string };
  const kinds: Kind[] = [
    { label: 'binary', raw: 'binaryRaw', ours: 'binaryOurs', count: BINARY_COUNT / q, warmRaw: BINARY_COUNT / 5, warmOurs: BINARY_COUNT / 5, record: (impl, ns, n) => {
      const v = rate(n, ns as number);
      (impl === 'raw' ? r.binaryRaw : r.binaryOurs).push(v);
      return `${(v / 1e6).toFixed(2)} M/s`;
    } },
    { label: 'json', raw: 'jsonVscode', ours: 'jsonOurs', count: JSON_COUNT / q, warmRaw: VSCODE_COUNT / 5, warmOurs: JSON_COUNT / 5, record: (impl, ns, n) => {
      const v = rate(impl === 'raw' ? VSCODE_COUNT / q : n, ns as number);
      (impl === 'raw' ? r.jsonVscode : r.jsonOurs).push(v);
      return `${(v / 1e3).toFixed(0)} k/s`;
    } },
    { label: 'requests', raw: 'roundTripsRaw', ours: 'requestsOurs', count: ROUND_TRIPS / q, warmRaw: 5000, warmOurs: 5000, record: (impl, v) => {
      const { p50, p99 } = v as { p50: number; p99: number };
      (impl === 'raw' ? r.rttRaw : r.reqOurs).push(p50);
      (impl === 'raw' ? r.rttRaw99 : r.reqOurs99).push(p99);
      return `p50 ${p50.toFixed(1)} µs`;
    } },
    { label: 'in flight', raw: 'inFlightRaw', ours: 'inFlightOurs', count: IN_FLIGHT_TOTAL / q, warmRaw: 60_000, warmOurs: 60_000, record: (impl, ns, n) => {
      const v = rate(n, ns as number);
      (impl === 'raw' ? r.inFlightRaw : r.inFlightOurs).push(v);
      return `${(v / 1e3).toFixed(0)} k/s`;
    } },
    { label: 'in flight json', raw: 'inFlightJsonLines', ours: 'inFlightOurs', count: IN_FLIGHT_TOTAL / q, warmRaw: 60_000, warmOurs: 60_000, record: (impl, ns, n) => {
      const v = rate(n, ns as number);
      (impl === 'raw' ? r.inFlightJsonLines : r.inFlightOursVsJson).push(v);
      return `${(v / 1e3).toFixed(0)} k/s`;
    } },
  ];
  // Each kind of measurement in its own pair of fresh processes: what one kind leaves in a
  // process (JIT feedback, a grown heap) must not weigh on the next.
  for (const kind of kinds) {
    const server = await spawnWorker('messages', config, { label: `server-${kind.label.replaceAll(' ', '-')}` });
    const client = await spawnWorker('messages', config, { label: `client-${kind.label.replaceAll(' ', '-')}` });
    try {
      const where = await server.call<Where>('start', {});
      const go = <T>(what: string, count: number): Promise<T> => client.call<T>('run', { what, where, count });
      // Untimed warm-up of each (a fifth of a timed run), so the JIT has settled in these fresh processes.
      await go(kind.raw, kind.warmRaw);
      await go(kind.ours, kind.warmOurs);
      await alternate(reps, async (impl) => {
        const count = impl === 'raw' && kind.label === 'json' ? VSCODE_COUNT / q : kind.count;
        const value = await go<unknown>(impl === 'raw' ? kind.raw : kind.ours, count);
        log(`${kind.label} ${impl}: ${kind.record(impl, value, count)}`);
      });
    } finally {
      await client.stop();
      await server.stop();
    }
  }
  const idleReps = Math.max(1, Math.min(reps, 3));
  for (let rep = 0; rep < idleReps; rep++) {
    for (const idle of rep % 2 === 0 ? (['bare', 'messages'] as const) : (['messages', 'bare'] as const)) {
      const perConn = await idleOnce(config, idle, IDLE_CONNECTIONS / q);
      (idle === 'bare' ? r.idleBare : r.idleMessages).push(perConn / 1024);
      log(`idle ${idle}: ${(perConn / 1024).toFixed(1)} KiB per connection (server+client)`);
    }
  }
  const binaryRatio = ratioRow('messages', `64 B binary msgs one way (raw: hand-packed frames)`, 'msgs/s', r.binaryRaw, r.binaryOurs, { op: '>=', value: 1.0 });
  const jsonRatio = ratioRow('messages', `JSON notifications {"n":i} (raw column: vscode-jsonrpc)`, 'msgs/s', r.jsonVscode, r.jsonOurs, { op: '>=', value: 10 });
  const reqRatio = ratioRow('messages', `sequential request p50 (raw: 64 B round trip)`, 'µs', r.rttRaw, r.reqOurs, { op: '<=', value: 1.3 });
  return {
    name: 'messages',
    rows: [
      binaryRatio,
      absoluteRow('64 B binary msgs one way, absolute', 'msgs/s', r.binaryOurs, 5e6, '5M/s'),
      jsonRatio,
      absoluteRow('JSON notifications {"n":i}, absolute', 'msgs/s', r.jsonOurs, 1e6, '1M/s'),
      reqRatio,
      ratioRow('messages', `sequential request p99 (raw: 64 B round trip)`, 'µs', r.rttRaw99, r.reqOurs99),
      ratioRow('messages', `${IN_FLIGHT} requests in flight (raw: ${IN_FLIGHT} pipelined 64 B echoes)`, 'completed/s', r.inFlightRaw, r.inFlightOurs, { op: '>=', value: 0.5 }),
      absoluteRow(`${IN_FLIGHT} requests in flight, absolute`, 'completed/s', r.inFlightOurs, 3e5, '300k/s'),
      ratioRow('messages', `${IN_FLIGHT} requests in flight (raw: hand-written JSON-RPC, newline-delimited, on raw net)`, 'completed/s', r.inFlightJsonLines, r.inFlightOursVsJson),
      ratioRow('messages', `idle RSS per connection, server+client (raw column: bare LocalSocket)`, 'KiB', r.idleBare, r.idleMessages, { op: '<=', value: 1.15 }),
    ],
    notes: ['the raw column is hand-packed frames on raw net (binary), vscode-jsonrpc (JSON), raw 64 B echo (requests, in flight), hand-written newline-delimited JSON-RPC on raw net (in flight, second row), and a bare LocalSocket (idle memory)'],
    details: { binaryCount: BINARY_COUNT / q, jsonCount: JSON_COUNT / q, vscodeCount: VSCODE_COUNT / q, roundTrips: ROUND_TRIPS / q, inFlight: IN_FLIGHT, inFlightTotal: IN_FLIGHT_TOTAL / q, idleConnections: IDLE_CONNECTIONS / q, idleReps, figures: r },
  };
}
