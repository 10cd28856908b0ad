// Query names kept per slot of a column (the console's query ring, the c2-hit windows) as bytes in
// one buffer instead of the strings the queries brought. Such a column keeps a name for thousands
// of queries, past the scavenges of young objects (one every ~8,000 queries under load): the
// string is copied, often promoted and marked later; its bytes in a buffer made once are none of
// that. Plain ASCII names of 1 to WIDTH characters (nearly every name) go in as bytes; others,
// and strings that live long anyway (a rule's name), are kept as the string. A name's bytes are
// read from its string once per query for every observer (AsciiName, shared with the history's
// name table) and copied a word at a time.

/** Bytes a slot holds. */
const WIDTH = 64;

/** Longest name AsciiName keeps the bytes of (DNS names have at most 253 characters, escapes aside). */
export const MAX_ASCII_NAME = 1024;

/**
 * The bytes and FNV-1a hash of the last name asked for. The observers of one query (security
 * events, history, the console ring) are each handed the same qname string and each need its
 * bytes: reading them with charCodeAt once (~10 instructions a character) instead of once per
 * observer. A name that is not the last one (by content) is read again.
 */
export class AsciiName {
  /** The name's bytes after load() returned a length ≥ 0 (what follows them is left from longer names). */
  readonly bytes = new Uint8Array(MAX_ASCII_NAME);
  /** The same bytes four at a time: copied and compared a word at a time (a typed-array access is ~10 instructions). */
  readonly words = new Int32Array(this.bytes.buffer);
  /** The same bytes for reading words in little-endian order whatever the machine's (NameTable's comparison). */
  readonly view = new DataView(this.bytes.buffer);
  /** FNV-1a of the name's characters, as an int32 (valid with the bytes). */
  hash = 0;
  private last: string | null = null;
  private length = -1;

  /** Reads `name`: its length with its bytes in `bytes`, or -1 when it has a character beyond ASCII or is longer than MAX_ASCII_NAME. */
  load(name: string): number {
    if (name === this.last) return this.length;
    const n = name.length;
    this.last = name;
    if (n > MAX_ASCII_NAME) return (this.length = -1);
    const b = this.bytes;
    let h = 0x811c9dc5 | 0;
    let high = 0;
    for (let i = 0; i < n; i++) {
      const c = name.charCodeAt(i);
      high |= c;
      h = Math.imul(h ^ c, 0x01000193);
      b[i] = c;
    }
    this.hash = h;
    return (this.length = high > 0x7f ? -1 : n);
  }
}

/** The one AsciiName the observers of a query share (they run one after the other, on one thread). */
export const queryName = new AsciiName();

export class NameSlots {
  private bytes: Buffer;
  /** `bytes` four at a time (a slot starts at a multiple of WIDTH): copy() moves a name a word at a time. */
  private words: Int32Array;
  /** The name's length when its bytes are in `bytes`, else 0 (the string is in `strings`). */
  private lengths: Uint8Array;
  private readonly strings: (string | null)[] = [];

  constructor(slots = 0) {
    const ab = new ArrayBuffer(slots * WIDTH);
    this.bytes = Buffer.from(ab);
    this.words = new Int32Array(ab);
    this.lengths = new Uint8Array(slots);
    for (let i = 0; i < slots; i++) this.strings.push(null);
  }

  /** Room for `slots` slots; the names kept stay. */
  grow(slots: number): void {
    const n = this.lengths.length;
    if (slots <= n) return;
    const ab = new ArrayBuffer(slots * WIDTH);
    const bytes = Buffer.from(ab);
    this.bytes.copy(bytes);
    const lengths = new Uint8Array(slots);
    lengths.set(this.lengths);
    this.bytes = bytes;
    this.words = new Int32Array(ab);
    this.lengths = lengths;
    for (let i = n; i < slots; i++) this.strings.push(null);
  }

  /** Keeps `name` in slot i, as bytes when it fits. */
  copy(i: number, name: string): void {
    const n = name.length <= WIDTH ? queryName.load(name) : -1;
    if (n > 0) {
      // Whole words: the bytes past the name's end stay inside the slot and are never read.
      const src = queryName.words;
      const w = this.words;
      const at = i * (WIDTH / 4);
      for (let k = 0, z = (n + 3) >>> 2; k < z; k++) w[at + k] = src[k]!;
      this.lengths[i] = n;
      this.strings[i] = null;
      return;
    }
    this.keep(i, name);
  }

  /** Keeps `name` in slot i as the string itself (one that lives long anyway), or null. */
  keep(i: number, name: string | null): void {
    this.lengths[i] = 0;
    this.strings[i] = name;
  }

  /** The name in slot i (a new string when it was kept as bytes), or null. */
  get(i: number): string | null {
    const n = this.lengths[i]!;
    if (n === 0) return this.strings[i]!;
    const at = i * WIDTH;
    return this.bytes.toString('latin1', at, at + n);
  }

  /** Whether slot i holds `name` (null: a null slot), without making the slot's string. */
  is(i: number, name: string | null): boolean {
    const n = this.lengths[i]!;
    if (n === 0) return this.strings[i] === name;
    if (name === null || name.length !== n) return false;
    const b = this.bytes;
    const at = i * WIDTH;
    for (let k = 0; k < n; k++) if (b[at + k] !== name.charCodeAt(k)) return false;
    return true;
  }
}
