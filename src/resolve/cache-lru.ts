// The answer cache's store: least recently used first out, bounded by entries and by the sum of
// the entries' sizes. Keys sit in one Map (key -> slot), values in one array, and each entry's
// numbers (links, size, expiry, TTL, last failed refresh, prefetch flag) in typed arrays indexed by
// slot, so an entry costs the heap its key and its value and nothing else: no node object, no
// boxed doubles (a double in an object field is a HeapNumber of its own in V8). With 100,000
// answers that is 3 objects fewer per entry for every Mark-Compact to visit and every scavenge to
// promote than lru-cache's value object with the bookkeeping in it (issue 11).
/** No slot: the end of the recency list, or a key not stored. */
export const NONE = -1;
const NIL = 0xffffffff; // NONE as a Uint32Array holds it
const FIRST_CAPACITY = 1024;

export class AnswerLru<V> {
  private readonly slots = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly vals: (V | undefined)[] = [];
  private capacity: number;
  private prev: Uint32Array;
  private next: Uint32Array;
  private sizes: Float64Array;
  /** When the slot's answer expires (the cache's clock, ms). */
  expiresAt: Float64Array;
  /** The TTL it was stored with, ms. */
  ttlMs: Float64Array;
  /** When a refresh of it last failed; -Infinity if none did. */
  failedAt: Float64Array;
  /** 1 once a prefetch was started for it. */
  prefetched: Uint8Array;
  /** Most and least recently used slot (NIL when empty). */
  private head = NIL;
  private tail = NIL;
  /** Slots freed by delete, for reuse before the arrays grow. */
  private readonly free: number[] = [];
  /** The sum of the stored entries' sizes. */
  calculatedSize = 0;

  constructor(
    readonly max: number,
    readonly maxSize: number,
  ) {
    if (!(max >= 1)) throw new RangeError('AnswerLru: max must be at least 1');
    // Grown by doubling up to max: a large maxEntries costs nothing until the entries come.
    this.capacity = Math.min(max, FIRST_CAPACITY);
    this.prev = new Uint32Array(this.capacity);
    this.next = new Uint32Array(this.capacity);
    this.sizes = new Float64Array(this.capacity);
    this.expiresAt = new Float64Array(this.capacity);
    this.ttlMs = new Float64Array(this.capacity);
    this.failedAt = new Float64Array(this.capacity);
    this.prefetched = new Uint8Array(this.capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  /** The key's slot, made the most recently used; NONE if absent. */
  get(key: string): number {
    const s = this.slots.get(key);
    if (s === undefined) return NONE;
    this.toFront(s);
    return s;
  }

  /** The key's slot without touching its recency; NONE if absent. */
  peek(key: string): number {
    return this.slots.get(key) ?? NONE;
  }

  /** The value in a slot that get or peek returned. */
  value(slot: number): V {
    return this.vals[slot]!;
  }

  /**
   * Stores `value` under `key` as the most recently used entry, with fresh bookkeeping (not
   * prefetched, never failed), evicting the least recently used ones beyond max or maxSize. An entry
   * larger than maxSize is not stored (and the key's old one is dropped), as lru-cache does.
   */
  set(key: string, value: V, size: number, expiresAt: number, ttlMs: number): void {
    let s = this.slots.get(key);
    if (size > this.maxSize) {
      if (s !== undefined) this.delete(key);
      return;
    }
    if (s !== undefined) {
      this.calculatedSize -= this.sizes[s]!;
      this.toFront(s);
    } else {
      while (this.slots.size >= this.max) this.evict();
      s = this.take();
      this.keys[s] = key;
      this.slots.set(key, s);
      this.link(s);
    }
    // Others out before this one is counted, so it is never the one evicted.
    while (this.calculatedSize + size > this.maxSize && this.tail !== s) this.evict();
    this.vals[s] = value;
    this.sizes[s] = size;
    this.calculatedSize += size;
    this.expiresAt[s] = expiresAt;
    this.ttlMs[s] = ttlMs;
    this.failedAt[s] = -Infinity;
    this.prefetched[s] = 0;
  }

  delete(key: string): boolean {
    const s = this.slots.get(key);
    if (s === undefined) return false;
    this.remove(s);
    return true;
  }

  /** Keys and values, most recently used first. */
  *entries(): Generator<[key: string, value: V]> {
    for (let s = this.head; s !== NIL; s = this.next[s]!) yield [this.keys[s]!, this.vals[s]!];
  }

  private evict(): void {
    if (this.tail !== NIL) this.remove(this.tail);
  }

  private remove(s: number): void {
    this.slots.delete(this.keys[s]!);
    this.unlink(s);
    this.calculatedSize -= this.sizes[s]!;
    this.sizes[s] = 0;
    this.keys[s] = '';
    this.vals[s] = undefined; // the answer goes with the entry
    this.free.push(s);
  }

  /** A free slot: a deleted one, or the next never used (the arrays doubled when full). */
  private take(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    const s = this.keys.length;
    if (s === this.capacity) this.grow();
    this.keys.push('');
    this.vals.push(undefined);
    return s;
  }

  private grow(): void {
    this.capacity = Math.min(this.max, this.capacity * 2);
    this.prev = resized(this.prev, new Uint32Array(this.capacity));
    this.next = resized(this.next, new Uint32Array(this.capacity));
    this.sizes = resized(this.sizes, new Float64Array(this.capacity));
    this.expiresAt = resized(this.expiresAt, new Float64Array(this.capacity));
    this.ttlMs = resized(this.ttlMs, new Float64Array(this.capacity));
    this.failedAt = resized(this.failedAt, new Float64Array(this.capacity));
    this.prefetched = resized(this.prefetched, new Uint8Array(this.capacity));
  }

  private link(s: number): void {
    this.prev[s] = NIL;
    this.next[s] = this.head;
    if (this.head !== NIL) this.prev[this.head] = s;
    else this.tail = s;
    this.head = s;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p !== NIL) this.next[p] = n;
    else this.head = n;
    if (n !== NIL) this.prev[n] = p;
    else this.tail = p;
  }

  private toFront(s: number): void {
    if (this.head === s) return;
    this.unlink(s);
    this.link(s);
  }
}

function resized<T extends Uint32Array | Float64Array | Uint8Array>(old: T, into: T): T {
  into.set(old);
  return into;
}
