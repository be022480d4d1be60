/**
 * Typed contracts: a protocol declared once as a type and checked by the
 * compiler on both sides. Each `@ts-expect-error` line fails the build (tsc)
 * if the wrong call it marks were accepted; the calls that must compile run
 * against a real server, so the types describe what actually travels.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  connectMessages, connectReconnecting, listenMessages,
  type MessageServer, type MessageSocket, type ReconnectingClient,
} from '../src/index.js';
import { uniqueName } from './helpers.js';

const KEY = Buffer.alloc(32, 9);

/** The protocol of a small calculator daemon. */
interface Calc {
  server: {
    requests: {
      sum(params: number[]): number;
      divide(params: { a: number; b: number }): number;
      status(): { peers: number };
      slowly(params: number): Promise<string>;
    };
    notifications: { subscribe: string; ping: undefined };
  };
  client: {
    requests: { confirm(params: string): boolean };
    notifications: { news: { topic: string; text: string } };
  };
}

/** Compile-time only: true when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

/**
 * Wrong uses, each of which must fail to compile (never run: the assertion is tsc's). If one of them
 * compiled, its `@ts-expect-error` would be unused, and that is a build error.
 */
export function wrongUses(
  server: MessageServer<Calc>,
  client: MessageSocket<Calc>,
  reconnecting: ReconnectingClient<Calc>,
  peer: MessageSocket<Calc, 'server'>,
): void {
  // @ts-expect-error: wrong method: the server answers no such request
  void client.request('product', [1, 2]);
  // @ts-expect-error: wrong method: 'confirm' is answered by the client, not the server
  void client.request('confirm', 'x');
  // @ts-expect-error: wrong params: sum takes number[]
  void client.request('sum', [1, 'two']);
  // @ts-expect-error: wrong params: divide's params are required
  void client.request('divide');
  // @ts-expect-error: wrong params: a status request takes none
  void client.request('status', { verbose: true });
  // @ts-expect-error: wrong notification params
  void client.notify('subscribe', 42);
  // @ts-expect-error: wrong notification: the server receives no 'news'
  void client.notify('news', { topic: 'x', text: 'y' });
  void (async () => {
    // @ts-expect-error: wrong result use: sum resolves to a number
    const wrongUse: string = await client.request('sum', [1]);
    // @ts-expect-error: wrong result use: status has no 'count'
    void (await client.request('status')).count;
    return wrongUse;
  });
  // @ts-expect-error: wrong handler: the server answers no 'product'
  server.handle('product', () => 1);
  // @ts-expect-error: wrong handler: sum's params are number[], not a string
  server.handle('sum', (text: string) => text.length);
  // @ts-expect-error: wrong handler: sum must return a number
  server.handle('sum', () => 'many');
  // @ts-expect-error: wrong handler: slowly resolves to a string
  server.handle('slowly', async () => 42);
  // @ts-expect-error: wrong handler: 'news' goes to clients; the server does not receive it
  server.onNotification('news', () => {});
  // @ts-expect-error: wrong handler: subscribe's params are a string
  server.onNotification('subscribe', (topic: number) => void topic);
  // @ts-expect-error: broadcast params must match the client's notification
  server.broadcast('news', { topic: 1 });
  // @ts-expect-error: wrong handler on the client side: confirm returns a boolean
  client.handle('confirm', () => 'yes');
  // @ts-expect-error: wrong params through the reconnecting client
  void reconnecting.request('sum', 'four');
  // @ts-expect-error: wrong method through the reconnecting client
  void reconnecting.request('sums', [1]);
  // @ts-expect-error: wrong handler through the reconnecting client
  reconnecting.handle('confirm', (question: number) => question > 0);
  // @ts-expect-error: a server-side peer cannot request what the server itself answers
  void peer.request('sum', [1]);
}

