/**
 * LocalServer: listens on a name, takes connections through the (optional)
 * handshake, and queues them for the application. Every queue is bounded:
 * past `maxPendingConnections` / `maxConnections` a new peer is closed at once.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import net from 'node:net';
import { Admission, type AdmissionHost } from './admission.js';
import { BUSY_MESSAGE } from './auth/handshake.js';
import { loadAuth, type ResolvedAuth } from './auth/options.js';
import { bindAbstract, bindFd, bindPipe, bindUnixPath, type Binding } from './endpoint/bind.js';
import { waitWithDeadline, type WaitOptions } from './deadline.js';
import * as diagnostics from './diagnostics.js';
import { LocalSocketError } from './errors.js';
import { bindPipeRecord } from './endpoint/pipe-claim.js';
import { endpointOfFd } from './endpoint/fd-name.js';
import { resolveName, type Endpoint } from './endpoint/names.js';
import { resolveServerOptions, resolveWaitOptions, type ResolvedServer, type ResolvedWait, type ServerOptions } from './options.js';
import { currentPlatform } from './endpoint/platform.js';
import { Preset } from './preset.js';
import { adoptAccepted, handOut, type LocalSocket, type ServedBy } from './socket.js';
import { checkOptionNames, FD_NAME_OPTIONS } from './option-names.js';
import { checkInteger, checkObject } from './validate.js';

/**
 * The state of a {@link LocalServer}:
 *
 * - `'idle'`: made, `listen()` not called yet.
 * - `'listening'`: from the call to `listen()` (while it binds) until `close()`;
 *   `isListening` is true (Qt's `isListening()`).
 * - `'closed'`: `close()` was called, or `listen()` failed. For good: a
 *   LocalServer listens once; make a new one to listen again.
 */
export type ServerState = 'idle' | 'listening' | 'closed';

/**
 * The events of a {@link LocalServer}, each with its listener's arguments:
 * `server.on('newConnection', () => ...)`.
 */
export interface LocalServerEvents {
  /**
   * A connection was accepted (and authenticated, unless raw) and queued:
   * take it with `nextPendingConnection()` (Qt's `newConnection`). Fired once
   * per connection; a listener that takes one connection per event takes them all.
   */
  newConnection: [];
  /**
   * A peer was turned away, with why: `RESOURCE_EXHAUSTED` (connection limit
   * or pending queue full, no handshake slot), `AUTH_FAILED` (wrong key),
   * `PROTOCOL_ERROR` (not a localsocket handshake), `TIMEOUT` (handshake too
   * slow) or `PEER_CLOSED` (left during the handshake). No Qt counterpart.
   */
  refused: [reason: LocalSocketError];
  /**
   * The listening socket failed after `listen()` resolved (code `UNKNOWN`, the
   * OS error on `cause`; Qt's `serverError()`). Emitted only while at least one
   * listener is attached. Errors of `listen()` itself are its rejection, and
   * errors of a connection go to that {@link LocalSocket}.
   */
  error: [error: LocalSocketError];
  /** `close()` has finished: nothing listens any more and the socket file is gone. Fired once. */
  close: [];
}

/**
 * A server listening on a local name: a Unix domain socket (or an abstract
 * name on Linux), or a named pipe on Windows. The counterpart of Qt's
 * `QLocalServer` (see docs/QT-PORTING.md).
 *
 * Lifecycle ({@link ServerState}): `'idle'` when made; {@link LocalServer.listen}
 * makes it `'listening'` (it binds the name, claiming a stale socket file only
 * once it is proven stale); {@link LocalServer.close} makes it `'closed'`, for
 * good. While listening, each peer goes through the handshake (unless raw),
 * then waits in the pending queue, announced by `newConnection`, until the
 * application takes it with {@link LocalServer.nextPendingConnection},
 * {@link LocalServer.waitForNewConnection} or `for await (const socket of server)`.
 * Every queue is bounded: past `maxPendingConnections` or `maxConnections`,
 * and past `maxHandshakes`, a new peer is turned away and reported with
 * `refused`. The events are listed in {@link LocalServerEvents}; {@link listen}
 * makes a server and listens in one call.
 */
export class LocalServer extends EventEmitter<LocalServerEvents> {
  #state: ServerState = 'idle';
  readonly #options: ResolvedServer;
  #server: net.Server | null = null;
  #binding: Binding | null = null;
  #endpoint: Endpoint | null = null;
  #pending: LocalSocket[] = [];
  #admission: Admission | null = null;
  #open = new Set<LocalSocket>();
  #closeController = new AbortController();
  #auth: ResolvedAuth | null = null;
  /** Settles once a listen() in progress has finished or undone its bind; close() waits for it. */
  #bindDone: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;

