/**
 * LocalSocket: one connection, with explicit states
 *   unconnected -> connecting -> connected -> closing -> unconnected
 * and a single place (#release) where the OS handle is let go, exactly once.
 * Every operation checks the state first, so nothing touches a released handle.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { Cancel } from './cancel.js';
import { establish, planConnect } from './connector.js';
import * as diagnostics from './diagnostics.js';
import { reachedEndpoint } from './endpoint/dial.js';
import { followSignal, waitWithDeadline, type WaitOptions } from './deadline.js';
import { fromSystemError } from './error-map.js';
import { closePathError, LocalSocketError } from './errors.js';
import type { Endpoint } from './endpoint/names.js';
import { resolveConnectOptions, resolveSocketOptions, resolveWaitOptions, type ConnectOptions, type ResolvedConnect, type ResolvedLimits, type ResolvedWait, type SocketLimits } from './options.js';
import { onLaterTurn } from './later.js';
import { nextLineLength } from './line.js';
import { useFastListenerTable } from './listener-table.js';
import { Preset } from './preset.js';
import { ReadBuffer } from './read-buffer.js';
import { chunksOf, duplexOf } from './socket-stream.js';
import { checkInteger, toByteView } from './validate.js';
import { QUEUED_BYTES, quiet, Writer } from './writer.js';

/**
 * The state of a {@link LocalSocket}, as Qt's `QLocalSocket::LocalSocketState`
 * (`UnconnectedState`, `ConnectingState`, `ConnectedState`, `ClosingState`):
 *
 * - `'unconnected'`: not connected: before `connectToServer()`, after a failed
 *   connect, and once the connection is closed (for good: a socket connects once).
 * - `'connecting'`: `connectToServer()` is dialing, retrying or running the handshake.
 * - `'connected'`: the connection is established (and authenticated, unless raw):
 *   bytes can be written and read.
 * - `'closing'`: `end()` or `disconnectFromServer()` was called, or the peer
 *   closed: queued bytes are being flushed before the connection closes.
 *
 * Every change is announced by {@link LocalSocketEvents.stateChanged}.
 */
export type SocketState = 'unconnected' | 'connecting' | 'connected' | 'closing';

const DEFAULT_MAX_LINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** The LocalSocket that owns a transport, for the shared event handlers. */
const kOwner = Symbol('localsocket.owner');

function abortedHere(): LocalSocketError {
  return closePathError('ABORTED', 'the socket was aborted');
}

/**
 * `abort()`'s reason as handed to `#release`: nothing reads it but the code check there (a local
 * abort sets no lastError and emits no error), so no error object is made per close unless queued
 * writes are rejected with one (`abortedHere()`, made then).
 */
const ABORTED_HERE: LocalSocketError = abortedHere();
type OwnedTransport = net.Socket & { [kOwner]?: LocalSocket | null };

/**
 * The library's own entries into a LocalSocket, off its public type: set once
 * by the class's static block (they reach its private members), used by
 * `connect()` and LocalServer through the functions below.
 */
interface SocketInternals {
  adopt(socket: LocalSocket, transport: net.Socket, leftover: Buffer, endpoint: Endpoint | null, servedBy: ServedBy): void;
  wrapper(socket: LocalSocket): object | null;
  setWrapper(socket: LocalSocket, wrapper: object): void;
  handOut(socket: LocalSocket): void;
  connectResolved(socket: LocalSocket, name: string, options: ResolvedConnect): Promise<void>;
}
const internals = {} as SocketInternals;
/** The events a message layer (and most applications) listen to on a socket: a slot each in its listener table. */
const SOCKET_EVENT_SLOTS = ['readyRead', 'disconnected', 'error'] as const;

/** The read buffer every socket shares until its first bytes (never pushed to: `#onData` swaps in its own first). */
const NO_BYTES = new ReadBuffer();
/** Limits already resolved, for a socket made by the library itself (see Preset). */
const presetLimits = new Preset<ResolvedLimits>();

/**
 * What this side has done with a socket; it only moves forward (one transition method each):
 *
 * - `'fresh'`: never connected nor closed;
 * - `'inUse'`: connecting, connected, or ended by the peer or by an error (what arrived stays readable);
 * - `'inputDropped'`: closed here by `disconnectFromServer()`: unread bytes are dropped and
 *   reading fails, while queued writes are flushed (`#dropInput`);
 * - `'closed'`: closed here for good (`abort()`, a close that finished, a failed connect):
 *   nothing to read, and a wait fails with INVALID_STATE (`#closeHere`).
 */
type Use = 'fresh' | 'inUse' | 'inputDropped' | 'closed';

/**
 * The hold on read events until the application has the socket, so that it
 * can attach its listeners before hearing of bytes that came first:
 *
 * - `'free'`: readyRead and readChannelFinished go out as things happen;
 * - `'held'`: connected but not yet handed out (the handshake's leftover bytes, a
 *   server's pending queue): read events wait (`#hold`);
 * - `'handingOut'`: handed out this turn; the hold ends on a later turn, and what
 *   arrived meanwhile is announced then (`#announceLater`, `#endHold`);
 * - `'handingOutEnded'`: as `'handingOut'`, and the peer's end-of-stream came
 *   meanwhile: it is reported, and acted on, after the bytes before it (`#onEnd`).
 */
type HandOut = 'free' | 'held' | 'handingOut' | 'handingOutEnded';

function notConnected(what: string): LocalSocketError {
  return new LocalSocketError('INVALID_STATE', `${what}: the socket is not connected`);
}

/**
 * The events of a {@link LocalSocket} (its Qt signals), each with its
 * listener's arguments: `socket.on('readyRead', () => ...)`. Events are
 * emitted from the event loop, never from inside the call that caused them
 * unless noted.
 */
