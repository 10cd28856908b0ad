// What c2dns makes of the real public feed files in ../shared/feeds (see its SOURCES.md):
// each file through format detection, its parser and the shared-infrastructure guard, exactly
// as a configured source would be compiled.
import { describe, expect, it } from 'vitest';
import { CORE_21, haveSharedFeeds, sharedFeedBytes, warnIfNoSharedFeeds } from '../helpers/feeds.js';
import { DEFAULT_PROTECTED, Guard } from '../../src/blocklist/guard.js';
import { listConfig, type ListConfig } from '../../src/config/schema.js';
import { compileSource, type CompiledSource } from '../../src/feeds/compile.js';
import { decodeFeed } from '../../src/feeds/decode.js';

const present = haveSharedFeeds;
warnIfNoSharedFeeds('test/feeds/conformance.test.ts');


function compile(file: string, extra: Partial<ListConfig> = {}, protect: string[] = []): CompiledSource {
  const cfg = listConfig({ name: file.split('/')[0]!, path: file, ...extra });
  const text = decodeFeed(sharedFeedBytes(file), { maxBytes: 64 * 1024 * 1024, lineFormat: !file.endsWith('.json') });
  return compileSource(text, cfg, new Guard([...DEFAULT_PROTECTED, ...protect]), new Map(), Date.parse('2026-11-27T00:00:00Z'));
}
const blocks = (c: CompiledSource) => [...new Set([...c.rules].filter((r) => r.kind === 'block').map((r) => r.rule))].sort();

describe.skipIf(!present)('real feeds in ../shared/feeds', () => {
  it('Sophos CSV: the 21 C2 domains; the raw.githubusercontent.com staging URL is not enforceable by DNS', () => {
    const c = compile('sophoslabs/3CX IoCs 2023-03.csv');
    expect(c.format).toBe('csv');
    expect(blocks(c)).toEqual([...CORE_21].sort());
    expect(c.notEnforceable.map((r) => r.name)).toEqual(['raw.githubusercontent.com']);
    expect(c.notEnforceable[0]!.reason).toMatch(/not enforceable by DNS/);
    expect(c.report.rejected).toBe(0);
  });

  it('Volexity iocs.csv: the 21 plus the two www hosts; e-mails and file hashes ignored', () => {
    const c = compile('volexity/iocs.csv');
    expect(blocks(c)).toEqual([...CORE_21, 'www.azuredeploystore.com', 'www.journalide.org'].sort());
    expect(c.report.ignored.email).toBe(5);
    expect(c.report.rejected).toBe(0);
  });

  it("Volexity github_summary.csv: the decoded C2 hosts; icon0's vendor site (www.3cx.com) is refused by the guard", () => {
    const c = compile('volexity/github_summary.csv');
    expect(blocks(c).every((d) => CORE_21.includes(d))).toBe(true);
    expect(blocks(c).length).toBeGreaterThanOrEqual(12);
    expect(c.guarded.map((r) => r.name)).toEqual(['www.3cx.com']);
  });

  it('Talos STIX 2.0 bundle: the 21 domains, hashes ignored', () => {
    const c = compile('talos/3cx-softphone-supply-chain-compromise.json');
    expect(c.format).toBe('stix');
    expect(blocks(c)).toEqual([...CORE_21].sort());
    expect(c.report.rejected).toBe(0);
  });

  it('ESET MISP event: journalide.org (host of a to_ids URL), not od.lk (shared storage, not enforceable)', () => {
    const c = compile('eset/lazarus_3cx.json');
    expect(c.format).toBe('misp');
    expect(blocks(c)).toEqual(['journalide.org']);
    expect(c.notEnforceable.map((r) => r.name)).toEqual(['od.lk']);
    expect(c.report.ignored['not-to_ids']).toBeGreaterThan(0);
    expect(c.ips.map((i) => i.cidr)).toContain('23.254.211.230/32');
    // Opting in to non-to_ids domains still never blocks od.lk.
    const all = compile('eset/lazarus_3cx.json', { mispIncludeNonIds: true });
    expect(blocks(all)).toContain('journalide.org');
    expect(blocks(all)).not.toContain('od.lk');
  });

  it('maltrail plain list: the 21 + msedgeupdate.net, the IP:port to the IP table, and its two bogus entries loaded as written', () => {
    const c = compile('maltrail/hacked_3cx.txt');
    expect(c.format).toBe('plain');
    const b = blocks(c);
    for (const d of [...CORE_21, 'msedgeupdate.net']) expect(b).toContain(d);
    expect(c.ips.map((i) => i.cidr)).toEqual(['23.254.211.230/32']);
    // acharryblogs.com (a mis-decoded zacharryblogs.com) and philip.je (cut from an e-mail
    // address) are syntactically valid names: no parser can know they are bogus. c2dns loads
    // them with their line numbers (so `c2dns check` names the source); the documented remedy
    // is guard.protect, which refuses them from every list.
    expect(b).toEqual(expect.arrayContaining(['acharryblogs.com', 'philip.je']));
    const fixed = compile('maltrail/hacked_3cx.txt', {}, ['philip.je', 'acharryblogs.com']);
    expect(blocks(fixed)).not.toContain('philip.je');
    expect(fixed.guarded.map((g) => g.name).sort()).toEqual(['acharryblogs.com', 'philip.je']);
  });

  it('OASIS poisonivy STIX 2.1: domains and IPs from OR-combined patterns; the malformed value is rejected', () => {
    const c = compile('oasis/poisonivy.json');
    expect(blocks(c).length).toBe(24);
    expect(c.ips.length).toBe(40);
    expect(c.report.rejected).toBe(1);
    expect(c.report.examples[0]!.text + c.report.examples[0]!.reason).toMatch(/domain autuo\.xicp\.net/);
  });

  it('PowerDNS basic.rpz: every action, PASSTHRU as allow, IP triggers to the IP table, NSDNAME unsupported', () => {
    const c = compile('powerdns/basic.rpz');
    expect(c.format).toBe('rpz');
    const byName = new Map([...c.rules].map((r) => [`${r.rule} ${r.match}`, r]));
    expect(byName.get('nxdomain.org exact')!.action).toBe('nxdomain');
    expect(byName.get('mail.nxdomain.org exact')!.kind).toBe('allow');
    expect(byName.get('example.net exact')!.action).toBe('drop');
    expect(byName.get('truncate.org exact')!.action).toBe('tcp-only');
    expect(byName.get('local-a.org exact')!.action).toEqual({ local: [{ type: 'A', value: '192.168.2.5' }] });
    expect(c.ips).toHaveLength(3);
    expect(c.report.unsupported).toBe(3);
  });

  it('AdGuard exceptions.txt: 125 allow rules, none blocks; 11 wildcard patterns reported unsupported', () => {
    const c = compile('adguard/exceptions.txt');
    expect(c.format).toBe('adblock');
    expect([...c.rules].filter((r) => r.kind === 'allow')).toHaveLength(125);
    expect(blocks(c)).toEqual([]);
    expect(c.report.unsupported).toBe(11);
  });

  it('hagezi compressed hosts: 9 names a line; names under apple.com and icloud.com are refused by the guard', () => {
    const c = compile('hagezi/native.apple-compressed.txt');
    expect(c.format).toBe('hosts');
    expect(c.rules.length + c.guarded.length).toBe(105);
    expect(c.guarded.every((g) => /apple\.com|icloud\.com|edgekey\.net|edgesuite\.net/.test(g.name))).toBe(true);
  });
});
