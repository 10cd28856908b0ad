// The lookup structure: every listed name in an open-addressing hash table, and a query is
// matched by hashing it right to left and probing at each label boundary, shortest suffix first:
// "cdn.msstorageazure.com" probes com, msstorageazure.com, cdn.msstorageazure.com. Those are the
// nodes, in the same order, that a walk down a reversed-label suffix trie visits, in a number of
// probes that depends on the query's label count and not on the list size.
//
// Each listed name (a key) holds, per kind (block/allow), a rule for the name itself and a rule
// for names below it; a subtree rule fills both. Precedence, documented in README "Lists":
//   1. an $important allow, 2. an $important block (most specific first),
//   3. otherwise the most specific rule; on the same name an allow beats a block.
// Rules past their expiry do not match.
//
// Layout (no JS object per name or rule). Rules stay in their RuleSets (columns; names and
// first-seen times in the source's NameTable). The biggest set is the base: its NameTable's ids
// are keys 0..n-1, found through that table's own index (borrowed, not rebuilt), and a key's
// name's end offset (copied from the table) and its slot are a pair of int32 in `baseKeys`, so
// that a probe that finds a candidate key reads one cache line there, not one in the table's end
// offsets and another in a slot array (a cache miss each with a 1M-name list). Names of the
// other sets that the base does not know get keys n.., each a record of 3 int32 [name offset,
// set << 8 | name length, slot], and a small index of their own. A slot holds the key's one rule
// as (row << 8) | flags (the rule is in the set that holds the name; once a lookup has made the
// rule's object, the object's index in `made` instead of the row: F_MADE), or, when a name
// collects more than one rule (an exact and a subtree entry, a block and an allow, the same name
// in two lists), the bitwise complement of an overflow record of 4 (set, row) slots. Index slots
// hold (hash & ~mask) | (id + 1): most probes for other names are refused by those hash bits
// without reading the key, and before the base index a Bloom filter of about a byte a name (the
// base set's, built while compiling) refuses most names that are not listed without touching the
// index at all. For a single list: 8 bytes a name here (and 8 a rule asked for), plus the
// NameTable's ~31 (name bytes, end offset, time code, index), the RuleSet's 9 (name id, line,
// flags) and 1 of filter.
import { bloomAdd, bloomHas, hashBytes, hashFinish, HASH_B, indexCapacity, indexFull, NameTable } from './names.js';
import type { RuleMatch } from './rule.js';
import { F_ALLOW, F_EXPIRES, F_IMPORTANT, F_MATCH, M_BELOW, M_EXACT, RuleSet } from './ruleset.js';

const KEY = 3;
const OV = 8;
// Slots of an overflow record, as (set, row) pairs at these offsets; set -1 = empty.
const BLOCK_SELF = 0;
const BLOCK_BELOW = 2;
const ALLOW_SELF = 4;
const ALLOW_BELOW = 6;
/** Slot of a key with no rule (a base name no rule uses). */
const NONE = 0x7fffffff;
/** A key with one rule keeps it in its slot as (row << 8) | flags, for rows below this. */
const ROW_LIMIT = 1 << 23;
/**
 * In a one-rule slot, beside the rule's flags (bits 0-5): the upper bits are the index of the
 * rule's object in `made` instead of its row (see ruleAt()).
 */
const F_MADE = 0x80;
const MAX_SETS = 1 << 23;
const EMPTY = new Int32Array(0);

/** Which slots a rule fills: bits BLOCK_SELF 1, BLOCK_BELOW 2, ALLOW_SELF 4, ALLOW_BELOW 8. */
function coverage(f: number): number {
  const m = f & F_MATCH;
  const self = m !== M_BELOW ? 1 : 0;
  const below = m !== M_EXACT ? 2 : 0;
  return (self | below) << ((f & F_ALLOW) !== 0 ? 2 : 0);
}

/** Builds a DomainTrie a chunk at a time, so that a server keeps answering while it builds. */
export interface TrieBuild {
  /** Adds up to `budget` more rules; true when every rule is in. */
  step(budget: number): boolean;
  /** The finished structure (call once step() returned true). */
  finish(): DomainTrie;
}

