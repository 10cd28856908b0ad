// Text of one source → the rules it contributes: parse with the source's format, refuse what
// the guard protects (and say why), attach provenance (list, line/object id, tags, first-seen,
// expiry). Pure apart from the first-seen table it is given: `c2dns check`/`convert` and the
// server compile the same way.
//
// The rules come out in columns (a RuleSet over the source's NameTable), never one object per
// entry. Plain and hosts lists are scanned in place: a name already in normalised form goes from
// the text to the guard and the table without an entry object.
import { listAction } from '../config/list-action.js';
import type { ListConfig } from '../config/schema.js';
import type { Guard } from '../blocklist/guard.js';
import { hashRange, NameTable } from '../blocklist/names.js';
import { detectFormat, PARSERS, type ListFormat } from '../blocklist/parsers/index.js';
import { scanHosts } from '../blocklist/parsers/hosts.js';
import type { NameSink } from '../blocklist/parsers/lines.js';
import { scanPlain } from '../blocklist/parsers/plain.js';
import { ParseReport } from '../blocklist/parsers/report.js';
import type { IpEntry, ListEntry } from '../blocklist/rule.js';
import { F_ALLOW, F_EXP_AGE, F_EXP_OWN, F_IMPORTANT, matchFlag, RuleSet, type RowExtras } from '../blocklist/ruleset.js';

export interface RefusedEntry {
  name: string;
  line: number;
  reason: string;
  /** The URL IOC this host came from, when it did. */
  fromUrl?: string;
}

export interface CompiledSource {
  name: string;
  format: ListFormat;
  /** Every accepted entry (duplicates included), in order: `length`, `rule(i)`, iteration. */
  rules: RuleSet;
  ips: IpEntry[];
  report: ParseReport;
  /** Block entries the guard refused (public suffix, protected platform). */
  guarded: RefusedEntry[];
  /** URL IOCs whose host is shared infrastructure: only a proxy could enforce them. */
  notEnforceable: RefusedEntry[];
}

const MAX_REFUSED_KEPT = 200;
/** Names interned per batch. */
const BATCH = 256;
/** Formats with about one entry per line: the line count bounds the entries. */
const LINE_FORMATS: ReadonlySet<ListFormat> = new Set(['plain', 'hosts', 'wildcard']);

/**
 * A copy of s that keeps nothing else alive: V8 cuts a substring of 13 characters or more as a
 * view of the string it came from, so one kept name or reason would keep the whole list text.
 */
function detach(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** About how many lines `text` has (counted in its first 256 KiB), a little over rather than under. */
function estimateLines(text: string): number {
  const sample = Math.min(text.length, 256 * 1024);
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < sample; i = text.indexOf('\n', i + 1)) n++;
  return Math.ceil(((n + 1) * text.length * 1.02) / Math.max(1, sample)) + 16;
}

/**
 * `firstSeen`: when each name was first seen in this source. A NameTable (the FeedManager's) is
 * used as the rules' name store and gains the new names; a Map gains them as entries.
 */
/** Lines scanned between two yields of the compile: ~10 ms of work, so answering never waits long. */
const SLICE_LINES = 20_000;

