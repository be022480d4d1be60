/**
 * The read buffer against a model (one concatenated Buffer): random pushes, reads, peeks, searches
 * and clears, with runs long enough to reach the list's compaction (more than 64 chunks read) and
 * its emptying, must give exactly the model's bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadBuffer } from '../src/read-buffer.js';

/** A small deterministic generator (xorshift32), so a failure can be replayed from its seed. */
function generator(seed: number): (n: number) => number {
  let x = seed || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

for (const seed of [1, 7, 42, 1234, 99991]) {
  test(`random operations give the model's bytes (seed ${seed})`, () => {
    const next = generator(seed);
    const buffer = new ReadBuffer();
    let model = Buffer.alloc(0);
    let byte = 0;
    for (let step = 0; step < 20_000; step++) {
      const op = next(100);
      if (op < 45) {
        // Mostly tiny chunks, sometimes bursts of them, so that many wait at once.
        const count = next(10) === 0 ? 1 + next(150) : 1;
        for (let c = 0; c < count; c++) {
          const chunk = Buffer.alloc(next(4) === 0 ? 0 : 1 + next(20));
          for (let i = 0; i < chunk.length; i++) chunk[i] = byte++ & 0xff;
          buffer.push(chunk);
          model = Buffer.concat([model, chunk]);
        }
      } else if (op < 80) {
        const max = next(12) === 0 ? model.length : next(40);
        const got = buffer.read(max);
        assert.deepEqual(got, model.subarray(0, Math.min(max, model.length)), `read at step ${step}`);
        model = model.subarray(got.length);
      } else if (op < 90) {
        const max = next(60);
        assert.deepEqual(buffer.peek(max), model.subarray(0, Math.min(max, model.length)), `peek at step ${step}`);
      } else if (op < 98) {
        const value = next(256);
        const limit = next(80);
        const at = model.subarray(0, limit).indexOf(value);
        assert.equal(buffer.indexOf(value, limit), at, `indexOf at step ${step}`);
      } else {
        buffer.clear();
        model = Buffer.alloc(0);
      }
      assert.equal(buffer.length, model.length, `length at step ${step}`);
    }
  });
}

test('read back to empty, then used again: the same bytes, in order', () => {
  const buffer = new ReadBuffer();
  for (let round = 0; round < 3; round++) {
    const chunks = Array.from({ length: 100 }, (_, i) => Buffer.from([round, i]));
    for (const chunk of chunks) buffer.push(chunk);
    assert.deepEqual(buffer.read(1_000), Buffer.concat(chunks));
    assert.equal(buffer.length, 0);
    assert.deepEqual(buffer.read(10), Buffer.alloc(0));
  }
});

test('a long list read past its middle is compacted, and keeps every unread byte in order', () => {
  const buffer = new ReadBuffer();
  const chunks = Array.from({ length: 100 }, (_, i) => Buffer.from([i]));
  for (const chunk of chunks) buffer.push(chunk);
  // One byte at a time: past 64 chunks read and more than half the list, the unread ones move to the front.
  for (let i = 0; i < 70; i++) assert.deepEqual(buffer.read(1), Buffer.from([i]));
  assert.deepEqual(buffer.peek(5), Buffer.from([70, 71, 72, 73, 74]));
  assert.equal(buffer.indexOf(99, 30), 29);
  buffer.push(Buffer.from([200, 201]));
  assert.deepEqual(buffer.read(1_000), Buffer.concat([...chunks.slice(70), Buffer.from([200, 201])]));
  assert.equal(buffer.length, 0);
});
