// The compact list structures (NameTable, RuleSet, DomainTrie over sets) and the fast list
// scanners decide exactly as the implementations they replaced (test/blocklist/reference.ts):
// properties over random rules, queries and list texts, plus the cases the layout makes special
// (a name in two lists, a name the base table knows without a rule, the root, chunked builds).
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PROTECTED, Guard } from '../../src/blocklist/guard.js';
import { isCanonicalName, normalizeDomain } from '../../src/blocklist/domain.js';
import { hashRange, NameTable } from '../../src/blocklist/names.js';
import { PARSERS } from '../../src/blocklist/parsers/index.js';
import { ParseReport } from '../../src/blocklist/parsers/report.js';
import { makeRule, type MatchMode, type RuleMatch } from '../../src/blocklist/rule.js';
import { F_ALLOW, F_EXP_AGE, F_EXP_OWN, F_IMPORTANT, matchFlag, RuleSet } from '../../src/blocklist/ruleset.js';
import { DomainTrie } from '../../src/blocklist/trie.js';
import { listConfig, type ListConfig } from '../../src/config/schema.js';
import { compileSource } from '../../src/feeds/compile.js';
import { RefGuard, refCompile, refNormalizeDomain, refParseHosts, refParsePlain, RefTrie } from './reference.js';

describe('NameTable', () => {
  it('reads names back from bytes in shared memory and from a view that does not start at 0', () => {
    const t = new NameTable();
    for (const n of ['a.com', 'xn--bcher-kva.example', '', 'b.org']) t.intern(n, 0, n.length, 1);
    const p = t.toParts();
    const shared = new Uint8Array(new SharedArrayBuffer(p.buf.length + 8), 8);
    shared.set(p.buf);
    const u = NameTable.fromParts({ ...p, buf: shared });
    expect([0, 1, 2, 3].map((id) => u.name(id))).toEqual(['a.com', 'xn--bcher-kva.example', '', 'b.org']);
  });

  it('interns names once, in order, with the first time seen; finds them by name and by range', () => {
    const t = new NameTable();
    expect(t.intern('a.com', 0, 5, 10)).toBe(0);
    expect(t.intern('xx b.org yy', 3, 8, 20)).toBe(1);
    expect(t.intern('a.com', 0, 5, 30)).toBe(0);
    expect(t.size).toBe(2);
    expect([t.name(0), t.name(1), t.time(0), t.time(1)]).toEqual(['a.com', 'b.org', 10, 20]);
    expect(t.find('zz a.com', 3, 8)).toBe(0);
    expect(t.get('b.org')).toBe(20);
    expect(t.get('c.net')).toBeUndefined();
    expect(t.labels(0)).toBe(2);
    t.set('b.org', 25);
    expect(t.get('b.org')).toBe(25);
    expect([...t.entries()]).toEqual([
      ['a.com', 10],
      ['b.org', 25],
    ]);
  });

  it('grows past its initial size and keeps every name (index rebuilt, buffers regrown)', () => {
    const t = new NameTable(4, 8);
    for (let i = 0; i < 5000; i++) t.intern(`n${i}.example`, 0, `n${i}.example`.length, i);
    t.compact();
    for (let i = 0; i < 5000; i += 7) expect(t.get(`n${i}.example`)).toBe(i);
    expect(t.size).toBe(5000);
  });

  it('rolls back names interned after a mark (a rejected update)', () => {
    const t = new NameTable();
    t.set('keep.com', 1);
    const mark = t.mark();
    t.set('drop.com', 2);
    t.rollback(mark);
    expect(t.has('drop.com')).toBe(false);
    expect(t.get('keep.com')).toBe(1);
    t.set('again.com', 3);
    expect([...t.entries()]).toEqual([
      ['keep.com', 1],
      ['again.com', 3],
    ]);
  });

  it('copies a lent index before changing it: a structure built on it keeps seeing the old names', () => {
    const t = new NameTable();
    t.set('a.com', 1);
    const lent = t.lendIndex();
    const before = [...lent];
    t.set('b.com', 2);
    expect([...lent]).toEqual(before);
    expect(t.has('b.com')).toBe(true);
  });

  it('after a rollback to the size it had when lent, takes the lent index back (no rebuild)', () => {
    const t = new NameTable();
    t.set('a.com', 1);
    const lent = t.lendIndex();
    const mark = t.mark();
    t.set('b.com', 2);
    t.rollback(mark);
    expect(t.lendIndex()).toBe(lent);
    expect(t.has('b.com')).toBe(false);
    t.set('c.com', 3);
    expect(t.has('c.com')).toBe(true);
    expect([...lent].filter((v) => v !== 0)).toHaveLength(1);
  });

  it('keeps exact times past 65,535 distinct values', () => {
    const t = new NameTable();
    for (let i = 0; i < 70_000; i++) t.intern(`t${i}.x`, 0, `t${i}.x`.length, 1_700_000_000_000 + i);
    expect(t.get('t3.x')).toBe(1_700_000_000_003);
    expect(t.get('t69999.x')).toBe(1_700_000_069_999);
  });

  it('refuses characters it cannot store, rather than storing another name', () => {
    expect(() => new NameTable().intern('bü.com', 0, 6, 0)).not.toThrow();
    expect(() => new NameTable().intern('b\u0100.com', 0, 6, 0)).toThrow(RangeError);
  });
});

