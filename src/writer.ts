/**
 * The sender: a bounded write queue in front of the kernel.
 *
 * - `bytesToWrite` (accepted, not yet confirmed by the kernel) never exceeds
 *   `limit`. A write that does not fit waits its turn, FIFO, and is taken in
 *   pieces as room frees, so one write's bytes are never interleaved with
 *   another's.
 * - The first write of a tick goes to the kernel at once; the writes that
 *   follow it in the same tick are coalesced and share one promise: the hot
 *   path allocates no promise per write. Runs of small writes are copied
 *   together into pieces of up to 64 KiB; large writes are passed on as they
 *   are, never copied. The pieces go to the sink in order, one call each (a
 *   net.Socket queues them and sends what queues up as one writev).
 * - The waiting list has a cap too. The write at its head (being taken in
 *   pieces) may be of any size; behind it, a write is refused, and the
 *   connection fails (`onOverflow`, RESOURCE_EXHAUSTED), when
 *   WAITING_FACTOR * `limit` bytes or more already wait there. So the writer
 *   holds at most `limit` accepted + the head write + under
 *   WAITING_FACTOR * `limit` behind it + the write that crossed the cap: with
 *   writes of at most S bytes, (WAITING_FACTOR + 1) * limit + 2 * S, however
 *   many writes are made without being awaited to a peer that stops reading.
 *   Why a multiple, not `limit` itself: the writer cannot tell a write nobody
 *   awaits from one of many concurrent callers that each await theirs (which
 *   is backpressure done right, and must not fail); the multiple leaves room
 *   for WAITING_FACTOR callers each waiting with a full buffer's worth. The
 *   frames the message layer sends on its own never wait at all.
 * - After `fail()`, every pending and future promise settles with that error;
 *   late kernel callbacks are ignored, so nothing touches a torn-down socket.
 */
import { captured, captureResolvers } from './captured-resolvers.js';
import { LocalSocketError } from './errors.js';

export interface WriteSink {
  /** Writes in call order; `callback` once this chunk reached the kernel (or failed). */
  write(chunk: Uint8Array, callback: (err?: Error | null) => void): unknown;
}

// Sizes are read with `.length`, not `.byteLength`: the same for a Uint8Array,
// but V8 inlines `length` and not `byteLength`, which costs ~10 ns a call here.

/** Writes at least this big are never copied; runs of smaller ones are copied together. */
const COPY_LIMIT = 16 * 1024;
/**
 * Most bytes one copied run becomes. Measured here: a Unix socket moves bulk
 * data faster fed in 64 KiB writes than in 1 MiB ones (raw net as well).
 */
const PIECE_LIMIT = 64 * 1024;

interface Batch {
  /** The batch's first chunk, and the rest in order (no array for the usual batch of one). */
  first: Uint8Array | null;
  more: Uint8Array[] | null;
  bytes: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Waiting {
  data: Uint8Array;
  taken: number;
  resolve: (batchDone: Promise<void>) => void;
  reject: (err: unknown) => void;
}

const ignore = (): void => {};

/** Marks a promise as observed: its rejection is still seen by whoever awaits it. */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(ignore);
  return promise;
}

function newBatch(): Batch {
  // A module-level executor: a batch's promise costs no closure of its own (one per write tick).
  const promise = new Promise<void>(captureResolvers);
  // The caller may not await a write; its failure is also reported through the
  // socket's error event, so an unobserved rejection must not crash the process.
  // The promise is marked observed just before it is rejected (failBatch), not
  // here: a batch that succeeds then costs no extra promise and microtask.
  return { first: null, more: null, bytes: 0, promise, resolve: captured.resolve, reject: captured.reject };
}

function failBatch(batch: Batch, err: unknown): void {
  batch.promise.catch(ignore);
  batch.reject(err);
}

/** Marks where the writer's whole queue is read from a LocalSocket (accepted, waiting): internal to the library. */
export const QUEUED_BYTES = Symbol('localsocket.queuedBytes');

/** How many write buffers' worth may wait behind the head of the waiting list (see above). */
export const WAITING_FACTOR = 64;

export class Writer {
  readonly limit: number;
  #sink: WriteSink;
  #onWritten: (bytes: number) => void;
  #onOverflow: ((err: LocalSocketError) => void) | undefined;
  /** Bytes of the waiting writes not yet taken into the queue. */
  #waitingBytes = 0;
  #open: Batch | null = null;
  /** Handed to the sink, not yet confirmed; an array (not a Set): a few bytes per idle connection. */
  #inFlight: Batch[] = [];
  #waiting: Waiting[] = [];
  #accepted = 0;
  #flushScheduled = false;
  #failure: unknown = null;
  #drainWaiters: Array<() => void> = [];

  /**
   * @param onOverflow - called with a RESOURCE_EXHAUSTED error when a write would pass the waiting
   *   list's cap: it tears the connection down (which calls fail()). Without it the writer fails itself.
   */
  constructor(sink: WriteSink, limit: number, onWritten: (bytes: number) => void, onOverflow?: (err: LocalSocketError) => void) {
    this.#sink = sink;
    this.limit = limit;
    this.#onWritten = onWritten;
    this.#onOverflow = onOverflow;
  }

  /** Bytes accepted and not yet handed to the kernel. */
  get bytesToWrite(): number {
    return this.#accepted;
  }

  /** Every byte the writer holds: accepted and not yet confirmed, plus waiting for room. */
  get queued(): number {
    return this.#accepted + this.#waitingBytes;
  }

