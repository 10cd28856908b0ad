// The on-disk spool: in-order at-least-once delivery through failures, pending events delivered
// after a restart, overflow drops the oldest (counted, logged), damaged files are survived.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { SecurityEvents, type SecurityEvent } from '../../src/respond/security-events.js';
import { Spool, SpoolLockedError } from '../../src/respond/spool.js';
import { MemorySink, recordingLog, waitFor } from './helpers.js';

let dir: string;
let spools: Spool[];
const se = new SecurityEvents({ sweepIntervalMs: 0, recentEvents: 0 });
const mk = (n: number, extra: Record<string, unknown> = {}): SecurityEvent => se.emit({ type: 'test-event', n, ...extra });
const nums = (es: SecurityEvent[]): unknown[] => es.map((e) => (e as Record<string, unknown>).n);

function open(sink: MemorySink, o: Partial<ConstructorParameters<typeof Spool>[1]> = {}): Spool {
  const s = new Spool(sink, { dir, retryBaseMs: 5, retryMaxMs: 20, ...o });
  spools.push(s);
  return s;
}

beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'c2dns-spool-')), 'sink');
  spools = [];
});
afterEach(async () => {
  await Promise.all(spools.map((s) => s.close()));
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('delivery', () => {
  it('delivers in order, retries failures with backoff, loses nothing', async () => {
    const sink = new MemorySink();
    sink.failNext = 5;
    const sp = open(sink);
    for (let i = 0; i < 50; i++) sp.enqueue(mk(i));
    await waitFor(() => sink.received.length === 50, 3000, 'all delivered');
    expect(nums(sink.received)).toEqual([...Array(50).keys()]);
    expect(sp.stats()).toMatchObject({ sent: 50, failedAttempts: 5, droppedOverflow: 0, queued: 0, lastError: null });
    expect(await sp.flush(1000)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8'))).toEqual({ format: 'c2dns-spool/1', next: 50 });
  });

  it('logs the first failure and the recovery, not every attempt', async () => {
    const sink = new MemorySink();
    sink.failNext = 6;
    const log = recordingLog();
    const sp = open(sink, { log });
    sp.enqueue(mk(1));
    await waitFor(() => sink.received.length === 1);
    expect(log.lines.map((l) => l.msg)).toEqual(['alert delivery failed: retrying with backoff', 'alert sink reachable again: delivering']);
  });

  it('backoff grows and is capped', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const sp = open(sink, { retryBaseMs: 20, retryMaxMs: 40 });
    sp.enqueue(mk(1));
    await new Promise((r) => setTimeout(r, 400));
    // Delays 10–20, 20–40, then 20–40 ms each: about 10–20 attempts in 400 ms, never hundreds.
    expect(sink.attempts).toBeGreaterThanOrEqual(8);
    expect(sink.attempts).toBeLessThanOrEqual(25);
    expect(sp.stats().queued).toBe(1);
  });
});

describe('restart', () => {
  it('events pending at close are delivered by the next process, once, in order', async () => {
    const down = new MemorySink();
    down.failing = true;
    const a = open(down);
    for (let i = 0; i < 10; i++) a.enqueue(mk(i));
    expect(await a.flush(100)).toBe(false);
    await a.close();
    expect(readdirSync(dir).some((f) => /^seg-\d{16}\.jsonl$/.test(f))).toBe(true);

    const up = new MemorySink();
    const b = open(up);
    expect(b.stats().queued).toBe(10);
    b.enqueue(mk(10));
    await waitFor(() => up.received.length === 11);
    expect(nums(up.received)).toEqual([...Array(11).keys()]);
    expect(await b.flush(1000)).toBe(true);
    await b.close();

    // Nothing left: a third start sends nothing again, and delivered segments were removed.
    const again = new MemorySink();
    const c = open(again);
    expect(c.stats().queued).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    expect(again.received).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.startsWith('seg-')).length).toBeLessThanOrEqual(2);
  });

  it('a partly delivered spool resumes after the last recorded delivery', async () => {
    const sink = new MemorySink();
    const a = open(sink);
    for (let i = 0; i < 3; i++) a.enqueue(mk(i));
    await waitFor(() => sink.received.length === 3);
    await a.flush(1000);
    sink.failing = true;
    for (let i = 3; i < 6; i++) a.enqueue(mk(i));
    await a.flush(50);
    await a.close();
    const next = new MemorySink();
    open(next);
    await waitFor(() => next.received.length === 3);
    expect(nums(next.received)).toEqual([3, 4, 5]);
  });
});

