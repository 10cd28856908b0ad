// CSV indicator exports: the reader (RFC 4180 + ThreatFox quirks), layouts by header name, and
// what each real vendor file in shared/feeds yields.
import { describe, expect, it } from 'vitest';
import { CORE_21, fixture, haveSharedFeeds, sharedFeed, warnIfNoSharedFeeds } from '../../helpers/feeds.js';
import { parseCsv, readCsv } from '../../../src/blocklist/parsers/csv.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import type { ParseOptions } from '../../../src/blocklist/parsers/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const haveFeeds = haveSharedFeeds;
warnIfNoSharedFeeds('test/blocklist/parsers/csv.test.ts');

function run(text: string, opts: Partial<ParseOptions> = {}) {
  const report = new ParseReport();
  const entries = parseCsv(text, report, { now: NOW, ...opts });
  return { entries, report, names: entries.map((e) => e.name), ips: report.ips.map((i) => i.cidr) };
}


describe('readCsv', () => {
  const fields = (text: string) => readCsv(text).flatMap((r) => (r.kind === 'record' ? [r.fields] : []));
  const cases: [string, string, string[][]][] = [
    ['plain', 'a,b,c\n1,2,3\n', [['a', 'b', 'c'], ['1', '2', '3']]],
    ['A1 BOM stripped before the header', '\ufeffIndicator,Data\n', [['Indicator', 'Data']]],
    ['A3 CRLF never leaves \\r in a field', 'a,b\r\nc,d\r\n', [['a', 'b'], ['c', 'd']]],
    ['A4 lone CR ends a record', 'a,b\rc,d', [['a', 'b'], ['c', 'd']]],
    ['A5 no final newline', 'a,b\nc,d', [['a', 'b'], ['c', 'd']]],
    ['B10 comma inside quotes', '"exe,Mozi",x\n', [['exe,Mozi', 'x']]],
    ['B10 doubled quotes', '"say ""hi""",x\n', [['say "hi"', 'x']]],
    ['B10 ThreatFox ", " separators (skip initial space)', '"1", "evil.com", "domain"\n', [['1', 'evil.com', 'domain']]],
    ['newline inside quotes', '"multi\nline",x\n', [['multi\nline', 'x']]],
    ['empty fields', 'a,,c\n,,\n', [['a', '', 'c'], ['', '', '']]],
    ['blank lines skipped', 'a\n\n\nb\n', [['a'], ['b']]],
  ];
  for (const [row, input, want] of cases) it(row, () => expect(fields(input)).toEqual(want));

  it('B11 keeps comment lines apart, with line numbers', () => {
    const items = readCsv('# "x","y"\n"1","2"\n# trailer\n');
    expect(items).toEqual([
      { kind: 'comment', text: ' "x","y"', line: 1 },
      { kind: 'record', fields: ['1', '2'], line: 2, raw: '"1","2"' },
      { kind: 'comment', text: ' trailer', line: 3 },
    ]);
  });

  it('counts lines inside quoted fields so later records keep their real line numbers', () => {
    const items = readCsv('h1,h2\n"a\nb",c\nd,e\n');
    expect(items.map((i) => i.line)).toEqual([1, 2, 4]);
  });

  it('flags an unterminated quote and text after a closing quote', () => {
    expect(readCsv('"abc,def\n')[0]).toMatchObject({ error: 'unterminated quoted field' });
    expect(readCsv('"abc"def,x\n')[0]).toMatchObject({ error: 'text after a closing quote', fields: ['abcdef', 'x'] });
  });
});