export class DomainTrie {
  private readonly sets: RuleSet[] = [];
  // Base keys: the ids of one set's NameTable.
  private base: NameTable | null = null;
  private baseSet = -1;
  private baseSize = 0;
  private baseIndex: Int32Array = EMPTY;
  private baseMask = 0;
  /** Per base key k: [2k] its name's end offset in the base table's bytes, [2k + 1] its slot. */
  private baseKeys: Int32Array = EMPTY;
  /** Bloom filter of the names with rules among the base keys (null: probe the base always). */
  private filter: Int32Array | null = null;
  private filterShared = false;
  // Own keys (baseSize + j): records and index.
  private keys: Int32Array;
  private nOwn = 0;
  private index: Int32Array;
  private mask: number;
  private ov: Int32Array = EMPTY;
  private nOv = 0;
  /** The key of the empty name (a rule for the root), never probed through an index. */
  private rootKey = -1;
  private count = 0;
  private loose: RuleSet | null = null;
  private looseId = -1;
  // match() scratch: the best rule and the most specific $important block so far, as (set, row).
  // Each with where its key's name starts in the query (the rule's name is the query from there),
  // and for a key with one rule, the key and its slot (else slot -1).
  private bestSet = -1;
  private bestRow = 0;
  private bestAt = 0;
  private bestKey = -1;
  private bestSlot = -1;
  private impSet = -1;
  private impRow = 0;
  private impAt = 0;
  private impKey = -1;
  private impSlot = -1;
  /**
   * Rule objects handed out for keys with one rule, in the order first asked for; such a key's
   * slot then holds the index here (F_MADE), and madeRows the row it held before.
   */
  private readonly made: RuleMatch[] = [];
  private readonly madeRows: number[] = [];
  /**
   * The clock of the match in progress: the caller's `now`, else NaN until an expiring rule is
   * met (see clock()).
   */
  private now = NaN;
  /** The slot of the key find() last returned, read there (see find()). */
  private foundSlot = NONE;

