// RPZ zone files: FORMATS.md §5, ADVERSARIAL_INPUTS.md A3–A6, B6–B8, C1–C3, C13, C17, C18,
// D1–D4, F2, and the real PowerDNS sample zone.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeRule, type IpEntry, type ListEntry } from '../../../src/blocklist/rule.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import { parseRpz } from '../../../src/blocklist/parsers/rpz.js';
import { DomainTrie } from '../../../src/blocklist/trie.js';

const parse = (text: string) => {
  const report = new ParseReport();
  const entries = parseRpz(text, report, { now: 0 });
  return { entries, report };
};

const HEAD = '$ORIGIN rpz.local.\n@ SOA ns.example.net. hostmaster 1 12h 15m 3w 2h\n  NS ns.example.net.\n';
const LINE = 4; // the line a record appended to HEAD is on

type Want =
  | { entry: Omit<ListEntry, 'line'> }
  | { ip: Omit<IpEntry, 'line'> }
  | { reject: RegExp }
  | { unsupported: RegExp }
  | { ignored: string };

const nx = (name: string, match: 'exact' | 'below' = 'exact'): Want => ({ entry: { name, match, action: 'nxdomain' } });

describe('RPZ records', () => {
  const cases: [string, string, Want][] = [
    // Actions (FORMATS.md §5 table).
    ['NXDOMAIN', 'evil.com CNAME .', nx('evil.com')],
    ['D1 wildcard', '*.evil.com CNAME .', nx('evil.com', 'below')],
    ['NODATA', 'evil.com CNAME *.', { entry: { name: 'evil.com', match: 'exact', action: 'nodata' } }],
    ['PASSTHRU', 'evil.com CNAME rpz-passthru.', { entry: { name: 'evil.com', match: 'exact', kind: 'allow' } }],
    ['DROP', 'evil.com CNAME rpz-drop.', { entry: { name: 'evil.com', match: 'exact', action: 'drop' } }],
    ['TCP-only', 'evil.com CNAME rpz-tcp-only.', { entry: { name: 'evil.com', match: 'exact', action: 'tcp-only' } }],
    ['local CNAME', 'evil.com CNAME Walled.Example.NET.', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'CNAME', value: 'walled.example.net' }] } } }],
    ['local CNAME, relative', 'evil.com CNAME walled', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'CNAME', value: 'walled.rpz.local' }] } } }],
    ['local A', 'evil.com A 192.0.2.1', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'A', value: '192.0.2.1' }] } } }],
    ['local AAAA', 'evil.com AAAA 2001:DB8::1', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'AAAA', value: '2001:db8::1' }] } } }],
    ['local TXT', 'evil.com TXT "blocked; by" " policy" ; comment', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'TXT', value: 'blocked; by policy' }] } } }],
    ['TXT escapes', 'evil.com TXT a\\;b "c\\"d"', { entry: { name: 'evil.com', match: 'exact', action: { local: [{ type: 'TXT', value: 'a;bc"d' }] } } }],
    ['relative action name', 'evil.com CNAME rpz-drop', { reject: /RPZ actions are absolute/ }],
    ['other rpz- action', 'evil.com CNAME rpz-skipzone.', { unsupported: /rpz-skipzone\. is not one c2dns enforces/ }],
    ['wildcard CNAME target', 'evil.com CNAME *.garden.example.net.', { unsupported: /wildcard target/ }],
    ['bad A', 'evil.com A 999.1.1.1', { reject: /IPv4/ }],
    ['bad AAAA', 'evil.com AAAA 192.0.2.1', { reject: /IPv6/ }],
    ['CNAME with two targets', 'evil.com CNAME a.example. b.example.', { reject: /one target/ }],
    ['other local data', 'evil.com MX 10 mail.example.net.', { unsupported: /type MX/ }],
    ['unknown type', 'evil.com FOO bar', { reject: /unknown record type "FOO"/ }],
    // Names: case, absolute/relative, escapes (C1, C2, C13, C17).
    ['C1', 'EVIL.Com CNAME .', nx('evil.com')],
    ['absolute, in zone', 'evil.com.RPZ.LOCAL. CNAME .', nx('evil.com')],
    ['C17 out of zone', 'evil.com. CNAME .', { reject: /out-of-zone owner evil\.com\.: not under the zone apex rpz\.local\./ }],
    ['C13 escaped dot', 'evil\\.com CNAME .', { reject: /escaped dot/ }],
    ['C13 \\DDD', '\\101vil.com CNAME .', nx('evil.com')],
    ['C13 \\X', '\\evil.com CNAME .', nx('evil.com')],
    ['C13 NUL byte', 'ev\\000il.com CNAME .', { reject: /NUL|characters outside/ }],
    ['C13 high byte', '\\200evil.com CNAME .', { reject: /non-ASCII byte/ }],
    ['C13 bad \\DDD', '\\300evil.com CNAME .', { reject: /bad escape/ }],
    ['C3', 'evil..com CNAME .', { reject: /empty label/ }],
    ['D2', 'a.*.evil.com CNAME .', { reject: /whole leftmost label/ }],
    ['D3', '* CNAME .', { reject: /every name/ }],
    ['D4', '*.com CNAME .', { reject: /single label/ }],
    ['single label', 'localhost CNAME .', { reject: /single label/ }],
    // TTL and class, either order.
    ['TTL class', 'evil.com 300 IN CNAME .', nx('evil.com')],
    ['class TTL', 'evil.com IN 300 CNAME .', nx('evil.com')],
    ['BIND units', 'evil.com 1h30m CNAME .', nx('evil.com')],
    ['class CH', 'evil.com CH CNAME .', { reject: /class CH/ }],
    ['no type', 'evil.com 300 IN', { reject: /no record type/ }],
    // Not policy.
    ['DNAME', 'evil.com DNAME elsewhere.example.', { ignored: 'non-policy-record' }],
    ['DNSSEC', 'evil.com RRSIG CNAME 8 2 300 20300101000000 20200101000000 1 rpz.local. abc=', { ignored: 'non-policy-record' }],
    ['NS below apex', 'evil.com NS ns.example.net.', { ignored: 'non-policy-record' }],
    ['data at the apex', '@ TXT "zone notes"', { ignored: 'non-policy-record' }],
    // IP triggers.
    ['rpz-ip', '32.2.0.0.10.rpz-ip CNAME .', { ip: { cidr: '10.0.0.2/32', trigger: 'response-ip', kind: 'block', action: 'nxdomain' } }],
    ['rpz-client-ip /24', '24.0.2.0.192.rpz-client-ip CNAME rpz-drop.', { ip: { cidr: '192.0.2.0/24', trigger: 'client-ip', kind: 'block', action: 'drop' } }],
    ['IPv6 zz', '128.3.zz.db8.2001.rpz-client-ip CNAME rpz-passthru.', { ip: { cidr: '2001:db8::3/128', trigger: 'client-ip', kind: 'allow' } }],
    ['IPv6 leading zz', '128.1.zz.rpz-ip CNAME .', { ip: { cidr: '::1/128', trigger: 'response-ip', kind: 'block', action: 'nxdomain' } }],
    ['IPv6 prefix', '48.zz.db8.2001.rpz-ip CNAME .', { ip: { cidr: '2001:db8::/48', trigger: 'response-ip', kind: 'block', action: 'nxdomain' } }],
    ['IPv6 full', '128.8.7.6.5.4.3.2.1.rpz-ip CNAME .', { ip: { cidr: '1:2:3:4:5:6:7:8/128', trigger: 'response-ip', kind: 'block', action: 'nxdomain' } }],
    ['IP host bits', '24.1.2.0.192.rpz-ip CNAME .', { reject: /bits set beyond \/24/ }],
    ['IP prefix too long', '33.1.0.0.10.rpz-ip CNAME .', { reject: /longer than an IPv4/ }],
    ['IP garbage', 'x.rpz-ip CNAME .', { reject: /not an RPZ IP trigger/ }],
    ['two zz', '128.zz.1.zz.rpz-ip CNAME .', { reject: /not an RPZ IP trigger/ }],
    ['/0 block', '0.0.0.0.0.rpz-client-ip CNAME .', { reject: /every address/ }],
    ['/0 passthru', '0.0.0.0.0.rpz-client-ip CNAME rpz-passthru.', { ip: { cidr: '0.0.0.0/0', trigger: 'client-ip', kind: 'allow' } }],
    ['NSDNAME', 'ns1.evil.com.rpz-nsdname CNAME .', { unsupported: /NSDNAME trigger/ }],
    ['NSIP', '32.1.0.0.10.rpz-nsip CNAME .', { unsupported: /NSIP trigger/ }],
  ];
  for (const [row, record, want] of cases) {
    it(`${row}: ${record}`, () => {
      const { entries, report } = parse(HEAD + record);
      const got = {
        entries,
        ips: report.ips,
        rejected: report.examples.map((e) => e.reason),
        unsupported: report.unsupportedExamples.map((e) => e.reason),
        ignored: report.ignored,
      };
      const none = { entries: [], ips: [], rejected: [], unsupported: [], ignored: {} };
      if ('entry' in want) expect(got).toEqual({ ...none, entries: [{ ...want.entry, line: LINE }] });
      else if ('ip' in want) expect(got).toEqual({ ...none, ips: [{ ...want.ip, line: LINE }] });
      else if ('reject' in want) expect(got).toEqual({ ...none, rejected: [expect.stringMatching(want.reject)] });
      else if ('unsupported' in want) expect(got).toEqual({ ...none, unsupported: [expect.stringMatching(want.unsupported)] });
      else expect(got).toEqual({ ...none, ignored: { [want.ignored]: 1 } });
    });
  }
});

