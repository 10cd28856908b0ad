// STIX 2.0/2.1: the patterning grammar, what of a pattern is harvested (positive equality only),
// indicator flags (revoked, valid_until, benign), document shapes, and the real bundles.
import { describe, expect, it } from 'vitest';
import { CORE_21, fixture, haveSharedFeeds, sharedFeed, warnIfNoSharedFeeds } from '../../helpers/feeds.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import { parsePattern, parseStix } from '../../../src/blocklist/parsers/stix.js';
import type { ParseOptions } from '../../../src/blocklist/parsers/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const haveFeeds = haveSharedFeeds;
warnIfNoSharedFeeds('test/blocklist/parsers/stix.test.ts');

function run(text: string, opts: Partial<ParseOptions> = {}) {
  const report = new ParseReport();
  const entries = parseStix(text, report, { now: NOW, ...opts });
  return { entries, report, names: entries.map((e) => e.name), ips: report.ips.map((i) => i.cidr) };
}

const ID = 'indicator--00000000-0000-4000-8000-000000000001';
const indicator = (pattern: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'indicator', spec_version: '2.1', id: ID, created: '2024-01-01T00:00:00Z', modified: '2024-01-01T00:00:00Z', pattern, pattern_type: 'stix', valid_from: '2024-01-01T00:00:00Z', ...extra });

describe('pattern grammar', () => {
  it('parses precedence: FOLLOWEDBY < OR < AND between observations, OR < AND inside', () => {
    const t = parsePattern("[a:x = '1' OR b:y = '2' AND b:z = '3'] AND [c:v = '4'] OR [d:v = '5'] FOLLOWEDBY [e:v = '6']");
    expect(t.t).toBe('followedby');
    if (t.t !== 'followedby') return;
    expect(t.items[0]!.t).toBe('or');
    const first = t.items[0]!;
    if (first.t !== 'or') return;
    expect(first.items[0]!.t).toBe('and');
    const obs = first.items[0]!.t === 'and' ? first.items[0]!.items[0]! : null;
    expect(obs?.t === 'obs' && obs.cmp.t === 'or' && obs.cmp.items[1]!.t).toBe('and');
  });

  it('unescapes \\\' and \\\\ only, and keeps syntax inside strings as data', () => {
    const t = parsePattern("[domain-name:value = 'a\\'b\\\\c] OR [x:y = \\'z']");
    expect(t).toMatchObject({ t: 'obs', cmp: { t: 'test', object: 'domain-name', path: 'value', op: '=', values: [{ kind: 'str', value: "a'b\\c] OR [x:y = 'z" }] } });
  });

  it('reads object paths with quoted components, indexes and hyphenated types', () => {
    const t = parsePattern("[file:hashes.'SHA-256' = 'ab' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32' AND x-custom:list[0].k = 1]");
    expect(t.t === 'obs' && t.cmp.t === 'and' && t.cmp.items.map((i) => (i.t === 'test' ? `${i.object}:${i.path}` : '?'))).toEqual([
      'file:hashes.SHA-256',
      'domain-name:resolves_to_refs[*].value',
      'x-custom:list[0].k',
    ]);
  });

  it('reads qualifiers, literals of every kind, comments', () => {
    const t = parsePattern(
      "([a:b = t'2020-01-01T00:00:00Z' AND a:c = h'ff' AND a:d = b'AAEC' AND a:e = -1.5 AND a:f = true] /* c */ REPEATS 5 TIMES WITHIN 1800 SECONDS) START t'2020-01-01T00:00:00Z' STOP t'2020-02-01T00:00:00Z' // end",
    );
    expect(t).toMatchObject({ t: 'obs', qualifiers: [{ q: 'repeats', times: 5 }, { q: 'within', seconds: 1800 }, { q: 'startstop' }] });
  });

  const bad: [string, RegExp][] = [
    ["[domain-name:value = 'a.example'", /expected \]/],
    ["[domain-name:value = 'a.example]", /unterminated string/],
    ["[domain-name:value = 'a\\n']", /invalid escape/],
    ["[domain-name:value = 'a' or domain-name:value = 'b']", /expected \]/],
    ["domain-name:value = 'a'", /expected '\['/],
    ["[domain-name:value 'a']", /comparison operator/],
    ["[domain-name:value = 'a'] FOLLOWEDBY", /expected '\['/],
    ["[domain-name:value = 'a'] WITHIN SECONDS", /expected num/],
    ['', /expected '\['/],
  ];
  for (const [p, why] of bad) it(`rejects ${JSON.stringify(p)}`, () => expect(() => parsePattern(p)).toThrow(why));
});

