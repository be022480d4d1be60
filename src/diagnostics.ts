/**
 * diagnostics_channel events: what APMs, loggers and tests subscribe to
 * without touching the application (as undici and `net` publish theirs).
 * Every channel is created here, once, at module level; every publish sits
 * behind `hasSubscribers`, so nobody subscribing costs one property read.
 * Names and payloads are documented in docs/DIAGNOSTICS.md; payloads never
 * carry key material, nonces or proofs.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { LocalSocketError } from './errors.js';

/** The channel names, as published (`localsocket:` then the subject). */
export const DiagnosticChannels = {
  /** A server is listening: `{ server, endpoint }`. */
  serverListening: 'localsocket:server:listening',
  /** A server stopped listening: `{ server }`. */
  serverClosed: 'localsocket:server:closed',
  /** A client starts connecting: `{ endpoint, authenticated }`. */
  connectStart: 'localsocket:client:connectStart',
  /** A client connected (handshake included): `{ endpoint, authenticated, durationMs, attempts }`. */
  connected: 'localsocket:client:connected',
  /** A client gave up: `{ endpoint, authenticated, durationMs, attempts, error }`. */
  connectFailed: 'localsocket:client:connectFailed',
  /** A server turned a peer away during the handshake: `{ server, code, message }` (never key material). */
  handshakeRefused: 'localsocket:server:handshakeRefused',
  /** A server told a peer it is busy (a limit was reached): `{ server, message }`. */
  busy: 'localsocket:server:busy',
  /** A server dropped a stalled handshake to make room: `{ server, stage, silentMs }`. */
  evicted: 'localsocket:server:evicted',
  /** A message connection opened (either end): `{ socket }`. */
  messageOpen: 'localsocket:messages:open',
  /** A message connection ended: `{ socket, reason }`, `reason` as its `close` event gives it. */
  messageClose: 'localsocket:messages:close',
  /** Outgoing requests, a tracing channel: `tracing:localsocket:request:start|end|asyncStart|asyncEnd|error`. */
  request: 'localsocket:request',
} as const;

export const serverListening = diagnosticsChannel.channel(DiagnosticChannels.serverListening);
export const serverClosed = diagnosticsChannel.channel(DiagnosticChannels.serverClosed);
export const connectStart = diagnosticsChannel.channel(DiagnosticChannels.connectStart);
export const connected = diagnosticsChannel.channel(DiagnosticChannels.connected);
export const connectFailed = diagnosticsChannel.channel(DiagnosticChannels.connectFailed);
export const handshakeRefused = diagnosticsChannel.channel(DiagnosticChannels.handshakeRefused);
export const busy = diagnosticsChannel.channel(DiagnosticChannels.busy);
export const evicted = diagnosticsChannel.channel(DiagnosticChannels.evicted);
export const messageOpen = diagnosticsChannel.channel(DiagnosticChannels.messageOpen);
export const messageClose = diagnosticsChannel.channel(DiagnosticChannels.messageClose);
/**
 * Requests. The sub-channels are used directly (Node 20.11 has `tracingChannel` but not yet its
 * aggregate `hasSubscribers`, added in 20.13): `start` when the request is sent, `end` right after
 * (the synchronous part), then `asyncStart` and `asyncEnd` when it settles, with `error` first if it
 * rejected. One context object travels through all of them.
 */
export const requestTracing = diagnosticsChannel.tracingChannel(DiagnosticChannels.request);
const requestStart = requestTracing.start;
const requestEnd = requestTracing.end;
const requestAsyncStart = requestTracing.asyncStart;
const requestAsyncEnd = requestTracing.asyncEnd;
const requestError = requestTracing.error;

/** True when someone listens to any request sub-channel. */
export function tracingRequests(): boolean {
  return requestStart.hasSubscribers || requestEnd.hasSubscribers || requestAsyncStart.hasSubscribers
    || requestAsyncEnd.hasSubscribers || requestError.hasSubscribers;
}

/** The context object of one traced request. */
export interface RequestTraceContext {
  /** The MessageSocket (or the object) that sent it. */
  socket: object;
  /** The method called. */
  method: string;
  /** The request id on the wire. */
  id: number;
  /** performance.now() when it was sent. */
  startedAt: number;
  /** Milliseconds from send to settle (set before asyncStart). */
  durationMs?: number;
  /** The result (on success). */
  result?: unknown;
  /** The error it rejected with. */
  error?: unknown;
}

/** Publishes start/end now and asyncStart/asyncEnd (and error) when `promise` settles. Call only if tracingRequests(). */
export function traceRequest(socket: object, method: string, id: number, promise: Promise<unknown>): void {
  const context: RequestTraceContext = { socket, method, id, startedAt: performance.now() };
  requestStart.publish(context);
  requestEnd.publish(context);
  promise.then(
    (result) => {
      context.durationMs = performance.now() - context.startedAt;
      context.result = result;
      requestAsyncStart.publish(context);
      requestAsyncEnd.publish(context);
    },
    (error: unknown) => {
      context.durationMs = performance.now() - context.startedAt;
      context.error = error;
      requestError.publish(context);
      requestAsyncStart.publish(context);
      requestAsyncEnd.publish(context);
    },
  );
}

/** True when someone listens to any connect channel. */
export function tracingConnects(): boolean {
  return connectStart.hasSubscribers || connected.hasSubscribers || connectFailed.hasSubscribers;
}

/**
 * Publishes the connect events around `attempt` (call only if tracingConnects()).
 * `attempts()` reads how many dials the connect made.
 */
export async function traceConnect<T>(endpoint: string, authenticated: boolean, attempts: () => number, attempt: Promise<T>): Promise<T> {
  const startedAt = performance.now();
  if (connectStart.hasSubscribers) connectStart.publish({ endpoint, authenticated });
  try {
    const value = await attempt;
    if (connected.hasSubscribers) connected.publish({ endpoint, authenticated, durationMs: performance.now() - startedAt, attempts: attempts() });
    return value;
  } catch (error) {
    if (connectFailed.hasSubscribers) connectFailed.publish({ endpoint, authenticated, durationMs: performance.now() - startedAt, attempts: attempts(), error });
    throw error;
  }
}

/** Publishes a server's refusal on `busy` (a limit: RESOURCE_EXHAUSTED) or `handshakeRefused` (anything else). */
export function publishRefusal(server: object, reason: LocalSocketError): void {
  if (reason.code === 'RESOURCE_EXHAUSTED') {
    if (busy.hasSubscribers) busy.publish({ server, message: reason.message });
  } else if (handshakeRefused.hasSubscribers) {
    handshakeRefused.publish({ server, code: reason.code, message: reason.message });
  }
}