  get idle(): boolean {
    return this.#accepted === 0 && this.#waiting.length === 0;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.#failure !== null) return quiet(Promise.reject(this.#failure));
    const size = data.length;
    if (this.#waiting.length === 0 && this.#accepted + size <= this.limit) {
      if (size === 0) return this.#open?.promise ?? Promise.resolve();
      return this.#accept(data, size);
    }
    const head = this.#waiting[0];
    if (head !== undefined && this.#waitingBytes - (head.data.length - head.taken) >= WAITING_FACTOR * this.limit) {
      // A full write buffer and as much again waiting: the peer is not reading, and more is written
      // than anyone waits for. Fail the connection rather than hold more.
      const err = new LocalSocketError('RESOURCE_EXHAUSTED', 'the peer is not reading: the write queue is full');
      this.#onOverflow?.(err);
      this.fail(err); // idempotent: the connection's teardown has usually failed it already
      return quiet(Promise.reject(this.#failure));
    }
    this.#waitingBytes += size;
    return quiet(
      new Promise<Promise<void>>((resolve, reject) => {
        this.#waiting.push({ data, taken: 0, resolve, reject });
        this.#pump();
      }).then((done) => done),
    );
  }

  /** Resolves when everything accepted or waiting has reached the kernel. */
  drained(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Tears down: settles every pending promise with `err`. Idempotent. */
  fail(err: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = err;
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    for (const batch of inFlight) failBatch(batch, err);
    if (this.#open) failBatch(this.#open, err);
    this.#open = null;
    for (const w of this.#waiting) w.reject(err);
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.#accepted = 0;
    // Drain waiters are released; whoever waits also checks the socket's state.
    for (const resolve of this.#drainWaiters) resolve();
    this.#drainWaiters = [];
  }

  #accept(data: Uint8Array, size: number): Promise<void> {
    const batch = (this.#open ??= newBatch());
    if (batch.first === null) batch.first = data;
    else (batch.more ??= []).push(data);
    batch.bytes += size;
    this.#accepted += size;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
      // The first write of a tick goes out at once (no added latency for a
      // request/reply); the writes that follow it in the same tick coalesce.
      if (batch.more === null) this.#send();
    } else if (batch.bytes >= PIECE_LIMIT) {
      // A long run of writes in one tick: hand each full piece over now, so the
      // kernel (and the reader) work while the writer's caller goes on producing.
      this.#send();
    }
    return batch.promise;
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    this.#send();
  };

  /**
   * The sink's callback for the last piece of every batch: one function per writer, not a closure per
   * batch. A sink calls its write callbacks in the order of the writes (a Writable does), so the batch
   * done is the oldest in flight.
   */
  #onBatchWritten = (err?: Error | null): void => {
    // A failed batch stays in flight: the socket's error handler calls fail(),
    // which rejects it (taking it out here would leave its promise pending forever).
    // After fail() nothing is in flight, and a late callback finds nothing to settle.
    if (err || this.#failure !== null) return;
    const batch = this.#inFlight.shift();
    if (batch === undefined) return;
    this.#accepted -= batch.bytes;
    batch.resolve();
    this.#onWritten(batch.bytes);
    this.#pump();
    if (this.idle) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  /** Hands the open batch to the kernel. */
  #send(): void {
    const batch = this.#open;
    if (batch === null || this.#failure !== null) return;
    this.#open = null;
    this.#inFlight.push(batch);
    const first = batch.first!;
    const more = batch.more;
    // The chunks are the sink's now: the batch in flight holds none.
    batch.first = null;
    batch.more = null;
    const done = this.#onBatchWritten;
    const sink = this.#sink;
    if (more === null) {
      sink.write(first, done);
      return;
    }
    // In order; only the last piece's callback counts (an error also reaches fail()).
    more.unshift(first);
    const pieces = coalesce(more);
    const last = pieces.length - 1;
    for (let i = 0; i < last; i++) sink.write(pieces[i]!, ignore);
    sink.write(pieces[last]!, done);
  }

  /** Moves waiting writes into the queue as room allows, in order. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#failure === null) {
      const room = this.limit - this.#accepted;
      if (room <= 0) return;
      const head = this.#waiting[0]!;
      const size = head.data.length;
      const take = Math.min(room, size - head.taken);
      this.#waitingBytes -= take;
      const done = this.#accept(head.data.subarray(head.taken, head.taken + take), take);
      head.taken += take;
      if (head.taken < size) return;
      this.#waiting.shift();
      head.resolve(done);
    }
  }
}

/** Copies runs of small chunks together (up to PIECE_LIMIT each); large chunks stay as they are. */
function coalesce(chunks: Uint8Array[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  const n = chunks.length;
  for (let i = 0; i < n; ) {
    const first = chunks[i]!;
    let bytes = first.length;
    let j = i + 1;
    if (bytes < COPY_LIMIT) {
      for (; j < n; j++) {
        const size = chunks[j]!.length;
        if (size >= COPY_LIMIT || bytes + size > PIECE_LIMIT) break;
        bytes += size;
      }
    }
    pieces.push(j - i === 1 ? first : concat(chunks, i, j, bytes));
    i = j;
  }
  return pieces;
}

/** chunks[from..to) in one new buffer: Buffer.concat without its per-chunk checks (a hot path). */
function concat(chunks: Uint8Array[], from: number, to: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let k = from, at = 0; k < to; k++) {
    const chunk = chunks[k]!;
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
