/**
 * The depth scan reads a text (before sending) and bytes (on receipt) alike:
 * textTooDeep on a string and bytesTooDeep on its UTF-8 form agree, for
 * texts short and long (past the reused scan buffer), with non-ASCII
 * characters, brackets inside strings and escaped quotes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bytesTooDeep, MAX_JSON_DEPTH, textTooDeep } from '../src/messages/json-depth.js';

/** A value nested `depth` deep, with `pad` characters of string beside it (strings full of brackets and quotes). */
function nestedWith(depth: number, pad: string): string {
  let text = JSON.stringify(pad);
  for (let i = 0; i < depth; i++) text = i % 2 === 0 ? `[${text}]` : `{"k\\"[":${text}}`;
  return text;
}

test('textTooDeep and bytesTooDeep agree, and find the depth, in texts of every length', () => {
  const pads = fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '[', '{', '"', '\\', ']'), maxLength: 3000 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 140 }), pads, (depth, pad) => {
      const text = nestedWith(depth, pad);
      const bytes = Buffer.from(text, 'utf8');
      const deep = depth > MAX_JSON_DEPTH;
      assert.equal(textTooDeep(text), deep);
      assert.equal(bytesTooDeep(bytes, 0, bytes.length), deep);
    }),
    { numRuns: 200 },
  );
});

test('a text longer than the reused scan buffer is scanned whole', () => {
  const long = nestedWith(MAX_JSON_DEPTH + 1, '€'.repeat(10_000));
  assert.equal(textTooDeep(long), true);
  assert.equal(textTooDeep(nestedWith(MAX_JSON_DEPTH, '€'.repeat(10_000))), false);
  // A limit of its own (a sender leaves room for the envelope).
  assert.equal(textTooDeep(nestedWith(MAX_JSON_DEPTH, 'x'.repeat(5000)), MAX_JSON_DEPTH - 1), true);
});
