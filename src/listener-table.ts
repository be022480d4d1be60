/**
 * A fast listener table for our EventEmitters. EventEmitter gives every emitter
 * a null-prototype object literal, which V8 keeps in dictionary mode: about 200
 * bytes for an empty table, on each of the two sockets of every connection. An
 * object made from a prototype stays in fast mode (as Node's own streams preset
 * theirs). Its prototype has no prototype of its own, so no inherited name
 * (`toString`, `constructor`) is ever taken for a listener.
 */
const NOTHING_INHERITED = Object.create(null) as object;

/**
 * Replaces `emitter`'s listener table, while it has no listener, with a fast
 * one holding `events` as empty slots (the events it most often gets, so that
 * every table has the same shape). Leaves it alone on a runtime whose
 * EventEmitter keeps no `_events` table.
 * @param emitter - a newly made EventEmitter.
 * @param events - event names to hold a slot for.
 */
export function useFastListenerTable(emitter: object, events: readonly string[]): void {
  const target = emitter as { _events?: unknown; _eventsCount?: number };
  if (typeof target._events !== 'object' || target._events === null || target._eventsCount !== 0) return;
  const table = Object.create(NOTHING_INHERITED) as Record<string, undefined>;
  for (const name of events) table[name] = undefined;
  target._events = table;
}
