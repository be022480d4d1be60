/**
 * A soak client process. Its role (argv[2]) says what it does at a steady pace:
 * - `rpc`: a reconnecting client making `sum` requests (4 loops) and sending `tick` notifications;
 * - `binary`: a reconnecting client sending binary messages (checked echoes) and a few requests;
 * - `subscriber`: three reconnecting clients checking the daemon's `news` broadcast;
 * - `oneshot`: short-lived connections that connect, ask once and leave;
 * - `mixed`: all of rpc, binary and subscriber on one client (the run never kills this one).
 * Every answer is checked; every operation ends in exactly one outcome (see Tracker).
 */
import { LocalSocketError } from '../../src/errors.js';
import { connectMessages, type MessageSocket } from '../../src/messages/message-socket.js';
import { ReconnectingClient } from '../../src/messages/reconnecting-client.js';
import { randomBytes, randomInt } from 'node:crypto';
import {
  codeOf, emptyCounts, send, sleep, soakKey, soakName, takeSample,
  type CountsByKind, type Kind, type ParentMessage,
} from './common.js';

const SAMPLE_MS = Number(process.env.LOCALSOCKET_SOAK_SAMPLE_MS ?? 2000);
/** How long past its own deadline an operation may stay pending before it counts as never settled. */
const GRACE_MS = 10_000;
const role = process.argv[2] ?? 'rpc';
const tag = `${role}-${process.pid}`;

interface Entry {
  kind: Kind;
  deadline: number;
  overdue: boolean;
}

/** Outcome bookkeeping: each operation is begun once and settled once. */
class Tracker {
  readonly counts: CountsByKind = emptyCounts();
  readonly #pending = new Map<number, Entry>();
  #next = 0;

  get pending(): number {
    return this.#pending.size;
  }

  begin(kind: Kind, deadlineMs: number): number {
    const id = ++this.#next;
    this.counts[kind].started++;
    this.#pending.set(id, { kind, deadline: Date.now() + deadlineMs, overdue: false });
    return id;
  }

