/**
 * Typed events for TypeScript users: `on('readyRead', ...)` is checked
 * against LocalSocketEvents / LocalServerEvents. The `@ts-expect-error` lines
 * fail the build (tsc) if a wrong event name or listener type is accepted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalServer, LocalSocket, LocalSocketError, type SocketState } from '../src/index.js';

test('socket and server events are typed', () => {
  const socket = new LocalSocket();
  const server = new LocalServer();
  const seen: string[] = [];
  socket.on('stateChanged', (state: SocketState) => seen.push(state));
  socket.on('error', (err: LocalSocketError) => seen.push(err.code));
  server.on('newConnection', () => seen.push('new'));
  // @ts-expect-error: no such event
  socket.on('readyread', () => {});
  // @ts-expect-error: 'error' listeners receive a LocalSocketError, not a number
  socket.on('error', (n: number) => n + 1);
  // @ts-expect-error: no such event on a server
  server.on('readyRead', () => {});
  socket.emit('error', new LocalSocketError('UNKNOWN', 'x'));
  assert.deepEqual(seen, ['UNKNOWN']);
  socket.removeAllListeners();
  server.removeAllListeners();
});