test('a typed contract: results have the declared types, handlers are checked, and the calls work', async () => {
  const server = await listenMessages<Calc>(uniqueName('ct'), { key: KEY });
  server.handle('sum', (numbers) => numbers.reduce((a, b) => a + b, 0));
  server.handle('divide', ({ a, b }) => a / b);
  server.handle('status', () => ({ peers: server.peerCount }));
  server.handle('slowly', async (n, context) => {
    // The handler's context carries the typed peer: it can call the client back.
    const ok = await context.peer.request('confirm', `n=${n}`);
    expectType<Equal<typeof ok, boolean>>();
    return ok ? 'confirmed' : 'refused';
  });
  const topics: string[] = [];
  let pings = 0;
  server.onNotification('subscribe', (topic, peer) => {
    topics.push(topic);
    void peer.notify('news', { topic, text: 'sunny' });
  });
  server.onNotification('ping', () => void pings++);
  try {
    const client = await connectMessages<Calc>(server.server.serverName!, { key: KEY });
    client.handle('confirm', (question) => question.startsWith('n='));
    const news = new Promise<{ topic: string; text: string }>((resolve) => client.onNotification('news', resolve));

    const total = await client.request('sum', [1, 2, 3]);
    expectType<Equal<typeof total, number>>();
    assert.equal(total, 6);
    const ratio = await client.request('divide', { a: 1, b: 4 }, { timeout: 5000 });
    assert.equal(ratio, 0.25);
    const status = await client.request('status');
    expectType<Equal<typeof status, { peers: number }>>();
    assert.equal(status.peers, 1);
    const answer = await client.request('slowly', 7);
    expectType<Equal<typeof answer, string>>();
    assert.equal(answer, 'confirmed');
    await client.notify('ping');
    await client.notify('subscribe', 'weather');
    assert.deepEqual(await news, { topic: 'weather', text: 'sunny' });
    assert.deepEqual(topics, ['weather']);
    assert.equal(pings, 1);
    assert.equal(server.broadcast('news', { topic: 'all', text: 'hello' }), 1);
    const peers = server.peers;
    expectType<Equal<typeof peers, readonly MessageSocket<Calc, 'server'>[]>>();
    assert.equal(await peers[0]!.request('confirm', 'n=1'), true);
    await client.close();
  } finally {
    await server.close();
  }
});

test('a reconnecting client takes the same contract', async () => {
  const server = await listenMessages<Calc>(uniqueName('ct'), { key: KEY });
  server.handle('sum', (numbers) => numbers.reduce((a, b) => a + b, 0));
  try {
    const client = await connectReconnecting<Calc>(server.server.serverName!, { key: KEY });
    const total = await client.request('sum', [4, 5]);
    expectType<Equal<typeof total, number>>();
    assert.equal(total, 9);
    const again = await client.socket!.request('sum', [1]);
    expectType<Equal<typeof again, number>>();
    assert.equal(again, 1);
    await client.close();
  } finally {
    await server.close();
  }
});

test('without a contract everything stays untyped: any method, unknown params and results', async () => {
  const server = await listenMessages(uniqueName('ct'), { key: KEY });
  server.handle('echo', (params, context) => {
    expectType<Equal<typeof params, unknown>>();
    // The untyped peer is interchangeable with a plain MessageSocket, as before.
    const peer: MessageSocket = context.peer;
    const back: typeof context.peer = peer;
    assert.equal(back, peer);
    return params;
  });
  try {
    const client = await connectMessages(server.server.serverName!, { key: KEY });
    const method: string = 'echo';
    const value = await client.request(method, { a: 1 });
    expectType<Equal<typeof value, unknown>>();
    assert.deepEqual(value, { a: 1 });
    assert.equal(await client.request('echo', undefined, { timeout: 5000 }), null);
    await client.notify('anything', [1, 2, 3]);
    await client.close();
  } finally {
    await server.close();
  }
});

/** Compile-only: an untyped result is `unknown`, not `any` (as before contracts existed). */
export function untypedStaysUnknown(client: MessageSocket): void {
  void (async () => {
    const value = await client.request('anything');
    // @ts-expect-error: unknown has no properties
    return value.a;
  });
}