  constructor(expectedNames = 0) {
    const n = Math.max(8, expectedNames);
    this.keys = new Int32Array(n * KEY);
    const cap = indexCapacity(n);
    this.index = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /**
   * A structure over several sources. Rules are taken in order (the sources', then each source's
   * rows): when a slot is taken the first rule stays, unless the new one is $important and the
   * old one is not, or the old one expires and the new one does not.
   */
  static fromSets(sets: readonly RuleSet[]): DomainTrie {
    const b = DomainTrie.builder(sets);
    b.step(Infinity);
    return b.finish();
  }

  /** fromSets() a chunk at a time. */
  static builder(sets: readonly RuleSet[]): TrieBuild {
    let total = 0;
    let biggest = -1;
    for (let i = 0; i < sets.length; i++) {
      total += sets[i]!.length;
      if (sets[i]!.length > 0 && (biggest < 0 || sets[i]!.length > sets[biggest]!.length)) biggest = i;
    }
    const trie = new DomainTrie(total - (biggest >= 0 ? sets[biggest]!.length : 0));
    const ids = sets.map((s) => trie.register(s));
    if (biggest >= 0) trie.useBase(ids[biggest]!);
    let i = 0;
    let row = 0;
    return {
      step(budget: number): boolean {
        let left = budget;
        while (i < sets.length) {
          const s = sets[i]!;
          const id = ids[i]!;
          const end = Math.min(s.length, row + left);
          left -= end - row;
          for (; row < end; row++) trie.addRow(id, row);
          if (row < s.length) return false;
          i++;
          row = 0;
        }
        return true;
      },
      finish(): DomainTrie {
        trie.compact();
        return trie;
      },
    };
  }

  /** Distinct rules stored (a duplicate of an existing rule does not count). */
  get size(): number {
    return this.count;
  }

  /**
   * Adds one ready-made rule, after every rule already in (match() then returns this very
   * object). When a slot is taken the first rule stays, unless the new one is $important and
   * the old one is not, or the old one expires and the new one does not.
   */
  add(rule: RuleMatch): void {
    if (this.loose === null) {
      this.loose = new RuleSet(new NameTable(), { list: '', action: null, tags: [], maxAgeMs: 0 });
      this.looseId = this.register(this.loose);
    }
    this.addRow(this.looseId, this.loose.pushRule(rule));
  }

  /**
   * The rule deciding `name` (lower case, no trailing dot), or null when none applies. Rules past
   * their expiry at `now` (epoch ms; default: the time of the call) do not match.
   */
  match(name: string, now = NaN): RuleMatch | null {
    this.now = now;
    this.bestSet = -1;
    this.impSet = -1;
    const len = name.length;
    if (this.rootKey >= 0 && this.visit(this.rootKey, this.rawSlot(this.rootKey), len === 0, len)) return this.best(name);
    if (len > 0 && this.baseSize + this.nOwn > 0) {
      // Right to left: h is the hash of name[i + 1, len) when name[i] is a dot.
      let h = 0;
      let pow = 1;
      for (let i = len - 1; i > 0; i--) {
        const c = name.charCodeAt(i);
        if (c === 46 && i + 1 < len) {
          const k = this.find(hashFinish(h), name, i + 1, len);
          if (k >= 0 && this.visit(k, this.foundSlot, false, i + 1)) return this.best(name);
        }
        h = (h + Math.imul(c, pow)) | 0;
        pow = Math.imul(pow, HASH_B);
      }
      // The whole name; a leading dot is ignored (".com" is looked up as "com", as a walk
      // down the labels would).
      let k = -1;
      const at = name.charCodeAt(0) !== 46 ? 0 : 1;
      if (at === 0) k = this.find(hashFinish((h + Math.imul(name.charCodeAt(0), pow)) | 0), name, 0, len);
      else if (len > 1) k = this.find(hashFinish(h), name, 1, len);
      if (k >= 0 && this.visit(k, this.foundSlot, true, at)) return this.best(name);
    }
    if (this.impSet >= 0) return this.ruleAt(this.impSet, this.impRow, this.impKey, this.impSlot, name, this.impAt);
    if (this.bestSet >= 0) return this.best(name);
    return null;
  }

  /** The best rule found for `name` (bestSet/bestRow), as an object. */
  private best(name: string): RuleMatch {
    return this.ruleAt(this.bestSet, this.bestRow, this.bestKey, this.bestSlot, name, this.bestAt);
  }

  /**
   * Rule (s, row) as an object, for a lookup of `name` whose part from `at` on is the rule's name;
   * v: the slot of key k when it holds that one rule, else -1. A one-rule key's slot is then
   * pointed at the object (in `made`, unless the rule expires: its row is read for that), so the
   * next lookup takes it from that array, dense and small, instead of from the set's pages, where
   * with a 1M-rule list it is a cache miss of its own. The set keeps the object too: the same
   * object either way.
   */
  private ruleAt(s: number, row: number, k: number, v: number, name: string, at: number): RuleMatch {
    if (v >= 0 && (v & F_MADE) !== 0) return this.made[v >>> 8]!;
    const r = this.sets[s]!.ruleNamed(row, name, at);
    if (v >= 0 && (v & F_EXPIRES) === 0 && this.made.length < ROW_LIMIT) {
      this.setSlot(k, (this.made.length << 8) | (v & 0xff) | F_MADE);
      this.made.push(r);
      this.madeRows.push(row);
    }
    return r;
  }

  /** Bytes held by this structure's own typed arrays (not the sets' columns and names). */
  get memoryBytes(): number {
    return this.baseKeys.byteLength + this.keys.byteLength + this.index.byteLength + this.ov.byteLength;
  }

  /**
   * Applies key k's rules (its slot v; its name is the query's from `at` on) for `exact` (the query
   * is the key's name) or not (the query is below it). Returns true when an $important allow
   * decides (it is then in bestSet/bestRow).
   */
  private visit(k: number, v: number, exact: boolean, at: number): boolean {
    const own = k >= this.baseSize;
    if (v === NONE) return false;
    if (v >= 0) {
      const f = v & 0xff;
      const m = f & F_MATCH;
      if (exact ? m === M_BELOW : m === M_EXACT) return false;
      const s = own ? this.keys[(k - this.baseSize) * KEY + 1]! >>> 8 : this.baseSet;
      const row = v >>> 8;
      if ((f & F_EXPIRES) !== 0 && !(this.sets[s]!.expiresAt(row) > this.clock())) return false;
      this.bestSet = s;
      this.bestRow = row;
      this.bestAt = at;
      this.bestKey = k;
      this.bestSlot = v;
      if ((f & F_IMPORTANT) !== 0) {
        if ((f & F_ALLOW) !== 0) return true;
        this.impSet = s;
        this.impRow = row;
        this.impAt = at;
        this.impKey = k;
        this.impSlot = v;
      }
      return false;
    }
    const o = ~v * OV;
    const ov = this.ov;
    let aS = ov[o + (exact ? ALLOW_SELF : ALLOW_BELOW)]!;
    const aR = ov[o + (exact ? ALLOW_SELF : ALLOW_BELOW) + 1]!;
    if (aS >= 0 && !this.live(aS, aR)) aS = -1;
    if (aS >= 0 && (this.sets[aS]!.flags[aR]! & F_IMPORTANT) !== 0) {
      this.bestSet = aS;
      this.bestRow = aR;
      this.bestAt = at;
      this.bestSlot = -1;
      return true;
    }
    let bS = ov[o + (exact ? BLOCK_SELF : BLOCK_BELOW)]!;
    const bR = ov[o + (exact ? BLOCK_SELF : BLOCK_BELOW) + 1]!;
    if (bS >= 0 && !this.live(bS, bR)) bS = -1;
    if (aS >= 0) {
      this.bestSet = aS;
      this.bestRow = aR;
      this.bestAt = at;
      this.bestSlot = -1;
    } else if (bS >= 0) {
      this.bestSet = bS;
      this.bestRow = bR;
      this.bestAt = at;
      this.bestSlot = -1;
    }
    if (bS >= 0 && (this.sets[bS]!.flags[bR]! & F_IMPORTANT) !== 0) {
      this.impSet = bS;
      this.impRow = bR;
      this.impAt = at;
      this.impSlot = -1;
    }
    return false;
  }

  private live(s: number, row: number): boolean {
    const rs = this.sets[s]!;
    return (rs.flags[row]! & F_EXPIRES) === 0 || rs.expiresAt(row) > this.clock();
  }

  /**
   * The match's clock, read from Date.now() the first time an expiring rule asks for it: most
   * lookups meet none, and reading it for every one cost ~190 instructions and a heap number
   * per lookup (Date.now() is a runtime call), i.e. per query, as the policy stage asks once.
   */
  private clock(): number {
    if (this.now !== this.now) this.now = Date.now();
    return this.now;
  }

  /**
   * Key of name[start, end) (hash h), or -1; the key's slot is left in foundSlot. The slot is
   * read as soon as a candidate key is known, before its name is compared: with a big list each
   * is a cache miss of its own, and that way the slot's and the name's overlap instead of
   * following one another (index, then end offsets and slot together, then the name's bytes).
   */
  private find(h: number, name: string, start: number, end: number): number {
    const len = end - start;
    if (this.baseSize > 0 && (this.filter === null || bloomHas(this.filter, h))) {
      const index = this.baseIndex;
      const mask = this.baseMask;
      const buf = this.base!.bytes;
      const keys = this.baseKeys;
      for (let i = h & mask; ; i = (i + 1) & mask) {
        const v = index[i]!;
        if (v === 0) break;
        if (((v ^ h) & ~mask) !== 0) continue;
        const k = (v & mask) - 1;
        const at = k * 2;
        const slot = keys[at + 1]!;
        // The name starts where the previous key's ends: the pair before, most often in the same line.
        let p = k === 0 ? 0 : keys[at - 2]!;
        if (keys[at]! - p !== len) continue;
        let j = start;
        while (j < end && buf[p] === name.charCodeAt(j)) {
          p++;
          j++;
        }
        if (j === end) {
          this.foundSlot = slot;
          return k;
        }
      }
    }
    if (this.nOwn === 0) return -1;
    const index = this.index;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      if (((v ^ h) & ~mask) !== 0) continue;
      const r = ((v & mask) - 1) * KEY;
      const sl = this.keys[r + 1]!;
      const slot = this.keys[r + 2]!;
      if ((sl & 0xff) !== len) continue;
      const buf = this.sets[sl >>> 8]!.dict.bytes;
      let p = this.keys[r]!;
      let j = start;
      while (j < end && buf[p] === name.charCodeAt(j)) {
        p++;
        j++;
      }
      if (j === end) {
        this.foundSlot = slot;
        return this.baseSize + (v & mask) - 1;
      }
    }
  }

