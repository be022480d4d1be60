/**
 * Shared by the soak run's processes: what a child reports over the IPC
 * channel (samples of its own resource use, and outcome counts), and the
 * outcome bookkeeping every client role uses.
 */
import fs from 'node:fs';
import { isLocalSocketError } from '../../src/errors.js';

/** One reading of a process's resource use. */
export interface Sample {
  /** Seconds since the soak run started. */
  t: number;
  /** Seconds since this process started. */
  age: number;
  rss: number;
  heapUsed: number;
  /** Memory of Buffers and ArrayBuffers (outside the V8 heap). */
  arrayBuffers: number;
  /** Entries in /proc/self/fd (the directory handle used to count them excluded). */
  fds: number;
  /** process.getActiveResourcesInfo().length: handles and requests keeping the loop alive. */
  handles: number;
}

/** How the operations of one kind ended. */
export interface Outcomes {
  /** Started (requests sent, messages sent, connections tried). */
  started: number;
  /** Completed with the right answer. */
  ok: number;
  /** Failed with a stated LocalSocketError code (or `lost:CODE` for a message lost with its connection). */
  failed: Record<string, number>;
  /** Failed with something that is not a LocalSocketError: a bug. */
  unstated: number;
  /** Still pending after their deadline plus a grace period. */
  neverSettled: number;
  /** Settled more than once, or delivered twice to the daemon. */
  twice: number;
  /** Answered, but not with what was asked for (or out of order, for broadcasts). */
  wrong: number;
}

export type Kind = 'request' | 'notification' | 'binary' | 'oneshot' | 'broadcast';
export const KINDS: readonly Kind[] = ['request', 'notification', 'binary', 'oneshot', 'broadcast'];

export type CountsByKind = Record<Kind, Outcomes>;

/** Child → parent. */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'sample'; sample: Sample; counts?: CountsByKind; pending?: number }
  | { type: 'final'; sample: Sample; counts?: CountsByKind };

/** Parent → child. */
export type ParentMessage = { type: 'stop' };

export function emptyOutcomes(): Outcomes {
  return { started: 0, ok: 0, failed: {}, unstated: 0, neverSettled: 0, twice: 0, wrong: 0 };
}

export function emptyCounts(): CountsByKind {
  return {
    request: emptyOutcomes(),
    notification: emptyOutcomes(),
    binary: emptyOutcomes(),
    oneshot: emptyOutcomes(),
    broadcast: emptyOutcomes(),
  };
}

const started = Date.now();
const runStart = Number(process.env.LOCALSOCKET_SOAK_T0 ?? started);

function openFds(): number {
  try {
    // readdir holds one descriptor on the directory while it reads.
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return -1;
  }
}

/**
 * Samples are taken right after a full garbage collection (the processes run
 * with --expose-gc), so that what is measured is what is still reachable, not
 * how lazy the collector happens to be.
 */
export function takeSample(): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  return {
    t: (Date.now() - runStart) / 1000,
    age: (Date.now() - started) / 1000,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    arrayBuffers: mem.arrayBuffers,
    fds: openFds(),
    handles: process.getActiveResourcesInfo().length,
  };
}

export function send(message: ChildMessage): void {
  if (process.connected) process.send!(message);
}

/** The code a failure is counted under, or null when it is not a LocalSocketError. */
export function codeOf(err: unknown): string | null {
  return isLocalSocketError(err) ? err.code : null;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `promise`, or `fallback` after `ms` if it has not settled by then. The timer is cleared
 * once either happens: a deadline left pending would keep the run alive for its whole length.
 */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => { timer = setTimeout(resolve, ms, fallback); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** The key all soak processes share, in memory (never a key file). */
export function soakKey(): Buffer {
  return Buffer.from(process.env.LOCALSOCKET_SOAK_KEY!, 'hex');
}

export function soakName(): string {
  return process.env.LOCALSOCKET_SOAK_NAME!;
}
