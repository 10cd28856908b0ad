// Searches the query history for names (and their subdomains): which client asked for which of
// them, when first and last, how often, and what it was told.
//
// Speed comes from the segment layout: each segment's name table is matched against the
// indicators once (per distinct name, not per query, with the blocklist's lookup structure,
// screened on the raw bytes so non-matching names are never decoded), a segment with no matching
// name skips its records
// entirely, and the records of the others are scanned by name id over one byte plane. The next
// segments are read and gunzip'ed (libuv thread pool) while the current one is scanned, so both
// cores work at once.
import { addressText } from '../dns/address.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants as zc, gunzip } from 'node:zlib';
import { hashFinish, HASH_B, MAX_NAME, NameTable } from '../blocklist/names.js';
import { rcodeName, typeName } from '../dns/constants.js';
import {
  FRAME_HEADER_LEN,
  FRAME_RECORDS,
  FRAME_STRINGS,
  HEADER_LEN,
  KIND_ACTION,
  KIND_ANSWER,
  KIND_CLIENT,
  KIND_NAME,
  MAGIC,
  parseSegmentNames,
  P_ACTION,
  P_ANSWER,
  P_CLIENT,
  P_NAME,
  P_QTYPE,
  P_RCODE,
  P_TIME,
  RCODE_NONE,
  RECORD_LEN,
  type SegmentFile,
} from './format.js';
import { IndicatorSet, type IndicatorLookup, type RejectedIndicator } from './indicators.js';
import { Slices } from './slices.js';

const gunzipAsync = promisify(gunzip);
/** 256 KiB output chunks: far fewer thread-pool round trips than the 16 KiB default (measured ~2x faster). */
const GUNZIP_OPTS = { chunkSize: 256 * 1024, finishFlush: zc.Z_SYNC_FLUSH };
/** Segments read and decompressed ahead of the one being scanned. */
const PREFETCH = 2;
/** Records handled between two looks at the clock (well under a slice, even before V8 optimises). */
const ROWS = 4096;
/** Names, hits or sorted hits handled between two looks at the clock (each costs ~1 µs or more). */
const ITEMS = 512;

export interface HuntHit {
  client: string;
  /** The name the client asked for. */
  name: string;
  /** The listed name it matched (itself or a parent). */
  matchedIndicator: string;
  /** Epoch ms of the first and last matching query. */
  firstSeen: number;
  lastSeen: number;
  count: number;
  /** Distinct first A/AAAA addresses the client received, in order of appearance, at most maxAnswers. */
  answers: string[];
  /** More distinct addresses were seen than `answers` holds. */
  moreAnswers: boolean;
  /** Distinct actions (blocked, allowed, cached…), response codes ("none" when nothing was sent) and query types. */
  actions: string[];
  rcodes: string[];
  qtypes: string[];
}

export interface HuntProgress {
  segmentsDone: number;
  segmentsTotal: number;
  /** Bytes of segment files read so far, of all to read (compressed size on disk). */
  bytesDone: number;
  bytesTotal: number;
  /** Records looked at so far. */
  records: number;
}

export interface HuntOptions {
  /**
   * Names to hunt; each matches itself and its subdomains. Normalised as list entries are
   * (normalizeDomain: case, a trailing dot, IDN); a name it refuses is in HuntResult.rejected.
   */
  names?: Iterable<string>;
  /** The indicators ready-made (instead of `names`/`cutoffs`), e.g. from the configured lists. */
  indicators?: IndicatorSet;
  /** Epoch ms, inclusive. */
  since: number;
  /** Epoch ms, exclusive; default: no bound. */
  until?: number;
  /** Per name of `names`, an exclusive upper bound (retro-hunt: when each name was blocked). */
  cutoffs?: ReadonlyMap<string, number>;
  onProgress?: (p: HuntProgress) => void;
  /** A segment that cannot be read (damaged, deleted meanwhile); the hunt goes on without it. */
  onWarning?: (file: string, err: Error) => void;
  /** Distinct answers kept per hit (default 16). */
  maxAnswers?: number;
  /**
   * A hunt inside the running server: gives the event loop a turn every slice (~5 ms: a segment's
   * names and records, the indicators' lookup and the results are all worked through in slices),
   * and at least every this many records.
   */
  yieldEvery?: number;
  /** The slices to work in (a retro-hunt shares its own with the preparation); implies yieldEvery. */
  slices?: Slices;
}

