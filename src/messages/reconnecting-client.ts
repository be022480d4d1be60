/**
 * ReconnectingClient: owns a sequence of message connections to one server
 * name. A LocalSocket still connects once; this object dials a new one each
 * time the server goes away, with exponential backoff and jitter, until it
 * is closed or runs out of attempts.
 *
 * Requests are at most once: one in flight when the connection drops
 * rejects with PEER_CLOSED and is never sent again (the server may or may
 * not have run it; only the caller can decide whether a retry is safe).
 * A request made while reconnecting waits for the next connection, within
 * its own timeout.
 *
 * A wrong server proof (AUTH_FAILED) before the first connection is a
 * configuration problem (two keys) and closes the client. After a connection
 * has once been authenticated with the same key, it is what a squatter on a
 * shared path looks like while the real server restarts: it is reported
 * (`authFailed`) and retried with the backoff, so the squatter cannot stop
 * the client from coming back.
 *
 * What the client does when the server ends the connection depends on how
 * it ended (the close code of the server's close frame):
 * - no close frame (the server crashed or was killed), or any code not below:
 *   reconnect with the usual backoff;
 * - 1001 GOING_AWAY (the server is shutting down): reconnect with the usual
 *   backoff (it may come back, later);
 * - 1012 RESTARTING: the first attempt goes at once and waits for the server
 *   to be up again (as `waitForServer`, within `timeout`), then the usual backoff;
 * - 1013 OVERLOADED: the first attempt waits `maxDelay` (the server asked for
 *   less load), then the usual backoff;
 * - 1000 NORMAL: the server is done with this client on purpose: the client
 *   closes for good (`closed` with PEER_CLOSED, and no `error` event).
 */
import { EventEmitter } from 'node:events';
import { backoffDelay } from '../backoff.js';
import { sleep, waitWithDeadline, type WaitOptions } from '../deadline.js';
import { LocalSocketError, type ErrorCode } from '../errors.js';
import { DEFAULTS, type ConnectOptions } from '../options.js';
import { checkOptionNames, CONNECT_MESSAGES_OPTIONS, pickOptions, RECONNECT_OPTIONS, REQUEST_OPTIONS, WAIT_OPTIONS } from '../option-names.js';
import { checkBoolean, checkObject, checkSignal, checkTimeout, invalidArgument, optionalLimit } from '../validate.js';
import { CloseCode, type CloseInfo } from './close.js';
import type { AnyMessageSocket, AnyNotificationHandler, AnyRequestHandler, ContractNotificationHandler, ContractRequestHandler, MessageContract, NotificationMethod, NotifyWaitArgs, RequestArgs, RequestMethod, RequestResult, Untyped } from './contract.js';
import { connectMessages, type MessageOptions, type MessageSocket, type RequestOptions } from './message-socket.js';

/**
 * States of a {@link ReconnectingClient}:
 * `idle` (not started) -> `connecting` (first connection) -> `connected`
 * -> `reconnecting` (connection lost: waiting out the backoff, or dialling again) -> `connected` ...
 * and `closed` at the end (after `close()`, a fatal connect error, or the last attempt).
 */
export type ReconnectState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Options of a {@link ReconnectingClient}. */
export interface ReconnectOptions extends ConnectOptions, MessageOptions {
  /**
   * Deadline of each connection attempt, retries for a busy server and the handshake included.
   * @defaultValue 10000
   */
  timeout?: number;
  /**
   * The first attempt waits for a server that is not up yet (within `timeout`), as `connect({ waitForServer })`.
   * Later attempts never do: the backoff spaces them.
   * @defaultValue true
   */
  waitForServer?: boolean;
  /**
   * Backoff before the first attempt after a connection is lost, in ms; doubled for each failed attempt.
   * @defaultValue 100
   */
  initialDelay?: number;
  /**
   * Longest backoff between two attempts, in ms.
   * @defaultValue 5000
   */
  maxDelay?: number;
  /**
   * Share of each backoff that is random (0 to 1): the delay is `base * (1 - jitter * random())`, so many
   * clients that lost the same server do not all come back at the same instant.
   * @defaultValue 0.5
   */
  jitter?: number;
  /**
   * Failed attempts in a row before the client gives up and closes (with the last attempt's error).
   * `Infinity`: never give up.
   * @defaultValue Infinity
   */
  maxAttempts?: number;
  /** Aborting this signal closes the client (as `close()`). */
  signal?: AbortSignal;
}

