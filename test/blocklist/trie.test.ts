// The suffix trie: a listed name blocks itself and its subdomains; the most specific rule wins,
// and on the same name an allow beats a block.
import { describe, expect, it } from 'vitest';
import { makeRule, type ListEntry, type MatchMode } from '../../src/blocklist/rule.js';
import { DomainTrie } from '../../src/blocklist/trie.js';

const defaults = (list: string, kind: 'block' | 'allow' = 'block') => ({ list, kind, match: 'subtree' as const, action: null, tags: [], firstSeen: 0 });

function trie(rules: [kind: 'block' | 'allow', name: string, match?: MatchMode, extra?: Partial<ListEntry>][]): DomainTrie {
  const t = new DomainTrie();
  rules.forEach(([kind, name, match = 'subtree', extra = {}], i) => t.add(makeRule({ name, match, line: i + 1, kind, ...extra }, defaults(kind === 'block' ? 'bl' : 'al'))));
  return t;
}

const t = trie([
  ['block', 'msstorageazure.com'],
  ['block', 'example.net'],
  ['allow', 'good.example.net'],
  ['block', 'bad.good.example.net'],
  ['block', 'exact.example.org', 'exact'],
  ['block', 'wild.example.org', 'below'],
  ['block', 'imp.example.com', 'subtree', { important: true }],
  ['allow', 'x.imp.example.com'],
  ['block', 'old.example.com', 'subtree', { expiresAt: 1000 }],
  ['block', 'both.example.org'],
  ['allow', 'both.example.org'],
]);

describe('DomainTrie.match', () => {
  const cases: [query: string, expected: string | null][] = [
    ['msstorageazure.com', 'block msstorageazure.com'],
    ['cdn.msstorageazure.com', 'block msstorageazure.com'],
    ['a.b.c.msstorageazure.com', 'block msstorageazure.com'],
    ['xmsstorageazure.com', null],
    ['com', null],
    ['', null],
    ['example.net', 'block example.net'],
    ['good.example.net', 'allow good.example.net'],
    ['www.good.example.net', 'allow good.example.net'],
    ['bad.good.example.net', 'block bad.good.example.net'],
    ['x.bad.good.example.net', 'block bad.good.example.net'],
    ['exact.example.org', 'block exact.example.org'],
    ['sub.exact.example.org', null],
    ['both.example.org', 'allow both.example.org'],
    ['other.org', null],
    ['wild.example.org', null],
    ['a.wild.example.org', 'block wild.example.org'],
    ['x.imp.example.com', 'block imp.example.com'],
    ['old.example.com', null],
  ];
  for (const [q, want] of cases) {
    it(`${q || '(root)'} → ${want ?? 'no rule'}`, () => {
      const m = t.match(q, 5000);
      expect(m === null ? null : `${m.kind} ${m.rule}`).toBe(want);
    });
  }

  it('counts each rule once and keeps the first list for a duplicate', () => {
    const d = new DomainTrie();
    d.add(makeRule({ name: 'a.com', match: null, line: 1 }, defaults('first')));
    d.add(makeRule({ name: 'a.com', match: null, line: 9 }, defaults('second')));
    expect(d.size).toBe(1);
    expect(d.match('x.a.com')!.list).toBe('first');
  });

  it('merges exact and subtree entries for one name: the union blocks the subtree (F1)', () => {
    const d = new DomainTrie();
    d.add(makeRule({ name: 'a.com', match: 'exact', line: 1 }, defaults('exact-feed')));
    d.add(makeRule({ name: 'a.com', match: 'subtree', line: 1 }, defaults('subtree-feed')));
    expect(d.match('a.com')!.list).toBe('exact-feed');
    expect(d.match('x.a.com')!.list).toBe('subtree-feed');
  });

  it('gives the same answer whichever order a block and an allow for one name arrive in (F2)', () => {
    for (const order of [['block', 'allow'], ['allow', 'block']] as const) {
      const d = new DomainTrie();
      for (const kind of order) d.add(makeRule({ name: 'a.com', match: 'subtree', line: 1, kind }, defaults(kind)));
      expect(d.match('www.a.com')!.kind).toBe('allow');
    }
  });

  it('an $important allow beats an $important block', () => {
    const d = new DomainTrie();
    d.add(makeRule({ name: 'a.com', match: 'subtree', line: 1, important: true }, defaults('b')));
    d.add(makeRule({ name: 'a.com', match: 'subtree', line: 2, kind: 'allow', important: true }, defaults('a', 'allow')));
    expect(d.match('a.com')!.kind).toBe('allow');
  });

  it('an expired rule stops matching at its expiry time', () => {
    expect(t.match('old.example.com', 999)!.rule).toBe('old.example.com');
    expect(t.match('old.example.com', 1000)).toBeNull();
  });

  it('returns the same rule object every time (no allocation per lookup)', () => {
    expect(t.match('a.msstorageazure.com')).toBe(t.match('b.msstorageazure.com'));
  });
});
