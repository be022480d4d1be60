/**
 * The single way this library waits: every wait has a finite deadline and an
 * optional AbortSignal, and always cleans up its timer and listeners.
 */
import type { CancelSignal } from './cancel.js';
import { LocalSocketError } from './errors.js';

/** Options of every `waitFor...()` method. */
export interface WaitOptions {
  /**
   * Milliseconds; 0 or less means the deadline has passed: check once and return (`TIMEOUT` if not ready).
   * @defaultValue 30000
   */
  timeout?: number;
  /** Aborts the wait (`ABORTED`, with the signal's reason as `cause`). */
  signal?: AbortSignal;
}

/**
 * @param signal - the signal that fired.
 * @returns an `ABORTED` error with the signal's reason as `cause`.
 */
export function abortedError(signal: CancelSignal): LocalSocketError {
  return new LocalSocketError('ABORTED', 'aborted', { cause: signal.reason });
}

/**
 * @param what - the operation, as the message's prefix.
 * @returns a `TIMEOUT` error.
 */
export function timeoutError(what: string): LocalSocketError {
  return new LocalSocketError('TIMEOUT', `${what}: timed out`);
}

/**
 * Waits for `subscribe` to call `settle`. `subscribe` returns a cleanup function
 * that is called exactly once, whichever way the wait ends.
 *
 * @param what - the operation, for the TIMEOUT message.
 * @param timeoutMs - the deadline; 0 or less checks once (subscribe may settle synchronously).
 * @param signal - aborts the wait.
 * @param subscribe - starts watching; gets resolve/reject, returns its cleanup.
 * @returns what `subscribe` resolved with.
 * @throws {@link LocalSocketError} `TIMEOUT` when the deadline passes, `ABORTED` when the signal fires, or what `subscribe` rejected with.
 */
export function waitWithDeadline<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  subscribe: (resolve: (value: T) => void, reject: (err: unknown) => void) => () => void,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cleanup: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      fn();
    };
    const onAbort = (): void => finish(() => reject(abortedError(signal!)));
    cleanup = subscribe(
      (value) => finish(() => resolve(value)),
      (err) => finish(() => reject(err)),
    );
    if (done) {
      cleanup();
      return;
    }
    if (timeoutMs <= 0) {
      finish(() => reject(timeoutError(what)));
      return;
    }
    timer = setTimeout(() => finish(() => reject(timeoutError(what))), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves after `ms`, or rejects with ABORTED. One timer only: racing a second
 * (deadline) timer against it lets the deadline win when the event loop lags
 * (Node orders timers of different durations only per duration list), and a
 * sleep must never fail with TIMEOUT.
 *
 * @param ms - milliseconds; negative counts as 0.
 * @param signal - aborts the sleep.
 * @returns a promise that resolves after `ms`.
 * @throws {@link LocalSocketError} `ABORTED` when the signal fires.
 */
export function sleep(ms: number, signal?: CancelSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(ms, 0));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Makes `controller` abort (with the same reason) when `signal` does, until
 * the returned function is called. `AbortSignal.any()` would combine them too,
 * but leaves the combined signal linked to the caller's until it is garbage
 * collected; this takes its one listener off when the operation ends, so a
 * long-lived signal shared by many operations holds nothing of them.
 *
 * @param controller - the controller to abort.
 * @param signal - the caller's signal, if any.
 * @returns a function that stops following `signal`; call it when the operation ends so a long-lived signal keeps no listener.
 */
export function followSignal(controller: { abort(reason: unknown): void }, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    controller.abort(signal.reason);
    return () => {};
  }
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
