/**
 * MessageSocket: messages and JSON-RPC 2.0 requests over one connected
 * LocalSocket (either end). It takes over the socket's reading: each chunk
 * goes through the frame decoder as it arrives, so the socket's read buffer
 * never fills (messages larger than it work) and at most one incomplete frame
 * (<= maxMessageSize) is held. Sends go through the socket's bounded writer,
 * header and payload back to back in one tick, so frames never interleave and
 * a sender awaiting send() never queues more than maxWriteBuffer.
 *
 * What a peer can make this layer hold is bounded: the frames it sends on its
 * own (replies, error replies, cancellations) never wait for room, and a peer
 * whose queue would pass its maxWriteBuffer with them is dropped with
 * RESOURCE_EXHAUSTED; at most maxRequestsInFlight of its requests run at once
 * (the others are answered with an error at once); a request id still in
 * flight is a protocol error, so no request is ever run twice.
 *
 * Hot paths allocate no closure: socket events reach this object through a
 * symbol-keyed back-pointer on the socket and module-level listeners, and
 * sends return the writer's shared per-tick promise.
 */
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { BUSY_MESSAGE } from '../auth/handshake.js';
import { captured, captureResolvers } from '../captured-resolvers.js';
import { abortedError, timeoutError } from '../deadline.js';
import * as diagnostics from '../diagnostics.js';
import { closePathError, LocalSocketError, type RemoteErrorDetail } from '../errors.js';
import { DEFAULTS } from '../defaults.js';
import { connectOptionsFrom, type ConnectOptions } from '../options.js';
import { useFastListenerTable } from '../listener-table.js';
import { Preset } from '../preset.js';
import { connectResolved, LocalSocket, setWrapper, wrapperOf } from '../socket.js';
import { checkOptionNames, CONNECT_MESSAGES_OPTIONS, MESSAGE_OPTIONS, REQUEST_OPTIONS } from '../option-names.js';
import { checkInteger, checkObject, checkSignal, checkTimeout, invalidArgument } from '../validate.js';
import { quiet } from '../writer.js';
import { ENVELOPE, envelopeFrame, queuedBytes, queueJsonFrame, sendBinaryFrame, sendJsonFrame, type NativeText } from './encode.js';
import { CLOSE_METHOD, CloseCode, checkCloseOptions, closeCodeFor, closeGracefully, cutReason, describeClose, errorCodeForClose, readClose, type CloseInfo, type CloseOptions } from './close.js';
import { envelope, readEnvelope } from './envelope.js';
import { bytesTooDeep, MAX_JSON_DEPTH, textTooDeep } from './json-depth.js';
import { DEFAULT_MAX_MESSAGE_SIZE, FrameDecoder, FrameType, MAX_FRAME_LENGTH } from './frame.js';
import type { AnyMessageSocket, AnyNotificationHandler, AnyRequestHandler, ContractNotificationHandler, ContractRequestHandler, MessageContract, NotificationMethod, NotifyArgs, OtherRole, RequestArgs, RequestMethod, RequestResult, Role, Untyped } from './contract.js';
import { CANCEL_METHOD, isErrorObject, isRequestId, remoteError, RpcErrorCode, toErrorObject } from './rpc.js';

/** Options of a message connection. */
export interface MessageOptions {
  /**
   * Largest message payload, in bytes, either way. A received frame announcing more fails the
   * connection with MESSAGE_TOO_LARGE before anything of it is kept; a larger send is refused
   * before a byte is written. @defaultValue 1048576
   */
  maxMessageSize?: number;
  /** Default per-request timeout, in milliseconds. @defaultValue 30000 */
  requestTimeout?: number;
  /**
   * Most requests from the peer whose handlers run at once on this connection (a cancelled request
   * counts until its handler settles). A request past it is answered at once with the error
   * `RpcErrorCode.TOO_MANY_REQUESTS` (-32001) and its handler is not run. An integer from 1 to 2^31 - 1.
   * @defaultValue 128
   */
  maxRequestsInFlight?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply. @defaultValue the socket's `requestTimeout` (30000) */
  timeout?: number;
  /** Cancels the request: it rejects with ABORTED and the peer is told (`$/cancelRequest`). */
  signal?: AbortSignal;
}

/** What a request handler gets besides the params (`C` and `R`: the connection's contract and role, see MessageSocket). */
export interface RequestContext<C extends MessageContract = Untyped, R extends Role = Role> {
  /** Fires when the requester cancels (or times out) the request, or when the connection ends. */
  readonly signal: AbortSignal;
  /** The connection the request came on: the handler may call the requester back. */
  readonly peer: MessageSocket<C, R>;
  /** The request's id. */
  readonly id: number;
}

/** A request handler: returns (or resolves to) the result; a throw (or rejection) becomes an error reply. */
export type RequestHandler = (params: unknown, context: RequestContext) => unknown;
/** A notification handler. */
export type NotificationHandler = (params: unknown, peer: MessageSocket) => void;

/** Events of a MessageSocket. */
export interface MessageSocketEvents {
  /** A JSON message that is not JSON-RPC 2.0 (sent with `send()`). */
  message: [value: unknown];
  /** A binary message (sent with `sendBinary()`). The buffer may be a view of a larger read chunk: copy it to keep it. */
  binary: [data: Buffer];
  /** Every request received, handled or not (before its handler runs). */
  request: [method: string, params: unknown, id: number];
  /** Every notification received (except `$/cancelRequest`, handled by the layer). */
  notification: [method: string, params: unknown];
  /**
   * The connection failed: MESSAGE_TOO_LARGE, PROTOCOL_ERROR (a bad frame or message, or a request id
   * still in flight), RESOURCE_EXHAUSTED (the peer let what it asked for pile up past maxWriteBuffer), or
   * an I/O error. Only emitted when listened to.
   */
  error: [error: LocalSocketError];
  /**
   * The connection ended: the reason, or null after a local close() or abort(). The reason is
   * PEER_CLOSED both when the peer closed on purpose (its close frame) and when the connection was
   * lost; `info` tells them apart (`clean`, `by`, the close `code` and `reason`, the `error`).
   */
  close: [reason: LocalSocketError | null, info: CloseInfo];
}

