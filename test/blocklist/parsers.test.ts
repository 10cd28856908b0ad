// List formats loaded at start: plain domain lists and hosts files.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeDomain } from '../../src/blocklist/domain.js';
import { detectFormat, PARSERS } from '../../src/blocklist/parsers/index.js';
import { ParseReport } from '../../src/blocklist/parsers/report.js';
import { bundledPath } from '../../src/config/paths.js';

const names = (text: string, format: 'plain' | 'hosts') => {
  const report = new ParseReport();
  const entries = PARSERS[format](text, report, { now: Date.now() });
  return { names: entries.map((e) => e.name), report };
};

describe('normalizeDomain', () => {
  const cases: [string, string | RegExp][] = [
    ['Example.COM.', 'example.com'],
    ['  a.b.example.com  ', 'a.b.example.com'],
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['192.0.2.1', /IP address/],
    ['2001:db8::1', /IP address/],
    ['com', /single label/],
    ['a..b.com', /empty label/],
    [`${'a'.repeat(64)}.com`, /longer than 63/],
    [`${'abcdefghi.'.repeat(26)}com`, /longer than 253/],
    ['bad name.com', /characters outside/],
    ['-lead.com', /characters outside/],
    ['http://x.com/path', /characters outside/],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input).slice(0, 40)} → ${want}`, () => {
      const r = normalizeDomain(input);
      if (typeof want === 'string') expect(r).toEqual({ ok: true, name: want });
      else expect(r.ok ? 'accepted' : r.reason).toMatch(want);
    });
  }
});

describe('plain format', () => {
  it('reads one name per line with comments, BOM, CRLF and blank lines', () => {
    const { names: n, report } = names('\ufeff# header\r\nA.com\r\n\r\nb.org # inline comment\r\n  c.net  \n', 'plain');
    expect(n).toEqual(['a.com', 'b.org', 'c.net']);
    expect(report.accepted).toBe(3);
    expect(report.rejected).toBe(0);
  });

  it('rejects bad lines with line numbers and keeps going', () => {
    const { names: n, report } = names('ok.com\n0.0.0.0 hosts-style.com\nbad_name!.com\nfine.org\n', 'plain');
    expect(n).toEqual(['ok.com', 'fine.org']);
    expect(report.rejected).toBe(2);
    expect(report.examples.map((e) => e.line)).toEqual([2, 3]);
  });

  it('sends IPs and IP:port to the IP table, takes URL hosts, ignores hashes and e-mails', () => {
    const sha = 'a'.repeat(64);
    const report = new ParseReport();
    const entries = PARSERS.plain(`23.254.211.230:443\nhttps://c2.example.org/x.php\n${sha}\nphilip.je@proton.me\n`, report, { now: 0 });
    expect(entries).toEqual([{ name: 'c2.example.org', match: null, line: 2, fromUrl: 'https://c2.example.org/x.php' }]);
    expect(report.ips.map((i) => i.cidr)).toEqual(['23.254.211.230/32']);
    expect(report.ignored).toEqual({ sha256: 1, email: 1 });
    expect(report.rejected).toBe(0);
  });
});

describe('hosts format', () => {
  it('takes every name after the address, skips boilerplate and comments', () => {
    const text = `127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n0.0.0.0 a.com b.com # two names\n:: v6.example.com\n0.0.0.0 0.0.0.0\n`;
    const { names: n, report } = names(text, 'hosts');
    expect(n).toEqual(['a.com', 'b.com', 'v6.example.com']);
    expect(report.rejected).toBe(0);
  });

  it('rejects lines that are not "ADDRESS NAME..."', () => {
    const { names: n, report } = names('just-a-name.com\n0.0.0.0 ok.com\n', 'hosts');
    expect(n).toEqual(['ok.com']);
    expect(report.examples[0]).toMatchObject({ line: 1, reason: expect.stringMatching(/ADDRESS NAME/) as unknown });
  });
});

describe('format detection and loading', () => {
  it('detects hosts and plain', () => {
    expect(detectFormat('# x\n0.0.0.0 a.com\n0.0.0.0 b.com\n')).toBe('hosts');
    expect(detectFormat('# x\na.com\nb.com\n')).toBe('plain');
  });

  it('reads the bundled 3CX list: 23 dedicated C2 domains, none rejected', () => {
    const report = new ParseReport();
    const entries = PARSERS.plain(readFileSync(bundledPath('blocklists', '3cx.txt'), 'utf8'), report, { now: 0 });
    expect(entries).toHaveLength(23);
    expect(report.rejected).toBe(0);
    expect(entries.map((e) => e.name)).toContain('msboxonline.com');
    expect(readFileSync(bundledPath('blocklists', '3cx.txt'), 'utf8')).toMatch(/^# c2dns bundled blocklist/);
  });
});
