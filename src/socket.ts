/**
 * LocalSocket: one connection, with explicit states
 *   unconnected -> connecting -> connected -> closing -> unconnected
 * and a single place (#release) where the OS handle is let go, exactly once.
 * Every operation checks the state first, so nothing touches a released handle.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Duplex } from 'node:stream';
import { clientHandshake } from './auth/handshake.js';
import { resolveAuth } from './auth/options.js';
import { abortedError, followSignal, sleep, waitWithDeadline, type WaitOptions } from './deadline.js';
import { dialOnce } from './dial.js';
import { fromSystemError } from './error-map.js';
import { LocalSocketError } from './errors.js';
import { resolveName, type Endpoint } from './names.js';
import { resolveConnectOptions, DEFAULTS, type ConnectOptions, type ResolvedLimits, resolveLimits } from './options.js';
import { checkPrivateDir } from './private-dir.js';
import { currentPlatform } from './platform.js';
import { ReadBuffer } from './read-buffer.js';
import { checkInteger, checkObject, checkSignal, checkTimeout, toByteView } from './validate.js';
import { quiet, Writer } from './writer.js';

export type SocketState = 'unconnected' | 'connecting' | 'connected' | 'closing';

const NEWLINE = 0x0a;
const DEFAULT_MAX_LINE = 64 * 1024;

/** Internal entry used by LocalServer to hand over an accepted, established connection. */
export const adopt = Symbol('adopt');

function notConnected(what: string): LocalSocketError {
  return new LocalSocketError('INVALID_STATE', `${what}: the socket is not connected`);
}

