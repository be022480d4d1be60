/**
 * Server-side handshakes and the room they take, for LocalServer's admission
 * pipeline (limits, then handshake slots, then the pending queue).
 *
 * Two goals pull in opposite directions:
 * - a burst of honest clients never loses one: when there is no room, a
 *   client is told BUSY and retries within its own deadline (or waits in the
 *   kernel's backlog), never refused as if its key were wrong;
 * - stalling or garbage peers cannot crowd honest ones out: garbage is dropped
 *   at its first bytes, and when every handshake slot is taken, the peer that
 *   has made no progress for the longest goes first, provided it has been
 *   silent for longer than honest handshakes take at the moment. An honest
 *   client sends its hello as it connects and answers within one round trip,
 *   so it is nearly never the one that waited longest.
 *
 * "How long honest handshakes take" is learnt from completed handshakes (only
 * a key holder completes one, so a flood cannot teach it). That alone
 * livelocks when every client is slow (a loaded machine, Wine): peers are
 * evicted before their hello arrives, each evicted client comes back as a
 * newcomer that evicts another, nothing completes, and nothing is learnt
 * (measured: 4,000 to 7,000 evictions for under 100 connections in 150 s,
 * one client process starved whole). So the server also grows its patience
 * with every eviction and halves it with every completed handshake: evictions
 * that buy no progress make the next one wait longer (up to half the
 * handshake timeout), and honest completions bring it back down. Stalling
 * peers still go (a flood makes the server at most that patient, and any
 * honest client that gets in brings the patience down again).
 *
 * Per peer: one small record reached through a symbol on the transport, and
 * module-level event handlers (no closures per connection).
 */
import type net from 'node:net';
import {
  BUSY_MESSAGE,
  CLIENT_HELLO_SIZE,
  CLIENT_PROOF_SIZE,
  freshNonce,
  parseClientHello,
  serverProof,
  verifyClientProof,
} from './auth/handshake.js';
import * as diagnostics from './diagnostics.js';
import { LocalSocketError } from './errors.js';

const kCandidate = Symbol('localsocket.candidate');

/** The shortest silence that makes a peer evictable before its hello, whatever honest handshakes take. */
const MIN_STALL_MS = 20;
/**
 * After we answered, an honest client may already have sent its proof and
 * resolved its connect: such a peer is evicted only after a much longer silence.
 */
const MIN_STALL_ANSWERED_MS = 250;
/** A peer is stalling once silent for this many times the recent honest handshake time. */
const STALL_FACTOR = 8;
/** Patience grows by this factor with every eviction, and halves with every completed handshake. */
const PATIENCE_GROWTH = 1.5;

type Stage = 'hello' | 'proof';

interface Candidate {
  admission: Admission;
  transport: net.Socket;
  stage: Stage;
  received: Buffer | null;
  clientNonce: Buffer | null;
  serverNonce: Buffer | null;
  acceptedAt: number;
  lastProgress: number;
  timer: NodeJS.Timeout;
}

type WithCandidate = net.Socket & { [kCandidate]?: Candidate };

/** What the server does with the outcome of a handshake. */
export interface AdmissionHost {
  /** The server the handshakes are for, as named in diagnostics payloads. */
  readonly server: object;
  /** Room in the pending queue for one more (counting peers already answered). */
  pendingRoom(reserved: number): boolean;
  /** A peer proved the key: hand it on with the bytes that followed its proof. */
  admitted(transport: net.Socket, leftover: Buffer): void;
  /** A peer was turned away, and why. */
  refused(reason: LocalSocketError): void;
}

export class Admission {
  readonly #key: Buffer;
  readonly #timeout: number;
  readonly #maxHandshakes: number;
  readonly #host: AdmissionHost;
  /** In order of last progress: the first one is the longest silent. */
  readonly #candidates = new Set<Candidate>();
  /** Peers answered with our proof: each holds a place in the pending queue. */
  #answered = 0;
  /** Recent honest handshake time (moving average, ms). */
  #typicalMs = 1;
  /** The least silence that makes a peer evictable, learnt from evictions and completions (see the file comment). */
  #patienceMs = MIN_STALL_MS;
  /** Newcomers that found every slot taken, waiting for the end of this loop turn (see add). */
  #waiting: net.Socket[] = [];

