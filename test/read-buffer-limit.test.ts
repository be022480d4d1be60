/**
 * Qt's read buffer rule: never more than maxReadBuffer bytes readable; the
 * rest waits unannounced and comes with its own readyRead once a read makes
 * room. And Qt's waitForBytesWritten return rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pair } from './connection-helpers.js';

test('with maxReadBuffer 128 and 256 bytes sent, at most 128 are readable; after read(128) waitForReadyRead resolves with the rest', async () => {
  const p = await pair({}, { maxReadBuffer: 128 });
  try {
    const sent = Buffer.alloc(256);
    for (let i = 0; i < sent.length; i++) sent[i] = i;
    await p.peer.write(sent);
    const received: Buffer[] = [];
    let most = 0;
    let total = 0;
    while (total < 256) {
      if (p.client.bytesAvailable === 0) await p.client.waitForReadyRead({ timeout: 10_000 });
      most = Math.max(most, p.client.bytesAvailable);
      assert.ok(p.client.bytesAvailable <= 128, `bytesAvailable ${p.client.bytesAvailable} > maxReadBuffer`);
      // Read part of what is there, then ask for more the Qt way: new bytes must be announced.
      const chunk = p.client.read(128);
      received.push(chunk);
      total += chunk.length;
      if (total < 256 && p.client.bytesAvailable === 0) await p.client.waitForReadyRead({ timeout: 10_000 });
    }
    assert.ok(most <= 128);
    assert.deepEqual(Buffer.concat(received), sent);
  } finally {
    await p.close();
  }
});

test('the bound holds over a large transfer read in small pieces, with nothing lost or reordered', async () => {
  const p = await pair({}, { maxReadBuffer: 1000 });
  try {
    const sent = Buffer.alloc(300_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) & 0xff;
    const writing = p.peer.write(sent);
    const received: Buffer[] = [];
    let total = 0;
    while (total < sent.length) {
      if (p.client.bytesAvailable === 0) await p.client.waitForReadyRead({ timeout: 10_000 });
      assert.ok(p.client.bytesAvailable <= 1000, `bytesAvailable ${p.client.bytesAvailable}`);
      const chunk = p.client.read(333);
      received.push(chunk);
      total += chunk.length;
    }
    await writing;
    assert.ok(Buffer.concat(received).equals(sent));
  } finally {
    await p.close();
  }
});

test('the end of stream comes after every byte held back, and readChannelFinished after them', async () => {
  const p = await pair({}, { maxReadBuffer: 64 });
  try {
    let finished = false;
    p.client.on('readChannelFinished', () => {
      finished = true;
    });
    await p.peer.write(Buffer.alloc(200, 1));
    await p.peer.end();
    let total = 0;
    for (;;) {
      if (p.client.bytesAvailable === 0) {
        if (finished) break;
        await p.client.waitForReadyRead({ timeout: 10_000 }).catch(() => {});
        continue;
      }
      assert.ok(p.client.bytesAvailable <= 64);
      assert.equal(finished, false, 'end reported while bytes were still held back');
      total += p.client.read(50).length;
    }
    assert.equal(total, 200);
  } finally {
    await p.close();
  }
});

test('waitForBytesWritten is false with nothing queued (Qt), so a ported while loop ends; true once queued bytes are written', async () => {
  const p = await pair();
  try {
    assert.equal(await p.client.waitForBytesWritten({ timeout: 10_000 }), false);
    // More than the kernel takes at once, to a peer not reading yet: bytes stay queued.
    const writing = p.client.write(Buffer.alloc(4 * 1024 * 1024));
    assert.ok(p.client.bytesToWrite > 0, 'bytes are queued');
    const drain = (): void => {
      p.peer.read();
    };
    p.peer.on('readyRead', drain);
    drain();
    assert.equal(await p.client.waitForBytesWritten({ timeout: 10_000 }), true);
    await writing;
    let rounds = 0;
    while (await p.client.waitForBytesWritten({ timeout: 10_000 })) rounds++;
    assert.equal(rounds, 0, 'nothing left queued: the loop ends at once');
  } finally {
    await p.close();
  }
});
