// The history recorder: what it keeps of each answered query, how it rotates and expires
// segments, and that answering never suffers when the disk does.
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { firstAddress } from '../../src/history/answer.js';
import { addressText } from '../../src/dns/address.js';
import { parseSegmentNames } from '../../src/history/format.js';
import { hunt } from '../../src/history/hunt.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import type { Action } from '../../src/resolve/types.js';
import { event, reply } from './fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR; // a slot boundary, well inside the retention

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'c2dns-hist-'));
}

function segments(dir: string) {
  return parseSegmentNames(readdirSync(dir));
}

describe('what the recorder keeps', () => {
  it('records time, client, name, type, action, rcode and the first A/AAAA address of each answer', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, now: () => T0 + 10 * 60_000 });
    rec.onQuery(event({ time: T0 + 1000, client: '192.168.1.10', qname: 'cdn.evil.example', reply: reply('cdn.evil.example', 1, 0, [{ type: 5, data: 'edge.evil.example' }, { type: 1, data: '203.0.113.7' }, { type: 1, data: '203.0.113.8' }]) }));
    rec.onQuery(event({ time: T0 + 2000, client: '192.168.1.10', qname: 'cdn.evil.example', qtype: 28, action: 'cached', reply: reply('cdn.evil.example', 28, 0, [{ type: 28, data: '2001:db8::7' }]) }));
    rec.onQuery(event({ time: T0 + 3000, client: 'fd00::5', qname: 'evil.example', action: 'blocked', reply: reply('evil.example', 1, 0, [{ type: 1, data: '0.0.0.0' }]) }));
    rec.onQuery(event({ time: T0 + 4000, client: 'fd00::5', qname: 'gone.evil.example', rcode: 3 }));
    rec.onQuery(event({ time: T0 + 5000, client: '10.0.0.9', qname: 'evil.example', qtype: 16, action: 'blocked', rcode: -1 })); // RPZ drop: nothing sent
    rec.onQuery(event({ time: T0 + 6000, client: '10.0.0.9', qname: 'innocent.example' }));
    await rec.close();
    expect(rec.stats()).toMatchObject({ recorded: 6, dropped: 0, buffered: 0, writeErrors: 0 });

    const hits = await hunt(dir, { names: new Set(['evil.example']), since: 0 });
    expect(hits).toEqual([
      { client: '192.168.1.10', name: 'cdn.evil.example', matchedIndicator: 'evil.example', firstSeen: T0 + 1000, lastSeen: T0 + 2000, count: 2, answers: ['203.0.113.7', '2001:db8::7'], moreAnswers: false, actions: ['allowed', 'cached'], rcodes: ['NOERROR'], qtypes: ['A', 'AAAA'] },
      { client: 'fd00::5', name: 'evil.example', matchedIndicator: 'evil.example', firstSeen: T0 + 3000, lastSeen: T0 + 3000, count: 1, answers: ['0.0.0.0'], moreAnswers: false, actions: ['blocked'], rcodes: ['NOERROR'], qtypes: ['A'] },
      { client: 'fd00::5', name: 'gone.evil.example', matchedIndicator: 'evil.example', firstSeen: T0 + 4000, lastSeen: T0 + 4000, count: 1, answers: [], moreAnswers: false, actions: ['allowed'], rcodes: ['NXDOMAIN'], qtypes: ['A'] },
      { client: '10.0.0.9', name: 'evil.example', matchedIndicator: 'evil.example', firstSeen: T0 + 5000, lastSeen: T0 + 5000, count: 1, answers: [], moreAnswers: false, actions: ['blocked'], rcodes: ['none'], qtypes: ['TXT'] },
    ]);
  });

  it('records each query under its own client when clients alternate, repeat, and a new segment begins', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, segmentMinutes: 60, now: () => T0 + 2 * HOUR });
    const asked: [number, string][] = [
      [T0 + 1, '10.0.0.1'],
      [T0 + 2, '10.0.0.1'],
      [T0 + 3, '10.0.0.2'],
      [T0 + 4, '10.0.0.1'],
      [T0 + HOUR + 1, '10.0.0.2'], // the next slot: a new segment, whose first client is the last one of the previous
      [T0 + HOUR + 2, '10.0.0.3'],
      [T0 + HOUR + 3, '10.0.0.2'],
    ];
    // A new string per query, as the socket gives each one.
    for (const [time, client] of asked) rec.onQuery(event({ time, client: Buffer.from(client).toString('latin1'), qname: `q${time - T0}.evil.example` }));
    await rec.close();
    const hits = await hunt(dir, { names: new Set(['evil.example']), since: 0 });
    expect(hits.map((h) => [h.firstSeen, h.client]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(asked);
  });

  it('records each query with its own action and answer when they repeat, alternate, and a new segment begins', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, segmentMinutes: 60, now: () => T0 + 2 * HOUR });
    const asked: [number, Action, string][] = [
      [T0 + 1, 'blocked', '0.0.0.0'],
      [T0 + 2, 'blocked', '0.0.0.0'],
      [T0 + 3, 'cached', '203.0.113.7'],
      [T0 + 4, 'blocked', '0.0.0.0'],
      [T0 + 5, 'cached', '2001:db8::7'],
      [T0 + 6, 'cached', '2001:db8::7'],
      [T0 + 7, 'allowed', '203.0.113.7'],
      [T0 + HOUR + 1, 'allowed', '203.0.113.7'], // the next slot: a new segment, whose first action and answer are the last ones of the previous
      [T0 + HOUR + 2, 'blocked', '0.0.0.0'],
      [T0 + HOUR + 3, 'allowed', '203.0.113.7'],
    ];
    for (const [time, action, address] of asked) {
      const qname = `q${time - T0}.evil.example`;
      const qtype = address.includes(':') ? 28 : 1;
      rec.onQuery(event({ time, client: '10.0.0.1', qname, qtype, action, reply: reply(qname, qtype, 0, [{ type: qtype, data: address }]) }));
    }
    await rec.close();
    const hits = await hunt(dir, { names: new Set(['evil.example']), since: 0 });
    expect(hits.map((h) => [h.firstSeen, h.actions[0], h.answers[0]]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(asked);
  });

  it('writes one gzip segment per slot, named by slot start and last query time', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, segmentMinutes: 60 });
    await rec.close();
    expect(readdirSync(dir).length).toBe(0); // nothing recorded: no empty files
    const rec2 = new HistoryRecorder({ dir, segmentMinutes: 60 });
    rec2.onQuery(event({ time: T0 + 5, client: '10.0.0.1', qname: 'a.example' }));
    rec2.onQuery(event({ time: T0 + 99, client: '10.0.0.1', qname: 'b.example' }));
    await rec2.close();
    const segs = segments(dir);
    expect(segs).toHaveLength(1);
    expect(segs[0]).toMatchObject({ start: T0, end: T0 + 99, closed: true });
    const gz = readFileSync(join(dir, segs[0]!.file));
    // Compressed with the fastest level (gzip's XFL byte 4): compressing runs on the resolver's core.
    expect(gz[8]).toBe(4);
    const raw = gunzipSync(gz);
    expect(raw.toString('latin1', 0, 8)).toBe('C2DNSH01');
    expect(raw.readDoubleLE(8)).toBe(T0);
  });

  it('finds the first address after CNAMEs, and none in NODATA, errors, garbage or a truncated message', () => {
    const at = (b: Buffer): string | null => {
      const x = firstAddress(b);
      return x < 0 ? null : addressText(b.subarray(x >>> 5, (x >>> 5) + (x & 31)));
    };
    expect(at(reply('a.example', 1, 0, [{ type: 5, data: 'b.example' }, { type: 5, data: 'c.example' }, { type: 1, data: '198.51.100.1' }]))).toBe('198.51.100.1');
    expect(at(reply('a.example', 28, 0, [{ type: 28, data: '2001:db8:0:0:1::1' }]))).toBe('2001:db8::1:0:0:1');
    expect(at(reply('a.example', 1, 0, []))).toBeNull();
    expect(at(reply('a.example', 1, 3, [{ type: 1, data: '198.51.100.1' }]))).toBeNull();
    const full = reply('a.example', 1, 0, [{ type: 1, data: '198.51.100.1' }]);
    for (let n = 0; n < full.length; n++) expect(at(full.subarray(0, n))).toBeNull();
    expect(at(Buffer.alloc(600, 0xff))).toBeNull();
  });
});