describe('RPZ zone-file syntax', () => {
  const triggers = (text: string) => parse(text).entries.map((e) => `${e.match === 'below' ? '*.' : ''}${e.name}@${e.line}`);

  it('B6: $TTL with a glued comment', () => {
    const { entries, report } = parse('$TTL 2h;\n$ORIGIN rpz.local.\nevil.com CNAME .');
    expect(entries).toEqual([{ name: 'evil.com', match: 'exact', line: 3, action: 'nxdomain' }]);
    expect(report.rejected).toBe(0);
  });

  it('rejects a bad $TTL and an unknown directive', () => {
    const { report } = parse('$TTL 2x\n$TTL\n$FOO bar\n');
    expect(report.examples.map((e) => [e.line, e.reason])).toEqual([
      [1, expect.stringMatching(/\$TTL takes one TTL/)],
      [2, expect.stringMatching(/\$TTL takes one TTL/)],
      [3, expect.stringMatching(/unknown directive/)],
    ]);
  });

  it('refuses $INCLUDE and never reads the file it names', () => {
    const target = fileURLToPath(new URL('../../fixtures/feeds/rpz-tricky.rpz', import.meta.url));
    const { entries, report } = parse(`$ORIGIN rpz.example.org.\n$INCLUDE ${target}\nown.example CNAME .\n`);
    expect(entries.map((e) => e.name)).toEqual(['own.example']);
    expect(report.examples).toEqual([{ line: 2, text: `$INCLUDE ${target}`, reason: expect.stringMatching(/\$INCLUDE refused/) }]);
  });

  it('follows several $ORIGIN lines, relative and absolute, under one apex', () => {
    const text = `${HEAD}$ORIGIN evil.com.rpz.local.\n@ CNAME .\nwww CNAME .\n*.cdn CNAME .\n$ORIGIN bad\nx CNAME .\n`;
    expect(triggers(text)).toEqual(['evil.com@5', 'www.evil.com@6', '*.cdn.evil.com@7', 'x.bad.evil.com@9']);
  });

  it('C17: an $ORIGIN outside the apex makes its records out of zone', () => {
    const { entries, report } = parse(`${HEAD}$ORIGIN other.zone.\nbad.com CNAME .\n`);
    expect(entries).toEqual([]);
    expect(report.examples).toEqual([{ line: 5, text: 'bad.com CNAME .', reason: expect.stringMatching(/out-of-zone owner bad\.com\.other\.zone\./) }]);
  });

  it('without $ORIGIN (as hagezi-style RPZ files are written) names are relative to the unknown zone', () => {
    const text = '$TTL 300\n@ SOA localhost. root.localhost. 1 2 3 4 5\n  NS localhost.\nevil.com CNAME .\n*.evil.com CNAME .\nabs.com. CNAME .\nrel.com CNAME walled\n';
    const { entries, report } = parse(text);
    expect(entries.map((e) => `${e.match}:${e.name}`)).toEqual(['exact:evil.com', 'below:evil.com']);
    expect(report.examples.map((e) => [e.line, e.reason])).toEqual([
      [6, expect.stringMatching(/absolute owner name in a file without \$ORIGIN/)],
      [7, expect.stringMatching(/relative CNAME target in a file without \$ORIGIN/)],
    ]);
  });

  it('B7: joins parentheses across lines, with comments (even a "(") inside', () => {
    const text = '$ORIGIN rpz.local.\n@ SOA ns. host. ( 1 ; serial\n   12h 15m ; refresh ( retry\n   3w 2h )\nevil.com (\n  CNAME\n  . )\nnext.com CNAME .';
    const { entries, report } = parse(text);
    expect(entries.map((e) => [e.name, e.line])).toEqual([['evil.com', 5], ['next.com', 8]]);
    expect(report.rejected).toBe(0);
  });

  it('rejects an unbalanced ")" and a "(" never closed', () => {
    const { entries, report } = parse('$ORIGIN rpz.local.\nevil.com CNAME . )\nok.com CNAME .\nopen.com ( CNAME .\n');
    expect(entries.map((e) => e.name)).toEqual(['ok.com']);
    expect(report.examples.map((e) => [e.line, e.reason])).toEqual([
      [2, expect.stringMatching(/without '\('/)],
      [4, expect.stringMatching(/still open/)],
    ]);
  });

  it('rejects a quoted string left open', () => {
    const { report } = parse('$ORIGIN rpz.local.\nevil.com TXT "open\n');
    expect(report.examples[0]).toMatchObject({ line: 2, reason: expect.stringMatching(/not closed/) });
  });

  it('B8: a blank owner is the previous owner; records of one owner merge into one entry', () => {
    const text = '$ORIGIN rpz.local.\nsink.example A 192.0.2.1\n  A 192.0.2.2\n\t300 AAAA 2001:db8::1\n  TXT "x"\n  A 192.0.2.1\n';
    const { entries, report } = parse(text);
    expect(entries).toEqual([
      {
        name: 'sink.example',
        match: 'exact',
        line: 2,
        action: {
          local: [
            { type: 'A', value: '192.0.2.1' },
            { type: 'A', value: '192.0.2.2' },
            { type: 'AAAA', value: '2001:db8::1' },
            { type: 'TXT', value: 'x' },
          ],
        },
      },
    ]);
    expect(report.rejected).toBe(0);
  });

  it('rejects a blank owner with no owner before it, or after an invalid one', () => {
    const { report } = parse('  A 192.0.2.1\n$ORIGIN rpz.local.\nbad..name A 192.0.2.1\n  A 192.0.2.2\n');
    expect(report.examples.map((e) => e.line)).toEqual([1, 3, 4]);
    expect(report.examples[2]!.reason).toMatch(/no valid owner/);
  });

  it('keeps one policy per trigger: repeats are merged, conflicts rejected', () => {
    const text = '$ORIGIN rpz.local.\na.com CNAME .\na.com CNAME .\na.com A 192.0.2.1\nb.com CNAME x.example.\nb.com A 192.0.2.1\nc.com A 192.0.2.1\nc.com CNAME rpz-drop.\n';
    const { entries, report } = parse(text);
    expect(entries.map((e) => e.name)).toEqual(['a.com', 'b.com', 'c.com']);
    expect(report.examples.map((e) => e.line)).toEqual([4, 6, 8]);
  });

  it('the apex SOA with 7 fields (relative RNAME, C18) is not policy; a short SOA is rejected', () => {
    expect(parse(HEAD).report).toMatchObject({ rejected: 0, accepted: 0, ignored: {} });
    expect(parse('$ORIGIN rpz.local.\n@ SOA ns. host. 1 2\n').report.examples[0]!.reason).toMatch(/SOA needs 7 fields/);
  });

  it('handles BOM, CRLF, lone CR and a missing final newline, keeping line numbers (A1, A3–A6)', () => {
    const { entries, report } = parse('\ufeff$ORIGIN rpz.local.\r\n; c\r\na.com CNAME .  \rb.com CNAME .\n\n*.c.com CNAME .');
    expect(entries.map((e) => [e.name, e.match, e.line])).toEqual([
      ['a.com', 'exact', 3],
      ['b.com', 'exact', 4],
      ['c.com', 'below', 6],
    ]);
    expect(report.rejected).toBe(0);
  });
});

