/** `localsocket connect NAME`: a shell pipe to a server, like `nc -U`. */
import { DEFAULTS, type ConnectOptions } from '../options.js';
import { LocalSocket } from '../socket.js';
import { AUTH_OPTIONS, authOptions, flag, integerOption, nameOptions, NAME_OPTIONS, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { EXIT } from './output.js';
import { writeOut } from './serve.js';

export const CONNECT_OPTIONS: OptionSpecs = {
  timeout: { type: 'string', value: 'MS', description: 'deadline to connect, handshake included', defaultText: String(DEFAULTS.connectTimeout) },
  wait: { type: 'boolean', description: 'wait (up to the timeout) for a server not up yet' },
  ...AUTH_OPTIONS,
  ...NAME_OPTIONS,
};

export const CONNECT_HELP = `Usage: localsocket connect NAME [options]

Connects to the server NAME, sends stdin to it and writes what it sends to
stdout. When stdin ends, the connection is half-closed (the server sees
end-of-stream) and the command exits once the server has closed its side.

Options:
${optionsHelp(CONNECT_OPTIONS)}

Examples:
  echo hello | localsocket connect myapp
  localsocket connect myapp --wait --timeout 5000 < request.json`;

/** Endings that are a normal end of the session rather than a failure. */
const NORMAL_END = new Set(['PEER_CLOSED', 'ABORTED']);

export async function runConnect(values: Values, name: string): Promise<number> {
  const options: ConnectOptions = { ...nameOptions(values), ...authOptions(values), waitForServer: flag(values, 'wait') };
  const timeout = integerOption(values, 'timeout', 1, 2 ** 31 - 1);
  if (timeout !== undefined) options.timeout = timeout;

  const socket = new LocalSocket(options);
  await socket.connectToServer(name, options);
  socket.on('error', () => {}); // kept on lastError, reported below

  // stdout going away (e.g. `| head -1`) ends the session quietly.
  let stdoutGone = false;
  const onStdoutError = (): void => {
    stdoutGone = true;
    socket.abort();
  };
  process.stdout.on('error', onStdoutError);

  const sending = (async () => {
    try {
      for await (const chunk of process.stdin) {
        if (!socket.isConnected) break;
        await socket.write(chunk as Buffer);
      }
      await socket.end();
    } catch {
      // The connection ended under us: the receiving side reports why.
    }
  })();

  try {
    for await (const chunk of socket) await writeOut(process.stdout, chunk);
  } catch {
    socket.abort();
  } finally {
    process.stdout.off('error', onStdoutError);
  }
  await socket.disconnectFromServer();
  // The server closed first: stop reading stdin, nobody will take it.
  process.stdin.destroy();
  await sending;
  const ended = socket.lastError;
  if (ended && !NORMAL_END.has(ended.code) && !stdoutGone) throw ended;
  return EXIT.ok;
}
