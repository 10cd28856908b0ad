// Packed host names: every name of a table in one byte buffer (normalised names are ASCII), an
// end offset per name, the epoch-ms time each name was first seen, and an open-addressing hash
// index. A million names cost about 24 bytes each (the name itself, 4 for the offset, 2 for the
// time) plus about 8 for the index: no JS object per name.

import { isMainThread, workerData } from 'node:worker_threads';

// A polynomial hash, Σ c[i]·B^(n-1-i) mod 2^32, which can be computed left to right (while a
// scanner reads a list) or right to left (a lookup extending a suffix label by label), then
// avalanched. B is drawn at start-up: a feed or a client cannot precompute colliding names.
// A worker thread that builds tables for another thread is given that thread's B (workerData
// `hashB`): the indexes and filters it hands back must hash as their user does.
const inheritedB: unknown = isMainThread ? undefined : (workerData as { hashB?: unknown } | null)?.hashB;
export const HASH_B = typeof inheritedB === 'number' ? inheritedB >>> 0 : (globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! | 1) >>> 0;

/** B^k mod 2^32 for k ≤ 256: the hash of a suffix from the hash of the whole and of its prefix. */
export const HASH_POW = new Int32Array(257);
HASH_POW[0] = 1;
for (let k = 1; k <= 256; k++) HASH_POW[k] = Math.imul(HASH_POW[k - 1]!, HASH_B);

/** Final avalanche of a running hash (the murmur3 finaliser): the value the indexes store. */
export function hashFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Hash of s[start, end). */
export function hashRange(s: string, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, HASH_B) + s.charCodeAt(i)) | 0;
  return hashFinish(h);
}

/** Hash of b[start, end); equal to hashRange of the same characters. */
export function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, HASH_B) + b[i]!) | 0;
  return hashFinish(h);
}

/** Smallest power of two ≥ n (and ≥ 16). */
export function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

/** Index capacity for n keys: a power of two, at most 5/8 full. */
export function indexCapacity(n: number): number {
  return pow2AtLeast(Math.ceil((n * 8) / 5) + 1);
}

/** Whether one more key overfills an index of capacity cap holding n keys. */
export function indexFull(n: number, cap: number): boolean {
  return (n + 1) * 8 > cap * 5;
}

/** Slots of the index per bucket of indexNames' sort: the top 12 bits of a slot number at most. */
const BUCKET_BITS = 12;

/**
 * The index of names 0..n-1 of a table's columns (slot: 0 empty, else (hash & ~mask) | (id + 1),
 * linear probing) with room for `extra` more names: NameTable's every rebuild, and a table read
 * from a first-seen image. ~60 ms instead of ~165 at 1M names for one insert per name in id order:
 * names are hashed 4 bytes a step (4 steps of hashBytes' h·B + c, their products independent),
 * and inserted in slot order, ids sorted first by the top bits of their slot (a counting sort), so
 * that the writes into the 8 MB index run forward instead of each missing the cache. Any insertion
 * order gives a valid linear-probing index. Its hashes are this thread's (HASH_B): an index cannot
 * be kept in an image, as the seed is drawn anew by each process before anything is read.
 */
export function indexNames(buf: Uint8Array, ends: Int32Array, n: number, extra: number): Int32Array {
  const cap = indexCapacity(n + extra);
  const mask = cap - 1;
  const bits = Math.min(BUCKET_BITS, 31 - Math.clz32(cap));
  const shift = 31 - Math.clz32(cap) - bits;
  const hashes = new Int32Array(n);
  const count = new Int32Array((1 << bits) + 1);
  const b1 = HASH_POW[1]!;
  const b2 = HASH_POW[2]!;
  const b3 = HASH_POW[3]!;
  const b4 = HASH_POW[4]!;
  for (let id = 0, s = 0; id < n; id++) {
    const e = ends[id]!;
    let h = 0;
    let i = s;
    // Each term is below 2^31 in size: the sum is exact before |0 takes it mod 2^32.
    for (; i + 4 <= e; i += 4) h = (Math.imul(h, b4) + Math.imul(buf[i]!, b3) + Math.imul(buf[i + 1]!, b2) + Math.imul(buf[i + 2]!, b1) + buf[i + 3]!) | 0;
    for (; i < e; i++) h = (Math.imul(h, b1) + buf[i]!) | 0;
    h = hashFinish(h);
    hashes[id] = h;
    count[((h & mask) >>> shift) + 1]!++;
    s = e;
  }
  for (let k = 1; k < count.length; k++) count[k]! += count[k - 1]!;
  // Sorted ids with their hashes beside them: the insert loop then reads both in order.
  const sortedIds = new Int32Array(n);
  const sortedHashes = new Int32Array(n);
  for (let id = 0; id < n; id++) {
    const h = hashes[id]!;
    const at = count[(h & mask) >>> shift]!++;
    sortedIds[at] = id;
    sortedHashes[at] = h;
  }
  const index = new Int32Array(cap);
  for (let k = 0; k < n; k++) {
    const h = sortedHashes[k]!;
    let i = h & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = (h & ~mask) | (sortedIds[k]! + 1);
  }
  return index;
}

