/**
 * Stopping on SIGINT / SIGTERM: the first signal asks for a clean stop (the
 * handler closes servers and removes socket files); a second one, for
 * someone who does not want to wait, exits at once.
 */
import { EXIT } from './output.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Calls `handler` once on the first SIGINT or SIGTERM. Returns a function that unregisters it. */
export function onTerminate(handler: (signal: NodeJS.Signals) => void): () => void {
  let fired = false;
  const listener = (signal: NodeJS.Signals): void => {
    if (fired) {
      process.exit(signal === 'SIGINT' ? EXIT.interrupted : EXIT.failure);
    }
    fired = true;
    handler(signal);
  };
  for (const signal of SIGNALS) process.on(signal, listener);
  return () => {
    for (const signal of SIGNALS) process.off(signal, listener);
  };
}

/** A promise for the first SIGINT / SIGTERM, and a way to stop listening for it. */
export function terminationSignal(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let dispose: () => void = () => {};
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    dispose = onTerminate(resolve);
  });
  return { signal, dispose };
}
