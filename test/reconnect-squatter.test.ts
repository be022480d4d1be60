/**
 * A reconnecting client against a squatter: while the real server restarts,
 * something else holds the shared full path and answers the handshake with a
 * proof made with another key. Once the client has been authenticated by the
 * real server, that wrong proof is reported (`authFailed`) and retried with
 * the backoff, so the client is back on the real server when it returns.
 * Before any connection, AUTH_FAILED stays fatal (a wrong key is a
 * configuration problem).
 *
 * The squatter here is a server of the same user with another key: the
 * client cannot tell who runs a server, only whether its proof matches, so
 * this is what a second user's squatter looks like from the client.
 * Runs over named pipes under Windows too (the full name is a pipe name there).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { connectReconnecting, listenMessages, ReconnectingClient, type LocalSocketError, type MessageServer, type ReconnectingClientEvents } from '../src/index.js';
import { rejectsWith } from './connection-helpers.js';
import { fullName, sharedTempDir } from './helpers.js';

const KEY = Buffer.alloc(32, 5);
const SQUATTER_KEY = Buffer.alloc(32, 6);
/** How long the squatter holds the path: a restart window, not a timing assertion. */
const SQUAT_MS = 3000;
const GUARD_MS = 60_000;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function sharedName(base: string): string {
  const dir = sharedTempDir('lstest-squat-');
  dirs.push(dir);
  return fullName(dir, base);
}

async function realServer(name: string): Promise<MessageServer> {
  const server = await listenMessages(name, { key: KEY });
  server.handle('who', () => 'real');
  return server;
}

async function squatter(name: string): Promise<MessageServer> {
  const server = await listenMessages(name, { key: SQUATTER_KEY });
  server.handle('who', () => 'squatter');
  return server;
}

/** The arguments of the client's next `event`. */
function next<K extends keyof ReconnectingClientEvents>(client: ReconnectingClient, event: K): Promise<ReconnectingClientEvents[K]> {
  return new Promise((resolve) => client.once(event, (...args) => resolve(args)));
}

describe('a squatter during a restart', () => {
  test(`a squatter answering with a wrong proof for ${SQUAT_MS / 1000} s while the real server restarts: authFailed is reported, and the client is back on the real server`, { timeout: GUARD_MS }, async () => {
    const name = sharedName('svc.sock');
    let real: MessageServer | null = await realServer(name);
    let squat: MessageServer | null = null;
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 20, maxDelay: 200, timeout: 5000 });
    const failures: Array<[LocalSocketError, number]> = [];
    let closed: LocalSocketError | null | undefined;
    client.on('authFailed', (err, attempt) => failures.push([err, attempt]));
    client.on('closed', (reason) => (closed = reason));
    try {
      assert.equal(await client.request('who'), 'real');
      const lost = next(client, 'disconnected');
      await real.close();
      real = null;
      await lost;
      squat = await squatter(name);
      // The first wrong proof, then the rest of the restart window.
      await next(client, 'authFailed');
      await new Promise((r) => setTimeout(r, SQUAT_MS));
      assert.ok(client.state !== 'closed', 'the squatter did not stop the client');
      await squat.close();
      squat = null;
      const back = next(client, 'connected');
      real = await realServer(name);
      await back;
      assert.equal(await client.request('who'), 'real', 'back on the real server');
      assert.ok(failures.length >= 1, 'authFailed reported');
      for (const [err, attempt] of failures) {
        assert.equal(err.code, 'AUTH_FAILED');
        assert.ok(Number.isInteger(attempt) && attempt >= 1);
      }
      assert.equal(closed, undefined, 'never closed');
      assert.equal(client.connectCount, 2);
    } finally {
      await client.close();
      await squat?.close();
      await real?.close();
    }
  });

  test('after a first connection, a squatter that stays is retried only within maxAttempts, then the client closes with AUTH_FAILED', { timeout: GUARD_MS }, async () => {
    const name = sharedName('svc2.sock');
    const real = await realServer(name);
    // A first retry a second after the loss: the squatter is up by then (it listens right after the loss).
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 1000, maxDelay: 1000, jitter: 0, maxAttempts: 3, timeout: 5000 });
    let failures = 0;
    let attempts = 0;
    client.on('authFailed', () => failures++);
    client.on('connecting', () => attempts++);
    let squat: MessageServer | null = null;
    try {
      const lost = next(client, 'disconnected');
      await real.close();
      await lost;
      squat = await squatter(name);
      const [reason] = await next(client, 'closed');
      assert.equal(reason?.code, 'AUTH_FAILED');
      assert.equal(attempts, 3, 'maxAttempts bounds the retries');
      assert.equal(failures, 3, 'each failed attempt was reported');
    } finally {
      await client.close();
      await squat?.close();
    }
  });

  test('before any connection, a wrong proof is still fatal: the client closes with AUTH_FAILED, no authFailed event', { timeout: GUARD_MS }, async () => {
    const name = sharedName('svc3.sock');
    const squat = await squatter(name);
    try {
      const client = new ReconnectingClient(name, { key: KEY, initialDelay: 10, maxDelay: 50 });
      let failures = 0;
      let attempts = 0;
      client.on('authFailed', () => failures++);
      client.on('connecting', () => attempts++);
      const waiting = client.waitForConnected({ timeout: GUARD_MS });
      client.start();
      await rejectsWith(waiting, 'AUTH_FAILED');
      assert.equal(client.state, 'closed');
      assert.equal(attempts, 1, 'no retry');
      assert.equal(failures, 0);
    } finally {
      await squat.close();
    }
  });
});