export interface HuntResult {
  hits: HuntHit[];
  /** Indicators searched for (distinct, after normalisation). */
  indicators: number;
  /** Names given that are not host names, with the normaliser's reason. */
  rejected: RejectedIndicator[];
  segments: number;
  records: number;
  unreadable: number;
}

/** Client ids below this, so (name id, client id) packs into one Map key below 2^53. */
const CLIENT_KEY = 0x400000;

/**
 * Every (client, name) found so far, across segments: strings interned to global ids, one slot
 * per pair in typed arrays. A broad indicator can match a million pairs; one object (and a Set
 * or two) per pair made such a hunt spend most of its time in the garbage collector.
 */
class Aggregate {
  readonly clients: string[] = [];
  private readonly clientIds = new Map<string, number>();
  readonly names: string[] = [];
  readonly nameIndicator: number[] = [];
  private readonly nameIds = new Map<string, number>();
  readonly answers: string[] = [];
  private readonly answerIds = new Map<string, number>();
  readonly actions: string[] = [];
  private readonly actionIds = new Map<string, number>();
  readonly qtypes: number[] = [];
  private readonly qtypeIds = new Map<number, number>();

  private readonly pairs = new Map<number, number>();
  size = 0;
  pClient: Int32Array = new Int32Array(1024);
  pName: Int32Array = new Int32Array(1024);
  first: Float64Array = new Float64Array(1024);
  last: Float64Array = new Float64Array(1024);
  count: Float64Array = new Float64Array(1024);
  /** Bits of global action ids, rcodes (bit 31: nothing sent) and qtype ids (< 32). */
  actionBits: Uint32Array = new Uint32Array(1024);
  rcodeBits: Uint32Array = new Uint32Array(1024);
  qtypeBits: Uint32Array = new Uint32Array(1024);
  /** The first distinct answer (global id) or -1; later distinct ones in `moreAnswerIds`. */
  answer0: Int32Array = new Int32Array(1024).fill(-1);
  readonly moreAnswerIds = new Map<number, number[]>();
  readonly answersCapped = new Set<number>();
  /** Query types beyond the 32 that fit the bit set (rare). */
  readonly moreQtypes = new Map<number, Set<number>>();

  constructor(private readonly maxAnswers: number) {}

  client(s: string): number {
    return this.intern(this.clientIds, this.clients, s);
  }

  name(s: string, indicator: number): number {
    const id = this.intern(this.nameIds, this.names, s);
    this.nameIndicator[id] = indicator;
    return id;
  }

  answer(s: string): number {
    return this.intern(this.answerIds, this.answers, s);
  }

  action(s: string): number {
    return this.intern(this.actionIds, this.actions, s);
  }

  private intern<T>(ids: Map<T, number>, list: T[], v: T): number {
    let id = ids.get(v);
    if (id === undefined) {
      id = list.length;
      ids.set(v, id);
      list.push(v);
    }
    return id;
  }

  /** The slot of (client, name), created at time t. */
  pair(client: number, name: number, t: number): number {
    const key = name * CLIENT_KEY + client;
    let p = this.pairs.get(key);
    if (p !== undefined) return p;
    p = this.size++;
    if (p === this.pClient.length) this.grow();
    this.pairs.set(key, p);
    this.pClient[p] = client;
    this.pName[p] = name;
    this.first[p] = t;
    this.last[p] = t;
    return p;
  }

