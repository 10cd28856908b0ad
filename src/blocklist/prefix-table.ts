// IP prefix table: the IPv4 and IPv6 indicators of the lists (response IPs in answers, RPZ
// client-IP triggers), matched against one address at a time.
//
// Lookup: every stored prefix sits in one open-addressing hash table per address family, keyed
// by (prefix length, masked address words). A query masks its address to each prefix length
// that is actually present, longest first, and probes once per length: the cost depends on how
// many distinct lengths the lists use (at most 33 + 129), not on how many prefixes they hold.
// Keys are int32 words in an Int32Array, so a probe allocates nothing, IPv6 included, and a
// small bit filter in front of each table turns away most probes for keys that are absent.
//
// Precedence, the same as the name lists (README "Precedence"):
//   1. an important allow, 2. an important block (each: the most specific first),
//   3. otherwise the most specific (longest) prefix;
// on the same prefix an allow beats a block and an important block beats both; among equal
// rules the first added stays. Each prefix keeps only its winning rule, and its "tier"
// (2 important allow, 1 important block, 0 other): a query takes the longest prefix of the
// highest tier that matches, and stops probing once no shorter length can hold a higher tier.
//
// IPv4 inside IPv6: an IPv4-mapped address (::ffff:a.b.c.d) is how an IPv4 address appears in
// an IPv6 context (an AAAA answer, a dual-stack socket), so it matches the IPv4 prefixes as well
// as the IPv6 ones, a.b.c.d/n counting as ::ffff:a.b.c.d/(96+n). The reverse does not hold: an
// IPv6 prefix never matches a 4-byte address. Lists that fence off "::ffff:0:0/96" (as DNS
// rebinding filters do) mean mapped AAAA answers, not every A answer.
import { hashFinish } from './names.js';

export interface PrefixRule {
  readonly kind: 'block' | 'allow';
  readonly important?: boolean;
}

export interface IpPrefixMatch<R extends PrefixRule> {
  readonly rule: R;
  /** Canonical CIDR text of the matching entry ("23.254.211.0/24", "2001:db8::/32"). */
  readonly prefix: string;
}

/** Bits of the first `len` bits of each 32-bit word: V6_MASK[len * 4 + word]; V4_MASK[len]. */
const V4_MASK = new Int32Array(33);
const V6_MASK = new Int32Array(129 * 4);
for (let len = 0; len <= 128; len++) {
  for (let w = 0; w < 4; w++) {
    const bits = Math.min(32, Math.max(0, len - 32 * w));
    // `-1 << 32` is -1 in JS (the shift count is taken mod 32), hence the explicit 0.
    V6_MASK[len * 4 + w] = bits === 0 ? 0 : -1 << (32 - bits);
  }
  if (len <= 32) V4_MASK[len] = V6_MASK[len * 4]!;
}

// A seed drawn at start-up: a feed cannot pick addresses that all land in one probe chain.
const SEED = globalThis.crypto.getRandomValues(new Int32Array(1))[0]!;
const MUL = globalThis.crypto.getRandomValues(new Int32Array(1))[0]! | 1;
/** Per prefix length, mixed into the hash: the same masked bits at two lengths are two keys. */
const SALT = new Int32Array(129);
for (let len = 0; len <= 128; len++) SALT[len] = Math.imul(len + 1, MUL) ^ SEED;

function hash1(len: number, a: number): number {
  return hashFinish(a ^ SALT[len]!);
}

function step(h: number, w: number): number {
  // The rotation spreads high bits downwards: without it, flipping the top bit of two words
  // would give the same hash whatever the multiplier.
  h = Math.imul(h ^ w, MUL);
  return (h << 13) | (h >>> 19);
}

function hash4(len: number, a: number, b: number, c: number, d: number): number {
  return hashFinish(step(step(step(step(SALT[len]!, a), b), c), d));
}

/**
 * Prefixes of one family: slots of [length, word × n, entry id + 1] (0 = empty slot), and in
 * front of them a one-bit-per-key filter of 4 bits per slot (8+ per key). Most queries match
 * nothing, and a miss probes every length present: the filter, 16 times smaller than the slots,
 * stays in cache where a big table does not, and refuses all but about 1 in 10 of those probes.
 */
class FamilyIndex {
  /** Prefix lengths present, longest first. */
  lengths: number[] = [];
  /** Highest tier of any entry of each length (-1: none). */
  readonly tierMax = new Int8Array(129).fill(-1);
  /** Highest tier in the whole family: a query may stop as soon as it holds this tier. */
  maxTier = -1;
  private readonly tierCount = new Int32Array(129 * 3);
  private readonly stride: number;
  private slots: Int32Array;
  private mask: number;
  private filter: Int32Array;
  private filterShift: number;
  private used = 0;

