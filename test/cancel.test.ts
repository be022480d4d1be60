/** The connect path's own abort switch (src/cancel.ts) behaves as the AbortController/AbortSignal it stands in for. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cancel } from '../src/cancel.js';
import { followSignal, sleep } from '../src/deadline.js';
import { LocalSocketError } from '../src/errors.js';

test('abort fires each listener once, in the order added, with the reason set before they run', () => {
  const cancel = new Cancel();
  const seen: string[] = [];
  cancel.addEventListener('abort', () => seen.push(`a:${String(cancel.reason)}:${cancel.aborted}`));
  cancel.addEventListener('abort', () => seen.push('b'), { once: true });
  assert.equal(cancel.aborted, false);
  assert.equal(cancel.reason, undefined);
  cancel.abort('why');
  cancel.abort('again'); // as AbortController: only the first abort counts
  assert.deepEqual(seen, ['a:why:true', 'b']);
  assert.equal(cancel.reason, 'why');
});

test('a removed listener is not called; one added after the abort is never called', () => {
  const cancel = new Cancel();
  const seen: string[] = [];
  const removed = (): void => void seen.push('removed');
  cancel.addEventListener('abort', removed);
  cancel.addEventListener('abort', () => seen.push('kept'));
  cancel.removeEventListener('abort', removed);
  cancel.removeEventListener('abort', () => {}); // not added: nothing happens
  cancel.abort(new Error('x'));
  cancel.addEventListener('abort', () => seen.push('late'));
  assert.deepEqual(seen, ['kept']);
});

test('followSignal and sleep take a Cancel as they take an AbortSignal', async () => {
  const outer = new AbortController();
  const cancel = new Cancel();
  const unfollow = followSignal(cancel, outer.signal);
  const sleeping = sleep(60_000, cancel);
  outer.abort('stop');
  unfollow();
  await assert.rejects(sleeping, (err: unknown) => err instanceof LocalSocketError && err.code === 'ABORTED' && err.cause === 'stop');
  // Already aborted: rejects at once, without a timer.
  await assert.rejects(sleep(60_000, cancel), (err: unknown) => err instanceof LocalSocketError && err.code === 'ABORTED');
});
