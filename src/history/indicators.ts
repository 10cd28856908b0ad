// What a hunt searches for: a set of names (each matches itself and its subdomains), each with the
// time before which its queries count (a retro-hunt: when the name was blocked). Names come from
// the configured lists (as loaded by the FeedManager), from a file, or one by one, and are read
// by the blocklist's own parsers and normaliser, so a hunt reads a name exactly as a list does.
//
// No JS object per name: the names are packed in a NameTable (an indicator is its id there, its
// cutoff the table's time), copied byte for byte from the lists' own tables when they come from
// there, and matched by the blocklist's lookup structure (a DomainTrie over one subtree block rule
// per indicator). The retro-hunt preparation scans the lists' rule columns and copies only the
// names first seen since the last hunt: a million-name list with ten new names costs ten names.
import { readFile } from 'node:fs/promises';
import { normalizeDomain } from '../blocklist/domain.js';
import { classifyToken, refang } from '../blocklist/ioc.js';
import { hashBytes, NameTable } from '../blocklist/names.js';
import { detectFormat } from '../blocklist/parsers/index.js';
import { parseIocText } from '../blocklist/parsers/ioc-text.js';
import { parsePlain } from '../blocklist/parsers/plain.js';
import { ParseReport } from '../blocklist/parsers/report.js';
import { F_ALLOW, M_SUBTREE, RuleSet } from '../blocklist/ruleset.js';
import { DomainTrie } from '../blocklist/trie.js';
import type { SourceState } from '../feeds/manager.js';
import type { Slices } from './slices.js';

/** Rule rows scanned between two looks at the clock: well under a slice even before V8 optimises. */
const ROWS = 4096;
/** Names copied, looked up or put in the lookup between two looks at the clock (~1 µs each or more). */
const ITEMS = 512;

export interface RejectedIndicator {
  /** The indicator as given. */
  name: string;
  reason: string;
}

/** The lookup built over a frozen set: the trie, and the indicators' rules in it. */
export interface IndicatorLookup {
  readonly trie: DomainTrie;
  readonly rules: RuleSet;
  /** Per live indicator, in id order: its name's hash (hashBytes, as the trie hashes names). */
  readonly hashes: Int32Array;
  /** Labels of the longest indicator. */
  readonly maxLabels: number;
}

/**
 * Normalised names, each with a cutoff (epoch ms, exclusive: only queries before it count;
 * Infinity for none). Adding a name twice keeps the earlier cutoff. An indicator's id is its id
 * in `names`; `drop` takes one out for good (ids stay).
 */
export class IndicatorSet {
  readonly names: NameTable;
  /** Names refused by the normaliser, with the reason, in the order given. */
  readonly rejected: RejectedIndicator[] = [];
  private dead: Uint8Array | null = null;
  private dropped = 0;
  private lookup: IndicatorLookup | null = null;

  constructor(expectedNames = 16) {
    this.names = new NameTable(expectedNames, expectedNames * 24);
  }

  /**
   * A set of raw names (any case, trailing dot, IDN), normalised as list entries are, all with the
   * same cutoff or one each (a name the map lacks gets `missing`).
   */
  static fromNames(raw: Iterable<string>, cutoff: number | ReadonlyMap<string, number> = Infinity, missing = Infinity): IndicatorSet {
    const set = new IndicatorSet();
    if (typeof cutoff === 'number') {
      for (const r of raw) set.addRaw(r, cutoff);
      return set;
    }
    // Cutoffs are keyed by the names as given; a name given in two spellings keeps the earlier.
    const byName = new Map<string, number>();
    for (const [k, v] of cutoff) {
      const n = normalizeDomain(k);
      if (!n.ok) continue;
      const prev = byName.get(n.name);
      if (prev === undefined || v < prev) byName.set(n.name, v);
    }
    for (const r of raw) {
      const n = normalizeDomain(r);
      if (!n.ok) set.rejected.push({ name: r, reason: n.reason });
      else set.add(n.name, byName.get(n.name) ?? missing);
    }
    return set;
  }

  /** Live indicators. */
  get size(): number {
    return this.names.size - this.dropped;
  }

  /** Adds a name already in normalised form (normalizeDomain's output); returns its id. */
  add(name: string, cutoff = Infinity): number {
    const before = this.names.size;
    const id = this.names.intern(name, 0, name.length, cutoff);
    if (id < before) this.lower(id, cutoff);
    return id;
  }

  /** Adds the normalised name b[start, end) (another NameTable's bytes), hash h = hashBytes; returns its id. */
  addBytes(h: number, b: Uint8Array, start: number, end: number, cutoff: number): number {
    const before = this.names.size;
    const id = this.names.internBytes(h, b, start, end, cutoff);
    if (id < before) this.lower(id, cutoff);
    return id;
  }

