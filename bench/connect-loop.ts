/**
 * A connect loop to look at under a tool (strace -c, --cpu-prof, a heap snapshot): not a scenario of
 * `npm run bench`. Server and client are separate processes, so each can be traced alone.
 *
 *   node dist/bench/connect-loop.js server <raw|ours|auth> <where> <readyFile>
 *       listens (raw: a socket path; ours/auth: a name) and writes <readyFile> once listening;
 *       takes every connection; exits on SIGTERM or SIGINT.
 *   node dist/bench/connect-loop.js client <raw|ours|auth> <where> <count>
 *       <count> connects one after another, each closed before the next (after 100 untimed
 *       ones: the count traced is <count>), prints µs per connect.
 *   node dist/bench/connect-loop.js idle <raw|ours|msg|owned> <count> <snapshotDir>
 *       one process holds both ends of <count> idle connections; writes a heap snapshot after
 *       one warm-up pair (before.heapsnapshot) and after the <count> (after.heapsnapshot).
 *       Summarise with heap-summary.js.
 * The key is fixed (32 bytes of 7): this tool is for measuring, never for real use.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { connect, connectReconnecting, listen, listenMessages, MessageSocket, type LocalServer, type LocalSocket } from '../src/index.js';

const KEY = Buffer.alloc(32, 7);
const [mode, kind, where, extra] = process.argv.slice(2);

function opts(k: string): { key: Buffer } | { auth: false } {
  return k === 'auth' ? { key: KEY } : { auth: false };
}

async function server(): Promise<void> {
  const held: unknown[] = [];
  if (kind === 'raw') {
    const s = net.createServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((resolve) => s.listen({ path: where!, backlog: 511 }, resolve));
    held.push(s);
  } else {
    const s = await listen(where!, opts(kind!));
    s.on('newConnection', () => {
      for (let c = s.nextPendingConnection(); c; c = s.nextPendingConnection()) c.on('error', () => {});
    });
    held.push(s);
  }
  fs.writeFileSync(extra!, 'ready');
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

let retries = 0;

async function once(k: string): Promise<void> {
  if (k === 'raw') {
    for (;;) {
      const sock = net.createConnection({ path: where! });
      const ok = await new Promise<boolean>((resolve, reject) => {
        sock.once('connect', () => resolve(true));
        sock.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EAGAIN' ? resolve(false) : reject(err)));
      });
      sock.destroy();
      if (ok) return;
      // The backlog is full (a traced server is slow): as ours does, try again a little later.
      retries++;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const s = await connect(where!, opts(k));
  s.abort();
}

async function client(): Promise<void> {
  const count = Number(extra);
  for (let i = 0; i < 100; i++) await once(kind!);
  await new Promise((r) => setTimeout(r, 50));
  // A pause every 100 connects (not timed) lets a traced, slower server drain its backlog: a raw
  // connect does not wait for the accept, and 511 unaccepted connections make the next one fail EAGAIN.
  let ns = 0n;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i += 100) {
    await new Promise((r) => setTimeout(r, 20));
    const t0 = process.hrtime.bigint();
    for (let j = i; j < Math.min(count, i + 100); j++) await once(kind!);
    ns += process.hrtime.bigint() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  const per = (us: number): string => (us / Math.max(count, 1)).toFixed(1);
  // CPU time (this process, user + system) moves less with the machine's load than the wall time.
  console.log(`${kind}: ${count} connects, ${(Number(ns) / 1000 / Math.max(count, 1)).toFixed(1)} µs each (wall), CPU ${per(cpu.user + cpu.system)} µs each (user ${per(cpu.user)}, system ${per(cpu.system)}), ${retries} EAGAIN retries`);
}

async function idle(): Promise<void> {
  const count = Number(where);
  const dir = extra!;
  fs.mkdirSync(dir, { recursive: true });
  const held: unknown[] = [];
  let pair: () => Promise<void>;
  if (kind === 'raw') {
    const file = path.join(dir, 'raw.sock');
    fs.rmSync(file, { force: true });
    const s = net.createServer((sock) => held.push(sock));
    await new Promise<void>((resolve) => s.listen({ path: file, backlog: 511 }, resolve));
    pair = async () => {
      const sock = net.createConnection({ path: file });
      await new Promise<void>((resolve) => sock.once('connect', resolve));
      held.push(sock);
    };
  } else if (kind === 'owned') {
    // The message layer's owners: a MessageServer's peers and ReconnectingClients.
    const name = `lsb-heap-${process.pid}`;
    const s = await listenMessages(name, { key: KEY, maxPendingConnections: 2048 });
    s.on('peerJoined', (peer) => held.push(peer));
    pair = async () => {
      held.push(await connectReconnecting(name, { key: KEY }));
    };
  } else {
    const name = `lsb-heap-${process.pid}`;
    const s: LocalServer = await listen(name, { key: KEY, maxPendingConnections: 2048 });
    s.on('newConnection', () => {
      for (let c = s.nextPendingConnection(); c; c = s.nextPendingConnection()) {
        held.push(kind === 'msg' ? new MessageSocket(c) : c);
      }
    });
    pair = async () => {
      const c: LocalSocket = await connect(name, { key: KEY });
      held.push(kind === 'msg' ? new MessageSocket(c) : c);
    };
  }
  const settle = async (pairs: number): Promise<void> => {
    while (held.length < pairs * 2) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  await pair();
  await settle(1);
  writeHeapSnapshot(path.join(dir, `${kind}-before.heapsnapshot`));
  for (let i = 0; i < count; i++) await pair();
  await settle(count + 1);
  writeHeapSnapshot(path.join(dir, `${kind}-after.heapsnapshot`));
  console.log(`${kind}: ${held.length / 2} pairs held; snapshots in ${dir}`);
  process.exit(0);
}

if (mode === 'server') await server();
else if (mode === 'client') await client();
else if (mode === 'idle') await idle();
else {
  console.error('usage: connect-loop.js server|client|idle ... (see the file)');
  process.exit(2);
}
