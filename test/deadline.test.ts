/** Signals: a caller's AbortSignal reaches connect on every supported Node version, and no listener stays behind. */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import { test } from 'node:test';
import { followSignal } from '../src/deadline.js';
import { connect, listen } from '../src/index.js';
import { fullName, tempDir } from './helpers.js';

test('followSignal aborts the controller with the signal\'s reason, then stops following', () => {
  const outer = new AbortController();
  const inner = new AbortController();
  const unfollow = followSignal(inner, outer.signal);
  assert.equal(getEventListeners(outer.signal, 'abort').length, 1);
  outer.abort('why');
  assert.equal(inner.signal.aborted, true);
  assert.equal(inner.signal.reason, 'why');
  unfollow();

  const late = new AbortController();
  const other = new AbortController();
  followSignal(other, late.signal)();
  assert.equal(getEventListeners(late.signal, 'abort').length, 0);
  late.abort();
  assert.equal(other.signal.aborted, false);
});

test('followSignal with an already aborted signal aborts at once; without a signal it does nothing', () => {
  const inner = new AbortController();
  followSignal(inner, AbortSignal.abort('early'))();
  assert.equal(inner.signal.reason, 'early');
  const alone = new AbortController();
  followSignal(alone, undefined)();
  assert.equal(alone.signal.aborted, false);
});

test('connect with a signal leaves no listener on it, and an aborted signal rejects with ABORTED', async () => {
  const dir = tempDir();
  const name = fullName(dir, 's');
  const server = await listen(name, { auth: false });
  try {
    const controller = new AbortController();
    const socket = await connect(name, { auth: false, signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    socket.destroy();
    await assert.rejects(connect(name, { auth: false, signal: AbortSignal.abort() }), { code: 'ABORTED' });
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