/** Events of a {@link ReconnectingClient}. */
export interface ReconnectingClientEvents {
  /** Every state change. */
  stateChanged: [state: ReconnectState, previous: ReconnectState];
  /** An attempt to connect starts (1 for the first after each connection lost or at start). */
  connecting: [attempt: number];
  /** Connected; `socket` is the connection now in use. Handlers registered on the client are in place. */
  connected: [socket: MessageSocket];
  /**
   * A server answered with a wrong proof of the key after this client had already been connected
   * (authenticated) once: possibly another user squatting the name while the real server restarts.
   * The client goes on retrying with backoff (within `maxAttempts`); `close()` it to give up.
   * Before the first connection, AUTH_FAILED closes the client instead.
   */
  authFailed: [error: LocalSocketError, attempt: number];
  /**
   * The connection in use ended (`reason`: PEER_CLOSED, or the error that ended it). `info` tells
   * a server's close on purpose (`clean`, its close `code` and `reason`) from a lost connection.
   */
  disconnected: [reason: LocalSocketError | null, info: CloseInfo];
  /** An attempt failed (or the connection was lost): the next attempt comes after `delay` ms. */
  reconnecting: [attempt: number, delay: number, lastError: LocalSocketError | null];
  /** The client is closed for good: `reason` is null after `close()`, else why it gave up. */
  closed: [reason: LocalSocketError | null];
  /** A notification from the server (also delivered to handlers registered with `onNotification`). */
  notification: [method: string, params: unknown];
  /** A JSON message from the server that is not JSON-RPC. */
  message: [value: unknown];
  /** A binary message from the server. */
  binary: [data: Buffer];
  /**
   * An error that closed the client (a fatal connect error such as AUTH_FAILED, or the last failed
   * attempt). Emitted only while someone listens for it: without a listener nothing throws, and
   * `closed` reports the same reason.
   */
  error: [error: LocalSocketError];
}

/**
 * Connect errors that another attempt cannot fix: the client closes at once
 * (a wrong key or name is a configuration problem, not an outage).
 */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['AUTH_FAILED', 'INVALID_NAME', 'INVALID_ARGUMENT', 'UNSUPPORTED', 'ACCESS_DENIED']);

/** Back-pointer from a connection to its client: connection events need no closure per connection. */
const OWNER = Symbol('reconnectingClient');
/** The client's handler of a lost connection (a symbol: not part of the public API). */
const LOST = Symbol('lost');
interface OwnedSocket extends AnyMessageSocket {
  [OWNER]?: ReconnectingClient<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function onSocketClose(this: OwnedSocket, reason: LocalSocketError | null, info: CloseInfo): void {
  this[OWNER]?.[LOST](this, reason, info);
}

/** How the next connection sequence starts: after start(), a loss, or a server's close code. */
type Resume = 'start' | 'lost' | 'restarting' | 'overloaded';
function onSocketNotification(this: OwnedSocket, method: string, params: unknown): void {
  this[OWNER]?.emit('notification', method, params);
}
function onSocketMessage(this: OwnedSocket, value: unknown): void {
  this[OWNER]?.emit('message', value);
}
function onSocketBinary(this: OwnedSocket, data: Buffer): void {
  this[OWNER]?.emit('binary', data);
}

/**
 * Connection events the client re-emits, each attached to a connection only once someone listens
 * for it on the client (an idle client with no such listener pays nothing for them).
 */
const FORWARDERS = { notification: onSocketNotification, message: onSocketMessage, binary: onSocketBinary } as const;
type Forwarded = keyof typeof FORWARDERS;
const FORWARD_BIT: Record<Forwarded, number> = { notification: 1, message: 2, binary: 4 };
/** The client's handler of a new listener for a forwarded event. */
const WANT = Symbol('want');

type Events = ReconnectingClientEvents;

interface Resolved {
  timeout: number;
  waitForServer: boolean;
  initialDelay: number;
  maxDelay: number;
  jitter: number;
  maxAttempts: number;
  requestTimeout: number;
  signal: AbortSignal | undefined;
}

const OWN_OPTIONS = ['timeout', 'waitForServer', 'initialDelay', 'maxDelay', 'jitter', 'maxAttempts', 'requestTimeout', 'signal'] as const;
let defaults: Resolved | null = null;

function resolveOptions(options: unknown): Resolved {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, RECONNECT_OPTIONS);
  // The common case (no backoff or timeout options) shares one frozen object: nothing per client.
  if (OWN_OPTIONS.every((k) => raw[k] === undefined)) return (defaults ??= Object.freeze(resolveFrom({})));
  return resolveFrom(raw);
}

