// `c2dns hunt`: indicators from a file or a configured list, table and JSON output, time
// windows, exit codes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseWhen, runHunt, type HuntIo } from '../../src/commands/hunt.js';
import { HistoryRecorder } from '../../src/history/recorder.js';

const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;
const dir = mkdtempSync(join(tmpdir(), 'c2dns-huntcmd-'));
const config = join(dir, 'c2dns.yaml');

function io(tty = false): HuntIo & { out: string; err: string } {
  const r = {
    out: '',
    err: '',
    now: () => NOW,
    stdout: { write: (s: string) => (r.out += s) },
    stderr: { write: (s: string) => (r.err += s), isTTY: tty, columns: 80 },
  };
  return r;
}

beforeAll(async () => {
  writeFileSync(join(dir, 'c2.txt'), 'msstorageazure.com\nakamaicontainer.com\n');
  writeFileSync(join(dir, 'iocs.txt'), '# from the vendor report\nsbmsa.wiki   # staging\n\nGLOBALSTORAGEACCOUNT.com.\r\n');
  writeFileSync(join(dir, 'report.md'), '## IOCs\n| C2 | note |\n|---|---|\n| sbmsa[.]wiki | staging |\n| hxxps://cdn(.)globalstorageaccount[dot]com/x.zip | payload |\n| 45.77.1[.]2 | VPS |\n');
  writeFileSync(join(dir, 'messy.txt'), 'sbmsa.wiki\nmsstorage\u200bazure.com\nexample.org extra\n192.0.2.9\n');
  writeFileSync(join(dir, 'bad.txt'), 'not a name at all\nlocalhost\n');
  writeFileSync(config, YAML.stringify({ state: { dir: join(dir, 'state') }, lists: [{ name: 'c2', path: 'c2.txt' }] }));
  // The default history directory: <state.dir>/history.
  const rec = new HistoryRecorder({ dir: join(dir, 'state', 'history') });
  rec.record(NOW - 3 * 86_400_000, '192.168.1.20', 'sbmsa.wiki', 1, 'allowed', 0, new Uint8Array([45, 77, 1, 2]));
  rec.record(NOW - 2 * 3_600_000, '192.168.1.20', 'sbmsa.wiki', 1, 'cached', 0, new Uint8Array([45, 77, 1, 2]));
  rec.record(NOW - 90 * MIN, '192.168.1.21', 'cdn.globalstorageaccount.com', 28, 'allowed', 3, null);
  rec.record(NOW - 60 * MIN, '192.168.1.22', 'msstorageazure.com', 1, 'blocked', 0, new Uint8Array([0, 0, 0, 0]));
  rec.record(NOW - 30 * MIN, '192.168.1.23', 'example.org', 1, 'allowed', 0, new Uint8Array([93, 184, 216, 34]));
  rec.record(NOW - 20 * MIN, '192.168.1.24', 'www.xn--bcher-kva.example', 1, 'allowed', 0, new Uint8Array([192, 0, 2, 80]));
  await rec.close();
});

