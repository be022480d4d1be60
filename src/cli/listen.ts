/** `localsocket listen NAME`: serve a name from the shell. */
import { LocalServer } from '../server.js';
import type { LocalSocket } from '../socket.js';
import type { ServerOptions } from '../options.js';
import { accessOption, authOptions, AUTH_OPTIONS, flag, integerOption, nameOptions, NAME_OPTIONS, optionsHelp, UsageError, type OptionSpecs, type Values } from './args.js';
import { EXIT, formatAddress } from './output.js';
import { runListenMessages } from './listen-messages.js';
import { copyTo, echo } from './serve.js';
import { terminationSignal } from './signals.js';

export const LISTEN_OPTIONS: OptionSpecs = {
  echo: { type: 'boolean', description: 'send every byte back to its sender' },
  messages: {
    type: 'boolean',
    description: 'a message server: print every request and notification received as one JSON line on stdout (binary messages as base64); answer "echo" (its params) and "ping" ("pong"); a peer that breaks the protocol is dropped (noted on stderr)',
  },
  'broadcast-stdin': {
    type: 'boolean',
    description: 'with --messages: send each line of stdin to every connected peer as the notification "line", params {"text": LINE}; a peer that falls behind by more than its write buffer is dropped (RESOURCE_EXHAUSTED); serving goes on after stdin ends',
  },
  access: { type: 'string', value: 'user|group|world', description: 'who may connect, by file permissions', defaultText: 'user' },
  'max-connections': { type: 'string', value: 'N', description: 'refuse peers beyond N open connections' },
  ...AUTH_OPTIONS,
  ...NAME_OPTIONS,
};

export const LISTEN_HELP = `Usage: localsocket listen NAME [options]

Serves NAME until SIGINT (Ctrl-C) or SIGTERM, then stops cleanly and removes
its socket file. Prints "listening on <endpoint>" on stderr once ready.
Without --echo, writes what clients send to stdout, one client at a time as
nc -l does: a client that connects while another is being copied waits its
turn (its data is held, not lost), so output from two clients never mixes.

Options:
${optionsHelp(LISTEN_OPTIONS)}

Examples:
  localsocket listen myapp --echo
  localsocket listen myapp --messages
  tail -f app.log | localsocket listen myapp --messages --broadcast-stdin`;

/** Stops taking data on SIGINT/SIGTERM or when stdout is gone (e.g. piped into head). */
export async function runListen(values: Values, name: string): Promise<number> {
  const echoMode = flag(values, 'echo');
  const nameOpts = nameOptions(values);
  const options: ServerOptions = { ...nameOpts, ...authOptions(values), closeTimeout: 2000 };
  const access = accessOption(values);
  if (access !== undefined) options.access = access;
  const maxConnections = integerOption(values, 'max-connections', 1, 1_000_000);
  if (maxConnections !== undefined) options.maxConnections = maxConnections;
  if (flag(values, 'broadcast-stdin') && !flag(values, 'messages')) throw new UsageError('--broadcast-stdin needs --messages');
  if (flag(values, 'messages')) {
    if (echoMode) throw new UsageError('--echo and --messages cannot be combined');
    return runListenMessages(name, options, flag(values, 'broadcast-stdin'));
  }

  if (nameOpts.abstract && options.auth === false && access !== 'world') {
    throw new UsageError('--abstract with --raw lets every local user connect (abstract names have no file permissions): add --access world to accept that');
  }

  const stop = terminationSignal();
  const server = new LocalServer(options);
  const open = new Set<LocalSocket>();
  // Without --echo: clients waiting for their turn on stdout, and whether one is being copied.
  const waiting: LocalSocket[] = [];
  let copying = false;
  const copyNext = (): void => {
    const socket = copying ? undefined : waiting.shift();
    if (!socket) return;
    copying = true;
    copyTo(socket, process.stdout)
      .catch(() => socket.abort())
      .finally(() => {
        copying = false;
        copyNext();
      });
  };
  let stdoutGone: () => void = () => {};
  const stdoutClosed = new Promise<void>((resolve) => (stdoutGone = resolve));
  const onStdoutError = (): void => stdoutGone();
  process.stdout.on('error', onStdoutError);
  try {
    await server.listen(name);
    process.stderr.write(`listening on ${formatAddress(server.fullServerName ?? name)}\n`);
    // A log line, not an error line: the server is fine, one peer was turned away.
    server.on('refused', (reason) => process.stderr.write(`refused a peer: ${reason.code}: ${reason.message}\n`));
    server.on('newConnection', () => {
      for (let socket = server.nextPendingConnection(); socket; socket = server.nextPendingConnection()) {
        open.add(socket);
        socket.on('disconnected', () => open.delete(socket));
        if (echoMode) {
          echo(socket);
        } else {
          socket.on('error', () => {}); // kept on lastError; a waiting client may go away before its turn
          waiting.push(socket);
          copyNext();
        }
      }
    });
    await Promise.race([stop.signal, stdoutClosed]);
    return EXIT.ok;
  } finally {
    stop.dispose();
    await server.close();
    await Promise.all([...open].map((socket) => socket.disconnectFromServer()));
    process.stdout.off('error', onStdoutError);
  }
}
