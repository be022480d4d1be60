/**
 * `call --wait` and `notify --wait`: the reconnecting client's retry rules
 * for one command. Attempts are spaced by its backoff (50 ms doubling up to
 * 1 s, with jitter) until the command's deadline, so a server that is not up
 * yet, or restarting, is found; what is sent is sent once (at most once: a
 * request cut off by a dropped connection fails with PEER_CLOSED, it is not
 * sent again).
 */
import { ReconnectingClient } from '../messages/reconnecting-client.js';
import type { ConnectOptions } from '../options.js';

/** The backoff of `--wait`: first retry after up to 50 ms, at most 1 s apart. */
export const WAIT_BACKOFF = { initialDelay: 50, maxDelay: 1000 } as const;

/**
 * Runs `use` with a started ReconnectingClient, and closes it afterwards.
 * @param name - the server name
 * @param options - the command's connect options (names, auth); `timeout` is the whole command's
 * @param use - sends what the command sends; it must pass its own deadline
 * @returns what `use` returns
 */
export async function withWaitingClient<T>(name: string, options: ConnectOptions, use: (client: ReconnectingClient) => Promise<T>): Promise<T> {
  // Attempts never wait inside connect (waitForServer: false): the backoff spaces them instead.
  const client = new ReconnectingClient(name, { ...options, ...WAIT_BACKOFF, waitForServer: false });
  client.start();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}