describe('RPZ precedence through the trie (F2)', () => {
  const decide = (text: string, name: string) => {
    const trie = new DomainTrie();
    const d = { list: 'l', kind: 'block' as const, match: 'subtree' as const, action: null, tags: [], firstSeen: 0 };
    for (const e of parse(text).entries) trie.add(makeRule(e, d));
    const m = trie.match(name, 0);
    return m === null ? 'none' : m.kind === 'allow' ? 'allow' : `block:${String(m.action)}`;
  };
  const cases: [string, string[], string, string][] = [
    ['PASSTHRU beats the wildcard above it', ['x.com CNAME .', '*.x.com CNAME .', 'mail.x.com CNAME rpz-passthru.'], 'mail.x.com', 'allow'],
    ['the apex alone does not cover subdomains', ['x.com CNAME .'], 'a.x.com', 'none'],
    ['the wildcard alone does not cover the apex', ['*.x.com CNAME .'], 'x.com', 'none'],
    ['apex + wildcard cover both', ['x.com CNAME .', '*.x.com CNAME rpz-drop.'], 'a.b.x.com', 'block:drop'],
    ['apex + wildcard cover both (apex)', ['x.com CNAME .', '*.x.com CNAME rpz-drop.'], 'x.com', 'block:nxdomain'],
  ];
  for (const [what, records, name, want] of cases) {
    it(`${what}, in either order`, () => {
      expect(decide(`$ORIGIN rpz.local.\n${records.join('\n')}`, name)).toBe(want);
      expect(decide(`$ORIGIN rpz.local.\n${[...records].reverse().join('\n')}`, name)).toBe(want);
    });
  }
});

