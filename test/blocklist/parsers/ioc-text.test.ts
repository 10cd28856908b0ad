// Report-style indicator text: defanged tokens in prose, Markdown tables and mixed lists; and
// the real maltrail list read by this parser and by the plain parser.
import { describe, expect, it } from 'vitest';
import { CORE_21, fixture, haveSharedFeeds, sharedFeed, warnIfNoSharedFeeds } from '../../helpers/feeds.js';
import { parseIocText, trimToken } from '../../../src/blocklist/parsers/ioc-text.js';
import { parsePlain } from '../../../src/blocklist/parsers/plain.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const haveFeeds = haveSharedFeeds;
warnIfNoSharedFeeds('test/blocklist/parsers/ioc-text.test.ts');

function run(text: string) {
  const report = new ParseReport();
  const entries = parseIocText(text, report, { now: NOW });
  return { entries, report, names: entries.map((e) => e.name), ips: report.ips.map((i) => i.cidr) };
}

describe('trimToken', () => {
  const cases: [string, string][] = [
    ['(evil.com)', 'evil.com'],
    ['evil.com.', 'evil.com'],
    ['evil.com,', 'evil.com'],
    ['"evil.com"', 'evil.com'],
    ['“evil.com”', 'evil.com'],
    ['<https://evil.com/>', 'https://evil.com/'],
    ['(see evil.com', 'see evil.com'],
    ['https://en.example/wiki/Foo_(bar)', 'https://en.example/wiki/Foo_(bar)'],
    ['[2001:db8::1]:443', '[2001:db8::1]:443'],
    ['evil.com):', 'evil.com'],
  ];
  for (const [input, want] of cases) it(`${input} → ${want}`, () => expect(trimToken(input)).toBe(want));
});

