// Hunting the history: a generated history with planted hits, checked exactly and against a
// brute-force search of the same records.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSegmentNames } from '../../src/history/format.js';
import { hunt, huntDetailed, retroHunt, type HuntHit, type HuntProgress } from '../../src/history/hunt.js';
import { HistoryRecorder } from '../../src/history/recorder.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;

interface Rec {
  time: number;
  client: string;
  qname: string;
  qtype: number;
  action: string;
  rcode: number;
  answer: number[] | null;
}

/** Deterministic PRNG (mulberry32): the same history every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const planted: Rec[] = [
  { time: T0 + 10 * MIN, client: '10.1.0.5', qname: 'beacon.c2.example', qtype: 1, action: 'allowed', rcode: 0, answer: [198, 51, 100, 10] },
  { time: T0 + 70 * MIN, client: '10.1.0.5', qname: 'beacon.c2.example', qtype: 1, action: 'cached', rcode: 0, answer: [198, 51, 100, 10] },
  { time: T0 + 130 * MIN, client: '10.1.0.5', qname: 'beacon.c2.example', qtype: 28, action: 'allowed', rcode: 0, answer: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11] },
  { time: T0 + 131 * MIN, client: '10.1.0.5', qname: 'beacon.c2.example', qtype: 1, action: 'allowed', rcode: 0, answer: [198, 51, 100, 11] },
  { time: T0 + 20 * MIN, client: 'fd00::77', qname: 'c2.example', qtype: 1, action: 'blocked', rcode: 0, answer: [0, 0, 0, 0] },
  { time: T0 + 200 * MIN, client: '10.1.0.6', qname: 'x.y.other-c2.test', qtype: 65, action: 'allowed', rcode: 3, answer: null },
  { time: T0 + 201 * MIN, client: '10.1.0.6', qname: 'x.y.other-c2.test', qtype: 65, action: 'allowed', rcode: 3, answer: null },
  // Near misses: a suffix that is not at a label boundary, and the indicator inside a longer name.
  { time: T0 + 30 * MIN, client: '10.1.0.7', qname: 'notc2.example', qtype: 1, action: 'allowed', rcode: 0, answer: [192, 0, 2, 1] },
  { time: T0 + 31 * MIN, client: '10.1.0.7', qname: 'c2.example.evil.org', qtype: 1, action: 'allowed', rcode: 0, answer: [192, 0, 2, 2] },
];

const dir = mkdtempSync(join(tmpdir(), 'c2dns-hunt-'));
const all: Rec[] = [];

beforeAll(async () => {
  const r = rng(42);
  const noise: Rec[] = [];
  for (let i = 0; i < 30_000; i++) {
    const name = Math.floor(r() ** 2 * 3000);
    noise.push({
      time: T0 + Math.floor((i / 30_000) * 4 * HOUR),
      client: `10.2.${Math.floor(r() * 4)}.${Math.floor(r() * 50)}`,
      qname: `host${name}.site${name % 97}.example`,
      qtype: r() < 0.8 ? 1 : 28,
      action: r() < 0.3 ? 'cached' : 'allowed',
      rcode: r() < 0.05 ? 3 : 0,
      answer: [10, 9, name >> 8, name & 255],
    });
  }
  all.push(...noise, ...planted);
  all.sort((a, b) => a.time - b.time);
  const rec = new HistoryRecorder({ dir, segmentMinutes: 60, batchRecords: 512, maxBufferedRecords: 1_000_000 });
  for (const x of all) rec.record(x.time, x.client, x.qname, x.qtype, x.action, x.rcode, x.answer === null || x.rcode !== 0 ? null : new Uint8Array(x.answer));
  await rec.close();
  expect(rec.stats()).toMatchObject({ recorded: all.length, dropped: 0 });
});

describe('hunt', () => {
  it('finds the planted clients with exact names, first/last times, counts and answers', async () => {
    const hits = await hunt(dir, { names: new Set(['C2.Example.', 'other-c2.test']), since: 0 });
    expect(hits).toEqual<HuntHit[]>([
      { client: '10.1.0.5', name: 'beacon.c2.example', matchedIndicator: 'c2.example', firstSeen: T0 + 10 * MIN, lastSeen: T0 + 131 * MIN, count: 4, answers: ['198.51.100.10', '2001:db8::11', '198.51.100.11'], moreAnswers: false, actions: ['allowed', 'cached'], rcodes: ['NOERROR'], qtypes: ['A', 'AAAA'] },
      { client: 'fd00::77', name: 'c2.example', matchedIndicator: 'c2.example', firstSeen: T0 + 20 * MIN, lastSeen: T0 + 20 * MIN, count: 1, answers: ['0.0.0.0'], moreAnswers: false, actions: ['blocked'], rcodes: ['NOERROR'], qtypes: ['A'] },
      { client: '10.1.0.6', name: 'x.y.other-c2.test', matchedIndicator: 'other-c2.test', firstSeen: T0 + 200 * MIN, lastSeen: T0 + 201 * MIN, count: 2, answers: [], moreAnswers: false, actions: ['allowed'], rcodes: ['NXDOMAIN'], qtypes: ['HTTPS'] },
    ]);
  });

  it('matches subdomains at label boundaries only, and names the most specific indicator', async () => {
    const hits = await hunt(dir, { names: new Set(['c2.example', 'beacon.c2.example', 'example.evil.org']), since: 0 });
    expect(hits.map((h) => [h.client, h.name, h.matchedIndicator])).toEqual([
      ['10.1.0.5', 'beacon.c2.example', 'beacon.c2.example'],
      ['fd00::77', 'c2.example', 'c2.example'],
      ['10.1.0.7', 'c2.example.evil.org', 'example.evil.org'],
    ]);
    expect(await hunt(dir, { names: new Set(['2.example', 'c2.exampl', 'example.evil']), since: 0 })).toEqual([]);
  });

  it('honours since (inclusive) and until (exclusive), across segment boundaries', async () => {
    const names = new Set(['c2.example']);
    const mid = await hunt(dir, { names, since: T0 + 70 * MIN, until: T0 + 131 * MIN });
    expect(mid).toEqual([expect.objectContaining({ client: '10.1.0.5', firstSeen: T0 + 70 * MIN, lastSeen: T0 + 130 * MIN, count: 2, answers: ['198.51.100.10', '2001:db8::11'] })]);
    expect(await hunt(dir, { names, since: T0 + 131 * MIN + 1 })).toEqual([]);
    expect(await hunt(dir, { names, since: 0, until: T0 + 10 * MIN })).toEqual([]);
  });

  it('agrees with a brute-force search for random indicators and windows', async () => {
    const r = rng(7);
    for (let round = 0; round < 5; round++) {
      const names = new Set<string>();
      for (let i = 0; i < 25; i++) {
        const x = all[Math.floor(r() * all.length)]!.qname;
        names.add(r() < 0.5 ? x : x.slice(x.indexOf('.') + 1)); // the name or its parent (a whole site)
      }
      const since = T0 + Math.floor(r() * 2 * HOUR);
      const until = since + Math.floor(r() * 2 * HOUR);
      const expected = new Map<string, { count: number; first: number; last: number }>();
      for (const x of all) {
        if (x.time < since || x.time >= until) continue;
        const labels = x.qname.split('.');
        if (!labels.some((_, i) => names.has(labels.slice(i).join('.')))) continue;
        const k = `${x.client} ${x.qname}`;
        const e = expected.get(k) ?? { count: 0, first: Infinity, last: -Infinity };
        e.count++;
        e.first = Math.min(e.first, x.time);
        e.last = Math.max(e.last, x.time);
        expected.set(k, e);
      }
      const got = await hunt(dir, { names, since, until });
      expect(new Map(got.map((h) => [`${h.client} ${h.name}`, { count: h.count, first: h.firstSeen, last: h.lastSeen }]))).toEqual(expected);
      expect(expected.size).toBeGreaterThan(0);
    }
  });

  it('reports progress per segment and skips (with a warning) a segment it cannot read', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'c2dns-hunt-bad-'));
    const files = readdirSync(dir).filter((f) => f.endsWith('.gz'));
    for (const f of files) writeFileSync(join(copy, f), readFileSync(join(dir, f)));
    const victim = parseSegmentNames(files).find((s) => s.start === T0 + 3 * HOUR)!.file; // holds other-c2.test
    writeFileSync(join(copy, victim), Buffer.from('garbage, not gzip'));
    const progress: HuntProgress[] = [];
    const warnings: string[] = [];
    const r = await huntDetailed(copy, { names: new Set(['c2.example', 'other-c2.test']), since: 0, onProgress: (p) => progress.push(p), onWarning: (f) => warnings.push(f) });
    expect(warnings).toEqual([victim]);
    expect(r.unreadable).toBe(1);
    expect(r.hits.map((h) => h.client)).toEqual(['10.1.0.5', 'fd00::77']);
    expect(progress[0]).toMatchObject({ segmentsDone: 0, bytesDone: 0 });
    expect(progress.at(-1)).toMatchObject({ segmentsDone: files.length, segmentsTotal: files.length });
    expect(progress.at(-1)!.bytesDone).toBe(progress.at(-1)!.bytesTotal);
  });

  it('reads a segment still being written, up to a torn last frame', async () => {
    const open = mkdtempSync(join(tmpdir(), 'c2dns-hunt-open-'));
    const rec = new HistoryRecorder({ dir: open, compress: false });
    rec.record(T0 + 1000, '10.3.0.1', 'live.c2.example', 1, 'allowed', 0, new Uint8Array([203, 0, 113, 9]));
    await rec.flush();
    rec.record(T0 + 2000, '10.3.0.2', 'live.c2.example', 1, 'allowed', 0, null);
    await rec.close();
    const [f] = readdirSync(open);
    expect(f).toMatch(/\.c2h$/);
    appendFileSync(join(open, f!), Buffer.from([2, 0xff, 0xff, 0, 0, 1, 2])); // a frame cut short by a crash
    const hits = await hunt(open, { names: new Set(['c2.example']), since: 0 });
    expect(hits.map((h) => [h.client, h.count, h.answers])).toEqual([
      ['10.3.0.1', 1, ['203.0.113.9']],
      ['10.3.0.2', 1, []],
    ]);
    // Compression finished but the raw file not yet deleted: each query is counted once.
    const seg = parseSegmentNames([f!])[0]!;
    writeFileSync(join(open, `q-${seg.start}-${seg.tag}-${T0 + 2000}.c2h.gz`), gzipSync(readFileSync(join(open, f!))));
    expect((await hunt(open, { names: new Set(['c2.example']), since: 0 })).map((h) => h.count)).toEqual([1, 1]);
  });
});

describe('hunt limits', () => {
  it('keeps at most maxAnswers distinct answers (in order of appearance) and every query type', async () => {
    const d = mkdtempSync(join(tmpdir(), 'c2dns-hunt-caps-'));
    const rec = new HistoryRecorder({ dir: d });
    for (let i = 0; i < 40; i++) rec.record(T0 + i, '10.4.0.1', 'fast-flux.example', i < 5 ? 1 : 1000 + i, 'allowed', 0, new Uint8Array([198, 51, 100, i % 20]));
    await rec.close();
    const [h] = await hunt(d, { names: new Set(['fast-flux.example']), since: 0, maxAnswers: 5 });
    expect(h!.answers).toEqual(['198.51.100.0', '198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']);
    expect(h!.moreAnswers).toBe(true);
    expect(h!.qtypes).toHaveLength(36); // more than the 32 the per-hit bit set holds
    expect([h!.qtypes[0], h!.qtypes[1], h!.qtypes[35]]).toEqual(['A', 'TYPE1005', 'TYPE1039']);
    const [all] = await hunt(d, { names: new Set(['fast-flux.example']), since: 0 });
    expect(all!.answers).toHaveLength(16);
  });
});

describe('retroHunt', () => {
  it('counts only queries strictly before the block time', async () => {
    const hits = await retroHunt(dir, ['c2.example', 'other-c2.test'], T0 + 130 * MIN);
    expect(hits.map((h) => [h.client, h.name, h.count, h.lastSeen])).toEqual([
      ['10.1.0.5', 'beacon.c2.example', 2, T0 + 70 * MIN],
      ['fd00::77', 'c2.example', 1, T0 + 20 * MIN],
    ]);
  });

  it('takes a block time per name', async () => {
    const hits = await retroHunt(dir, ['c2.example', 'other-c2.test'], new Map([['c2.example', T0 + 15 * MIN], ['other-c2.test', T0 + 201 * MIN + 1]]));
    expect(hits.map((h) => [h.client, h.name, h.count])).toEqual([
      ['10.1.0.5', 'beacon.c2.example', 1],
      ['10.1.0.6', 'x.y.other-c2.test', 2],
    ]);
  });

  it('finds nothing in an empty or missing directory', async () => {
    expect(await retroHunt(join(dir, 'missing'), ['c2.example'], Date.now())).toEqual([]);
  });
});
