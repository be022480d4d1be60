/**
 * LocalSocket: one connection, with explicit states
 *   unconnected -> connecting -> connected -> closing -> unconnected
 * and a single place (#release) where the OS handle is let go, exactly once.
 * Every operation checks the state first, so nothing touches a released handle.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Duplex } from 'node:stream';
import { establish, planConnect } from './connector.js';
import { followSignal, waitWithDeadline, type WaitOptions } from './deadline.js';
import { fromSystemError } from './error-map.js';
import { closePathError, LocalSocketError } from './errors.js';
import type { Endpoint } from './names.js';
import { resolveConnectOptions, DEFAULTS, type ConnectOptions, type ResolvedLimits, resolveLimits } from './options.js';
import { onLaterTurn } from './later.js';
import { nextLineLength } from './line.js';
import { ReadBuffer } from './read-buffer.js';
import { checkInteger, checkObject, checkSignal, checkTimeout, toByteView } from './validate.js';
import { quiet, Writer } from './writer.js';

export type SocketState = 'unconnected' | 'connecting' | 'connected' | 'closing';

const DEFAULT_MAX_LINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** Internal entry used by LocalServer to hand over an accepted, established connection. */
export const adopt = Symbol('adopt');
/** The LocalSocket that owns a transport, for the shared event handlers. */
const kOwner = Symbol('localsocket.owner');
type OwnedTransport = net.Socket & { [kOwner]?: LocalSocket | null };
/** Internal entry used by LocalServer when the application takes a pending connection. */
export const handOut = Symbol('handOut');

function notConnected(what: string): LocalSocketError {
  return new LocalSocketError('INVALID_STATE', `${what}: the socket is not connected`);
}

export interface LocalSocketEvents {
  stateChanged: [state: SocketState, previous: SocketState];
  connected: [];
  disconnected: [];
  readyRead: [];
  readChannelFinished: [];
  bytesWritten: [bytes: number];
  error: [error: LocalSocketError];
}

export class LocalSocket extends EventEmitter<LocalSocketEvents> {
  #state: SocketState = 'unconnected';
  #used = false;
  #net: net.Socket | null = null;
  #writer: Writer | null = null;
  #reader = new ReadBuffer();
  #limits: ResolvedLimits;
  #endpoint: Endpoint | null = null;
  #connectAbort: AbortController | null = null;
  #closing: Promise<void> | null = null;
  #pausedByBuffer = false;
  #peerEnded = false;
  #released = false;
  /** Set by a local close: what is unread is dropped (as Qt does) and reading ends. */
  #inputDropped = false;
  /** True until the socket is handed out: readyRead / readChannelFinished wait (see #announceLater). */
  #held = false;
  /** The hand-out is under way (the hold ends this turn): an end-of-stream waits too, so it is reported after the bytes before it. */
  #endHeld = false;
  #endDeferred = false;
  #lastError: LocalSocketError | null = null;

  constructor(options: ConnectOptions = {}) {
    super();
    this.#limits = resolveLimits(checkObject(options, 'options'));
  }

  get state(): SocketState {
    return this.#state;
  }

  get isConnected(): boolean {
    return this.#state === 'connected';
  }

  /** The name given to connect, and the endpoint it resolved to. */
  get serverName(): string | null {
    return this.#endpoint?.name ?? null;
  }

  get fullServerName(): string | null {
    return this.#endpoint?.address ?? null;
  }

  /** The last error this socket met, kept for inspection (Qt's error()). */
  get lastError(): LocalSocketError | null {
    return this.#lastError;
  }

  get bytesAvailable(): number {
    return this.#inputDropped ? 0 : this.#reader.length;
  }

  get bytesToWrite(): number {
    return this.#writer?.bytesToWrite ?? 0;
  }

  get maxReadBuffer(): number {
    return this.#limits.maxReadBuffer;
  }

  get maxWriteBuffer(): number {
    return this.#limits.maxWriteBuffer;
  }

  // ---- connecting -------------------------------------------------------

