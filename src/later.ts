/**
 * Announcing on a later turn of the event loop. The promise (or call) that
 * hands out a socket settles first and its caller's continuation runs as a
 * microtask; a setImmediate callback runs only after every microtask, so a
 * listener attached right after `await connect()` (or right after
 * `nextPendingConnection()`) hears what is announced here.
 */

/**
 * Runs `fn` once on a later turn of the event loop.
 * @param fn what to run; it must not throw
 */
export function onLaterTurn(fn: () => void): void {
  setImmediate(fn);
}
