/**
 * The sender: a bounded write queue in front of the kernel.
 *
 * - `bytesToWrite` (accepted, not yet confirmed by the kernel) never exceeds
 *   `limit`. A write that does not fit waits its turn, FIFO, and is taken in
 *   pieces as room frees, so one write's bytes are never interleaved with
 *   another's.
 * - Small writes made in the same tick are coalesced into one kernel write,
 *   and share one promise: the hot path allocates no promise per write.
 * - After `fail()`, every pending and future promise settles with that error;
 *   late kernel callbacks are ignored, so nothing touches a torn-down socket.
 */
export interface WriteSink {
  write(chunk: Uint8Array, callback: (err?: Error | null) => void): void;
}

interface Batch {
  chunks: Uint8Array[];
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
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may not await a write; its failure is also reported through the
  // socket's error event, so an unobserved rejection must not crash the process.
  promise.catch(ignore);
  return { chunks: [], bytes: 0, promise, resolve, reject };
}

export class Writer {
  readonly limit: number;
  #sink: WriteSink;
  #onWritten: (bytes: number) => void;
  #open: Batch | null = null;
  #inFlight = new Set<Batch>();
  #waiting: Waiting[] = [];
  #accepted = 0;
  #flushScheduled = false;
  #failure: unknown = null;
  #drainWaiters: Array<() => void> = [];

  constructor(sink: WriteSink, limit: number, onWritten: (bytes: number) => void) {
    this.#sink = sink;
    this.limit = limit;
    this.#onWritten = onWritten;
  }

  /** Bytes accepted and not yet handed to the kernel. */
  get bytesToWrite(): number {
    return this.#accepted;
  }

  /** Bytes of writes still waiting for room (not counted in bytesToWrite). */
  get bytesWaiting(): number {
    let total = 0;
    for (const w of this.#waiting) total += w.data.byteLength - w.taken;
    return total;
  }

  get idle(): boolean {
    return this.#accepted === 0 && this.#waiting.length === 0;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.#failure !== null) return quiet(Promise.reject(this.#failure));
    const size = data.byteLength;
    if (this.#waiting.length === 0 && this.#accepted + size <= this.limit) {
      if (size === 0) return this.#open?.promise ?? Promise.resolve();
      return this.#accept(data);
    }
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
    for (const batch of this.#inFlight) batch.reject(err);
    this.#inFlight.clear();
    this.#open?.reject(err);
    this.#open = null;
    for (const w of this.#waiting) w.reject(err);
    this.#waiting = [];
    this.#accepted = 0;
    // Drain waiters are released; whoever waits also checks the socket's state.
    for (const resolve of this.#drainWaiters) resolve();
    this.#drainWaiters = [];
  }

  #accept(data: Uint8Array): Promise<void> {
    const batch = (this.#open ??= newBatch());
    batch.chunks.push(data);
    batch.bytes += data.byteLength;
    this.#accepted += data.byteLength;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
    return batch.promise;
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#open;
    if (batch === null || this.#failure !== null) return;
    this.#open = null;
    this.#inFlight.add(batch);
    const chunk = batch.chunks.length === 1 ? batch.chunks[0]! : Buffer.concat(batch.chunks, batch.bytes);
    batch.chunks = [];
    this.#sink.write(chunk, (err) => {
      if (!this.#inFlight.delete(batch)) return; // torn down meanwhile
      if (err) return; // the socket's error handler calls fail()
      this.#accepted -= batch.bytes;
      batch.resolve();
      this.#onWritten(batch.bytes);
      this.#pump();
      if (this.idle) {
        const waiters = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  };

  /** Moves waiting writes into the queue as room allows, in order. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#failure === null) {
      const room = this.limit - this.#accepted;
      if (room <= 0) return;
      const head = this.#waiting[0]!;
      const size = head.data.byteLength;
      const take = Math.min(room, size - head.taken);
      const done = this.#accept(head.data.subarray(head.taken, head.taken + take));
      head.taken += take;
      if (head.taken < size) return;
      this.#waiting.shift();
      head.resolve(done);
    }
  }
}
