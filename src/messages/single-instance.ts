/**
 * Single-instance apps (what Qt's QtSingleApplication and Electron's
 * requestSingleInstanceLock do): the first process to claim a name becomes
 * the primary; a later one hands its argv and working directory to the
 * primary over the authenticated socket and learns that it is secondary.
 *
 * No race: the decision is the server's one-live-server-per-name guarantee.
 * Each process tries to listen; exactly one wins, the others get
 * ADDRESS_IN_USE and connect. If the primary dies in between (the connect
 * finds no server, or the connection drops before the answer), the loser
 * tries to listen again, within its deadline.
 */
import { EventEmitter } from 'node:events';
import { backoff, SINGLE_INSTANCE_BACKOFF } from '../backoff.js';
import { sleep } from '../deadline.js';
import { LocalSocketError, type ErrorCode } from '../errors.js';
import { checkOptionNames, CONNECT_MESSAGES_OPTIONS, pickOptions, SINGLE_INSTANCE_OPTIONS } from '../option-names.js';
import { checkObject, checkSignal, checkTimeout, invalidArgument } from '../validate.js';
import { MessageServer, type MessageServerOptions } from './message-server.js';
import { connectMessages } from './message-socket.js';
import { RpcError, RpcErrorCode } from './rpc.js';

/** The request a secondary instance sends: params `{ argv, cwd }`, result `true`. */
export const SECOND_INSTANCE_METHOD = '$/secondInstance';

/** What a secondary instance handed over. */
export interface SecondInstanceInfo {
  /** The secondary's arguments (its `process.argv` unless it passed `argv`). */
  argv: string[];
  /** The secondary's working directory (its `process.cwd()` unless it passed `cwd`). */
  cwd: string;
}

/** Options of {@link singleInstance}. */
export interface SingleInstanceOptions extends MessageServerOptions {
  /**
   * What a secondary hands over as its arguments.
   * @defaultValue process.argv
   */
  argv?: string[];
  /**
   * What a secondary hands over as its working directory.
   * @defaultValue process.cwd()
   */
  cwd?: string;
  /**
   * Deadline for the whole decision in ms: claiming the name, or handing over and hearing back.
   * @defaultValue 10000
   */
  timeout?: number;
  /** Aborts the decision (ABORTED). */
  signal?: AbortSignal;
}

/** Events of a {@link PrimaryInstance}. */
export interface PrimaryInstanceEvents {
  /**
   * Another instance started and handed over its arguments. Handovers that arrive
   * before the first listener is added are kept (up to 256) and delivered to it.
   */
  secondInstance: [info: SecondInstanceInfo];
}

/** The most handovers kept while no `secondInstance` listener is attached. */
const MAX_QUEUED = 256;
/** Bounds on what a secondary may hand over (the frame size bounds the bytes already). */
const MAX_ARGS = 65_536;

/**
 * The primary instance: it holds the name through a {@link MessageServer}
 * and emits `secondInstance` for each later start. Keep it open for the
 * app's lifetime; `close()` gives the name up.
 */
export class PrimaryInstance extends EventEmitter<PrimaryInstanceEvents> {
  /** Always true: this process is the primary. */
  readonly primary = true as const;
  /** The server holding the name. Other methods may be registered on it with `handle()`. */
  readonly server: MessageServer;
  #queued: SecondInstanceInfo[] = [];

  /** @internal Created by {@link singleInstance}. */
  constructor(server: MessageServer) {
    super();
    this.server = server;
    server.handle(SECOND_INSTANCE_METHOD, (params) => {
      const info = checkHandover(params);
      if (this.listenerCount('secondInstance') > 0) {
        this.emit('secondInstance', info);
      } else {
        if (this.#queued.length >= MAX_QUEUED) throw new RpcError(RpcErrorCode.APPLICATION_ERROR, 'primary busy');
        this.#queued.push(info);
      }
      return true;
    });
    // 'newListener' is Node's own event, outside the typed map.
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event !== 'secondInstance' || this.#queued.length === 0) return;
      // After the listener is added (newListener fires before).
      queueMicrotask(() => {
        const queued = this.#queued;
        this.#queued = [];
        for (const info of queued) this.emit('secondInstance', info);
      });
    });
  }

  /**
   * Gives the name up: stops listening and closes every connection.
   * @returns resolves once closed
   */
  close(): Promise<void> {
    return this.server.close();
  }
}

