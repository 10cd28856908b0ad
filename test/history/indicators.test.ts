// Hunt indicators: the retro-hunt preparation (newBlockNames) decides exactly as the per-rule
// implementation it replaced and costs in proportion to the new names; names are read by the
// blocklist's parsers and normaliser; the hunt's matcher (blocklist trie behind a byte screen)
// agrees with a brute-force suffix search.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { normalizeDomain } from '../../src/blocklist/domain.js';
import { NameTable } from '../../src/blocklist/names.js';
import { ParseReport } from '../../src/blocklist/parsers/report.js';
import { F_ALLOW, M_SUBTREE, RuleSet } from '../../src/blocklist/ruleset.js';
import { listConfig } from '../../src/config/schema.js';
import type { SourceState } from '../../src/feeds/manager.js';
import { huntDetailed, IndicatorMatcher } from '../../src/history/hunt.js';
import { addListNames, IndicatorSet, newBlockNames, parseIndicator, parseNamesText } from '../../src/history/indicators.js';
import { Slices } from '../../src/history/slices.js';

interface Row {
  name: string;
  allow: boolean;
  firstSeen: number;
}

/**
 * A loaded source as the FeedManager holds it. `known`: names its first-seen table holds without a
 * rule using them (dropped from the list since), with their time.
 */
function source(name: string, rows: readonly Row[], kind: 'block' | 'allow' = 'block', known: readonly (readonly [string, number])[] = []): SourceState {
  const dict = new NameTable();
  for (const [n, t] of known) dict.intern(n, 0, n.length, t);
  const rules = new RuleSet(dict, { list: name, action: null, tags: [], maxAgeMs: 0 });
  rows.forEach((r, i) => rules.push(dict.intern(r.name, 0, r.name.length, r.firstSeen), i + 1, (r.allow ? F_ALLOW : 0) | M_SUBTREE, null));
  rules.seal();
  return {
    config: listConfig({ name, path: `${name}.txt`, kind }),
    compiled: { name, format: 'plain', rules, ips: [], report: new ParseReport(), guarded: [], notEnforceable: [] },
    sha256: null,
    fromLastGood: false,
    lastSuccess: null,
    lastFailure: null,
  };
}

/** The implementation newBlockNames replaced (blockedSinceByName over materialised rules + the watermark filter of RetroHunter). */
function oldNewNames(sources: readonly SourceState[], wm: number): { added: Map<string, number>; newest: number } {
  const since = new Map<string, number>();
  for (const s of sources) {
    const rules = (s.compiled?.rules ?? []) as Iterable<{ rule: string; kind: 'block' | 'allow'; firstSeen: number }>;
    for (const r of [...rules].map((x) => ({ name: x.rule, kind: x.kind, firstSeen: x.firstSeen }))) {
      if (r.kind !== 'block') continue;
      const prev = since.get(r.name);
      if (prev === undefined || r.firstSeen < prev) since.set(r.name, r.firstSeen);
    }
  }
  const added = new Map<string, number>();
  let newest = wm;
  for (const [name, at] of since) {
    if (at < wm) continue;
    added.set(name, at);
    if (at + 1 > newest) newest = at + 1;
  }
  return { added, newest };
}

const POOL = ['a.com', 'b.com', 'x.a.com', 'c.org', 'd.net', 'e.io', 'f.example', 'g.h.example'];

afterEach(() => {
  vi.restoreAllMocks();
});