describe('RPZ tricky fixture', () => {
  it('maps every trigger and action, rejecting what must not load', () => {
    const text = readFileSync(new URL('../../fixtures/feeds/rpz-tricky.rpz', import.meta.url), 'utf8');
    const { entries, report } = parse(text);
    expect(entries).toEqual([
      { name: 'msstorageazure.com', match: 'exact', line: 8, action: 'nxdomain' },
      { name: 'msstorageazure.com', match: 'below', line: 9, action: 'nxdomain' },
      { name: 'akamaicontainer.com', match: 'exact', line: 10, action: 'nodata' },
      { name: 'office-storeagent.com', match: 'exact', line: 11, action: 'drop' },
      { name: 'walled.example', match: 'exact', line: 12, action: { local: [{ type: 'CNAME', value: 'garden.example.net' }] } },
      {
        name: 'sink.example',
        match: 'exact',
        line: 13,
        action: {
          local: [
            { type: 'A', value: '192.0.2.10' },
            { type: 'AAAA', value: '2001:db8::10' },
            { type: 'TXT', value: 'blocked; see the SOC' },
          ],
        },
      },
      { name: 'pass.msstorageazure.com', match: 'exact', line: 16, kind: 'allow' },
      { name: 'glcloudservice.com', match: 'exact', line: 19, action: 'nxdomain' },
      { name: 'deep.example', match: 'exact', line: 26, action: 'nxdomain' },
      { name: 'www.deep.example', match: 'exact', line: 27, action: 'tcp-only' },
    ]);
    expect(report.ips).toEqual([
      { cidr: '23.254.211.230/32', line: 21, trigger: 'response-ip', kind: 'block', action: 'nxdomain' },
      { cidr: '2001:db8::3/128', line: 22, trigger: 'client-ip', kind: 'allow' },
    ]);
    expect(report.examples.map((e) => e.line)).toEqual([17, 18, 20]);
    expect(report.unsupportedExamples.map((e) => e.line)).toEqual([23, 24]);
    expect(report.ignored).toEqual({});
  });
});