  /**
   * Key of the name b[start, end) (hash h), or -1. A twin of find() over bytes instead of a
   * string: kept separate so each stays monomorphic on the lookup path.
   */
  private findBytes(h: number, b: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.baseSize > 0) {
      const index = this.baseIndex;
      const mask = this.baseMask;
      const buf = this.base!.bytes;
      const keys = this.baseKeys;
      for (let i = h & mask; ; i = (i + 1) & mask) {
        const v = index[i]!;
        if (v === 0) break;
        if (((v ^ h) & ~mask) !== 0) continue;
        const k = (v & mask) - 1;
        let p = k === 0 ? 0 : keys[k * 2 - 2]!;
        if (keys[k * 2]! - p !== len) continue;
        let j = start;
        while (j < end && buf[p] === b[j]) {
          p++;
          j++;
        }
        if (j === end) return k;
      }
    }
    if (this.nOwn === 0) return -1;
    const index = this.index;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      if (((v ^ h) & ~mask) !== 0) continue;
      const r = ((v & mask) - 1) * KEY;
      const sl = this.keys[r + 1]!;
      if ((sl & 0xff) !== len) continue;
      const buf = this.sets[sl >>> 8]!.dict.bytes;
      let p = this.keys[r]!;
      let j = start;
      while (j < end && buf[p] === b[j]) {
        p++;
        j++;
      }
      if (j === end) return this.baseSize + (v & mask) - 1;
    }
  }

  private register(rs: RuleSet): number {
    if (this.sets.length >= MAX_SETS) throw new RangeError('too many rule sets in one structure');
    this.sets.push(rs);
    return this.sets.length - 1;
  }

  /** Makes set s's names the base keys, through its NameTable's own index. */
  private useBase(s: number): void {
    const dict = this.sets[s]!.dict;
    this.base = dict;
    this.baseSet = s;
    this.baseIndex = dict.lendIndex();
    this.baseMask = this.baseIndex.length - 1;
    this.baseSize = dict.size;
    // The table only appends: the end offsets of ids below baseSize never change (as for the
    // borrowed index, nothing rolls the table back below a size a live structure was built at).
    const ends = dict.endOffsets;
    const keys = new Int32Array(this.baseSize * 2);
    for (let k = 0; k < this.baseSize; k++) {
      keys[k * 2] = ends[k]!;
      keys[k * 2 + 1] = NONE;
    }
    this.baseKeys = keys;
    this.filter = this.sets[s]!.filter;
    this.filterShared = true;
  }

  /** The slot of key k as stored (a one-rule slot may hold F_MADE: see ruleAt()). */
  private rawSlot(k: number): number {
    return k < this.baseSize ? this.baseKeys[k * 2 + 1]! : this.keys[(k - this.baseSize) * KEY + 2]!;
  }

  /** The slot of key k with its rule's row (what place() reads: add() may come after lookups). */
  private slot(k: number): number {
    const v = this.rawSlot(k);
    return v >= 0 && v !== NONE && (v & F_MADE) !== 0 ? (this.madeRows[v >>> 8]! << 8) | (v & 0xff & ~F_MADE) : v;
  }

  private setSlot(k: number, v: number): void {
    if (k < this.baseSize) this.baseKeys[k * 2 + 1] = v;
    else this.keys[(k - this.baseSize) * KEY + 2] = v;
  }

  /** The set holding key k's name (and its rule, when it has exactly one). */
  private nameSet(k: number): number {
    return k < this.baseSize ? this.baseSet : this.keys[(k - this.baseSize) * KEY + 1]! >>> 8;
  }

  /** Adds row `row` of set `s` (after every rule already in). */
  private addRow(s: number, row: number): void {
    const rs = this.sets[s]!;
    const dict = rs.dict;
    const id = rs.nameIds[row]!;
    const start = dict.start(id);
    const end = dict.end(id);
    let k: number;
    if (start === end) {
      k = this.rootKey;
      if (k < 0) {
        k = s === this.baseSet ? id : this.newKey(0, s, start, 0, false);
        this.rootKey = k;
      }
    } else if (s === this.baseSet) k = id;
    else {
      const h = hashBytes(dict.bytes, start, end);
      k = this.findBytes(h, dict.bytes, start, end);
      if (k < 0) k = this.newKey(h, s, start, end - start, true);
      else if (k < this.baseSize && this.filter !== null) {
        // A base name that the base set's filter may not know (it has no rule there).
        if (this.filterShared) {
          this.filter = this.filter.slice();
          this.filterShared = false;
        }
        bloomAdd(this.filter, h);
      }
    }
    this.place(k, s, row);
  }

  /** Puts rule (s, row) into the slots of key k. */
  private place(k: number, s: number, row: number): void {
    const f = this.sets[s]!.flags[row]!;
    const cov = coverage(f);
    const single = this.nameSet(k) === s && row < ROW_LIMIT;
    const v = this.slot(k);
    let o: number;
    if (v === NONE) {
      this.count++;
      if (single) {
        this.setSlot(k, (row << 8) | f);
        return;
      }
      o = this.newOverflow();
      this.setSlot(k, ~(o / OV));
    } else if (v >= 0) {
      const s0 = this.nameSet(k);
      const row0 = v >>> 8;
      const cov0 = coverage(v & 0xff);
      if (cov0 === cov && single) {
        // The same slots: the key keeps one rule, the first unless the new one outranks it.
        if (this.replaces(s0, row0, s, row)) this.setSlot(k, (row << 8) | f);
        return;
      }
      o = this.newOverflow();
      for (let slot = 0; slot < 4; slot++) {
        if ((cov0 & (1 << slot)) !== 0) {
          this.ov[o + 2 * slot] = s0;
          this.ov[o + 2 * slot + 1] = row0;
        }
      }
      this.setSlot(k, ~(o / OV));
    } else o = ~v * OV;
    let stored = false;
    for (let slot = 0; slot < 4; slot++) {
      if ((cov & (1 << slot)) === 0) continue;
      const p = o + 2 * slot;
      const oldS = this.ov[p]!;
      if (oldS < 0) stored = true;
      else if (!this.replaces(oldS, this.ov[p + 1]!, s, row)) continue;
      this.ov[p] = s;
      this.ov[p + 1] = row;
    }
    if (stored && v !== NONE) this.count++;
  }

  /** Whether rule (s, row) takes a slot held by (oldS, oldRow). */
  private replaces(oldS: number, oldRow: number, s: number, row: number): boolean {
    const a = this.sets[oldS]!;
    const b = this.sets[s]!;
    if ((b.flags[row]! & F_IMPORTANT) !== 0 && (a.flags[oldRow]! & F_IMPORTANT) === 0) return true;
    return a.expiresAt(oldRow) !== 0 && b.expiresAt(row) === 0;
  }

  /** A new own key for a name of set s (no rule yet). */
  private newKey(h: number, s: number, start: number, len: number, indexed: boolean): number {
    if ((this.nOwn + 1) * KEY > this.keys.length) {
      const k = new Int32Array(Math.max(16, Math.ceil(this.nOwn * 1.5)) * KEY);
      k.set(this.keys.subarray(0, this.nOwn * KEY));
      this.keys = k;
    }
    if (indexed && indexFull(this.nOwn, this.index.length)) this.rebuildIndex(this.index.length * 2);
    const j = this.nOwn++;
    const r = j * KEY;
    this.keys[r] = start;
    this.keys[r + 1] = (s << 8) | len;
    this.keys[r + 2] = NONE;
    if (indexed) this.insertSlot(h, j);
    return this.baseSize + j;
  }

  private insertSlot(h: number, j: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = (h & ~mask) | (j + 1);
  }

  private rebuildIndex(cap: number): void {
    this.index = new Int32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < this.nOwn; j++) {
      if (this.baseSize + j === this.rootKey) continue;
      const r = j * KEY;
      const sl = this.keys[r + 1]!;
      const start = this.keys[r]!;
      this.insertSlot(hashBytes(this.sets[sl >>> 8]!.dict.bytes, start, start + (sl & 0xff)), j);
    }
  }

  private newOverflow(): number {
    if ((this.nOv + 1) * OV > this.ov.length) {
      const o = new Int32Array(Math.max(16, this.nOv * 2) * OV).fill(-1);
      o.set(this.ov.subarray(0, this.nOv * OV));
      this.ov = o;
    }
    return this.nOv++ * OV;
  }

  /** Trims the arrays to their content; a much oversized own index is rebuilt smaller. */
  private compact(): void {
    if (this.keys.length > (this.nOwn + 16) * KEY) this.keys = this.keys.slice(0, this.nOwn * KEY);
    if (this.ov.length > (this.nOv + 16) * OV) this.ov = this.ov.slice(0, this.nOv * OV);
    const want = indexCapacity(this.nOwn);
    if (this.index.length > want) this.rebuildIndex(want);
  }
}