describe('c2dns hunt', () => {
  it('--names FILE --json: every (client, name) with first/last time, count and answers', async () => {
    const o = io();
    expect(await runHunt(['--config', config, '--names', join(dir, 'iocs.txt'), '--json'], o)).toBe(0);
    const doc = JSON.parse(o.out) as { indicators: number; records: number; hits: Record<string, unknown>[] };
    expect(doc.indicators).toBe(2);
    expect(doc.records).toBe(6);
    expect(doc.hits).toEqual([
      { client: '192.168.1.20', name: 'sbmsa.wiki', matchedIndicator: 'sbmsa.wiki', firstSeen: new Date(NOW - 3 * 86_400_000).toISOString(), lastSeen: new Date(NOW - 2 * 3_600_000).toISOString(), count: 2, answers: ['45.77.1.2'], moreAnswers: false, actions: ['allowed', 'cached'], rcodes: ['NOERROR'], qtypes: ['A'] },
      { client: '192.168.1.21', name: 'cdn.globalstorageaccount.com', matchedIndicator: 'globalstorageaccount.com', firstSeen: new Date(NOW - 90 * MIN).toISOString(), lastSeen: new Date(NOW - 90 * MIN).toISOString(), count: 1, answers: [], moreAnswers: false, actions: ['allowed'], rcodes: ['NXDOMAIN'], qtypes: ['AAAA'] },
    ]);
    expect(o.err).toBe(''); // --json: nothing but the document
  });

  it('--since bounds the window; the table goes to stdout, the summary to stderr', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'iocs.txt'), '--since', '1h'], o)).toBe(1);
    expect(o.out).toBe('');
    expect(o.err).toMatch(/^c2dns: 0 hits \(0 clients\) for 2 indicators; /);

    const t = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'iocs.txt'), '--since', '12h'], t)).toBe(0);
    const lines = t.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CLIENT\s+NAME\s+INDICATOR\s+FIRST\s+LAST\s+COUNT\s+ANSWERS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      ['192.168.1.20', 'sbmsa.wiki', 'sbmsa.wiki', new Date(NOW - 2 * 3_600_000).toISOString().replace('.000Z', 'Z'), new Date(NOW - 2 * 3_600_000).toISOString().replace('.000Z', 'Z'), '1', '45.77.1.2'],
      ['192.168.1.21', 'cdn.globalstorageaccount.com', 'globalstorageaccount.com', new Date(NOW - 90 * MIN).toISOString().replace('.000Z', 'Z'), new Date(NOW - 90 * MIN).toISOString().replace('.000Z', 'Z'), '1', '(NXDOMAIN)'],
    ]);
    expect(t.err).toMatch(/2 hits \(2 clients\) for 2 indicators; 5 queries in [23] segments/); // the 3-day-old segment is not read
  });

  it('--list NAME takes the names of a configured list; no source at all means every block list', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--list', 'c2', '--json'], o)).toBe(0);
    expect((JSON.parse(o.out) as { hits: { client: string }[] }).hits.map((h) => h.client)).toEqual(['192.168.1.22']);
    const d = io();
    expect(await runHunt(['-c', config, '--name', 'example.org', '--list', 'c2', '--json'], d)).toBe(0);
    expect((JSON.parse(d.out) as { indicators: number; hits: unknown[] }).indicators).toBe(3);
    const all = io();
    expect(await runHunt(['-c', config, '--json'], all)).toBe(0);
    expect((JSON.parse(all.out) as { indicators: number }).indicators).toBe(2);
  });

  it('--name takes IDN and defanged names as they are written in reports', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--name', 'BÜCHER.example.', '--name', 'example[.]org', '--json'], o)).toBe(0);
    const doc = JSON.parse(o.out) as { hits: { client: string; name: string; matchedIndicator: string }[] };
    expect(doc.hits.map((h) => [h.client, h.name, h.matchedIndicator])).toEqual([
      ['192.168.1.23', 'example.org', 'example.org'],
      ['192.168.1.24', 'www.xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ]);
  });

  it('--names reads a defanged report as an ioc-text list, as a list with that content would be', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'report.md'), '--json'], o)).toBe(0);
    const doc = JSON.parse(o.out) as { indicators: number; rejected: { reason: string }[]; hits: { name: string; matchedIndicator: string }[] };
    expect(doc.indicators).toBe(2);
    expect(doc.hits.map((h) => [h.name, h.matchedIndicator])).toEqual([
      ['sbmsa.wiki', 'sbmsa.wiki'],
      ['cdn.globalstorageaccount.com', 'cdn.globalstorageaccount.com'],
    ]);
    expect(doc.rejected.map((r) => r.reason)).toContain('1 IP address not hunted: the history is searched by name');
  });

  it('--names: a line that gives no name is reported with its number (stderr and --json), the others are hunted', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'messy.txt'), '--json'], o)).toBe(0);
    const doc = JSON.parse(o.out) as { indicators: number; rejected: { source: string; line: number | null; reason: string }[]; hits: { name: string }[] };
    expect(doc.indicators).toBe(1);
    expect(doc.hits.map((h) => h.name)).toEqual(['sbmsa.wiki']);
    const file = join(dir, 'messy.txt');
    expect(doc.rejected).toEqual([
      { source: file, line: 2, text: 'msstorage\u200bazure.com', reason: 'msstorage\u200bazure.com: invisible format character (e.g. U+200B) inside the name' },
      { source: file, line: 3, text: 'example.org extra', reason: 'more than one field on a line of a plain domain list' },
      { source: file, line: null, text: '', reason: '1 IP address not hunted: the history is searched by name' },
    ]);
    expect(o.err).toBe(
      `c2dns: ${file} line 2: msstorage\u200bazure.com: invisible format character (e.g. U+200B) inside the name\n` +
        `c2dns: ${file} line 3: more than one field on a line of a plain domain list\n` +
        `c2dns: ${file}: 1 IP address not hunted: the history is searched by name\n`,
    );
  });

  it('a file with no usable name, or a --name that is not one, is a usage error (never a hunt of every list)', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'bad.txt')], o)).toBe(2);
    expect(o.err).toMatch(/line 1: .*\n.*line 2: localhost: a single label.*\nc2dns: nothing to hunt for/);
    const n = io();
    expect(await runHunt(['-c', config, '--name', '192.0.2.1'], n)).toBe(2);
    expect(n.err).toMatch(/^c2dns: --name "192.0.2.1": an IP address: the history is searched by name\n/);
    const m = io();
    expect(await runHunt(['-c', config, '--names', join(dir, 'missing.txt')], m)).toBe(2);
    expect(m.err).toMatch(/^c2dns: --names .*missing\.txt: ENOENT/);
  });

  it('--dir reads another history directory; usage errors exit 2', async () => {
    const o = io();
    expect(await runHunt(['-c', config, '--dir', join(dir, 'nowhere'), '--name', 'sbmsa.wiki'], o)).toBe(1);
    expect(o.err).toMatch(/0 queries in 0 segments/);
    for (const argv of [['--since', 'yesterday', '--name', 'a.example'], ['--list', 'nope', '-c', config], ['--bogus'], ['--names', join(dir, 'c2dns.yaml'), '--until', 'x']]) {
      const e = io();
      expect(await runHunt(argv, e)).toBe(2);
      expect(e.err).toMatch(/^c2dns: .*\nusage: c2dns hunt/);
    }
  });

  it('parses ages and ISO times', () => {
    expect(parseWhen('30d', NOW)).toBe(NOW - 30 * 86_400_000);
    expect(parseWhen('1.5h', NOW)).toBe(NOW - 5_400_000);
    expect(parseWhen('2w', NOW)).toBe(NOW - 14 * 86_400_000);
    expect(parseWhen('2026-03-29T12:00:00Z', NOW)).toBe(Date.UTC(2026, 2, 29, 12));
    expect(parseWhen('12', NOW)).toBeNaN();
  });
});
