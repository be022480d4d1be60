/**
 * The soak run's bounded waits (bench/soak/common.ts `within`): the answer
 * or the fallback, and no timer left behind either way. A left-over 60-s
 * deadline once kept the finished run alive for a minute after its report.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { within } from '../bench/soak/common.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('within(): the promise\'s value when it settles first, and its deadline timer is cleared', async () => {
  const before = timers();
  assert.equal(await within(Promise.resolve('done'), 60_000, 'late'), 'done');
  assert.equal(timers(), before, 'no deadline timer left pending');
});

test('within(): the fallback when the deadline comes first, and a rejection passes through, timer cleared', async () => {
  const before = timers();
  assert.equal(await within(new Promise(() => {}), 1, 'late'), 'late');
  await assert.rejects(within(Promise.reject(new Error('boom')), 60_000, null), /boom/);
  assert.equal(timers(), before, 'no deadline timer left pending');
});