/** What {@link singleInstance} returns in a secondary instance: its arguments were handed to the primary. */
export interface SecondaryInstance {
  /** Always false: another process is the primary, and it has received this one's argv and cwd. */
  readonly primary: false;
}

function checkHandover(params: unknown): SecondInstanceInfo {
  const p = params as { argv?: unknown; cwd?: unknown } | null;
  const bad = (): never => {
    throw new RpcError(RpcErrorCode.INVALID_PARAMS, 'invalid params: expected { argv: string[], cwd: string }');
  };
  if (typeof p !== 'object' || p === null || !Array.isArray(p.argv) || typeof p.cwd !== 'string') bad();
  const argv = p!.argv as unknown[];
  if (argv.length > MAX_ARGS || !argv.every((a) => typeof a === 'string')) bad();
  return { argv: argv as string[], cwd: p!.cwd as string };
}

/** While the name is held but its holder may be going away: try again. */
const RETRY: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SERVER_NOT_FOUND', 'CONNECTION_REFUSED', 'PEER_CLOSED', 'CONNECTION_ERROR']);

/**
 * Makes this process the primary instance of `name`, or hands its argv and
 * cwd to the primary that already runs.
 *
 * @example
 * const instance = await singleInstance('myapp');
 * if (!instance.primary) process.exit(0); // the primary has our arguments
 * instance.on('secondInstance', ({ argv, cwd }) => openFiles(argv, cwd));
 *
 * @param name - the app's name (a short name, or a full path or pipe name)
 * @param options - {@link SingleInstanceOptions}: what to hand over, the deadline, and every server option
 *   (auth, key, access...); a secondary connects with the same name and auth options
 * @returns a {@link PrimaryInstance}, or `{ primary: false }` once the primary has received the arguments
 * @throws LocalSocketError TIMEOUT (no decision within `timeout`), ABORTED, REMOTE_ERROR (the primary refused
 *   the handover), AUTH_FAILED (a process with another key holds the name), INVALID_NAME, INVALID_ARGUMENT,
 *   ACCESS_DENIED
 */
export async function singleInstance(name: string, options: SingleInstanceOptions = {}): Promise<PrimaryInstance | SecondaryInstance> {
  const raw = checkObject(options, 'options');
  checkOptionNames(raw, SINGLE_INSTANCE_OPTIONS);
  const argv = raw.argv === undefined ? process.argv : raw.argv;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw invalidArgument('argv must be an array of strings');
  const cwd = raw.cwd === undefined ? process.cwd() : raw.cwd;
  if (typeof cwd !== 'string') throw invalidArgument('cwd must be a string');
  const timeout = checkTimeout(raw.timeout, 10_000);
  const signal = checkSignal(raw.signal);
  const { argv: _a, cwd: _c, timeout: _t, signal: _s, ...serverOptions } = options;
  const deadline = Date.now() + timeout;
  let lastError: unknown = null;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw new LocalSocketError('ABORTED', 'aborted', { cause: signal.reason });
    const server = new MessageServer(serverOptions);
    // Handlers are in place before the name is claimed: no secondary can come too early.
    const primary = new PrimaryInstance(server);
    try {
      await server.listen(name);
      return primary;
    } catch (err) {
      if (!(err instanceof LocalSocketError) || err.code !== 'ADDRESS_IN_USE') throw err;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new LocalSocketError('TIMEOUT', 'singleInstance: timed out', { cause: lastError });
    try {
      const peer = await connectMessages(name, { ...pickOptions(serverOptions, CONNECT_MESSAGES_OPTIONS), timeout: remaining, waitForServer: false, ...(signal ? { signal } : {}) });
      try {
        await peer.request(SECOND_INSTANCE_METHOD, { argv, cwd }, { timeout: Math.max(deadline - Date.now(), 1), ...(signal ? { signal } : {}) });
      } finally {
        await peer.close().catch(() => {});
      }
      return { primary: false };
    } catch (err) {
      if (!(err instanceof LocalSocketError) || !RETRY.has(err.code)) throw err;
      lastError = err;
    }
    // The primary went away between our listen and our connect: claim the name again, after a short pause.
    const pause = Math.min(deadline - Date.now(), backoff(SINGLE_INSTANCE_BACKOFF, attempt));
    if (pause <= 0) throw new LocalSocketError('TIMEOUT', 'singleInstance: timed out', { cause: lastError });
    await sleep(pause, signal);
  }
}