const DEFAULT_REQUEST_TIMEOUT = DEFAULTS.waitTimeout;

/**
 * The one check of `new MessageSocket()`'s options.
 * @throws LocalSocketError INVALID_ARGUMENT for a non-object, an unknown name or a bad option
 */
function resolveMessageOptions(options: unknown): ResolvedMessageOptions {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, MESSAGE_OPTIONS);
  return messageOptionsFrom(raw);
}
/** Default of `maxRequestsInFlight`: room for generous pipelining, while 128 x maxMessageSize of params bounds what they hold. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 128;
const MAX_REQUESTS_IN_FLIGHT = 0x7fff_ffff;

/** {@link MessageOptions}, checked once, every one set (frozen). */
export interface ResolvedMessageOptions {
  readonly maxMessageSize: number;
  readonly requestTimeout: number;
  readonly maxRequestsInFlight: number;
}

/**
 * The one check of the message options in `raw` (its names are checked by the entry point,
 * against its own list).
 * @throws LocalSocketError INVALID_ARGUMENT for a bad option
 */
export function messageOptionsFrom(raw: Record<string, unknown>): ResolvedMessageOptions {
  return Object.freeze({
    maxMessageSize: raw.maxMessageSize === undefined ? DEFAULT_MAX_MESSAGE_SIZE : checkInteger(raw.maxMessageSize, 'maxMessageSize', 0, MAX_FRAME_LENGTH),
    requestTimeout: checkTimeout(raw.requestTimeout, DEFAULT_REQUEST_TIMEOUT, 'requestTimeout'),
    maxRequestsInFlight: raw.maxRequestsInFlight === undefined
      ? DEFAULT_MAX_REQUESTS_IN_FLIGHT
      : checkInteger(raw.maxRequestsInFlight, 'maxRequestsInFlight', 1, MAX_REQUESTS_IN_FLIGHT),
  });
}

/** Message options already resolved, for a MessageSocket made by the library itself (see Preset). */
const presetOptions = new Preset<ResolvedMessageOptions>();

/**
 * A MessageSocket over `socket` with options an entry point (`connectMessages()`, a
 * MessageServer for each peer) has resolved once.
 * @throws LocalSocketError as the constructor, for the socket
 */
export function wrapSocket<C extends MessageContract, R extends Role>(socket: LocalSocket, options: ResolvedMessageOptions): MessageSocket<C, R> {
  return presetOptions.with(options, () => new MessageSocket<C, R>(socket));
}
const MAX_ID = 0x7fff_ffff;

/** Set by MessageSocket's static block: it reaches the private failure path. */
let failFromOutside: (socket: AnyMessageSocket, err: LocalSocketError) => void;

/**
 * Fails a connection from outside (a server dropping a peer that fell behind): the single
 * path every drop takes, so the peer is sent the close code that matches the error. No `error` event.
 */
export function dropConnection(socket: AnyMessageSocket, err: LocalSocketError): void {
  failFromOutside(socket, err);
}

/** The MessageSocket that reads a LocalSocket (a slot LocalSocket declares, so none is added per socket). */
function ownerOf(socket: LocalSocket): AnyMessageSocket | undefined {
  return (wrapperOf(socket) as AnyMessageSocket | null) ?? undefined;
}

/** An outgoing request waiting for its reply. */
interface Pending {
  id: number;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Its own timer, for a timeout other than the socket's default; null when the shared timer covers it. */
  timer: NodeJS.Timeout | null;
  /** performance.now() past which it times out (requests with the default timeout). */
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** An incoming request being handled asynchronously. Its AbortController is made only if the handler reads `signal`. */
class Incoming implements RequestContext {
  readonly peer: AnyMessageSocket;
  readonly id: number;
  settled = false;
  #controller: AbortController | null = null;
  #cancelled: LocalSocketError | null = null;