// A Bloom filter over name hashes, one 32-bit word per probe and two bits per name in it: with
// about 8 bits a name it answers "certainly not listed" for ~95% of other names, from an array
// small enough to stay in cache, where the index would be a cache miss.

/** A filter for about n names. */
export function bloomFilter(n: number): Int32Array {
  return new Int32Array(pow2AtLeast(Math.ceil(n / 4)));
}

export function bloomAdd(f: Int32Array, h: number): void {
  f[(h >>> 10) & (f.length - 1)]! |= (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
}

export function bloomHas(f: Int32Array, h: number): boolean {
  const m = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
  return (f[(h >>> 10) & (f.length - 1)]! & m) === m;
}

/** Longest name a table stores: DNS names are at most 253 characters. */
export const MAX_NAME = 255;

/**
 * Buffer's own latin1 decoder called on the table's bytes in place (what buf.toString('latin1')
 * runs): making a Buffer view of a name first cost more than decoding it (a name per rule object,
 * and with a 1M-name list nearly every blocked name makes one).
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/**
 * A NameTable's whole state as typed arrays and plain values: what crosses to and from a worker
 * thread (structured clone; `transferables` lists the buffers to move instead of copy).
 */
export interface NameTableParts {
  buf: Uint8Array;
  used: number;
  ends: Int32Array;
  n: number;
  codes: Uint16Array | null;
  full: Float64Array | null;
  values: number[];
  index: Int32Array | null;
}

/**
 * An append-only set of names with a first-seen time each. Ids are dense, in insertion order, and
 * never change (rollback() forgets the newest ones). Also the per-source first-seen store: a
 * name keeps the time it was first interned, across list versions.
 *
 * The index maps a name to its id; a DomainTrie built over the table's rules borrows it as its
 * own index (lendIndex), after which the table copies it before changing it.
 */
export class NameTable {
  private buf: Uint8Array;
  private used = 0;
  private ends: Int32Array;
  private n = 0;
  /** Times as 16-bit codes into `values` while there are few distinct ones (the usual case). */
  private codes: Uint16Array | null;
  private full: Float64Array | null = null;
  private values: number[] = [];
  private readonly codeOf = new Map<number, number>();
  private lastTime = NaN;
  private lastCode = 0;
  /** Slot: 0 empty, else (hash & ~mask) | (id + 1). */
  private index: Int32Array | null = null;
  private mask = 0;
  private lent = false;
  /** The index last lent, and the table's size then (a rollback to that size can take it back). */
  private lentIndex: Int32Array | null = null;
  private lentSize = 0;
  /** Where touch() puts what it reads, so that the reads are not optimised away. */
  private touched = 0;

  constructor(expectedNames = 16, expectedBytes = expectedNames * 16) {
    this.buf = new Uint8Array(Math.max(64, expectedBytes));
    this.ends = new Int32Array(Math.max(16, expectedNames));
    this.codes = new Uint16Array(this.ends.length);
  }

  get size(): number {
    return this.n;
  }

  /** The state as parts that share this table's buffers (copy them, or hand the table over). */
  toParts(): NameTableParts {
    return { buf: this.buf, used: this.used, ends: this.ends, n: this.n, codes: this.codes, full: this.full, values: this.values, index: this.index };
  }

  /** A table over these parts (taken, not copied). The index must come from a thread with the same HASH_B. */
  static fromParts(p: NameTableParts): NameTable {
    const t = new NameTable(0, 0);
    t.buf = p.buf;
    t.used = p.used;
    t.ends = p.ends;
    t.n = p.n;
    t.codes = p.codes;
    t.full = p.full;
    t.values = p.values;
    p.values.forEach((v, code) => t.codeOf.set(v, code));
    t.index = p.index;
    t.mask = p.index === null ? 0 : p.index.length - 1;
    return t;
  }

  /** The buffers of parts, for a transfer list. */
  static transferables(p: NameTableParts): ArrayBuffer[] {
    return [...new Set([p.buf, p.ends, p.codes, p.full, p.index].filter((a) => a !== null).map((a) => a.buffer as ArrayBuffer))];
  }

  /** The packed bytes; read through the table each time (an append may replace the buffer). */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /** End offsets of the names, by id (same caveat as `bytes`). */
  get endOffsets(): Int32Array {
    return this.ends;
  }

  start(id: number): number {
    return id === 0 ? 0 : this.ends[id - 1]!;
  }

  end(id: number): number {
    return this.ends[id]!;
  }

  name(id: number): string {
    return latin1Slice.call(this.buf, this.start(id), this.ends[id]!);
  }

  /** Label count of a name (0 for the empty name). */
  labels(id: number): number {
    const s = this.start(id);
    const e = this.ends[id]!;
    if (e === s) return 0;
    let n = 1;
    for (let i = s; i < e; i++) if (this.buf[i] === 46) n++;
    return n;
  }

  time(id: number): number {
    return this.full !== null ? this.full[id]! : (this.values[this.codes![id]!] ?? 0);
  }

  setTime(id: number, t: number): void {
    if (this.full !== null) {
      this.full[id] = t;
      return;
    }
    if (t !== this.lastTime) {
      let code = this.codeOf.get(t);
      if (code === undefined) {
        if (this.values.length === 0xffff) {
          this.widenTimes();
          this.full![id] = t;
          return;
        }
        code = this.values.length;
        this.values.push(t);
        this.codeOf.set(t, code);
      }
      this.lastTime = t;
      this.lastCode = code;
    }
    this.codes![id] = this.lastCode;
  }

  /** Id of s[start, end), or -1. */
  find(s: string, start: number, end: number): number {
    return this.findHashed(hashRange(s, start, end), s, start, end);
  }

  /** Id of s[start, end) whose hashRange is h, or -1. */
  findHashed(h: number, s: string, start: number, end: number): number {
    if (this.n === 0) return -1;
    if (this.index === null) this.buildIndex(0);
    return this.probe(h, s, start, end);
  }

  /** Id of the name b[start, end) whose hashBytes is h, or -1 (another table's bytes, a file being read). */
  findBytes(h: number, b: Uint8Array, start: number, end: number): number {
    if (this.n === 0) return -1;
    if (this.index === null) this.buildIndex(0);
    return this.probeBytes(h, b, start, end);
  }

  /**
   * Reads the index slot where a name with hashRange h would start its probe: done for a batch
   * of names in one loop before interning them, the cache misses overlap instead of stalling
   * each intern in turn.
   */
  touch(h: number): void {
    if (this.index !== null) this.touched ^= this.index[h & this.mask]!;
  }

  /** Id of s[start, end), added with first-seen time `t` when new. Characters must be ≤ U+00FF. */
  intern(s: string, start: number, end: number, t: number): number {
    return this.internHashed(hashRange(s, start, end), s, start, end, t);
  }

  /** intern() with the name's hashRange already known. */
  internHashed(h: number, s: string, start: number, end: number, t: number): number {
    if (this.index === null) this.buildIndex(1);
    const found = this.probe(h, s, start, end);
    if (found >= 0) return found;
    const buf = this.room(end - start);
    let p = this.used;
    for (let i = start; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new RangeError('a stored name holds only characters up to U+00FF');
      buf[p++] = c;
    }
    return this.commit(p, h, t);
  }

  /** intern() for the name b[start, end), hash h = hashBytes(b, start, end). */
  internBytes(h: number, b: Uint8Array, start: number, end: number, t: number): number {
    if (this.index === null) this.buildIndex(1);
    const found = this.probeBytes(h, b, start, end);
    if (found >= 0) return found;
    const buf = this.room(end - start);
    let p = this.used;
    for (let i = start; i < end; i++) buf[p++] = b[i]!;
    return this.commit(p, h, t);
  }

  /** Makes room for a new name of `len` bytes (written at `used`); returns the byte buffer. */
  private room(len: number): Uint8Array {
    if (indexFull(this.n, this.index!.length)) this.buildIndex(1);
    else if (this.lent) {
      this.index = this.index!.slice();
      this.lent = false;
    }
    if (len > MAX_NAME) throw new RangeError(`name longer than ${MAX_NAME} characters`);
    if (this.used + len > this.buf.length) this.growBytes(this.used + len);
    if (this.n === this.ends.length) this.growNames(this.n + 1);
    return this.buf;
  }

  /** Adds the name written at [used, end) as a new id. */
  private commit(end: number, h: number, t: number): number {
    const id = this.n++;
    this.used = end;
    this.ends[id] = end;
    this.setTime(id, t);
    this.insertSlot(h, id);
    return id;
  }

  // Map-like access, for the first-seen store and tests.
  get(name: string): number | undefined {
    const id = this.find(name, 0, name.length);
    return id < 0 ? undefined : this.time(id);
  }

  has(name: string): boolean {
    return this.find(name, 0, name.length) >= 0;
  }

  set(name: string, t: number): this {
    this.setTime(this.intern(name, 0, name.length, t), t);
    return this;
  }

  *entries(): IterableIterator<[string, number]> {
    for (let id = 0; id < this.n; id++) yield [this.name(id), this.time(id)];
  }

  /** A point to roll back to: names interned after it can be forgotten (a rejected update). */
  mark(): number {
    return this.n;
  }

  rollback(mark: number): void {
    if (mark >= this.n) return;
    this.n = mark;
    this.used = mark === 0 ? 0 : this.ends[mark - 1]!;
    // The index lent at exactly this size holds exactly these names: no rebuild (which would stall
    // the next structure built over the table).
    if (this.lentIndex !== null && this.lentSize === mark) {
      this.index = this.lentIndex;
      this.mask = this.index.length - 1;
      this.lent = true;
    } else {
      this.index = null;
      this.lent = false;
    }
  }

  /** Trims the buffers to their content (the index stays). */
  compact(): void {
    if (this.buf.length > this.used + 64) this.buf = this.buf.slice(0, this.used);
    if (this.ends.length > this.n + 16) {
      this.ends = this.ends.slice(0, this.n);
      if (this.codes !== null) this.codes = this.codes.slice(0, this.n);
      if (this.full !== null) this.full = this.full.slice(0, this.n);
    }
  }

  /** Room for `names` more names and `bytes` more bytes without regrowing. */
  reserve(names: number, bytes: number): void {
    if (this.n + names > this.ends.length) this.growNames(this.n + names, true);
    if (this.used + bytes > this.buf.length) this.growBytes(this.used + bytes, true);
    if (this.index === null || indexCapacity(this.n + names) > this.index.length) this.buildIndex(names);
  }

  /**
   * The index (built if need be), for a DomainTrie to use as its own index of these names: it
   * holds ids < size, slot (hash & ~(length-1)) | (id + 1). The table no longer writes into it.
   */
  lendIndex(): Int32Array {
    if (this.index === null) this.buildIndex(0);
    this.lent = true;
    this.lentIndex = this.index;
    this.lentSize = this.n;
    return this.index!;
  }

  /** Bytes held by the typed arrays (for reports). */
  get memoryBytes(): number {
    return this.buf.byteLength + this.ends.byteLength + (this.codes?.byteLength ?? 0) + (this.full?.byteLength ?? 0) + (this.index?.byteLength ?? 0);
  }

  private probe(h: number, s: string, start: number, end: number): number {
    const index = this.index!;
    const mask = this.mask;
    const hi = ~mask;
    const len = end - start;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      if (((v ^ h) & hi) !== 0) continue;
      const id = (v & mask) - 1;
      const e = this.ends[id]!;
      let p = id === 0 ? 0 : this.ends[id - 1]!;
      if (e - p !== len) continue;
      let k = start;
      const buf = this.buf;
      while (k < end && buf[p] === s.charCodeAt(k)) {
        p++;
        k++;
      }
      if (k === end) return id;
    }
  }

  /** probe() over bytes (a file being parsed) instead of a string: separate to stay monomorphic. */
  private probeBytes(h: number, b: Uint8Array, start: number, end: number): number {
    const index = this.index!;
    const mask = this.mask;
    const hi = ~mask;
    const len = end - start;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      if (((v ^ h) & hi) !== 0) continue;
      const id = (v & mask) - 1;
      const e = this.ends[id]!;
      let p = id === 0 ? 0 : this.ends[id - 1]!;
      if (e - p !== len) continue;
      let k = start;
      const buf = this.buf;
      while (k < end && buf[p] === b[k]) {
        p++;
        k++;
      }
      if (k === end) return id;
    }
  }

  private insertSlot(h: number, id: number): void {
    const index = this.index!;
    const mask = this.mask;
    let i = h & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = (h & ~mask) | (id + 1);
  }

  private buildIndex(extra: number): void {
    this.index = indexNames(this.buf, this.ends, this.n, extra);
    this.mask = this.index.length - 1;
    this.lent = false;
  }

  private growBytes(need: number, exact = false): void {
    const b = new Uint8Array(exact ? need : Math.max(need, Math.ceil(this.buf.length * 1.5)));
    b.set(this.buf.subarray(0, this.used));
    this.buf = b;
  }

  private growNames(need: number, exact = false): void {
    const cap = exact ? need : Math.max(need, Math.ceil(this.ends.length * 1.5));
    const ends = new Int32Array(cap);
    ends.set(this.ends.subarray(0, this.n));
    this.ends = ends;
    if (this.codes !== null) {
      const c = new Uint16Array(cap);
      c.set(this.codes.subarray(0, this.n));
      this.codes = c;
    }
    if (this.full !== null) {
      const f = new Float64Array(cap);
      f.set(this.full.subarray(0, this.n));
      this.full = f;
    }
  }

  /** More than 65,535 distinct first-seen times: one float per name from now on. */
  private widenTimes(): void {
    const f = new Float64Array(this.ends.length);
    for (let id = 0; id < this.n; id++) f[id] = this.values[this.codes![id]!]!;
    this.full = f;
    this.codes = null;
    this.values = [];
    this.codeOf.clear();
  }
}
