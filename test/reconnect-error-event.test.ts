/**
 * The reconnecting client is an EventEmitter, but its `error` event keeps
 * the rule it had before: emitted only to a listener. A client nobody
 * listens to for `error` closes on a fatal connect error (a key mismatch)
 * without throwing, with the reason on `closed`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listenMessages, ReconnectingClient, type LocalSocketError } from '../src/index.js';
import { uniqueName } from './helpers.js';

test('a fatal error with no error listener closes the client, reported on closed, nothing thrown', async () => {
  const name = uniqueName('noerr');
  const server = await listenMessages(name, { key: Buffer.alloc(32, 1) });
  try {
    const client = new ReconnectingClient(name, { key: Buffer.alloc(32, 2), timeout: 5000 });
    assert.equal(client.listenerCount('error'), 0);
    // Not events.once(): it listens for 'error' itself.
    const closed = new Promise<LocalSocketError | null>((resolve) => client.once('closed', resolve));
    client.start();
    const reason = await closed;
    assert.equal(reason?.code, 'AUTH_FAILED');
    assert.equal(client.state, 'closed');
  } finally {
    await server.close();
  }
});

test('with a listener, the same error is emitted before closed', async () => {
  const name = uniqueName('witherr');
  const server = await listenMessages(name, { key: Buffer.alloc(32, 1) });
  try {
    const client = new ReconnectingClient(name, { key: Buffer.alloc(32, 2), timeout: 5000 });
    const seen: string[] = [];
    client.on('error', (err) => seen.push(`error ${err.code}`));
    const closed = new Promise<void>((resolve) => client.once('closed', () => resolve()));
    client.on('closed', (reason) => seen.push(`closed ${reason?.code}`));
    client.start();
    await closed;
    assert.deepEqual(seen, ['error AUTH_FAILED', 'closed AUTH_FAILED']);
  } finally {
    await server.close();
  }
});
