/**
 * The sender: a bounded write queue in front of the kernel.
 *
 * - `bytesToWrite` (accepted, not yet confirmed by the kernel) never exceeds
 *   `limit`. A write that does not fit waits its turn, FIFO, and is taken in
 *   pieces as room frees, so one write's bytes are never interleaved with
 *   another's.
 * - Writes made in the same tick are coalesced into one kernel write, and
 *   share one promise: the hot path allocates no promise per write. Runs of
 *   small writes are copied together; large writes are passed on as they are
 *   (a gather write, when the sink offers one), never copied.
 * - After `fail()`, every pending and future promise settles with that error;
 *   late kernel callbacks are ignored, so nothing touches a torn-down socket.
 */
export interface WriteSink {
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): unknown;
  /**
   * Optional, as on net.Socket: writes between cork() and uncork() go out as
   * one gather write (writev), so a batch's large chunks need not be copied.
   */
  cork?(): void;
  uncork?(): void;
}

// Sizes are read with `.length`, not `.byteLength`: the same for a Uint8Array,
// but V8 inlines `length` and not `byteLength`, which costs ~10 ns a call here.

/** Writes at least this big are never copied; runs of smaller ones are copied into one buffer. */
const COPY_LIMIT = 16 * 1024;

interface Batch {
  chunks: Uint8Array[];
  bytes: number;
  /** How many chunks are at least COPY_LIMIT bytes (0: the batch is copied into one buffer). */
  large: number;
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
  return { chunks: [], bytes: 0, large: 0, promise, resolve, reject };
}

export class Writer {
  readonly limit: number;
  #sink: WriteSink;
  #onWritten: (bytes: number) => void;
  #open: Batch | null = null;
  /** Handed to the sink, not yet confirmed; an array (not a Set): a few bytes per idle connection. */
  #inFlight: Batch[] = [];
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
    for (const w of this.#waiting) total += w.data.length - w.taken;
    return total;
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
    for (const batch of inFlight) batch.reject(err);
    this.#open?.reject(err);
    this.#open = null;
    for (const w of this.#waiting) w.reject(err);
    this.#waiting = [];
    this.#accepted = 0;
    // Drain waiters are released; whoever waits also checks the socket's state.
    for (const resolve of this.#drainWaiters) resolve();
    this.#drainWaiters = [];
  }

  #accept(data: Uint8Array, size: number): Promise<void> {
    const batch = (this.#open ??= newBatch());
    batch.chunks.push(data);
    batch.bytes += size;
    if (size >= COPY_LIMIT) batch.large++;
    this.#accepted += size;
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
    this.#inFlight.push(batch);
    const chunks = batch.chunks;
    batch.chunks = [];
    const done = (err?: Error | null): void => {
      // A failed batch stays in flight: the socket's error handler calls fail(),
      // which rejects it (taking it out here would leave its promise pending forever).
      if (err) return;
      // Batches complete in order, so this is nearly always the first one.
      const at = this.#inFlight.indexOf(batch);
      if (at === -1) return; // torn down meanwhile
      this.#inFlight.splice(at, 1);
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
    const sink = this.#sink;
    if (chunks.length === 1) {
      sink.write(chunks[0]!, done);
      return;
    }
    // Only small chunks (the common case for many small writes): one copy, one write.
    const pieces = batch.large === 0 ? [concat(chunks, batch.bytes)] : coalesce(chunks);
    if (pieces.length === 1) {
      sink.write(pieces[0]!, done);
    } else if (sink.cork && sink.uncork) {
      // One gather write; the last chunk's callback fires once all are written.
      sink.cork();
      const last = pieces.length - 1;
      for (let i = 0; i < last; i++) sink.write(pieces[i]!);
      sink.write(pieces[last]!, done);
      sink.uncork();
    } else {
      sink.write(concat(pieces, batch.bytes), done);
    }
  };

  /** Moves waiting writes into the queue as room allows, in order. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#failure === null) {
      const room = this.limit - this.#accepted;
      if (room <= 0) return;
      const head = this.#waiting[0]!;
      const size = head.data.length;
      const take = Math.min(room, size - head.taken);
      const done = this.#accept(head.data.subarray(head.taken, head.taken + take), take);
      head.taken += take;
      if (head.taken < size) return;
      this.#waiting.shift();
      head.resolve(done);
    }
  }
}

/** Copies each run of small chunks into one buffer; large chunks stay as they are. */
function coalesce(chunks: Uint8Array[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  const n = chunks.length;
  for (let i = 0; i < n; ) {
    const first = chunks[i]!;
    let j = i + 1;
    if (first.length >= COPY_LIMIT) {
      pieces.push(first);
      i = j;
      continue;
    }
    let bytes = first.length;
    for (; j < n && chunks[j]!.length < COPY_LIMIT; j++) bytes += chunks[j]!.length;
    if (j - i === 1) {
      pieces.push(first);
    } else {
      pieces.push(concat(chunks.slice(i, j), bytes));
    }
    i = j;
  }
  return pieces;
}

/** Buffer.concat without its per-chunk checks (a hot path for many small writes). */
function concat(chunks: Uint8Array[], bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let k = 0, at = 0; k < chunks.length; k++) {
    const chunk = chunks[k]!;
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
