/**
 * The Writer alone, with a fake sink: a long run of writes in one tick is
 * handed to the sink in pieces as it grows, not only at the end of the tick,
 * so the kernel and the reader work while the caller goes on producing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writer } from '../src/writer.js';

test('a run of small writes in one tick reaches the sink in 64 KiB pieces before the tick ends, in order', async () => {
  const seen: Buffer[] = [];
  const callbacks: Array<() => void> = [];
  const sink = {
    write(chunk: Uint8Array, callback: (err?: Error | null) => void): boolean {
      seen.push(Buffer.from(chunk));
      callbacks.push(() => callback());
      return true;
    },
  };
  const writer = new Writer(sink, 1024 * 1024, () => {});
  const piece = 1024;
  const count = 300;
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < count; i++) last = writer.write(Buffer.alloc(piece, i & 0xff));
  // Still in the same tick: the first write went at once, and full 64 KiB pieces followed it.
  const handedBeforeTickEnd = seen.reduce((n, b) => n + b.length, 0);
  assert.ok(handedBeforeTickEnd >= 64 * 1024 * 4, `handed over before the tick ended: ${handedBeforeTickEnd} bytes`);
  for (const b of seen.slice(1)) assert.ok(b.length <= 64 * 1024 + piece);
  await new Promise((r) => process.nextTick(r));
  for (const c of callbacks.splice(0)) c();
  await last;
  const all = Buffer.concat(seen);
  assert.equal(all.length, piece * count);
  for (let i = 0; i < count; i++) assert.equal(all[i * piece], i & 0xff, `write ${i} in its place`);
});
