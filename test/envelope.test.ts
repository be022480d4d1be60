/**
 * JSON-RPC envelopes without JSON.stringify/JSON.parse of the envelope:
 * what envelopeFrame writes is byte for byte JSON.stringify of the same
 * object, and readEnvelope either reads exactly what the generic parse reads
 * or declines (never a different answer). Property-tested with random
 * methods, ids and JSON values, in the canonical layout and in others.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { LocalSocket } from '../src/index.js';
import { ENVELOPE, envelopeFrame, flushFrames } from '../src/messages/encode.js';
import { envelope, readEnvelope } from '../src/messages/envelope.js';
import { FrameDecoder, FrameType } from '../src/messages/frame.js';

/** A stand-in socket that keeps what is written. */
function sink(): { socket: LocalSocket; frames(): string[] } {
  const written: Buffer[] = [];
  const socket = { write: (b: Uint8Array) => (written.push(Buffer.from(b)), Promise.resolve()) } as unknown as LocalSocket;
  return {
    socket,
    frames(): string[] {
      flushFrames(socket);
      const out: string[] = [];
      new FrameDecoder(2 ** 32 - 1).push(Buffer.concat(written), (type, payload) => {
        assert.equal(type, FrameType.JSON);
        out.push(payload.toString());
      });
      written.length = 0;
      return out;
    },
  };
}

/** The generic reading of a JSON text, in readEnvelope's terms, or null when it is not one of its shapes. */
function generic(text: string): { id: number; method: string | null; value: unknown } | null {
  const m = JSON.parse(text) as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || m.jsonrpc !== '2.0') return null;
  if (typeof m.method === 'string') {
    if (m.id === undefined) return { id: -1, method: m.method, value: m.params };
    return Number.isSafeInteger(m.id) ? { id: m.id as number, method: m.method, value: m.params } : null;
  }
  if (Number.isSafeInteger(m.id) && 'result' in m && m.error === undefined) return { id: m.id as number, method: null, value: m.result };
  return null;
}

function read(text: string): { id: number; method: string | null; value: unknown } | null {
  const bytes = Buffer.from(`xx${text}yy`);
  if (!readEnvelope(bytes, 2, bytes.length - 2)) return null;
  return { id: envelope.id, method: envelope.method, value: envelope.value };
}