describe('newBlockNames', () => {
  it('agrees with the per-rule implementation on random lists, times and watermarks', async () => {
    const row = fc.record({ name: fc.constantFrom(...POOL), allow: fc.boolean(), firstSeen: fc.integer({ min: 0, max: 10 }) });
    const src = fc.record({
      rows: fc.array(row, { maxLength: 14 }),
      kind: fc.constantFrom<'block' | 'allow'>('block', 'block', 'allow'),
      known: fc.array(fc.tuple(fc.constantFrom(...POOL), fc.integer({ min: 0, max: 10 })), { maxLength: 3 }),
      loaded: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(src, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5 }), async (specs, wm, later) => {
        const sources = specs.map((x, i) => {
          const s = source(`l${i}`, x.rows, x.kind, x.known);
          return x.loaded ? s : { ...s, compiled: null };
        });
        const want = oldNewNames(sources, wm);
        const got = await newBlockNames(sources, wm);
        expect(new Map(got.set.entries())).toEqual(want.added);
        expect(got.newest).toBe(want.newest);
        // The next publish, same rule sets, from what the first scan kept of them.
        for (const wm2 of [wm, got.newest, wm + later]) {
          const again = await newBlockNames(sources, wm2);
          const want2 = oldNewNames(sources, wm2);
          expect(new Map(again.set.entries())).toEqual(want2.added);
          expect(again.newest).toBe(want2.newest);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('table: a name another list blocked before is not new; one it only used to list, or only allows, is', async () => {
    const wm = 100;
    const a = source('a', [{ name: 'old.example', allow: false, firstSeen: 10 }, { name: 'ok.example', allow: true, firstSeen: 10 }], 'block', [['gone.example', 5]]);
    const b = source('b', [
      { name: 'old.example', allow: false, firstSeen: 150 }, // blocked by a for long: not new
      { name: 'gone.example', allow: false, firstSeen: 160 }, // a dropped it: new
      { name: 'ok.example', allow: false, firstSeen: 170 }, // a only allows it: new
      { name: 'fresh.example', allow: false, firstSeen: 120 },
      { name: 'fresh.example', allow: false, firstSeen: 130 }, // the same name twice: one time
    ]);
    const c = source('c', [{ name: 'fresh.example', allow: false, firstSeen: 110 }]); // earliest across lists
    const got = await newBlockNames([a, b, c], wm);
    expect(new Map(got.set.entries())).toEqual(
      new Map([
        ['gone.example', 160],
        ['ok.example', 170],
        ['fresh.example', 110],
      ]),
    );
    expect(got.newest).toBe(171);
    // A new rule for the root moves the watermark but is not hunted (it would match every name).
    const root = await newBlockNames([a, b, c, source('rpz', [{ name: '', allow: false, firstSeen: 180 }])], wm);
    expect([...root.set.entries()].map(([n]) => n)).toEqual(['gone.example', 'ok.example', 'fresh.example']);
    expect(root.newest).toBe(181);
    expect((await newBlockNames([a, b, c], 171)).set.size).toBe(0);
    expect((await newBlockNames([a, b, c], 171)).newest).toBe(171);
  });

  it('a 1,000,000-row list with 10 new names copies only those: no rule object, no name string, a turn between steps of rows', async () => {
    const OLD = 1_000;
    const WM = 2_000;
    const n = 1_000_000;
    const dict = new NameTable(n + 16, n * 20);
    const rules = new RuleSet(dict, { list: 'big', action: null, tags: [], maxAgeMs: 0 }, n + 16);
    for (let i = 0; i < n - 10; i++) {
      const name = `h${i}.example.com`;
      rules.push(dict.intern(name, 0, name.length, OLD), i + 1, M_SUBTREE, null);
    }
    const fresh: string[] = [];
    for (let k = 0; k < 10; k++) {
      const name = `new${k}.c2.example.net`;
      fresh.push(name);
      rules.push(dict.intern(name, 0, name.length, WM + k), n - 10 + k, M_SUBTREE, null);
    }
    rules.seal();
    expect(rules.length).toBe(n);
    const big: SourceState = { ...source('big', []), compiled: { name: 'big', format: 'plain', rules, ips: [], report: new ParseReport(), guarded: [], notEnforceable: [] } };
    // Another list has blocked new0 for long, and has just added h5 (which big has blocked for long).
    const other = source('other', [{ name: 'new0.c2.example.net', allow: false, firstSeen: OLD }, { name: 'h5.example.com', allow: false, firstSeen: WM + 50 }]);

    const spies = [
      vi.spyOn(RuleSet.prototype, 'rule'),
      vi.spyOn(RuleSet.prototype, 'map'),
      vi.spyOn(RuleSet.prototype, Symbol.iterator),
      vi.spyOn(RuleSet.prototype, 'name'),
      vi.spyOn(NameTable.prototype, 'name'),
      vi.spyOn(NameTable.prototype, 'entries'),
    ];
    // A clock that is always due: a turn at every look at it, i.e. after every step of rows.
    let turns = 0;
    const got = await newBlockNames([big, other], WM, { slices: new Slices(async () => void turns++, 0) });
    for (const s of spies) expect(s).not.toHaveBeenCalled();
    for (const s of spies) s.mockRestore();

    // Copied: the 10 names big first saw since the watermark and other's h5; then new0 and h5
    // are dropped (each blocked by the other list since before the watermark).
    expect(got.set.names.size).toBe(11);
    expect(got.set.size).toBe(9);
    expect(new Map(got.set.entries())).toEqual(new Map(fresh.slice(1).map((f, k) => [f, WM + 1 + k])));
    expect(got.newest).toBe(WM + 10);
    expect(turns).toBeGreaterThanOrEqual(n / 4096); // a step is at most 4,096 rows

    // The next publish leaves both lists as they were: their rows are not scanned again (no step of
    // rows, so no turn), and nothing is new.
    turns = 0;
    const next = await newBlockNames([big, other], got.newest, { slices: new Slices(async () => void turns++, 0) });
    expect([next.set.size, next.newest, turns]).toEqual([0, got.newest, 0]);
  });
});

describe('IndicatorSet', () => {
  it('normalises as list entries are, keeps the earliest cutoff, reports what it refuses', () => {
    const set = IndicatorSet.fromNames(['Evil.COM.', 'evil.com', ' \u200bsub.evil.com', 'com', '192.0.2.1', 'ev\u200bil.org', 'BÜCHER.example'], new Map([['EVIL.com', 5], ['evil.com.', 3]]), 9);
    expect([...set.entries()]).toEqual([
      ['evil.com', 3],
      ['sub.evil.com', 9],
      ['xn--bcher-kva.example', 9],
    ]);
    expect(set.rejected.map((r) => r.name)).toEqual(['com', '192.0.2.1', 'ev\u200bil.org']);
    for (const r of set.rejected) expect(r.reason).toBe((normalizeDomain(r.name) as { reason: string }).reason);
    set.drop(set.find('sub.evil.com'));
    expect(set.size).toBe(2);
    expect(set.find('sub.evil.com')).toBe(-1);
  });

  it('a hunt reports the names it refused and counts the rest', async () => {
    const r = await huntDetailed(join(mkdtempSync(join(tmpdir(), 'c2dns-ind-')), 'none'), { names: ['com', 'evil.com', 'EVIL.COM'], since: 0 });
    expect(r.indicators).toBe(1);
    expect(r.rejected).toEqual([{ name: 'com', reason: 'a single label (would block a whole TLD)' }]);
  });
});

describe('IndicatorMatcher', () => {
  const LABELS = ['a', 'b', 'c2', 'evil', 'cdn', 'com', 'net', 'x-1', 'example'];
  const name = (min: number, max: number) => fc.array(fc.constantFrom(...LABELS), { minLength: min, maxLength: max }).map((ls) => ls.join('.'));

  /** The most specific indicator among the name's label-aligned suffixes (the name itself included). */
  function bruteForce(indicators: ReadonlySet<string>, q: string): string | null {
    const labels = q.split('.');
    for (let i = 0; i < labels.length; i++) {
      const s = labels.slice(i).join('.');
      if (indicators.has(s)) return s;
    }
    return null;
  }

  it('finds the most specific indicator, as a brute-force suffix search does, from bytes anywhere in a buffer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(name(2, 4), { maxLength: 40 }), fc.array(name(1, 7), { minLength: 1, maxLength: 30 }), async (inds, queries) => {
        const set = IndicatorSet.fromNames(inds);
        const matcher = new IndicatorMatcher(set, await set.build());
        const ref = new Set(inds);
        for (const q of queries) {
          const want = bruteForce(ref, q);
          const buf = Buffer.from(`..${q}x.`, 'latin1');
          const id = matcher.matchBytes(buf, 2, 2 + q.length);
          expect(id < 0 ? null : set.name(id)).toBe(want);
          expect(matcher.match(q)).toBe(id);
          // Again, from another buffer: a name that passed the screen is answered from memory.
          const key = matcher.key;
          expect(matcher.matchBytes(Buffer.from(q, 'latin1'), 0, q.length)).toBe(id);
          expect(matcher.key).toBe(key);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('has no false negatives with many indicators (the screen then passes many names to the trie)', async () => {
    const inds: string[] = [];
    for (let i = 0; i < 20_000; i++) inds.push(`s${i}.example`, `h${i}.cdn.s${i}.example`);
    const set = IndicatorSet.fromNames(inds);
    const matcher = new IndicatorMatcher(set, await set.build(new Slices(async () => {}, 0))); // built a step at a time
    const at = (q: string): string | null => {
      const id = matcher.matchBytes(Buffer.from(q, 'latin1'), 0, q.length);
      return id < 0 ? null : set.name(id);
    };
    for (let i = 0; i < 20_000; i += 97) {
      expect(at(`www.s${i}.example`)).toBe(`s${i}.example`);
      expect(at(`x.h${i}.cdn.s${i}.example`)).toBe(`h${i}.cdn.s${i}.example`);
      expect(at(`cdn.s${i}.example`)).toBe(`s${i}.example`);
      expect(at(`s${i}.example.org`)).toBeNull();
      expect(at(`xs${i}.example`)).toBeNull();
    }
    expect(at('')).toBeNull();
    // A name too long for the memory (escaped odd bytes: up to 4 characters a byte) is matched every time.
    const long = `${'\\255'.repeat(70)}.s7.example`;
    expect(at(long)).toBe('s7.example');
    expect(at(long)).toBe('s7.example');
  });
});

describe('names from lists', () => {
  it('default: block rules of block lists; named lists: every rule; unknown names throw', () => {
    const a = source('a', [{ name: 'evil.com', allow: false, firstSeen: 1 }, { name: 'fine.evil.com', allow: true, firstSeen: 1 }]);
    const b = source('b', [{ name: 'allowed.org', allow: true, firstSeen: 1 }], 'allow');
    const all = new IndicatorSet();
    addListNames(all, [a, b]);
    expect([...all.entries()].map(([n]) => n)).toEqual(['evil.com']);
    const named = new IndicatorSet();
    addListNames(named, [a, b], ['a', 'b']);
    expect([...named.entries()].map(([n]) => n)).toEqual(['evil.com', 'fine.evil.com', 'allowed.org']);
    expect(() => addListNames(new IndicatorSet(), [a, b], ['nope'])).toThrow(/no list named nope/);
  });
});

describe('names from text', () => {
  it('a names file is read as a plain list: comments, CRLF, a URL host; bad lines reported with their number', () => {
    const f = parseNamesText(
      ['# iocs', 'evil.com   # stage 1', 'Sub.Evil.COM.\r', '\u200bzw.example.com', 'zw\u200bin.example.com', 'two fields.com', '192.0.2.7', 'https://url.example.org/gate.php', 'e0f3b1a6c2d4e5f6a7b8c9d0e1f2a3b4'].join('\n'),
    );
    expect(f.format).toBe('plain');
    expect(f.names).toEqual(['evil.com', 'sub.evil.com', 'zw.example.com', 'url.example.org']);
    expect(f.report.examples.map((x) => [x.line, x.reason])).toEqual([
      [5, 'zw\u200bin.example.com: invisible format character (e.g. U+200B) inside the name'],
      [6, 'more than one field on a line of a plain domain list'],
    ]);
    expect(f.report.ips.map((x) => x.cidr)).toEqual(['192.0.2.7/32']);
    expect(f.report.ignored).toEqual({ md5: 1 });
  });

  it('a defanged report is read as an ioc-text list: [.], (.), [dot], hxxp', () => {
    const f = parseNamesText('C2 servers: evil(.)com, cdn[.]bad[dot]net\n- hxxps://x[.]evil[.]org/a.php\n- 45.77.1[.]2\n');
    expect(f.format).toBe('ioc-text');
    expect(f.names).toEqual(['evil.com', 'cdn.bad.net', 'x.evil.org']);
    expect(f.report.ips.map((x) => x.cidr)).toEqual(['45.77.1.2/32']);
  });

  it('one indicator as typed: defanged, a URL, IDN; an address or a single label is refused with the reason', () => {
    const cases: [string, string | RegExp][] = [
      ['Evil.COM.', 'evil.com'],
      ['evil[.]com', 'evil.com'],
      ['evil(.)com', 'evil.com'],
      ['cdn[dot]evil[.]com', 'cdn.evil.com'],
      ['hxxps://evil[.]com/x.zip', 'evil.com'],
      ['BÜCHER.example', 'xn--bcher-kva.example'],
      ['\u200bedge.example.com', 'edge.example.com'],
      ['ev\u200bil.com', /invisible format character/],
      ['192.0.2.1', /IP address/],
      ['com', /single label/],
      ['not a name', /./],
    ];
    for (const [raw, want] of cases) {
      const r = parseIndicator(raw);
      if (typeof want === 'string') expect(r).toEqual({ ok: true, name: want });
      else expect(r.ok === false && want.test(r.reason), `${raw}: ${JSON.stringify(r)}`).toBe(true);
    }
  });
});
