/**
 * The pure frame decoder and encoder, byte by byte (no sockets): splits at
 * every byte, many frames per chunk, empty payloads, limits off by one, bad
 * types, split headers, views versus copies; then property tests with random
 * splits of random frame sequences.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LocalSocketError } from '../src/index.js';
import { DEFAULT_MAX_MESSAGE_SIZE, encodeFrameHeader, FRAME_HEADER_BYTES, FrameDecoder, FrameType } from '../src/messages/frame.js';

interface Frame {
  type: number;
  payload: Buffer;
}

function frame(type: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([encodeFrameHeader(type, body.length), body]);
}

/** Feeds `chunks` in order and returns the frames delivered (payloads copied, so views cannot change under us). */
function decodeAll(chunks: Buffer[], max = DEFAULT_MAX_MESSAGE_SIZE, decoder = new FrameDecoder(max)): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) decoder.push(chunk, (type, payload) => out.push({ type, payload: Buffer.from(payload) }));
  return out;
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof LocalSocketError && e.code === code);
}

const J = FrameType.JSON;
const B = FrameType.BINARY;

describe('frame header', () => {
  test('type byte, then the length as uint32 big-endian', () => {
    assert.deepEqual([...encodeFrameHeader(J, 0)], [0x4a, 0, 0, 0, 0]);
    assert.deepEqual([...encodeFrameHeader(B, 0x01020304)], [0x42, 1, 2, 3, 4]);
    assert.deepEqual([...encodeFrameHeader(B, 0xffffffff)], [0x42, 0xff, 0xff, 0xff, 0xff]);
    assert.equal(FRAME_HEADER_BYTES, 5);
  });

  test('an unknown type or a length out of range is refused with INVALID_ARGUMENT', () => {
    throwsCode(() => encodeFrameHeader(0x43, 1), 'INVALID_ARGUMENT');
    throwsCode(() => encodeFrameHeader(J, -1), 'INVALID_ARGUMENT');
    throwsCode(() => encodeFrameHeader(J, 2 ** 32), 'INVALID_ARGUMENT');
    throwsCode(() => encodeFrameHeader(J, 1.5), 'INVALID_ARGUMENT');
  });

  test('the decoder refuses a bad limit with INVALID_ARGUMENT', () => {
    throwsCode(() => new FrameDecoder(-1), 'INVALID_ARGUMENT');
    throwsCode(() => new FrameDecoder(2 ** 32), 'INVALID_ARGUMENT');
    throwsCode(() => new FrameDecoder(Number.NaN), 'INVALID_ARGUMENT');
  });
});

