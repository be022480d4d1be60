/** `localsocket notify NAME METHOD [PARAMS_JSON | -]`: one JSON-RPC notification from the shell. */
import { connectMessages } from '../messages/message-socket.js';
import { flag, type OptionSpecs, type Values } from './args.js';
import { messageClientOptions, MESSAGE_CLIENT_OPTIONS, MESSAGE_CLIENT_OPTIONS_HELP, readParams } from './message-args.js';
import { EXIT } from './output.js';
import { withWaitingClient } from './wait-client.js';

export const NOTIFY_OPTIONS: OptionSpecs = MESSAGE_CLIENT_OPTIONS;

export const NOTIFY_HELP = `Usage: localsocket notify NAME METHOD [PARAMS_JSON | -] [options]

Sends the notification METHOD with the given params (JSON; "-" reads them
from stdin) to the message server NAME. Notifications have no answer: exit
status 0 means it was handed to the connection and the connection closed
cleanly after it, not that a handler ran.

Options:
${MESSAGE_CLIENT_OPTIONS_HELP}

Example:
  localsocket notify myapp reload '{"config":"/etc/myapp.json"}'`;

export async function runNotify(values: Values, name: string, method: string, paramsText: string | undefined): Promise<number> {
  const { options, timeout } = messageClientOptions(values);
  const params = await readParams('notify', paramsText);
  if (flag(values, 'wait')) {
    await withWaitingClient(name, options, (client) => client.notify(method, params.given ? params.value : undefined, { timeout }));
    return EXIT.ok;
  }
  const peer = await connectMessages(name, options);
  peer.on('error', () => {});
  try {
    await (params.given ? peer.notify(method, params.value) : peer.notify(method));
  } catch (err) {
    peer.abort();
    throw err;
  }
  // close() flushes what is queued before it disconnects: a failure to deliver is reported.
  await peer.close();
  return EXIT.ok;
}