describe('tokens', () => {
  interface Want {
    names?: string[];
    ips?: string[];
    ignored?: Record<string, number>;
    rejected?: number;
  }
  const cases: [string, string, Want][] = [
    ['E1 defanged name', 'msstorageazure[.]com', { names: ['msstorageazure.com'] }],
    ['E1 defanged IP', '23.254.211[.]230', { ips: ['23.254.211.230/32'] }],
    ['E2 hxxps URL → host', 'hxxps://sbmsa[.]wiki/blog/_insert', { names: ['sbmsa.wiki'] }],
    ['E3 Markdown code', '`azuredeploystore[.]com`', { names: ['azuredeploystore.com'] }],
    ['E3 AsciiDoc passthrough', '`+https://nrfm[.]lk/x+`', { names: ['nrfm.lk'] }],
    ['E4 mixed defanging on one line', 'azureonlinestorage.com, soyoungjun[.]com', { names: ['azureonlinestorage.com', 'soyoungjun.com'] }],
    ['C1 upper case', 'Soyoungjun[.]com', { names: ['soyoungjun.com'] }],
    ['E5 defanged e-mail is not split', 'philip.je[@]proton[.]me', { ignored: { email: 1 } }],
    ['E5 plain e-mail is not split', 'philip.je@proton.me', { ignored: { email: 1 } }],
    ['C15 IP:port', '23.254.211.230:443', { ips: ['23.254.211.230/32'] }],
    ['C15 [IPv6]:port', '[2001:db8::1]:443', { ips: ['2001:db8::1/128'] }],
    ['C16 CIDR', '223.166.0.0/15', { ips: ['223.166.0.0/15'] }],
    ['B14 hash', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', { ignored: { sha256: 1 } }],
    ['D9 path only', '/tbl_add.php', { ignored: { other: 1 } }],
    ['host/path', 'apshenyihl.com/include/arc.speclist.class.php', { names: ['apshenyihl.com'] }],
    ['file names are not hosts', 'ffmpeg.dll libffmpeg.dylib 3CXDesktopApp.exe', { ignored: { 'unknown-tld': 3 } }],
    ['version numbers and abbreviations', '18.12.407 e.g. i.e.', { ignored: { other: 1, 'unknown-tld': 2 } }],
    ['C11 Unicode dots', 'evil。com', { names: ['evil.com'] }],
    ['C12 zero-width inside → rejected', 'ev\u200Bil.com', { rejected: 1 }],
    ['A7 LRM at the edge', '\u200Eevil.com\u200E', { names: ['evil.com'] }],
    ['A8 NUL bytes → rejected', 'evil.com\u0000\u0000', { rejected: 1 }],
    ['C10 invalid punycode → rejected', 'xn--zz.com', { rejected: 1 }],
    ['C10 upper-case punycode is case-folded', 'XN--80AK6AA92E.COM', { names: ['xn--80ak6aa92e.com'] }],
    ['C14 numeric forms are never names', '2130706433 0x7f.1 1.2.3', { ignored: { other: 3 } }],
    ['wildcards are not names', '*.evil.com', { ignored: { other: 1 } }],
    ['inline comment after whitespace', 'evil.com # was sbmsa.wiki', { names: ['evil.com'] }],
    ['a # inside a URL is not a comment', 'https://evil.com/#/x', { names: ['evil.com'] }],
    ['comment line', '# Reference: https://www.3cx.com/blog/news/desktopapp-security-alert/', {}],
    ['Markdown link holds two tokens', '[akamaicontainer.com](hxxps://akamaicontainer[.]com/)', { names: ['akamaicontainer.com', 'akamaicontainer.com'] }],
    ['table pipes', '| Domain | `pbxsources[.]com` | C2 |', { names: ['pbxsources.com'], ignored: { other: 2 } }],
  ];
  for (const [row, text, want] of cases) {
    it(row, () => {
      const { names, ips, report } = run(text);
      expect(names).toEqual(want.names ?? []);
      expect(ips).toEqual(want.ips ?? []);
      expect(report.ignored).toEqual(want.ignored ?? {});
      expect(report.rejected).toBe(want.rejected ?? 0);
    });
  }

  it('URL hosts carry the refanged URL as fromUrl; bare names do not; lines are 1-based', () => {
    const { entries } = run('\ufeffa-evil.com\r\nhxxps://b[.]example/x\r\n');
    expect(entries).toEqual([
      { name: 'a-evil.com', match: null, line: 1 },
      { name: 'b.example', match: null, line: 2, fromUrl: 'https://b.example/x' },
    ]);
  });

  it('a bare name needs a real top-level domain; a URL host does not', () => {
    const { names, report } = run('c2.example c2.internal https://c2.example/x');
    expect(names).toEqual(['c2.example']);
    expect(report.ignored).toEqual({ 'unknown-tld': 2 });
  });
});

describe('a Markdown report (fixture)', () => {
  it('yields the names and URL hosts in its tables and lists, and nothing from its prose', () => {
    const { entries, report, ips } = run(fixture('ioc-report.md'));
    expect(entries.map((e) => [e.name, e.fromUrl ?? null])).toEqual([
      ['msstorageazure.com', null],
      ['officestoragebox.com', null],
      ['azuredeploystore.com', 'https://azuredeploystore.com/cloud/services'],
      ['nrfm.lk', 'https://nrfm.lk/downloads/x.bin'],
      ['raw.githubusercontent.com', 'http://raw.githubusercontent.com/IconStorages/images/main/icon13.ico'],
      ['sbmsa.wiki', null],
      ['visualstudiofactory.com', null],
      ['pbxsources.com', 'https://pbxsources.com/exchange'],
      ['akamaicontainer.com', null],
      ['akamaicontainer.com', 'https://akamaicontainer.com/'],
    ]);
    expect(ips).toEqual(['23.254.211.230/32', '23.254.211.230/32', '198.51.100.0/24']);
    expect(report.ignored).toMatchObject({ email: 2, sha256: 1, md5: 1, 'unknown-tld': 2 });
    expect(report.rejected).toBe(0);
    expect(entries.map((e) => e.name)).not.toContain('proton.me');
    expect(entries.map((e) => e.name)).not.toContain('philip.je');
  });
});

describe.skipIf(!haveFeeds)('real files in shared/feeds', () => {
  const maltrail = () => sharedFeed('maltrail/hacked_3cx.txt');
  // As listed: the 21, msedgeupdate.net, and the two bogus entries (a mis-decode and an e-mail fragment).
  const NAMES = [...CORE_21, 'msedgeupdate.net', 'acharryblogs.com', 'philip.je'].sort();

  it('maltrail hacked_3cx.txt via ioc-text: 24 names as listed (E6/C20 bogus ones cannot be caught by syntax), the IP:port to the IP table, no reference URL', () => {
    const { entries, report, ips } = run(maltrail());
    expect(entries.map((e) => e.name)).toEqual(NAMES);
    expect(entries[0]).toEqual({ name: 'acharryblogs.com', match: null, line: 13 });
    expect(ips).toEqual(['23.254.211.230/32']);
    expect(report.ips[0]!.line).toBe(41);
    expect(report.ignored).toEqual({});
    expect(report.rejected).toBe(0);
  });

  it('maltrail hacked_3cx.txt via plain (which classifies with the same helpers): the same 24 names and the IP', () => {
    const report = new ParseReport();
    const entries = parsePlain(maltrail(), report, { now: NOW });
    expect(entries.map((e) => e.name)).toEqual(NAMES);
    expect(report.ips.map((i) => [i.cidr, i.line])).toEqual([['23.254.211.230/32', 41]]);
    expect(report.rejected).toBe(0);
  });
});
