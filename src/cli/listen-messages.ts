/**
 * `localsocket listen NAME --messages`: a message server for the shell. Every
 * request and notification received is printed as one JSON line on stdout;
 * requests for `echo` (answers its params) and `ping` (answers "pong") are
 * answered, any other method gets the "method not found" error answer.
 * With --broadcast-stdin, each line of stdin goes to every peer as the
 * notification `line` (see broadcast-stdin.ts).
 */
import { CloseCode } from '../messages/close.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../messages/frame.js';
import { MessageServer } from '../messages/message-server.js';
import type { ServerOptions } from '../options.js';
import { broadcastLines } from './broadcast-stdin.js';
import { EXIT, formatAddress } from './output.js';
import { terminationSignal } from './signals.js';

/** What `listen --messages` prints: one of these per line, as JSON. */
export type MessageLine =
  | { peer: number; type: 'request'; id: number; method: string; params?: unknown }
  | { peer: number; type: 'notification'; method: string; params?: unknown }
  | { peer: number; type: 'message'; value: unknown }
  | { peer: number; type: 'binary'; base64: string };

/** The methods `listen --messages` answers. */
export const BUILTIN_METHODS: Readonly<Record<string, (params: unknown) => unknown>> = {
  echo: (params) => params,
  ping: () => 'pong',
};

function withParams<T extends object>(line: T, params: unknown): T & { params?: unknown } {
  return params === undefined ? line : { ...line, params };
}

/**
 * Serves `name` until SIGINT/SIGTERM or until stdout is gone.
 * @param name - The server name, as given on the command line.
 * @param options - Server options already built from the command line (names, auth, access, limits).
 * @param broadcastStdin - send each line of stdin to every peer as the notification `line` (--broadcast-stdin).
 * @returns The exit status: 0 after a clean stop.
 * @throws LocalSocketError from `listen` (ADDRESS_IN_USE, INVALID_NAME, ACCESS_DENIED, ...).
 */
export async function runListenMessages(name: string, options: ServerOptions, broadcastStdin = false): Promise<number> {
  const stop = terminationSignal();
  const server = new MessageServer(options);
  for (const [method, handler] of Object.entries(BUILTIN_METHODS)) server.handle(method, handler);
  let stdoutGone: () => void = () => {};
  const stdoutClosed = new Promise<void>((resolve) => (stdoutGone = resolve));
  const onStdoutError = (): void => stdoutGone();
  process.stdout.on('error', onStdoutError);
  let peers = 0;

  // Node writes to files, terminals and (on Linux) pipes synchronously: a slow reader of stdout
  // holds this loop, so peers are read no faster than their lines are taken.
  const print = (line: MessageLine): void => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };

  try {
    await server.listen(name);
    process.stderr.write(`listening on ${formatAddress(server.fullServerName ?? name)} (messages)\n`);
    server.on('refused', (reason) => process.stderr.write(`refused a peer: ${reason.code}: ${reason.message}\n`));
    const numbers = new WeakMap<object, number>();
    server.on('peerJoined', (peer) => {
      const number = ++peers;
      numbers.set(peer, number);
      peer.on('request', (method, params, id) => print(withParams({ peer: number, type: 'request' as const, id, method }, params)));
      peer.on('notification', (method, params) => print(withParams({ peer: number, type: 'notification' as const, method }, params)));
      peer.on('message', (value) => print({ peer: number, type: 'message', value }));
      peer.on('binary', (data) => print({ peer: number, type: 'binary', base64: data.toString('base64') }));
      // A peer that sends garbage loses its connection; the server goes on.
      peer.on('error', (err) => process.stderr.write(`dropped peer ${number}: ${err.code}: ${err.message}\n`));
    });
    // A peer that fell behind a broadcast is dropped by the server (its queue would pass its write limit).
    server.on('peerLeft', (peer, reason) => {
      if (reason?.code === 'RESOURCE_EXHAUSTED') process.stderr.write(`dropped peer ${numbers.get(peer)}: ${reason.code}: ${reason.message}\n`);
    });
    if (broadcastStdin) {
      broadcastLines(server, process.stdin, DEFAULT_MAX_MESSAGE_SIZE - 64, (text) => process.stderr.write(text)).catch((err: unknown) => {
        process.stderr.write(`stdin: ${(err as Error).message}\n`);
      });
    }
    await Promise.race([stop.signal, stdoutClosed]);
    return EXIT.ok;
  } finally {
    stop.dispose();
    // Stops listening, then closes every peer (flushing what is queued), telling each why.
    await server.close({ code: CloseCode.GOING_AWAY, reason: 'shutting down' });
    if (broadcastStdin) process.stdin.destroy();
    process.stdout.off('error', onStdoutError);
  }
}
