/**
 * Byte level, as Qt means it: the peer going away while this side writes or
 * closes (EPIPE, or ECONNRESET after its end-of-stream or during our close) is
 * PEER_CLOSED (Qt's PeerClosedError), never CONNECTION_ERROR, and like any
 * close by the peer it is no `error` event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalSocketError, type LocalSocket } from '../src/index.js';
import { pair } from './connection-helpers.js';
import { isWindows } from './helpers.js';

/** What the OS reported under a PEER_CLOSED: EPIPE or ECONNRESET (on Windows libuv's EOF for a broken pipe, too). */
const PEER_GONE = isWindows ? /^(EPIPE|ECONNRESET|EOF|ERROR_BROKEN_PIPE|ERROR_NO_DATA)$/ : /^(EPIPE|ECONNRESET)$/;

function causeCode(err: LocalSocketError): string {
  return String((err.cause as { code?: unknown } | undefined)?.code);
}

/** Writes until one write fails; returns that failure. Bounded: gives up after `max` writes. */
async function writeUntilFailure(socket: LocalSocket, chunk: Buffer, max = 10_000): Promise<LocalSocketError> {
  for (let i = 0; i < max; i++) {
    try {
      await socket.write(chunk);
    } catch (err) {
      assert.ok(err instanceof LocalSocketError, String(err));
      return err;
    }
  }
  assert.fail(`${max} writes to a closed peer all succeeded`);
}

/** Waits for `event` (or the end of the connection) on `socket`, at once if `done()` already holds; a guard keeps it from hanging. */
function reached(socket: LocalSocket, event: 'disconnected' | 'readChannelFinished', done: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    if (done()) {
      resolve();
      return;
    }
    const finish = (): void => {
      clearTimeout(timer);
      socket.off(event, finish);
      socket.off('disconnected', finish);
      resolve();
    };
    const timer = setTimeout(() => reject(new Error(`no ${event} within 20 s`)), 20_000);
    socket.on(event, finish);
    socket.on('disconnected', finish);
  });
}

test('a write after the peer closed (EPIPE, or a reset after its end-of-stream) is PEER_CLOSED, with no error event', async () => {
  for (let round = 0; round < 20; round++) {
    // Half-open: the client may still write after the peer's end-of-stream, which is how EPIPE arises.
    const p = await pair({}, { allowHalfOpen: true });
    try {
      const errors: LocalSocketError[] = [];
      p.client.on('error', (e) => errors.push(e));
      let finished = false;
      p.client.once('readChannelFinished', () => (finished = true));
      // Unread bytes on the peer make its close a reset on Unix (ECONNRESET) in some rounds.
      if (round % 2 === 1) await p.client.write(Buffer.alloc(4096));
      p.peer.abort();
      await reached(p.client, 'readChannelFinished', () => finished || p.client.state === 'unconnected');
      if (p.client.state === 'unconnected') {
        // The reset came first and ended the connection: it is the peer's close too.
        assert.equal(p.client.lastError?.code, 'PEER_CLOSED', `round ${round}: ${p.client.lastError?.message}`);
      } else {
        const err = await writeUntilFailure(p.client, Buffer.alloc(64 * 1024));
        assert.equal(err.code, 'PEER_CLOSED', `round ${round}: ${err.code} ${err.message}`);
        assert.match(causeCode(err), PEER_GONE, `round ${round}`);
        assert.equal(p.client.lastError, err);
      }
      assert.deepEqual(errors, [], `round ${round}: no error event`);
    } finally {
      await p.close();
    }
  }
});

test('the peer closing under pending writes (EPIPE or ECONNRESET) fails them PEER_CLOSED, never CONNECTION_ERROR', async () => {
  const seen = new Map<string, number>();
  for (let round = 0; round < 20; round++) {
    // The peer reads nothing past 16 KiB; the client queues up to 256 KiB more.
    const p = await pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 256 * 1024 });
    try {
      const errors: LocalSocketError[] = [];
      p.client.on('error', (e) => errors.push(e));
      const writes = Array.from({ length: 8 }, () => p.client.write(Buffer.alloc(128 * 1024)));
      // Once the kernel buffers are full the writes wait: then the peer goes away with our bytes unread.
      await new Promise((resolve) => setImmediate(resolve));
      p.peer.abort();
      const results = await Promise.allSettled(writes);
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        const err = r.reason as LocalSocketError;
        seen.set(err.code, (seen.get(err.code) ?? 0) + 1);
        assert.equal(err.code, 'PEER_CLOSED', `round ${round}: ${err.code} ${err.message}`);
      }
      await reached(p.client, 'disconnected', () => p.client.state === 'unconnected');
      assert.equal(p.client.lastError?.code, 'PEER_CLOSED');
      assert.deepEqual(errors, [], `round ${round}: no error event`);
    } finally {
      await p.close();
    }
  }
  assert.ok((seen.get('PEER_CLOSED') ?? 0) > 0, 'some writes met the close');
});

test('the peer going away during our close (disconnectFromServer flushing) is PEER_CLOSED: the close resolves, no error event', async () => {
  for (let round = 0; round < 20; round++) {
    const p = await pair({ maxReadBuffer: 16 * 1024 }, { maxWriteBuffer: 256 * 1024 });
    try {
      const errors: LocalSocketError[] = [];
      p.client.on('error', (e) => errors.push(e));
      const writes = Array.from({ length: 4 }, () => p.client.write(Buffer.alloc(128 * 1024)));
      const closing = p.client.disconnectFromServer();
      await new Promise((resolve) => setImmediate(resolve));
      p.peer.abort();
      await closing;
      for (const r of await Promise.allSettled(writes)) {
        if (r.status === 'rejected') assert.equal((r.reason as LocalSocketError).code, 'PEER_CLOSED', `round ${round}: ${(r.reason as Error).message}`);
      }
      assert.equal(p.client.state, 'unconnected');
      assert.deepEqual(errors, [], `round ${round}: no error event`);
    } finally {
      await p.close();
    }
  }
});
