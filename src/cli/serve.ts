/**
 * What the CLI's servers do with a connection: echo it back, or copy it to a
 * writable stream. Both keep memory bounded: while a write is waiting, no
 * more is read, so the socket's read buffer fills and it stops reading from
 * the kernel (backpressure reaches the client).
 */
import { once } from 'node:events';
import type { LocalSocket } from '../socket.js';

/**
 * Sends every byte back to its sender. When the peer half-closes, the bytes
 * still buffered are queued in the same tick, before the socket starts its
 * flush-then-close, so nothing sent before end-of-stream is lost.
 */
export function echo(socket: LocalSocket): void {
  let writing = false;
  socket.on('error', () => {}); // also on lastError; the connection just ends
  const pump = (): void => {
    if (writing) return;
    while (socket.isConnected && socket.bytesAvailable > 0) {
      const sent = socket.write(socket.read());
      if (socket.bytesToWrite >= socket.maxWriteBuffer) {
        writing = true;
        sent.then(
          () => {
            writing = false;
            pump();
          },
          () => {},
        );
        return;
      }
      sent.catch(() => {});
    }
  };
  socket.on('readyRead', pump);
  socket.on('readChannelFinished', () => {
    while (socket.isConnected && socket.bytesAvailable > 0) socket.write(socket.read()).catch(() => {});
  });
}

/** Writes to `out`, waiting for it to drain when its buffer is full. Rejects once `out` is closed or broken. */
export async function writeOut(out: NodeJS.WritableStream & { destroyed?: boolean }, chunk: Uint8Array): Promise<void> {
  if (out.destroyed) throw new Error('output closed');
  if (out.write(chunk)) return;
  const ac = new AbortController();
  try {
    await Promise.race([once(out, 'drain', { signal: ac.signal }), once(out, 'close', { signal: ac.signal }).then(() => Promise.reject(new Error('output closed')))]);
  } finally {
    ac.abort();
  }
}

/** Copies what the peer sends to `out` until the connection ends. */
export async function copyTo(socket: LocalSocket, out: NodeJS.WritableStream): Promise<void> {
  socket.on('error', () => {});
  for await (const chunk of socket) await writeOut(out, chunk);
}