  constructor(private readonly words: 1 | 4) {
    this.stride = words + 2;
    this.slots = new Int32Array(16 * this.stride);
    this.mask = 15;
    this.filter = new Int32Array(2);
    this.filterShift = 32 - 6;
  }

  find1(len: number, a: number): number {
    const h = hash1(len, a);
    if (!this.mayHave(h)) return -1;
    const s = this.slots;
    let i = h & this.mask;
    for (;;) {
      const p = i * 3;
      const v = s[p + 2]!;
      if (v === 0) return -1;
      if (s[p] === len && s[p + 1] === a) return v - 1;
      i = (i + 1) & this.mask;
    }
  }

  find4(len: number, a: number, b: number, c: number, d: number): number {
    const h = hash4(len, a, b, c, d);
    if (!this.mayHave(h)) return -1;
    const s = this.slots;
    let i = h & this.mask;
    for (;;) {
      const p = i * 6;
      const v = s[p + 5]!;
      if (v === 0) return -1;
      if (s[p] === len && s[p + 1] === a && s[p + 2] === b && s[p + 3] === c && s[p + 4] === d) return v - 1;
      i = (i + 1) & this.mask;
    }
  }

  /** Inserts a key known to be absent. */
  insert(len: number, w: Int32Array, id: number): void {
    if ((this.used + 1) * 2 > this.mask + 1) this.grow();
    this.place(len, w, id + 1);
    this.used++;
    if (!this.lengths.includes(len)) {
      // A new length is rare (at most 162 ever): rebuild the short sorted list.
      this.lengths = [...this.lengths, len].sort((x, y) => y - x);
    }
  }

  /** Moves one entry of `len` from tier `from` (-1: a new entry) to tier `to`. */
  retier(len: number, from: number, to: number): void {
    if (from >= 0) this.tierCount[len * 3 + from]!--;
    this.tierCount[len * 3 + to]!++;
    let top = -1;
    for (let t = 2; t >= 0; t--) {
      if (this.tierCount[len * 3 + t]! > 0) {
        top = t;
        break;
      }
    }
    this.tierMax[len] = top;
    if (top > this.maxTier) this.maxTier = top;
  }

  private mayHave(h: number): boolean {
    // Other hash bits than the slot index (the low ones), so the two tests are independent.
    const bit = Math.imul(h, 0x9e3779b1) >>> this.filterShift;
    return (this.filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  private place(len: number, w: ArrayLike<number>, value: number): void {
    const n = this.words;
    const h = n === 1 ? hash1(len, w[0]!) : hash4(len, w[0]!, w[1]!, w[2]!, w[3]!);
    const bit = Math.imul(h, 0x9e3779b1) >>> this.filterShift;
    this.filter[bit >>> 5]! |= 1 << (bit & 31);
    const s = this.slots;
    let i = h & this.mask;
    while (s[i * this.stride + this.stride - 1] !== 0) i = (i + 1) & this.mask;
    const p = i * this.stride;
    s[p] = len;
    for (let k = 0; k < n; k++) s[p + 1 + k] = w[k]!;
    s[p + this.stride - 1] = value;
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap * this.stride);
    this.mask = cap - 1;
    // 4 filter bits per slot: cap * 4 = 2^(log2(cap) + 2) bits in cap / 8 int32.
    this.filter = new Int32Array(cap / 8);
    this.filterShift = 32 - (Math.log2(cap) + 2);
    for (let p = 0; p < old.length; p += this.stride) {
      const v = old[p + this.stride - 1]!;
      if (v !== 0) this.place(old[p]!, old.subarray(p + 1, p + 1 + this.words), v);
    }
  }
}

/** block 0, allow 1, important block 2, important allow 3: on one prefix the higher wins. */
function rankOf(rule: PrefixRule): number {
  return (rule.kind === 'allow' ? 1 : 0) + (rule.important === true ? 2 : 0);
}

/** 2 important allow, 1 important block, 0 other: across prefixes a higher tier wins first. */
function tierOf(rank: number): number {
  return rank < 2 ? 0 : rank - 1;
}

export class IpPrefixTable<R extends PrefixRule> {
  private readonly v4 = new FamilyIndex(1);
  private readonly v6 = new FamilyIndex(4);
  // Per entry (a distinct prefix), by id: what lookup returns (one object, reused), and what
  // settles a tie between an IPv4 entry and an IPv6 entry for the same mapped prefix.
  private readonly results: IpPrefixMatch<R>[] = [];
  private readonly ranks: number[] = [];
  private readonly seqs: number[] = [];
  /** Prefix length, IPv4 lengths counted as their mapped IPv6 length (96 + n). */
  private readonly spans: number[] = [];
  private seq = 0;
  private readonly words = new Int32Array(4);
  /** Some IPv6 entry covers or lies inside ::ffff:0:0/96: only then does a mapped address probe IPv6. */
  private mappedV6 = false;