function resolveFrom(raw: Record<string, unknown>): Resolved {
  const jitter = raw.jitter === undefined ? 0.5 : raw.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw invalidArgument('jitter must be a number from 0 to 1');
  const initialDelay = checkTimeout(raw.initialDelay, 100, 'initialDelay');
  const maxDelay = checkTimeout(raw.maxDelay, 5000, 'maxDelay');
  if (maxDelay < initialDelay) throw invalidArgument('maxDelay must be at least initialDelay');
  return {
    timeout: checkTimeout(raw.timeout, DEFAULTS.connectTimeout),
    waitForServer: checkBoolean(raw.waitForServer, 'waitForServer', true),
    initialDelay,
    maxDelay,
    jitter,
    maxAttempts: optionalLimit(raw.maxAttempts, 'maxAttempts', Infinity, true),
    requestTimeout: checkTimeout(raw.requestTimeout, DEFAULTS.waitTimeout, 'requestTimeout'),
    signal: checkSignal(raw.signal),
  };
}

// The reconnecting client's delays; exported from here as part of its API.
export { backoffDelay };

/**
 * A message client that survives the server's restarts.
 *
 * @example
 * const client = await connectReconnecting('mydaemon', { maxDelay: 2000 });
 * client.onNotification('changed', (params) => console.log('changed', params));
 * console.log(await client.request('status'));
 */
export class ReconnectingClient<C extends MessageContract = Untyped> extends EventEmitter<ReconnectingClientEvents> {
  readonly #name: string;
  readonly #options: ReconnectOptions;
  readonly #resolved: Resolved;
  #state: ReconnectState = 'idle';
  #socket: OwnedSocket | null = null;
  /** Only while connecting or waiting: aborts the attempt or the backoff when the client closes. */
  #attemptAbort: AbortController | null = null;
  /** Created on the first handle()/onNotification(): most clients register few or none. */
  #handlers: { requests: Map<string, AnyRequestHandler>; notifications: Map<string, AnyNotificationHandler> } | null = null;
  #closeReason: LocalSocketError | null = null;
  /**
   * Who waits for a connection (waitForConnected, requests while reconnecting). Kept apart from the
   * emitter's listeners: adding and removing those leaves every idle client a larger listener table.
   */
  #waiters: Set<() => void> | null = null;
  /** FORWARD_BIT flags of the connection events someone listens for on this client. */
  #wanted = 0;
  /** Only with a `signal` option: removed on close, so a long-lived signal does not keep the client. */
  #onAbort: (() => void) | null = null;
  #connects = 0;