  constructor(key: Buffer, timeoutMs: number, maxHandshakes: number, host: AdmissionHost) {
    this.#key = key;
    this.#timeout = timeoutMs;
    this.#maxHandshakes = maxHandshakes;
    this.#host = host;
  }

  get size(): number {
    return this.#candidates.size;
  }

  /**
   * Starts the handshake for a new peer, making room or telling it BUSY.
   *
   * When every slot is taken, the decision waits for the end of this turn of
   * the event loop (setImmediate runs after the turn's reads): silence is
   * judged only after we have read what peers sent while our loop was busy or
   * blocked. Otherwise, after a blocked stretch (a slow handler, a GC pause, a
   * stopped process), the accept that comes first in the turn would find
   * every peer "silent" and drop honest ones whose bytes wait unread, some of
   * which already saw their connect() resolve.
   */
  add(transport: net.Socket): void {
    if (this.#candidates.size < this.#maxHandshakes) {
      this.#start(transport, Date.now());
      return;
    }
    // At most maxHandshakes newcomers wait for the judgement (paused, nothing read); past that, busy at once.
    if (this.#waiting.length >= this.#maxHandshakes) {
      this.#busy(transport, 'too many handshakes in progress');
      return;
    }
    transport.on('error', noop);
    this.#waiting.push(transport);
    if (this.#waiting.length === 1) setImmediate(onJudge, this);
  }

  /** @internal Makes room for the newcomers that waited for the end of the turn, or tells them BUSY. */
  judge(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const transport of waiting) {
      transport.off('error', noop);
      if (transport.destroyed) continue;
      const now = Date.now();
      if (this.#candidates.size >= this.#maxHandshakes && !this.#evictStalled(now)) {
        this.#busy(transport, 'too many handshakes in progress');
        continue;
      }
      this.#start(transport, now);
    }
  }

  #start(transport: net.Socket, now: number): void {
    const candidate: Candidate = {
      admission: this,
      transport,
      stage: 'hello',
      received: null,
      clientNonce: null,
      serverNonce: null,
      acceptedAt: now,
      lastProgress: now,
      timer: undefined as unknown as NodeJS.Timeout,
    };
    candidate.timer = setTimeout(onCandidateTimeout, this.#timeout, candidate);
    (transport as WithCandidate)[kCandidate] = candidate;
    this.#candidates.add(candidate);
    transport.on('data', onCandidateData);
    transport.on('end', onCandidateClose);
    transport.on('close', onCandidateClose);
    transport.resume();
  }

