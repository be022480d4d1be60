/**
 * MessageServer: a LocalServer whose every accepted connection becomes a
 * MessageSocket (a "peer"). It keeps the set of connected peers, applies the
 * handlers registered on the server to every peer, and broadcasts
 * notifications.
 *
 * Broadcast never waits for a peer. The frame is encoded once and the same
 * Buffer is queued on every peer's bounded writer; a peer whose queue
 * (accepted and waiting) would pass its `maxWriteBuffer` is dropped with
 * RESOURCE_EXHAUSTED. Dropping (rather than skipping) is deliberate: a peer
 * that silently misses messages would hold a wrong picture of the server's
 * state, whereas a dropped peer knows it (its connection ends) and can
 * reconnect and resynchronise. Memory stays bounded by `maxWriteBuffer` per
 * peer, and the other peers are not affected. Replies follow the same rule
 * (see MessageSocket): a peer that asks and does not read is dropped alike.
 */
import { EventEmitter } from 'node:events';
import { LocalSocketError } from '../errors.js';
import { serverOptionsFrom, type ServerOptions } from '../options.js';
import { serverWithOptions, type LocalServer } from '../server.js';
import type { LocalSocket } from '../socket.js';
import { checkOptionNames, MESSAGE_SERVER_OPTIONS } from '../option-names.js';
import { checkObject, invalidArgument } from '../validate.js';
import { checkCloseOptions, CloseCode, type CloseInfo, type CloseOptions } from './close.js';
import { writeWholeFrameWithin } from './encode.js';
import { FRAME_HEADER_BYTES, FrameType, tooLarge, writeFrameHeader } from './frame.js';
import { MAX_JSON_DEPTH, textTooDeep } from './json-depth.js';
import type { AnyMessageSocket, AnyNotificationHandler, AnyRequestHandler, ContractNotificationHandler, ContractRequestHandler, MessageContract, NotificationMethod, NotifyArgs, RequestMethod, Untyped } from './contract.js';
import { dropConnection, messageOptionsFrom, wrapSocket, type MessageOptions, type MessageSocket, type ResolvedMessageOptions } from './message-socket.js';

/** Options of a MessageServer: every LocalServer option, and the message options applied to each peer. */
export interface MessageServerOptions extends ServerOptions, MessageOptions {}

/** Events of a {@link MessageServer}. */
export interface MessageServerEvents {
  /** A peer connected (authenticated, unless raw mode) and is now in `peers`. Its handlers are in place. */
  peerJoined: [peer: MessageSocket];
  /**
   * A peer left and is no longer in `peers`. `reason` is null after a local
   * close, RESOURCE_EXHAUSTED when it fell behind past its write limit (a broadcast, or
   * answers to requests it does not read), PROTOCOL_ERROR when it broke the protocol,
   * PEER_CLOSED when it went away, or the error that ended its connection.
   * `info` says how (as the peer's `close` event): `clean` and `by: 'peer'` with
   * its close `code` and `reason` when it closed on purpose; `clean: false` with
   * the `error` when it was lost (crash, kill) or dropped here.
   */
  peerLeft: [peer: MessageSocket, reason: LocalSocketError | null, info: CloseInfo];
  /** A connection was turned away before it became a peer (limits, failed or timed-out handshake). */
  refused: [reason: LocalSocketError];
  /** A server-level error (not a peer's: those end that peer and show in `peerLeft`). */
  error: [error: LocalSocketError];
  /** The server stopped listening and every peer was closed. */
  close: [];
}

/** Back-pointer from a peer to its server, so peer events need no closure per connection. */
const OWNER = Symbol('messageServer');

