/**
 * Write lengths: no length from the caller is trusted.
 * Every bad write argument throws INVALID_ARGUMENT synchronously and queues
 * nothing; valid offset/length select exactly the right bytes; strings are
 * UTF-8; and a reader that never reads keeps the writer's queue at or under
 * its limit while 1 GiB is offered. Options with bad sizes or timeouts are
 * refused the same way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listen, LocalServer, LocalSocket, LocalSocketError } from '../src/index.js';
import { DEFAULTS } from '../src/options.js';
import { WAITING_FACTOR } from '../src/writer.js';
import { uniqueName } from './helpers.js';
import { allSettleWithin, assertSettledWith, delay, pair, rejectsWith, throwsWith } from './connection-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Reads from `socket` until `n` bytes have arrived. */
async function receive(socket: LocalSocket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < n) {
    if (socket.bytesAvailable === 0) await socket.waitForReadyRead({ timeout: 5000 });
    const chunk = socket.read();
    chunks.push(chunk);
    have += chunk.length;
  }
  return Buffer.concat(chunks);
}

// ---- bad arguments ------------------------------------------------------------------

const ten = Buffer.from('0123456789');
const arrayBuffer = new ArrayBuffer(8);

/** [description, data, offset, length] */
const badWrites: Array<[string, unknown, unknown?, unknown?]> = [
  // wrong type of data
  ['a number', 42],
  ['NaN as data', Number.NaN],
  ['a plain object', { length: 3, 0: 1, 1: 2, 2: 3 }],
  ['an empty array', []],
  ['an array of bytes', [1, 2, 3]],
  ['null', null],
  ['undefined', undefined],
  ['true', true],
  ['false', false],
  ['a bigint', 10n],
  ['a symbol', Symbol('x')],
  ['a function', () => 'x'],
  ['a String object', new String('abc')],
  ['an ArrayBuffer', arrayBuffer],
  ['a SharedArrayBuffer', new SharedArrayBuffer(8)],
  ['a DataView', new DataView(arrayBuffer)],
  ['a Uint16Array', new Uint16Array(4)],
  ['a Float64Array', new Float64Array(2)],
  ['a Uint8ClampedArray', new Uint8ClampedArray(4)],
  ['an Int8Array', new Int8Array(4)],
  // bad offset
  ['offset -1', ten, -1],
  ['offset 1.5', ten, 1.5],
  ['offset NaN', ten, Number.NaN],
  ['offset Infinity', ten, Number.POSITIVE_INFINITY],
  ['offset -Infinity', ten, Number.NEGATIVE_INFINITY],
  ['offset past the end', ten, 11],
  ['offset 2^53', ten, 2 ** 53],
  ['offset as a string', ten, '1'],
  ['offset null', ten, null],
  ['offset true', ten, true],
  ['offset as an object', ten, { valueOf: () => 1 }],
  // bad length
  ['length -1', ten, 0, -1],
  ['length 0.5', ten, 0, 0.5],
  ['length NaN', ten, 0, Number.NaN],
  ['length Infinity', ten, 0, Number.POSITIVE_INFINITY],
  ['length past the end', ten, 0, 11],
  ['offset + length past the end', ten, 5, 6],
  ['offset at the end, length 1', ten, 10, 1],
  ['length as a string', ten, 0, '3'],
  ['length null', ten, 0, null],
  ['length a huge integer', ten, 0, Number.MAX_SAFE_INTEGER],
  // strings: offset and length count UTF-8 bytes ('é' is 2 bytes)
  ['string offset past its UTF-8 bytes', 'é', 3],
  ['string length past its UTF-8 bytes', 'é', 0, 3],
  ['string offset + length past its UTF-8 bytes', 'héllo', 4, 3],
];

async function assertBadWritesRefused(socket: LocalSocket): Promise<void> {
  for (const [what, data, offset, length] of badWrites) {
    const before = socket.bytesToWrite;
    // A promise-returning method never throws: the refusal is a rejection, decided before anything is queued.
    let promise: Promise<void> | undefined;
    assert.doesNotThrow(() => {
      promise = (socket.write as (...a: unknown[]) => Promise<void>)(data, offset, length);
    }, `write(${what}) must not throw`);
    assert.equal(socket.bytesToWrite, before, `write(${what}) queued nothing`);
    const err = await rejectsWith(promise!, 'INVALID_ARGUMENT');
    assert.ok(err instanceof LocalSocketError);
  }
}