export interface LocalSocketEvents {
  /**
   * The state changed to `state` from `previous` (Qt's `stateChanged`). Fired
   * for every transition, including a failed connect (`'connecting'` to
   * `'unconnected'`); a change to `'closing'` stands for Qt's `aboutToClose`.
   */
  stateChanged: [state: SocketState, previous: SocketState];
  /**
   * The connection is established, after the handshake unless raw (Qt's
   * `connected`). Fired once, before `connectToServer()` resolves; a socket
   * taken from a {@link LocalServer} was connected before it was handed out,
   * so its `connected` has already been fired.
   */
  connected: [];
  /**
   * The connection closed: the socket went from `'connected'` or `'closing'`
   * to `'unconnected'`, whoever closed it (Qt's `disconnected`). Fired once; not
   * fired after a connect that failed.
   */
  disconnected: [];
  /**
   * New bytes are buffered and can be read (Qt's `readyRead`). Bytes that
   * arrive before the socket is yours (before `connect()` resolves, or while
   * it waits in a server's pending queue) are announced on a later turn of the
   * event loop after you got it. Fired again for each further arrival, whether
   * or not the earlier bytes were read.
   */
  readyRead: [];
  /**
   * The peer sent end-of-stream: no more bytes will arrive (Qt's
   * `readChannelFinished`). What it sent before stays readable. Unless
   * `allowHalfOpen` is set, the socket then flushes what is queued and closes.
   */
  readChannelFinished: [];
  /**
   * `bytes` more of the queued bytes were handed to the kernel (Qt's
   * `bytesWritten`); `bytesToWrite` has dropped by that much.
   */
  bytesWritten: [bytes: number];
  /**
   * The connection (or the connect) failed with `error` (Qt's
   * `errorOccurred`). Emitted only while at least one listener is attached
   * (Node would otherwise throw); the same error is also the rejection of the
   * operation that met it and stays on {@link LocalSocket.lastError}. Not
   * emitted for a peer's ordinary close (`PEER_CLOSED`) or for a local
   * `abort()`.
   */
  error: [error: LocalSocketError];
}

/**
 * One connection to a local server: a Unix domain socket, or a named pipe on
 * Windows. The counterpart of Qt's `QLocalSocket` (see docs/QT-PORTING.md).
 *
 * Lifecycle ({@link SocketState}): a new socket is `'unconnected'`;
 * {@link LocalSocket.connectToServer} makes it `'connecting'` while it dials,
 * retries and runs the handshake, then `'connected'`, or back to
 * `'unconnected'` if the connect fails. {@link LocalSocket.end} and
 * {@link LocalSocket.disconnectFromServer} (and a peer's end-of-stream) go
 * through `'closing'` while queued bytes are flushed; {@link LocalSocket.abort}
 * closes at once. Once `'unconnected'` again the socket is done: a LocalSocket
 * connects once; make a new one to reconnect. Sockets accepted by a
 * {@link LocalServer} are handed out already `'connected'`.
 *
 * Reading and writing are bounded: reading from the kernel pauses while
 * `maxReadBuffer` bytes are unread, and a write waits for room past
 * `maxWriteBuffer`. Progress and failures are reported through the events
 * listed in {@link LocalSocketEvents}; most code uses {@link connect} to make
 * and connect a socket in one call.
 */
export class LocalSocket extends EventEmitter<LocalSocketEvents> {
  #state: SocketState = 'unconnected';
  /** See {@link Use}. */
  #use: Use = 'fresh';
  /** See {@link HandOut}. */
  #handOut: HandOut = 'free';
  /** The peer sent end-of-stream: nothing more arrives; what it sent stays readable. */
  #peerEnded = false;
  /** Flow control, not a state: reading from the kernel is paused until a read makes room in the read buffer. */
  #pausedByBuffer = false;
  #net: net.Socket | null = null;
  #writer: Writer | null = null;
  /** The shared empty {@link NO_BYTES} until the first bytes arrive: an idle connection holds no buffer of its own. */
  #reader: ReadBuffer = NO_BYTES;
  #limits: ResolvedLimits;
  #endpoint: Endpoint | null = null;
  #connectAbort: Cancel | null = null;
  #closing: Promise<void> | null = null;
  #lastError: LocalSocketError | null = null;
  /**
   * The library's back-pointers, declared here so that every LocalSocket has them from the start
   * (a property added later would give each socket a property store of its own): the server an
   * accepted socket came through (told directly when it becomes unconnected, no listener per
   * socket), and the MessageSocket that reads this one.
   */
  #servedBy: ServedBy | null = null;
  #wrapper: object | null = null;

  /**
   * Makes an unconnected socket; connect it with {@link LocalSocket.connectToServer}.
   * @param options - the per-connection limits ({@link SocketLimits}). The other
   *   connect options are accepted too, so that one object can serve
   *   `new LocalSocket(options)` and `connectToServer(name, options)`; they take
   *   effect only when given to `connectToServer()`.
   * @throws LocalSocketError `INVALID_ARGUMENT` if `options` is not an object or a limit is invalid.
   */
  constructor(options: SocketLimits = {}) {
    super();
    useFastListenerTable(this, SOCKET_EVENT_SLOTS);
    // A server (and connect()) hands its sockets limits it already resolved: nothing to check again.
    this.#limits = presetLimits.value ?? resolveSocketOptions(options);
  }

  static {
    internals.adopt = (socket, transport, leftover, endpoint, servedBy) => {
      socket.#servedBy = servedBy;
      socket.#adopt(transport, leftover, endpoint);
    };
    internals.wrapper = (socket) => socket.#wrapper;
    internals.setWrapper = (socket, wrapper) => {
      socket.#wrapper = wrapper;
    };
    internals.handOut = (socket) => socket.#handOutAccepted();
    internals.connectResolved = (socket, name, options) => socket.#connect(name, () => options);
  }

