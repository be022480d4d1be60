/**
 * Retry spacing, in one place: every loop that tries again after a failure
 * (dialling a busy server, taking a name lock, claiming a single instance,
 * reconnecting) waits `backoff(policy, retry)` ms. The delay doubles with
 * each retry up to a cap, and part of it is random, so many processes that
 * failed at the same instant do not all come back at the same instant.
 *
 * Each caller keeps its own policy (below): how soon to look again depends on
 * what it waits for.
 */

/** How the delays of one retry loop grow. */
export interface BackoffPolicy {
  /** Delay before the first retry (retry 0), in ms, before jitter; doubled for each further retry. */
  readonly first: number;
  /** Longest delay before jitter, in ms. */
  readonly max: number;
  /** Share of the delay that is random, 0 to 1: the delay is `base * (1 - jitter * random)`. */
  readonly jitter: number;
  /** Added to every delay, in ms (a retry never comes at once). */
  readonly floor?: number;
}

/**
 * A server that is busy (full backlog, every pipe instance taken, handshake
 * slots full) or not up yet: look again soon, and not more than 4 times a
 * second, so a client finds it quickly once it frees up. Also `localsocket
 * call` sending its request again after a BUSY drop.
 * Retries 0, 1, 2...: 5, 10, 20, 40, 80, 160, then 250 ms, each 50-100 % of that.
 */
export const CONNECT_BACKOFF: BackoffPolicy = { first: 5, max: 250, jitter: 0.5 };

/**
 * Another of our own servers holds the name lock for the moment of its
 * check-then-bind (or, on Windows, the claim lock of a pipe record): it lets
 * go within milliseconds.
 * Retries 0, 1, 2...: 2 ms plus up to 1, 2, 4, 8, 16, 32, then 50 ms at random.
 */
export const NAME_LOCK_BACKOFF: BackoffPolicy = { first: 1, max: 50, jitter: 1, floor: 2 };

/**
 * A single-instance claim lost a race with a primary that went away between
 * our listen and our connect: claim the name again after a short pause.
 * Retries 0, 1, 2...: 10, 20, 40, 80, 160, then 200 ms, each 50-100 % of that.
 */
export const SINGLE_INSTANCE_BACKOFF: BackoffPolicy = { first: 10, max: 200, jitter: 0.5 };

/**
 * The delay before retry `retry` (0 for the first retry):
 * `floor + min(max, first * 2^retry) * (1 - jitter * random)`, not rounded.
 * @param policy - the loop's policy
 * @param retry - retries made before this one, from 0
 * @param random - a number in [0, 1) (Math.random by default)
 * @returns the delay in ms
 */
export function backoff(policy: BackoffPolicy, retry: number, random: number = Math.random()): number {
  // The exponent stops at 30 (so a long loop never computes Infinity), as the reconnecting client's always did.
  const base = Math.min(policy.max, policy.first * 2 ** Math.min(retry, 30));
  return (policy.floor ?? 0) + base * (1 - policy.jitter * random);
}

/**
 * The reconnecting client's backoff (its `initialDelay`, `maxDelay` and `jitter` options) before
 * attempt `attempt` (1-based): `initialDelay * 2^(attempt-1)`, capped at `maxDelay`, minus up to
 * `jitter` of it at random, rounded to whole ms.
 * @param attempt - the attempt about to be made, from 1
 * @param options - the resolved delays
 * @param random - a number in [0, 1) (Math.random by default)
 * @returns the delay in ms
 */
export function backoffDelay(attempt: number, options: { initialDelay: number; maxDelay: number; jitter: number }, random = Math.random()): number {
  return Math.round(backoff({ first: options.initialDelay, max: options.maxDelay, jitter: options.jitter }, attempt - 1, random));
}