  /**
   * Connects to a server by name. Retries with backoff while the server is
   * busy (and, with `waitForServer`, while it is not up yet) until `timeout`.
   */
  async connectToServer(name: string, options: ConnectOptions = {}): Promise<void> {
    if (this.#used) throw new LocalSocketError('INVALID_STATE', 'connect: a LocalSocket connects once; create a new one');
    this.#used = true;
    // From here every failure, bad options and names included, takes the one path below (as Qt: connecting -> unconnected + error).
    const controller = new AbortController();
    this.#connectAbort = controller;
    let unfollow = (): void => {};
    this.#setState('connecting');
    try {
      const opts = resolveConnectOptions(options);
      unfollow = followSignal(controller, opts.signal);
      const plan = planConnect(name, opts.names, options as Record<string, unknown>, opts.timeout, opts.waitForServer, controller.signal);
      this.#endpoint = plan.endpoint;
      const transport = await establish(plan);
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
        this.#released = true;
        this.#emitError(error);
      }
      throw error;
    } finally {
      unfollow();
    }
  }

  /** @internal Takes over a connected transport: from connectToServer, or from LocalServer. */
  [adopt](transport: net.Socket, leftover: Buffer, endpoint: Endpoint | null): void {
    this.#used = true;
    this.#endpoint = endpoint;
    this.#setState('connecting');
    this.#attach(transport, leftover);
  }

  /** LocalServer hands a pending connection to the application: what arrived meanwhile is announced on a later turn. */
  [handOut](): void {
    this.#announceLater();
  }

