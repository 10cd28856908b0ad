// The rules one source compiled to, in columns: per rule a name id (into the source's NameTable,
// which also holds each name's first-seen time), the line, and one byte of flags (kind, match
// mode, $important, how it expires). What few rules carry more (an RPZ action, a STIX id, entry
// tags, a feed's own expiry) keeps it in a sparse map. A RuleMatch object is made only when
// asked for, and kept per rule, so a lookup hands out the same object for the same rule.
import { bloomAdd, bloomFilter, type NameTable } from './names.js';
import type { EntryAction, MatchMode, RuleMatch } from './rule.js';

export const F_ALLOW = 1;
/** Match mode, bits 1–2: subtree 0, exact 2, below 4. */
export const F_MATCH = 6;
export const M_SUBTREE = 0;
export const M_EXACT = 2;
export const M_BELOW = 4;
export const F_IMPORTANT = 8;
/** Expires maxAge after the name was first seen. */
export const F_EXP_AGE = 16;
/** Expires at its own time (kept in the sparse extras). */
export const F_EXP_OWN = 32;
export const F_EXPIRES = F_EXP_AGE | F_EXP_OWN;

const MODES: readonly MatchMode[] = ['subtree', 'exact', 'below'];
/** Rows per page of made rule objects (4,096: a page is 16 KiB of pointers). */
const PAGE_BITS = 12;
const PAGE_MASK = (1 << PAGE_BITS) - 1;

export function matchFlag(m: MatchMode): number {
  return m === 'exact' ? M_EXACT : m === 'below' ? M_BELOW : M_SUBTREE;
}

/** What few rules carry beyond the columns. */
export interface RowExtras {
  action?: EntryAction;
  ref?: string;
  /** Entry-level tags (non-empty), added after the list's tags. */
  tags?: readonly string[];
  expiresAt?: number;
}

/** Provenance shared by every rule of a set. */
export interface RuleSetInfo {
  list: string;
  /** The list's own action, or null for the configured default. */
  action: EntryAction | null;
  tags: readonly string[];
  /** A rule with F_EXP_AGE expires this long after its name was first seen. */
  maxAgeMs: number;
}

/** A RuleSet's columns and extras, to cross between threads (its names travel as the table's parts). */
export interface RuleSetParts {
  info: RuleSetInfo;
  n: number;
  nameIds: Int32Array;
  lines: Int32Array;
  flags: Uint8Array;
  filter: Int32Array | null;
  extras: Map<number, RowExtras> | null;
}

export class RuleSet implements Iterable<RuleMatch> {
  /** Per rule: the name's id in `dict`. Read-only outside this class (replaced when it grows). */
  nameIds: Int32Array;
  /** Per rule: 1-based line in the source (0 when the format has no lines). */
  lines: Int32Array;
  /** Per rule: F_* bits. */
  flags: Uint8Array;
  /** Bloom filter of the rules' name hashes (see names.ts), or null: a lookup then always probes. */
  filter: Int32Array | null = null;
  private n = 0;
  private extras: Map<number, RowExtras> | null = null;
  /** Rules made as objects, in pages of PAGE rows made when first needed (see made()). */
  private readonly pages: (RuleMatch | undefined)[][] = [];

  constructor(
    readonly dict: NameTable,
    readonly info: RuleSetInfo,
    capacity = 16,
  ) {
    const c = Math.max(16, capacity);
    this.nameIds = new Int32Array(c);
    this.lines = new Int32Array(c);
    this.flags = new Uint8Array(c);
  }

  /** The columns as parts sharing this set's buffers; rules already made as objects are not part of it. */
  toParts(): RuleSetParts {
    return { info: this.info, n: this.n, nameIds: this.nameIds, lines: this.lines, flags: this.flags, filter: this.filter, extras: this.extras };
  }

  /** A set over these parts (taken, not copied) whose names are in `dict`. */
  static fromParts(dict: NameTable, p: RuleSetParts): RuleSet {
    const r = new RuleSet(dict, p.info, 0);
    r.nameIds = p.nameIds;
    r.lines = p.lines;
    r.flags = p.flags;
    r.filter = p.filter;
    r.n = p.n;
    r.extras = p.extras;
    return r;
  }

  /** The buffers of parts, for a transfer list. */
  static transferables(p: RuleSetParts): ArrayBuffer[] {
    return [...new Set([p.nameIds, p.lines, p.flags, p.filter].filter((a) => a !== null).map((a) => a.buffer as ArrayBuffer))];
  }

  /** Number of rules (every accepted entry, duplicates included). */
  get length(): number {
    return this.n;
  }

  push(nameId: number, line: number, flags: number, extras: RowExtras | null): number {
    if (this.n === this.nameIds.length) this.grow(Math.ceil(this.n * 1.5));
    const row = this.n++;
    this.nameIds[row] = nameId;
    this.lines[row] = line;
    this.flags[row] = flags;
    if (extras !== null) (this.extras ??= new Map()).set(row, extras);
    return row;
  }

  /** Adds a ready-made rule; rule(row) returns that very object. */
  pushRule(r: RuleMatch): number {
    const id = this.dict.intern(r.rule, 0, r.rule.length, r.firstSeen);
    let f = (r.kind === 'allow' ? F_ALLOW : 0) | matchFlag(r.match) | (r.important ? F_IMPORTANT : 0);
    if (r.expiresAt !== 0) f |= F_EXP_OWN;
    const row = this.push(id, r.line, f, r.expiresAt !== 0 ? { expiresAt: r.expiresAt } : null);
    this.keep(row, r);
    return row;
  }

