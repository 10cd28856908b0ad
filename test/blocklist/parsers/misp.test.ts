// MISP events: wrappers, Attribute[] and Object[].Attribute[], types, to_ids/deleted flags, and
// the real ESET event.
import { describe, expect, it } from 'vitest';
import { fixture, haveSharedFeeds, sharedFeed, warnIfNoSharedFeeds } from '../../helpers/feeds.js';
import { parseMisp } from '../../../src/blocklist/parsers/misp.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import type { ParseOptions } from '../../../src/blocklist/parsers/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const haveFeeds = haveSharedFeeds;
warnIfNoSharedFeeds('test/blocklist/parsers/misp.test.ts');

function run(text: string, opts: Partial<ParseOptions> = {}) {
  const report = new ParseReport();
  const entries = parseMisp(text, report, { now: NOW, ...opts });
  return { entries, report, names: entries.map((e) => e.name), ips: report.ips.map((i) => i.cidr) };
}

const event = (attrs: Record<string, unknown>[]) => JSON.stringify({ Event: { info: 't', Attribute: attrs } });

describe('attribute types', () => {
  interface Want {
    names?: string[];
    ips?: string[];
    ignored?: Record<string, number>;
    rejected?: RegExp;
    fromUrl?: string;
  }
  const cases: [string, Record<string, unknown>, Want][] = [
    ['domain', { type: 'domain', value: 'Evil.Example' }, { names: ['evil.example'] }],
    ['hostname', { type: 'hostname', value: 'www.evil.example' }, { names: ['www.evil.example'] }],
    ['domain|ip: split at the first |', { type: 'domain|ip', value: 'evil.example|192.0.2.1' }, { names: ['evil.example'], ips: ['192.0.2.1/32'] }],
    ['hostname|port', { type: 'hostname|port', value: 'evil.example|443' }, { names: ['evil.example'] }],
    ['domain|ip without |', { type: 'domain|ip', value: 'evil.example' }, { rejected: /without "\|"/ }],
    ['ip-dst', { type: 'ip-dst', value: '192.0.2.7' }, { ips: ['192.0.2.7/32'] }],
    ['ip-src CIDR', { type: 'ip-src', value: '198.51.100.0/24' }, { ips: ['198.51.100.0/24'] }],
    ['ip-dst|port', { type: 'ip-dst|port', value: '192.0.2.7|8080' }, { ips: ['192.0.2.7/32'] }],
    ['ip-dst|port written ip:port', { type: 'ip-dst|port', value: '192.0.2.7:8080' }, { ips: ['192.0.2.7/32'] }],
    ['ip-dst|port with IPv6', { type: 'ip-dst|port', value: '2001:db8::7|443' }, { ips: ['2001:db8::7/128'] }],
    ['url → host with fromUrl', { type: 'url', value: 'https://od.lk/d/NTJfMzg4MDE1NzJf/vxmedia' }, { names: ['od.lk'], fromUrl: 'https://od.lk/d/NTJfMzg4MDE1NzJf/vxmedia' }],
    ['url with an IP host (ESET tcp://)', { type: 'url', value: 'tcp://23.254.211.230' }, { ips: ['23.254.211.230/32'] }],
    ['url without a scheme', { type: 'url', value: 'evil.example/gate.php' }, { names: ['evil.example'], fromUrl: 'evil.example/gate.php' }],
    ['uri that is a path', { type: 'uri', value: '/djour.php' }, { ignored: { 'uri-path': 1 } }],
    ['url that is not a URL', { type: 'url', value: 'no url here' }, { rejected: /not a URL/ }],
    ['link is a reference', { type: 'link', value: 'https://www.welivesecurity.com/x' }, { ignored: { link: 1 } }],
    ['sha256', { type: 'sha256', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, { ignored: { sha256: 1 } }],
    ['filename|md5', { type: 'filename|md5', value: 'a.exe|d41d8cd98f00b204e9800998ecf8427e' }, { ignored: { md5: 1 } }],
    ['e-mail (E5: never split)', { type: 'email-src', value: 'philip.je@proton.me' }, { ignored: { email: 1 } }],
    ['text', { type: 'text', value: 'ESET' }, { ignored: { text: 1 } }],
    ['bad domain value', { type: 'domain', value: 'bad name.example' }, { rejected: /characters outside/ }],
    ['IP in a domain attribute (C14)', { type: 'domain', value: '192.0.2.1' }, { rejected: /an IP address/ }],
    ['bad ip value', { type: 'ip-dst', value: 'not-an-ip' }, { rejected: /not an IP address/ }],
  ];
  for (const [row, attr, want] of cases) {
    it(row, () => {
      const { entries, names, ips, report } = run(event([{ uuid: 'u-1', to_ids: true, deleted: false, ...attr }]));
      expect(names).toEqual(want.names ?? []);
      expect(ips).toEqual(want.ips ?? []);
      expect(report.ignored).toEqual(want.ignored ?? {});
      if (want.rejected !== undefined) expect(report.examples[0]?.reason).toMatch(want.rejected);
      else expect(report.rejected).toBe(0);
      if (want.fromUrl !== undefined) expect(entries[0]!.fromUrl).toBe(want.fromUrl);
      for (const e of entries) expect(e).toMatchObject({ line: 0, ref: 'u-1' });
    });
  }
});

describe('flags (B17)', () => {
  const cases: [string, Record<string, unknown>, Partial<ParseOptions>, { names: string[]; ips?: string[]; ignored?: Record<string, number> }][] = [
    ['to_ids false domain: ignored', { type: 'domain', value: 'a.example', to_ids: false }, {}, { names: [], ignored: { 'not-to_ids': 1 } }],
    ['… taken with mispIncludeNonIds', { type: 'domain', value: 'a.example', to_ids: false }, { mispIncludeNonIds: true }, { names: ['a.example'] }],
    ['to_ids "0" string', { type: 'hostname', value: 'a.example', to_ids: '0' }, {}, { names: [], ignored: { 'not-to_ids': 1 } }],
    ['to_ids "True" string', { type: 'hostname', value: 'a.example', to_ids: 'True' }, {}, { names: ['a.example'] }],
    ['to_ids 1 number', { type: 'hostname', value: 'a.example', to_ids: 1 }, {}, { names: ['a.example'] }],
    ['to_ids absent: taken', { type: 'domain', value: 'a.example' }, {}, { names: ['a.example'] }],
    ['to_ids false url: ignored', { type: 'url', value: 'https://a.example/x', to_ids: false }, {}, { names: [], ignored: { 'not-to_ids': 1 } }],
    ['to_ids false IP: ignored even with mispIncludeNonIds', { type: 'ip-dst', value: '192.0.2.1', to_ids: false }, { mispIncludeNonIds: true }, { names: [], ignored: { 'not-to_ids': 1 } }],
    ['domain|ip to_ids false with the option: name only', { type: 'domain|ip', value: 'a.example|192.0.2.1', to_ids: false }, { mispIncludeNonIds: true }, { names: ['a.example'], ignored: { 'not-to_ids': 1 } }],
    ['deleted true', { type: 'domain', value: 'a.example', to_ids: true, deleted: true }, {}, { names: [], ignored: { deleted: 1 } }],
    ['deleted "1"', { type: 'domain', value: 'a.example', to_ids: true, deleted: '1' }, { mispIncludeNonIds: true }, { names: [], ignored: { deleted: 1 } }],
  ];
  for (const [row, attr, opts, want] of cases) {
    it(row, () => {
      const { names, ips, report } = run(event([attr]), opts);
      expect(names).toEqual(want.names);
      expect(ips).toEqual(want.ips ?? []);
      expect(report.ignored).toEqual(want.ignored ?? {});
    });
  }
});

describe('documents (B15, B16)', () => {
  it('{"Event":…} with Attribute[] and Object[]: types, flags, deleted objects, tags (ATT&CK clusters dropped)', () => {
    const { entries, report, ips } = run(fixture('misp-event.json'));
    const eventTags = ['tlp:white', 'misp-galaxy:threat-actor="Example Group"'];
    expect(entries).toEqual([
      { name: 'ids-true.example', match: null, line: 0, ref: 'a0000001-0000-4000-8000-000000000001', tags: ['kill-chain:c2', ...eventTags] },
      { name: 'host.ids-string.example', match: null, line: 0, ref: 'a0000001-0000-4000-8000-000000000002', tags: eventTags },
      { name: 'pair.example', match: null, line: 0, ref: 'a0000001-0000-4000-8000-000000000005', tags: eventTags },
      { name: 'port-host.example', match: null, line: 0, ref: 'a0000001-0000-4000-8000-000000000006', tags: eventTags },
      { name: 'staging.example', match: null, line: 0, ref: 'b0000001-0000-4000-8000-000000000001', fromUrl: 'https://staging.example/d/abc', tags: eventTags },
    ]);
    expect(ips).toEqual(['192.0.2.80/32', '198.51.100.9/32', '203.0.113.0/24']);
    expect(report.ips[0]!.ref).toBe('a0000001-0000-4000-8000-000000000005');
    expect(report.ignored).toEqual({ 'not-to_ids': 2, deleted: 2, 'uri-path': 1, link: 1, sha256: 1, email: 1, text: 1 });
    expect(report.rejected).toBe(1);
    expect(report.examples[0]!.text).toContain('a0000001-0000-4000-8000-000000000013');
  });

  it('a list mixing {"Event":…} and a bare event', () => {
    expect(run(fixture('misp-events-list.json')).names).toEqual(['first-event.example', 'second-event.example']);
  });

  it('{"response":[{"Event":…}]} (API search) and {"response":{"Attribute":[…]}} (attribute search)', () => {
    const attr = { uuid: 'u', type: 'domain', value: 'a.example', to_ids: true };
    expect(run(JSON.stringify({ response: [{ Event: { Attribute: [attr] } }] })).names).toEqual(['a.example']);
    expect(run(JSON.stringify({ response: { Attribute: [attr] } })).names).toEqual(['a.example']);
  });

  const bad: [string, string, RegExp][] = [
    ['invalid JSON', '{"Event": {', /invalid JSON/],
    ['not MISP', '{"type": "bundle", "objects": []}', /not a MISP event/],
    ['a list with something else in it', '[{"Event": {"Attribute": []}}, 3]', /not a MISP event/],
  ];
  for (const [row, text, why] of bad) {
    it(`${row}: one reject`, () => {
      const { entries, report } = run(text);
      expect(entries).toEqual([]);
      expect(report.rejected).toBe(1);
      expect(report.examples[0]!.reason).toMatch(why);
    });
  }

  it('a MISP feed manifest is recognised and explained', () => {
    const { report } = run(fixture('misp-manifest.json'));
    expect(report.rejected).toBe(1);
    expect(report.examples[0]!.reason).toMatch(/feed manifest/);
  });
});

describe.skipIf(!haveFeeds)('real files in shared/feeds', () => {
  const eset = () => sharedFeed('eset/lazarus_3cx.json');
  const tags = ['ESET', 'misp-galaxy:threat-actor="Lazarus Group"'];

  it('ESET lazarus_3cx.json (response wrapper, all IOCs inside Object[]): only the hosts of its to_ids URL attributes', () => {
    const { entries, report, ips } = run(eset());
    expect(entries).toEqual([
      { name: 'od.lk', match: null, line: 0, ref: '016c859d-b4a1-4992-b5ca-f1808b6ae11e', fromUrl: 'https://od.lk/d/NTJfMzg4MDE1NzJf/vxmedia', tags },
      { name: 'journalide.org', match: null, line: 0, ref: 'cd3132e3-c104-48f6-afa7-d7ae37be872f', fromUrl: 'https://journalide.org/djour.php', tags },
    ]);
    // tcp://23.254.211.230 (to_ids) → the IP table; the four ip-dst attributes are to_ids false.
    expect(ips).toEqual(['23.254.211.230/32']);
    expect(report.ips[0]!.ref).toBe('11613aac-99c6-4b67-ac35-f9aaa017c6c4');
    expect(report.ignored).toEqual({ 'not-to_ids': 6, text: 23, port: 2, filename: 4, md5: 4, sha1: 4, sha256: 4 });
    expect(report.rejected).toBe(0);
  });

  it('ESET with mispIncludeNonIds: the to_ids=false domain attributes journalide.org and od.lk as well (no fromUrl)', () => {
    const { entries, report, ips } = run(eset(), { mispIncludeNonIds: true });
    expect(entries.map((e) => [e.name, e.fromUrl ?? null])).toEqual([
      ['od.lk', null],
      ['od.lk', 'https://od.lk/d/NTJfMzg4MDE1NzJf/vxmedia'],
      ['journalide.org', null],
      ['journalide.org', 'https://journalide.org/djour.php'],
    ]);
    expect(entries.find((e) => e.name === 'journalide.org' && e.fromUrl === undefined)?.ref).toBe('63fcc2b7-691b-496d-93e9-570182ec8829');
    // Hosting and shared-storage addresses stay out: to_ids false IPs are never taken.
    expect(ips).toEqual(['23.254.211.230/32']);
    expect(report.ignored['not-to_ids']).toBe(4);
  });
});