  constructor(peer: AnyMessageSocket, id: number) {
    this.peer = peer;
    this.id = id;
  }

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.#cancelled);
    }
    return this.#controller.signal;
  }

  cancel(reason: LocalSocketError): void {
    if (this.#cancelled) return;
    this.#cancelled = reason;
    this.#controller?.abort(reason);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function protocolError(what: string): LocalSocketError {
  return new LocalSocketError('PROTOCOL_ERROR', `protocol error: ${what}`);
}

function closedError(): LocalSocketError {
  return new LocalSocketError('INVALID_STATE', 'the message socket is closed');
}

/** The events most applications listen to on a message socket: a slot each in its listener table. */
const MESSAGE_EVENT_SLOTS = ['close', 'error'] as const;

/** Rethrown outside our stack: an application listener's error, reported as any listener's would be. */
function rethrow(err: unknown): never {
  throw err;
}

/**
 * Messages (JSON and binary) and JSON-RPC 2.0 requests and notifications over
 * one connected LocalSocket. Either side may call the other.
 */
export class MessageSocket<C extends MessageContract = Untyped, R extends Role = 'client'> extends EventEmitter<MessageSocketEvents> {
  /** The connection carrying the messages. Do not read from it: this object does. */
  readonly socket: LocalSocket;
  /** Largest message payload accepted and sent, in bytes. */
  readonly maxMessageSize: number;
  /** Default per-request timeout, ms. */
  readonly requestTimeout: number;
  /** Most of the peer's requests whose handlers run at once. */
  readonly maxRequestsInFlight: number;
  /** Made when the first bytes arrive: an idle connection does not carry one. */
  #decoder: FrameDecoder | null = null;
  #open = true;
  #ended = false;
  #localEnd: 'close' | 'abort' | null = null;
  #failure: LocalSocketError | null = null;
  /** The close frame this side sent (close() or a failure found here). */
  #sentClose: { code: number; reason: string } | null = null;
  /** The close frame the peer sent. */
  #peerClose: { code: number; reason: string } | null = null;
  /** This side's close handshake, once begun: close() calls share it. */
  #closing: Promise<void> | null = null;
  #lastId = 0;
  #pending: Map<number, Pending> | null = null;
  /**
   * One timer for every request with the default timeout: they expire in the order they were
   * made, which is the pending map's order, so the timer only looks at the oldest ones.
   * Unreferenced: the open socket keeps the process alive, and #finish clears it.
   */
  #timer: NodeJS.Timeout | null = null;
  /** The peer's requests not yet answered, by id (a cancelled one leaves at once). */
  #incoming: Map<number, Incoming> | null = null;
  /** Handlers running now, cancelled ones included: what maxRequestsInFlight bounds. */
  #running = 0;
  #handlers: Map<string, AnyRequestHandler> | null = null;
  /** Whether the connection's first bytes were looked at (a BUSY from a server that dropped us, see #pull). */
  #firstBytesSeen = false;
  #notificationHandlers: Map<string, AnyNotificationHandler> | null = null;

  /**
   * Wraps a connected LocalSocket (from `connect()`, or one taken from a LocalServer) and takes over its reading.
   * @param socket - A connected LocalSocket not already wrapped.
   * @param options - Limits and the default request timeout.
   * @throws LocalSocketError `INVALID_ARGUMENT` for bad options or a socket that is not a LocalSocket;
   *   `INVALID_STATE` if the socket is not connected or already has a MessageSocket.
   */
  constructor(socket: LocalSocket, options: MessageOptions = {}) {
    super();
    useFastListenerTable(this, MESSAGE_EVENT_SLOTS);
    if (!(socket instanceof LocalSocket)) throw invalidArgument('socket must be a LocalSocket');
    const resolved = presetOptions.value ?? resolveMessageOptions(options);
    this.maxMessageSize = resolved.maxMessageSize;
    this.requestTimeout = resolved.requestTimeout;
    this.maxRequestsInFlight = resolved.maxRequestsInFlight;
    if (socket.state !== 'connected') throw new LocalSocketError('INVALID_STATE', 'the socket is not connected');
    if (wrapperOf(socket) !== null) throw new LocalSocketError('INVALID_STATE', 'the socket already has a message socket');
    setWrapper(socket, this);
    this.socket = socket;
    socket.on('readyRead', MessageSocket.#onReadyRead);
    socket.on('disconnected', MessageSocket.#onDisconnected);
    socket.on('error', MessageSocket.#onSocketError);
    // Bytes already buffered (e.g. sent right after the handshake) are read once listeners can be attached.
    if (socket.bytesAvailable > 0) process.nextTick(MessageSocket.#pullSoon, this);
    if (diagnostics.messageOpen.hasSubscribers) diagnostics.messageOpen.publish({ socket: this });
  }

  /** True until the connection ends or close()/abort() is called. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Outgoing requests waiting for their reply. */
  get pendingRequests(): number {
    return this.#pending?.size ?? 0;
  }

  /** The peer's requests whose handlers are running now (cancelled ones included, until they settle). */
  get runningRequests(): number {
    return this.#running;
  }

  // ---- socket events (module-level listeners; `this` is the LocalSocket) -------------------

  static #onReadyRead(this: LocalSocket): void {
    const self = ownerOf(this);
    if (self !== undefined) self.#pull();
  }

  static #onDisconnected(this: LocalSocket): void {
    const self = ownerOf(this);
    if (self === undefined) return;
    // An end inside a frame is not a clean end: part of a message was lost.
    if (self.#failure === null && self.#localEnd === null && (self.#decoder?.buffered ?? 0) > 0) {
      self.#failure = protocolError('the connection ended in the middle of a frame');
    }
    self.#finish();
  }

  static #onSocketError(this: LocalSocket, err: LocalSocketError): void {
    const self = ownerOf(this);
    if (self === undefined || self.#failure !== null) return;
    self.#failure = err;
    self.#emitError(err);
  }

  static #pullSoon(self: AnyMessageSocket): void {
    self.#pull();
  }

  /** Feeds everything the socket has buffered to the decoder; one chunk per readyRead, so read() copies nothing. */
  #pull(): void {
    const socket = this.socket;
    while (this.#open && socket.bytesAvailable > 0) {
      const chunk = socket.read();
      if (!this.#firstBytesSeen) {
        this.#firstBytesSeen = true;
        // 'L' is never a frame type: a stream starting with (part of) BUSY is a server that ran out of
        // room and dropped us before it checked our proof. Nothing we sent reached its application.
        if (startsLikeBusy(chunk)) {
          this.#fail(busyDrop());
          return;
        }
      }
      try {
        (this.#decoder ??= new FrameDecoder(this.maxMessageSize)).pushSlices(chunk, MessageSocket.#onFrame, this);
      } catch (err) {
        this.#fail(err instanceof LocalSocketError ? err : protocolError('bad frame'));
        return;
      }
    }
  }

  /** Called by the decoder for each frame, with `this` the MessageSocket: no closure per connection or frame. */
  static #onFrame(this: AnyMessageSocket, type: number, source: Buffer, start: number, end: number): void {
    if (!this.#open) return;
    if (type === FrameType.BINARY) {
      this.#emitSafely('binary', source.subarray(start, end));
      return;
    }
    // Checked before any parse: decoding never replaces bad bytes silently, and nothing recursive
    // ever sees a message nested deeper than the limit.
    if (!isUtf8(source.subarray(start, end))) throw protocolError('a JSON message that is not valid UTF-8');
    if (bytesTooDeep(source, start, end)) throw protocolError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (readEnvelope(source, start, end)) {
      // The canonical layout: only the params or result were parsed.
      const { id, method, value } = envelope;
      if (method === null) this.#settle(id, value, false);
      else if (id < 0) this.#onNotification(method, value);
      else this.#onRequest(id, method, value);
      return;
    }
    let value: unknown;
    try {
      // One native decode and one parse, straight from the chunk: no Buffer made for the payload.
      value = JSON.parse((source as unknown as NativeText).utf8Slice(start, end));
    } catch {
      throw protocolError('invalid JSON');
    }
    this.#dispatch(value);
  }

  /** Sorts a JSON value: request, notification, reply, or a plain message. Throws PROTOCOL_ERROR on a bad JSON-RPC shape. */
  #dispatch(value: unknown): void {
    if (typeof value !== 'object' || value === null || (value as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      this.#emitSafely('message', value);
      return;
    }
    const m = value as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    const { id, method } = m;
    if (method !== undefined) {
      if (typeof method !== 'string') throw protocolError('method must be a string');
      if (id === undefined) this.#onNotification(method, m.params);
      else if (isRequestId(id)) this.#onRequest(id, method, m.params);
      else throw protocolError('request id must be an integer');
      return;
    }
    if (id === null && isErrorObject(m.error)) return; // the peer could not read something: no request of ours to settle
    if (!isRequestId(id)) throw protocolError('reply id must be an integer');
    if (m.error !== undefined) {
      if (!isErrorObject(m.error)) throw protocolError('bad error object');
      if ('result' in m) throw protocolError('an answer with both a result and an error');
      this.#settle(id, m.error, true);
    } else if ('result' in m) {
      this.#settle(id, m.result, false);
    } else {
      throw protocolError('a reply needs a result or an error');
    }
  }

  /** Emits an application event; a listener's throw is reported as an uncaught error, never taken for a protocol error. */
  #emitSafely(event: 'message' | 'binary', value: unknown): void {
    try {
      (this.emit as (e: string, v: unknown) => boolean)(event, value);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }

  // ---- incoming requests and notifications --------------------------------------------------

  #onNotification(method: string, params: unknown): void {
    if (method === CLOSE_METHOD) {
      this.#onPeerClose(params);
      return;
    }
    if (method === CANCEL_METHOD) {
      const id = (params as { id?: unknown } | null)?.id;
      if (isRequestId(id)) this.#cancelIncoming(id);
      return;
    }
    try {
      // Checked first: emit() builds an argument array even when nobody listens.
      if (this.listenerCount('notification') > 0) this.emit('notification', method, params);
      this.#notificationHandlers?.get(method)?.(params, this);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }

  #onRequest(id: number, method: string, params: unknown): void {
    // Two requests under one id could not be told apart by their answers, and would run twice.
    if (this.#incoming?.has(id)) throw protocolError(`request id ${id} is already in flight`);
    try {
      if (this.listenerCount('request') > 0) this.emit('request', method, params, id);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
    if (!this.#open) return; // a listener closed the connection
    if (this.#running >= this.maxRequestsInFlight) {
      this.#replyError(id, { code: RpcErrorCode.TOO_MANY_REQUESTS, message: 'too many requests in flight' });
      return;
    }
    const handler = this.#handlers?.get(method);
    if (handler === undefined) {
      this.#replyError(id, { code: RpcErrorCode.METHOD_NOT_FOUND, message: 'method not found' });
      return;
    }
    const context = new Incoming(this, id);
    let result: unknown;
    try {
      result = handler(params, context);
    } catch (err) {
      this.#replyError(id, toErrorObject(err));
      return;
    }
    if (!isThenable(result)) {
      this.#replyResult(id, result);
      return;
    }
    // Asynchronous: tracked so that a cancellation or the end of the connection can reach it.
    (this.#incoming ??= new Map()).set(id, context);
    this.#running++;
    result.then(
      (value) => this.#settleIncoming(context, value, false),
      (err: unknown) => this.#settleIncoming(context, err, true),
    );
  }

  #settleIncoming(context: Incoming, outcome: unknown, failed: boolean): void {
    this.#running--;
    if (context.settled) return;
    context.settled = true;
    const incoming = this.#incoming;
    if (incoming !== null && incoming.get(context.id) === context) incoming.delete(context.id);
    if (!this.#open) return;
    if (failed) this.#replyError(context.id, toErrorObject(outcome));
    else this.#replyResult(context.id, outcome);
  }

  #cancelIncoming(id: number): void {
    const context = this.#incoming?.get(id);
    if (context === undefined || context.settled) return;
    context.settled = true;
    this.#incoming!.delete(id);
    context.cancel(new LocalSocketError('ABORTED', 'the request was cancelled by the peer'));
    this.#replyError(id, { code: RpcErrorCode.REQUEST_CANCELLED, message: 'request cancelled' });
  }

  /**
   * Runs `send`, which queues one frame this layer sends on its own (a reply, an error reply, a
   * cancellation). Such frames never wait for room: when, with it, more than maxWriteBuffer is queued
   * for the peer (and something was queued before it: a lone frame may be larger), the peer is not
   * reading what it asks for, and it is dropped with RESOURCE_EXHAUSTED.
   */
  #queueOwn<T>(send: (this: this, id: number, value: T) => void, id: number, value: T): void {
    const socket = this.socket;
    const before = queuedBytes(socket);
    send.call(this, id, value);
    if (before > 0 && this.#open && queuedBytes(socket) > socket.maxWriteBuffer) {
      this.#fail(new LocalSocketError('RESOURCE_EXHAUSTED', 'peer dropped: what it asked for queued past its write limit (it does not read)'));
    }
  }

  #replyResult(id: number, result: unknown): void {
    this.#queueOwn(this.#replyResultNow, id, result);
  }

  #replyError(id: number, error: RemoteErrorDetail): void {
    this.#queueOwn(this.#replyErrorNow, id, error);
  }

  #replyResultNow(id: number, result: unknown): void {
    let json: string | undefined;
    try {
      json = result === undefined ? 'null' : JSON.stringify(result);
    } catch {
      json = undefined;
    }
    if (json === undefined) {
      this.#replyErrorNow(id, { code: RpcErrorCode.INTERNAL_ERROR, message: 'the result cannot be serialised' });
      return;
    }
    // Inside the envelope: one level less than a message may nest. Never sent what the peer must refuse.
    if (textTooDeep(json, MAX_JSON_DEPTH - 1)) {
      this.#replyErrorNow(id, { code: RpcErrorCode.INTERNAL_ERROR, message: `the result nests deeper than ${MAX_JSON_DEPTH - 1} levels` });
      return;
    }
    try {
      void envelopeFrame(this.socket, this.maxMessageSize, false, id, null, ENVELOPE.result, json);
    } catch {
      this.#replyErrorNow(id, { code: RpcErrorCode.INTERNAL_ERROR, message: 'the result exceeds maxMessageSize' });
    }
  }

  #replyErrorNow(id: number, error: RemoteErrorDetail): void {
    try {
      const text = JSON.stringify({ jsonrpc: '2.0', id, error });
      if (textTooDeep(text)) throw invalidArgument('error data nested too deep');
      queueJsonFrame(this.socket, text, this.maxMessageSize);
    } catch {
      // Unserialisable, oversize or too deep data: the code and a bounded message alone.
      const plain = { code: error.code, message: error.message.slice(0, 1000) };
      queueJsonFrame(this.socket, JSON.stringify({ jsonrpc: '2.0', id, error: plain }), Math.max(this.maxMessageSize, 4096));
    }
  }

  // ---- outgoing requests --------------------------------------------------------------------

  #settle(id: number, value: unknown, failed: boolean): void {
    const pending = this.#pending?.get(id);
    if (pending === undefined) return; // timed out or cancelled meanwhile: a late reply is dropped
    this.#pending!.delete(id);
    this.#disarm(pending);
    if (failed) pending.reject(remoteError(value as RemoteErrorDetail));
    else pending.resolve(value);
  }

  #disarm(pending: Pending): void {
    if (pending.timer !== null) clearTimeout(pending.timer);
    if (pending.onAbort !== undefined) pending.signal!.removeEventListener('abort', pending.onAbort);
  }

  /** A request with its own timeout expired. */
  static #onTimeout(pending: Pending, self: AnyMessageSocket): void {
    pending.timer = null;
    self.#giveUp(pending, timeoutError('request'));
  }

  /** The shared timer: expires the oldest default-timeout requests that are due, then re-arms for the next. */
  static #onSharedTimer(self: AnyMessageSocket): void {
    self.#timer = null;
    const pending = self.#pending;
    if (pending === null) return;
    const now = performance.now();
    for (const p of pending.values()) {
      if (p.timer !== null || p.deadline === 0) continue;
      // setTimeout may fire up to a millisecond before a fractional deadline.
      if (p.deadline > now + 1) {
        self.#armShared(p.deadline - now);
        return;
      }
      self.#giveUp(p, timeoutError('request'));
    }
  }

  #armShared(ms: number): void {
    this.#timer = setTimeout<[AnyMessageSocket]>(MessageSocket.#onSharedTimer, Math.ceil(ms), this);
    this.#timer.unref();
  }

  /** Our side stopped waiting (timeout or abort): forget the request and tell the peer. */
  #giveUp(pending: Pending, err: LocalSocketError): void {
    if (this.#pending?.get(pending.id) !== pending) return;
    this.#pending.delete(pending.id);
    this.#disarm(pending);
    pending.reject(err);
    if (this.#open) this.#queueOwn(this.#sendCancel, pending.id, undefined);
  }

  #sendCancel(id: number): void {
    void envelopeFrame(this.socket, Infinity, false, null, CANCEL_METHOD, ENVELOPE.params, '{"id":' + id + '}');
  }

  #nextId(): number {
    const pending = this.#pending;
    do this.#lastId = this.#lastId >= MAX_ID ? 1 : this.#lastId + 1;
    while (pending !== null && pending.has(this.#lastId));
    return this.#lastId;
  }

  /**
   * Sends a request and waits for its reply.
   * @param method - The method name.
   * @param args - the params (as the contract declares them; optional when they may be undefined), then the options. params: Any JSON-serialisable value, or undefined for none; options: `timeout` (ms, default `requestTimeout`) and `signal`.
   * @returns The peer's result.
   * @throws LocalSocketError (rejects; never thrown) `INVALID_ARGUMENT` for a non-string method, bad options or
   *   params that cannot be serialised or nest deeper than 127 levels; `REMOTE_ERROR` (the peer's code and
   *   message on `remote`), `TIMEOUT` or `ABORTED` (both also cancel it on the peer), `MESSAGE_TOO_LARGE`
   *   (nothing sent), `PEER_CLOSED` when the connection ends first, `INVALID_STATE` once closed here.
   */
  request<M extends RequestMethod<C, OtherRole<R>>>(method: M, ...args: RequestArgs<C, OtherRole<R>, M>): Promise<RequestResult<C, OtherRole<R>, M>>;
  request(method: string, params?: unknown, options?: RequestOptions): Promise<unknown> {
    let timeout = this.requestTimeout;
    let signal: AbortSignal | undefined;
    let json: string | null;
    try {
      if (typeof method !== 'string') throw invalidArgument('method must be a string');
      if (options !== undefined) {
        const raw = checkObject(options, 'options');
        checkOptionNames(raw, REQUEST_OPTIONS);
        timeout = checkTimeout(raw.timeout, this.requestTimeout);
        signal = checkSignal(raw.signal);
      }
      json = params === undefined ? null : stringify(params, MAX_JSON_DEPTH - 1);
    } catch (err) {
      // A promise-returning method never throws: bad arguments reject like every other failure.
      return quiet(Promise.reject(err));
    }
    if (!this.#open) return quiet(Promise.reject(closedError()));
    if (signal?.aborted) return quiet(Promise.reject(abortedError(signal)));
    if (timeout <= 0) return quiet(Promise.reject(timeoutError('request')));
    const id = this.#nextId();
    try {
      void envelopeFrame(this.socket, this.maxMessageSize, false, id, method, json === null ? null : ENVELOPE.params, json);
    } catch (err) {
      return quiet(Promise.reject(err));
    }
    // A module-level executor: no closure made per request.
    const promise = new Promise<unknown>(captureResolvers);
    const pending: Pending = { id, resolve: captured.resolve, reject: captured.reject, timer: null, deadline: 0, signal, onAbort: undefined };
    (this.#pending ??= new Map()).set(id, pending);
    if (timeout === this.requestTimeout) {
      pending.deadline = performance.now() + timeout;
      if (this.#timer === null) this.#armShared(timeout);
    } else {
      pending.timer = setTimeout<[Pending, AnyMessageSocket]>(MessageSocket.#onTimeout, timeout, pending, this);
    }
    if (signal !== undefined) {
      pending.onAbort = () => this.#giveUp(pending, abortedError(signal));
      signal.addEventListener('abort', pending.onAbort, { once: true });
    }
    if (diagnostics.tracingRequests()) diagnostics.traceRequest(this, method, id, promise);
    return promise;
  }

  /**
   * Sends a notification (no reply).
   * @param method - The method name.
   * @param args - the params (as the contract declares them; optional when they may be undefined). params: Any JSON-serialisable value, or undefined for none.
   * @returns Resolves when the frame has reached the kernel.
   * @throws LocalSocketError (rejects; never thrown) `INVALID_ARGUMENT` for a non-string method or params that
   *   cannot be serialised or nest deeper than 127 levels; `MESSAGE_TOO_LARGE` (nothing sent), `INVALID_STATE`
   *   once closed, or the write's I/O error.
   */
  notify<M extends NotificationMethod<C, OtherRole<R>>>(method: M, ...args: NotifyArgs<C, OtherRole<R>, M>): Promise<void>;
  notify(method: string, params?: unknown): Promise<void> {
    try {
      if (typeof method !== 'string') throw invalidArgument('method must be a string');
      const json = params === undefined ? null : stringify(params, MAX_JSON_DEPTH - 1);
      if (!this.#open) return quiet(Promise.reject(closedError()));
      return envelopeFrame(this.socket, this.maxMessageSize, true, null, method, json === null ? null : ENVELOPE.params, json)!;
    } catch (err) {
      return quiet(Promise.reject(err));
    }
  }

  /**
   * Sends one JSON message ('J' frame). A value shaped as JSON-RPC 2.0 is taken as such by the peer.
   * @param value - Any JSON-serialisable value.
   * @returns Resolves when the frame has reached the kernel.
   * @throws LocalSocketError (rejects; never thrown) `INVALID_ARGUMENT` if `value` cannot be serialised or
   *   nests deeper than 128 levels; `MESSAGE_TOO_LARGE` (nothing sent), `INVALID_STATE` once closed, or the
   *   write's I/O error.
   */
  send(value: unknown): Promise<void> {
    let text: string;
    try {
      text = stringify(value, MAX_JSON_DEPTH);
    } catch (err) {
      return quiet(Promise.reject(err));
    }
    return this.#sendText(text);
  }

  /**
   * Sends one binary message ('B' frame). The bytes are not copied when large: do not change them until the promise settles.
   * @param data - The payload (may be empty).
   * @returns Resolves when the frame has reached the kernel.
   * @throws LocalSocketError (rejects; never thrown) `INVALID_ARGUMENT` if `data` is not a Uint8Array;
   *   `MESSAGE_TOO_LARGE` (nothing sent), `INVALID_STATE` once closed, or the write's I/O error.
   */
  sendBinary(data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) return quiet(Promise.reject(invalidArgument('data must be a Uint8Array or Buffer')));
    if (!this.#open) return quiet(Promise.reject(closedError()));
    try {
      return sendBinaryFrame(this.socket, data, this.maxMessageSize);
    } catch (err) {
      return quiet(Promise.reject(err));
    }
  }

  #sendText(text: string): Promise<void> {
    if (!this.#open) return quiet(Promise.reject(closedError()));
    try {
      return sendJsonFrame(this.socket, text, this.maxMessageSize);
    } catch (err) {
      return quiet(Promise.reject(err));
    }
  }

  // ---- handlers -------------------------------------------------------------------------------

  /**
   * Registers the handler of a method (replacing any previous one). Its return value (or what it
   * resolves to) is the result; what it throws (or rejects with) becomes an error reply: an object
   * with an integer `code` and a string `message` (e.g. RpcError) chooses them, another Error sends
   * code -32000 and its message; never a stack. Requests for methods without a handler get -32601.
   * @param method - The method name.
   * @param handler - Called with the params and a RequestContext.
   * @returns this
   * @throws LocalSocketError `INVALID_ARGUMENT` for a non-string method or a handler that is not a function.
   */
  handle<M extends RequestMethod<C, R>>(method: M, handler: ContractRequestHandler<C, R, M>): this;
  handle(method: string, handler: AnyRequestHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    (this.#handlers ??= new Map()).set(method, handler);
    return this;
  }

  /**
   * Registers the handler of a notification method (replacing any previous one). The `notification`
   * event fires as well. A throw from it is reported as an uncaught error, as a listener's would be.
   * @param method - The method name.
   * @param handler - Called with the params and this MessageSocket.
   * @returns this
   * @throws LocalSocketError `INVALID_ARGUMENT` for a non-string method or a handler that is not a function.
   */
  onNotification<M extends NotificationMethod<C, R>>(method: M, handler: ContractNotificationHandler<C, R, M>): this;
  onNotification(method: string, handler: AnyNotificationHandler): this {
    if (typeof method !== 'string') throw invalidArgument('method must be a string');
    if (typeof handler !== 'function') throw invalidArgument('handler must be a function');
    (this.#notificationHandlers ??= new Map()).set(method, handler);
    return this;
  }

  // ---- closing --------------------------------------------------------------------------------

  /**
   * Closes by the close handshake: what is queued is flushed, then the close frame (`code`,
   * `reason`) goes out, then end-of-stream; the bytes the peer still sends are read and dropped until
   * it closes too. All within the socket's `closeTimeout`, past which the connection is aborted.
   * The peer reports `close` with PEER_CLOSED and `{ clean: true, by: 'peer', code, reason }`.
   * Outgoing requests still waiting reject with INVALID_STATE; handlers still running see their
   * signal abort. Idempotent (later calls wait for the first one; their options are ignored).
   * Emits `close` with null and `{ clean: true, by: 'local', code, reason }`.
   * @param options - `code` (1000-4999, default 1000 NORMAL) and `reason` (at most 123 UTF-8 bytes,
   *   cut beyond, default '').
   * @returns resolves once the connection is closed.
   * @throws LocalSocketError (rejects) `INVALID_ARGUMENT` for a bad code or reason (nothing is closed then).
   */
  async close(options?: CloseOptions): Promise<void> {
    const { code, reason } = checkCloseOptions(options, CloseCode.NORMAL, '');
    if (this.#open) {
      this.#open = false;
      this.#localEnd = 'close';
      this.#sentClose = { code, reason };
      this.#closing = closeGracefully(this.socket, code, reason);
    }
    if (this.#closing !== null) await this.#closing;
    else await this.socket.disconnectFromServer();
    this.#finish();
  }

  /**
   * Closes now, without the close handshake (the peer sees the connection lost): queued writes are
   * dropped; outgoing requests reject with ABORTED. Idempotent. Emits `close` with null and
   * `{ clean: false, by: 'local', code: null }`.
   */
  abort(): void {
    if (this.#open) {
      this.#open = false;
      this.#localEnd = 'abort';
    }
    this.socket.abort();
    this.#finish();
  }

  static {
    failFromOutside = (socket, err) => socket.#fail(err, false);
  }

  /**
   * Fails the connection with `err` (the peer's fault: a bad frame, a size, a peer that fell
   * behind). The one path every failure found here takes: the peer is sent the close code that
   * matches `err.code` (PROTOCOL_ERROR 1002, MESSAGE_TOO_LARGE 1009, RESOURCE_EXHAUSTED 1013,
   * anything else 1011) with the error's message as the reason, and this side reports at once.
   */
  #fail(err: LocalSocketError, emitError = true): void {
    if (!this.#open) return;
    this.#open = false;
    this.#failure = err;
    const code = closeCodeFor(err.code);
    const reason = cutReason(err.message);
    this.#sentClose = { code, reason };
    if (emitError) this.#emitError(err);
    this.#closing = closeGracefully(this.socket, code, reason);
    this.#finish();
  }

  /** The peer's close frame: it closes on purpose. Everything waiting ends now, with its reason. */
  #onPeerClose(params: unknown): void {
    // A malformed close frame throws PROTOCOL_ERROR: the decoder's caller fails the connection.
    this.#peerClose = readClose(params);
    this.#open = false;
    // The peer reads (and drops) what we still send until we close: nothing is lost by closing now.
    this.socket.abort();
    this.#finish();
  }

  #emitError(err: LocalSocketError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Why the connection ended, for the close event, and how. */
  #outcome(): { reason: LocalSocketError | null; info: CloseInfo } {
    const local = this.#localEnd;
    const sent = this.#sentClose;
    if (local === 'close') return { reason: null, info: { clean: true, by: 'local', code: sent!.code, reason: sent!.reason, error: null } };
    if (local === 'abort') return { reason: null, info: { clean: false, by: 'local', code: null, reason: '', error: null } };
    const failure = this.#failure;
    if (sent !== null && failure !== null) {
      return { reason: failure, info: { clean: false, by: 'local', code: sent.code, reason: sent.reason, error: failure } };
    }
    const closed = this.#peerClose;
    if (closed !== null) {
      // Close-path errors come from event handlers, where a stack says nothing: none is captured (as the socket's own).
      const reason = closePathError('PEER_CLOSED', `the peer closed the connection (${describeClose(closed.code, closed.reason)})`);
      return { reason, info: { clean: true, by: 'peer', code: closed.code, reason: closed.reason, error: null } };
    }
    const lost = failure ?? closePathError('PEER_CLOSED', 'the connection was lost: the peer went away without a close frame');
    return { reason: lost, info: { clean: false, by: 'peer', code: null, reason: '', error: lost } };
  }

  /** What a request still waiting rejects with: the code of why the connection ended, that reason as cause. */
  #pendingError(reason: LocalSocketError): LocalSocketError {
    const closed = this.#peerClose;
    if (closed !== null) {
      // The peer says why (e.g. 1009: our request was too large for it).
      return new LocalSocketError(errorCodeForClose(closed.code), `the peer closed the connection before the reply (${describeClose(closed.code, closed.reason)})`, { cause: reason });
    }
    if (reason.code === 'PEER_CLOSED') return new LocalSocketError('PEER_CLOSED', 'the connection was lost before the reply', { cause: reason });
    return new LocalSocketError(reason.code, `the connection failed before the reply: ${reason.message}`, { cause: reason });
  }

  /** The end, whichever way it came: settles everything still waiting, exactly once. */
  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#open = false;
    const socket = this.socket;
    socket.off('readyRead', MessageSocket.#onReadyRead);
    socket.off('disconnected', MessageSocket.#onDisconnected);
    socket.off('error', MessageSocket.#onSocketError);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const local = this.#localEnd;
    const { reason, info } = this.#outcome();
    const pending = this.#pending;
    if (pending !== null && pending.size > 0) {
      this.#pending = null;
      const why = reason === null ? null : this.#pendingError(reason);
      for (const p of pending.values()) {
        this.#disarm(p);
        if (local === 'abort') p.reject(new LocalSocketError('ABORTED', 'the message socket was aborted'));
        else if (local === 'close') p.reject(closedError());
        else p.reject(why);
      }
    }
    const incoming = this.#incoming;
    if (incoming !== null && incoming.size > 0) {
      this.#incoming = null;
      const why = reason ?? new LocalSocketError('ABORTED', 'the connection was closed');
      for (const context of incoming.values()) {
        context.settled = true;
        context.cancel(why);
      }
    }
    if (diagnostics.messageClose.hasSubscribers) diagnostics.messageClose.publish({ socket: this, reason, info });
    this.emit('close', reason, info);
  }
}

/** Whether `chunk` begins with BUSY, or with as much of it as it holds. */
function startsLikeBusy(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, BUSY_MESSAGE.length);
  return n > 0 && chunk.subarray(0, n).equals(BUSY_MESSAGE.subarray(0, n));
}

const busyDrops = new WeakSet<LocalSocketError>();

function busyDrop(): LocalSocketError {
  const err = new LocalSocketError('RESOURCE_EXHAUSTED', 'the server is busy: it dropped the connection before accepting it (nothing sent was delivered)');
  busyDrops.add(err);
  return err;
}

/**
 * Whether `err` (or its cause) says the server dropped the connection with BUSY before accepting
 * it: nothing sent on it reached the server's application, so the whole exchange may be retried.
 * @param err - any error, such as a request's rejection.
 * @returns true for such a drop.
 */
export function isBusyDrop(err: unknown): boolean {
  if (!(err instanceof LocalSocketError)) return false;
  return busyDrops.has(err) || (err.cause instanceof LocalSocketError && busyDrops.has(err.cause));
}

/**
 * JSON text of a value, or INVALID_ARGUMENT for what JSON cannot carry (undefined, a function, BigInt,
 * cycles) and for a value nested deeper than `maxDepth` (its peer would refuse the message).
 */
function stringify(value: unknown, maxDepth: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    throw invalidArgument('the value cannot be serialised as JSON');
  }
  if (text === undefined) throw invalidArgument('the value cannot be serialised as JSON');
  if (textTooDeep(text, maxDepth)) throw invalidArgument(`the value nests deeper than ${maxDepth} levels (the limit for a message is ${MAX_JSON_DEPTH})`);
  return text;
}

/**
 * Connects to a server and wraps the connection in a MessageSocket.
 * @param name - The server's name (as for `connect()`).
 * @param options - Every ConnectOptions (auth, timeout, waitForServer, limits...) plus MessageOptions.
 * @returns The open MessageSocket.
 * @throws LocalSocketError every code `connect()` rejects with; `INVALID_ARGUMENT` for bad message options.
 */
export async function connectMessages<C extends MessageContract = Untyped>(name: string, options: ConnectOptions & MessageOptions = {}): Promise<MessageSocket<C>> {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, CONNECT_MESSAGES_OPTIONS);
  // Every option checked once, before connecting: bad options must not cost a connection.
  const messageOptions = messageOptionsFrom(raw);
  const socket = await connectResolved(name, connectOptionsFrom(raw));
  try {
    return wrapSocket<C, 'client'>(socket, messageOptions);
  } catch (err) {
    socket.abort();
    throw err;
  }
}