function retryable(err: unknown, waitForServer: boolean): boolean {
  if (!(err instanceof LocalSocketError)) return false;
  const cause = (err.cause as { code?: string } | undefined)?.code;
  // The server exists but is busy: its backlog is full (EAGAIN) or, on Windows, every pipe instance is taken.
  if (cause === 'EAGAIN' || cause === 'EBUSY' || cause === 'EWOULDBLOCK' || cause === 'ERROR_PIPE_BUSY') return true;
  // Windows: libuv waits for a busy pipe itself (WaitNamedPipe, 30 s), then fails with ETIMEDOUT; our deadline may be later.
  if (cause === 'ETIMEDOUT' && (err.cause as { syscall?: string }).syscall === 'connect') return true;
  return waitForServer && (err.code === 'SERVER_NOT_FOUND' || err.code === 'CONNECTION_REFUSED');
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
    return this.#reader.length;
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
    const opts = resolveConnectOptions(options);
    if (this.#used) throw new LocalSocketError('INVALID_STATE', 'connect: a LocalSocket connects once; create a new one');
    this.#used = true;
    // Machine facts are only needed here: not computed for (nor kept by) accepted sockets.
    const platform = currentPlatform();
    this.#endpoint = resolveName(name, opts.names, platform);
    const auth = resolveAuth(options as Record<string, unknown>, platform);
    const controller = new AbortController();
    this.#connectAbort = controller;
    const unfollow = followSignal(controller, opts.signal);
    const signal = controller.signal;
    this.#setState('connecting');
    const deadline = Date.now() + opts.timeout;
    try {
      const transport = await this.#dialWithRetry(this.#endpoint, deadline, opts.waitForServer, signal, platform.uid);
      let leftover: Buffer = Buffer.alloc(0);
      try {
        if (auth) {
          const budget = Math.min(deadline - Date.now(), auth.handshakeTimeout);
          leftover = await clientHandshake(transport, auth.key, budget, signal);
        }
        if (signal.aborted) throw abortedError(signal);
      } catch (err) {
        transport.destroy();
        throw err;
      }
      this.#attach(transport, leftover);
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

  async #dialWithRetry(endpoint: Endpoint, deadline: number, waitForServer: boolean, signal: AbortSignal, uid: number | undefined): Promise<net.Socket> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (endpoint.privateDir) checkPrivateDir(endpoint.privateDir, uid);
        return await dialOnce(endpoint, deadline - Date.now(), signal);
      } catch (err) {
        const remaining = deadline - Date.now();
        if (!retryable(err, waitForServer) || remaining <= 0) {
          if (retryable(err, waitForServer)) throw new LocalSocketError('TIMEOUT', 'connect: timed out', { cause: err });
          throw err;
        }
        // Exponential backoff with jitter, capped so a server that appears is found quickly.
        const delay = Math.min(remaining, Math.min(250, 5 * 2 ** attempt) * (0.5 + Math.random() / 2));
        await sleep(delay, signal);
      }
    }
  }

  /** @internal Takes over a connected transport: from connectToServer, or from LocalServer. */
  [adopt](transport: net.Socket, leftover: Buffer, endpoint: Endpoint | null): void {
    this.#used = true;
    this.#endpoint = endpoint;
    this.#setState('connecting');
    this.#attach(transport, leftover);
  }

  #attach(transport: net.Socket, leftover: Buffer): void {
    this.#net = transport;
    this.#connectAbort = null;
    // The transport is the sink itself (write, cork/uncork): no adapter object per connection.
    this.#writer = new Writer(
      transport,
      this.#limits.maxWriteBuffer,
      (bytes) => this.emit('bytesWritten', bytes),
    );
    transport.on('data', this.#onData);
    transport.on('end', this.#onEnd);
    transport.on('error', this.#onTransportError);
    transport.on('close', this.#onClose);
    if (this.#limits.idleTimeout > 0) {
      transport.setTimeout(this.#limits.idleTimeout, this.#onIdle);
    }
    this.#setState('connected');
    this.emit('connected');
    if (leftover.length > 0) this.#onData(leftover);
    // 'data' may have been flowing before we attached (the handshake paused it).
    transport.resume();
  }

  // ---- transport events ---------------------------------------------------

  #onData = (chunk: Buffer): void => {
    this.#reader.push(chunk);
    if (this.#reader.length >= this.#limits.maxReadBuffer && !this.#pausedByBuffer) {
      this.#pausedByBuffer = true;
      this.#net?.pause();
    }
    this.emit('readyRead');
  };

  #onEnd = (): void => {
    this.#peerEnded = true;
    this.emit('readChannelFinished');
    // Half-open: the application still writes, and closes when it is done.
    if (this.#limits.allowHalfOpen && this.#state === 'connected') return;
    // The peer will send nothing more: flush what we queued, then close (Qt semantics).
    void this.#closeAfterFlush(new LocalSocketError('PEER_CLOSED', 'the peer closed the connection'));
  };

  #onTransportError = (err: Error): void => {
    this.#release(fromSystemError(err, 'write'));
  };

  #onClose = (): void => {
    this.#release(new LocalSocketError('PEER_CLOSED', 'the peer closed the connection'));
  };

  #onIdle = (): void => {
    this.#release(new LocalSocketError('TIMEOUT', 'idle timeout: no data within the deadline'));
  };

  // ---- reading ------------------------------------------------------------

  /** Reading is allowed while connected and after the peer closed (what it sent stays readable), not after we closed. */
  #checkReadable(what: string): void {
    if (this.#released || !this.#used) throw notConnected(what);
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

  canReadLine(maxLength = DEFAULT_MAX_LINE): boolean {
    return this.#reader.indexOf(NEWLINE, maxLength) !== -1;
  }

  /**
   * Removes and returns one line, '\n' included, or null if no whole line is
   * buffered yet. A line longer than `maxLength` bytes is refused with
   * MESSAGE_TOO_LARGE and left in the buffer (read it with `read()` or abort).
   */
  readLine(maxLength: number = DEFAULT_MAX_LINE): Buffer | null {
    this.#checkReadable('readLine');
    checkInteger(maxLength, 'maxLength', 1, Number.MAX_SAFE_INTEGER);
    const at = this.#reader.indexOf(NEWLINE, maxLength);
    if (at === -1) {
      if (this.#reader.length >= maxLength) {
        throw new LocalSocketError('MESSAGE_TOO_LARGE', `readLine: no line end within ${maxLength} bytes`);
      }
      return null;
    }
    const line = this.#reader.read(at + 1);
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
    if (this.#state !== 'connected' || this.#writer === null) {
      return quiet(Promise.reject(notConnected('write')));
    }
    return this.#writer.write(view);
  }

  /**
   * Flushes what is queued, sends end-of-stream, and keeps reading until the
   * peer closes too (half-close). Further writes fail with INVALID_STATE.
   */
  async end(): Promise<void> {
    if (this.#state !== 'connected' || this.#writer === null) return;
    const transport = this.#net!;
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
      return Promise.resolve();
    }
    return this.#closeAfterFlush(null);
  }

  /** Closes now: queued writes are dropped and their promises reject with ABORTED. Idempotent. */
  abort(): void {
    // Closed for good, even if it never connected: a LocalSocket connects once.
    this.#used = true;
    this.#reader.clear();
    const err = new LocalSocketError('ABORTED', 'the socket was aborted');
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
    transport.removeListener('data', this.#onData);
    transport.removeListener('end', this.#onEnd);
    transport.removeListener('close', this.#onClose);
    transport.removeListener('error', this.#onTransportError);
    transport.setTimeout(0);
    // Late errors from the dying handle must not become uncaught exceptions.
    transport.on('error', () => {});
    transport.destroy();
    this.#writer?.fail(reason ?? new LocalSocketError('INVALID_STATE', 'write: the socket was closed'));
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

  /** Resolves once bytes are available to read (at once if some already are). */
  waitForReadyRead(options?: WaitOptions): Promise<void> {
    const { timeout, signal } = this.#waitOptions(options);
    return waitWithDeadline<void>('waitForReadyRead', timeout, signal, (resolve, reject) => {
      const check = (): void => {
        if (this.#reader.length > 0) resolve();
        else if (this.#state === 'unconnected') reject(this.#cannotWait('waitForReadyRead'));
      };
      check();
      this.on('readyRead', check);
      this.on('stateChanged', check);
      return () => {
        this.off('readyRead', check);
        this.off('stateChanged', check);
      };
    });
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
      if (this.#reader.length > 0) {
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