test('every bad write argument rejects with INVALID_ARGUMENT and queues nothing', async () => {
  // The peer reads nothing and the writer has bytes queued: bytesToWrite is not trivially 0.
  const p = await pair({ maxReadBuffer: 16 * KiB }, { maxWriteBuffer: 256 * KiB });
  try {
    const pending = [p.client.write(Buffer.alloc(4 * MiB)), p.client.write('tail')];
    await delay(20);
    assert.ok(p.client.bytesToWrite > 0, 'bytes are queued');
    await assertBadWritesRefused(p.client);
    // Nothing from the refused writes reached the peer: after the queued bytes come only the
    // bytes of the next good write.
    const marker = p.client.write('END');
    const expected = 4 * MiB + 'tail'.length + 'END'.length;
    const received = await receive(p.peer, expected);
    assert.equal(received.length, expected);
    assert.equal(received.subarray(4 * MiB).toString(), 'tailEND');
    await Promise.all([...pending, marker]);
    await delay(20);
    assert.equal(p.peer.bytesAvailable, 0, 'no extra bytes arrived');
  } finally {
    await p.close();
  }
});

test('bad write arguments are refused with INVALID_ARGUMENT before any state check', async () => {
  const socket = new LocalSocket();
  await assertBadWritesRefused(socket);
  assert.equal(socket.state, 'unconnected');
});

// ---- good arguments -----------------------------------------------------------------

test('valid offset and length select exactly those bytes; strings are UTF-8', async () => {
  const p = await pair();
  try {
    const parent = Buffer.from('--abcdefghij--');
    const view = new Uint8Array(parent.buffer, parent.byteOffset + 2, 10); // "abcdefghij", at an offset in its ArrayBuffer
    const text = 'héllo ✓ 🎉 日本';
    const cases: Array<[unknown, number?, number?]> = [
      [view, 2, 3], // cde
      [view, 7], // hij
      [view, 10], // nothing
      [view, 0, 0], // nothing
      [view, 4, 0], // nothing
      [view, 0, 10], // abcdefghij
      [view], // abcdefghij
      [view.subarray(1, 4), 1, 2], // cd
      [ten, 9, 1], // 9
      [Buffer.from('xyz'), 1], // yz
      [text], // UTF-8 of the whole text
      ['héllo', 1, 2], // é as UTF-8 (c3 a9)
      ['héllo', 3], // llo
      ['', 0, 0], // nothing
      [new Uint8Array([0, 255, 128]), 1, 2], // ff 80
    ];
    let expected = Buffer.alloc(0);
    const writes: Promise<void>[] = [];
    for (const [data, offset, length] of cases) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data as Uint8Array);
      const start = offset ?? 0;
      const end = length === undefined ? bytes.length : start + length;
      expected = Buffer.concat([expected, bytes.subarray(start, end)]);
      writes.push((p.client.write as (...a: unknown[]) => Promise<void>)(data, offset, length));
    }
    await Promise.all(writes);
    const received = await receive(p.peer, expected.length);
    assert.equal(received.toString('hex'), expected.toString('hex'));
    assert.ok(received.includes(Buffer.from([0xc3, 0xa9])), 'é arrived as UTF-8');
    assert.ok(received.includes(Buffer.from('🎉', 'utf8')), 'the emoji arrived as UTF-8');
    // The caller's buffer was not changed.
    assert.equal(parent.toString(), '--abcdefghij--');
  } finally {
    await p.close();
  }
});

// ---- a bounded write queue while 1 GiB is offered -----------------------------------

interface Sampler {
  max: number;
  samples: number;
  violations: number[];
  sample(): void;
}

function sampler(socket: LocalSocket, limit: number): Sampler {
  const s: Sampler = {
    max: 0,
    samples: 0,
    violations: [],
    sample() {
      const n = socket.bytesToWrite;
      s.samples++;
      if (n > s.max) s.max = n;
      if (n > limit && s.violations.length < 10) s.violations.push(n);
    },
  };
  socket.on('bytesWritten', () => s.sample());
  return s;
}

/** Waits until no bytesWritten event came for `quietMs` (kernel buffers full), at most `maxMs`. */
async function untilStalled(socket: LocalSocket, quietMs: number, maxMs: number): Promise<void> {
  let last = Date.now();
  const onWritten = (): void => {
    last = Date.now();
  };
  socket.on('bytesWritten', onWritten);
  const started = Date.now();
  try {
    while (Date.now() - last < quietMs && Date.now() - started < maxMs) await delay(25);
  } finally {
    socket.off('bytesWritten', onWritten);
  }
}

function memory(): { rss: number; arrayBuffers: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, arrayBuffers: m.arrayBuffers };
}

