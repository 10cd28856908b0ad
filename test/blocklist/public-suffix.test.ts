// isPublicSuffix: the guard's "is this name a public suffix" answers exactly as tldts does (private
// domains allowed), though it asks tldts only for names the PSL could cover.
import { getPublicSuffix } from 'tldts';
import { describe, expect, it } from 'vitest';
import { isPublicSuffix, pslRuleNames } from '../../src/blocklist/public-suffix.js';

const tldts = (name: string): boolean => getPublicSuffix(name, { allowPrivateDomains: true }) === name;

describe('isPublicSuffix', () => {
  it('says what tldts says for every rule of the PSL, one label below it and one above it', () => {
    const rules = pslRuleNames();
    // Thousands of nodes: the shortcut reads tldts's own trie (a different tldts layout would leave it empty).
    expect(rules.length).toBeGreaterThan(5000);
    expect(rules).toContain('co.uk');
    expect(rules).toContain('github.io');
    const wrong: string[] = [];
    for (const r of rules) {
      const dot = r.indexOf('.');
      for (const name of [r, `zz9.${r}`, `www.${r}`, dot < 0 ? 'zz9' : r.slice(dot + 1), dot < 0 ? `zz9.${r}` : `zz9${r.slice(dot)}`]) {
        if (isPublicSuffix(name) !== tldts(name)) wrong.push(name);
      }
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ['com', true],
    ['example.com', false],
    ['co.uk', true],
    ['bbc.co.uk', false],
    ['github.io', true],
    ['user.github.io', false],
    ['anything.ck', true], // *.ck
    ['www.ck', false], // !www.ck
    ['a.b.ck', false],
    ['zz9unknowntld', true], // the default rule: any single label
    ['name.zz9unknowntld', false],
    ['dvtutdphqawb.com', false],
    ['pz8s.mpde.g4e6hpw8.y19yudyiu2jyu3.club', false],
  ])('%s: %s', (name, expected) => {
    expect(isPublicSuffix(name)).toBe(expected);
    expect(tldts(name)).toBe(expected);
  });
});
