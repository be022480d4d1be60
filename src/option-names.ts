/**
 * The option names each public entry point accepts. A name that is not one of
 * them is a typo (`acess`, `timout`), and a misspelt security option must not
 * silently fall back to its default: it is refused with `INVALID_ARGUMENT`,
 * naming the closest valid name.
 *
 * Each list is written against its options interface: the compiler refuses a
 * list that misses an option of the interface or names one it does not have.
 * A new option is added to its interface and then to the one list here that
 * the compiler points at.
 */
import type { AuthOptions } from './auth/options.js';
import { closestName } from './closest-name.js';
import type { WaitOptions } from './deadline.js';
import type { MessageServerOptions } from './messages/message-server.js';
import type { MessageOptions, RequestOptions } from './messages/message-socket.js';
import type { ReconnectOptions } from './messages/reconnecting-client.js';
import type { SingleInstanceOptions } from './messages/single-instance.js';
import type { NameOptions } from './endpoint/names.js';
import type { ConnectOptions, ServerOptions, SocketLimits } from './options.js';
import { invalidArgument } from './validate.js';

/** Every option of T, each marked once (optional ones included). */
type Every<T> = { readonly [K in keyof T]-?: true };

/** The accepted names of one entry point. */
export type OptionNames = ReadonlySet<string>;

const namesOf = <T>(every: Every<T>): OptionNames => new Set(Object.keys(every));

const LIMITS: Every<SocketLimits> = { maxReadBuffer: true, maxWriteBuffer: true, idleTimeout: true, closeTimeout: true, allowHalfOpen: true };
const NAMING: Every<NameOptions> = { qtCompatible: true, abstract: true };
const AUTH: Every<AuthOptions> = { auth: true, key: true, keyFile: true, handshakeTimeout: true };
const CONNECT: Every<ConnectOptions> = { ...LIMITS, ...NAMING, ...AUTH, timeout: true, signal: true, waitForServer: true };
const SERVER: Every<ServerOptions> = {
  ...LIMITS, ...NAMING, ...AUTH,
  maxHandshakes: true, access: true, maxPendingConnections: true, maxConnections: true,
};
const MESSAGE: Every<MessageOptions> = { maxMessageSize: true, requestTimeout: true, maxRequestsInFlight: true };
const MESSAGE_SERVER: Every<MessageServerOptions> = { ...SERVER, ...MESSAGE };

/** `connect()`, `new LocalSocket()`, `connectToServer()`. */
export const CONNECT_OPTIONS = namesOf<ConnectOptions>(CONNECT);
/** `listen()`, `new LocalServer()`. */
export const SERVER_OPTIONS = namesOf<ServerOptions>(SERVER);
/** The object form of a server name: `listen({ fd })`. */
export const FD_NAME_OPTIONS = namesOf<{ fd: number }>({ fd: true });
/** Every `waitFor...()` and `ReconnectingClient.notify()`. */
export const WAIT_OPTIONS = namesOf<WaitOptions>({ timeout: true, signal: true });
/** `new MessageSocket()`. */
export const MESSAGE_OPTIONS = namesOf<MessageOptions>(MESSAGE);
/** `MessageSocket.request()`, `ReconnectingClient.request()`. */
export const REQUEST_OPTIONS = namesOf<RequestOptions>({ timeout: true, signal: true });
/** `connectMessages()`. */
export const CONNECT_MESSAGES_OPTIONS = namesOf<ConnectOptions & MessageOptions>({ ...CONNECT, ...MESSAGE });
/** `listenMessages()`, `new MessageServer()`. */
export const MESSAGE_SERVER_OPTIONS = namesOf<MessageServerOptions>(MESSAGE_SERVER);
/** `connectReconnecting()`, `new ReconnectingClient()`. */
export const RECONNECT_OPTIONS = namesOf<ReconnectOptions>({
  ...CONNECT, ...MESSAGE,
  initialDelay: true, maxDelay: true, jitter: true, maxAttempts: true,
});
/** `singleInstance()`. */
export const SINGLE_INSTANCE_OPTIONS = namesOf<SingleInstanceOptions>({ ...MESSAGE_SERVER, argv: true, cwd: true, timeout: true, signal: true });

/** Longest stretch of an unknown name quoted back in the message. */
const MAX_QUOTED = 64;

/**
 * Refuses any own enumerable key of `options` that `valid` does not hold.
 *
 * @param options - the caller's options object, already checked to be an object.
 * @param valid - the names the entry point accepts.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` naming the unknown option and the closest valid name.
 */
export function checkOptionNames(options: Record<string, unknown>, valid: OptionNames): void {
  for (const key of Object.keys(options)) {
    if (valid.has(key)) continue;
    const quoted = JSON.stringify(key.length > MAX_QUOTED ? `${key.slice(0, MAX_QUOTED)}...` : key);
    const closest = closestName(key, valid);
    throw invalidArgument(`unknown option ${quoted}${closest === undefined ? '' : ` (did you mean "${closest}"?)`}`);
  }
}

/**
 * The options meant for an inner entry point, when an outer one (which has
 * checked every name against its own, longer list) passes them on.
 *
 * @param options - the caller's options, names already checked.
 * @param names - the names the inner entry point accepts.
 * @returns a new object with only those of `options`' own keys.
 */
export function pickOptions<T extends object>(options: T, names: OptionNames): T {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(options)) if (names.has(key)) picked[key] = (options as Record<string, unknown>)[key];
  return picked as T;
}
