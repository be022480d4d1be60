/**
 * The readLine rule (src/line.ts) without a socket: every split of the input
 * into chunks gives the same lines, for every maximum.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextLineLength } from '../src/line.js';
import { ReadBuffer } from '../src/read-buffer.js';

/** All lines readLine(max) would return from `text` split at `cuts`, the stream ended or not. */
function lines(text: string, cuts: number[], max: number, ended: boolean): string[] {
  const buffer = new ReadBuffer();
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    buffer.push(Buffer.from(text.slice(at, cut), 'latin1'));
    at = cut;
  }
  const out: string[] = [];
  for (let n = nextLineLength(buffer, max, ended); n > 0; n = nextLineLength(buffer, max, ended)) {
    out.push(buffer.read(n).toString('latin1'));
  }
  return out;
}

test('a line ends at its newline, or after max bytes; the rest waits unless the stream has ended', () => {
  assert.deepEqual(lines('ab\ncd', [], 10, false), ['ab\n']);
  assert.deepEqual(lines('ab\ncd', [], 10, true), ['ab\n', 'cd']);
  assert.deepEqual(lines('abcdefg\n', [], 3, false), ['abc', 'def', 'g\n']);
  assert.deepEqual(lines('abc\n', [], 4, false), ['abc\n'], 'a line of exactly max bytes, newline included');
  assert.deepEqual(lines('abc\n', [], 3, false), ['abc', '\n']);
  assert.deepEqual(lines('\n\n', [], 1, false), ['\n', '\n']);
  assert.deepEqual(lines('', [], 5, true), []);
  assert.deepEqual(lines('abcd', [], 5, false), [], 'four bytes under a maximum of five: incomplete');
  assert.deepEqual(lines('abcde', [], 5, false), ['abcde']);
});

test('every split of the input into two or three chunks gives the same lines', () => {
  const text = 'one\ntwo lines\n\nlonger than eight\nend';
  for (const max of [1, 2, 3, 8, 9, 100]) {
    for (const ended of [false, true]) {
      const expected = lines(text, [], max, ended);
      assert.equal(expected.join('').length <= text.length, true);
      for (let i = 0; i <= text.length; i++) {
        assert.deepEqual(lines(text, [i], max, ended), expected, `max ${max}, cut at ${i}`);
        for (let j = i; j <= text.length; j += 3) {
          assert.deepEqual(lines(text, [i, j], max, ended), expected, `max ${max}, cuts at ${i}, ${j}`);
        }
      }
      if (ended) assert.equal(expected.join(''), text, 'once ended, every byte comes out as lines');
    }
  }
});
