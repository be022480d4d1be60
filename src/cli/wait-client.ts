/**
 * `call --wait` and `notify --wait`: the reconnecting client's retry rules
 * for one command. Attempts are spaced by its backoff (50 ms doubling up to
 * 1 s, with jitter) until the command's deadline, so a server that is not up
 * yet, or restarting, is found; what is sent is sent once (at most once: a
 * request cut off by a dropped connection fails with PEER_CLOSED, it is not
 * sent again).
 */
import { LocalSocketError } from '../errors.js';
import { ReconnectingClient } from '../messages/reconnecting-client.js';
import type { ConnectOptions } from '../options.js';

/** The backoff of `--wait`: first retry after up to 50 ms, at most 1 s apart. */
export const WAIT_BACKOFF = { initialDelay: 50, maxDelay: 1000 } as const;

/**
 * Runs `use` with a started ReconnectingClient, then closes it (flushing what
 * was sent), all within `timeout`: a server that does not read cannot hold
 * the command past its deadline.
 * @param name - the server name
 * @param options - the command's connect options (names, auth)
 * @param timeout - the whole command's deadline, ms
 * @param use - sends what the command sends, with its own deadline
 * @returns what `use` returns
 * @throws LocalSocketError TIMEOUT at the deadline, or what `use` or the connection failed with
 */
export async function withWaitingClient<T>(name: string, options: ConnectOptions, timeout: number, use: (client: ReconnectingClient) => Promise<T>): Promise<T> {
  // Attempts never wait inside connect (waitForServer: false): the backoff spaces them instead.
  const client = new ReconnectingClient(name, { ...options, ...WAIT_BACKOFF, waitForServer: false, timeout });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    client.socket?.abort();
    void client.close();
  }, timeout);
  try {
    client.start();
    const result = await use(client);
    // Flush what was sent; a failure to deliver is reported.
    await client.socket?.close();
    if (timedOut) throw new LocalSocketError('TIMEOUT', 'timed out');
    return result;
  } catch (err) {
    // Nothing left worth flushing (a server that does not read would hold a close).
    client.socket?.abort();
    throw timedOut ? new LocalSocketError('TIMEOUT', 'timed out', { cause: err }) : err;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}