  /** Normalises `raw` as a list entry is (normalizeDomain) and adds it, or records why not. */
  addRaw(raw: string, cutoff = Infinity): boolean {
    const n = normalizeDomain(raw);
    if (!n.ok) {
      this.rejected.push({ name: raw, reason: n.reason });
      return false;
    }
    this.add(n.name, cutoff);
    return true;
  }

  private lower(id: number, cutoff: number): void {
    if (cutoff < this.names.time(id)) this.names.setTime(id, cutoff);
  }

  drop(id: number): void {
    if (this.dead === null) this.dead = new Uint8Array(this.names.size);
    else if (this.dead.length < this.names.size) {
      const d = new Uint8Array(this.names.size);
      d.set(this.dead);
      this.dead = d;
    }
    if (this.dead[id] === 1) return;
    this.dead[id] = 1;
    this.dropped++;
  }

  isLive(id: number): boolean {
    return id >= 0 && id < this.names.size && (this.dead === null || this.dead[id] !== 1);
  }

  name(id: number): string {
    return this.names.name(id);
  }

  cutoff(id: number): number {
    return this.names.time(id);
  }

  /** Id of a live indicator by name (normalised), or -1. */
  find(name: string): number {
    const id = this.names.find(name, 0, name.length);
    return this.isLive(id) ? id : -1;
  }

  /** [name, cutoff] of every live indicator, in id order. */
  *entries(): IterableIterator<[string, number]> {
    for (let id = 0; id < this.names.size; id++) if (this.isLive(id)) yield [this.names.name(id), this.names.time(id)];
  }

  /**
   * The lookup over the live indicators: one subtree block rule each, in the blocklist's own
   * structure (a more specific indicator wins, as a more specific rule does); a rule's `line` is
   * its indicator's id + 1. Built once; the set
   * must not change afterwards. With `slices`, gives the event loop a turn every slice.
   */
  async build(slices?: Slices): Promise<IndicatorLookup> {
    if (this.lookup !== null) return this.lookup;
    const names = this.names;
    const rules = new RuleSet(names, { list: 'hunt', action: null, tags: [], maxAgeMs: 0 }, this.size);
    rules.initFilter(this.size);
    const hashes = new Int32Array(this.size);
    let maxLabels = 0;
    for (let from = 0, k = 0; from < names.size; from += ITEMS) {
      const to = Math.min(names.size, from + ITEMS);
      for (let id = from; id < to; id++) {
        if (!this.isLive(id)) continue;
        const bytes = names.bytes;
        const s = names.start(id);
        const e = names.end(id);
        const h = hashBytes(bytes, s, e);
        rules.push(id, id + 1, M_SUBTREE, null); // line: the indicator's id + 1 (the trie's match gives it back)
        rules.addHash(h);
        hashes[k++] = h;
        let labels = 1;
        for (let i = s; i < e; i++) if (bytes[i] === 46) labels++;
        if (labels > maxLabels) maxLabels = labels;
      }
      await slices?.check();
    }
    rules.seal();
    const b = DomainTrie.builder([rules]);
    while (!b.step(slices !== undefined ? ITEMS : Infinity)) await slices!.check();
    this.lookup = { trie: b.finish(), rules, hashes, maxLabels };
    return this.lookup;
  }
}

// ---- from the configured lists ----------------------------------------------------------

export interface NewNamesOptions {
  /** The slices to work in (a retro-hunt shares its own with its hunt); without, runs in one go. */
  slices?: Slices;
}

export interface NewNames {
  /** The names first blocked at or after the watermark; each one's cutoff is that time. */
  set: IndicatorSet;
  /** One past the latest such time, or the watermark when there are none. */
  newest: number;
}

/** The compiled rules of the sources that have some. */
function ruleSets(sources: readonly SourceState[]): RuleSet[] {
  const out: RuleSet[] = [];
  for (const s of sources) if (s.compiled !== null && s.compiled !== undefined) out.push(s.compiled.rules);
  return out;
}

/** Block rows first seen since the watermark, as (set index, row), and their names' bytes. */
class NewRows {
  set = new Int32Array(16);
  row = new Int32Array(16);
  count = 0;
  bytes = 0;

  /**
   * Adds the rows of rs in [from, to) that block a name first seen at or after wm. Kept apart
   * from the async caller: V8 optimises this small loop after a few calls.
   */
  scan(rs: RuleSet, k: number, from: number, to: number, wm: number): void {
    const dict = rs.dict;
    const ids = rs.nameIds;
    const flags = rs.flags;
    for (let row = from; row < to; row++) {
      if ((flags[row]! & F_ALLOW) !== 0) continue;
      const id = ids[row]!;
      if (dict.time(id) < wm) continue;
      if (this.count === this.row.length) this.grow();
      this.set[this.count] = k;
      this.row[this.count++] = row;
      this.bytes += dict.end(id) - dict.start(id);
    }
  }