describe('overflow', () => {
  it('drops the oldest beyond maxEvents, counts and logs it, keeps the newest in order', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const log = recordingLog();
    const sp = open(sink, { maxEvents: 10, retryBaseMs: 1000, retryMaxMs: 1000, log });
    for (let i = 0; i < 25; i++) sp.enqueue(mk(i));
    const st = sp.stats();
    expect(st.queued).toBeLessThanOrEqual(10);
    expect(st.droppedOverflow).toBe(25 - st.queued);
    expect(log.lines.some((l) => l.level === 'error' && l.msg === 'alert spool full: oldest undelivered events dropped')).toBe(true);
    sink.failing = false;
    await sp.flush(2000);
    // The first event may have been in flight when the flood came: it is kept, the next oldest go.
    const got = nums(sink.received);
    expect(got.slice(-9)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(got.length).toBeLessThanOrEqual(11);
    expect(sp.stats().sent + sp.stats().droppedOverflow).toBe(25);
  });

  it('drops by bytes too, and survives a restart with only the kept events', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const big = 'x'.repeat(1000);
    const sp = open(sink, { maxBytes: 5000, retryBaseMs: 10_000, retryMaxMs: 10_000 });
    for (let i = 0; i < 20; i++) sp.enqueue(mk(i, { big }));
    expect(sp.stats().queuedBytes).toBeLessThanOrEqual(5000);
    const kept = sp.stats().queued;
    expect(kept).toBeGreaterThanOrEqual(3);
    await sp.flush(20);
    await sp.close();
    const next = new MemorySink();
    const b = open(next, { maxBytes: 5000 });
    await waitFor(() => b.stats().queued === 0);
    const got = nums(next.received) as number[];
    expect(got.slice(-kept + 1)).toEqual([...Array(kept - 1).keys()].map((i) => 20 - kept + 1 + i));
    expect(got.length).toBeLessThanOrEqual(kept);
  });
});

describe('damaged spool files', () => {
  it('skips torn and garbage lines and a bad cursor, delivers every good record, counts the rest', async () => {
    const log = recordingLog();
    const rec = (seq: number): string => `${JSON.stringify({ seq, event: { id: `id-${seq}`, type: 'test-event', time: '2026-03-01T12:00:00.000Z', severity: 'low', n: seq } })}\n`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'seg-0000000000000000.jsonl'), rec(0) + 'not json at all\n' + rec(1) + '{"seq":"x","event":{}}\n' + rec(1) + rec(2));
    writeFileSync(join(dir, 'seg-0000000000000003.jsonl'), rec(3) + '\u0000\u0000\u0000\n' + rec(4) + '{"seq":5,"ev'); // torn last line
    writeFileSync(join(dir, 'cursor.json'), '{"format":"c2dns-spool/1","ne');
    const sink = new MemorySink();
    const sp = open(sink, { log });
    await waitFor(() => sink.received.length === 5);
    expect(sink.received.map((e) => e.id)).toEqual(['id-0', 'id-1', 'id-2', 'id-3', 'id-4']);
    // not json, bad seq, duplicate seq 1, NULs, torn line, cursor
    expect(sp.stats().corrupt).toBe(6);
    expect(log.lines.filter((l) => l.level === 'warn').length).toBeGreaterThanOrEqual(3);
    // New events get sequence numbers after the highest found, and are delivered after the old ones.
    sp.enqueue(mk(99));
    await waitFor(() => sink.received.length === 6);
    await sp.flush(1000);
    expect(JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8')).next).toBe(6);
    expect(existsSync(join(dir, 'seg-0000000000000000.jsonl'))).toBe(false);
  });

  it('an unreadable segment is reported and skipped', async () => {
    mkdirSync(join(dir, 'seg-0000000000000000.jsonl'), { recursive: true }); // a directory where a file should be
    const log = recordingLog();
    const sink = new MemorySink();
    const sp = open(sink, { log });
    sp.enqueue(mk(1));
    await waitFor(() => sink.received.length === 1);
    expect(log.lines.some((l) => l.msg.includes('cannot read a segment'))).toBe(true);
  });

  it('appends are durable lines that a second reader can parse', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const sp = open(sink, { retryBaseMs: 10_000, retryMaxMs: 10_000 });
    sp.enqueue(mk(1));
    sp.enqueue(mk(2));
    await waitFor(() => readdirSync(dir).some((f) => f.startsWith('seg-') && readFileSync(join(dir, f), 'utf8').split('\n').length === 3));
    const seg = readdirSync(dir).find((f) => f.startsWith('seg-'))!;
    const lines = readFileSync(join(dir, seg), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; event: SecurityEvent });
    expect(lines.map((l) => [l.seq, (l.event as Record<string, unknown>).n])).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });
});

describe('one process per spool', () => {
  it('refuses a spool open in this process or held by another live process; takes over a dead one', async () => {
    const a = open(new MemorySink());
    expect(() => new Spool(new MemorySink(), { dir })).toThrow(SpoolLockedError);
    await a.close();

    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await waitFor(() => other.pid !== undefined);
      writeFileSync(join(dir, 'lock'), `${other.pid}\n`);
      expect(() => new Spool(new MemorySink(), { dir })).toThrow(/in use by process/);
    } finally {
      other.kill();
      await new Promise((r) => other.once('exit', r));
    }
    // The holder is gone: its lock is stale and taken over.
    const b = open(new MemorySink());
    expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(process.pid));
    await b.close();
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });
});