  /**
   * Creates the client; nothing happens until {@link ReconnectingClient.start} (or use {@link connectReconnecting}).
   * @param name - the server name, as for `connect()`
   * @param options - {@link ReconnectOptions}: every connect option (auth, key, limits...), the message options,
   *   and the backoff
   * @throws LocalSocketError INVALID_ARGUMENT for a bad option
   */
  constructor(name: string, options: ReconnectOptions = {}) {
    super();
    if (typeof name !== 'string') throw invalidArgument('name must be a string');
    this.#resolved = resolveOptions(options);
    this.#name = name;
    // Kept by reference (not copied): many clients may share one options object. Read at each attempt.
    this.#options = options;
    const signal = this.#resolved.signal;
    if (signal) {
      this.#onAbort = () => void this.close();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  // ---- events: EventEmitter's, plus forwarding of connection events once someone listens ---------

  /**
   * Adds a listener (see {@link ReconnectingClientEvents}). A listener for `notification`, `message`
   * or `binary` also starts forwarding that event from the connections.
   * @param event - the event name
   * @param listener - called with the event's arguments
   * @returns this client
   */
  override on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    super.on(event, listener as never);
    this.#added(event);
    return this;
  }

  /** Same as {@link ReconnectingClient.on}. @param event - the event name @param listener - the listener @returns this client */
  override addListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.on(event, listener);
  }