// ---- DomainTrie against the reference trie -------------------------------------------------

const LABELS = ['a', 'b', 'com', 'x-y', 'org'];
const nameArb = fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const ruleArb = fc.record({
  name: nameArb,
  kind: fc.constantFrom('block' as const, 'allow' as const),
  match: fc.constantFrom<MatchMode>('subtree', 'exact', 'below'),
  important: fc.boolean(),
  expiresAt: fc.constantFrom(0, 0, 1000, 3000),
});
type Spec = { name: string; kind: 'block' | 'allow'; match: MatchMode; important: boolean; expiresAt: number };
const sourceArb = fc.record({
  rules: fc.array(ruleArb, { maxLength: 12 }),
  /** Names the source's table knows without a rule (listed by an earlier version). */
  history: fc.array(nameArb, { maxLength: 4 }),
  maxAgeMs: fc.constantFrom(0, 0, 2500),
});
const queryArb = fc.oneof(nameArb, nameArb.map((n) => `z.${n}`), fc.constantFrom('', 'com', 'q.r', 'a..com', 'com.', '.com'));

/** RuleSets as compileSource would make them (names in a per-source table, first seen at 500). */
function sets(sources: { rules: Spec[]; history: string[]; maxAgeMs: number }[]): RuleSet[] {
  return sources.map((src, i) => {
    const dict = new NameTable();
    for (const h of src.history) dict.intern(h, 0, h.length, 100);
    const rs = new RuleSet(dict, { list: `l${i}`, action: null, tags: [], maxAgeMs: src.maxAgeMs }, 4);
    rs.initFilter(src.rules.length + src.history.length);
    src.rules.forEach((r, line) => {
      const id = dict.intern(r.name, 0, r.name.length, 500);
      let f = (r.kind === 'allow' ? F_ALLOW : 0) | matchFlag(r.match) | (r.important ? F_IMPORTANT : 0);
      let extras = null;
      if (r.expiresAt !== 0) {
        f |= F_EXP_OWN;
        extras = { expiresAt: r.expiresAt };
      } else if (src.maxAgeMs > 0) f |= F_EXP_AGE;
      rs.push(id, line + 1, f, extras);
      rs.addHash(hashRange(r.name, 0, r.name.length));
    });
    return rs.seal();
  });
}

function reference(rs: RuleSet[]): RefTrie {
  const t = new RefTrie();
  for (const s of rs) for (let row = 0; row < s.length; row++) t.add(s.rule(row));
  return t;
}

const NOWS = [0, 999, 1000, 2000, 2999, 3000, 5000];

