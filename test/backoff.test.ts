/**
 * Retry spacing: each retry loop's policy gives the same delays it gave
 * before the policies shared one formula. Each case pins a caller's sequence
 * at both ends of the random range (0 and just under 1) and in the middle,
 * against the caller's own former expression, written out here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoff, CONNECT_BACKOFF, NAME_LOCK_BACKOFF, SINGLE_INSTANCE_BACKOFF, type BackoffPolicy } from '../src/backoff.js';
import { isBusyDialError } from '../src/busy-errors.js';
import { LocalSocketError } from '../src/errors.js';
import { backoffDelay } from '../src/index.js';

const RETRIES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 40, 10_000];
const NEAR_ONE = 1 - 2 ** -20;

/** The delays of `policy` for RETRIES at `random`. */
function sequence(policy: BackoffPolicy, random: number): number[] {
  return RETRIES.map((retry) => backoff(policy, retry, random));
}

describe('backoff policies: each caller keeps its delays', () => {
  test('connect (busy server, waitForServer): 5 ms doubling to 250 ms, each 50-100 % of that', () => {
    assert.deepEqual(sequence(CONNECT_BACKOFF, 0), [5, 10, 20, 40, 80, 160, 250, 250, 250, 250, 250, 250]);
    assert.deepEqual(sequence(CONNECT_BACKOFF, 0.5), [3.75, 7.5, 15, 30, 60, 120, 187.5, 187.5, 187.5, 187.5, 187.5, 187.5]);
    // Former expression: Math.min(250, 5 * 2 ** attempt) * (0.5 + r / 2), with r = 1 - random (both uniform on [0, 1)).
    for (const retry of RETRIES) {
      for (const random of [0, 0.25, 0.5, NEAR_ONE]) {
        assert.equal(backoff(CONNECT_BACKOFF, retry, random), Math.min(250, 5 * 2 ** retry) * (0.5 + (1 - random) / 2));
      }
    }
    assert.ok(sequence(CONNECT_BACKOFF, NEAR_ONE).every((d, i) => d > Math.min(250, 5 * 2 ** RETRIES[i]!) / 2));
  });

  test('name lock: 2 ms plus up to 1, 2, 4 ... 50 ms at random', () => {
    assert.deepEqual(sequence(NAME_LOCK_BACKOFF, 0), [3, 4, 6, 10, 18, 34, 52, 52, 52, 52, 52, 52]);
    assert.ok(sequence(NAME_LOCK_BACKOFF, NEAR_ONE).every((d) => d > 2 && d < 2.001));
    // Former expression: 2 + r * Math.min(50, 2 ** attempt), with r = 1 - random.
    for (const retry of RETRIES) {
      for (const random of [0, 0.25, 0.5, NEAR_ONE]) {
        assert.equal(backoff(NAME_LOCK_BACKOFF, retry, random), 2 + (1 - random) * Math.min(50, 2 ** retry));
      }
    }
  });

  test('single instance: 10 ms doubling to 200 ms, each 50-100 % of that', () => {
    assert.deepEqual(sequence(SINGLE_INSTANCE_BACKOFF, 0), [10, 20, 40, 80, 160, 200, 200, 200, 200, 200, 200, 200]);
    // Former expression: Math.min(200, 10 * 2 ** attempt) * (0.5 + r / 2), with r = 1 - random.
    for (const retry of RETRIES) {
      for (const random of [0, 0.25, 0.5, NEAR_ONE]) {
        assert.equal(backoff(SINGLE_INSTANCE_BACKOFF, retry, random), Math.min(200, 10 * 2 ** retry) * (0.5 + (1 - random) / 2));
      }
    }
  });

  test('reconnecting client (backoffDelay, attempt from 1): initialDelay doubling to maxDelay, minus up to jitter of it, rounded', () => {
    const options = { initialDelay: 100, maxDelay: 5000, jitter: 0.5 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, options, 0)), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, options, NEAR_ONE)), [50, 100, 200, 400, 800, 1600, 2500, 2500]);
    // Former expression: Math.round(Math.min(maxDelay, initialDelay * 2 ** Math.min(attempt - 1, 30)) * (1 - jitter * random)).
    for (const attempt of [1, 2, 3, 9, 31, 32, 10_000]) {
      for (const random of [0, 0.3, 0.5, NEAR_ONE]) {
        const o = { initialDelay: 7, maxDelay: 2 ** 40, jitter: 0.3 };
        assert.equal(backoffDelay(attempt, o, random), Math.round(Math.min(o.maxDelay, o.initialDelay * 2 ** Math.min(attempt - 1, 30)) * (1 - o.jitter * random)));
      }
    }
  });
});

describe('isBusyDialError: a server that is there but busy', () => {
  const dialError = (code: string): LocalSocketError =>
    new LocalSocketError('CONNECTION_REFUSED', 'connect: refused', { cause: Object.assign(new Error(code), { code, syscall: 'connect' }) });

  test('a full backlog or every pipe instance taken is busy', () => {
    for (const code of ['EAGAIN', 'EWOULDBLOCK', 'EBUSY', 'ERROR_PIPE_BUSY']) assert.equal(isBusyDialError(dialError(code)), true, code);
  });

  test('a refusal, a missing server, or an error without a system cause is not', () => {
    for (const code of ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT']) assert.equal(isBusyDialError(dialError(code)), false, code);
    assert.equal(isBusyDialError(new LocalSocketError('RESOURCE_EXHAUSTED', 'busy')), false);
    assert.equal(isBusyDialError(null), false);
    assert.equal(isBusyDialError(new Error('EAGAIN')), false);
  });
});