describe('layouts and rows', () => {
  it('unknown layout without csvColumns: one reject naming the columns found', () => {
    const { entries, report } = run('foo,bar\nevil.com,1\nother.com,2\n');
    expect(entries).toEqual([]);
    expect(report.rejected).toBe(1);
    expect(report.examples[0]).toMatchObject({ line: 1, reason: expect.stringMatching(/unknown CSV layout; columns found: "foo", "bar"/) as unknown });
  });

  it('csvColumns naming a column that is not there: one reject listing the real ones (B12)', () => {
    const { report } = run('Indicator type,Indicator\ndomain,a.example\n', { csvColumns: { value: 'ioc' } });
    expect(report.rejected).toBe(1);
    expect(report.examples[0]!.reason).toMatch(/"ioc", not in the header; columns found: "Indicator type", "Indicator"/);
  });

  it('csvColumns maps another layout by header name, case-insensitively; label is a hint, shape decides (B13)', () => {
    const { entries, report, ips } = run(fixture('custom-columns.csv'), { csvColumns: { value: 'indicator', type: 'Indicator Type' } });
    expect(entries).toEqual([
      { name: 'bad-one.example', match: null, line: 2 },
      { name: 'bad-two.example', match: null, line: 3 },
      { name: 'bad-three.example', match: null, line: 4, fromUrl: 'http://bad-three.example/path,with,commas' },
      { name: 'bad-four.example', match: null, line: 9 },
    ]);
    expect(ips).toEqual(['192.0.2.44/32']);
    expect(report.ignored).toEqual({ sha256: 1 });
    // "multi\nline.example" is one field with a newline in it: not a name.
    expect(report.rejected).toBe(1);
    expect(report.examples[0]).toMatchObject({ line: 7 });
  });

  it('ThreatFox (15 columns, commented header, ", " separators, None): domain, url host, ip:port, compromised, hashes', () => {
    const { entries, report, ips } = run(fixture('threatfox-recent.csv'));
    expect(entries).toEqual([
      { name: 'www.cedipay.example', match: null, line: 9, ref: '1932212', fromUrl: 'https://www.cedipay.example/', tags: ['ClickFix'] },
      { name: 'c2-panel.example', match: null, line: 10, ref: '1932213', tags: ['c2', 'CobaltStrike'] },
      { name: 'maybe-bad.example', match: null, line: 13, ref: '1932216' },
    ]);
    expect(ips).toEqual(['192.0.2.10/32', '198.51.100.7/32']);
    expect(report.ips.map((i) => i.ref)).toEqual(['1932214', '1932219']);
    expect(report.ignored).toEqual({ compromised: 1, sha256: 1, md5: 1 });
    // A doubled quote inside the value: read correctly, then refused as a name.
    expect(report.rejected).toBe(1);
    expect(report.examples[0]).toMatchObject({ line: 17, reason: expect.stringMatching(/www\.login-"quoted"\.example/) as unknown });
  });

  it('ThreatFox minConfidence: rows below the threshold are ignored', () => {
    const { names, report } = run(fixture('threatfox-recent.csv'), { minConfidence: 50 });
    expect(names).toEqual(['www.cedipay.example', 'c2-panel.example']);
    expect(report.ignored['low-confidence']).toBe(1);
  });

  it('ThreatFox 14-column export without is_compromised (B12), CRLF, defanged url', () => {
    const { entries, report } = run(fixture('threatfox-14col.csv'));
    expect(entries).toEqual([
      { name: 'old-c2.example', match: null, line: 2, ref: '900001' },
      { name: 'old-drop.example', match: null, line: 3, ref: '900002', fromUrl: 'https://old-drop.example/a.exe', tags: ['exe'] },
    ]);
    expect(report.rejected).toBe(0);
  });

  it('URLhaus: url column → host with fromUrl, IP hosts to the IP table, tags split', () => {
    const { entries, report, ips } = run(fixture('urlhaus-recent.csv'));
    expect(entries).toEqual([
      { name: 'malware-drop.example', match: null, line: 6, ref: '1001', fromUrl: 'http://malware-drop.example/payload.exe', tags: ['exe', 'Mozi'] },
      { name: 'compromised-blog.example', match: null, line: 8, ref: '1003', fromUrl: 'https://Compromised-Blog.example:8443/wp-content/x.zip' },
    ]);
    expect(ips).toEqual(['203.0.113.5/32']);
    expect(report.rejected).toBe(1);
    expect(report.examples[0]).toMatchObject({ line: 9 });
  });

  it('A7/A8: invisible characters inside a value and NUL bytes are rejected, not stripped', () => {
    const { names, report } = run('value,entity_type\nev\u200Bil.example,hostname\nnul.example\u0000,hostname\n\u200Eok.example\u200E,hostname\n');
    expect(names).toEqual(['ok.example']);
    expect(report.rejected).toBe(2);
  });

  it('rows too short for the value column are rejected with their line', () => {
    const { report } = run('Indicator,Data,Note\nURL\n');
    expect(report.examples[0]).toMatchObject({ line: 2, reason: 'row has 1 fields; the header has 3' });
  });

  it('an empty file yields nothing and rejects nothing', () => {
    const { entries, report } = run('');
    expect(entries).toEqual([]);
    expect(report.rejected).toBe(0);
  });
});

describe.skipIf(!haveFeeds)('real files in shared/feeds', () => {
  const real = sharedFeed;

  it('Sophos 3CX CSV: the 21 C2 domains, plus raw.githubusercontent.com as a URL-derived entry', () => {
    const { entries, report } = run(real('sophoslabs/3CX IoCs 2023-03.csv'));
    const plain = entries.filter((e) => e.fromUrl === undefined);
    expect(plain.map((e) => e.name)).toEqual(CORE_21);
    for (const e of entries) expect(e.name).toMatch(/^[a-z0-9.-]+$/); // no U+200E, no CR
    expect(entries.filter((e) => e.fromUrl !== undefined)).toEqual([
      { name: 'raw.githubusercontent.com', match: null, line: 11, fromUrl: 'raw.githubusercontent.com/IconStorages/images/main/' },
    ]);
    expect(entries[1]).toEqual({ name: 'akamaicontainer.com', match: null, line: 12 });
    // The Description row's article URL is not an indicator.
    expect(report.ignored).toEqual({ description: 1, sha256: 8 });
    expect(report.rejected).toBe(0);
    expect(report.ips).toEqual([]);
  });

  it('Volexity iocs.csv: the 21 + www.azuredeploystore.com + www.journalide.org; e-mails and file hashes ignored', () => {
    const { names, report } = run(real('volexity/iocs.csv'));
    expect(names).toHaveLength(23);
    expect([...names].sort()).toEqual([...CORE_21, 'www.azuredeploystore.com', 'www.journalide.org'].sort());
    expect(names).not.toContain('philip.je');
    expect(names).not.toContain('proton.me');
    expect(report.ignored).toEqual({ email: 5, file: 6 });
    expect(report.rejected).toBe(0);
  });

  it('Volexity github_summary.csv: each icon file → its decoded C2 domain, icon0 included (the guard refuses www.3cx.com)', () => {
    const { entries, report } = run(real('volexity/github_summary.csv'));
    expect(entries).toHaveLength(16);
    expect(entries[0]).toEqual({ name: 'www.3cx.com', match: null, line: 3, ref: 'icon0.ico' });
    const c2 = new Set(entries.slice(1).map((e) => e.name));
    expect(c2.size).toBe(13); // icon6/7 and icon10/11 decode to the same domains
    for (const n of c2) expect(CORE_21).toContain(n);
    expect(entries.find((e) => e.ref === 'icon13.ico')?.name).toBe('msedgepackageinfo.com');
    // README.md and web.pack have no decoded domain.
    expect(report.ignored).toEqual({ empty: 2 });
    expect(report.rejected).toBe(0);
  });
});