  /** Settles `id`; false if it was already settled (the caller decides whether that is a double answer). */
  #take(id: number): Entry | null {
    const entry = this.#pending.get(id);
    if (entry === undefined) return null;
    this.#pending.delete(id);
    return entry;
  }

  ok(id: number): boolean {
    const e = this.#take(id);
    if (e && !e.overdue) this.counts[e.kind].ok++;
    return e !== null;
  }

  wrong(id: number): boolean {
    const e = this.#take(id);
    if (e) this.counts[e.kind].wrong++;
    return e !== null;
  }

  twice(id: number): boolean {
    const e = this.#take(id);
    if (e) this.counts[e.kind].twice++;
    return e !== null;
  }

  fail(id: number, err: unknown, prefix = ''): boolean {
    const e = this.#take(id);
    if (e === null) return false;
    if (e.overdue) return true;
    const code = codeOf(err);
    if (code === null) {
      this.counts[e.kind].unstated++;
      console.error(`soak ${tag}: a ${e.kind} failed without a LocalSocketError:`, err);
    } else {
      const key = prefix + code;
      this.counts[e.kind].failed[key] = (this.counts[e.kind].failed[key] ?? 0) + 1;
    }
    return true;
  }

  /** Marks operations pending past deadline + grace as never settled (once each). */
  watchdog(now = Date.now()): void {
    for (const e of this.#pending.values()) {
      if (!e.overdue && now > e.deadline + GRACE_MS) {
        e.overdue = true;
        this.counts[e.kind].neverSettled++;
      }
    }
  }

  /** Waits for everything pending to settle, until the last deadline + grace; what is left never settled. */
  async drain(): Promise<void> {
    let last = 0;
    for (const e of this.#pending.values()) last = Math.max(last, e.deadline);
    while (this.#pending.size > 0 && Date.now() <= last + GRACE_MS) await sleep(50);
    this.watchdog(Number.POSITIVE_INFINITY);
  }
}

const tracker = new Tracker();
let stopping = false;
const loops: Promise<void>[] = [];
const clients: ReconnectingClient[] = [];

/** Operations sent on a connection whose answer can only come back on it (notifications, binary). */
const onConnection = new Map<MessageSocket, Set<number>>();
const closedSockets = new WeakSet<MessageSocket>();

function newClient(): ReconnectingClient {
  const client = new ReconnectingClient(soakName(), {
    key: soakKey(),
    timeout: 5000,
    initialDelay: 50,
    maxDelay: 1000,
    requestTimeout: 10_000,
  });
  client.on('error', () => {});
  client.on('connected', (socket) => {
    socket.once('close', (reason) => {
      closedSockets.add(socket);
      const ids = onConnection.get(socket);
      onConnection.delete(socket);
      // Sent on this connection, unanswered: lost with it (the daemon was killed, or the connection dropped).
      for (const id of ids ?? []) tracker.fail(id, reason ?? new LocalSocketError('PEER_CLOSED', 'connection closed'), 'lost:');
    });
  });
  client.start();
  clients.push(client);
  return client;
}

function remember(socket: MessageSocket, id: number): void {
  let set = onConnection.get(socket);
  if (!set) onConnection.set(socket, (set = new Set()));
  set.add(id);
}

function forget(socket: MessageSocket, id: number): void {
  onConnection.get(socket)?.delete(id);
}

/** Requests `sum` with a checked answer; half with a short timeout (they fail TIMEOUT when the daemon is stopped). */
async function requestLoop(client: ReconnectingClient, name: string, pauseMs: number): Promise<void> {
  const c = `${tag}/${name}`;
  let seq = 0;
  while (!stopping) {
    const s = ++seq;
    const a = randomInt(1_000_000);
    const b = randomInt(1_000_000);
    const timeout = s % 2 === 0 ? 2000 : 10_000;
    const id = tracker.begin('request', timeout);
    try {
      const r = (await client.request('sum', { c, s, a, b }, { timeout })) as { c: string; s: number; sum: number; dup: boolean };
      if (r.c !== c || r.s !== s || r.sum !== a + b) tracker.wrong(id);
      else if (r.dup) tracker.twice(id);
      else if (!tracker.ok(id)) tracker.counts.request.twice++;
    } catch (err) {
      if (!tracker.fail(id, err)) tracker.counts.request.twice++;
    }
    await sleep(pauseMs);
  }
}

/** Sends `tick` notifications; the daemon answers each with a `tock` on the same connection. */
async function tickLoop(client: ReconnectingClient): Promise<void> {
  const outstanding = new Map<number, { id: number; socket: MessageSocket }>();
  let seq = 0;
  client.onNotification('tock', (params, peer) => {
    const { c, s } = params as { c: string; s: number };
    const entry = outstanding.get(s);
    if (c !== tag || entry === undefined) {
      tracker.counts.notification[s <= seq && c === tag ? 'twice' : 'wrong']++;
      return;
    }
    outstanding.delete(s);
    forget(entry.socket, entry.id);
    if (peer !== entry.socket) tracker.wrong(entry.id);
    else tracker.ok(entry.id);
  });
  while (!stopping) {
    await sleep(100);
    const socket = client.socket;
    if (socket === null || !client.isConnected || closedSockets.has(socket)) continue;
    const s = ++seq;
    const id = tracker.begin('notification', 10_000);
    outstanding.set(s, { id, socket });
    remember(socket, id);
    socket.notify('tick', { c: tag, s }).catch((err: unknown) => {
      outstanding.delete(s);
      forget(socket, id);
      tracker.fail(id, err);
    });
  }
  // Whatever is still outstanding settles by its tock or its connection's close.
}

/** Binary messages of 1 byte to 64 KiB (now and then 1 MiB) with a sequence header; the daemon echoes each. */
async function binaryLoop(client: ReconnectingClient): Promise<void> {
  const outstanding = new Map<number, { id: number; socket: MessageSocket; data: Buffer }>();
  let seq = 0;
  client.on('binary', (data) => {
    const s = data.length >= 4 ? data.readUInt32BE(0) : -1;
    const entry = outstanding.get(s);
    if (entry === undefined) {
      tracker.counts.binary[s > 0 && s <= seq ? 'twice' : 'wrong']++;
      return;
    }
    outstanding.delete(s);
    forget(entry.socket, entry.id);
    if (entry.data.equals(data)) tracker.ok(entry.id);
    else tracker.wrong(entry.id);
  });
  while (!stopping) {
    await sleep(40);
    const socket = client.socket;
    if (socket === null || !client.isConnected || closedSockets.has(socket) || outstanding.size >= 8) continue;
    const s = ++seq;
    const size = s % 50 === 0 ? 1024 * 1024 : 4 + randomInt(64 * 1024);
    const data = randomBytes(size);
    data.writeUInt32BE(s, 0);
    const id = tracker.begin('binary', 10_000);
    outstanding.set(s, { id, socket, data });
    remember(socket, id);
    socket.sendBinary(data).catch((err: unknown) => {
      outstanding.delete(s);
      forget(socket, id);
      tracker.fail(id, err);
    });
  }
}

/** Checks the `news` broadcast: on one connection, from one daemon, numbers only go up. */
function subscribe(client: ReconnectingClient): void {
  const last = new Map<MessageSocket, { incarnation: string; seq: number }>();
  client.on('connected', (socket) => socket.once('close', () => last.delete(socket)));
  client.onNotification('news', (params, peer) => {
    const { incarnation, seq } = params as { incarnation: string; seq: number };
    const counts = tracker.counts.broadcast;
    counts.started++;
    const before = last.get(peer);
    // Gaps are allowed (a peer that falls behind is dropped, not stalled); going back or repeating is not.
    if (before !== undefined && (before.incarnation !== incarnation || seq <= before.seq)) counts.wrong++;
    else counts.ok++;
    last.set(peer, { incarnation, seq });
  });
}

/** Connect, ask once, leave. Half wait for a daemon that is down; half fail at once when it is. */
async function oneshotLoop(name: string): Promise<void> {
  const c = `${tag}/${name}`;
  let n = 0;
  while (!stopping) {
    const s = ++n;
    const a = randomInt(1000);
    const id = tracker.begin('oneshot', 6000);
    try {
      const socket = await connectMessages(soakName(), { key: soakKey(), timeout: 3000, waitForServer: s % 2 === 0, requestTimeout: 3000 });
      try {
        const r = (await socket.request('sum', { c, s, a, b: s })) as { c: string; s: number; sum: number; dup: boolean };
        if (r.c !== c || r.s !== s || r.sum !== a + s) tracker.wrong(id);
        else if (r.dup) tracker.twice(id);
        else tracker.ok(id);
      } finally {
        await socket.close();
      }
    } catch (err) {
      tracker.fail(id, err);
    }
    await sleep(50);
  }
}

switch (role) {
  case 'rpc': {
    const client = newClient();
    for (let i = 0; i < 4; i++) loops.push(requestLoop(client, `r${i}`, 25));
    loops.push(tickLoop(client));
    break;
  }
  case 'binary': {
    const client = newClient();
    loops.push(binaryLoop(client), requestLoop(client, 'r0', 100));
    break;
  }
  case 'subscriber': {
    for (let i = 0; i < 3; i++) {
      const client = newClient();
      subscribe(client);
      loops.push(requestLoop(client, `r${i}`, 1000));
    }
    break;
  }
  case 'oneshot':
    loops.push(oneshotLoop('o0'), oneshotLoop('o1'));
    break;
  case 'mixed': {
    const client = newClient();
    subscribe(client);
    loops.push(requestLoop(client, 'r0', 25), requestLoop(client, 'r1', 25), tickLoop(client), binaryLoop(client));
    break;
  }
  default:
    console.error(`soak client: unknown role ${role}`);
    process.exit(2);
}

const sampler = setInterval(() => {
  tracker.watchdog();
  send({ type: 'sample', sample: takeSample(), counts: tracker.counts, pending: tracker.pending });
}, SAMPLE_MS);

async function stop(): Promise<void> {
  stopping = true;
  await Promise.all(loops);
  await tracker.drain();
  clearInterval(sampler);
  send({ type: 'final', sample: takeSample(), counts: tracker.counts });
  await Promise.all(clients.map((c) => c.close()));
  process.disconnect?.();
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'stop') void stop();
});
// The run is gone (killed, or Ctrl-C): leave with it.
process.on('disconnect', () => {
  if (!stopping) process.exit(0);
});
send({ type: 'ready' });
