/** `localsocket call NAME METHOD [PARAMS_JSON | -]`: one JSON-RPC request from the shell. */
import { backoff, CONNECT_BACKOFF } from '../backoff.js';
import { sleep } from '../deadline.js';
import { LocalSocketError } from '../errors.js';
import { connectMessages, isBusyDrop } from '../messages/message-socket.js';
import { flag, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { messageClientOptions, MESSAGE_CLIENT_OPTIONS, readParams } from './message-args.js';
import { EXIT } from './output.js';
import { writeOut } from './serve.js';
import { withWaitingClient } from './wait-client.js';

export const CALL_OPTIONS: OptionSpecs = MESSAGE_CLIENT_OPTIONS;

export const CALL_HELP = `Usage: localsocket call NAME METHOD [PARAMS_JSON | -] [options]

Sends the request METHOD with the given params (JSON; "-" reads them from
stdin, so they can be larger than a command-line argument) to the message
server NAME, and prints the result as one line of JSON on stdout. An error
answer is printed as "localsocket: REMOTE_ERROR: ..." with exit status 1.

Options:
${optionsHelp(MESSAGE_CLIENT_OPTIONS)}

Examples:
  localsocket call myapp ping
  localsocket call myapp echo '{"text":"hi"}'
  localsocket call myapp store - --timeout 30000 < big.json`;

/**
 * Runs `call`: one request, its result printed as JSON.
 * @param values - Parsed options (--timeout, --wait, --raw, --key-file, --qt, --abstract).
 * @param name - The server name.
 * @param method - The method to call.
 * @param paramsText - JSON text, "-" for stdin, or undefined for no params.
 * @returns 0 once the result is printed.
 * @throws UsageError (exit 2) for bad options or params; LocalSocketError REMOTE_ERROR for an error
 *   answer, or any connect or request failure (SERVER_NOT_FOUND, AUTH_FAILED, TIMEOUT, ...).
 */
export async function runCall(values: Values, name: string, method: string, paramsText: string | undefined): Promise<number> {
  const { options, timeout } = messageClientOptions(values);
  const params = await readParams('call', paramsText);
  const deadline = Date.now() + timeout;
  const value = params.given ? params.value : undefined;
  if (flag(values, 'wait')) {
    const result = await withWaitingClient(name, options, timeout, (client) => client.request(method, value, { timeout }));
    await writeOut(process.stdout, Buffer.from(`${JSON.stringify(result ?? null)}\n`));
    return EXIT.ok;
  }
  let result: unknown;
  for (let attempt = 0; ; attempt++) {
    const peer = await connectMessages(name, { ...options, timeout: Math.max(1, deadline - Date.now()) });
    peer.on('error', () => {}); // the pending request rejects with the reason
    try {
      const requestTimeout = Math.max(1, deadline - Date.now());
      result = params.given ? await peer.request(method, params.value, { timeout: requestTimeout }) : await peer.request(method, undefined, { timeout: requestTimeout });
    } catch (err) {
      // Nothing left worth flushing (a server that does not read would hold a close).
      peer.abort();
      // Dropped with BUSY before the server accepted us: the request never reached it, so it is
      // sent again on a new connection, as a connect retries BUSY, within the same deadline.
      if (!isBusyDrop(err)) throw err;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new LocalSocketError('RESOURCE_EXHAUSTED', 'connect: the server is busy (retried until the deadline)');
      await sleep(Math.min(remaining, backoff(CONNECT_BACKOFF, attempt)));
      continue;
    }
    await peer.close().catch(() => {});
    break;
  }
  await writeOut(process.stdout, Buffer.from(`${JSON.stringify(result ?? null)}\n`));
  return EXIT.ok;
}
