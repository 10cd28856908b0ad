// AdGuard DNS filtering syntax: FORMATS.md §4, ADVERSARIAL_INPUTS.md B2–B5, C2, C3, D2–D9, F2,
// and the real AdGuard exceptions list.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeRule, type IpEntry, type ListEntry } from '../../../src/blocklist/rule.js';
import { parseAdblock } from '../../../src/blocklist/parsers/adblock.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import { DomainTrie } from '../../../src/blocklist/trie.js';

const parse = (text: string) => {
  const report = new ParseReport();
  const entries = parseAdblock(text, report, { now: 0 });
  return { entries, report };
};

type Want =
  | { entry: Omit<ListEntry, 'line'> }
  | { ip: Omit<IpEntry, 'line'> }
  | { reject: RegExp }
  | { unsupported: RegExp }
  | { ignored: string }
  | 'comment';

/** Checks that one rule produced exactly `want` and nothing else. */
function expectOutcome(rule: string, want: Want): void {
  const { entries, report } = parse(rule);
  const got = {
    entries,
    ips: report.ips,
    rejected: report.examples.map((e) => e.reason),
    unsupported: report.unsupportedExamples.map((e) => e.reason),
    ignored: report.ignored,
  };
  const none = { entries: [], ips: [], rejected: [], unsupported: [], ignored: {} };
  if (want === 'comment') expect(got).toEqual(none);
  else if ('entry' in want) expect(got).toEqual({ ...none, entries: [{ ...want.entry, line: 1 }] });
  else if ('ip' in want) expect(got).toEqual({ ...none, ips: [{ ...want.ip, line: 1 }] });
  else if ('reject' in want) expect(got).toEqual({ ...none, rejected: [expect.stringMatching(want.reject)] });
  else if ('unsupported' in want) expect(got).toEqual({ ...none, unsupported: [expect.stringMatching(want.unsupported)] });
  else expect(got).toEqual({ ...none, ignored: { [want.ignored]: 1 } });
}

const subtree = (name: string, extra: Partial<ListEntry> = {}): Want => ({ entry: { name, match: 'subtree', ...extra } });
const exact = (name: string, extra: Partial<ListEntry> = {}): Want => ({ entry: { name, match: 'exact', ...extra } });
const below = (name: string): Want => ({ entry: { name, match: 'below' } });
const allow = { kind: 'allow' } as const;

