/**
 * What a ReconnectingClient does with the close code of the server's close
 * frame: 1012 restarting -> the next attempt at once, waiting for the server
 * to be back; 1013 overloaded -> its longest backoff first; 1000 normal -> it
 * stops; 1001 going away, anything else, or a lost connection -> its usual
 * backoff.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import {
  CloseCode, connectReconnecting, listenMessages, type CloseInfo, type LocalSocketError, type MessageServer, type ReconnectingClient,
} from '../src/index.js';
import { isWine, uniqueName } from './helpers.js';

const key = randomBytes(32);
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const EVENTS = ['stateChanged', 'connecting', 'reconnecting', 'connected', 'disconnected', 'closed'] as const;

/** Resolves once `predicate` holds, checking after each event of `client`; fails after `ms` (a guard, not a timing). */
function until(client: ReconnectingClient, predicate: () => boolean, what: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      for (const e of EVENTS) client.off(e, check);
    };
    // After the event's other listeners (those recording it) have run.
    const check = (): void => void queueMicrotask(() => {
      if (!predicate()) return;
      stop();
      resolve();
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${what}: not within ${ms} ms (state ${client.state})`));
    }, ms);
    for (const e of EVENTS) client.on(e, check);
    check();
  });
}

interface Setup {
  name: string;
  server: MessageServer;
  client: ReconnectingClient;
  events: string[];
  infos: CloseInfo[];
}

async function setup(options: { initialDelay?: number; maxDelay?: number } = {}): Promise<Setup> {
  const name = uniqueName('rcc');
  const server = await listenMessages(name, { key });
  // Closed after the client (cleanups run in reverse): a listening server keeps the test process alive.
  cleanups.push(() => server.close());
  const client = await connectReconnecting(name, { key, initialDelay: options.initialDelay ?? 10, maxDelay: options.maxDelay ?? 50 });
  cleanups.push(() => client.close());
  const events: string[] = [];
  const infos: CloseInfo[] = [];
  client.on('disconnected', (reason, info) => {
    events.push(`disconnected ${reason?.code}`);
    infos.push(info);
  });
  client.on('reconnecting', (attempt, delay) => events.push(`reconnecting ${attempt} ${delay}`));
  client.on('connecting', (attempt) => events.push(`connecting ${attempt}`));
  client.on('connected', () => events.push('connected'));
  client.on('closed', (reason) => events.push(`closed ${reason?.code}`));
  client.on('error', (err) => events.push(`error ${err.code}`));
  if (server.peerCount === 0) await new Promise((resolve) => server.once('peerJoined', resolve));
  return { name, server, client, events, infos };
}

test('1012 restarting: the next attempt goes at once (no backoff) and waits for the server to be back', async () => {
  // A backoff long enough that a test passing through it would hang on the guard below.
  const s = await setup({ initialDelay: 60_000, maxDelay: 60_000 });
  await s.server.close({ code: CloseCode.RESTARTING, reason: 'upgrade' });
  // The new server comes up only after the client started its attempt.
  await until(s.client, () => s.events.includes('connecting 1'), 'an attempt started');
  // At once: no backoff (no `reconnecting` event) before the first attempt.
  assert.deepEqual(s.events.slice(0, 2), ['disconnected PEER_CLOSED', 'connecting 1']);
  assert.deepEqual([s.infos[0]!.clean, s.infos[0]!.code, s.infos[0]!.reason], [true, 1012, 'upgrade']);
  if (isWine) {
    // Stated divergence: under Wine the attempt made while the old pipe instances are torn down can
    // meet one of them and fail, so it falls back to the (here 60 s) backoff; the "at once" part holds.
    return;
  }
  const again = await listenMessages(s.name, { key });
  cleanups.push(() => again.close());
  await until(s.client, () => s.client.state === 'connected', 'connected again');
  assert.deepEqual(s.events, ['disconnected PEER_CLOSED', 'connecting 1', 'connected']);
});

test('1013 overloaded: the first wait is the longest backoff (maxDelay)', async () => {
  const s = await setup({ initialDelay: 10, maxDelay: 300 });
  const [peer] = s.server.peers;
  await peer!.close({ code: CloseCode.OVERLOADED, reason: 'too many clients' });
  await until(s.client, () => s.client.state === 'connected' && s.events.includes('connected'), 'connected again');
  assert.deepEqual(s.events.slice(0, 2), ['disconnected PEER_CLOSED', 'reconnecting 1 300']);
  assert.equal(s.infos[0]!.code, 1013);
});

test('1001 going away and a lost connection: the usual backoff (at most initialDelay first)', async () => {
  for (const how of ['going away', 'lost'] as const) {
    const s = await setup({ initialDelay: 40, maxDelay: 5000 });
    const [peer] = s.server.peers;
    if (how === 'lost') peer!.abort();
    else await peer!.close({ code: CloseCode.GOING_AWAY });
    await until(s.client, () => s.events.includes('connected'), `${how}: connected again`);
    assert.equal(s.events[0], 'disconnected PEER_CLOSED', how);
    const m = /^reconnecting 1 (\d+(?:\.\d+)?)$/.exec(s.events[1]!);
    assert.ok(m, `${how}: ${s.events[1]}`);
    assert.ok(Number(m[1]) <= 40, `${how}: first delay ${m[1]}`);
    assert.deepEqual([s.infos[0]!.clean, s.infos[0]!.code], how === 'lost' ? [false, null] : [true, 1001], how);
  }
});

test('1000 normal: the server is done with this client, which closes for good (no error event)', async () => {
  const s = await setup();
  const closed = new Promise<LocalSocketError | null>((resolve) => s.client.once('closed', resolve));
  const [peer] = s.server.peers;
  await peer!.close();
  const reason = await closed;
  assert.equal(reason?.code, 'PEER_CLOSED');
  assert.match(reason!.message, /1000/);
  assert.equal(s.client.state, 'closed');
  assert.deepEqual(s.events, ['disconnected PEER_CLOSED', 'closed PEER_CLOSED']);
  assert.equal(s.infos[0]!.code, 1000);
});