  /** Distinct prefixes stored (several rules on one prefix count once). */
  get size(): number {
    return this.results.length;
  }

  /** True when no prefix is stored: callers skip the IP stage altogether. */
  get empty(): boolean {
    return this.results.length === 0;
  }

  /**
   * Adds a rule for an address ("23.254.211.230") or prefix ("23.254.211.0/24", "2001:db8::/32").
   * Host bits below the prefix are cleared ("10.1.2.3/8" is stored as "10.0.0.0/8").
   * Throws an Error naming the input on anything else.
   */
  add(cidr: string, rule: R): void {
    const text = cidr.trim();
    const slash = text.indexOf('/');
    const addrText = slash >= 0 ? text.slice(0, slash) : text;
    const addr = parseIp(addrText);
    if (addr === null) throw new Error(`bad IP prefix "${cidr}": "${addrText}" is not an IPv4 or IPv6 address`);
    const max = addr.length * 8;
    let len = max;
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(p)) throw new Error(`bad IP prefix "${cidr}": prefix length "${p}" is not a number`);
      len = Number(p);
      if (len > max) throw new Error(`bad IP prefix "${cidr}": prefix length ${len} is out of range 0-${max} for IPv${max === 32 ? 4 : 6}`);
    }

    const w = this.words;
    const v4 = max === 32;
    if (v4) {
      w[0] = wordAt(addr, 0) & V4_MASK[len]!;
    } else {
      for (let k = 0; k < 4; k++) w[k] = wordAt(addr, k * 4) & V6_MASK[len * 4 + k]!;
    }
    const index = v4 ? this.v4 : this.v6;
    const rank = rankOf(rule);
    const seq = this.seq++;
    let id = v4 ? index.find1(len, w[0]!) : index.find4(len, w[0]!, w[1]!, w[2]!, w[3]!);
    if (id < 0) {
      id = this.results.length;
      const prefix = `${v4 ? formatV4(w[0]!) : formatV6(w)}/${len}`;
      this.results.push({ rule, prefix });
      this.ranks.push(rank);
      this.seqs.push(seq);
      this.spans.push(v4 ? 96 + len : len);
      index.insert(len, w, id);
      index.retier(len, -1, tierOf(rank));
      if (!v4) {
        // Overlap with ::ffff:0:0/96 = agreement on the first min(len, 96) bits.
        const m = Math.min(len, 96) * 4;
        if ((w[0]! & V6_MASK[m]!) === 0 && (w[1]! & V6_MASK[m + 1]!) === 0 && w[2]! === (0xffff & V6_MASK[m + 2]!)) this.mappedV6 = true;
      }
    } else if (rank > this.ranks[id]!) {
      // The same prefix from another list (or line): only a stronger rule replaces the first.
      const old = this.ranks[id]!;
      this.results[id] = { rule, prefix: this.results[id]!.prefix };
      this.ranks[id] = rank;
      this.seqs[id] = seq;
      if (tierOf(rank) !== tierOf(old)) index.retier(len, tierOf(old), tierOf(rank));
    }
  }

  /**
   * The rule that decides for `addr`: 4 bytes (IPv4) or 16 bytes (IPv6), network order.
   * Returns the same object for every address the same entry decides. Allocates nothing.
   */
  lookup(addr: Uint8Array): IpPrefixMatch<R> | null {
    if (this.results.length === 0) return null;
    if (addr.length === 4) return this.resultOf(this.best4(wordAt(addr, 0)));
    if (addr.length !== 16) throw new RangeError(`IP address must be 4 or 16 bytes, got ${addr.length}`);
    const a = wordAt(addr, 0);
    const b = wordAt(addr, 4);
    const c = wordAt(addr, 8);
    const d = wordAt(addr, 12);
    if (a === 0 && b === 0 && c === 0xffff) return this.resultOf(this.better(this.mappedV6 ? this.best6(a, b, c, d) : -1, this.best4(d)));
    return this.resultOf(this.best6(a, b, c, d));
  }

  private resultOf(id: number): IpPrefixMatch<R> | null {
    return id < 0 ? null : this.results[id]!;
  }

  /** lookup() for address text ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"); null if not an address. */
  lookupText(ip: string): IpPrefixMatch<R> | null {
    if (this.results.length === 0) return null;
    const addr = parseIp(ip.trim());
    return addr === null ? null : this.lookup(addr);
  }

  private best4(a: number): number {
    const ix = this.v4;
    if (ix.maxTier < 0) return -1;
    const lengths = ix.lengths;
    const tierMax = ix.tierMax;
    let best = -1;
    let bestTier = -1;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      // A shorter prefix can only win by a higher tier.
      if (tierMax[len]! <= bestTier) continue;
      const id = ix.find1(len, a & V4_MASK[len]!);
      if (id < 0) continue;
      const t = tierOf(this.ranks[id]!);
      if (t > bestTier) {
        best = id;
        bestTier = t;
        if (t >= ix.maxTier) break;
      }
    }
    return best;
  }

  private best6(a: number, b: number, c: number, d: number): number {
    const ix = this.v6;
    if (ix.maxTier < 0) return -1;
    const lengths = ix.lengths;
    const tierMax = ix.tierMax;
    let best = -1;
    let bestTier = -1;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      if (tierMax[len]! <= bestTier) continue;
      const m = len * 4;
      const id = ix.find4(len, a & V6_MASK[m]!, b & V6_MASK[m + 1]!, c & V6_MASK[m + 2]!, d & V6_MASK[m + 3]!);
      if (id < 0) continue;
      const t = tierOf(this.ranks[id]!);
      if (t > bestTier) {
        best = id;
        bestTier = t;
        if (t >= ix.maxTier) break;
      }
    }
    return best;
  }

  /** The winner between two entries that both match a mapped address (-1: none). */
  private better(x: number, y: number): number {
    if (x < 0) return y;
    if (y < 0) return x;
    const tx = tierOf(this.ranks[x]!);
    const ty = tierOf(this.ranks[y]!);
    if (tx !== ty) return tx > ty ? x : y;
    if (this.spans[x] !== this.spans[y]) return this.spans[x]! > this.spans[y]! ? x : y;
    // The same prefix written both ways ("1.2.3.4" and "::ffff:1.2.3.4"): as for one prefix.
    if (this.ranks[x] !== this.ranks[y]) return this.ranks[x]! > this.ranks[y]! ? x : y;
    return this.seqs[x]! <= this.seqs[y]! ? x : y;
  }
}