describe('adblock rules', () => {
  const cases: [string, string, Want][] = [
    // Anchors and match modes (FORMATS.md §4 quotes).
    ['||d^', '||example.org^', subtree('example.org')],
    ['||d^|', '||example.org^|', subtree('example.org')],
    ['||d without ^', '||example.org', subtree('example.org')],
    ['|d^|', '|example.org^|', exact('example.org')],
    ['|d^', '|example.org^', exact('example.org')],
    ['bare d', 'example.org', exact('example.org')],
    ['C1', '||Example.ORG^', subtree('example.org')],
    ['C2', '||msstorageazure.com.^', subtree('msstorageazure.com')],
    ['@@', '@@||example.org^', subtree('example.org', allow)],
    ['@@ exact', '@@|ezodn.com^|', exact('ezodn.com', allow)],
    ['$important', '||example.org^$important', subtree('example.org', { important: true })],
    ['@@ $important', '@@||example.org^$important', subtree('example.org', { kind: 'allow', important: true })],
    ['D1 ||*.d^', '||*.example.org^', below('example.org')],
    ['D1 *.d^', '*.example.org^', below('example.org')],
    ['D1 .d^', '.example.org^', below('example.org')],
    // B2–B5: comments, cosmetic rules, preprocessor.
    ['B2', '! https://github.com/AdguardTeam/AdGuardSDNSFilter/issues/1464', 'comment'],
    ['B4', '! Blocked by CNAME ||leadpages.net^$third-party', 'comment'],
    ['B4 #', '# ||leadpages.net^', 'comment'],
    ['bare !', '!', 'comment'],
    ['B3 ##', 'example.com##.banner', { ignored: 'cosmetic' }],
    ['B3 #@#', 'example.com#@#.banner', { ignored: 'cosmetic' }],
    ['B3 #$#', 'example.com#$#body { padding: 0; }', { ignored: 'cosmetic' }],
    ['B3 #?#', 'example.com#?#div:has(> a.ad)', { ignored: 'cosmetic' }],
    ['B3 generic ##', '##.ad-banner', { ignored: 'cosmetic' }],
    ['B3 $$', 'example.com$$script[data-src="ads"]', { ignored: 'cosmetic' }],
    ['B5 header', '[Adblock Plus 2.0]', { ignored: 'preprocessor' }],
    ['B5 !#if', '!#if (adguard)', { ignored: 'preprocessor' }],
    ['B5 !#include', '!#include https://example.invalid/more.txt', { ignored: 'preprocessor' }],
    // C3, C14: names that are not names.
    ['C3', '||msstorageazure..com^', { reject: /empty label/ }],
    ['C14', '0x7f.1', { reject: /numeric address/ }],
    ['partial IP', '||192.168.^', { reject: /numeric address/ }],
    ['hosts line', '0.0.0.0 example.org', { reject: /whitespace/ }],
    // D2: `*` inside a pattern; unanchored suffixes.
    ['D2', '||data-*.herz-fuer-tiere.de^', { unsupported: /'\*' inside a pattern/ }],
    ['D2', '@@||cdn.us*.exponea.com^|', { unsupported: /'\*' inside a pattern/ }],
    ['D2', '@@||bcicl.*.evergage.com^|', { unsupported: /'\*' inside a pattern/ }],
    ['D2 unanchored', '@@-ds.metric.gstatic.com^|', { unsupported: /without a start anchor/ }],
    ['D2 unanchored', 'example.org^', { unsupported: /without a start anchor/ }],
    // D3, D4: over-broad.
    ['D3', '||*^', { reject: /every name/ }],
    ['D3', '*', { reject: /every name/ }],
    ['D3 allow with $client', '@@||*^$client=127.0.0.1', { unsupported: /\$client/ }],
    ['D3 regex', '/.*/', { unsupported: /no regex matching/ }],
    ['D4', '||com^', { reject: /single label/ }],
    ['D4', '||wiki^', { reject: /single label/ }],
    ['D4', '||*.com^', { reject: /single label/ }],
    // D5: regular expressions.
    ['D5', '/^(.+[-_.])??ad[sxv]?[0-9]*[-_.]/', { unsupported: /no regex matching/ }],
    ['D5 $ in regex', '/(a+)+$/', { unsupported: /no regex matching/ }],
    ['D5 modifiers', '@@/example\\.(com|org)/$important', { unsupported: /no regex matching/ }],
    // D6: unknown modifiers drop the whole rule; known DNS ones are shown as unsupported.
    ['D6', '||x.com^$third-party', { ignored: 'unsupported-modifier' }],
    ['D6', '||x.com^$script', { ignored: 'unsupported-modifier' }],
    ['D6', '||x.com^$domain=a.com|b.com', { ignored: 'unsupported-modifier' }],
    ['D6 mixed', '||x.com^$important,third-party', { ignored: 'unsupported-modifier' }],
    ['$client CIDR', '||x.com^$client=192.168.0.0/24', { unsupported: /\$client/ }],
    ['$client quoted', "||x.com^$client='Frank\\'s laptop'|~'Guest, phone'", { unsupported: /\$client/ }],
    ['$dnstype', '||x.com^$dnstype=AAAA', { unsupported: /\$dnstype/ }],
    ['$dnsrewrite', '||x.com^$dnsrewrite=NOERROR;A;1.2.3.4', { unsupported: /\$dnsrewrite/ }],
    ['$denyallow', '||x.com^$denyallow=a.x.com', { unsupported: /\$denyallow/ }],
    ['$ctag', '||x.com^$ctag=device_pc', { unsupported: /\$ctag/ }],
    ['bad quote', '||x.com^$client="laptop', { reject: /unterminated quote/ }],
    ['empty modifier', '||x.com^$', { reject: /empty modifier/ }],
    ['valued flag', '||x.com^$important=yes', { reject: /takes no value/ }],
    // D9: paths.
    ['D9', '||example.com/ads/*', { ignored: 'path-rule' }],
    ['D9', 'apshenyihl.com/include/arc.speclist.class.php', { ignored: 'path-rule' }],
    ['D9 URL', '|https://example.org/', { ignored: 'path-rule' }],
    // IP-looking patterns go to the IP table.
    ['IPv4', '||23.254.211.230^', { ip: { cidr: '23.254.211.230/32', trigger: 'response-ip', kind: 'block' } }],
    ['IPv4 allow', '@@|10.0.0.1^|', { ip: { cidr: '10.0.0.1/32', trigger: 'response-ip', kind: 'allow' } }],
    ['IPv6', '||2001:db8::1^', { ip: { cidr: '2001:db8::1/128', trigger: 'response-ip', kind: 'block' } }],
    ['IPv6 brackets', '||[2001:db8::1]^', { ip: { cidr: '2001:db8::1/128', trigger: 'response-ip', kind: 'block' } }],
    ['CIDR', '10.0.0.0/8', { ip: { cidr: '10.0.0.0/8', trigger: 'response-ip', kind: 'block' } }],
  ];
  for (const [row, rule, want] of cases) {
    it(`${row}: ${rule}`, () => expectOutcome(rule, want));
  }
});

