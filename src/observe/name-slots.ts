// Query names kept per slot of a column (the console's query ring, the c2-hit windows) as bytes in
// one buffer instead of the strings the queries brought. Such a column keeps a name for thousands
// of queries, past the scavenges of young objects (one every ~8,000 queries under load): the
// string is copied, often promoted and marked later; its bytes in a buffer made once are none of
// that. Plain ASCII names of 1 to WIDTH characters (nearly every name) go in as bytes; others,
// and strings that live long anyway (a rule's name), are kept as the string.

/** Bytes a slot holds. */
const WIDTH = 64;

export class NameSlots {
  private bytes: Buffer;
  /** The name's length when its bytes are in `bytes`, else 0 (the string is in `strings`). */
  private lengths: Uint8Array;
  private readonly strings: (string | null)[] = [];

  constructor(slots = 0) {
    this.bytes = Buffer.alloc(slots * WIDTH);
    this.lengths = new Uint8Array(slots);
    for (let i = 0; i < slots; i++) this.strings.push(null);
  }

  /** Room for `slots` slots; the names kept stay. */
  grow(slots: number): void {
    const n = this.lengths.length;
    if (slots <= n) return;
    const bytes = Buffer.alloc(slots * WIDTH);
    this.bytes.copy(bytes);
    const lengths = new Uint8Array(slots);
    lengths.set(this.lengths);
    this.bytes = bytes;
    this.lengths = lengths;
    for (let i = n; i < slots; i++) this.strings.push(null);
  }

  /** Keeps `name` in slot i, as bytes when it fits. */
  copy(i: number, name: string): void {
    const n = name.length;
    if (n > 0 && n <= WIDTH) {
      const b = this.bytes;
      const at = i * WIDTH;
      let k = 0;
      for (; k < n; k++) {
        const c = name.charCodeAt(k);
        if (c > 0x7f) break;
        b[at + k] = c;
      }
      if (k === n) {
        this.lengths[i] = n;
        this.strings[i] = null;
        return;
      }
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