interface OwnedPeer extends AnyMessageSocket {
  [OWNER]?: MessageServer<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function noop(): void {}

/**
 * One whole frame in its own buffer (never the shared slab MessageSocket sends
 * from), so the same bytes can be queued on every peer.
 */
function frameOf(type: number, payload: string | Uint8Array, max: number): Buffer {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
  if (length > max) throw tooLarge(length, max);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(frame, 0, type, length);
  if (typeof payload === 'string') frame.write(payload, FRAME_HEADER_BYTES, length, 'utf8');
  else frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * A server for message peers: `peers`, `broadcast()`, and handlers shared by
 * every connection.
 *
 * @example
 * const server = await listenMessages('myapp');
 * server.handle('sum', (params) => (params as number[]).reduce((a, b) => a + b, 0));
 * server.on('peerJoined', (peer) => server.broadcast('joined', { peers: server.peerCount }));
 */
export class MessageServer<C extends MessageContract = Untyped> extends EventEmitter<MessageServerEvents> {
  readonly #server: LocalServer;
  readonly #messageOptions: ResolvedMessageOptions;
  readonly #peers = new Set<OwnedPeer>();
  readonly #handlers = new Map<string, AnyRequestHandler>();
  readonly #notificationHandlers = new Map<string, AnyNotificationHandler>();
  #closing: Promise<void> | null = null;

  /**
   * @param options - every {@link ServerOptions} option (access, limits, auth...) plus
   *   {@link MessageOptions} (`maxMessageSize`, `requestTimeout`, `maxRequestsInFlight`) applied to every peer.
   * @throws LocalSocketError INVALID_ARGUMENT for a bad option.
   */
  constructor(options: MessageServerOptions = {}) {
    super();
    const raw = checkObject(options, 'options');
    checkOptionNames(raw, MESSAGE_SERVER_OPTIONS);
    // Every option checked here, once, not when the first peer arrives (where a throw would have no caller);
    // the message options are shared by every peer (no per-connection copy, no second check).
    this.#messageOptions = messageOptionsFrom(raw);
    this.#server = serverWithOptions(serverOptionsFrom(raw));
    this.#server.on('newConnection', this.#onNewConnection);
    this.#server.on('refused', (reason) => this.emit('refused', reason));
    this.#server.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** The underlying LocalServer (state, names, limits). Do not take connections from it yourself. */
  get server(): LocalServer {
    return this.#server;
  }

  /** True while listening. */
  get isListening(): boolean {
    return this.#server.isListening;
  }

  /** The endpoint as the OS sees it (socket path, `\0name` or `\\.\pipe\name`), once listening. */
  get fullServerName(): string | null {
    return this.#server.fullServerName;
  }

  /**
   * The connected peers, as a snapshot array (safe to iterate while peers
   * come and go; changing it changes nothing).
   * @returns a frozen array of the peers connected now
   */
  get peers(): readonly MessageSocket<C, 'server'>[] {
    return Object.freeze([...this.#peers]) as readonly MessageSocket<C, 'server'>[];
  }

  /** How many peers are connected now. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /**
   * Listens on `name` (as {@link listen}), or on an inherited descriptor with `{ fd }`.
   * @param name - a short name, a full path or pipe name, or `{ fd }`
   * @returns resolves once the server accepts peers
   * @throws LocalSocketError (rejects) as {@link LocalServer.listen}: ADDRESS_IN_USE (a live server
   *   holds the name), INVALID_NAME, ACCESS_DENIED, INVALID_STATE (listened before), INVALID_ARGUMENT,
   *   UNSUPPORTED, TIMEOUT, ABORTED (closed while binding), RESOURCE_EXHAUSTED.
   */
  async listen(name: string | { fd: number }): Promise<void> {
    await this.#server.listen(name);
  }

  /**
   * Registers the handler for requests `method` from every peer, present and
   * future. The context's `peer` says which peer asked. Replaces an earlier
   * handler for the same method.
   * @param method - the JSON-RPC method name
   * @param handler - returns (or resolves to) the result; a throw becomes an error reply
   * @returns this server
   * @throws LocalSocketError INVALID_ARGUMENT if `method` is not a string or `handler` not a function
   */
  handle<M extends RequestMethod<C, 'server'>>(method: M, handler: ContractRequestHandler<C, 'server', M>): this;
  handle(method: string, handler: AnyRequestHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    this.#handlers.set(method, handler);
    for (const peer of this.#peers) peer.handle(method, handler);
    return this;
  }

  /**
   * Registers the handler for notifications `method` from every peer, present and future.
   * @param method - the JSON-RPC method name
   * @param handler - called with the params and the peer that sent them
   * @returns this server
   * @throws LocalSocketError INVALID_ARGUMENT if `method` is not a string or `handler` not a function
   */
  onNotification<M extends NotificationMethod<C, 'server'>>(method: M, handler: ContractNotificationHandler<C, 'server', M>): this;
  onNotification(method: string, handler: AnyNotificationHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    this.#notificationHandlers.set(method, handler);
    for (const peer of this.#peers) peer.onNotification(method, handler);
    return this;
  }

  /**
   * Sends the notification `method(params)` to every connected peer. The
   * frame is encoded once; nothing waits for any peer. A peer whose queued
   * bytes (accepted and waiting) would pass its `maxWriteBuffer` is dropped (it is sent the close
   * code 1013 OVERLOADED behind what is queued, and aborted if that does not
   * go out within its `closeTimeout`; `peerLeft` reports RESOURCE_EXHAUSTED)
   * instead of growing memory or delaying the others.
   * @param method - the JSON-RPC method name
   * @param args - the params (as the contract declares them; optional when they may be undefined). params: any JSON value, or undefined for none
   * @returns how many peers the notification was queued to
   * @throws LocalSocketError INVALID_ARGUMENT (bad method, params not serialisable or nested deeper than 127 levels),
   *   MESSAGE_TOO_LARGE (over `maxMessageSize`; nothing is sent to anyone)
   */
  broadcast<M extends NotificationMethod<C, 'client'>>(method: M, ...args: NotifyArgs<C, 'client', M>): number;
  broadcast(method: string, params?: unknown): number {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    const message = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
    let text: string | undefined;
    try {
      text = JSON.stringify(message);
    } catch (err) {
      throw new LocalSocketError('INVALID_ARGUMENT', 'invalid argument: params cannot be serialised as JSON', { cause: err });
    }
    // Never sent what every peer must refuse.
    if (textTooDeep(text)) throw new LocalSocketError('INVALID_ARGUMENT', `invalid argument: params nest deeper than ${MAX_JSON_DEPTH - 1} levels`);
    return this.#writeToAll(frameOf(FrameType.JSON, text, this.#messageOptions.maxMessageSize));
  }

  /**
   * Sends one binary message (a 'B' frame) to every connected peer, with the
   * same rules as {@link MessageServer.broadcast}.
   * @param data - the bytes
   * @returns how many peers the message was queued to
   * @throws LocalSocketError INVALID_ARGUMENT (not a Uint8Array), MESSAGE_TOO_LARGE
   */
  broadcastBinary(data: Uint8Array): number {
    if (!(data instanceof Uint8Array)) throw invalidArgument('data must be a Uint8Array or Buffer');
    return this.#writeToAll(frameOf(FrameType.BINARY, data, this.#messageOptions.maxMessageSize));
  }

  /**
   * Queues one whole frame on every open peer: one socket write each, so
   * frames never interleave, and the frame's bytes are shared, never copied
   * per peer. A peer that would have more than its write buffer queued is
   * dropped (the encoder keeps messages in order and measures the queue).
   */
  #writeToAll(frame: Buffer): number {
    let sent = 0;
    let late: OwnedPeer[] | null = null;
    for (const peer of this.#peers) {
      if (!peer.isOpen) continue;
      const socket: LocalSocket = peer.socket;
      // Fits in the bounded queue (or goes alone into an empty one, taken in pieces): nothing piles up.
      // Failures are reported through the peer's close.
      if (writeWholeFrameWithin(socket, frame, socket.maxWriteBuffer)) sent++;
      else (late ??= []).push(peer);
    }
    // Dropped after the loop: aborting emits events that change the set being iterated.
    if (late) for (const peer of late) this.#drop(peer);
    return sent;
  }

  #drop(peer: OwnedPeer): void {
    dropConnection(peer, new LocalSocketError('RESOURCE_EXHAUSTED', 'peer dropped: it fell behind past its write limit'));
  }

  #onNewConnection = (): void => {
    for (let socket = this.#server.nextPendingConnection(); socket; socket = this.#server.nextPendingConnection()) {
      if (this.#closing) {
        socket.abort();
        continue;
      }
      // A peer that already left is not wrapped (MessageSocket takes connected sockets only).
      if (socket.state !== 'connected') continue;
      let peer: OwnedPeer;
      try {
        peer = wrapSocket<C, 'server'>(socket, this.#messageOptions);
      } catch {
        // Options were checked in the constructor; anything else is this one connection's problem.
        socket.abort();
        continue;
      }
      peer[OWNER] = this;
      peer.on('close', MessageServer.#onPeerClose);
      for (const [method, handler] of this.#handlers) peer.handle(method, handler);
      for (const [method, handler] of this.#notificationHandlers) peer.onNotification(method, handler);
      this.#peers.add(peer);
      this.emit('peerJoined', peer);
    }
  };

  /** A peer's close event: shared by every peer (no closure each), it reaches the server through the back-pointer. */
  static #onPeerClose(this: OwnedPeer, reason: LocalSocketError | null, info: CloseInfo): void {
    const server = this[OWNER];
    if (server && server.#peers.delete(this)) server.emit('peerLeft', this, reason, info);
  }

  /**
   * Stops listening (removing the socket file this server created), then
   * closes every peer by the close handshake, each flushing what is queued
   * within its `closeTimeout`. Peers are told 1001 GOING_AWAY ("the server is
   * shutting down") unless `options` says otherwise: pass
   * `{ code: CloseCode.RESTARTING }` when the server comes back at once (a
   * ReconnectingClient then reconnects without waiting). Idempotent: later
   * calls return the same promise.
   * @param options - the close `code` (1000-4999) and `reason` sent to every peer.
   *   @defaultValue `{ code: 1001, reason: 'the server is shutting down' }`
   * @returns resolves once every peer is closed
   * @throws LocalSocketError (rejects) INVALID_ARGUMENT for a bad code or reason (nothing is closed then)
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    let close: { code: number; reason: string };
    try {
      close = checkCloseOptions(options, CloseCode.GOING_AWAY, 'the server is shutting down');
    } catch (err) {
      return Promise.reject(err);
    }
    this.#closing = (async () => {
      await this.#server.close();
      await Promise.all([...this.#peers].map((peer) => peer.close(close).catch(noop)));
      this.emit('close');
    })();
    return this.#closing;
  }
}

/**
 * Creates a {@link MessageServer} and listens on `name`.
 * @param name - a short name, a full path or pipe name, or `{ fd }` for an inherited descriptor
 * @param options - {@link MessageServerOptions}
 * @returns the listening server
 * @throws LocalSocketError (rejects) as {@link LocalServer.listen}: ADDRESS_IN_USE, INVALID_NAME,
 *   ACCESS_DENIED, INVALID_ARGUMENT (also for bad options), UNSUPPORTED, TIMEOUT, ABORTED, RESOURCE_EXHAUSTED
 */
export async function listenMessages<C extends MessageContract = Untyped>(name: string | { fd: number }, options: MessageServerOptions = {}): Promise<MessageServer<C>> {
  const server = new MessageServer<C>(options);
  await server.listen(name);
  return server;
}
