/**
 * A module-level promise executor for hot paths (a request, a write tick): `new
 * Promise(captureResolvers)` makes no closure of its own, and its resolvers are
 * read from {@link captured} right after, before any other promise is made.
 */

function nothing(): void {}

/** The resolvers of the promise made last by `new Promise(captureResolvers)`. */
export const captured: { resolve: (value?: unknown) => void; reject: (err: unknown) => void } = { resolve: nothing, reject: nothing };

/**
 * The executor: keeps the new promise's resolvers in {@link captured}.
 * @param resolve - the promise's resolve function.
 * @param reject - the promise's reject function.
 */
export function captureResolvers(resolve: (value: never) => void, reject: (err: never) => void): void {
  // Kept untyped as to the value: every caller resolves its own promise with its own kind of value.
  captured.resolve = resolve as (value?: unknown) => void;
  captured.reject = reject as (err: unknown) => void;
}