test('a reader that never reads: bytesToWrite stays within maxWriteBuffer, and writes nobody awaits fail the connection (RESOURCE_EXHAUSTED) once 64 buffers wait', { timeout: 60_000 }, async () => {
  const limit = DEFAULTS.maxWriteBuffer;
  const p = await pair({}, {}); // default limits on both sides; the server side never reads
  try {
    assert.equal(p.client.maxWriteBuffer, limit);
    const s = sampler(p.client, limit);
    const chunk = Buffer.alloc(MiB, 0x5a);
    const before = memory();
    const writes: Promise<void>[] = [];
    let offered = 0;
    // Up to 1 GiB, none awaited: the writer's waiting list takes WAITING_FACTOR buffers' worth, then fails the connection.
    while (offered < GiB && p.client.state === 'connected') {
      writes.push(p.client.write(chunk));
      offered += chunk.length;
      s.sample();
    }
    s.sample();
    const after = memory();
    assert.equal(p.client.state, 'unconnected', 'the connection failed instead of holding more');
    assert.equal(p.client.lastError?.code, 'RESOURCE_EXHAUSTED');
    // One write accepted, one heading the waiting list, WAITING_FACTOR behind it, and the one refused.
    assert.equal(writes.length, WAITING_FACTOR + 3, `writes taken before the cap: ${writes.length}`);
    assert.deepEqual(s.violations, [], `bytesToWrite exceeded ${limit}`);
    assert.ok(s.max > 0 && s.max <= limit, `max bytesToWrite ${s.max}`);
    // The reader's buffer is bounded too: it stopped reading from the kernel.
    assert.ok(p.peer.bytesAvailable <= p.peer.maxReadBuffer + 256 * KiB, `reader buffered ${p.peer.bytesAvailable}`);
    // Memory grew by nowhere near what was offered (the writes reference one reused buffer).
    const grewRss = after.rss - before.rss;
    const grewBuffers = after.arrayBuffers - before.arrayBuffers;
    assert.ok(grewRss < 256 * MiB, `rss grew by ${(grewRss / MiB).toFixed(1)} MiB`);
    assert.ok(grewBuffers < 64 * MiB, `arrayBuffers grew by ${(grewBuffers / MiB).toFixed(1)} MiB`);
    const results = await allSettleWithin(writes, 10_000, 'writes after the overflow');
    const codes = assertSettledWith(results, ['RESOURCE_EXHAUSTED'], 'writes after the overflow');
    assert.ok((codes.get('RESOURCE_EXHAUSTED') ?? 0) > WAITING_FACTOR, 'what was waiting was rejected');
  } finally {
    await p.close();
  }
});

test('a reader that never reads: one 1 GiB write is taken in pieces, never queued whole or copied', { timeout: 60_000 }, async () => {
  const limit = 256 * KiB;
  const p = await pair({ maxReadBuffer: 64 * KiB }, { maxWriteBuffer: limit });
  try {
    const s = sampler(p.client, limit);
    const before = memory();
    // Not zero-filled: its pages stay untouched (not resident) unless someone copies the whole of it.
    const huge = Buffer.allocUnsafe(GiB);
    const write = p.client.write(huge);
    s.sample();
    await untilStalled(p.client, 500, 10_000);
    s.sample();
    const after = memory();
    assert.deepEqual(s.violations, [], `bytesToWrite exceeded ${limit}`);
    assert.ok(s.max > 0 && s.max <= limit, `max bytesToWrite ${s.max}`);
    const grewRss = after.rss - before.rss;
    assert.ok(grewRss < 256 * MiB, `rss grew by ${(grewRss / MiB).toFixed(1)} MiB: the write was copied`);
    p.client.abort();
    await rejectsWith(write, 'ABORTED');
  } finally {
    await p.close();
  }
});

// ---- options ----------------------------------------------------------------------

const badSizes: unknown[] = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1024', null, true, {}, 2 ** 53];
const badTimeouts: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '100', null, true, {}, 2 ** 31, 2 ** 53];