  /** scan() for the rows of rs known to be all its block rows first seen at or after a watermark <= wm. */
  take(rs: RuleSet, k: number, rows: Int32Array, wm: number): void {
    const dict = rs.dict;
    for (const row of rows) {
      const id = rs.nameIds[row]!;
      if (dict.time(id) < wm) continue;
      if (this.count === this.row.length) this.grow();
      this.set[this.count] = k;
      this.row[this.count++] = row;
      this.bytes += dict.end(id) - dict.start(id);
    }
  }

  private grow(): void {
    const n = this.row.length * 2;
    const s = new Int32Array(n);
    s.set(this.set);
    this.set = s;
    const r = new Int32Array(n);
    r.set(this.row);
    this.row = r;
  }
}

/**
 * Per rule set scanned: the watermark, and its block rows first seen at or after it. A published
 * rule set never changes, nor does a name's first-seen time: at a later watermark its new rows are
 * among these, so a list the publish left as it was costs its few new rows, not a scan of them all
 * (a publish replaces only the lists that changed). Held as long as the rule set is.
 */
const scanned = new WeakMap<RuleSet, { watermark: number; rows: Int32Array }>();

/**
 * Per rule set: name ids (of its table) whose rows pass 2 has looked through, and whether one of
 * them is a block rule. A name another list blocked for long that a list has just added stays a
 * candidate at every publish until the watermark passes its time; its answer is then known.
 */
const blocks = new WeakMap<RuleSet, Map<number, boolean>>();

/** Records in `known` the suspects (a bit each in `mark`) that rows [from, to) of rs block. */
function findBlocked(rs: RuleSet, from: number, to: number, mark: Uint8Array, known: Map<number, boolean>): void {
  const ids = rs.nameIds;
  const flags = rs.flags;
  for (let row = from; row < to; row++) {
    const id = ids[row]!;
    if ((mark[id >>> 3]! & (1 << (id & 7))) === 0 || (flags[row]! & F_ALLOW) !== 0) continue;
    known.set(id, true);
  }
}

/**
 * The block names no list blocked before `watermark`: per name, the earliest first-seen time of a
 * block rule for it in any list, kept when that is at or after the watermark. A name a list has
 * just added but another list has blocked for months is not new.
 *
 * Only the new names are copied: each list's rule columns are scanned by row (no rule object, no
 * string; a few ns a row once V8 has optimised the loop; a list unchanged since its last scan is
 * not scanned again: see `scanned`), only rows first seen since the watermark
 * have their name copied (as bytes), and for those few names each other list's name table is asked
 * whether it knows the name from before; only a list that does has its rows scanned again for a
 * block rule of that name (a name table keeps names a list has since dropped), once per rule set
 * and name (see `blocks`). With slices, the
 * work gives the event loop a turn every slice (~5 ms).
 */
export async function newBlockNames(sources: readonly SourceState[], watermark: number, opts: NewNamesOptions = {}): Promise<NewNames> {
  const slices = opts.slices ?? null;
  const sets = ruleSets(sources);
  const set = new IndicatorSet();
  // Pass 1: the rows of block rules first seen since the watermark, and the bytes of their names,
  // so the table is sized once (growing it rehashes every name so far: a long stall when a whole
  // list is new).
  const found = new NewRows();
  for (let k = 0; k < sets.length; k++) {
    const rs = sets[k]!;
    const from = found.count;
    const memo = scanned.get(rs);
    if (memo !== undefined && memo.watermark <= watermark) found.take(rs, k, memo.rows, watermark);
    else {
      for (let row = 0, n = rs.length; row < n; row += ROWS) {
        found.scan(rs, k, row, Math.min(n, row + ROWS), watermark);
        if (slices !== null) await slices.check();
      }
    }
    scanned.set(rs, { watermark, rows: found.row.slice(from, found.count) });
  }
  const rows = found.count;
  if (rows === 0) return { set, newest: watermark };
  // Their names copied, each with the earliest time; the hash of each is kept for pass 2.
  set.names.reserve(rows, found.bytes);
  const hashes = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const rs = sets[found.set[i]!]!;
    const dict = rs.dict;
    const id = rs.nameIds[found.row[i]!]!;
    const b = dict.bytes;
    const s = dict.start(id);
    const e = dict.end(id);
    const h = hashBytes(b, s, e);
    hashes[set.addBytes(h, b, s, e, dict.time(id))] = h;
    if (slices !== null && (i & (ITEMS - 1)) === ITEMS - 1) await slices.check();
  }
  const names = set.names;
  const count = names.size;
  // Pass 2: a list whose name table knows a candidate from before the watermark may block it
  // since then; its rows say whether it does (today).
  for (const rs of sets) {
    const dict = rs.dict;
    let suspects: Map<number, number> | null = null;
    for (let c = 0; c < count; c++) {
      const id = dict.findBytes(hashes[c]!, names.bytes, names.start(c), names.end(c));
      if (id >= 0 && dict.time(id) < watermark) (suspects ??= new Map()).set(id, c);
      if (slices !== null && (c & (ITEMS - 1)) === ITEMS - 1) await slices.check();
    }
    if (suspects === null) continue;
    let known = blocks.get(rs);
    if (known === undefined) blocks.set(rs, (known = new Map()));
    const unknown: number[] = [];
    for (const id of suspects.keys()) if (!known.has(id)) unknown.push(id);
    if (unknown.length > 0) {
      // A bit per name id screens the rows; the map is written only for a suspect's rows.
      const mark = new Uint8Array((dict.size >>> 3) + 1);
      for (const id of unknown) mark[id >>> 3]! |= 1 << (id & 7);
      for (let row = 0, n = rs.length; row < n; row += ROWS) {
        findBlocked(rs, row, Math.min(n, row + ROWS), mark, known);
        if (slices !== null) await slices.check();
      }
      for (const id of unknown) if (!known.has(id)) known.set(id, false);
    }
    for (const [id, c] of suspects) if (known.get(id) === true) set.drop(c);
  }
  let newest = watermark;
  for (let c = 0; c < count; c++) if (set.isLive(c) && names.time(c) + 1 > newest) newest = names.time(c) + 1;
  // A rule for the root (an RPZ `*.` at the apex) moves the watermark like any other but is no
  // name to hunt: it would match every query.
  const root = names.find('', 0, 0);
  if (root >= 0) set.drop(root);
  return { set, newest };
}

