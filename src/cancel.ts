/**
 * A connect's own abort switch: the part of AbortController/AbortSignal that
 * the connect path uses (`aborted`, `reason`, one-shot `abort` listeners),
 * without the cost of an AbortSignal. Making a signal costs ~4 µs here (it is
 * an EventTarget) and adding a listener ~2 µs more: on every connect, for a
 * switch that is almost never thrown. Functions that take one also take a
 * caller's AbortSignal, which has the same shape.
 */

/** What the connect path reads of a signal: an AbortSignal, or a {@link Cancel}. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  /** `listener` is called once, when the signal fires (never if it already has). */
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Both the switch and its signal (as an AbortController and its `signal` in one object). */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  /** Made by the first listener: most connects never add one. */
  #listeners: Array<() => void> | null = null;

  /** Fires once: later calls do nothing, as AbortController.abort(). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = null;
    if (listeners !== null) for (const listener of listeners) listener();
  }

  /** Every listener is called at most once (`once` is implied). */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (!this.aborted) (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    const at = listeners === null ? -1 : listeners.indexOf(listener);
    if (at >= 0) listeners!.splice(at, 1);
  }
}