describe('harvesting patterns', () => {
  interface Want {
    names?: string[];
    ips?: string[];
    unsupported?: number;
    ignored?: Record<string, number>;
    rejected?: RegExp;
  }
  const cases: [string, string, Want][] = [
    ['domain equality', "[domain-name:value = 'evil.example']", { names: ['evil.example'] }],
    ['== is equality', "[domain-name:value == 'evil.example']", { names: ['evil.example'] }],
    ['upper case and trailing dot normalised (C1, C2)', "[domain-name:value = 'EVIL.Example.']", { names: ['evil.example'] }],
    ['IDN value (C9)', "[domain-name:value = 'bücher.example']", { names: ['xn--bcher-kva.example'] }],
    ['OR leaves taken individually', "[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1' OR domain-name:value = 'b.example']", { names: ['a.example', 'b.example'], ips: ['192.0.2.1/32'] }],
    ['observation OR', "[domain-name:value = 'a.example'] OR ([domain-name:value = 'b.example'])", { names: ['a.example', 'b.example'] }],
    ['IN set = alternatives', "[domain-name:value IN ('a.example', 'b.example')]", { names: ['a.example', 'b.example'] }],
    ['ipv4 CIDR (C16)', "[ipv4-addr:value = '223.166.0.0/15']", { ips: ['223.166.0.0/15'] }],
    ['ipv6', "[ipv6-addr:value = '2001:DB8::1']", { ips: ['2001:db8::1/128'] }],
    ['url → host', "[url:value = 'https://Stage.example/x']", { names: ['stage.example'] }],
    ['url with an IP host → IP table', "[url:value = 'http://198.51.100.7:8080/gate']", { ips: ['198.51.100.7/32'] }],
    ['url that is not a URL', "[url:value = 'not a url']", { rejected: /url:value is not a URL/ }],
    ['network-traffic with dst_ref.type domain-name', "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'beacon.example']", { names: ['beacon.example'] }],
    ['network-traffic with dst_ref.type ipv4-addr', "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '192.0.2.9' AND network-traffic:dst_port = 443]", { ips: ['192.0.2.9/32'] }],
    ['network-traffic dst_ref.value without a type', "[network-traffic:dst_ref.value = 'beacon.example']", { unsupported: 1 }],
    ['network-traffic with REPEATS/WITHIN (behaviour, not a name)', "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 1800 SECONDS", { unsupported: 1 }],
    ['same-object AND: the domain is still exact', "[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']", { names: ['www.5z8.info'] }],
    ['AND of two values of one property: unsatisfiable', "[domain-name:value = 'a.example' AND domain-name:value = 'b.example']", { unsupported: 1 }],
    ['D10 LIKE', "[domain-name:value LIKE '%.evil.example']", { unsupported: 1 }],
    ['D10 MATCHES', "[domain-name:value MATCHES '^x']", { unsupported: 1 }],
    ['D10 NOT (grammar position)', "[domain-name:value NOT = 'a.example']", { unsupported: 1 }],
    ['D10 NOT (leading)', "[NOT domain-name:value = 'a.example']", { unsupported: 1 }],
    ['!=', "[domain-name:value != 'a.example']", { unsupported: 1 }],
    ['<>', "[domain-name:value <> 'a.example']", { unsupported: 1 }],
    ['NOT IN', "[domain-name:value NOT IN ('a.example')]", { unsupported: 1 }],
    ['D10 FOLLOWEDBY', "[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example']", { unsupported: 1 }],
    ['observation AND', "[domain-name:value = 'a.example'] AND [ipv4-addr:value = '192.0.2.1']", { unsupported: 1 }],
    ['AND of different objects in one observation', "[domain-name:value = 'a.example' AND ipv4-addr:value = '192.0.2.1']", { unsupported: 1 }],
    ['OR nested in AND', "[domain-name:value = 'a.example' AND (domain-name:value = 'b.example' OR domain-name:resolves_to_refs[*].value = '192.0.2.1')]", { unsupported: 1 }],
    ['mixed OR: the LIKE is refused, the equality taken', "[domain-name:value = 'ok.example' OR domain-name:value LIKE 'x%']", { names: ['ok.example'], unsupported: 1 }],
    ['START/STOP in the past', "[domain-name:value = 'a.example'] START t'2020-01-01T00:00:00Z' STOP t'2020-02-01T00:00:00Z'", { ignored: { expired: 1 } }],
    ['file hash', "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']", { ignored: { sha256: 1 } }],
    ['file name', "[file:name = 'CBricksDoc']", { ignored: { 'stix:file': 1 } }],
    ['email address object', "[email-addr:value = 'philip.je@proton.me']", { ignored: { email: 1 } }],
    ['D11 value with a space', "[domain-name:value = 'domain autuo.xicp.net' OR ipv4-addr:value = '60.10.1.115']", { ips: ['60.10.1.115/32'], rejected: /domain autuo\.xicp\.net: label "domain autuo"/ }],
    ['D11 escaped quote makes an invalid name', "[domain-name:value = 'it\\'s.example']", { rejected: /it's\.example/ }],
    ['syntax inside a string is data', "[domain-name:value = 'x.example] OR [domain-name:value = y.example']", { rejected: /characters outside/ }],
    ['invalid punycode (C10)', "[domain-name:value = 'xn--zz.example']", { rejected: /invalid punycode/ }],
    ['zero-width inside a name (C12)', "[domain-name:value = 'ev\u200Bil.example']", { rejected: /invisible format character/ }],
    ['IP literal as a domain-name value (C14)', "[domain-name:value = '192.0.2.1']", { rejected: /an IP address/ }],
    ['bad IPv4 value', "[ipv4-addr:value = '300.1.1.1']", { rejected: /not an IP address/ }],
    ['comments are skipped', "[domain-name:value /* the C2 */ = 'c.example'] // trailing", { names: ['c.example'] }],
    ['malformed pattern', "[domain-name:value = 'a.example' or domain-name:value = 'b.example']", { rejected: /invalid STIX pattern/ }],
  ];
  for (const [row, pattern, want] of cases) {
    it(row, () => {
      const { names, ips, report } = run(indicator(pattern));
      expect(names).toEqual(want.names ?? []);
      expect(ips).toEqual(want.ips ?? []);
      expect(report.unsupported).toBe(want.unsupported ?? 0);
      expect(report.ignored).toEqual(want.ignored ?? {});
      if (want.rejected !== undefined) {
        expect(report.rejected).toBe(1);
        expect(`${report.examples[0]!.text} ${report.examples[0]!.reason}`).toMatch(want.rejected);
      } else expect(report.examples).toEqual([]);
    });
  }

  it('entries carry the indicator id as ref, line 0; IP entries too', () => {
    const { entries, report } = run(indicator("[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1']"));
    expect(entries).toEqual([{ name: 'a.example', match: null, line: 0, ref: ID }]);
    expect(report.ips).toEqual([{ cidr: '192.0.2.1/32', line: 0, trigger: 'response-ip', kind: 'block', ref: ID }]);
  });

  it('url hosts carry fromUrl', () => {
    const { entries } = run(indicator("[url:value = 'https://raw.githubusercontent.com/IconStorages/images/main/icon1.ico']"));
    expect(entries).toEqual([{ name: 'raw.githubusercontent.com', match: null, line: 0, ref: ID, fromUrl: 'https://raw.githubusercontent.com/IconStorages/images/main/icon1.ico' }]);
  });

  it('START/STOP in the future: taken, expiring at STOP', () => {
    const { entries } = run(indicator("[domain-name:value = 'a.example'] START t'2025-01-01T00:00:00Z' STOP t'2027-01-01T00:00:00Z'"));
    expect(entries[0]!.expiresAt).toBe(Date.parse('2027-01-01T00:00:00Z'));
  });
});

describe('indicator flags (B17)', () => {
  const p = "[domain-name:value = 'flagged.example']";
  const cases: [string, Record<string, unknown>, Partial<ParseOptions>, { names: string[]; ignored?: Record<string, number>; rejected?: number }][] = [
    ['revoked', { revoked: true }, {}, { names: [], ignored: { revoked: 1 } }],
    ['revoked false', { revoked: false }, {}, { names: ['flagged.example'] }],
    ['valid_until in the past', { valid_until: '2025-12-31T23:59:59Z' }, {}, { names: [], ignored: { expired: 1 } }],
    ['benign indicator_types (2.1)', { indicator_types: ['benign'] }, {}, { names: [], ignored: { benign: 1 } }],
    ['benign labels (2.0)', { labels: ['Benign'] }, {}, { names: [], ignored: { benign: 1 } }],
    ['pattern_type yara', { pattern_type: 'yara', pattern: 'rule x { condition: true }' }, {}, { names: [], ignored: { 'pattern_type:yara': 1 } }],
    ['no pattern_type (2.0)', { pattern_type: undefined }, {}, { names: ['flagged.example'] }],
    ['MISP-generated to_ids False label', { labels: ['misp:to_ids="False"'] }, {}, { names: [], ignored: { 'not-to_ids': 1 } }],
    ['… taken with mispIncludeNonIds', { labels: ['misp:to_ids="False"'] }, { mispIncludeNonIds: true }, { names: ['flagged.example'] }],
    ['no pattern', { pattern: undefined }, {}, { names: [], rejected: 1 }],
    ['unreadable valid_until', { valid_until: 'soon' }, {}, { names: [], rejected: 1 }],
  ];
  for (const [row, extra, opts, want] of cases) {
    it(row, () => {
      const { names, report } = run(indicator(p, extra), opts);
      expect(names).toEqual(want.names);
      expect(report.ignored).toEqual(want.ignored ?? {});
      expect(report.rejected).toBe(want.rejected ?? 0);
    });
  }

  it('valid_until in the future becomes expiresAt', () => {
    const { entries } = run(indicator(p, { valid_until: '2030-01-01T00:00:00Z' }));
    expect(entries[0]!.expiresAt).toBe(Date.parse('2030-01-01T00:00:00Z'));
  });
});

describe('documents (B15)', () => {
  it('a 2.1 bundle: indicators only, flags honoured, indicates-relationship names as tags, custom objects skipped', () => {
    const { entries, report, ips } = run(fixture('stix21-bundle.json'));
    const first = 'indicator--a1000000-0000-4000-8000-000000000001';
    const until = Date.parse('2030-01-01T00:00:00Z');
    expect(entries).toEqual([
      { name: 'c2-alpha.example', match: null, line: 0, ref: first, tags: ['ExampleRAT'], expiresAt: until },
      { name: 'c2-beta.example', match: null, line: 0, ref: first, tags: ['ExampleRAT'], expiresAt: until },
      { name: 'stage.example', match: null, line: 0, ref: 'indicator--a1000000-0000-4000-8000-000000000002', fromUrl: 'https://stage.example/drop/x.bin' },
    ]);
    expect(ips).toEqual(['198.51.100.0/24', '2001:db8::1/128']);
    expect(report.ignored).toEqual({ revoked: 1, expired: 1, benign: 1, 'pattern_type:yara': 1 });
    expect(report.unsupported).toBe(1);
    expect(report.unsupportedExamples[0]!.text).toContain('indicator--a1000000-0000-4000-8000-000000000007');
    expect(report.rejected).toBe(0);
  });

  it('a bare indicator object', () => {
    expect(run(fixture('stix21-indicator.json')).names).toEqual(['beacon.example']);
  });

  it('an array of 2.0 objects (labels, no pattern_type)', () => {
    const { names, report } = run(fixture('stix20-objects.json'));
    expect(names).toEqual(['old-style.example']);
    expect(report.ignored).toEqual({ benign: 1, 'not-to_ids': 1 });
  });

  it('a BOM before the JSON is tolerated', () => {
    expect(run(`\ufeff${indicator("[domain-name:value = 'a.example']")}`).names).toEqual(['a.example']);
  });

  const bad: [string, string, RegExp][] = [
    ['invalid JSON (truncated, A12)', '{"type": "bundle", "objects": [', /invalid JSON/],
    ['HTML served instead (A10)', '<!DOCTYPE html><html><title>429</title></html>', /invalid JSON/],
    ['JSON that is not STIX', '{"foo": 1}', /not a STIX bundle/],
    ['a number', '42', /not a STIX bundle/],
  ];
  for (const [row, text, why] of bad) {
    it(`${row}: one reject`, () => {
      const { entries, report } = run(text);
      expect(entries).toEqual([]);
      expect(report.rejected).toBe(1);
      expect(report.examples[0]!.reason).toMatch(why);
    });
  }
});

describe.skipIf(!haveFeeds)('real files in shared/feeds', () => {
  const real = sharedFeed;

  it('Talos STIX 2.0 bundle (MISP-generated, one 45 KB line): 21 domains, 19 SHA-256 indicators ignored', () => {
    const { entries, report } = run(real('talos/3cx-softphone-supply-chain-compromise.json'));
    expect(entries.map((e) => e.name).sort()).toEqual(CORE_21);
    expect(entries[0]).toEqual({ name: 'akamaicontainer.com', match: null, line: 0, ref: 'indicator--aadf315b-934e-45bc-8d21-94bf50604f39' });
    expect(report.ignored).toEqual({ sha256: 19 });
    expect(report.rejected).toBe(0);
    expect(report.unsupported).toBe(0);
    expect(report.ips).toEqual([]);
  });

  it('OASIS poisonivy.json (2.1): 24 domains, the OR-combined IPs, and the malformed value rejected', () => {
    const { entries, report, ips } = run(real('oasis/poisonivy.json'));
    expect(entries.map((e) => e.name)).toEqual([
      'www.webserver.dynssl.com',
      'www.webserver.freetcp.com',
      'www.webserver.fartit.com',
      'microsofta.byinter.net',
      'microsoftb.byinter.net',
      'microsoftc.byinter.net',
      'microsofte.byinter.net',
      'nkr.iphone.qpoe.com',
      'e.ct.toh.info',
      'js001.3322.org',
      'apple.cmdnetview.com',
      'tw.2012yearleft.com',
      'dedydns.ns01.us',
      'maofajapa.3322.org',
      'send.have8000.com',
      'fbi.zyns.com',
      'weile3322b.3322.org',
      'ngcc.8800.org',
      'sh.chromeenter.com',
      'mf.ddns.info',
      'av.ddns.us',
      'jj.mysecondarydns.com',
      'mongoles.3322.org',
      '3q.wubangtu.info',
    ]);
    // One IP entry per pattern leaf (40); the same addresses recur across indicators.
    expect(ips).toHaveLength(40);
    expect([...new Set(ips)].sort()).toEqual(
      [
        '101.78.151.179',
        '113.10.246.30',
        '123.183.210.28',
        '180.210.206.96',
        '202.65.220.64',
        '202.65.222.45',
        '219.76.208.163',
        '219.90.112.197',
        '219.90.112.203',
        '60.1.1.114',
        '60.10.1.114',
        '60.10.1.115',
        '60.10.1.118',
        '60.10.1.120',
        '60.10.1.121',
        '60.2.148.167',
        '75.126.95.138',
        '98.126.148.114',
      ]
        .map((ip) => `${ip}/32`)
        .sort(),
    );
    expect(report.rejected).toBe(1);
    expect(report.examples[0]).toEqual({
      line: 0,
      text: 'indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40: domain autuo.xicp.net',
      reason: 'domain autuo.xicp.net: label "domain autuo" has characters outside letters, digits, \'-\' and \'_\'',
    });
    // Its OR partner, the address, is still taken: leaves under OR are independent.
    expect(report.ips.filter((i) => i.ref === 'indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40').map((i) => i.cidr)).toEqual(['60.10.1.115/32']);
    expect(report.ignored).toEqual({ 'stix:file': 2 });
    expect(report.unsupported).toBe(0);
    expect(entries[0]!.tags).toEqual(expect.arrayContaining(['admin@338']));
  });
});