/**
 * Adds the names of the named lists (every rule), or of every block list's block rules when
 * `lists` is empty, copied from the lists' tables. Unknown list names throw.
 */
export function addListNames(set: IndicatorSet, sources: readonly SourceState[], lists: readonly string[] = []): void {
  const unknown = lists.filter((l) => !sources.some((s) => s.config.name === l));
  if (unknown.length > 0) throw new Error(`no list named ${unknown.join(', ')} in the configuration`);
  for (const s of sources) {
    if (lists.length > 0 ? !lists.includes(s.config.name) : s.config.kind !== 'block') continue;
    const rs = s.compiled?.rules;
    if (rs === undefined) continue;
    const dict = rs.dict;
    for (let row = 0; row < rs.length; row++) {
      if (lists.length === 0 && (rs.flags[row]! & F_ALLOW) !== 0) continue;
      const id = rs.nameIds[row]!;
      const s0 = dict.start(id);
      const e = dict.end(id);
      if (s0 === e) continue; // a rule for the root: not a name to hunt
      set.addBytes(hashBytes(dict.bytes, s0, e), dict.bytes, s0, e, Infinity);
    }
  }
}

// ---- from text --------------------------------------------------------------------------

export interface NamesFile {
  /** The list format the text was read as. */
  format: 'plain' | 'ioc-text';
  /** Normalised names, in order (duplicates included). */
  names: string[];
  /** The parser's report: rejected lines with reasons, IPs found, what was ignored by category. */
  report: ParseReport;
}

/**
 * A file of names, read by the list parsers: as a `plain` list, or, when the text is a defanged
 * report (`evil[.]com`, `hxxps://…`: what `format: auto` detects as `ioc-text`), as an `ioc-text`
 * list. Every line that gives no name is in the report, with its number and the reason.
 */
export function parseNamesText(text: string, now = Date.now()): NamesFile {
  const format = detectFormat(text) === 'ioc-text' ? 'ioc-text' : 'plain';
  const report = new ParseReport(50);
  const entries = (format === 'plain' ? parsePlain : parseIocText)(text, report, { now });
  return { format, names: entries.map((e) => e.name), report };
}

export async function readNamesFile(path: string): Promise<NamesFile> {
  return parseNamesText(await readFile(path, 'utf8'));
}

/**
 * One indicator as typed or pasted: refanged, a URL reduced to its host, then normalised, as an
 * `ioc-text` list reads a token (without that format's check for a known top-level domain).
 */
export function parseIndicator(raw: string): { ok: true; name: string } | { ok: false; reason: string } {
  const token = refang(raw.trim());
  const c = classifyToken(token);
  if (c.kind === 'hostname') return normalizeDomain(c.host);
  if ((c.kind === 'url' || c.kind === 'host-path') && c.ip === null) return normalizeDomain(c.host);
  if (c.kind === 'ip' || c.kind === 'ip-port' || c.kind === 'cidr' || ((c.kind === 'url' || c.kind === 'host-path') && c.ip !== null)) {
    return { ok: false, reason: 'an IP address: the history is searched by name' };
  }
  const n = normalizeDomain(token);
  return n.ok ? { ok: false, reason: 'not a host name' } : n;
}