  addAnswer(p: number, a: number): void {
    const a0 = this.answer0[p]!;
    if (a0 === a) return;
    if (a0 < 0) {
      this.answer0[p] = a;
      return;
    }
    let more = this.moreAnswerIds.get(p);
    if (more === undefined) {
      more = [];
      this.moreAnswerIds.set(p, more);
    }
    if (more.includes(a)) return;
    if (more.length + 1 < this.maxAnswers) more.push(a);
    else this.answersCapped.add(p);
  }

  addQtype(p: number, qtype: number): void {
    let id = this.qtypeIds.get(qtype);
    if (id === undefined) id = this.intern(this.qtypeIds, this.qtypes, qtype);
    if (id < 32) this.qtypeBits[p]! |= 1 << id;
    else {
      let m = this.moreQtypes.get(p);
      if (m === undefined) {
        m = new Set();
        this.moreQtypes.set(p, m);
      }
      m.add(qtype);
    }
  }

  private grow(): void {
    const n = this.pClient.length * 2;
    const g32 = (a: Int32Array, fill = 0): Int32Array => {
      const b = new Int32Array(n).fill(fill);
      b.set(a);
      return b;
    };
    const gu = (a: Uint32Array): Uint32Array => {
      const b = new Uint32Array(n);
      b.set(a);
      return b;
    };
    const gf = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.pClient = g32(this.pClient);
    this.pName = g32(this.pName);
    this.answer0 = g32(this.answer0, -1);
    this.first = gf(this.first);
    this.last = gf(this.last);
    this.count = gf(this.count);
    this.actionBits = gu(this.actionBits);
    this.rcodeBits = gu(this.rcodeBits);
    this.qtypeBits = gu(this.qtypeBits);
  }

  /** The hits of slots [from, to), appended to `out`; `names` caches the indicators' names. */
  hits(indicator: (id: number) => string, from: number, to: number, out: HuntHit[], names: Map<number, string>): void {
    for (let p = from; p < to; p++) {
      const answers: string[] = [];
      const a0 = this.answer0[p]!;
      if (a0 >= 0 && this.maxAnswers > 0) answers.push(this.answers[a0]!);
      for (const a of this.moreAnswerIds.get(p) ?? []) answers.push(this.answers[a]!);
      const actions: string[] = [];
      for (let b = 0; b < this.actions.length && b < 32; b++) if ((this.actionBits[p]! & (1 << b)) !== 0) actions.push(this.actions[b]!);
      const qt: number[] = [];
      for (let b = 0; b < this.qtypes.length && b < 32; b++) if ((this.qtypeBits[p]! & (1 << b)) !== 0) qt.push(this.qtypes[b]!);
      for (const q of this.moreQtypes.get(p) ?? []) qt.push(q);
      const name = this.pName[p]!;
      out.push({
        client: this.clients[this.pClient[p]!]!,
        name: this.names[name]!,
        matchedIndicator: cached(names, this.nameIndicator[name]!, indicator),
        firstSeen: this.first[p]!,
        lastSeen: this.last[p]!,
        count: this.count[p]!,
        answers,
        moreAnswers: this.answersCapped.has(p) || (a0 >= 0 && this.maxAnswers === 0),
        actions: actions.sort(),
        rcodes: rcodeList(this.rcodeBits[p]!),
        qtypes: qt.sort((x, y) => x - y).map(typeName),
      });
    }
  }
}

const DOT = 0x2e;

/** Distinct names a matcher remembers the result for (~40 bytes each); beyond, it matches again. */
const MATCH_CACHE_MAX = 1 << 20;

/**
 * Matches history names against the indicators with the blocklist's own lookup: a DomainTrie over
 * one subtree block rule per indicator (the most specific indicator wins, as the most specific
 * rule does). A segment's names are first screened on their bytes, never decoded when they match
 * nothing: every label-aligned suffix is hashed right to left with the blocklist's name hash (as
 * DomainTrie.match does) and looked up in a bit filter of the indicators' hashes. A name with a
 * suffix in the filter is matched by the trie once: the result is remembered per distinct name
 * (a NameTable keyed by the name's bytes), since a name recurs in the table of every segment that
 * saw it. The screen has false positives, never false negatives: it only decides which names the
 * trie sees. Exported for its tests.
 */