export function compileSource(text: string, cfg: ListConfig, guard: Guard, firstSeen: NameTable | Map<string, number>, now: number): CompiledSource {
  const steps = compileSteps(text, cfg, guard, firstSeen, now);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** The same compile, giving the event loop a turn between slices of a big line-format list. */
export async function compileSourceAsync(text: string, cfg: ListConfig, guard: Guard, firstSeen: NameTable | Map<string, number>, now: number): Promise<CompiledSource> {
  const steps = compileSteps(text, cfg, guard, firstSeen, now);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function* compileSteps(text: string, cfg: ListConfig, guard: Guard, firstSeen: NameTable | Map<string, number>, now: number): Generator<void, CompiledSource> {
  const format = (cfg.format === 'auto' ? detectFormat(text) : cfg.format) as ListFormat;
  const report = new ParseReport();
  const lines = LINE_FORMATS.has(format);
  const estimate = lines ? estimateLines(text) : 16;
  const map = firstSeen instanceof NameTable ? null : firstSeen;
  const dict = firstSeen instanceof NameTable ? firstSeen : new NameTable(estimate, lines ? text.length : 1024);
  if (map === null && dict.size === 0 && lines) dict.reserve(estimate, text.length);
  const maxAgeMs = cfg.maxAgeDays * 86_400_000;
  const rules = new RuleSet(dict, { list: cfg.name, action: listAction(cfg), tags: cfg.tags, maxAgeMs }, estimate);
  if (lines) rules.initFilter(estimate);
  const guarded: RefusedEntry[] = [];
  const notEnforceable: RefusedEntry[] = [];
  const allowList = cfg.kind === 'allow';

  const refuse = (name: string, line: number, fromUrl: string | undefined, justScanned: boolean): boolean => {
    const refusal = justScanned ? guard.checkScanned(name) : guard.check(name);
    if (refusal === null) return false;
    const target = fromUrl !== undefined ? notEnforceable : guarded;
    const reason = fromUrl !== undefined ? `not enforceable by DNS: ${refusal.reason}; block the URL at a proxy instead` : refusal.reason;
    if (target.length < MAX_REFUSED_KEPT) target.push({ name: detach(name), line, reason: detach(reason), ...(fromUrl !== undefined ? { fromUrl: detach(fromUrl) } : {}) });
    return true;
  };
  /** The name's id in the table; a new name is first seen now. */
  const intern = (s: string, start: number, end: number, h: number): number => {
    if (map === null) return dict.internHashed(h, s, start, end, now);
    const name = start === 0 && end === s.length ? s : s.slice(start, end);
    let seen = map.get(name);
    if (seen === undefined) {
      seen = now;
      map.set(name, now);
    }
    return dict.internHashed(h, name, 0, name.length, seen);
  };

  const bareFlags = (allowList ? F_ALLOW : 0) | matchFlag(cfg.match);
  const pushBare = (id: number, line: number): void => {
    rules.push(id, line, maxAgeMs > 0 && dict.time(id) + maxAgeMs > 0 ? bareFlags | F_EXP_AGE : bareFlags, null);
  };
  // Names from the scanners are interned a batch at a time: first every name's index slot is
  // read in one tight loop, where the cache misses overlap, then the names are interned with
  // their slots in cache (a random read into an index of megabytes stalls every entry otherwise).
  const bStart = new Int32Array(BATCH);
  const bEnd = new Int32Array(BATCH);
  const bLine = new Int32Array(BATCH);
  const bHash = new Int32Array(BATCH);
  let bLen = 0;
  const drain = (): void => {
    if (bLen === 0) return;
    for (let b = 0; b < bLen; b++) dict.touch(bHash[b]!);
    for (let b = 0; b < bLen; b++) {
      pushBare(dict.internHashed(bHash[b]!, text, bStart[b]!, bEnd[b]!, now), bLine[b]!);
      rules.addHash(bHash[b]!);
    }
    bLen = 0;
  };
  const sink: NameSink = {
    name(start, end, line, h) {
      if (!allowList && refuse(text.slice(start, end), line, undefined, true)) return;
      if (map !== null) {
        pushBare(intern(text, start, end, h), line);
        rules.addHash(h);
        return;
      }
      bStart[bLen] = start;
      bEnd[bLen] = end;
      bLine[bLen] = line;
      bHash[bLen] = h;
      if (++bLen === BATCH) drain();
    },
    entry(e: ListEntry) {
      drain();
      const allow = allowList || e.kind === 'allow';
      if (!allow && refuse(e.name, e.line, e.fromUrl, false)) return;
      const h = hashRange(e.name, 0, e.name.length);
      const id = intern(e.name, 0, e.name.length, h);
      rules.addHash(h);
      const seen = dict.time(id);
      const ageExpiry = maxAgeMs > 0 ? seen + maxAgeMs : 0;
      const own = e.expiresAt !== undefined && (ageExpiry === 0 || e.expiresAt < ageExpiry) ? e.expiresAt : ageExpiry;
      const expiresAt = own > 0 ? own : (e.expiresAt ?? 0);
      let flags = (allow ? F_ALLOW : 0) | matchFlag(e.match ?? cfg.match) | (e.important === true ? F_IMPORTANT : 0);
      let x: RowExtras | null = null;
      if (e.action !== undefined) (x ??= {}).action = e.action;
      if (e.ref !== undefined) (x ??= {}).ref = detach(e.ref);
      if (e.tags !== undefined && e.tags.length > 0) (x ??= {}).tags = e.tags.some((t) => t.length >= 13) ? e.tags.map(detach) : e.tags;
      if (expiresAt !== 0) {
        if (maxAgeMs > 0 && expiresAt === ageExpiry) flags |= F_EXP_AGE;
        else {
          flags |= F_EXP_OWN;
          (x ??= {}).expiresAt = expiresAt;
        }
      }
      rules.push(id, e.line, flags, x);
    },
  };

  if (format === 'plain' || format === 'hosts') {
    const scan = format === 'plain' ? scanPlain : scanHosts;
    for (let at = scan(text, report, sink, null, SLICE_LINES); at !== null; at = scan(text, report, sink, at, SLICE_LINES)) yield;
  } else {
    const entries = PARSERS[format](text, report, {
      now,
      csvColumns: cfg.csvColumns,
      minConfidence: cfg.minConfidence,
      mispIncludeNonIds: cfg.mispIncludeNonIds,
    });
    rules.initFilter(entries.length);
    for (const e of entries) sink.entry(e);
  }
  drain();
  rules.seal();
  dict.compact();
  for (const ip of report.ips) {
    ip.cidr = detach(ip.cidr);
    if (ip.ref !== undefined) ip.ref = detach(ip.ref);
  }
  for (const ex of [...report.examples, ...report.unsupportedExamples]) {
    ex.text = detach(ex.text);
    ex.reason = detach(ex.reason);
  }
  return { name: cfg.name, format, rules, ips: report.ips, report, guarded, notEnforceable };
}
