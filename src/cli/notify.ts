/** `localsocket notify NAME METHOD [PARAMS_JSON | -]`: one JSON-RPC notification from the shell. */
import { LocalSocketError } from '../errors.js';
import { connectMessages } from '../messages/message-socket.js';
import { flag, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { messageClientOptions, MESSAGE_CLIENT_OPTIONS, readParams } from './message-args.js';
import { EXIT } from './output.js';
import { withWaitingClient } from './wait-client.js';

export const NOTIFY_OPTIONS: OptionSpecs = MESSAGE_CLIENT_OPTIONS;

export const NOTIFY_HELP = `Usage: localsocket notify NAME METHOD [PARAMS_JSON | -] [options]

Sends the notification METHOD with the given params (JSON; "-" reads them
from stdin) to the message server NAME. Notifications have no answer: exit
status 0 means it was handed to the connection and the connection closed
cleanly after it, not that a handler ran.

Options:
${optionsHelp(MESSAGE_CLIENT_OPTIONS)}

Example:
  localsocket notify myapp reload '{"config":"/etc/myapp.json"}'`;

/**
 * Runs `notify`: one notification, flushed before the connection is closed.
 * @param values - Parsed options (--timeout, --wait, --raw, --key-file, --qt, --abstract).
 * @param name - The server name.
 * @param method - The notification's method.
 * @param paramsText - JSON text, "-" for stdin, or undefined for no params.
 * @returns 0 once it was sent and the connection closed cleanly.
 * @throws UsageError (exit 2) for bad options or params; LocalSocketError for any connect or send failure.
 */
export async function runNotify(values: Values, name: string, method: string, paramsText: string | undefined): Promise<number> {
  const { options, timeout } = messageClientOptions(values);
  const params = await readParams('notify', paramsText);
  const deadline = Date.now() + timeout;
  if (flag(values, 'wait')) {
    await withWaitingClient(name, options, timeout, (client) => client.notify(method, params.given ? params.value : undefined, { timeout }));
    return EXIT.ok;
  }
  const peer = await connectMessages(name, options);
  peer.on('error', () => {});
  // One deadline for the whole command: a server that does not read cannot hold us past it.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    peer.abort();
  }, Math.max(1, deadline - Date.now()));
  try {
    await (params.given ? peer.notify(method, params.value) : peer.notify(method));
    // close() flushes what is queued before it disconnects: a failure to deliver is reported.
    await peer.close();
  } catch (err) {
    peer.abort();
    throw timedOut ? new LocalSocketError('TIMEOUT', 'notify: timed out', { cause: err }) : err;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new LocalSocketError('TIMEOUT', 'notify: timed out');
  return EXIT.ok;
}