export class IndicatorMatcher {
  /** One bit per hash value (its top bits): "surely not an indicator" without touching the trie. */
  private readonly filter: Int32Array;
  private readonly shift: number;
  /** Labels of the longest indicator: a longer suffix cannot match. */
  private readonly maxLabels: number;
  /** Names that passed the screen, and per such name the indicator it matched (or -1) and the caller's tag. */
  private readonly seen = new NameTable(1024, 32 * 1024);
  private result = new Int32Array(1024);
  private tags = new Int32Array(1024);
  /** The remembered name matchBytes last looked at (for tagOf/setTag), or -1. */
  key = -1;

  constructor(
    set: IndicatorSet,
    private readonly lookup: IndicatorLookup,
  ) {
    // About 64 bits per indicator: a false positive for ~1.5% of the suffixes looked at.
    let bits = 16;
    while (bits < 26 && 1 << bits < set.size * 64) bits++;
    this.filter = new Int32Array((1 << bits) >>> 5);
    this.shift = 32 - bits;
    for (const h of lookup.hashes) {
      const bit = h >>> this.shift;
      this.filter[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.maxLabels = lookup.maxLabels;
  }

  /** Id of the indicator matching the name held in buf[s, e), or -1. */
  matchBytes(buf: Buffer, s: number, e: number): number {
    this.key = -1;
    if (e <= s) return -1;
    const filter = this.filter;
    const shift = this.shift;
    let h = 0;
    let pow = 1;
    let dots = 0;
    for (let j = e - 1; j >= s; j--) {
      const c = buf[j]!;
      if (c === DOT && j + 1 < e) {
        const bit = hashFinish(h) >>> shift;
        if ((filter[bit >>> 5]! & (1 << (bit & 31))) !== 0) return this.passed(buf, s, e, j, h, pow);
        if (++dots >= this.maxLabels) return -1;
      }
      h = (h + Math.imul(c, pow)) | 0;
      pow = Math.imul(pow, HASH_B);
    }
    const bit = hashFinish(h) >>> shift;
    return (filter[bit >>> 5]! & (1 << (bit & 31))) !== 0 ? this.passed(buf, s, e, s - 1, h, pow) : -1;
  }

  /** The caller's tag for the remembered name `key` (-1 until set). */
  tagOf(key: number): number {
    return this.tags[key]!;
  }

  setTag(key: number, tag: number): void {
    this.tags[key] = tag;
  }

  /**
   * A name that passed the screen: its remembered result, or the trie's (then remembered). h is
   * the running hash of buf[j + 1, e) and pow = B^(e - j - 1): the whole name's hash follows.
   */
  private passed(buf: Buffer, s: number, e: number, j: number, h: number, pow: number): number {
    for (; j >= s; j--) {
      h = (h + Math.imul(buf[j]!, pow)) | 0;
      pow = Math.imul(pow, HASH_B);
    }
    const hash = hashFinish(h);
    const seen = this.seen;
    let k = seen.findBytes(hash, buf, s, e);
    if (k >= 0) {
      this.key = k;
      return this.result[k]!;
    }
    const id = this.match(buf.toString('latin1', s, e));
    if (seen.size >= MATCH_CACHE_MAX || e - s > MAX_NAME) return id;
    k = seen.internBytes(hash, buf, s, e, 0);
    if (k === this.result.length) {
      const r = new Int32Array(k * 2);
      r.set(this.result);
      this.result = r;
      const t = new Int32Array(k * 2);
      t.set(this.tags);
      this.tags = t;
    }
    this.result[k] = id;
    this.tags[k] = -1;
    this.key = k;
    return id;
  }

  /** Id of the indicator matching `name` (lower case, no trailing dot), or -1. */
  match(name: string): number {
    const r = this.lookup.trie.match(name, 0);
    return r === null ? -1 : r.line - 1;
  }
}

export async function listSegments(dir: string): Promise<SegmentFile[]> {
  try {
    return parseSegmentNames(await readdir(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The bytes of a segment; a raw segment compressed meanwhile is read from its gzip'ed copy. */
export async function loadSegment(dir: string, s: SegmentFile): Promise<Buffer> {
  try {
    const raw = await readFile(join(dir, s.file));
    // Z_SYNC_FLUSH: a gzip cut short (disk full while compressing a crash leftover) still gives what it holds.
    return s.closed ? await gunzipAsync(raw, GUNZIP_OPTS) : raw;
  } catch (err) {
    if (s.closed || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const again = (await listSegments(dir)).find((x) => x.closed && x.start === s.start && x.tag === s.tag);
    if (again === undefined) throw err;
    return gunzipAsync(await readFile(join(dir, again.file)), GUNZIP_OPTS);
  }
}

function cached(m: Map<number, string>, id: number, f: (id: number) => string): string {
  let s = m.get(id);
  if (s === undefined) m.set(id, (s = f(id)));
  return s;
}

function rcodeList(mask: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < 31; r++) if ((mask & (1 << r)) !== 0) out.push(rcodeName(r));
  if ((mask & (1 << 31)) !== 0) out.push('none');
  return out;
}

/**
 * Every (client, queried name) that matched an indicator in [since, until), sorted by first
 * query time, then client, then name.
 */
export async function hunt(dir: string, opts: HuntOptions): Promise<HuntHit[]> {
  return (await huntDetailed(dir, opts)).hits;
}

/** hunt() with the counts of segments and records read and of segments that could not be read. */
export async function huntDetailed(dir: string, opts: HuntOptions): Promise<HuntResult> {
  const set = opts.indicators ?? IndicatorSet.fromNames(opts.names ?? [], opts.cutoffs ?? Infinity);
  const since = opts.since;
  const until = opts.until ?? Infinity;
  const maxAnswers = opts.maxAnswers ?? 16;
  const slices = opts.slices ?? (opts.yieldEvery !== undefined && opts.yieldEvery > 0 ? new Slices() : undefined);
  const yieldEvery = slices === undefined ? 0 : (opts.yieldEvery ?? 0) > 0 ? opts.yieldEvery! : Infinity;
  // Per indicator id: queries at or after this do not count (-Infinity: not an indicator).
  const cut = new Float64Array(set.names.size).fill(-Infinity);
  let maxCut = -Infinity;
  for (let id = 0; id < cut.length; id++) {
    if (!set.isLive(id)) continue;
    const c = Math.min(set.cutoff(id), until);
    cut[id] = c;
    if (c > maxCut) maxCut = c;
    if (slices !== undefined && (id & (ROWS - 1)) === ROWS - 1) await slices.check();
  }

  const all = await listSegments(dir);
  const segs = set.size === 0 ? [] : all.filter((s) => s.end >= since && s.start < maxCut);
  // Built only when there is something to search (an empty history costs nothing).
  const matcher = segs.length === 0 ? null : new IndicatorMatcher(set, await set.build(slices));
  const sizes = await Promise.all(segs.map((s) => stat(join(dir, s.file)).then((st) => st.size, () => 0)));
  const progress: HuntProgress = { segmentsDone: 0, segmentsTotal: segs.length, bytesDone: 0, bytesTotal: sizes.reduce((a, b) => a + b, 0), records: 0 };
  opts.onProgress?.({ ...progress });

  const agg = new Aggregate(maxAnswers);
  let unreadable = 0;
  const load = (i: number): Promise<Buffer | Error> =>
    loadSegment(dir, segs[i]!).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  const ahead: Promise<Buffer | Error>[] = [];
  for (let k = 0; k < PREFETCH && k < segs.length; k++) ahead.push(load(k));
  for (let i = 0; i < segs.length; i++) {
    const got: Buffer | Error = await ahead.shift()!;
    if (i + PREFETCH < segs.length) ahead.push(load(i + PREFETCH));
    if (got instanceof Error) {
      unreadable++;
      opts.onWarning?.(segs[i]!.file, got);
    } else {
      try {
        progress.records += await scanSegment(got, matcher!, since, cut, agg, slices, yieldEvery);
      } catch (err) {
        unreadable++;
        opts.onWarning?.(segs[i]!.file, err instanceof Error ? err : new Error(String(err)));
      }
    }
    progress.segmentsDone++;
    progress.bytesDone += sizes[i]!;
    opts.onProgress?.({ ...progress });
  }

  const hits: HuntHit[] = [];
  const indicatorNames = new Map<number, string>();
  for (let p = 0; p < agg.size; p += ITEMS) {
    agg.hits((id) => set.name(id), p, Math.min(agg.size, p + ITEMS), hits, indicatorNames);
    await slices?.check();
  }
  await sortSliced(hits, byFirstSeen, slices);
  return { hits, indicators: set.size, rejected: set.rejected, segments: segs.length, records: progress.records, unreadable };
}

/** Hits in report order: first query time, then client, then name (a pair is unique: a total order). */
function byFirstSeen(a: HuntHit, b: HuntHit): number {
  return a.firstSeen - b.firstSeen || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Sorts `a` by `cmp` (a total order, so the result is the one Array#sort gives): with slices, as
 * runs of ITEMS sorted by Array#sort and merged a slice at a time (100,000 hits sorted at once
 * hold the event loop for ~100 ms).
 */
async function sortSliced<T>(a: T[], cmp: (x: T, y: T) => number, slices: Slices | undefined): Promise<void> {
  if (slices === undefined || a.length <= ITEMS) {
    a.sort(cmp);
    return;
  }
  const n = a.length;
  for (let i = 0; i < n; i += ITEMS) {
    const run = a.slice(i, i + ITEMS).sort(cmp);
    for (let k = 0; k < run.length; k++) a[i + k] = run[k]!;
    await slices.check();
  }
  let src = a;
  let dst: T[] = new Array<T>(n);
  for (let width = ITEMS; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        dst[k] = j >= hi || (i < mid && cmp(src[i]!, src[j]!) <= 0) ? src[i++]! : src[j++]!;
        if ((k & (ITEMS - 1)) === ITEMS - 1) await slices.check();
      }
    }
    [src, dst] = [dst, src];
  }
  if (src !== a) for (let k = 0; k < n; k++) a[k] = src[k]!;
}

/**
 * Scans one segment's frames, adding its matches to `agg`. Returns the records looked at. The
 * loops live in SegmentScan's small methods: V8 optimises those far better than one large async
 * function. With slices, a frame's names and records are taken ITEMS / ROWS at a time, a turn of the
 * event loop between slices (and at least every `yieldEvery` records).
 */
async function scanSegment(buf: Buffer, matcher: IndicatorMatcher, since: number, cut: Float64Array, agg: Aggregate, slices: Slices | undefined, yieldEvery: number): Promise<number> {
  if (buf.length < HEADER_LEN || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error('not a c2dns history segment');
  const scan = new SegmentScan(buf, matcher, since, cut, agg);
  const nameStep = slices === undefined ? Infinity : ITEMS;
  const recordStep = slices === undefined ? Infinity : ROWS;
  let records = 0;
  let sinceYield = 0;
  let off = HEADER_LEN;
  while (off + FRAME_HEADER_LEN <= buf.length) {
    const type = buf[off]!;
    const len = buf.readUInt32LE(off + 1);
    const body = off + FRAME_HEADER_LEN;
    const end = body + len;
    if (end > buf.length) break; // torn tail of a segment that was being written
    if (type === FRAME_STRINGS && len >= 5 && buf[body] === KIND_NAME) {
      let left = buf.readUInt32LE(body + 1);
      scan.reserveNames(left);
      for (let p = body + 5; left > 0 && p >= 0 && p + 2 <= end; ) {
        const n = Math.min(left, nameStep);
        p = scan.nameTable(p, end, n);
        left -= n;
        await slices?.check();
      }
    } else if (type === FRAME_STRINGS && len >= 5) scan.strings(body, end);
    else if (type === FRAME_RECORDS && len >= 4) {
      const n = buf.readUInt32LE(body);
      if (4 + n * RECORD_LEN > len) break;
      records += n;
      if (scan.matched > 0) {
        for (let from = 0; from < n; from += recordStep) {
          scan.records(body + 4, n, from, Math.min(n, from + recordStep));
          await slices?.check();
        }
      }
      if (slices !== undefined) {
        sinceYield += n;
        if (sinceYield >= yieldEvery) {
          sinceYield = 0;
          await slices.next();
        }
      }
    }
    off = end;
  }
  return records;
}

/** One segment's tables, mapped to the global ids of `Aggregate` as far as hits need them. */
class SegmentScan {
  private readonly start: number;
  /** Per name id: the matching indicator, or -1. Grows as name frames arrive. */
  private match = new Int32Array(1024).fill(-1);
  /** Per name id: its global id (only for matched names). */
  private gName = new Int32Array(1024);
  private names = 0;
  matched = 0;
  /** Table entries as offset * 65536 + length into buf, and their global ids once needed (-1: not yet). */
  private readonly clientAt: number[] = [];
  private readonly gClient: number[] = [];
  private readonly answerAt: number[] = [];
  private readonly gAnswer: number[] = [];
  private readonly gAction: number[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly matcher: IndicatorMatcher,
    private readonly since: number,
    private readonly cut: Float64Array,
    private readonly agg: Aggregate,
  ) {
    this.start = buf.readDoubleLE(8);
  }

  strings(body: number, end: number): void {
    const buf = this.buf;
    const kind = buf[body]!;
    const count = buf.readUInt32LE(body + 1);
    let p = body + 5;
    for (let k = 0; k < count && p + 2 <= end; k++) {
      const l = buf[p]! | (buf[p + 1]! << 8);
      const s = p + 2;
      p = s + l;
      if (p > end) break;
      if (kind === KIND_CLIENT) {
        this.clientAt.push(s * 65536 + l);
        this.gClient.push(-1);
      } else if (kind === KIND_ANSWER) {
        this.answerAt.push(s * 65536 + l);
        this.gAnswer.push(-1);
      } else if (kind === KIND_ACTION) this.gAction.push(this.agg.action(buf.toString('utf8', s, p)));
    }
  }

  /** Room for `count` more names of a name frame. */
  reserveNames(count: number): void {
    if (this.names + count <= this.match.length) return;
    let size = this.match.length;
    while (size < this.names + count) size *= 2;
    const grown = new Int32Array(size).fill(-1);
    grown.set(this.match);
    this.match = grown;
    const g = new Int32Array(size);
    g.set(this.gName);
    this.gName = g;
  }

  /**
   * The next `count` names of a name frame, from p (reserveNames first): returns where the next
   * name starts, or -1 when the frame ends inside a name (damaged).
   */
  nameTable(p: number, end: number, count: number): number {
    const buf = this.buf;
    const matcher = this.matcher;
    const match = this.match;
    let id = this.names;
    for (let k = 0; k < count && p + 2 <= end; k++) {
      const l = buf[p]! | (buf[p + 1]! << 8);
      const s = p + 2;
      p = s + l;
      if (p > end) {
        this.names = id;
        return -1;
      }
      const m = matcher.matchBytes(buf, s, p);
      if (m >= 0) {
        match[id] = m;
        // A name seen in an earlier segment has its global id already: no decoding.
        const key = matcher.key;
        let g = key >= 0 ? matcher.tagOf(key) : -1;
        if (g < 0) {
          g = this.agg.name(buf.toString('utf8', s, p), m);
          if (key >= 0) matcher.setTag(key, g);
        }
        this.gName[id] = g;
        this.matched++;
      }
      id++;
    }
    this.names = id;
    return p;
  }

  /** Records [from, to) of one frame: planes of n bytes from `base`. */
  records(base: number, n: number, from: number, to: number): void {
    const buf = this.buf;
    const match = this.match;
    const names = this.names;
    const n0 = base + P_NAME * n;
    const n1 = n0 + n;
    const n2 = n1 + n;
    for (let i = from; i < to; i++) {
      const nid = buf[n0 + i]! | (buf[n1 + i]! << 8) | (buf[n2 + i]! << 16);
      if (nid < names && match[nid]! >= 0) this.hit(base, n, i, nid);
    }
  }

  private hit(base: number, n: number, i: number, nid: number): void {
    const buf = this.buf;
    const agg = this.agg;
    const t0 = base + P_TIME * n + i;
    const t = this.start + (buf[t0]! | (buf[t0 + n]! << 8) | (buf[t0 + 2 * n]! << 16)) + buf[t0 + 3 * n]! * 0x1000000;
    if (t < this.since || t >= this.cut[this.match[nid]!]!) return;
    const c0 = base + P_CLIENT * n + i;
    const cid = buf[c0]! | (buf[c0 + n]! << 8);
    let gc = this.gClient[cid];
    if (gc === undefined) return; // a client id its table never defined: damaged segment
    if (gc < 0) gc = this.gClient[cid] = agg.client(this.text(this.clientAt[cid]!));
    if (gc >= CLIENT_KEY) return; // beyond four million distinct clients in one hunt
    const p = agg.pair(gc, this.gName[nid]!, t);
    agg.count[p]!++;
    if (t < agg.first[p]!) agg.first[p] = t;
    if (t > agg.last[p]!) agg.last[p] = t;
    const a0 = base + P_ANSWER * n + i;
    const aid = buf[a0]! | (buf[a0 + n]! << 8) | (buf[a0 + 2 * n]! << 16);
    if (aid !== 0) {
      let ga = this.gAnswer[aid - 1];
      if (ga !== undefined) {
        if (ga < 0) {
          const at = this.answerAt[aid - 1]!;
          const s = Math.floor(at / 65536);
          ga = this.gAnswer[aid - 1] = agg.answer(addressText(buf.subarray(s, s + (at % 65536))));
        }
        agg.addAnswer(p, ga);
      }
    }
    const q0 = base + P_QTYPE * n + i;
    agg.addQtype(p, buf[q0]! | (buf[q0 + n]! << 8));
    const rcode = buf[base + P_RCODE * n + i]!;
    if (rcode === RCODE_NONE) agg.rcodeBits[p]! |= 1 << 31;
    else if (rcode < 31) agg.rcodeBits[p]! |= 1 << rcode;
    const act = this.gAction[buf[base + P_ACTION * n + i]!];
    if (act !== undefined && act < 32) agg.actionBits[p]! |= 1 << act;
  }

  private text(at: number): string {
    const s = Math.floor(at / 65536);
    return this.buf.toString('utf8', s, s + (at % 65536));
  }
}

/**
 * The retro-hunt of newly blocked names: every query for them (or their subdomains) made before
 * they were blocked. `blockedSince` is one time for all names (a feed refresh) or per name; a name
 * missing from the map counts as blocked now. Only queries strictly before that time count.
 */
export async function retroHunt(
  dir: string,
  addedNames: Iterable<string>,
  blockedSince: number | ReadonlyMap<string, number>,
  opts: { since?: number; yieldEvery?: number; onWarning?: (file: string, err: Error) => void } = {},
): Promise<HuntHit[]> {
  const set = IndicatorSet.fromNames(addedNames, blockedSince, Date.now());
  const r = await huntDetailed(dir, {
    indicators: set,
    since: opts.since ?? 0,
    ...(opts.yieldEvery !== undefined ? { yieldEvery: opts.yieldEvery } : {}),
    ...(opts.onWarning !== undefined ? { onWarning: opts.onWarning } : {}),
  });
  return r.hits;
}