describe('envelopes', () => {
  test('envelopeFrame writes exactly what JSON.stringify makes of the envelope (small and large)', () => {
    const { socket, frames } = sink();
    void envelopeFrame(socket, 2 ** 32 - 1, false, null, 'tick', ENVELOPE.params, JSON.stringify({ n: 1 }));
    void envelopeFrame(socket, 2 ** 32 - 1, false, 0, 'm', null, null);
    void envelopeFrame(socket, 2 ** 32 - 1, false, 1234567, null, ENVELOPE.result, '"ok"');
    void envelopeFrame(socket, 2 ** 32 - 1, false, 9, 'big', ENVELOPE.params, JSON.stringify('é'.repeat(10_000)));
    // Negative ids (JSON-RPC allows any integer) keep their sign, small and large.
    void envelopeFrame(socket, 2 ** 32 - 1, false, -7, null, ENVELOPE.result, '1');
    void envelopeFrame(socket, 2 ** 32 - 1, false, -Number.MAX_SAFE_INTEGER, null, ENVELOPE.result, JSON.stringify('x'.repeat(10_000)));
    assert.deepEqual(frames(), [
      JSON.stringify({ jsonrpc: '2.0', method: 'tick', params: { n: 1 } }),
      JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'm' }),
      JSON.stringify({ jsonrpc: '2.0', id: 1234567, result: 'ok' }),
      JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'big', params: 'é'.repeat(10_000) }),
      JSON.stringify({ jsonrpc: '2.0', id: -7, result: 1 }),
      JSON.stringify({ jsonrpc: '2.0', id: -Number.MAX_SAFE_INTEGER, result: 'x'.repeat(10_000) }),
    ]);
  });

  test('property: envelopeFrame equals JSON.stringify for random ids, methods and values', () => {
    const { socket, frames } = sink();
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })),
        fc.option(fc.string({ unit: 'binary', maxLength: 12 })),
        fc.constantFrom<'params' | 'result' | null>('params', 'result', null),
        fc.jsonValue({ maxDepth: 3 }),
        (id, method, member, value) => {
          const object: Record<string, unknown> = { jsonrpc: '2.0' };
          if (id !== null) object.id = id;
          if (method !== null) object.method = method;
          const json = member === null ? null : JSON.stringify(value);
          if (member !== null) object[member] = value;
          void envelopeFrame(socket, 2 ** 32 - 1, false, id, method, member === null ? null : ENVELOPE[member], json);
          const [text] = frames();
          return text === JSON.stringify(object);
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('readEnvelope reads the canonical layout and declines the rest', () => {
    assert.deepEqual(read('{"jsonrpc":"2.0","method":"tick","params":{"n":1}}'), { id: -1, method: 'tick', value: { n: 1 } });
    assert.deepEqual(read('{"jsonrpc":"2.0","id":7,"method":"m"}'), { id: 7, method: 'm', value: undefined });
    assert.deepEqual(read('{"jsonrpc":"2.0","id":0,"result":null}'), { id: 0, method: null, value: null });
    assert.deepEqual(read('{"jsonrpc":"2.0","id":9007199254740991,"result":1}'), { id: 9007199254740991, method: null, value: 1 });
    assert.deepEqual(read('{"jsonrpc":"2.0","method":"ünï","params":[1]}'), { id: -1, method: 'ünï', value: [1] });
    for (const declined of [
      '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}',
      '{"id":1,"jsonrpc":"2.0","result":1}',
      '{ "jsonrpc":"2.0","method":"m"}',
      '{"jsonrpc":"2.0","method":"a\\"b"}',
      '{"jsonrpc":"2.0","id":01,"result":1}',
      '{"jsonrpc":"2.0","id":-1,"result":1}',
      '{"jsonrpc":"2.0","id":1.5,"result":1}',
      '{"jsonrpc":"2.0","id":9007199254740992,"result":1}',
      '{"jsonrpc":"2.0","id":12345678901234567,"result":1}',
      '{"jsonrpc":"2.0","method":"m","params":1,"id":2}',
      '{"jsonrpc":"2.0","method":"m","params":}',
      '{"jsonrpc":"2.0","method":"m","params":{"a":1}',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0"}',
      '{"jsonrpc":"1.0","method":"m"}',
      '[1]',
      '',
    ]) {
      assert.equal(read(declined), null, declined);
    }
  });

  test('property: readEnvelope agrees with the generic parse whenever it answers, and answers for every canonical envelope', () => {
    const member = fc.constantFrom('params', 'result', 'error', 'other');
    const key = fc.constantFrom('jsonrpc', 'id', 'method', 'params', 'result');
    const entry = fc.oneof(
      fc.tuple(fc.constant('jsonrpc'), fc.constantFrom<unknown>('2.0', '1.0', 2)),
      fc.tuple(fc.constant('id'), fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant(null), fc.string())),
      fc.tuple(fc.constant('method'), fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.nat())),
      fc.tuple(member, fc.jsonValue({ maxDepth: 2 })),
      fc.tuple(key, fc.jsonValue({ maxDepth: 1 })),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), fc.boolean(), (entries, canonical) => {
        let text: string;
        if (canonical) {
          // The canonical shapes: what this library (and the Python peer) write.
          const o: Record<string, unknown> = { jsonrpc: '2.0' };
          for (const [k, v] of entries) if (k === 'id' && Number.isSafeInteger(v) && (v as number) >= 0) o.id = v;
          for (const [k, v] of entries) if (k === 'method' && typeof v === 'string') o.method = v;
          for (const [k, v] of entries) if ((k === 'params' && o.method !== undefined) || (k === 'result' && o.method === undefined && o.id !== undefined)) o[k] = v;
          text = JSON.stringify(o);
        } else {
          text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
        }
        const fast = read(text);
        const slow = generic(text);
        if (fast !== null) assert.deepEqual(fast, slow, text);
        // A method whose JSON form has an escape is left to the generic path by design.
        if (canonical && slow !== null && !JSON.stringify(slow.method ?? '').includes('\\')) {
          assert.notEqual(fast, null, `canonical envelope declined: ${text}`);
        }
        return true;
      }),
      { numRuns: 20_000 },
    );
  });
});