describe('$badfilter (D8)', () => {
  const names = (text: string) => parse(text).entries.map((e) => `${e.kind === 'allow' ? '@@' : ''}${e.name}${e.important ? '!' : ''}`);
  const cases: [string, string, string[]][] = [
    ['disables the rule after it', '||x.com^\n||x.com^$badfilter', []],
    ['disables the rule before it', '||x.com^$badfilter\n||x.com^', []],
    ['leaves other rules alone', '||x.com^\n||y.com^\n||x.com^$badfilter', ['y.com']],
    ['needs the same modifiers', '||x.com^$important\n||x.com^$badfilter', ['x.com!']],
    ['modifier order does not matter', '||x.com^$important\n||x.com^$badfilter,important', []],
    ['a block badfilter keeps the exception', '@@||x.com^\n||x.com^$badfilter', ['@@x.com']],
    ['an exception badfilter', '@@||x.com^\n@@||x.com^$badfilter', []],
    ['case of the pattern does not matter', '||X.com^\n||x.COM^$badfilter', []],
  ];
  for (const [what, text, want] of cases) {
    it(what, () => expect(names(text)).toEqual(want));
  }

  it('counts the badfilter rules and what they disabled, and disables unsupported rules too', () => {
    const { entries, report } = parse('||a.com^$client=1.2.3.4\n||a.com^$client=1.2.3.4,badfilter\n||b.com^$badfilter');
    expect(entries).toEqual([]);
    expect(report.unsupported).toBe(0);
    expect(report.ignored).toEqual({ badfilter: 2, 'disabled-by-badfilter': 1 });
  });
});

describe('exception precedence through the trie (D7, F2)', () => {
  const decide = (text: string, name: string) => {
    const trie = new DomainTrie();
    const d = { list: 'l', kind: 'block' as const, match: 'subtree' as const, action: null, tags: [], firstSeen: 0 };
    for (const e of parse(text).entries) trie.add(makeRule(e, d));
    return trie.match(name, 0)?.kind ?? 'none';
  };
  const cases: [string, string[], string, string][] = [
    ['$important block beats an exception', ['||x.com^$important', '@@||x.com^'], 'a.x.com', 'block'],
    ['$important exception beats both', ['||x.com^$important', '@@||x.com^$important', '||x.com^'], 'x.com', 'allow'],
    ['exception beats a plain block', ['||x.com^', '@@||x.com^'], 'x.com', 'allow'],
    ['exact exception leaves subdomains blocked', ['||x.com^', '@@|x.com^|'], 'a.x.com', 'block'],
  ];
  for (const [what, rules, name, want] of cases) {
    it(`${what}, in either order`, () => {
      expect(decide(rules.join('\n'), name)).toBe(want);
      expect(decide([...rules].reverse().join('\n'), name)).toBe(want);
    });
  }
});