describe('rotation and retention', () => {
  it('rotates at slot boundaries and when a segment is full', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, segmentMinutes: 1, maxSegmentRecords: 100 });
    for (let i = 0; i < 3; i++) rec.onQuery(event({ time: T0 + i * 60_000 + 500, client: '10.0.0.1', qname: `n${i}.example` }));
    for (let i = 0; i < 250; i++) rec.onQuery(event({ time: T0 + 10 * 60_000 + i, client: '10.0.0.2', qname: 'busy.example' }));
    await rec.close();
    const segs = segments(dir);
    expect(segs.map((s) => s.start)).toEqual([T0, T0 + 60_000, T0 + 120_000, T0 + 600_000, T0 + 600_000, T0 + 600_000]);
    expect(segs.every((s) => s.closed)).toBe(true);
    const [h] = await hunt(dir, { names: new Set(['busy.example']), since: 0 });
    expect(h).toMatchObject({ count: 250, firstSeen: T0 + 600_000, lastSeen: T0 + 600_249 });
  });

  it('closes the last segment of a quiet resolver once its slot is over', async () => {
    const dir = tmp();
    let now = T0;
    const rec = new HistoryRecorder({ dir, segmentMinutes: 1, flushMs: 20, now: () => now });
    rec.onQuery(event({ time: T0 + 10, client: '10.0.0.1', qname: 'a.example' }));
    await rec.flush();
    expect(segments(dir)[0]).toMatchObject({ closed: false, end: Infinity });
    expect((await hunt(dir, { names: new Set(['a.example']), since: 0 }))[0]?.count).toBe(1); // the open segment is searchable
    now = T0 + 61_000;
    await expect.poll(() => segments(dir)[0]?.closed, { timeout: 3000 }).toBe(true);
    await rec.close();
  });

  it('deletes segments whose last query is older than retentionDays, at start and at rotation', async () => {
    const dir = tmp();
    const now = Date.now();
    const old = new HistoryRecorder({ dir, retentionDays: 30 });
    old.onQuery(event({ time: now - 40 * DAY, client: '10.0.0.1', qname: 'old.example' }));
    old.onQuery(event({ time: now - 29 * DAY, client: '10.0.0.1', qname: 'kept.example' }));
    await old.close();
    expect(segments(dir)).toHaveLength(1); // a segment already past retention when it closes is not kept
    writeFileSync(join(dir, `q-${now - 50 * DAY}-zz1-${now - 45 * DAY}.c2h.gz`), ''); // left by an earlier run
    writeFileSync(join(dir, 'unrelated.txt'), 'kept');
    const rec = new HistoryRecorder({ dir, retentionDays: 30 });
    await rec.close();
    const left = segments(dir);
    expect(left).toHaveLength(1);
    expect(left[0]!.start).toBe(Math.floor((now - 29 * DAY) / HOUR) * HOUR);
    expect(readdirSync(dir)).toContain('unrelated.txt');
  });
});

