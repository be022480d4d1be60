/**
 * Forwarding an outside AbortSignal into our own controller, with a way to
 * stop forwarding. (`AbortSignal.any` arrived in Node 20.3, and its result
 * keeps a listener on a long-lived outside signal until that signal fires.)
 */
export function forwardAbort(from: AbortSignal | undefined, to: AbortController): () => void {
  if (!from) return noop;
  if (from.aborted) {
    to.abort(from.reason);
    return noop;
  }
  const onAbort = (): void => to.abort(from.reason);
  from.addEventListener('abort', onAbort, { once: true });
  return () => from.removeEventListener('abort', onAbort);
}

function noop(): void {}