  /**
   * Ends the hold on read events on a later turn of the event loop, so that the
   * caller who was just handed this socket has attached its listeners, then
   * announces what arrived meanwhile: readyRead for buffered bytes,
   * readChannelFinished for an end-of-stream.
   */
  #announceLater(): void {
    this.#endHeld = true;
    onLaterTurn(() => {
      if (!this.#held) return;
      this.#held = false;
      if (this.bytesAvailable > 0) this.emit('readyRead');
      if (!this.#peerEnded || this.#inputDropped || this.#released) return; // closed here meanwhile: nothing to report
      if (this.#endDeferred) this.#afterPeerEnd();
      else this.emit('readChannelFinished');
    });
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
    this.#held = true;
    if (leftover.length > 0) this.#onData(leftover);
    // 'data' may have been flowing before we attached (the handshake paused it); unless the bytes
    // that came with the handshake already filled the read buffer.
    if (!this.#pausedByBuffer) transport.resume();
  }

  // ---- transport events ---------------------------------------------------

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk);
    if (this.#reader.length >= this.#limits.maxReadBuffer && !this.#pausedByBuffer) {
      this.#pausedByBuffer = true;
      this.#net?.pause();
    }
    if (!this.#held) this.emit('readyRead');
  }

  #onEnd(): void {
    this.#peerEnded = true;
    // Being handed out: reported after the bytes before it, this turn (#announceLater). A pending connection
    // is not held back: one whose peer left closes and leaves the queue.
    if (this.#held && this.#endHeld) {
      this.#endDeferred = true;
      return;
    }
    this.#afterPeerEnd();
  }

  #afterPeerEnd(): void {
    if (!this.#held) this.emit('readChannelFinished');
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

  /** Reading is allowed while connected and after the peer closed (what it sent stays readable), not after we closed. */
  #checkReadable(what: string): void {
    if (this.#released || this.#inputDropped || !this.#used) throw notConnected(what);
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
    this.#inputDropped = true;
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

  /** Removes and returns up to `maxBytes` (default: all) of the bytes available. */
  read(maxBytes?: number): Buffer {
    this.#checkReadable('read');
    const max = maxBytes === undefined ? this.#reader.length : checkInteger(maxBytes, 'maxBytes', 0, Number.MAX_SAFE_INTEGER);
    const out = this.#reader.read(max);
    this.#afterRead();
    return out;
  }

  readAll(): Buffer {
    return this.read();
  }

  /** Returns up to `maxBytes` of the bytes available without removing them. */
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
   * Queues bytes. Only Uint8Array, Buffer or string (UTF-8); `offset` and
   * `length` must be integers within the data. The promise resolves when the
   * bytes have been handed to the kernel. When `bytesToWrite` would pass
   * `maxWriteBuffer` the write waits for room (backpressure). Bad arguments
   * throw INVALID_ARGUMENT at once; state and I/O errors reject.
   */
  write(data: Uint8Array | string, offset?: number, length?: number): Promise<void> {
    const view = toByteView(data, offset, length);
    if (this.#state !== 'connected' || this.#net === null) {
      return quiet(Promise.reject(notConnected('write')));
    }
    // Made on the first write: an idle connection holds no write queue.
    // The transport is the sink itself (write, cork/uncork): no adapter object per connection.
    this.#writer ??= new Writer(this.#net, this.#limits.maxWriteBuffer, (bytes) => this.emit('bytesWritten', bytes));
    return this.#writer.write(view);
  }

  /**
   * Flushes what is queued, sends end-of-stream, and keeps reading until the
   * peer closes too (half-close). Further writes fail with INVALID_STATE.
   */
  async end(): Promise<void> {
    if (this.#state !== 'connected' || this.#net === null) return;
    const transport = this.#net;
    this.#setState('closing');
    await this.#flushWithin(this.#limits.closeTimeout);
    if (this.#net === transport) transport.end();
  }

  // ---- closing ------------------------------------------------------------

  /** Flushes queued writes (up to closeTimeout), then closes. Idempotent, safe in every state. */
  disconnectFromServer(): Promise<void> {
    if (this.#state === 'connecting') {
      this.abort();
      return Promise.resolve();
    }
    if (this.#state === 'unconnected') {
      // Closed for good, even if it never connected: a LocalSocket connects once.
      this.#used = true;
      this.#released = true;
      this.#reader.clear();
      return Promise.resolve();
    }
    this.#dropInput();
    return this.#closeAfterFlush(null);
  }

  /** Closes now: queued writes are dropped and their promises reject with ABORTED. Idempotent. */
  abort(): void {
    // Closed for good, even if it never connected: a LocalSocket connects once.
    this.#used = true;
    this.#reader.clear();
    const err = closePathError('ABORTED', 'the socket was aborted');
    if (this.#state === 'connecting' && this.#connectAbort) {
      this.#connectAbort.abort(err);
      this.#connectAbort = null;
      this.#released = true;
      this.#setState('unconnected');
      return;
    }
    this.#release(err, true);
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
      if (local) this.#released = true;
      return;
    }
    this.#net = null;
    if (local) this.#released = true;
    transport.removeListener('data', LocalSocket.#transportData);
    transport.removeListener('end', LocalSocket.#transportEnd);
    transport.removeListener('close', LocalSocket.#transportClose);
    transport.removeListener('error', LocalSocket.#transportError);
    (transport as OwnedTransport)[kOwner] = null;
    transport.setTimeout(0);
    // Late errors from the dying handle must not become uncaught exceptions.
    transport.on('error', () => {});
    transport.destroy();
    if (this.#writer) this.#writer.fail(reason ?? closePathError('INVALID_STATE', 'write: the socket was closed'));
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
    this.emit('stateChanged', next, previous);
  }

  // ---- waiting ------------------------------------------------------------

  /**
   * Why a wait cannot succeed: INVALID_STATE once the socket is closed for good
   * (the reason stays on `lastError`), else the error that ended the connection.
   */
  #cannotWait(what: string): LocalSocketError {
    return this.#released ? notConnected(what) : (this.#lastError ?? notConnected(what));
  }

  #waitOptions(options: WaitOptions | undefined): { timeout: number; signal: AbortSignal | undefined } {
    const raw = checkObject(options, 'options');
    return { timeout: checkTimeout(raw.timeout, DEFAULTS.waitTimeout), signal: checkSignal(raw.signal) };
  }

  /** Resolves once connected; rejects with the connect error, TIMEOUT or ABORTED. */
  waitForConnected(options?: WaitOptions): Promise<void> {
    const { timeout, signal } = this.#waitOptions(options);
    return waitWithDeadline<void>('waitForConnected', timeout, signal, (resolve, reject) => {
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
   * @param options `timeout` in ms (default 30000) and `signal`
   * @returns resolves on the next readyRead (or end-of-stream with bytes unread)
   * @throws (rejects) TIMEOUT, ABORTED; PEER_CLOSED (or the error that ended the
   *   connection) once nothing more can arrive; INVALID_STATE if the socket never
   *   connected or was closed locally; INVALID_ARGUMENT for bad options
   */
  waitForReadyRead(options?: WaitOptions): Promise<void> {
    const { timeout, signal } = this.#waitOptions(options);
    return waitWithDeadline<void>('waitForReadyRead', timeout, signal, (resolve, reject) => {
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
    if (this.#inputDropped || this.#released) return false;
    if (this.#held && this.#reader.length > 0) return true;
    return this.#used && this.#state !== 'unconnected' && !this.#peerEnded;
  }

  /** Why no more data can come: the peer's end-of-stream, else as #cannotWait. */
  #cannotRead(what: string): LocalSocketError {
    if (this.#inputDropped) return notConnected(what);
    if (this.#state === 'unconnected') return this.#cannotWait(what);
    return new LocalSocketError('PEER_CLOSED', `${what}: the peer closed the connection`);
  }

  /** Resolves once every queued byte has reached the kernel (at once if none is queued). */
  waitForBytesWritten(options?: WaitOptions): Promise<void> {
    const { timeout, signal } = this.#waitOptions(options);
    return waitWithDeadline<void>('waitForBytesWritten', timeout, signal, (resolve, reject) => {
      const check = (): void => {
        if (this.#writer === null || this.#writer.idle) {
          if (this.#state === 'connected' || this.#state === 'closing') resolve();
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

  /** Resolves once the socket is unconnected. */
  waitForDisconnected(options?: WaitOptions): Promise<void> {
    const { timeout, signal } = this.#waitOptions(options);
    return waitWithDeadline<void>('waitForDisconnected', timeout, signal, (resolve) => {
      if (this.#state === 'unconnected') resolve();
      const onState = (state: SocketState): void => {
        if (state === 'unconnected') resolve();
      };
      this.on('stateChanged', onState);
      return () => this.off('stateChanged', onState);
    });
  }

  // ---- streams ------------------------------------------------------------

  /** Chunks as they arrive, until the connection ends. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      if (this.bytesAvailable > 0) {
        yield this.read();
        continue;
      }
      if (this.#state === 'unconnected' || this.#peerEnded) return;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.off('readyRead', wake);
          this.off('stateChanged', wake);
          this.off('readChannelFinished', wake);
          resolve();
        };
        this.on('readyRead', wake);
        this.on('stateChanged', wake);
        this.on('readChannelFinished', wake);
      });
    }
  }

  /**
   * A Node Duplex over this socket, for `stream.pipeline`. It takes over
   * reading; ending it half-closes the connection; destroying it aborts.
   */
  toStream(): Duplex {
    const socket = this;
    let waiting = false;
    const stream = new Duplex({
      read() {
        const pushAvailable = (): boolean => {
          if (socket.bytesAvailable > 0) {
            waiting = false;
            stream.push(socket.read());
            return true;
          }
          if (socket.state === 'unconnected' || socket.#peerEnded) {
            stream.push(null);
            return true;
          }
          return false;
        };
        const arm = (): void => {
          if (pushAvailable() || waiting) return;
          waiting = true;
          const wake = (): void => {
            socket.off('readyRead', wake);
            socket.off('stateChanged', wake);
            socket.off('readChannelFinished', wake);
            waiting = false;
            // A state change with nothing to push (e.g. connected -> closing on end()) keeps waiting.
            arm();
          };
          socket.on('readyRead', wake);
          socket.on('stateChanged', wake);
          socket.on('readChannelFinished', wake);
        };
        arm();
      },
      write(chunk: Buffer, _encoding, callback) {
        socket.write(chunk).then(() => callback(), callback);
      },
      final(callback) {
        socket.end().then(() => callback(), callback);
      },
      destroy(err, callback) {
        if (err) socket.abort();
        callback(err);
      },
    });
    return stream;
  }
}

/** Connects a new LocalSocket and resolves once it is connected (authenticated, unless raw). */
export async function connect(name: string, options: ConnectOptions = {}): Promise<LocalSocket> {
  const socket = new LocalSocket(options);
  await socket.connectToServer(name, options);
  return socket;
}