// The real PowerDNS sample zone (feeds/SOURCES.md: PowerDNS/pdns pdns/basic.rpz @ 0b7c9fa7).
const BASIC = new URL('../../../../shared/feeds/powerdns/basic.rpz', import.meta.url);
const haveBasic = existsSync(BASIC);
if (!haveBasic) console.warn(`rpz.test: real-feed tests skipped, missing ${fileURLToPath(BASIC)}`);

describe.skipIf(!haveBasic)('feeds/powerdns/basic.rpz', () => {
  const load = () => parse(readFileSync(BASIC, 'utf8'));

  it('maps each QNAME trigger and action (apex and wildcard as separate triggers)', () => {
    const { entries, report } = load();
    expect(entries).toEqual([
      { name: 'nxdomain.org', match: 'exact', line: 11, action: 'nxdomain' },
      { name: 'nxdomain.org', match: 'below', line: 12, action: 'nxdomain' },
      { name: 'mail.nxdomain.org', match: 'exact', line: 16, kind: 'allow' },
      { name: 'example.net', match: 'exact', line: 20, action: 'drop' },
      { name: 'example.net', match: 'below', line: 21, action: 'drop' },
      { name: 'truncate.org', match: 'exact', line: 25, action: 'tcp-only' },
      { name: 'truncate.org', match: 'below', line: 26, action: 'tcp-only' },
      { name: 'local.org', match: 'exact', line: 31, action: { local: [{ type: 'CNAME', value: 'explanation.example.com' }] } },
      { name: 'local.org', match: 'below', line: 32, action: { local: [{ type: 'CNAME', value: 'explanation.example.com' }] } },
      { name: 'local-a.org', match: 'exact', line: 34, action: { local: [{ type: 'A', value: '192.168.2.5' }] } },
      { name: 'local-a.org', match: 'below', line: 35, action: { local: [{ type: 'A', value: '192.168.2.5' }] } },
    ]);
    expect(report.accepted).toBe(11);
  });

  it('puts client-IP and response-IP triggers in the IP table', () => {
    expect(load().report.ips).toEqual([
      { cidr: '127.0.0.0/24', line: 39, trigger: 'client-ip', kind: 'block', action: 'drop' },
      { cidr: '10.0.0.1/32', line: 43, trigger: 'client-ip', kind: 'block', action: 'tcp-only' },
      { cidr: '10.0.0.2/32', line: 47, trigger: 'response-ip', kind: 'block', action: 'nxdomain' },
    ]);
  });

  it('shows the NSDNAME triggers as unsupported; the SOA, its relative RNAME and the blank-owner NS are no trouble', () => {
    const { report } = load();
    expect(report.unsupportedExamples.map((e) => [e.line, e.reason])).toEqual([
      [55, expect.stringMatching(/NSDNAME/)],
      [58, expect.stringMatching(/NSDNAME/)],
      [62, expect.stringMatching(/NSDNAME/)],
    ]);
    expect(report.rejected).toBe(0);
    expect(report.ignored).toEqual({});
  });
});