describe('frame decoder', () => {
  const stream = Buffer.concat([frame(J, '{"a":1}'), frame(B, Buffer.alloc(0)), frame(B, Buffer.from([0, 1, 2, 255])), frame(J, '"x"')]);
  const expected: Frame[] = [
    { type: J, payload: Buffer.from('{"a":1}') },
    { type: B, payload: Buffer.alloc(0) },
    { type: B, payload: Buffer.from([0, 1, 2, 255]) },
    { type: J, payload: Buffer.from('"x"') },
  ];

  test('many frames in one chunk, empty payloads included', () => {
    assert.deepEqual(decodeAll([stream]), expected);
  });

  test('split in two at every byte', () => {
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(decodeAll([stream.subarray(0, at), stream.subarray(at)]), expected, `split at ${at}`);
    }
  });

  test('split in three at every pair of bytes', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const got = decodeAll([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        assert.deepEqual(got, expected, `split at ${a}, ${b}`);
      }
    }
  });

  test('pushSlices hands out the same frames as push, at every split point', () => {
    for (let at = 0; at <= stream.length; at++) {
      const decoder = new FrameDecoder(100);
      const got: Frame[] = [];
      for (const chunk of [stream.subarray(0, at), stream.subarray(at)]) {
        decoder.pushSlices(chunk, (type, source, start, end) => void got.push({ type, payload: Buffer.from(source.subarray(start, end)) }));
      }
      assert.deepEqual(got, expected, `split at ${at}`);
    }
  });

  test('one byte at a time, and empty chunks in between', () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1), Buffer.alloc(0));
    assert.deepEqual(decodeAll(chunks), expected);
  });

  test('a header split across chunks is held (buffered counts it), nothing is delivered early', () => {
    const decoder = new FrameDecoder(100);
    const f = frame(B, Buffer.from([7, 8, 9]));
    const got: Frame[] = [];
    const on = (type: number, payload: Buffer): void => void got.push({ type, payload: Buffer.from(payload) });
    decoder.push(f.subarray(0, 2), on);
    assert.equal(decoder.buffered, 2);
    decoder.push(f.subarray(2, 4), on);
    assert.equal(decoder.buffered, 4);
    decoder.push(f.subarray(4, 6), on);
    assert.equal(decoder.buffered, 6);
    assert.equal(got.length, 0);
    decoder.push(f.subarray(6), on);
    assert.equal(decoder.buffered, 0);
    assert.deepEqual(got, [{ type: B, payload: Buffer.from([7, 8, 9]) }]);
  });

  test('a frame inside one chunk is a view of it; a split frame is assembled into exactly its size', () => {
    // Buffer.alloc never hands out the shared pool: `.buffer` then tells a view from a copy.
    const a = Buffer.alloc(10);
    frame(B, Buffer.from('hello')).copy(a);
    const chunk = Buffer.alloc(20);
    a.copy(chunk);
    a.copy(chunk, 10);
    const views: Buffer[] = [];
    new FrameDecoder(100).push(chunk, (_t, p) => void views.push(p));
    assert.equal(views.length, 2);
    for (const v of views) assert.equal(v.buffer, chunk.buffer, 'a view of the chunk, not a copy');
    const decoder = new FrameDecoder(100);
    const pieces: Buffer[] = [];
    decoder.push(a.subarray(0, 7), (_t, p) => void pieces.push(p));
    decoder.push(a.subarray(7), (_t, p) => void pieces.push(p));
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]!.toString(), 'hello');
    assert.notEqual(pieces[0]!.buffer, a.buffer);
    assert.equal(pieces[0]!.byteLength, 5);
  });

  test('limit off by one: exactly maxMessageSize passes, one more is MESSAGE_TOO_LARGE at the header', () => {
    assert.deepEqual(decodeAll([frame(B, Buffer.alloc(10, 1))], 10), [{ type: B, payload: Buffer.alloc(10, 1) }]);
    const decoder = new FrameDecoder(10);
    // Only the header: refused before any payload byte arrives (so nothing could have been allocated for it).
    throwsCode(() => decoder.push(encodeFrameHeader(B, 11), () => assert.fail('no frame')), 'MESSAGE_TOO_LARGE');
    // A 4 GiB announcement is refused just the same, at once.
    throwsCode(() => new FrameDecoder(10).push(encodeFrameHeader(J, 0xffffffff), () => {}), 'MESSAGE_TOO_LARGE');
    // Limit 0: only empty frames.
    assert.deepEqual(decodeAll([frame(B, Buffer.alloc(0))], 0), [{ type: B, payload: Buffer.alloc(0) }]);
    throwsCode(() => decodeAll([frame(B, Buffer.alloc(1))], 0), 'MESSAGE_TOO_LARGE');
  });

  test('an oversize header split across chunks is refused when its last byte arrives', () => {
    const decoder = new FrameDecoder(10);
    const header = encodeFrameHeader(J, 11);
    for (let i = 0; i < 4; i++) decoder.push(header.subarray(i, i + 1), () => assert.fail('no frame'));
    throwsCode(() => decoder.push(header.subarray(4), () => assert.fail('no frame')), 'MESSAGE_TOO_LARGE');
  });

  test('a bad type is PROTOCOL_ERROR, whole or split, first frame or later; frames before it are delivered', () => {
    for (const bad of [0x00, 0x41, 0x43, 0x4b, 0x6a, 0xff]) {
      const bytes = Buffer.concat([frame(J, '1'), Buffer.from([bad, 0, 0, 0, 0])]);
      const got: number[] = [];
      throwsCode(() => new FrameDecoder(100).push(bytes, (t) => void got.push(t)), 'PROTOCOL_ERROR');
      assert.deepEqual(got, [J]);
      for (let at = 0; at <= bytes.length; at++) {
        throwsCode(() => decodeAll([bytes.subarray(0, at), bytes.subarray(at)], 100), 'PROTOCOL_ERROR');
      }
    }
  });

  test('after an error the decoder stays failed', () => {
    const decoder = new FrameDecoder(100);
    throwsCode(() => decoder.push(Buffer.from([0x58, 0, 0, 0, 0]), () => {}), 'PROTOCOL_ERROR');
    throwsCode(() => decoder.push(frame(J, '1'), () => assert.fail('no frame after failure')), 'PROTOCOL_ERROR');
    assert.equal(decoder.buffered, 0);
  });

  test('an error thrown by the handler propagates and stops delivery in that chunk', () => {
    const decoder = new FrameDecoder(100);
    const got: string[] = [];
    assert.throws(
      () => decoder.push(Buffer.concat([frame(J, '1'), frame(J, '2')]), (_t, p) => {
        got.push(p.toString());
        throw new Error('stop');
      }),
      /stop/,
    );
    assert.deepEqual(got, ['1']);
  });

  test('a large payload split into many chunks is assembled once, bytes intact', () => {
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const bytes = frame(B, payload);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65_536) chunks.push(bytes.subarray(i, i + 65_536));
    const got = decodeAll(chunks, 300_000);
    assert.equal(got.length, 1);
    assert.ok(got[0]!.payload.equals(payload));
  });
});