  /** The current state (Qt's `state()`); see {@link SocketState}. */
  get state(): SocketState {
    return this.#state;
  }

  /** Whether the state is `'connected'` (Qt's `isValid()`). */
  get isConnected(): boolean {
    return this.#state === 'connected';
  }

  /** The name given to connect (Qt's `serverName()`), or null before a connect. */
  get serverName(): string | null {
    return this.#endpoint?.name ?? null;
  }

  /**
   * The endpoint the name resolved to, as the OS sees it (Qt's
   * `fullServerName()`): a socket path, `\0name` for an abstract name, or
   * `\\.\pipe\name`; null before a connect.
   */
  get fullServerName(): string | null {
    return this.#endpoint?.address ?? null;
  }

  /** The last error this socket met, kept for inspection (Qt's error()). */
  get lastError(): LocalSocketError | null {
    return this.#lastError;
  }

  /**
   * Bytes received and not yet read (Qt's `bytesAvailable()`). Never more than
   * `maxReadBuffer` (bytes beyond it wait unannounced until a read makes room, then
   * come with their own `readyRead`); 0 once the socket was closed locally (unread bytes are dropped).
   */
  get bytesAvailable(): number {
    return this.#closedHere() ? 0 : this.#reader.length;
  }

  /**
   * Bytes accepted by `write()` and not yet handed to the kernel (Qt's
   * `bytesToWrite()`); it drops as `bytesWritten` fires.
   */
  get bytesToWrite(): number {
    return this.#writer?.bytesToWrite ?? 0;
  }

  /**
   * The read buffer limit in bytes, from the options (Qt's `readBufferSize()`):
   * reading from the kernel pauses while this many bytes are unread.
   * @defaultValue 1048576 (1 MiB)
   */
  get maxReadBuffer(): number {
    return this.#limits.maxReadBuffer;
  }

  /**
   * The write buffer limit in bytes, from the options: a `write()` that would
   * take `bytesToWrite` past it waits for room.
   * @defaultValue 1048576 (1 MiB)
   */
  get maxWriteBuffer(): number {
    return this.#limits.maxWriteBuffer;
  }

  /** @internal Every byte queued for the peer: accepted (`bytesToWrite`) plus waiting for room. */
  get [QUEUED_BYTES](): number {
    return this.#writer?.queued ?? 0;
  }

  /**
   * How long a close may take to flush what is queued, in ms, from the options;
   * past it the connection is aborted.
   * @defaultValue 10000
   */
  get closeTimeout(): number {
    return this.#limits.closeTimeout;
  }

  // ---- connecting -------------------------------------------------------

  /**
   * Connects to a server by name (Qt's `connectToServer()`). Retries with
   * backoff while the server is busy (and, with `waitForServer`, while it is
   * not up yet) until `timeout`. The state goes `'connecting'`, then
   * `'connected'`, or back to `'unconnected'` on failure, which is also
   * reported by the `error` event and kept on `lastError`.
   * @param name - the server's name, resolved as {@link resolveName} does (or a full path).
   * @param options - deadline, signal, name resolution and authentication ({@link ConnectOptions}).
   * @returns resolves once connected (and authenticated, unless raw).
   * @throws LocalSocketError (rejects):
   *   `SERVER_NOT_FOUND` nothing listens at the name;
   *   `CONNECTION_REFUSED` the server refused or closed the connection (a full queue is retried until the deadline);
   *   `RESOURCE_EXHAUSTED` the server stayed busy until the deadline, or we ran out of descriptors;
   *   `ACCESS_DENIED` the socket, its directory or the key file may not be used;
   *   `AUTH_FAILED` the server does not hold our key;
   *   `PROTOCOL_ERROR` the peer is not a localsocket server (e.g. a raw-mode server);
   *   `TIMEOUT` the deadline passed (also when a silent raw server never answers the handshake);
   *   `ABORTED` the signal fired, or `abort()` / `disconnectFromServer()` was called meanwhile;
   *   `INVALID_NAME` the name cannot be used; `INVALID_ARGUMENT` bad options, bad key or missing key file;
   *   `UNSUPPORTED` e.g. an abstract name off Linux; `INVALID_STATE` this socket was already used;
   *   `CONNECTION_ERROR` another OS failure.
   *   Limits given here apply to this connection; those not given stay as the constructor set them.
   */
  connectToServer(name: string, options: ConnectOptions = {}): Promise<void> {
    return this.#connect(name, () => resolveConnectOptions(options, this.#limits));
  }

  /** The connect itself; `resolve` checks the options inside it, so bad options take the failed-connect path too. */
  async #connect(name: string, resolve: () => ResolvedConnect): Promise<void> {
    if (this.#use !== 'fresh') throw new LocalSocketError('INVALID_STATE', 'connect: a LocalSocket connects once; create a new one');
    this.#use = 'inUse';
    // From here every failure, bad options and names included, takes the one path below (as Qt: connecting -> unconnected + error).
    const controller = new Cancel();
    this.#connectAbort = controller;
    let unfollow = (): void => {};
    this.#setState('connecting');
    try {
      const opts = resolve();
      this.#limits = opts.limits;
      unfollow = followSignal(controller, opts.signal);
      const plan = planConnect(name, opts, controller);
      this.#endpoint = plan.endpoint;
      const transport = await (diagnostics.tracingConnects()
        ? diagnostics.traceConnect(plan.endpoint.address, plan.auth !== null, () => plan.attempts ?? 0, establish(plan))
        : establish(plan));
      this.#endpoint = reachedEndpoint(plan.endpoint, transport);
      if (this.#state !== 'connecting') {
        // Aborted while the last step completed: nothing may outlive the attempt.
        transport.destroy();
        throw new LocalSocketError('ABORTED', 'aborted');
      }
      this.#attach(transport, EMPTY);
      this.#announceLater();
    } catch (err) {
      const error = err instanceof LocalSocketError ? err : fromSystemError(err, 'connect');
      this.#connectAbort = null;
      if (this.#state === 'connecting') {
        this.#lastError = error;
        this.#setState('unconnected');
        this.#closeHere();
        this.#emitError(error);
      }
      throw error;
    } finally {
      unfollow();
    }
  }