  /**
   * As {@link ReconnectingClient.on}, the listener first in line.
   * @param event - the event name
   * @param listener - called with the event's arguments
   * @returns this client
   */
  override prependListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    super.prependListener(event, listener as never);
    this.#added(event);
    return this;
  }

  /**
   * Adds a listener called at most once (through {@link ReconnectingClient.on}; works with `events.once(client, name)`).
   * @param event - the event name
   * @param listener - called with the event's arguments
   * @returns this client
   */
  override once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return super.once(event, listener as never);
  }

  /**
   * Removes a listener.
   * @param event - the event name
   * @param listener - the listener added before
   * @returns this client
   */
  override off<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return super.off(event, listener as never);
  }

  /** Same as {@link ReconnectingClient.off}. @param event - the event name @param listener - the listener @returns this client */
  override removeListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.off(event, listener);
  }

  // The typed signatures above keep listeners checked against ReconnectingClientEvents even for a
  // generic event name; prependOnceListener() adds through prependListener().

  #added(event: string | symbol): void {
    if (event === 'notification' || event === 'message' || event === 'binary') this[WANT](event);
  }

  /** The current state. */
  get state(): ReconnectState {
    return this.#state;
  }

  /** True while a connection is up. */
  get isConnected(): boolean {
    return this.#state === 'connected';
  }

  /** The connection in use, or null while there is none. It is replaced after each reconnect. */
  get socket(): MessageSocket<C> | null {
    return this.#socket as MessageSocket<C> | null;
  }

  /** How many times a connection was established (1 after the first, 2 after the first reconnect...). */
  get connectCount(): number {
    return this.#connects;
  }

  /**
   * Starts connecting in the background (idempotent). Watch `state` or the
   * events, or await {@link ReconnectingClient.waitForConnected}.
   * @throws LocalSocketError INVALID_STATE once closed; ABORTED (and the client closes)
   *   if the `signal` option has already fired
   */
  start(): void {
    if (this.#state === 'closed') throw new LocalSocketError('INVALID_STATE', 'start: the client is closed');
    if (this.#state !== 'idle') return;
    if (this.#resolved.signal?.aborted) {
      void this.close();
      throw new LocalSocketError('ABORTED', 'aborted');
    }
    this.#setState('connecting');
    void this.#connectLoop('start');
  }

  /**
   * Waits until a connection is up.
   * Before `start()` it waits too (within its deadline).
   * @param options - `timeout` (ms, default 30000) and `signal`
   * @returns the connection in use
   * @throws LocalSocketError TIMEOUT, ABORTED, INVALID_STATE (closed),
   *   or the error the client gave up with
   */
  waitForConnected(options?: WaitOptions): Promise<MessageSocket> {
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      const raw = checkObject(options, 'options');
      checkOptionNames(raw, WAIT_OPTIONS);
      timeout = checkTimeout(raw.timeout, DEFAULTS.waitTimeout);
      signal = checkSignal(raw.signal);
    } catch (err) {
      // A promise-returning method never throws: bad options reject.
      return Promise.reject(err);
    }
    return this.#waitForSocket('waitForConnected', timeout, signal);
  }

  #waitForSocket(what: string, timeout: number, signal: AbortSignal | undefined): Promise<MessageSocket> {
    return waitWithDeadline<MessageSocket>(what, timeout, signal, (resolve, reject) => {
      const check = (): void => {
        if (this.#state === 'connected' && this.#socket) resolve(this.#socket);
        else if (this.#state === 'closed') reject(this.#closedError(what));
      };
      check();
      const waiters = (this.#waiters ??= new Set());
      waiters.add(check);
      return () => {
        waiters.delete(check);
        if (waiters.size === 0 && this.#waiters === waiters) this.#waiters = null;
      };
    });
  }

  #closedError(what: string): LocalSocketError {
    return this.#closeReason ?? new LocalSocketError('INVALID_STATE', `${what}: the client is closed`);
  }

  /**
   * Sends a request on the connection in use; while reconnecting, waits for
   * the next connection first. `timeout` covers the wait and the request
   * together. Never resent: see the class description.
   * @param method - the JSON-RPC method
   * @param args - the params (as the contract declares them; optional when they may be undefined), then the options. params: any JSON value, or undefined for none; options: `timeout` (ms; default `requestTimeout`, 30000) and `signal`
   * @returns the result
   * @throws LocalSocketError REMOTE_ERROR (the handler's error), TIMEOUT, ABORTED,
   *   PEER_CLOSED (the connection dropped while in flight), INVALID_STATE (closed),
   *   MESSAGE_TOO_LARGE, INVALID_ARGUMENT
   */
  request<M extends RequestMethod<C, 'server'>>(method: M, ...args: RequestArgs<C, 'server', M>): Promise<RequestResult<C, 'server', M>>;
  request(method: string, params?: unknown, options?: RequestOptions): Promise<unknown> {
    const socket = this.#socket;
    // Fast path: connected, nothing to wait for.
    if (socket !== null && this.#state === 'connected') return socket.request(method, params, options);
    return this.#requestLater(method, params, options);
  }

  async #requestLater(method: string, params: unknown, options: RequestOptions | undefined): Promise<unknown> {
    const raw = checkObject(options, 'options');
    checkOptionNames(raw, REQUEST_OPTIONS);
    const timeout = checkTimeout(raw.timeout, this.#resolved.requestTimeout);
    const signal = checkSignal(raw.signal);
    const started = Date.now();
    const socket = await this.#waitForSocket('request', timeout, signal);
    const remaining = timeout - (Date.now() - started);
    return socket.request(method, params, { timeout: Math.max(remaining, 1), ...(signal ? { signal } : {}) });
  }

  /**
   * Sends a notification; while reconnecting, waits for the next connection
   * first (within `timeout`). Resolves once handed to the kernel.
   * @param method - the JSON-RPC method
   * @param args - the params (as the contract declares them; optional when they may be undefined), then the options. params: any JSON value, or undefined for none; options: `timeout` for the wait (ms; default `requestTimeout`) and `signal`
   * @returns resolves once the notification is handed to the kernel
   * @throws LocalSocketError TIMEOUT, ABORTED, INVALID_STATE (closed), PEER_CLOSED, MESSAGE_TOO_LARGE
   */
  notify<M extends NotificationMethod<C, 'server'>>(method: M, ...args: NotifyWaitArgs<C, 'server', M>): Promise<void>;
  notify(method: string, params?: unknown, options?: WaitOptions): Promise<void> {
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      const raw = checkObject(options, 'options');
      checkOptionNames(raw, WAIT_OPTIONS);
      timeout = checkTimeout(raw.timeout, this.#resolved.requestTimeout);
      signal = checkSignal(raw.signal);
    } catch (err) {
      // A promise-returning method never throws: bad options reject, connected or not.
      return Promise.reject(err);
    }
    const socket = this.#socket;
    if (socket !== null && this.#state === 'connected') return socket.notify(method, params);
    return this.#waitForSocket('notify', timeout, signal).then((s) => s.notify(method, params));
  }

  /**
   * Registers a handler for requests `method` from the server, kept across reconnects.
   * @param method - the JSON-RPC method
   * @param handler - returns (or resolves to) the result; a throw becomes an error reply
   * @returns this client
   * @throws LocalSocketError INVALID_ARGUMENT
   */
  handle<M extends RequestMethod<C, 'client'>>(method: M, handler: ContractRequestHandler<C, 'client', M>): this;
  handle(method: string, handler: AnyRequestHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    (this.#handlers ??= { requests: new Map(), notifications: new Map() }).requests.set(method, handler);
    this.#socket?.handle(method, handler);
    return this;
  }

  /**
   * Registers a handler for notifications `method` from the server, kept across reconnects.
   * @param method - the JSON-RPC method
   * @param handler - called with the params and the connection they came on
   * @returns this client
   * @throws LocalSocketError INVALID_ARGUMENT
   */
  onNotification<M extends NotificationMethod<C, 'client'>>(method: M, handler: ContractNotificationHandler<C, 'client', M>): this;
  onNotification(method: string, handler: AnyNotificationHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    (this.#handlers ??= { requests: new Map(), notifications: new Map() }).notifications.set(method, handler);
    this.#socket?.onNotification(method, handler);
    return this;
  }

  /**
   * Closes for good: stops any attempt or backoff, closes the connection
   * (flushing what is queued), and rejects whatever waits for a connection
   * with INVALID_STATE. Requests in flight end as the connection's close
   * decides. Idempotent.
   * @returns resolves once the connection is closed
   */
  async close(): Promise<void> {
    await this.#shutdown(null);
  }

  async #shutdown(reason: LocalSocketError | null, asError = true): Promise<void> {
    if (this.#state === 'closed') return;
    this.#closeReason = reason;
    if (this.#onAbort) this.#resolved.signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
    const socket = this.#socket;
    this.#socket = null;
    this.#attemptAbort?.abort(new LocalSocketError('ABORTED', 'the client was closed'));
    this.#attemptAbort = null;
    this.#setState('closed');
    // Only to a listener: an unheard 'error' would throw from EventEmitter here; `closed` carries the reason anyway.
    if (reason && asError && this.listenerCount('error') > 0) this.emit('error', reason);
    this.emit('closed', reason);
    if (socket) {
      socket[OWNER] = undefined;
      await socket.close().catch(() => {});
    }
  }

  // ---- the connection sequence --------------------------------------------------------

  /** Dials until connected, closed, or out of attempts; how the first attempt goes depends on `resume`. */
  async #connectLoop(resume: Resume): Promise<void> {
    const controller = new AbortController();
    this.#attemptAbort = controller;
    const signal = controller.signal;
    let lastError: LocalSocketError | null = null;
    // Waiting for the server: at the very start (if asked), and when it said it is restarting.
    let first = (resume === 'start' && this.#connects === 0) || resume === 'restarting';
    for (let attempt = 1; ; attempt++) {
      if (resume === 'lost' || resume === 'overloaded' || attempt > 1) {
        const delay = attempt === 1 && resume === 'overloaded' ? this.#resolved.maxDelay : backoffDelay(attempt, this.#resolved);
        this.emit('reconnecting', attempt, delay, lastError);
        try {
          await sleep(delay, signal);
        } catch {
          return; // closed
        }
      }
      if (signal.aborted) return;
      this.emit('connecting', attempt);
      try {
        const socket: OwnedSocket = await connectMessages(this.#name, {
          ...pickOptions(this.#options, CONNECT_MESSAGES_OPTIONS),
          timeout: this.#resolved.timeout,
          waitForServer: first && (this.#resolved.waitForServer || resume === 'restarting'),
          signal,
        });
        if (signal.aborted) {
          socket.abort();
          return;
        }
        this.#attemptAbort = null;
        this.#adopt(socket);
        return;
      } catch (err) {
        if (signal.aborted) return;
        first = false;
        lastError = err instanceof LocalSocketError ? err : new LocalSocketError('UNKNOWN', 'connect failed', { cause: err });
        // Once authenticated with this key, a wrong proof is the server's side changing, not ours: retry.
        const squatted = lastError.code === 'AUTH_FAILED' && this.#connects > 0;
        if (squatted) this.emit('authFailed', lastError, attempt);
        if ((FATAL.has(lastError.code) && !squatted) || attempt >= this.#resolved.maxAttempts) {
          this.#attemptAbort = null;
          await this.#shutdown(lastError);
          return;
        }
      }
    }
  }

  #adopt(socket: OwnedSocket): void {
    socket[OWNER] = this;
    socket.on('close', onSocketClose);
    const wanted = this.#wanted;
    if (wanted !== 0) {
      for (const event of Object.keys(FORWARDERS) as Forwarded[]) if (wanted & FORWARD_BIT[event]) socket.on(event, FORWARDERS[event]);
    }
    const handlers = this.#handlers;
    if (handlers) {
      for (const [method, handler] of handlers.requests) socket.handle(method, handler);
      for (const [method, handler] of handlers.notifications) socket.onNotification(method, handler);
    }
    if (!socket.isOpen) {
      // Lost between the handshake and now: treat it as a loss.
      this.#socket = socket;
      const lost = new LocalSocketError('PEER_CLOSED', 'the connection was lost: the peer went away without a close frame');
      this[LOST](socket, lost, { clean: false, by: 'peer', code: null, reason: '', error: lost });
      return;
    }
    this.#socket = socket;
    this.#connects++;
    this.#setState('connected');
    this.emit('connected', socket);
  }

  /** @internal A listener for a forwarded connection event was added: forward it from now on. */
  [WANT](event: Forwarded): void {
    const bit = FORWARD_BIT[event];
    if (this.#wanted & bit) return;
    this.#wanted |= bit;
    this.#socket?.on(event, FORWARDERS[event]);
  }

  /** @internal Called when a connection in use ends. */
  [LOST](lost: MessageSocket, reason: LocalSocketError | null, info: CloseInfo): void {
    const socket = lost as OwnedSocket;
    if (socket !== this.#socket || this.#state === 'closed') return;
    socket[OWNER] = undefined;
    this.#socket = null;
    const byServer = info.by === 'peer' && info.clean ? info.code : null;
    if (byServer === CloseCode.NORMAL) {
      // The server is done with this client on purpose: not an outage to ride out.
      this.emit('disconnected', reason, info);
      void this.#shutdown(reason, false);
      return;
    }
    this.#setState('reconnecting');
    this.emit('disconnected', reason, info);
    void this.#connectLoop(byServer === CloseCode.RESTARTING ? 'restarting' : byServer === CloseCode.OVERLOADED ? 'overloaded' : 'lost');
  }

  #setState(next: ReconnectState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.emit('stateChanged', next, previous);
    const waiters = this.#waiters;
    if (waiters) for (const check of [...waiters]) check();
  }
}

/**
 * Creates a {@link ReconnectingClient}, starts it, and waits for its first
 * connection (within `options.timeout`, waiting for a server that is not up
 * yet unless `waitForServer: false`). If that fails the client is closed.
 * @param name - the server name
 * @param options - {@link ReconnectOptions}
 * @returns the connected client
 * @throws LocalSocketError TIMEOUT, AUTH_FAILED, INVALID_NAME, INVALID_ARGUMENT, ABORTED,
 *   or the last attempt's error when `maxAttempts` ran out
 */
export async function connectReconnecting<C extends MessageContract = Untyped>(name: string, options: ReconnectOptions = {}): Promise<ReconnectingClient<C>> {
  const client = new ReconnectingClient<C>(name, options);
  client.start();
  const raw = checkObject(options, 'options');
  const timeout = checkTimeout(raw.timeout, DEFAULTS.connectTimeout);
  try {
    await client.waitForConnected({ timeout, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}