describe('adblock framing', () => {
  it('handles BOM, CRLF, lone CR and a missing final newline, keeping line numbers', () => {
    const { entries } = parse('\ufeff! header\r\n||a.com^\r\n\r\n@@|b.com^|\rc.com');
    expect(entries).toEqual([
      { name: 'a.com', match: 'subtree', line: 2 },
      { name: 'b.com', match: 'exact', line: 4, kind: 'allow' },
      { name: 'c.com', match: 'exact', line: 5 },
    ]);
  });

  it('reads the tricky fixture and never follows !#include', () => {
    const text = readFileSync(new URL('../../fixtures/feeds/adblock-tricky.txt', import.meta.url), 'utf8');
    const { entries, report } = parse(text);
    expect(entries).toEqual([
      { name: 'msstorageazure.com', match: 'subtree', line: 5 },
      { name: 'exact.azureonlinestorage.com', match: 'exact', line: 6 },
      { name: 'akamaicontainer.com', match: 'exact', line: 7 },
      { name: 'sub.glcloudservice.com', match: 'subtree', line: 8, important: true },
      { name: 'safe.msstorageazure.com', match: 'subtree', line: 9, kind: 'allow' },
    ]);
    expect(report.ips).toEqual([{ cidr: '23.254.211.230/32', line: 21, trigger: 'response-ip', kind: 'block' }]);
    expect(report.ignored).toEqual({
      preprocessor: 4,
      cosmetic: 4,
      'unsupported-modifier': 1,
      'path-rule': 1,
      badfilter: 1,
      'disabled-by-badfilter': 1,
    });
    expect(report.unsupportedExamples.map((e) => e.line)).toEqual([18, 19, 24]);
    expect(report.examples.map((e) => [e.line, e.reason])).toEqual([[20, expect.stringMatching(/single label/)]]);
  });
});

// The real AdGuard exceptions list (feeds/SOURCES.md: AdGuardSDNSFilter Filters/exceptions.txt @ 0090713c).
const EXCEPTIONS = new URL('../../../../shared/feeds/adguard/exceptions.txt', import.meta.url);
const haveExceptions = existsSync(EXCEPTIONS);
if (!haveExceptions) console.warn(`adblock.test: real-feed tests skipped, missing ${fileURLToPath(EXCEPTIONS)}`);

describe.skipIf(!haveExceptions)('feeds/adguard/exceptions.txt', () => {
  const load = () => parse(readFileSync(EXCEPTIONS, 'utf8'));

  it('yields 136 exceptions: 125 names (14 exact, 111 subtree) and 11 unsupported patterns', () => {
    const { entries, report } = load();
    expect(entries).toHaveLength(125);
    expect(report.accepted).toBe(125);
    expect(entries.every((e) => e.kind === 'allow' && e.important === undefined)).toBe(true);
    expect(entries.filter((e) => e.match === 'exact')).toHaveLength(14);
    expect(entries.filter((e) => e.match === 'subtree')).toHaveLength(111);
    expect(report.unsupported).toBe(11);
    // Ten `*` patterns and the unanchored `-ds.metric.gstatic.com^|`.
    expect(report.unsupportedExamples.map((e) => e.line)).toEqual([2, 22, 68, 79, 80, 82, 94, 173, 198, 202, 266]);
    expect(report.unsupportedExamples.filter((e) => /'\*' inside/.test(e.reason))).toHaveLength(10);
    expect(report.rejected).toBe(0);
    expect(report.ignored).toEqual({});
    expect(report.ips).toEqual([]);
  });

  it('maps the anchors as written', () => {
    const { entries } = load();
    const find = (name: string) => entries.find((e) => e.name === name);
    expect(find('ezodn.com')).toEqual({ name: 'ezodn.com', match: 'exact', line: 14, kind: 'allow' });
    expect(find('statcounter.com')).toMatchObject({ match: 'exact', line: 193 });
    expect(find('www.statcounter.com')).toMatchObject({ match: 'subtree', line: 194 });
    expect(find('omniture.walmart.com')).toMatchObject({ match: 'subtree', line: 276 }); // last line
  });

  it('takes nothing from comments (B4: leadpages.net, relevant-digital.com stay out)', () => {
    const { entries } = load();
    const lines = readFileSync(EXCEPTIONS, 'utf8').split('\n');
    expect(entries.map((e) => e.name)).not.toContain('leadpages.net');
    expect(entries.map((e) => e.name)).not.toContain('relevant-digital.com');
    expect(entries.every((e) => lines[e.line - 1]!.startsWith('@@'))).toBe(true);
  });
});
