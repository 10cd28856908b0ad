// The suffix trie: a listed name blocks itself and its subdomains; the most specific rule wins,
// and on the same name an allow beats a block.
import { describe, expect, it } from 'vitest';
import { makeRule } from '../../src/blocklist/rule.js';
import { DomainTrie } from '../../src/blocklist/trie.js';

function trie(rules: [kind: 'block' | 'allow', name: string, subtree?: boolean][]): DomainTrie {
  const t = new DomainTrie();
  rules.forEach(([kind, name, subtree = true], i) => t.add(makeRule(kind, kind === 'block' ? 'bl' : 'al', { name, subtree, line: i + 1 }, null)));
  return t;
}

const t = trie([
  ['block', 'msstorageazure.com'],
  ['block', 'example.net'],
  ['allow', 'good.example.net'],
  ['block', 'bad.good.example.net'],
  ['block', 'exact.example.org', false],
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
  ];
  for (const [q, want] of cases) {
    it(`${q || '(root)'} → ${want ?? 'no rule'}`, () => {
      const m = t.match(q);
      expect(m === null ? null : `${m.kind} ${m.rule}`).toBe(want);
    });
  }

  it('counts each rule once and keeps the first list for a duplicate', () => {
    const d = new DomainTrie();
    d.add(makeRule('block', 'first', { name: 'a.com', subtree: true, line: 1 }, null));
    d.add(makeRule('block', 'second', { name: 'a.com', subtree: true, line: 9 }, null));
    expect(d.size).toBe(1);
    expect(d.match('x.a.com')!.list).toBe('first');
  });

  it('returns the same rule object every time (no allocation per lookup)', () => {
    expect(t.match('a.msstorageazure.com')).toBe(t.match('b.msstorageazure.com'));
  });
});