test('options: bad buffer sizes and timeouts are INVALID_ARGUMENT for sockets, connect() and waits', async () => {
  const name = uniqueName('opt');
  for (const key of ['maxReadBuffer', 'maxWriteBuffer']) {
    for (const value of badSizes) {
      const what = `${key}: ${String(value)}`;
      throwsWith(() => new LocalSocket({ [key]: value }), 'INVALID_ARGUMENT', `new LocalSocket(${what})`);
      await rejectsWith(connect(name, { [key]: value }), 'INVALID_ARGUMENT', `connect(${what})`);
    }
  }
  for (const key of ['timeout', 'idleTimeout', 'closeTimeout', 'handshakeTimeout']) {
    for (const value of badTimeouts) {
      const what = `${key}: ${String(value)}`;
      if (key !== 'timeout' && key !== 'handshakeTimeout') {
        throwsWith(() => new LocalSocket({ [key]: value }), 'INVALID_ARGUMENT', `new LocalSocket(${what})`);
      }
      await rejectsWith(connect(name, { [key]: value }), 'INVALID_ARGUMENT', `connect(${what})`);
    }
  }
  const socket = new LocalSocket();
  for (const value of badTimeouts) {
    for (const wait of ['waitForConnected', 'waitForReadyRead', 'waitForBytesWritten', 'waitForDisconnected'] as const) {
      let outcome: Promise<unknown>;
      try {
        outcome = socket[wait]({ timeout: value as number });
      } catch (err) {
        outcome = Promise.reject(err);
      }
      await rejectsWith(outcome, 'INVALID_ARGUMENT', `${wait}({ timeout: ${String(value)} })`);
    }
  }
  for (const bad of [42, 'x', null, { signal: {} }, { signal: 'abort' }]) {
    let outcome: Promise<unknown>;
    try {
      outcome = socket.waitForReadyRead(bad as never);
    } catch (err) {
      outcome = Promise.reject(err);
    }
    await rejectsWith(outcome, 'INVALID_ARGUMENT', `waitForReadyRead(${JSON.stringify(bad)})`);
  }
  // Sizes and timeouts at the edges are fine: the smallest size, a past deadline.
  const fine = new LocalSocket({ maxReadBuffer: 1, maxWriteBuffer: 1, idleTimeout: 0, closeTimeout: -5 });
  assert.equal(fine.maxReadBuffer, 1);
});

test('options: bad server limits, sizes and timeouts are INVALID_ARGUMENT', async () => {
  const cases: Array<[string, unknown[]]> = [
    ['maxReadBuffer', badSizes],
    ['maxWriteBuffer', badSizes],
    ['maxPendingConnections', badSizes],
    ['maxConnections', badSizes.filter((v) => v !== Number.POSITIVE_INFINITY)], // Infinity: no limit
    ['idleTimeout', badTimeouts],
    ['closeTimeout', badTimeouts],
    ['handshakeTimeout', badTimeouts],
  ];
  for (const [key, values] of cases) {
    for (const value of values) {
      const what = `${key}: ${String(value)}`;
      let outcome: Promise<unknown>;
      try {
        const server = new LocalServer({ [key]: value });
        outcome = server.listen(uniqueName('opt')).then(() => server.close());
      } catch (err) {
        outcome = Promise.reject(err);
      }
      await rejectsWith(outcome, 'INVALID_ARGUMENT', `server ${what}`);
      await rejectsWith(listen(uniqueName('opt'), { [key]: value }), 'INVALID_ARGUMENT', `listen(${what})`);
    }
  }
  const server = await listen(uniqueName('opt'), { maxConnections: Number.POSITIVE_INFINITY });
  try {
    for (const value of badTimeouts) {
      let outcome: Promise<unknown>;
      try {
        outcome = server.waitForNewConnection({ timeout: value as number });
      } catch (err) {
        outcome = Promise.reject(err);
      }
      await rejectsWith(outcome, 'INVALID_ARGUMENT', `waitForNewConnection({ timeout: ${String(value)} })`);
    }
  } finally {
    await server.close();
  }
});

test('read sizes: bad maxBytes / maxLength are INVALID_ARGUMENT and consume nothing', async () => {
  const p = await pair();
  try {
    await p.peer.write('line one\nline two\n');
    while (p.client.bytesAvailable < 18) await p.client.waitForReadyRead({ timeout: 5000 });
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4', null, {}]) {
      throwsWith(() => p.client.read(bad as number), 'INVALID_ARGUMENT', `read(${String(bad)})`);
      throwsWith(() => p.client.peek(bad as number), 'INVALID_ARGUMENT', `peek(${String(bad)})`);
      throwsWith(() => p.client.readLine(bad as number), 'INVALID_ARGUMENT', `readLine(${String(bad)})`);
    }
    throwsWith(() => p.client.readLine(0), 'INVALID_ARGUMENT', 'readLine(0)');
    assert.equal(p.client.bytesAvailable, 18, 'nothing was consumed');
    assert.equal(p.client.read(4).toString(), 'line');
    assert.equal(p.client.peek(100).toString(), ' one\nline two\n', 'peek past the end returns what there is');
    assert.equal(p.client.readLine(100)?.toString(), ' one\n');
  } finally {
    await p.close();
  }
});