function wordAt(b: Uint8Array, i: number): number {
  return (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
}

function formatV4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}

/**
 * RFC 5952 text: lower-case hex, the first longest run of two or more zero groups as "::".
 * Mapped addresses stay in hex ("::ffff:102:304"), as the URL parser (toCidr) writes them,
 * so that the prefix a match reports reads the same as the lists' own IP entries.
 */
function formatV6(w: ArrayLike<number>): string {
  const g: number[] = [];
  for (let k = 0; k < 4; k++) g.push(w[k]! >>> 16, w[k]! & 0xffff);
  let runStart = -1;
  let runLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > runLen) {
      runStart = i;
      runLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (runLen < 2) return hex(0, 8);
  return `${hex(0, runStart)}::${hex(runStart + runLen, 8)}`;
}

const DEC_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Address text → 4 bytes (IPv4) or 16 bytes (IPv6), or null. Strict: dotted-quad decimal
 * without leading zeros (which some parsers read as octal), no zone id, no brackets.
 */
export function parseIp(text: string): Uint8Array | null {
  if (text.includes(':')) return parseV6(text);
  const out = new Uint8Array(4);
  return parseV4(text, out, 0) ? out : null;
}

function parseV4(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!DEC_OCTET.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

function parseV6(text: string): Uint8Array | null {
  // 39 characters is the longest hex form, 45 with an IPv4 tail.
  if (text.length > 45) return null;
  const out = new Uint8Array(16);
  const gap = text.indexOf('::');
  if (gap >= 0 && text.indexOf('::', gap + 1) >= 0) return null;
  const head = gap >= 0 ? text.slice(0, gap) : text;
  const tail = gap >= 0 ? text.slice(gap + 2) : '';
  const front = head === '' ? [] : head.split(':');
  const back = tail === '' ? [] : tail.split(':');
  // Only the last group of the whole address may be a dotted IPv4 address (2 groups' worth).
  const last = gap >= 0 ? back : front;
  const v4Tail = last.length > 0 && last[last.length - 1]!.includes('.');
  const groups = front.length + back.length + (v4Tail ? 1 : 0);
  if (gap < 0 ? groups !== 8 : groups > 7) return null;

  const put = (list: string[], start: number): boolean => {
    let at = start;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (v4Tail && list === last && i === list.length - 1) {
        if (!parseV4(s, out, at)) return false;
        at += 4;
        continue;
      }
      if (!HEX_GROUP.test(s)) return false;
      const n = parseInt(s, 16);
      out[at] = n >> 8;
      out[at + 1] = n & 255;
      at += 2;
    }
    return true;
  };
  const backBytes = (back.length + (gap >= 0 && v4Tail ? 1 : 0)) * 2;
  if (!put(front, 0) || !put(back, 16 - backBytes)) return null;
  return out;
}
