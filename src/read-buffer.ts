/**
 * Received bytes not yet read: a queue of chunks, read without copying when a
 * read takes whole chunks. It does not bound itself; the socket pauses the
 * kernel reads when `length` reaches its limit.
 */
/**
 * The shared empty list every ReadBuffer starts with (and returns to on clear()); push() swaps in
 * a list of its own first, so this one is never written. Not frozen: a frozen array would make
 * the element reads on the hot path see two kinds of array.
 */
const NONE: Buffer[] = [];

/** Slots an emptied chunk list may keep for the next reads; a longer one is let go. */
const KEPT_SLOTS = 16;

export class ReadBuffer {
  /**
   * Made on the first push: an idle connection never holds a chunk list (one array less per socket).
   * Slots `#head` to `#end` hold the chunks; the array's own length is not the end: emptying the
   * array (`length = 0`) would let V8 drop its backing store, and the next push would allocate a
   * new one, on every read of a request/reply connection.
   */
  #chunks: Buffer[] = NONE;
  #head = 0;
  #end = 0;
  #offset = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#chunks === NONE) this.#chunks = [];
    this.#chunks[this.#end++] = chunk;
    this.#length += chunk.length;
  }

  /** Removes and returns up to `max` bytes. */
  read(max: number): Buffer {
    return this.#take(Math.min(max, this.#length), true);
  }

  /** Returns up to `max` bytes without removing them. */
  peek(max: number): Buffer {
    return this.#take(Math.min(max, this.#length), false);
  }

  /** Offset of the first `byte` among the first `limit` bytes, or -1. */
  indexOf(byte: number, limit: number): number {
    let seen = 0;
    for (let i = this.#head; i < this.#end && seen < limit; i++) {
      const chunk = this.#chunks[i]!;
      const start = i === this.#head ? this.#offset : 0;
      const end = Math.min(chunk.length, start + (limit - seen));
      const at = chunk.indexOf(byte, start);
      if (at !== -1 && at < end) return seen + (at - start);
      seen += end - start;
    }
    return -1;
  }

  clear(): void {
    this.#chunks = NONE;
    this.#head = 0;
    this.#end = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  #take(n: number, consume: boolean): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[this.#head]!;
    const firstLeft = first.length - this.#offset;
    let result: Buffer;
    if (n <= firstLeft) {
      // A whole chunk is handed out as it is: no new view per read on the hot path.
      result = this.#offset === 0 && n === first.length ? first : first.subarray(this.#offset, this.#offset + n);
      if (consume) this.#advance(n);
      return result;
    }
    result = Buffer.allocUnsafe(n);
    let copied = 0;
    let index = this.#head;
    let offset = this.#offset;
    while (copied < n) {
      const chunk = this.#chunks[index]!;
      const count = Math.min(chunk.length - offset, n - copied);
      chunk.copy(result, copied, offset, offset + count);
      copied += count;
      index++;
      offset = 0;
    }
    if (consume) this.#advance(n);
    return result;
  }

  #advance(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const chunk = this.#chunks[this.#head]!;
      const left = chunk.length - this.#offset;
      if (n < left) {
        this.#offset += n;
        return;
      }
      n -= left;
      this.#chunks[this.#head] = undefined as unknown as Buffer;
      this.#head++;
      this.#offset = 0;
    }
    if (this.#head === this.#end) {
      // Empty: start again at the front, keeping the array and its backing store (slots already
      // cleared), unless many chunks once waited here: a long list is not kept for the connection's life.
      if (this.#chunks.length > KEPT_SLOTS) this.#chunks = [];
      this.#head = 0;
      this.#end = 0;
    } else if (this.#head > 64 && this.#head * 2 > this.#end) {
      // Most of the list is read: move the unread chunks to the front, clearing the slots they leave.
      const chunks = this.#chunks;
      const unread = this.#end - this.#head;
      chunks.copyWithin(0, this.#head, this.#end);
      chunks.fill(undefined as unknown as Buffer, unread, this.#end);
      this.#head = 0;
      this.#end = unread;
    }
  }
}
