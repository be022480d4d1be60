/**
 * `localsocket listen NAME --messages`: a message server for the shell. Every
 * request and notification received is printed as one JSON line on stdout;
 * requests for `echo` (answers its params) and `ping` (answers "pong") are
 * answered, any other method gets the "method not found" error answer.
 */
import { MessageSocket } from '../messages/message-socket.js';
import type { ServerOptions } from '../options.js';
import { LocalServer } from '../server.js';
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
 * @returns The exit status: 0 after a clean stop.
 * @throws LocalSocketError from `listen` (ADDRESS_IN_USE, INVALID_NAME, ACCESS_DENIED, ...).
 */
export async function runListenMessages(name: string, options: ServerOptions): Promise<number> {
  const stop = terminationSignal();
  const server = new LocalServer(options);
  const open = new Set<MessageSocket>();
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
    server.on('newConnection', () => {
      for (let socket = server.nextPendingConnection(); socket; socket = server.nextPendingConnection()) {
        const number = ++peers;
        const peer = new MessageSocket(socket);
        open.add(peer);
        for (const [method, handler] of Object.entries(BUILTIN_METHODS)) peer.handle(method, handler);
        peer.on('request', (method, params, id) => print(withParams({ peer: number, type: 'request' as const, id, method }, params)));
        peer.on('notification', (method, params) => print(withParams({ peer: number, type: 'notification' as const, method }, params)));
        peer.on('message', (value) => print({ peer: number, type: 'message', value }));
        peer.on('binary', (data) => print({ peer: number, type: 'binary', base64: data.toString('base64') }));
        // A peer that sends garbage loses its connection; the server goes on.
        peer.on('error', (err) => process.stderr.write(`dropped peer ${number}: ${err.code}: ${err.message}\n`));
        peer.on('close', () => open.delete(peer));
      }
    });
    await Promise.race([stop.signal, stdoutClosed]);
    return EXIT.ok;
  } finally {
    stop.dispose();
    await server.close();
    await Promise.all([...open].map((peer) => peer.close().catch(() => {})));
    process.stdout.off('error', onStdoutError);
  }
}