  /** Starts the filter, sized for about n names; every rule's name must then be added (addHash). */
  initFilter(n: number): void {
    this.filter = bloomFilter(n);
  }

  /** Adds a rule's name hash (hashRange) to the filter. */
  addHash(h: number): void {
    if (this.filter !== null) bloomAdd(this.filter, h);
  }

  /** Trims the columns to their content. */
  seal(): this {
    if (this.nameIds.length > this.n + 16) this.grow(this.n);
    return this;
  }

  name(row: number): string {
    return this.dict.name(this.nameIds[row]!);
  }

  kind(row: number): 'block' | 'allow' {
    return (this.flags[row]! & F_ALLOW) !== 0 ? 'allow' : 'block';
  }

  matchMode(row: number): MatchMode {
    return MODES[(this.flags[row]! & F_MATCH) >> 1]!;
  }

  action(row: number): EntryAction | null {
    return this.extras?.get(row)?.action ?? this.info.action;
  }

  firstSeen(row: number): number {
    return this.dict.time(this.nameIds[row]!);
  }

  /** Epoch ms after which the rule stops matching; 0 = never. */
  expiresAt(row: number): number {
    const f = this.flags[row]!;
    if ((f & F_EXPIRES) === 0) return 0;
    if ((f & F_EXP_OWN) !== 0) return this.extras!.get(row)!.expiresAt!;
    return this.dict.time(this.nameIds[row]!) + this.info.maxAgeMs;
  }

  /** The rule as an object, made once and kept: the same object every time for the same row. */
  rule(row: number): RuleMatch {
    let r = this.made(row);
    if (r === undefined) {
      r = this.materialise(row);
      this.keep(row, r);
    }
    return r;
  }

  /**
   * rule(row) for a lookup of `query` whose part from `at` on is this row's name (the lookup has
   * just compared them): a rule first asked for takes its name from the query (a copy, or for 13
   * characters or more a slice that keeps the query's text alive with the rule) instead of
   * decoding it from the table, a call into C++ per rule first asked for, which with a 1M-name
   * list is nearly every blocked query the first time round.
   */
  ruleNamed(row: number, query: string, at: number): RuleMatch {
    let r = this.made(row);
    if (r === undefined) {
      r = this.materialise(row, at === 0 ? query : query.slice(at));
      this.keep(row, r);
    }
    return r;
  }

  /** Every rule in order; rules not asked for before are made fresh and not kept. */
  *[Symbol.iterator](): IterableIterator<RuleMatch> {
    for (let row = 0; row < this.n; row++) yield this.made(row) ?? this.materialise(row);
  }

  map<T>(fn: (r: RuleMatch, row: number) => T): T[] {
    const out: T[] = new Array<T>(this.n);
    for (let row = 0; row < this.n; row++) out[row] = fn(this.made(row) ?? this.materialise(row), row);
    return out;
  }

  /** Bytes held by the columns (the names are in `dict`). */
  get memoryBytes(): number {
    return this.nameIds.byteLength + this.lines.byteLength + this.flags.byteLength;
  }

  /**
   * The object made for a row, if any. Pages of plain arrays, not a Map keyed by row: with a 1M-rule
   * list nearly every blocked name is a rule first asked for, and each of those grew and rehashed
   * the Map (an array of 1M is no better: V8 keeps one that large as a dictionary).
   */
  private made(row: number): RuleMatch | undefined {
    return this.pages[row >>> PAGE_BITS]?.[row & PAGE_MASK];
  }

  private keep(row: number, r: RuleMatch): void {
    (this.pages[row >>> PAGE_BITS] ??= new Array<RuleMatch | undefined>(1 << PAGE_BITS))[row & PAGE_MASK] = r;
  }

  /** The rule as a new object; `name`: its name's text when the caller has it. */
  private materialise(row: number, name?: string): RuleMatch {
    const id = this.nameIds[row]!;
    const f = this.flags[row]!;
    const x = this.extras?.get(row);
    return {
      kind: (f & F_ALLOW) !== 0 ? 'allow' : 'block',
      list: this.info.list,
      rule: name ?? this.dict.name(id),
      match: MODES[(f & F_MATCH) >> 1]!,
      line: this.lines[row]!,
      action: x?.action ?? this.info.action,
      important: (f & F_IMPORTANT) !== 0,
      labels: this.dict.labels(id),
      ref: x?.ref ?? null,
      tags: x?.tags !== undefined ? [...this.info.tags, ...x.tags] : this.info.tags,
      expiresAt: this.expiresAt(row),
      firstSeen: this.dict.time(id),
    };
  }

  private grow(cap: number): void {
    const c = Math.max(16, cap);
    const ids = new Int32Array(c);
    ids.set(this.nameIds.subarray(0, this.n));
    const lines = new Int32Array(c);
    lines.set(this.lines.subarray(0, this.n));
    const flags = new Uint8Array(c);
    flags.set(this.flags.subarray(0, this.n));
    this.nameIds = ids;
    this.lines = lines;
    this.flags = flags;
  }
}