  /** Takes over a transport LocalServer accepted (after its handshake, if any): the server's side of a connection. */
  #adopt(transport: net.Socket, leftover: Buffer, endpoint: Endpoint | null): void {
    this.#use = 'inUse';
    this.#endpoint = endpoint;
    this.#setState('connecting');
    this.#attach(transport, leftover);
  }

  // ---- the hand-out (see HandOut) ---------------------------------------------

  /** Connected, not yet the application's: read events wait. */
  #hold(): void {
    this.#handOut = 'held';
  }

  /** Whether read events wait for the hand-out. */
  #held(): boolean {
    return this.#handOut !== 'free';
  }

  /**
   * The socket is handed out: the hold ends on a later turn of the event loop,
   * so that the caller who was just handed it has attached its listeners.
   */
  #announceLater(): void {
    if (this.#handOut !== 'held') return;
    this.#handOut = 'handingOut';
    onLaterTurn(() => this.#endHold());
  }

  /**
   * A server hands out a pending connection. When nothing arrived while it waited (no bytes here
   * or in the transport, no end-of-stream) there is nothing to put off: the hold ends now, without
   * the later turn (one wake-up of the server process per connection). Whatever comes next arrives
   * through the event loop, so after the caller's code, with its own readyRead.
   */
  #handOutAccepted(): void {
    const transport = this.#net;
    if (this.#handOut === 'held' && this.#reader.length === 0 && !this.#peerEnded && transport !== null && transport.readableLength === 0) {
      this.#handOut = 'free';
      return;
    }
    this.#announceLater();
  }

  /** Ends the hold and announces what arrived meanwhile: readyRead for buffered bytes, then the end-of-stream. */
  #endHold(): void {
    const endCameMeanwhile = this.#handOut === 'handingOutEnded';
    this.#handOut = 'free';
    if (this.bytesAvailable > 0) this.emit('readyRead');
    if (!this.#peerEnded || this.#closedHere()) return; // closed here meanwhile: nothing to report
    // An end that came during the hand-out was put off whole; one that came while pending was acted on then.
    if (endCameMeanwhile) this.#afterPeerEnd();
    else this.emit('readChannelFinished');
  }

  #attach(transport: net.Socket, leftover: Buffer): void {
    this.#net = transport;
    this.#connectAbort = null;
    (transport as OwnedTransport)[kOwner] = this;
    transport.on('data', LocalSocket.#transportData);
    transport.on('end', LocalSocket.#transportEnd);
    transport.on('error', LocalSocket.#transportError);
    transport.on('close', LocalSocket.#transportClose);
    if (this.#limits.idleTimeout > 0) {
      transport.setTimeout(this.#limits.idleTimeout, LocalSocket.#transportIdle);
    }
    this.#setState('connected');
    this.emit('connected');
    // Bytes that came with the handshake are announced once the socket is handed out, never before.
    this.#hold();
    if (leftover.length > 0) this.#onData(leftover);
    // 'data' may have been flowing before we attached (the handshake paused it); unless the bytes
    // that came with the handshake already filled the read buffer.
    if (!this.#pausedByBuffer) transport.resume();
  }

  // ---- transport events ---------------------------------------------------

  #onData(chunk: Buffer): void {
    const room = this.#limits.maxReadBuffer - this.#reader.length;
    if (chunk.length > room && this.#net !== null) {
      // Never more than maxReadBuffer readable (Qt's rule): the rest goes back to the front of the
      // transport's own queue (not readable; the transport stops reading from the kernel at its
      // high-water mark), and comes back as new data, with its own readyRead, once a read makes room.
      // Paused first: unshifting into a flowing stream would hand the bytes straight back.
      this.#pausedByBuffer = true;
      this.#net.pause();
      this.#net.unshift(chunk.subarray(Math.max(room, 0)));
      chunk = chunk.subarray(0, Math.max(room, 0));
    }
    if (this.#reader === NO_BYTES) {
      if (chunk.length === 0) return;
      this.#reader = new ReadBuffer();
    }
    this.#reader.push(chunk);
    if (this.#reader.length >= this.#limits.maxReadBuffer && !this.#pausedByBuffer) {
      this.#pausedByBuffer = true;
      this.#net?.pause();
    }
    if (!this.#held() && chunk.length > 0) this.emit('readyRead');
  }

  #onEnd(): void {
    this.#peerEnded = true;
    // Being handed out: reported after the bytes before it, on the hold's last turn (#endHold). A pending
    // connection is not held back: one whose peer left closes and leaves the queue.
    if (this.#handOut === 'handingOut' || this.#handOut === 'handingOutEnded') {
      this.#handOut = 'handingOutEnded';
      return;
    }
    this.#afterPeerEnd();
  }

  #afterPeerEnd(): void {
    if (!this.#held()) this.emit('readChannelFinished');
    // Half-open: the application still writes, and closes when it is done.
    if (this.#limits.allowHalfOpen && this.#state === 'connected') return;
    // The peer will send nothing more: flush what we queued, then close (Qt semantics).
    void this.#closeAfterFlush(closePathError('PEER_CLOSED', 'the peer closed the connection'));
  }

  #onTransportError(err: Error): void {
    this.#release(fromSystemError(err, 'write'));
  }

  #onClose(): void {
    this.#release(closePathError('PEER_CLOSED', 'the peer closed the connection'));
  }

  #onIdle(): void {
    this.#release(new LocalSocketError('TIMEOUT', 'idle timeout: no data within the deadline'));
  }

  // Transport event handlers shared by every socket (no closures per connection, as Node's net and ws do):
  // each reaches its LocalSocket through a back-pointer on the transport.
  static #transportData(this: OwnedTransport, chunk: Buffer): void {
    const owner = this[kOwner];
    if (owner) owner.#onData(chunk);
  }

  static #transportEnd(this: OwnedTransport): void {
    const owner = this[kOwner];
    if (owner) owner.#onEnd();
  }

  static #transportError(this: OwnedTransport, err: Error): void {
    const owner = this[kOwner];
    if (owner) owner.#onTransportError(err);
  }

  static #transportClose(this: OwnedTransport): void {
    const owner = this[kOwner];
    if (owner) owner.#onClose();
  }

  static #transportIdle(this: OwnedTransport): void {
    const owner = this[kOwner];
    if (owner) owner.#onIdle();
  }

  // ---- reading ------------------------------------------------------------

  // ---- our use of the socket (see Use) ----------------------------------------

  /** Closed here: `disconnectFromServer()` dropped the input, or the socket is closed for good. */
  #closedHere(): boolean {
    return this.#use === 'inputDropped' || this.#use === 'closed';
  }

  /** Closed here for good: nothing to read, nothing to wait for. */
  #closeHere(): void {
    this.#use = 'closed';
  }

  /** Reading is allowed while connected and after the peer closed (what it sent stays readable), not after we closed. */
  #checkReadable(what: string): void {
    if (this.#use !== 'inUse') throw notConnected(what);
  }

  /** Nothing more can arrive: the peer sent end-of-stream, or the connection is gone. */
  #inputEnded(): boolean {
    return this.#peerEnded || this.#net === null;
  }

  /**
   * A local close ends reading: what is unread is dropped (as Qt's close does),
   * so `bytesAvailable` is 0 and read() fails alike, and nothing more is taken
   * from the kernel while queued writes are flushed.
   */
  #dropInput(): void {
    if (this.#use !== 'closed') this.#use = 'inputDropped';
    this.#reader.clear();
    this.#pausedByBuffer = false;
    this.#net?.pause();
  }

  #afterRead(): void {
    if (this.#pausedByBuffer && this.#reader.length < this.#limits.maxReadBuffer) {
      this.#pausedByBuffer = false;
      this.#net?.resume();
    }
  }

  /**
   * Removes and returns up to `maxBytes` of the bytes available (Qt's `read()`).
   * Reading frees room in the read buffer, so reading from the kernel resumes.
   * @param maxBytes - the most bytes returned; all that are available if omitted.
   * @returns the bytes, possibly none (an empty Buffer).
   * @throws LocalSocketError `INVALID_ARGUMENT` if `maxBytes` is not an integer >= 0;
   *   `INVALID_STATE` if the socket never connected or was closed locally.
   */
  read(maxBytes?: number): Buffer {
    this.#checkReadable('read');
    const max = maxBytes === undefined ? this.#reader.length : checkInteger(maxBytes, 'maxBytes', 0, Number.MAX_SAFE_INTEGER);
    const out = this.#reader.read(max);
    this.#afterRead();
    return out;
  }

  /**
   * Removes and returns every byte available (Qt's `readAll()`); same as `read()`.
   * @returns the bytes, possibly none.
   * @throws LocalSocketError `INVALID_STATE` if the socket never connected or was closed locally.
   */
  readAll(): Buffer {
    return this.read();
  }

  /**
   * Returns up to `maxBytes` of the bytes available without removing them (Qt's `peek()`).
   * @param maxBytes - the most bytes returned; all that are available if omitted.
   * @returns the bytes, possibly none (they may share memory with the read buffer: do not modify them).
   * @throws LocalSocketError `INVALID_ARGUMENT` if `maxBytes` is not an integer >= 0;
   *   `INVALID_STATE` if the socket never connected or was closed locally.
   */
  peek(maxBytes?: number): Buffer {
    this.#checkReadable('peek');
    const max = maxBytes === undefined ? this.#reader.length : checkInteger(maxBytes, 'maxBytes', 0, Number.MAX_SAFE_INTEGER);
    return this.#reader.peek(max);
  }

  /**
   * Whether readLine(maxLength) would return a line now.
   * @param maxLength as for readLine
   * @defaultValue maxLength 65536
   * @returns true if a '\n' is among the first `maxLength` bytes, `maxLength` bytes are
   *   buffered, or the stream has ended with bytes left
   * @throws INVALID_ARGUMENT if `maxLength` is not an integer >= 1
   */
  canReadLine(maxLength: number = DEFAULT_MAX_LINE): boolean {
    checkInteger(maxLength, 'maxLength', 1, Number.MAX_SAFE_INTEGER);
    return this.bytesAvailable > 0 && nextLineLength(this.#reader, maxLength, this.#inputEnded()) > 0;
  }

  /**
   * Removes and returns one line: the bytes up to and including the first
   * '\n', but at most `maxLength` bytes. A longer line is returned in pieces of
   * `maxLength` bytes that do not end with '\n' (as Qt's readLine(maxSize)), so
   * no input can make it fail or stall. Once the peer has closed, the bytes
   * after the last '\n' are returned as the last line.
   * @param maxLength the most bytes returned
   * @defaultValue maxLength 65536
   * @returns the line, or null while no line is complete (more bytes may come)
   * @throws INVALID_ARGUMENT if `maxLength` is not an integer >= 1;
   *   INVALID_STATE if the socket never connected or was closed locally
   */
  readLine(maxLength: number = DEFAULT_MAX_LINE): Buffer | null {
    this.#checkReadable('readLine');
    checkInteger(maxLength, 'maxLength', 1, Number.MAX_SAFE_INTEGER);
    const length = nextLineLength(this.#reader, maxLength, this.#inputEnded());
    if (length === 0) return null;
    const line = this.#reader.read(length);
    this.#afterRead();
    return line;
  }

  // ---- writing ------------------------------------------------------------

  /**
   * Queues bytes (Qt's `write()`). Only Uint8Array, Buffer or string (UTF-8); `offset` and
   * `length` must be integers within the data. The promise resolves when the
   * bytes have been handed to the kernel. When `bytesToWrite` would pass
   * `maxWriteBuffer` the write waits for room (backpressure); but once 64
   * times `maxWriteBuffer` already waits behind the write being taken (writes
   * made without awaiting, to a peer that does not read), the connection fails
   * with `RESOURCE_EXHAUSTED` instead of holding more. Bad arguments
   * reject with INVALID_ARGUMENT, as state and I/O errors do (nothing is thrown).
   * @param data - the bytes, or a string sent as UTF-8.
   * @param offset - where in `data` to start (for bytes).
   * @param length - how many bytes from `offset`.
   * @returns resolves once the bytes are handed to the kernel.
   * @throws LocalSocketError `INVALID_ARGUMENT` for other data or a bad range;
   *   (rejects) `INVALID_STATE` if the socket is not connected or is closing, or was closed
   *   before the bytes went out; `ABORTED` if `abort()` dropped them; `RESOURCE_EXHAUSTED` (and the
   *   connection fails) past the waiting cap above; `PEER_CLOSED`,
   *   `CONNECTION_ERROR` or `TIMEOUT` (idle or close timeout) if the connection ended first.
   */
  write(data: Uint8Array | string, offset?: number, length?: number): Promise<void> {
    let view: Uint8Array;
    try {
      view = toByteView(data, offset, length);
    } catch (err) {
      return quiet(Promise.reject(err)); // a promise-returning method never throws
    }
    if (this.#state !== 'connected' || this.#net === null) {
      return quiet(Promise.reject(notConnected('write')));
    }
    // Made on the first write: an idle connection holds no write queue.
    // The transport is the sink itself (write, cork/uncork): no adapter object per connection.
    this.#writer ??= new Writer(this.#net, this.#limits.maxWriteBuffer, (bytes) => this.emit('bytesWritten', bytes), (err) => this.#release(err));
    return this.#writer.write(view);
  }

  /**
   * Flushes what is queued, sends end-of-stream, and keeps reading until the
   * peer closes too (half-close). Further writes fail with INVALID_STATE.
   * The state becomes `'closing'`. Does nothing unless connected.
   * @returns resolves once end-of-stream was sent (or the flush gave up after `closeTimeout`).
   */
  async end(): Promise<void> {
    if (this.#state !== 'connected' || this.#net === null) return;
    const transport = this.#net;
    this.#setState('closing');
    await this.#flushWithin(this.#limits.closeTimeout);
    if (this.#net === transport) transport.end();
  }

  // ---- closing ------------------------------------------------------------

  /**
   * Flushes queued writes (up to `closeTimeout`), then closes (Qt's
   * `disconnectFromServer()`). Unread bytes are dropped at once. The state
   * goes `'closing'`, then `'unconnected'`, and `disconnected` fires. While
   * connecting it aborts the connect. Idempotent, safe in every state; the
   * socket cannot be connected again.
   * @returns resolves once the socket is closed; never rejects (a flush that
   *   times out aborts, and the queued writes reject with `TIMEOUT`).
   */
  disconnectFromServer(): Promise<void> {
    if (this.#state === 'connecting') {
      this.abort();
      return Promise.resolve();
    }
    if (this.#state === 'unconnected') {
      // Closed for good, even if it never connected: a LocalSocket connects once.
      this.#closeHere();
      this.#reader.clear();
      return Promise.resolve();
    }
    this.#dropInput();
    return this.#closeAfterFlush(null);
  }

  /**
   * Closes now (Qt's `abort()`): unread bytes and queued writes are dropped, the
   * writes' promises reject with `ABORTED`, and a connect in progress rejects
   * with `ABORTED`. No `error` event. Idempotent; the socket cannot be connected again.
   */
  abort(): void {
    // Closed for good (below), even if it never connected: a LocalSocket connects once.
    this.#reader.clear();
    if (this.#state === 'connecting' && this.#connectAbort) {
      this.#connectAbort.abort(abortedHere());
      this.#connectAbort = null;
      this.#closeHere();
      this.#setState('unconnected');
      return;
    }
    this.#release(ABORTED_HERE, true);
  }

  /** Alias of abort() for `using`-style cleanup and Node habits. */
  destroy(): void {
    this.abort();
  }

  #closeAfterFlush(reason: LocalSocketError | null): Promise<void> {
    if (this.#closing) return this.#closing;
    if (this.#state === 'connected') this.#setState('closing');
    this.#closing = (async () => {
      await this.#flushWithin(this.#limits.closeTimeout);
      this.#release(reason, reason === null);
    })();
    return this.#closing;
  }

  async #flushWithin(timeout: number): Promise<void> {
    const writer = this.#writer;
    if (!writer || writer.idle) return;
    try {
      await waitWithDeadline<void>('flush', timeout, undefined, (resolve) => {
        void writer.drained().then(resolve, resolve);
        return () => {};
      });
    } catch (err) {
      this.#release(err as LocalSocketError);
    }
  }

  /**
   * The only place the transport is let go. Settles every pending write with
   * `reason` (or INVALID_STATE after a clean local close), emits the events,
   * and leaves the socket unconnected. Safe to call any number of times.
   */
  #release(reason: LocalSocketError | null, local = false): void {
    const transport = this.#net;
    if (transport === null) {
      if (this.#state !== 'unconnected') this.#setState('unconnected');
      if (local) this.#closeHere();
      return;
    }
    this.#net = null;
    if (local) this.#closeHere();
    transport.removeListener('data', LocalSocket.#transportData);
    transport.removeListener('end', LocalSocket.#transportEnd);
    transport.removeListener('close', LocalSocket.#transportClose);
    transport.removeListener('error', LocalSocket.#transportError);
    (transport as OwnedTransport)[kOwner] = null;
    transport.setTimeout(0);
    // Late errors from the dying handle must not become uncaught exceptions.
    transport.on('error', () => {});
    transport.destroy();
    if (this.#writer) {
      this.#writer.fail(reason === ABORTED_HERE ? abortedHere() : reason ?? closePathError('INVALID_STATE', 'write: the socket was closed'));
    }
    if (reason && !(local && reason.code === 'ABORTED')) {
      this.#lastError = reason;
      if (reason.code !== 'PEER_CLOSED') this.#emitError(reason);
    }
    const previous = this.#state;
    this.#setState('unconnected');
    if (previous === 'connected' || previous === 'closing') this.emit('disconnected');
  }

  #emitError(err: LocalSocketError): void {
    // An 'error' event without listeners would throw; the error is also on the
    // promise of the operation that met it, and on `lastError`.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #setState(next: SocketState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    // The server forgets its connection before the application hears of the change (as its listener, the first, did).
    if (next === 'unconnected' && this.#servedBy !== null) this.#servedBy.forget(this);
    this.emit('stateChanged', next, previous);
  }

  // ---- waiting ------------------------------------------------------------

  /**
   * Why a wait cannot succeed: INVALID_STATE once the socket is closed for good
   * (the reason stays on `lastError`), else the error that ended the connection.
   */
  #cannotWait(what: string): LocalSocketError {
    return this.#use === 'closed' ? notConnected(what) : (this.#lastError ?? notConnected(what));
  }

  /**
   * The one shape of every `waitFor...()`: the options checked (a bad one is a
   * rejection: a promise-returning method never throws), then `subscribe` watched
   * until it settles, the deadline passes or the signal fires.
   */
  #wait<T>(what: string, options: WaitOptions | undefined, subscribe: (resolve: (value: T) => void, reject: (err: unknown) => void) => () => void): Promise<T> {
    let wait: ResolvedWait;
    try {
      wait = resolveWaitOptions(options);
    } catch (err) {
      return quiet(Promise.reject(err));
    }
    return waitWithDeadline<T>(what, wait.timeout, wait.signal, subscribe);
  }

  /**
   * Waits until the socket is connected (Qt's `waitForConnected()`).
   * @param options - `timeout` in ms (default 30000) and `signal`.
   * @returns resolves once connected (at once if it is).
   * @throws LocalSocketError (rejects) with the connect's error if it fails during the wait;
   *   `INVALID_STATE` if no connect is in progress (a connect that already failed included) or the socket was closed;
   *   `TIMEOUT`, `ABORTED`; `INVALID_ARGUMENT` for bad options.
   */
  waitForConnected(options?: WaitOptions): Promise<void> {
    return this.#wait<void>('waitForConnected', options, (resolve, reject) => {
      if (this.#state === 'connected') resolve();
      else if (this.#state !== 'connecting') reject(this.#cannotWait('waitForConnected'));
      const onState = (state: SocketState): void => {
        if (state === 'connected') resolve();
        else if (state === 'unconnected') reject(this.#cannotWait('waitForConnected'));
      };
      this.on('stateChanged', onState);
      return () => this.off('stateChanged', onState);
    });
  }

  /**
   * Waits for new data, as Qt's waitForReadyRead: resolves on the next
   * `readyRead` emitted after the call, whoever then reads the bytes. Bytes
   * already buffered do not count, so `while (s.bytesAvailable < n) await
   * s.waitForReadyRead()` waits for more each time round. It also resolves
   * when the peer's end-of-stream arrives during the wait while bytes are
   * unread: they can then be read as the last line (readLine).
   * @param options - `timeout` in ms (default 30000) and `signal`.
   * @returns resolves on the next readyRead (or end-of-stream with bytes unread).
   * @throws LocalSocketError (rejects) `TIMEOUT`, `ABORTED`; `PEER_CLOSED` (or the error that ended the
   *   connection) once nothing more can arrive; `INVALID_STATE` if the socket never
   *   connected or was closed locally; `INVALID_ARGUMENT` for bad options.
   */
  waitForReadyRead(options?: WaitOptions): Promise<void> {
    return this.#wait<void>('waitForReadyRead', options, (resolve, reject) => {
      const onReadyRead = (): void => resolve();
      let during = false;
      const check = (): void => {
        if (this.#moreMayArrive()) return;
        // The end came during the wait: what is still buffered has become readable as a last line.
        if (during && this.bytesAvailable > 0) resolve();
        else reject(this.#cannotRead('waitForReadyRead'));
      };
      check();
      during = true;
      this.on('readyRead', onReadyRead);
      this.on('stateChanged', check);
      this.on('readChannelFinished', check);
      return () => {
        this.off('readyRead', onReadyRead);
        this.off('stateChanged', check);
        this.off('readChannelFinished', check);
      };
    });
  }

  /** Whether a readyRead can still come: the read side is open, or bytes that came before the hand-out are yet to be announced. */
  #moreMayArrive(): boolean {
    if (this.#closedHere()) return false;
    if (this.#held() && this.#reader.length > 0) return true;
    return this.#use === 'inUse' && this.#state !== 'unconnected' && !this.#peerEnded;
  }

  /** Why no more data can come: the peer's end-of-stream, else as #cannotWait. */
  #cannotRead(what: string): LocalSocketError {
    if (this.#closedHere()) return notConnected(what);
    if (this.#state === 'unconnected') return this.#cannotWait(what);
    return new LocalSocketError('PEER_CLOSED', `${what}: the peer closed the connection`);
  }

  /**
   * Waits until every queued byte has reached the kernel (Qt's `waitForBytesWritten()`).
   * As in Qt, it is false when nothing is queued, so a ported
   * `while (await s.waitForBytesWritten()) {}` loop ends.
   * @param options - `timeout` in ms (default 30000) and `signal`.
   * @returns true once the bytes queued at the call have reached the kernel; false at once if nothing was queued.
   * @throws LocalSocketError (rejects) with the error that ended the connection, or
   *   `INVALID_STATE` if the socket is not connected or was closed locally;
   *   `TIMEOUT`, `ABORTED`; `INVALID_ARGUMENT` for bad options.
   */
  waitForBytesWritten(options?: WaitOptions): Promise<boolean> {
    const queued = this.#writer !== null && !this.#writer.idle;
    return this.#wait<boolean>('waitForBytesWritten', options, (resolve, reject) => {
      const check = (): void => {
        if (this.#writer === null || this.#writer.idle) {
          if (this.#state === 'connected' || this.#state === 'closing') resolve(queued);
          else reject(this.#cannotWait('waitForBytesWritten'));
        } else if (this.#state === 'unconnected') {
          reject(this.#cannotWait('waitForBytesWritten'));
        }
      };
      check();
      this.on('bytesWritten', check);
      this.on('stateChanged', check);
      return () => {
        this.off('bytesWritten', check);
        this.off('stateChanged', check);
      };
    });
  }

  /**
   * Waits until the socket is `'unconnected'` (Qt's `waitForDisconnected()`).
   * @param options - `timeout` in ms (default 30000) and `signal`.
   * @returns resolves once unconnected (at once if it is).
   * @throws LocalSocketError (rejects) `TIMEOUT`, `ABORTED`; `INVALID_ARGUMENT` for bad options.
   */
  waitForDisconnected(options?: WaitOptions): Promise<void> {
    return this.#wait<void>('waitForDisconnected', options, (resolve) => {
      if (this.#state === 'unconnected') resolve();
      const onState = (state: SocketState): void => {
        if (state === 'unconnected') resolve();
      };
      this.on('stateChanged', onState);
      return () => this.off('stateChanged', onState);
    });
  }

  // ---- streams ------------------------------------------------------------

  /**
   * `for await (const chunk of socket)`: the bytes as they arrive, until the
   * peer's end-of-stream or the close. It takes over reading.
   * @returns an async iterator of Buffers.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    return chunksOf(this, () => this.#noMoreBytes());
  }

  /**
   * A Node Duplex over this socket, for `stream.pipeline`. It takes over
   * reading; ending it half-closes the connection; destroying it aborts.
   * @returns a new Duplex; its errors are the LocalSocketErrors of `write()` and `end()`.
   */
  toStream(): Duplex {
    return duplexOf(this, () => this.#noMoreBytes());
  }

  /** For the stream adapters: with nothing buffered, no more bytes will come (the peer ended, or the socket is unconnected). */
  #noMoreBytes(): boolean {
    return this.#state === 'unconnected' || this.#peerEnded;
  }
}

/**
 * Connects a new {@link LocalSocket} and resolves once it is connected
 * (authenticated, unless raw): `new LocalSocket(options)` then
 * `connectToServer(name, options)`.
 * @param name - the server's name, resolved as {@link resolveName} does.
 * @param options - limits, deadline (`timeout`, default 10000 ms), `signal`,
 *   `waitForServer`, name resolution and authentication ({@link ConnectOptions}).
 * @returns the connected socket.
 * @throws LocalSocketError (rejects) as {@link LocalSocket.connectToServer}:
 *   `SERVER_NOT_FOUND`, `CONNECTION_REFUSED`, `RESOURCE_EXHAUSTED` (server busy until the deadline),
 *   `ACCESS_DENIED`, `AUTH_FAILED` (key mismatch), `PROTOCOL_ERROR` (not a localsocket server,
 *   e.g. a raw-mode server), `TIMEOUT`, `ABORTED`, `INVALID_NAME`, `INVALID_ARGUMENT`, `UNSUPPORTED`.
 */
export function connect(name: string, options: ConnectOptions = {}): Promise<LocalSocket> {
  try {
    return connectResolved(name, resolveConnectOptions(options));
  } catch (err) {
    return Promise.reject(err); // a promise-returning function never throws
  }
}

/** `connect()` for options already resolved, by an entry point that checked them with its own. */
export async function connectResolved(name: string, options: ResolvedConnect): Promise<LocalSocket> {
  const socket = presetLimits.with(options.limits, () => new LocalSocket());
  await internals.connectResolved(socket, name, options);
  return socket;
}

/**
 * A LocalSocket for a connection a LocalServer accepted (and authenticated):
 * already connected; its read events wait for {@link handOut}.
 */
export function adoptAccepted(transport: net.Socket, leftover: Buffer, endpoint: Endpoint | null, limits: ResolvedLimits, servedBy: ServedBy): LocalSocket {
  const socket = presetLimits.with(limits, () => new LocalSocket());
  internals.adopt(socket, transport, leftover, endpoint, servedBy);
  return socket;
}

/** LocalServer hands a pending connection to the application: what arrived meanwhile is announced on a later turn. */
export function handOut(socket: LocalSocket): void {
  internals.handOut(socket);
}

/** The server side of an accepted socket: told when the socket becomes unconnected (before `stateChanged` is emitted). */
export interface ServedBy {
  forget(socket: LocalSocket): void;
}

/** The object (a MessageSocket) that reads `socket`, or null. */
export function wrapperOf(socket: LocalSocket): object | null {
  return internals.wrapper(socket);
}

/** Records the one object (a MessageSocket) that reads `socket`. */
export function setWrapper(socket: LocalSocket, wrapper: object): void {
  internals.setWrapper(socket, wrapper);
}