describe('leftovers of a crash', () => {
  it('compresses a raw segment no writer uses any more, and keeps it searchable', async () => {
    const dir = tmp();
    const first = new HistoryRecorder({ dir, compress: false });
    first.onQuery(event({ time: T0 + 1234, client: '10.0.0.8', qname: 'left.example' }));
    await first.close(); // stands for a crash: the raw segment stays
    const [raw] = readdirSync(dir);
    expect(raw).toMatch(/^q-\d+-[0-9a-z]+\.c2h$/);
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(dir, raw!), old, old);
    const rec = new HistoryRecorder({ dir });
    await rec.close();
    const segs = segments(dir);
    expect(segs).toHaveLength(1);
    expect(segs[0]).toMatchObject({ closed: true, start: T0 });
    expect((await hunt(dir, { names: new Set(['left.example']), since: 0 }))[0]).toMatchObject({ client: '10.0.0.8', firstSeen: T0 + 1234 });
  });
});

describe('a failing disk never reaches the answering path', () => {
  it('onQuery never throws, memory stays bounded, losses are counted and reported', async () => {
    const base = tmp();
    writeFileSync(join(base, 'file'), 'not a directory');
    const errors: string[] = [];
    const rec = new HistoryRecorder({ dir: join(base, 'file', 'history'), maxBufferedRecords: 1000, batchRecords: 100, onError: (_e, what) => errors.push(what) });
    let maxBuffered = 0;
    for (let i = 0; i < 20_000; i++) {
      rec.onQuery(event({ time: T0 + i, client: `10.0.${i % 7}.1`, qname: `n${i}.example` })); // a throw fails the test
      maxBuffered = Math.max(maxBuffered, rec.stats().buffered);
    }
    expect(maxBuffered).toBe(1000);
    expect(rec.stats().dropped).toBeGreaterThanOrEqual(19_000);
    // Malformed events are absorbed too.
    const bad = { ...event({ time: T0, client: '10.0.0.1', qname: 'x.example' }), reply: Buffer.from([1, 2, 3]) };
    expect(() => rec.onQuery(bad)).not.toThrow();
    await rec.flush();
    const s = rec.stats();
    expect(s.recorded).toBe(0);
    expect(s.buffered).toBe(0);
    expect(s.writeErrors).toBeGreaterThan(0);
    expect(s.dropped).toBe(20_001);
    // One report per kind of problem (the sweep cannot list the directory; the writes cannot create
    // it), the rest throttled to one report a minute each: housekeeping never hides lost records.
    expect([...errors].sort()).toEqual(['retention', 'write']);
    await rec.close();
  });

  it('drops, not queues, while the disk is slow, then records again', async () => {
    const dir = tmp();
    const rec = new HistoryRecorder({ dir, maxBufferedRecords: 1000, batchRecords: 250 });
    let accepted = 0;
    for (let i = 0; i < 5000; i++) if (rec.record(T0 + i, '10.0.0.1', 'a.example', 1, 'allowed', 0, null)) accepted++;
    expect(accepted).toBe(1000);
    await rec.flush();
    expect(rec.record(T0 + 6000, '10.0.0.1', 'a.example', 1, 'allowed', 0, new Uint8Array([192, 0, 2, 1]))).toBe(true);
    await rec.close();
    expect(rec.stats()).toMatchObject({ recorded: 1001, dropped: 4000, buffered: 0 });
    const [h] = await hunt(dir, { names: new Set(['a.example']), since: 0 });
    expect(h).toMatchObject({ count: 1001, answers: ['192.0.2.1'] });
  });
});