describe('DomainTrie decides as the reference trie', () => {
  it('over random rules in up to four sources, random queries and clocks (fromSets)', () => {
    fc.assert(
      fc.property(fc.array(sourceArb, { minLength: 1, maxLength: 4 }), fc.array(queryArb, { minLength: 1, maxLength: 20 }), (sources, queries) => {
        const rs = sets(sources);
        const ref = reference(rs);
        const trie = DomainTrie.fromSets(rs);
        expect(trie.size).toBe(ref.size);
        for (const q of queries) for (const now of NOWS) expect(trie.match(q, now)).toBe(ref.match(q, now));
      }),
      { numRuns: 400 },
    );
  });

  it('built a few rules at a time (the chunked build the server uses), and through add()', () => {
    fc.assert(
      fc.property(fc.array(sourceArb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 5 }), fc.array(queryArb, { minLength: 1, maxLength: 10 }), (sources, budget, queries) => {
        const rs = sets(sources);
        const ref = reference(rs);
        const b = DomainTrie.builder(rs);
        while (!b.step(budget));
        const chunked = b.finish();
        const added = new DomainTrie();
        for (const s of rs) for (let row = 0; row < s.length; row++) added.add(s.rule(row));
        for (const q of queries) {
          for (const now of NOWS) {
            expect(chunked.match(q, now)).toBe(ref.match(q, now));
            expect(added.match(q, now)).toBe(ref.match(q, now));
          }
        }
        expect(chunked.size).toBe(ref.size);
        expect(added.size).toBe(ref.size);
      }),
      { numRuns: 200 },
    );
  });

  it('rules added after lookups (which point a one-rule key at its rule object) join the rules already asked for', () => {
    fc.assert(
      fc.property(fc.array(sourceArb, { minLength: 2, maxLength: 3 }), fc.array(queryArb, { minLength: 1, maxLength: 10 }), (sources, queries) => {
        const rs = sets(sources);
        const [first, ...later] = rs;
        const ref = reference(rs);
        const t = new DomainTrie();
        for (let row = 0; row < first!.length; row++) t.add(first!.rule(row));
        for (const q of queries) for (const now of NOWS) t.match(q, now);
        for (const s of later) for (let row = 0; row < s.length; row++) t.add(s.rule(row));
        for (const q of queries) for (const now of NOWS) expect(t.match(q, now)).toBe(ref.match(q, now));
        expect(t.size).toBe(ref.size);
      }),
      { numRuns: 300 },
    );
  });

  it('a base name asked for out of row order keeps its own rule when another list adds a rule for it later', () => {
    const names = ['a.com', 'b.com', 'c.com'];
    const [rs] = sets([{ rules: names.map((name) => ({ name, kind: 'block' as const, match: 'subtree' as const, important: false, expiresAt: 0 })), history: [], maxAgeMs: 0 }]);
    const t = DomainTrie.fromSets([rs!]);
    // c.com first: its rule is the first object the structure keeps (index 0), its row is 2.
    const c = t.match('x.c.com')!;
    expect(t.match('c.com')).toBe(c);
    expect(t.match('b.com')).toBe(rs!.rule(1));
    const allow = makeRule({ name: 'c.com', match: 'exact', line: 9, kind: 'allow' }, { list: 'later', kind: 'allow', match: 'exact', action: null, tags: [], firstSeen: 0 });
    t.add(allow);
    expect(t.match('c.com')).toBe(allow);
    expect(t.match('x.c.com')).toBe(c);
    expect(c.rule).toBe('c.com');
    expect(t.match('x.b.com')).toBe(rs!.rule(1));
    expect(t.match('a.com')).toBe(rs!.rule(0));
  });

  it('an expiring rule asked for many times still stops matching at its expiry', () => {
    const [rs] = sets([{ rules: [{ name: 'e.com', kind: 'block', match: 'subtree', important: false, expiresAt: 3000 }, { name: 'k.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 }]);
    const t = DomainTrie.fromSets([rs!]);
    for (let i = 0; i < 3; i++) {
      expect(t.match('x.e.com', 2999)).toBe(rs!.rule(0));
      expect(t.match('k.com', 5000)).toBe(rs!.rule(1));
    }
    expect(t.match('x.e.com', 3000)).toBeNull();
    expect(t.match('e.com', 5000)).toBeNull();
  });

  it('a rule for the empty name (the root) applies below every name', () => {
    const root = makeRule({ name: '', match: 'subtree', line: 1 }, { list: 'all', kind: 'block', match: 'subtree', action: null, tags: [], firstSeen: 0 });
    const allow = makeRule({ name: 'ok.com', match: 'subtree', line: 2, kind: 'allow' }, { list: 'al', kind: 'allow', match: 'subtree', action: null, tags: [], firstSeen: 0 });
    const t = new DomainTrie();
    t.add(root);
    t.add(allow);
    expect(t.match('x.example')).toBe(root);
    expect(t.match('ok.com')).toBe(allow);
    expect(t.match('')).toBe(root);
  });

  it('a name in two lists: the first list answers, an $important entry in the second takes over', () => {
    const rs = sets([
      { rules: [{ name: 'a.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 },
      { rules: [{ name: 'a.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }, { name: 'b.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }, { name: 'c.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 },
      { rules: [{ name: 'b.com', kind: 'block', match: 'subtree', important: true, expiresAt: 0 }], history: [], maxAgeMs: 0 },
    ]);
    const t = DomainTrie.fromSets(rs);
    expect(t.match('x.a.com')!.list).toBe('l0');
    expect(t.match('x.b.com')!.list).toBe('l2');
    expect(t.match('c.com')!.list).toBe('l1');
    expect(t.size).toBe(3);
  });

  it('a lookup allocates no rule object: the same object comes back for the same rule', () => {
    const rs = sets([{ rules: [{ name: 'a.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 }]);
    const t = DomainTrie.fromSets(rs);
    expect(t.match('x.a.com')).toBe(t.match('a.com'));
    expect(t.match('x.a.com')).toBe(rs[0]!.rule(0));
  });

  it('hands out one object per rule across many rules, and iterates with the objects already made', () => {
    const n = 10_000; // more rules than one page of made objects holds
    const rs = sets([{ rules: Array.from({ length: n }, (_, i) => ({ name: `r${i}.com`, kind: 'block' as const, match: 'subtree' as const, important: false, expiresAt: 0 })), history: [], maxAgeMs: 0 }])[0]!;
    const rows = [n - 1, 0, 4095, 4096, 8191, 8192, 5000];
    const first = rows.map((row) => rs.rule(row));
    expect(first.map((r) => r.rule)).toEqual(rows.map((row) => `r${row}.com`));
    expect(rows.map((row) => rs.rule(row))).toEqual(first);
    rows.forEach((row, i) => expect(rs.rule(row)).toBe(first[i]));
    const all = [...rs];
    expect(all).toHaveLength(n);
    rows.forEach((row, i) => expect(all[row]).toBe(first[i]));
    expect(all[1]!.rule).toBe('r1.com');
    expect(rs.map((r, row) => r.line === row + 1 && r.rule === `r${row}.com`).every(Boolean)).toBe(true);
  });

  it('a rule first asked for through a lookup is the rule its table makes (name taken from the query) and stays that object', () => {
    fc.assert(
      fc.property(fc.array(sourceArb, { minLength: 1, maxLength: 3 }), queryArb, fc.constantFrom(...NOWS), (sources, q, now) => {
        const fresh = sets(sources); // no rule object made yet
        const ref = reference(sets(sources)); // every rule made from its table first
        const t = DomainTrie.fromSets(fresh);
        const got = t.match(q, now);
        expect(got).toEqual(ref.match(q, now));
        if (got !== null) expect(t.match(q, now)).toBe(got);
      }),
      { numRuns: 400 },
    );
    // Names of 13 characters or more (V8 slices them rather than copying), asked exactly, from
    // below, with a leading dot; and the root rule, whose name is empty.
    const long = 'a-long-label-name.example.com';
    for (const q of [long, `x.y.${long}`, `.${long}`]) {
      const [rs] = sets([{ rules: [{ name: long, kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: ['other.example.com'], maxAgeMs: 0 }]);
      const m = DomainTrie.fromSets([rs!]).match(q)!;
      expect(m.rule).toBe(long);
      expect(m.labels).toBe(3);
      expect(m).toBe(rs!.rule(0));
    }
    const [root] = sets([{ rules: [{ name: '', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 }]);
    expect(DomainTrie.fromSets([root!]).match('a.example.com')!.rule).toBe('');
  });

  it('without a clock given, judges expiring rules at the time of the call, and reads the clock only for them', () => {
    const rs = sets([
      {
        rules: [
          { name: 'old.com', kind: 'block', match: 'subtree', important: false, expiresAt: 3000 },
          { name: 'kept.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 },
        ],
        history: [],
        maxAgeMs: 0,
      },
    ]);
    const t = DomainTrie.fromSets(rs);
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(2999);
      expect(t.match('a.old.com')!.rule).toBe('old.com');
      clock.mockReturnValue(3000);
      expect(t.match('a.old.com')).toBeNull();
      expect(t.match('a.old.com', 2999)!.rule).toBe('old.com');
      clock.mockClear();
      expect(t.match('a.kept.com')!.rule).toBe('kept.com');
      expect(t.match('unlisted.org')).toBeNull();
      expect(clock).not.toHaveBeenCalled();
    } finally {
      clock.mockRestore();
    }
  });

  it('keeps working for a structure built before its source table gained names', () => {
    const rs = sets([{ rules: [{ name: 'a.com', kind: 'block', match: 'subtree', important: false, expiresAt: 0 }], history: [], maxAgeMs: 0 }]);
    const t = DomainTrie.fromSets(rs);
    for (let i = 0; i < 1000; i++) rs[0]!.dict.intern(`n${i}.com`, 0, `n${i}.com`.length, 1);
    rs[0]!.dict.compact();
    expect(t.match('x.a.com')!.rule).toBe('a.com');
    expect(t.match('n5.com')).toBeNull();
  });
});

// ---- scanners and normalisation against the previous parsers ---------------------------------

const FRAGMENTS = [
  'example.com', 'a.b.example.co.uk', 'Upper.Example.COM', 'trailing.dot.com.', 'xn--bcher-kva.example', 'xn--zz.com', 'bücher.de',
  '1.2.3.4', '1.2.3', '0x7f.1', 'a.123', '123.abc', '0xab.cd', 'foo.0xab', '-lead.com', 'trail-.com', 'a_b._dmarc.org', 'a..b.com', '.a.com',
  `${'l'.repeat(63)}.com`, `${'l'.repeat(64)}.com`, `${'abcdefghi.'.repeat(26)}com`, 'single', 'https://c2.example.org/x.php', 'hxxp://bad[.]com',
  '23.254.211.230:443', '[2001:db8::1]:53', '2001:db8::1', 'a'.repeat(32), 'philip.je@proton.me', 'x.com/path', 'a.com:8080', 'zero\u200bwidth.com',
  '\u200bedge.com', 'localhost', 'localhost.localdomain', 'LOCALHOST.localdomain', '0.0.0.0', '::1', 'é.com', 'a.com#c', 'b.org,', '*.wild.com',
];
const SPACES = ['', ' ', '\t', '  ', '\u00a0', ' \t'];
const lineArb = fc.oneof(
  fc.tuple(fc.constantFrom(...SPACES), fc.constantFrom(...FRAGMENTS), fc.constantFrom(...SPACES), fc.constantFrom('', '# note', '#', ' #x')).map((p) => p.join('')),
  fc.tuple(fc.constantFrom(...FRAGMENTS), fc.constantFrom(' ', '\t'), fc.constantFrom(...FRAGMENTS)).map((p) => p.join('')),
  fc.constantFrom('', '# comment', '   ', '#', '\u00a0'),
);
const textArb = fc.tuple(fc.boolean(), fc.array(lineArb, { maxLength: 14 }), fc.constantFrom('\n', '\r\n', '\r'), fc.boolean()).map(([bom, lines, eol, last]) => (bom ? '\ufeff' : '') + lines.join(eol) + (last ? eol : ''));

const ADDRESSES = ['0.0.0.0', '127.0.0.1', '::', '::1', '1.2.3.4', 'fe80::1%eth0', 'bogus', '0.0.0.0#x'];
const hostsLineArb = fc.oneof(
  fc.tuple(fc.constantFrom(...SPACES), fc.constantFrom(...ADDRESSES), fc.array(fc.tuple(fc.constantFrom(' ', '\t', '  ', '\u00a0'), fc.constantFrom(...FRAGMENTS)).map((p) => p.join('')), { maxLength: 3 }), fc.constantFrom('', ' # c', '#c')).map(([a, b, c, d]) => a + b + c.join('') + d),
  lineArb,
);
const hostsTextArb = fc.tuple(fc.array(hostsLineArb, { maxLength: 12 }), fc.constantFrom('\n', '\r\n')).map(([l, eol]) => l.join(eol));

function reportOf(r: ParseReport): unknown {
  return { accepted: r.accepted, rejected: r.rejected, examples: r.examples, ignored: r.ignored, ips: r.ips, unsupported: r.unsupported };
}

describe('the fast scanners read lists as the previous parsers did', () => {
  it('plain: same entries, rejections, ignores and IPs', () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const a = new ParseReport();
        const b = new ParseReport();
        expect(PARSERS.plain(text, a, { now: 0 })).toEqual(refParsePlain(text, b));
        expect(reportOf(a)).toEqual(reportOf(b));
      }),
      { numRuns: 1500 },
    );
  });

  it('hosts: same entries and rejections', () => {
    fc.assert(
      fc.property(hostsTextArb, (text) => {
        const a = new ParseReport();
        const b = new ParseReport();
        expect(PARSERS.hosts(text, a, { now: 0 })).toEqual(refParseHosts(text, b));
        expect(reportOf(a)).toEqual(reportOf(b));
      }),
      { numRuns: 1500 },
    );
  });

  it('normalizeDomain: same answer, fast path or not', () => {
    const chars = fc.constantFrom('a', 'b', 'x', 'n', 'Z', '0', '9', '-', '_', '.', ' ', '\t', '\u200b', 'é', ':', '[', ']', '\u3002');
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.array(chars, { maxLength: 24 }).map((c) => c.join(''))), (s) => {
        expect(normalizeDomain(s)).toEqual(refNormalizeDomain(s));
        if (isCanonicalName(s, 0, s.length)) expect(refNormalizeDomain(s)).toEqual({ ok: true, name: s });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('the guard refuses what it refused before', () => {
  const extra = ['Corp.Example.', 'shop.example.co.uk', 'deep.a.b.example.net'];
  const guard = new Guard([...DEFAULT_PROTECTED, ...extra]);
  const ref = new RefGuard([...DEFAULT_PROTECTED, ...extra]);
  const pool = [
    ...DEFAULT_PROTECTED, 'com', 'co.uk', 'github.io', 'x.github.io', 'blogspot.com', 'a.b.blogspot.com', 'raw.githubusercontent.com', 'githubusercontent.com.evil.net',
    'corp.example', 'x.corp.example', 'example', 'a.b.example.net', 'b.example.net', 'example.net', 'x.deep.a.b.example.net', 'kawasaki.jp', 'x.kawasaki.jp',
    'city.kawasaki.jp', 'msstorageazure.com', '3cx.com', 'www.3cx.com', 'cx.com', 'od.lk', 'lk', 'xn--p1ai', 'a.xn--p1ai', '_dmarc.microsoft.com', 'ck', '_x.ck',
  ];
  it('for protected names, their parents and children, public suffixes and others', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...pool), fc.tuple(fc.constantFrom('www', 'a-b', 'x'), fc.constantFrom(...pool)).map(([l, n]) => `${l}.${n}`)), (name) => {
        expect(guard.check(name)).toEqual(ref.check(name));
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- compileSource against the previous compile ----------------------------------------------

function cfgOf(extra: Partial<ListConfig>): ListConfig {
  return listConfig({ name: 'src', path: 'src.txt', tags: ['t1'], ...extra });
}

describe('compileSource compiles as before', () => {
  const guardNames = [...DEFAULT_PROTECTED];
  const texts: [string, Partial<ListConfig>][] = [
    ['example.com\nwww.example.com\nexample.com\ngithub.com\nco.uk\nhttps://raw.githubusercontent.com/x\nhttps://c2.example.org/p\n1.2.3.4\nUPPER.example.net\n', { format: 'plain' }],
    ['0.0.0.0 a.com b.com\n127.0.0.1 localhost\n0.0.0.0 Upper.COM github.com\n', { format: 'hosts' }],
    ['*.wild.example.com\nwild.example.com\n', { format: 'wildcard' }],
    ['||ads.example.com^\n@@||ok.ads.example.com^\n||imp.example.com^$important\n', { format: 'adblock' }],
    ['a.example\nb.example\n', { format: 'plain', kind: 'allow' }],
    ['a.example\nb.example\n', { format: 'plain', maxAgeDays: 30 }],
    ['a.example\nb.example\n', { format: 'plain', match: 'exact', action: 'nxdomain' }],
  ];
  for (const [text, extra] of texts) {
    it(`${extra.format} ${JSON.stringify(extra).slice(0, 60)}`, () => {
      const cfg = cfgOf(extra);
      const now = 1_800_000_000_000;
      const seen = new Map([['b.example', 1_700_000_000_000]]);
      const refSeen = new Map(seen);
      const ref = refCompile(text, cfg, new RefGuard(guardNames), refSeen, now);
      const got = compileSource(text, cfg, new Guard(guardNames), seen, now);
      expect([...got.rules]).toEqual(ref.rules);
      expect(got.rules.length).toBe(ref.rules.length);
      expect(got.guarded).toEqual(ref.guarded);
      expect(got.notEnforceable).toEqual(ref.notEnforceable);
      expect(got.ips).toEqual(ref.ips);
      expect(reportOf(got.report)).toEqual(reportOf(ref.report));
      expect([...seen]).toEqual([...refSeen]);
      // The same through a NameTable (the FeedManager's first-seen store).
      const table = new NameTable();
      table.set('b.example', 1_700_000_000_000);
      const viaTable = compileSource(text, cfg, new Guard(guardNames), table, now);
      expect([...viaTable.rules]).toEqual(ref.rules);
      expect(new Map(table.entries())).toEqual(refSeen);
    });
  }

  it('random plain lists, with and without maxAgeDays', () => {
    fc.assert(
      fc.property(textArb, fc.constantFrom(0, 7), fc.constantFrom<'block' | 'allow'>('block', 'allow'), (text, maxAgeDays, kind) => {
        const cfg = cfgOf({ format: 'plain', maxAgeDays, kind });
        const ref = refCompile(text, cfg, new RefGuard(guardNames), new Map(), 5);
        const got = compileSource(text, cfg, new Guard(guardNames), new NameTable(), 5);
        expect([...got.rules]).toEqual(ref.rules);
        expect(got.guarded).toEqual(ref.guarded);
        expect(reportOf(got.report)).toEqual(reportOf(ref.report));
      }),
      { numRuns: 500 },
    );
  });

  it('a trie over compiled sources answers as the reference trie over the previous rules', () => {
    const a = compileSource('ads.example.com\nx.example.org\n', cfgOf({ name: 'a', format: 'plain' }), new Guard(guardNames), new NameTable(), 1);
    const b = compileSource('||ads.example.com^$important\n@@||ok.ads.example.com^\n', cfgOf({ name: 'b', format: 'adblock' }), new Guard(guardNames), new NameTable(), 1);
    const c = compileSource('ok.ads.example.com\nx.example.org\n', cfgOf({ name: 'c', format: 'plain', kind: 'allow' }), new Guard(guardNames), new NameTable(), 1);
    const trie = DomainTrie.fromSets([a.rules, b.rules, c.rules]);
    const ref = new RefTrie();
    for (const s of [a.rules, b.rules, c.rules]) for (const r of s) ref.add(r);
    for (const q of ['ads.example.com', 'www.ads.example.com', 'ok.ads.example.com', 'x.ok.ads.example.com', 'x.example.org', 'y.x.example.org', 'example.org']) {
      const want: RuleMatch | null = ref.match(q);
      const m = trie.match(q);
      expect(m === null ? null : { ...m }).toEqual(want === null ? null : { ...want });
    }
  });
});