  /**
   * Makes an idle server; start it with {@link LocalServer.listen}. The options are fixed from here on.
   * @param options - limits, access, name resolution and authentication ({@link ServerOptions}).
   * @throws LocalSocketError `INVALID_ARGUMENT` if `options` is not an object or an option is invalid.
   */
  constructor(options: ServerOptions = {}) {
    super();
    this.#options = presetOptions.value ?? resolveServerOptions(options);
    // One abort listener per handshake in progress; their number is bounded by maxHandshakes.
    setMaxListeners(this.#options.maxHandshakes + 10, this.#closeController.signal);
  }

  /** The current state; see {@link ServerState}. */
  get state(): ServerState {
    return this.#state;
  }

  /** Whether the state is `'listening'` (Qt's `isListening()`). */
  get isListening(): boolean {
    return this.#state === 'listening';
  }

  /**
   * The name given to `listen()` (Qt's `serverName()`); for `{ fd }`, the path
   * it is bound to where the platform can tell, else `fd:N`. Null before `listen()`.
   */
  get serverName(): string | null {
    return this.#endpoint?.name ?? null;
  }

  /** The endpoint as the OS sees it: socket path, `\0name`, or `\\.\pipe\name`. */
  get fullServerName(): string | null {
    return this.#endpoint?.address ?? null;
  }

  /**
   * Connections accepted but not yet taken at most, also the listen backlog
   * (Qt's `maxPendingConnections()`); set with the option of that name.
   * @defaultValue 30
   */
  get maxPendingConnections(): number {
    return this.#options.maxPendingConnections;
  }

  /** Connections currently open through this server: handshaking, pending and taken. */
  get connectionCount(): number {
    return (this.#admission?.size ?? 0) + this.#open.size;
  }

  /**
   * Listens on `name`, or on an inherited listening descriptor with `{ fd }`
   * (then `serverName` / `fullServerName` are the path it is bound to where
   * the platform can tell, on Linux through /proc/net/unix, else `fd:N`).
   * Rejects with ADDRESS_IN_USE if a live server holds the name; a stale
   * socket file is proven stale and reclaimed. A close() while this is still
   * binding wins: the bind is undone and this rejects with ABORTED.
   * The state is `'listening'` from the call on, and `'closed'` if it fails.
   * @param name - the name, resolved as {@link resolveName} does, or `{ fd }`
   *   for an inherited listening descriptor.
   * @returns resolves once the server accepts connections.
   * @throws LocalSocketError (rejects): `ADDRESS_IN_USE` a live server holds the name;
   *   `INVALID_NAME` the name cannot be used; `INVALID_ARGUMENT` a bad `fd`, a bad key or
   *   key file, or an abstract name without auth and without `access: 'world'`;
   *   `ACCESS_DENIED` the socket's directory, the private directory or the key file is
   *   not ours or not private; `UNSUPPORTED` e.g. an abstract name off Linux, or
   *   `access: 'group'` for a named pipe; `TIMEOUT` another process kept claiming the
   *   name; `ABORTED` `close()` was called while binding; `RESOURCE_EXHAUSTED` out of
   *   descriptors; `INVALID_STATE` this server already listened.
   */
  async listen(name: string | { fd: number }): Promise<void> {
    if (this.#state !== 'idle') throw new LocalSocketError('INVALID_STATE', 'listen: a LocalServer listens once; create a new one');
    const platform = currentPlatform();
    this.#auth = loadAuth(this.#options.auth, platform);
    if (this.#auth) this.#admission = new Admission(this.#auth.key, this.#auth.handshakeTimeout, this.#options.maxHandshakes, this.#admissionHost());
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    server.on('connection', this.#onConnection);
    server.on('error', (err) => this.#emitError(new LocalSocketError('UNKNOWN', 'server error', { cause: err })));
    server.maxConnections = Number.isFinite(this.#options.maxConnections) ? this.#options.maxConnections : 0x7fffffff;
    // net turns peers away itself at maxConnections, before 'connection': report those too.
    server.on('drop', () => this.#reportRefusal(new LocalSocketError('RESOURCE_EXHAUSTED', 'connection refused: connection limit reached')));
    this.#state = 'listening';
    let bindSettled!: () => void;
    this.#bindDone = new Promise<void>((resolve) => (bindSettled = resolve));
    const backlog = this.#options.maxPendingConnections;
    try {
      if (typeof name === 'object' && name !== null) {
        const fdName = checkObject(name, 'name');
        checkOptionNames(fdName, FD_NAME_OPTIONS);
        const fd = checkInteger(fdName.fd, 'fd', 0, 0x7fffffff);
        this.#endpoint = { kind: 'unix', name: `fd:${fd}`, address: `fd:${fd}`, longPath: false };
        this.#binding = await bindFd(server, fd);
        this.#endpoint = endpointOfFd(fd) ?? this.#endpoint;
      } else {
        const endpoint = resolveName(name, { ...this.#options.names, auth: this.#auth !== null }, platform);
        if (endpoint.kind === 'abstract' && !this.#auth && this.#options.access !== 'world') {
          // The abstract namespace has no file permissions: only the handshake can keep others out.
          throw new LocalSocketError('INVALID_ARGUMENT', "listen: an abstract name without auth is open to every local user; pass access: 'world' to accept that");
        }
        this.#endpoint = endpoint;
        if (endpoint.kind === 'pipe' && endpoint.record) {
          const bound = await bindPipeRecord(server, endpoint, this.#options.access, backlog, platform, () => this.#state === 'listening');
          this.#binding = bound;
          this.#endpoint = { kind: 'pipe', name: endpoint.name, address: bound.address, longPath: false };
        } else if (endpoint.kind === 'pipe') this.#binding = await bindPipe(server, endpoint, this.#options.access, backlog);
        else if (endpoint.kind === 'abstract') this.#binding = await bindAbstract(server, endpoint, backlog);
        else this.#binding = await bindUnixPath(server, endpoint, this.#options.access, backlog, platform, () => this.#state === 'listening');
      }
    } catch (err) {
      const closedMeanwhile = this.#state !== 'listening';
      this.#state = 'closed';
      server.close();
      bindSettled();
      throw closedMeanwhile ? closedWhileBinding() : err;
    }
    if (this.#state !== 'listening') {
      // close() ran while we were binding: undo it all, so nothing listens and nothing is left on disk.
      this.#binding?.removeOwnFile();
      this.#binding = null;
      await stopListening(server);
      bindSettled();
      throw closedWhileBinding();
    }
    this.#server = server;
    bindSettled();
    if (diagnostics.serverListening.hasSubscribers) diagnostics.serverListening.publish({ server: this, endpoint: this.fullServerName });
  }

  /**
   * Admission, in order: the server is listening; the connection limit; then,
   * with auth, a handshake slot (Admission makes room or answers BUSY) and a
   * place in the pending queue (reserved when the peer is answered); without
   * auth, the pending queue. Every refusal is reported through `refused`.
   */
  #onConnection = (transport: net.Socket): void => {
    transport.on('error', noop); // until a LocalSocket owns it
    if (this.#state !== 'listening') return refuse(transport);
    if (this.connectionCount >= this.#options.maxConnections) {
      this.#refuse(transport, 'connection limit reached');
      return;
    }
    if (this.#admission) {
      this.#admission.add(transport);
      return;
    }
    if (this.#pending.length >= this.#options.maxPendingConnections) {
      this.#refuse(transport, 'pending connection queue full');
      return;
    }
    this.#enqueue(transport, EMPTY);
  };

  /** What the handshakes report back to this server: a narrow interface, off the public type. */
  #admissionHost(): AdmissionHost {
    return {
      server: this,
      // Room in the pending queue for one more peer, beside `reserved` already answered.
      pendingRoom: (reserved) => this.#state === 'listening' && this.#pending.length + reserved < this.#options.maxPendingConnections,
      admitted: (transport, leftover) => {
        if (this.#state !== 'listening') return refuse(transport);
        this.#enqueue(transport, leftover);
      },
      refused: (reason) => this.#reportRefusal(reason),
    };
  }

  /** A peer was turned away: the `refused` event and the diagnostics channel. */
  #reportRefusal(reason: LocalSocketError): void {
    this.emit('refused', reason);
    diagnostics.publishRefusal(this, reason);
  }

  #refuse(transport: net.Socket, why: string): void {
    // With auth, say BUSY so the client retries within its deadline; a raw peer just sees the close.
    if (this.#admission) {
      transport.end(BUSY_MESSAGE);
      transport.destroySoon();
    } else refuse(transport);
    this.#reportRefusal(new LocalSocketError('RESOURCE_EXHAUSTED', `connection refused: ${why}`));
  }

  #enqueue(transport: net.Socket, leftover: Buffer): void {
    transport.off('error', noop);
    const socket = adoptAccepted(transport, leftover, this.#endpoint, this.#options.limits, this.#servedBy);
    this.#open.add(socket);
    if (socket.state !== 'connected') return; // the peer already left
    this.#pending.push(socket);
    this.emit('newConnection');
  }

  /** Told by each of our connections as it becomes unconnected (one object per server, no listener per connection). */
  #servedBy: ServedBy = { forget: (socket) => this.#forget(socket) };

  #forget(socket: LocalSocket): void {
    this.#open.delete(socket);
    const at = this.#pending.indexOf(socket);
    if (at !== -1) this.#pending.splice(at, 1);
  }

  /**
   * Whether a connection waits to be taken (Qt's `hasPendingConnections()`).
   * @returns true if `nextPendingConnection()` would return a socket.
   */
  hasPendingConnections(): boolean {
    return this.#pending.length > 0;
  }

  /**
   * The next connection waiting to be taken, or null. Bytes (and an
   * end-of-stream) that arrived while it waited are announced with
   * `readyRead` (`readChannelFinished`) on a later turn of the event loop,
   * so listeners attached right after taking it hear of them.
   * @returns the socket, or null if none is pending
   */
  nextPendingConnection(): LocalSocket | null {
    const socket = this.#pending.shift() ?? null;
    if (socket) handOut(socket);
    return socket;
  }

  /**
   * Waits for the next connection and takes it (Qt's `waitForNewConnection()`,
   * whose `timedOut` is a `TIMEOUT` rejection here).
   * @param options - `timeout` in ms (default 30000) and `signal`.
   * @returns the socket, taken as by `nextPendingConnection()` (at once if one is pending).
   * @throws LocalSocketError (rejects) `TIMEOUT`, `ABORTED`; `INVALID_STATE` if the server
   *   is not listening or closes during the wait; `INVALID_ARGUMENT` for bad options.
   */
  waitForNewConnection(options?: WaitOptions): Promise<LocalSocket> {
    let wait: ResolvedWait;
    try {
      wait = resolveWaitOptions(options);
    } catch (err) {
      return Promise.reject(err); // a promise-returning method never throws
    }
    return waitWithDeadline<LocalSocket>('waitForNewConnection', wait.timeout, wait.signal, (resolve, reject) => {
      const check = (): void => {
        const next = this.nextPendingConnection();
        if (next) resolve(next);
        else if (this.#state !== 'listening') reject(new LocalSocketError('INVALID_STATE', 'waitForNewConnection: the server is not listening'));
      };
      check();
      this.on('newConnection', check);
      this.on('close', check);
      return () => {
        this.off('newConnection', check);
        this.off('close', check);
      };
    });
  }

  /**
   * `for await (const socket of server)`: takes the connections as they
   * arrive, until the server closes.
   * @returns an async iterator of connected sockets.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<LocalSocket, void, undefined> {
    for (;;) {
      const next = this.nextPendingConnection();
      if (next) {
        yield next;
        continue;
      }
      if (this.#state !== 'listening') return;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.off('newConnection', wake);
          this.off('close', wake);
          resolve();
        };
        this.on('newConnection', wake);
        this.on('close', wake);
      });
    }
  }

  /**
   * Stops listening and removes the socket file this server created (only
   * that file). Connections not yet taken are aborted; taken ones stay open,
   * as with QLocalServer. Idempotent, and safe at any moment: a listen() still
   * binding is undone (it rejects with ABORTED) before this resolves.
   * @returns resolves once nothing listens and the socket file is gone
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeController.abort();
    this.#binding?.removeOwnFile();
    this.#binding = null;
    this.#admission?.clear();
    for (const socket of this.#pending.splice(0)) socket.abort();
    const server = this.#server;
    this.#server = null;
    if (server) await stopListening(server);
    await this.#bindDone;
    if (diagnostics.serverClosed.hasSubscribers) diagnostics.serverClosed.publish({ server: this });
    this.emit('close');
  }

  #emitError(err: LocalSocketError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function noop(): void {}

/** Stops accepting. net's close callback waits for every connection; only wait for the listener to stop. */
function stopListening(server: net.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close();
    setImmediate(resolve);
  });
}

function closedWhileBinding(): LocalSocketError {
  return new LocalSocketError('ABORTED', 'listen: the server was closed while binding');
}

/** Options already resolved, for a server made by the library itself (see Preset). */
const presetOptions = new Preset<ResolvedServer>();

/** A LocalServer for options an outer entry point (`new MessageServer()`) has resolved with its own. */
export function serverWithOptions(options: ResolvedServer): LocalServer {
  return presetOptions.with(options, () => new LocalServer());
}

const EMPTY = Buffer.alloc(0);

function refuse(transport: net.Socket): void {
  transport.on('error', noop);
  transport.destroy();
}

/**
 * Creates a {@link LocalServer} and listens on `name`: `new LocalServer(options)`
 * then `listen(name)`.
 * @param name - the name, resolved as {@link resolveName} does, or `{ fd }` for an
 *   inherited listening descriptor.
 * @param options - limits, access, name resolution and authentication ({@link ServerOptions}).
 * @returns the listening server.
 * @throws LocalSocketError (rejects) as {@link LocalServer.listen}: `ADDRESS_IN_USE`,
 *   `INVALID_NAME`, `INVALID_ARGUMENT` (also for bad options), `ACCESS_DENIED`, `UNSUPPORTED`,
 *   `TIMEOUT`, `ABORTED`, `RESOURCE_EXHAUSTED`.
 */
export async function listen(name: string | { fd: number }, options: ServerOptions = {}): Promise<LocalServer> {
  const server = new LocalServer(options);
  await server.listen(name);
  return server;
}
