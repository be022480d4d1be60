/**
 * A LocalSocket's bytes as a Node stream and as an async iterator: adapters
 * over its public reading API, with one way of waiting for more.
 */
import { Duplex } from 'node:stream';

/** The events after which there may be something new to read, or nothing more ever. */
const CHANGES = ['readyRead', 'stateChanged', 'readChannelFinished'] as const;
type Change = (typeof CHANGES)[number];

/** What the adapters use of a LocalSocket: its public reading and writing API (no import of socket.ts, which imports this). */
interface ByteSocket {
  readonly bytesAvailable: number;
  read(): Buffer;
  write(data: Uint8Array): Promise<void>;
  end(): Promise<void>;
  abort(): void;
  on(event: Change, listener: () => void): unknown;
  off(event: Change, listener: () => void): unknown;
}

/**
 * Calls `wake` once, at the socket's next readyRead, state change or
 * end-of-stream, whichever comes first. The one waiter of both adapters.
 */
function onNextChange(socket: ByteSocket, wake: () => void): void {
  const once = (): void => {
    for (const event of CHANGES) socket.off(event, once);
    wake();
  };
  for (const event of CHANGES) socket.on(event, once);
}

/**
 * `for await (const chunk of socket)`: the bytes as they arrive, until
 * `finished()` says nothing more will come.
 * @param finished - true once no more bytes can be read (the socket's own rule).
 */
export async function* chunksOf(socket: ByteSocket, finished: () => boolean): AsyncGenerator<Buffer, void, undefined> {
  for (;;) {
    if (socket.bytesAvailable > 0) {
      yield socket.read();
      continue;
    }
    if (finished()) return;
    await new Promise<void>((resolve) => onNextChange(socket, resolve));
  }
}

/**
 * A Duplex over the socket: it takes over reading; ending it half-closes the
 * connection; destroying it with an error aborts.
 * @param finished - true once no more bytes can be read (the socket's own rule).
 */
export function duplexOf(socket: ByteSocket, finished: () => boolean): Duplex {
  let waiting = false;
  const pushAvailable = (): boolean => {
    if (socket.bytesAvailable > 0) {
      waiting = false;
      stream.push(socket.read());
      return true;
    }
    if (finished()) {
      stream.push(null);
      return true;
    }
    return false;
  };
  const arm = (): void => {
    if (pushAvailable() || waiting) return;
    waiting = true;
    onNextChange(socket, () => {
      waiting = false;
      // A state change with nothing to push (e.g. connected -> closing on end()) keeps waiting.
      arm();
    });
  };
  const stream: Duplex = new Duplex({
    read: arm,
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      socket.end().then(() => callback(), callback);
    },
    destroy(err, callback) {
      if (err) socket.abort();
      callback(err);
    },
  });
  return stream;
}
