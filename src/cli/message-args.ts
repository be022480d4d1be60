/**
 * What `call` and `notify` share: their options, the connect options they
 * make, and the params argument (JSON text, or "-" to read it from stdin,
 * bounded by the message size limit).
 */
import { LocalSocketError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../messages/frame.js';
import type { ConnectOptions } from '../options.js';
import { AUTH_OPTIONS, authOptions, flag, integerOption, nameOptions, NAME_OPTIONS, UsageError, type OptionSpecs, type Values } from './args.js';

/** The default deadline of `call` and `notify`, connect and answer included, in ms. */
export const DEFAULT_MESSAGE_TIMEOUT = 10_000;

export const MESSAGE_CLIENT_OPTIONS: OptionSpecs = {
  timeout: { type: 'string', value: 'MS', description: 'deadline for the whole command: connect, handshake, sending and (call) the answer', defaultText: String(DEFAULT_MESSAGE_TIMEOUT) },
  wait: {
    type: 'boolean',
    description: 'wait (up to the timeout) for a server that is not up yet or restarting, retrying as the reconnecting client does (backoff from 50 ms to 1 s, with jitter); what is sent is sent once, never repeated',
  },
  ...AUTH_OPTIONS,
  ...NAME_OPTIONS,
};


/** Connect options from the command line, and the deadline of the whole command. */
export function messageClientOptions(values: Values): { options: ConnectOptions; timeout: number } {
  const timeout = integerOption(values, 'timeout', 1, 2 ** 31 - 1) ?? DEFAULT_MESSAGE_TIMEOUT;
  const options: ConnectOptions = { ...nameOptions(values), ...authOptions(values), waitForServer: flag(values, 'wait'), timeout };
  return { options, timeout };
}

/** Reads all of stdin, refusing more than `limit` bytes (nothing past it is kept). */
async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      process.stdin.destroy();
      throw new LocalSocketError('MESSAGE_TOO_LARGE', `params: more than ${limit} bytes on stdin`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/**
 * The params of a request or notification: absent, JSON text, or "-" for JSON on stdin
 * (which may be larger than a command-line argument can be).
 * @throws UsageError for text that is not JSON; LocalSocketError `MESSAGE_TOO_LARGE` for stdin over the limit.
 */
export async function readParams(command: string, text: string | undefined): Promise<{ given: boolean; value: unknown }> {
  if (text === undefined) return { given: false, value: undefined };
  const fromStdin = text === '-';
  const json = fromStdin ? (await readStdin(DEFAULT_MAX_MESSAGE_SIZE)).toString('utf8') : text;
  try {
    return { given: true, value: JSON.parse(json) };
  } catch {
    throw new UsageError(`${command}: ${fromStdin ? 'stdin' : 'PARAMS_JSON'} is not valid JSON`);
  }
}