  /** Drops every peer still in the handshake (the server is closing). */
  clear(): void {
    for (const candidate of [...this.#candidates]) this.#drop(candidate, null);
    for (const transport of this.#waiting.splice(0)) transport.destroy();
  }

  /** Drops the longest-silent peer if it has stalled (see the file comment); false if none has. */
  #evictStalled(now: number): boolean {
    const typical = Math.max(this.#typicalMs * STALL_FACTOR, this.#patienceMs);
    for (const candidate of this.#candidates) {
      const silentFor = now - candidate.lastProgress;
      // Ordered by last progress: once one is too recent, all that follow are.
      if (silentFor < typical) return false;
      if (candidate.stage === 'proof' && silentFor < Math.max(MIN_STALL_ANSWERED_MS, typical)) continue;
      this.#patienceMs = Math.min(this.#patienceMs * PATIENCE_GROWTH, this.#timeout / 2);
      this.#remove(candidate);
      if (diagnostics.evicted.hasSubscribers) diagnostics.evicted.publish({ server: this.#host.server, stage: candidate.stage, silentMs: silentFor });
      this.#busy(candidate.transport, 'a peer made no progress: dropped to make room');
      return true;
    }
    return false;
  }

  #busy(transport: net.Socket, why: string): void {
    // BUSY: the client retries within its deadline. Never reported to it as an authentication failure.
    transport.on('error', noop);
    transport.end(BUSY_MESSAGE);
    transport.destroySoon();
    this.#host.refused(new LocalSocketError('RESOURCE_EXHAUSTED', `connection refused: ${why}`));
  }

  #progress(candidate: Candidate, now: number): void {
    candidate.lastProgress = now;
    // Re-inserting keeps the set ordered by last progress.
    this.#candidates.delete(candidate);
    this.#candidates.add(candidate);
  }

  #remove(candidate: Candidate): void {
    if (!this.#candidates.delete(candidate)) return;
    clearTimeout(candidate.timer);
    if (candidate.stage === 'proof') this.#answered--;
    const transport = candidate.transport as WithCandidate;
    transport.off('data', onCandidateData);
    transport.off('end', onCandidateClose);
    transport.off('close', onCandidateClose);
    delete transport[kCandidate];
  }

  #drop(candidate: Candidate, reason: LocalSocketError | null): void {
    if (!this.#candidates.has(candidate)) return;
    this.#remove(candidate);
    candidate.transport.on('error', noop);
    candidate.transport.destroy();
    if (reason) this.#host.refused(reason);
  }

  /** @internal */
  onData(candidate: Candidate, chunk: Buffer): void {
    const need = candidate.stage === 'hello' ? CLIENT_HELLO_SIZE : CLIENT_PROOF_SIZE;
    const received = candidate.received === null ? chunk : Buffer.concat([candidate.received, chunk]);
    if (received.length < need) {
      candidate.received = received;
      return;
    }
    candidate.received = null;
    const message = received.subarray(0, need);
    const rest = received.subarray(need);
    const now = Date.now();
    if (candidate.stage === 'hello') {
      const clientNonce = parseClientHello(message);
      if (clientNonce === null || rest.length > 0) {
        // Nothing may follow a hello before our answer: a client that does is not speaking this protocol.
        this.#drop(candidate, new LocalSocketError('PROTOCOL_ERROR', 'connection refused: not a localsocket handshake'));
        return;
      }
      if (!this.#host.pendingRoom(this.#answered)) {
        this.#remove(candidate);
        this.#busy(candidate.transport, 'pending connection queue full');
        return;
      }
      candidate.clientNonce = clientNonce;
      candidate.serverNonce = freshNonce();
      candidate.stage = 'proof';
      this.#answered++;
      this.#progress(candidate, now);
      candidate.transport.write(serverProof(this.#key, clientNonce, candidate.serverNonce));
      return;
    }
    if (!verifyClientProof(message, this.#key, candidate.clientNonce!, candidate.serverNonce!)) {
      this.#drop(candidate, new LocalSocketError('AUTH_FAILED', 'authentication failed: the client did not prove it holds the key'));
      return;
    }
    this.#typicalMs = this.#typicalMs * 0.9 + (now - candidate.acceptedAt) * 0.1;
    this.#patienceMs = Math.max(MIN_STALL_MS, this.#patienceMs / 2);
    this.#remove(candidate);
    candidate.transport.pause();
    this.#host.admitted(candidate.transport, rest);
  }

  /** @internal */
  onClose(candidate: Candidate): void {
    const stage = candidate.stage;
    // A client that checked our proof and left has its own reason (a key mismatch it reports itself, or `check`).
    this.#drop(candidate, new LocalSocketError('PEER_CLOSED', `connection refused: the peer left during the handshake (${stage === 'hello' ? 'before its hello' : 'before its proof'})`));
  }

  /** @internal */
  onTimeout(candidate: Candidate): void {
    // Timers run before the loop reads sockets: after a blocked stretch, the peer's
    // last bytes may be waiting. Judged after this turn's reads (setImmediate runs after them).
    setImmediate(onCandidateLate, candidate);
  }

  /** @internal */
  onLate(candidate: Candidate): void {
    this.#drop(candidate, new LocalSocketError('TIMEOUT', 'connection refused: handshake timed out'));
  }
}

function noop(): void {}

function onCandidateData(this: WithCandidate, chunk: Buffer): void {
  const candidate = this[kCandidate];
  if (candidate) candidate.admission.onData(candidate, chunk);
}

function onCandidateClose(this: WithCandidate): void {
  const candidate = this[kCandidate];
  if (candidate) candidate.admission.onClose(candidate);
}

function onCandidateTimeout(candidate: Candidate): void {
  candidate.admission.onTimeout(candidate);
}

function onCandidateLate(candidate: Candidate): void {
  candidate.admission.onLate(candidate);
}

function onJudge(admission: Admission): void {
  admission.judge();
}
