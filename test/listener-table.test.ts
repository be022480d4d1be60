/** The fast listener table (src/listener-table.ts) keeps every EventEmitter behaviour, odd event names included. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { useFastListenerTable } from '../src/listener-table.js';
import { LocalSocket } from '../src/index.js';

test('on, once, emit, off and the listener queries work as on a plain emitter', () => {
  const emitter = new EventEmitter();
  useFastListenerTable(emitter, ['a', 'b']);
  assert.deepEqual(emitter.eventNames(), [], 'empty slots are not events');
  assert.equal(emitter.listenerCount('a'), 0);
  const seen: string[] = [];
  const a1 = (x: string): void => void seen.push(`a1:${x}`);
  emitter.on('a', a1);
  emitter.on('a', (x: string) => seen.push(`a2:${x}`));
  emitter.once('b', () => seen.push('b'));
  emitter.on('c', () => seen.push('c'));
  assert.equal(emitter.emit('a', 'x'), true);
  assert.equal(emitter.emit('b'), true);
  assert.equal(emitter.emit('b'), false, 'once');
  assert.equal(emitter.emit('c'), true);
  emitter.off('a', a1);
  emitter.emit('a', 'y');
  assert.deepEqual(seen, ['a1:x', 'a2:x', 'b', 'c', 'a2:y']);
  assert.deepEqual(emitter.eventNames().sort(), ['a', 'c']);
  emitter.removeAllListeners();
  assert.deepEqual(emitter.eventNames(), []);
});

test('no inherited name is taken for a listener: toString, constructor, __proto__ and hasOwnProperty are ordinary events', () => {
  const socket = new LocalSocket();
  for (const name of ['toString', 'constructor', 'hasOwnProperty', 'valueOf']) {
    assert.equal(socket.listenerCount(name as 'error'), 0, name);
    assert.equal(socket.emit(name as 'error', undefined as never), false, `${name}: nobody listens`);
    let heard = 0;
    socket.on(name as 'error', () => heard++);
    assert.equal(socket.emit(name as 'error', undefined as never), true);
    assert.equal(heard, 1, name);
  }
});

test('an emitter that already has listeners, or a runtime without a table, is left alone', () => {
  const busy = new EventEmitter();
  const listener = (): void => {};
  busy.on('x', listener);
  const before = (busy as unknown as { _events: object })._events;
  useFastListenerTable(busy, ['y']);
  assert.equal((busy as unknown as { _events: object })._events, before);
  assert.deepEqual(busy.listeners('x'), [listener]);
  const bare = {};
  useFastListenerTable(bare, ['y']);
  assert.deepEqual(bare, {});
});