describe('frame decoder, property tests', () => {
  // Cheap cases: each frame is drawn as one integer (type bit, length 0..12, a fill seed) and the cut
  // points as plain integers reduced modulo the stream's length; fast-check then spends its time on cases.
  const caseArb = fc.tuple(fc.array(fc.nat(0xffff), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }));
  function framesOf(specs: number[]): Frame[] {
    return specs.map((spec) => {
      const payload = Buffer.allocUnsafe((spec >> 1) % 13);
      for (let i = 0; i < payload.length; i++) payload[i] = (spec >> 4) + i * 37;
      return { type: spec & 1 ? J : B, payload };
    });
  }

  /** Decodes `frames` encoded then cut at `cuts`; true when exactly the same frames come out. */
  function roundTrips(frames: Frame[], cuts: number[]): boolean {
    const bytes = Buffer.concat(frames.map((f) => frame(f.type, f.payload)));
    const points = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
    const decoder = new FrameDecoder(12);
    let index = 0;
    let ok = true;
    const on = (type: number, payload: Buffer): void => {
      const want = frames[index++];
      if (!want || want.type !== type || !want.payload.equals(payload)) ok = false;
    };
    let from = 0;
    for (const at of points) {
      decoder.push(bytes.subarray(from, at), on);
      from = at;
    }
    decoder.push(bytes.subarray(from), on);
    return ok && index === frames.length && decoder.buffered === 0;
  }

  // 1,000,000 generated cases in total: 40 runs of 25,000 (cheap cases; each run has its own seed).
  const RUNS = 40;
  const PER_RUN = 25_000;
  test(`random frames cut at random points decode to the same frames (${RUNS} x ${PER_RUN.toLocaleString('en')} = ${(RUNS * PER_RUN).toLocaleString('en')} cases)`, () => {
    let cases = 0;
    for (let run = 0; run < RUNS; run++) {
      fc.assert(
        fc.property(caseArb, ([specs, cuts]) => {
          cases++;
          return roundTrips(framesOf(specs), cuts);
        }),
        { numRuns: PER_RUN },
      );
    }
    assert.equal(cases, RUNS * PER_RUN);
  });

  test('random garbage never makes the decoder do anything but deliver frames or throw PROTOCOL_ERROR / MESSAGE_TOO_LARGE', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 8 }), (chunks) => {
        const decoder = new FrameDecoder(8);
        try {
          for (const c of chunks) {
            decoder.push(Buffer.from(c), (type, payload) => {
              if (type !== J && type !== B) throw new Error('bad type delivered');
              if (payload.length > 8) throw new Error('over the limit delivered');
            });
          }
        } catch (err) {
          return err instanceof LocalSocketError && (err.code === 'PROTOCOL_ERROR' || err.code === 'MESSAGE_TOO_LARGE');
        }
        return decoder.buffered <= FRAME_HEADER_BYTES + 8;
      }),
      { numRuns: 20_000 },
    );
  });
});
