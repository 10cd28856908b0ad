// isPublicSuffix: the guard's "is this name a public suffix" answers exactly as tldts does (private
// domains allowed), though it asks tldts only for names the PSL could cover.
import { getPublicSuffix } from 'tldts';
import { describe, expect, it } from 'vitest';
import { scanName } from '../../src/blocklist/domain.js';
import { Guard } from '../../src/blocklist/guard.js';
import { isPublicSuffix, pslRuleNames } from '../../src/blocklist/public-suffix.js';

const tldts = (name: string): boolean => getPublicSuffix(name, { allowPrivateDomains: true }) === name;

/** Every PSL node as a name, the name one label below and one above it, and its siblings' shapes. */
function aroundRules(): string[] {
  const out: string[] = [];
  for (const r of pslRuleNames()) {
    const dot = r.indexOf('.');
    out.push(r, `zz9.${r}`, `www.${r}`, dot < 0 ? 'zz9' : r.slice(dot + 1), dot < 0 ? `zz9.${r}` : `zz9${r.slice(dot)}`);
  }
  return out;
}

describe('isPublicSuffix', () => {
  it('says what tldts says for every rule of the PSL, one label below it and one above it', () => {
    const rules = pslRuleNames();
    // Thousands of nodes: the shortcut reads tldts's own trie (a different tldts layout would leave it empty).
    expect(rules.length).toBeGreaterThan(5000);
    expect(rules).toContain('co.uk');
    expect(rules).toContain('github.io');
    const wrong = aroundRules().filter((name) => isPublicSuffix(name) !== tldts(name));
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

describe('Guard refuses public suffixes, exactly those tldts names', () => {
  const guard = new Guard([]);
  it('through checkScanned (a list being compiled: the hashes of its scan) and check', () => {
    const wrong: string[] = [];
    for (const name of aroundRules()) {
      if (scanName(name, 0, name.length) !== name.length) continue; // U-labels: no list name looks like that
      const scannedKind = guard.checkScanned(name)?.kind ?? null;
      const checkedKind = guard.check(name)?.kind ?? null;
      const expected = tldts(name) ? 'public-suffix' : null;
      if (scannedKind !== expected || checkedKind !== expected) wrong.push(`${name}: ${scannedKind} ${checkedKind}`);
    }
    expect(wrong).toEqual([]);
  });
});
