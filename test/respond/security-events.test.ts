// Security events from answered queries: the first blocked C2 hit per (client, rule) at once,
// repeats folded into one summary when the window closes, bounded memory; stale feeds once per
// episode; the open event type and the recent-events ring.
import { describe, expect, it } from 'vitest';
import { SecurityEvents, newId, isC2Hit, isC2HitSummary, type C2HitEvent, type C2HitSummaryEvent, type SecurityEvent, type StaleFeedEvent } from '../../src/respond/security-events.js';
import { Clock, query, rule } from './helpers.js';
import { ruleDecision } from '../../src/policy/decision.js';
import type { QueryEvent } from '../../src/observe/query-event.js';

function setup(o: { windowSeconds?: number; maxTracked?: number; recentEvents?: number; c2Tags?: string[] } = {}) {
  const clock = new Clock();
  const se = new SecurityEvents({ ...o, now: clock.now, sweepIntervalMs: 0 });
  const got: SecurityEvent[] = [];
  se.subscribe((e) => got.push(e));
  return { clock, se, got };
}

describe('c2 hits', () => {
  const r = rule('msstorageazure.com', ['c2', '3cx'], '3cx', { ref: 'indicator--1', line: 7 });

  it('raises c2-hit at once with the client, query and rule fields', () => {
    const { clock, se, got } = setup();
    se.onQuery({ ...query('10.0.0.5', 'cdn.msstorageazure.com', r, 'blocked', 28), clientPort: 51515, transport: 'tcp' });
    expect(got).toHaveLength(1);
    const e = got[0] as C2HitEvent;
    expect(isC2Hit(e)).toBe(true);
    expect(e).toMatchObject({
      type: 'c2-hit',
      severity: 'high',
      client: '10.0.0.5',
      clientPort: 51515,
      identity: null,
      transport: 'tcp',
      qname: 'cdn.msstorageazure.com',
      qtype: 'AAAA',
      list: '3cx',
      rule: 'msstorageazure.com',
      tags: ['c2', '3cx'],
      ref: 'indicator--1',
      line: 7,
      count: 1,
      windowSeconds: 600,
    });
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.time).toBe(new Date(clock.t).toISOString());
    expect(e.firstSeen).toBe(e.time);
    expect(Object.isFrozen(e)).toBe(true);
  });

  it('counts repeats in the window and emits one summary when it closes', () => {
    const { clock, se, got } = setup({ windowSeconds: 600 });
    const t0 = clock.t;
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    for (let i = 0; i < 4; i++) {
      clock.advance(60_000);
      se.onQuery(query('10.0.0.5', i % 2 === 0 ? 'a.msstorageazure.com' : 'msstorageazure.com', r, 'blocked', 28));
    }
    expect(got.map((e) => e.type)).toEqual(['c2-hit']);
    expect(se.counters.aggregated).toBe(4);
    clock.advance(300_000); // 9 min after the first hit: still open
    se.sweep();
    expect(got).toHaveLength(1);
    clock.advance(60_000); // exactly 10 min: closed
    se.sweep();
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit-summary']);
    const s = got[1] as C2HitSummaryEvent;
    expect(isC2HitSummary(s)).toBe(true);
    expect(s).toMatchObject({ count: 5, summaryOf: got[0]!.id, closedBy: 'window', qnames: ['msstorageazure.com', 'a.msstorageazure.com'], firstSeen: new Date(t0).toISOString(), lastSeen: new Date(t0 + 240_000).toISOString() });
    expect(s.id).not.toBe(got[0]!.id);
    // Its fields are the c2-hit's, in the same order (as JSON lines and webhooks show them), then its own.
    expect(Object.keys(s)).toEqual([...Object.keys(got[0]!), 'summaryOf', 'qnames', 'closedBy']);
    expect(Object.isFrozen(s)).toBe(true);
    expect(se.tracked).toBe(0);
    // The next hit opens a new window: a fresh c2-hit.
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit-summary', 'c2-hit']);
  });

  it('in a fleet, a closing window is handed to the shared windows, which publish its summary with the fleet count', () => {
    const { clock, se, got } = setup({ windowSeconds: 60 });
    const closed: [key: string, count: number][] = [];
    se.shared = {
      opened: (_key, _hit, _ms, to) => to.raise({ instances: ['a'] }),
      repeated: () => {},
      closed: (key, count, publish) => {
        closed.push([key, count]);
        publish(7, { instances: ['a', 'b'] });
      },
    };
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    clock.advance(60_000);
    se.sweep();
    expect(closed).toEqual([['10.0.0.5 msstorageazure.com', 1]]);
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit-summary']);
    expect(got[1]).toMatchObject({ count: 7, instances: ['a', 'b'], summaryOf: got[0]!.id, closedBy: 'window' });
  });

  it('a single hit closes silently; a hit after the window without a sweep closes the old one first', () => {
    const { clock, se, got } = setup({ windowSeconds: 60 });
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    clock.advance(61_000);
    se.sweep();
    expect(got).toHaveLength(1);
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    clock.advance(60_000);
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r)); // no sweep ran
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit', 'c2-hit-summary', 'c2-hit']);
    expect((got[2] as C2HitSummaryEvent).count).toBe(2);
  });

  it('keeps clients and rules apart', () => {
    const { se, got } = setup();
    const r2 = rule('akamaicontainer.com', ['c2'], '3cx');
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.6', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'akamaicontainer.com', r2));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    expect(got.filter(isC2Hit).map((e) => `${e.client} ${e.rule}`)).toEqual(['10.0.0.5 msstorageazure.com', '10.0.0.6 msstorageazure.com', '10.0.0.5 akamaicontainer.com']);
  });

  it('ignores everything that is not a block of a C2-tagged rule', () => {
    const { se, got } = setup({ c2Tags: ['c2', 'apt'] });
    se.onQuery(query('10.0.0.5', 'example.org', null, 'allowed'));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r, 'cached'));
    se.onQuery(query('10.0.0.5', 'ads.example', rule('ads.example', ['ads']), 'blocked'));
    se.onQuery(query('10.0.0.5', 'x.example', makeAllow(), 'allowed'));
    se.onQuery(query('10.0.0.5', 'refused.example', null, 'refused'));
    expect(got).toHaveLength(0);
    se.onQuery(query('10.0.0.5', 'apt.example', rule('apt.example', ['apt'])));
    expect(got).toHaveLength(1);
  });

  it('is bounded: the oldest window closes early (with its summary) and evictions are counted', () => {
    const { clock, se, got } = setup({ maxTracked: 100 });
    se.onQuery(query('10.0.0.1', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.1', 'msstorageazure.com', r)); // a repeat, so eviction must summarise it
    for (let i = 2; i <= 1000; i++) {
      clock.advance(1);
      se.onQuery(query(`10.0.${i >> 8}.${i & 255}`, 'msstorageazure.com', r));
    }
    expect(se.tracked).toBe(100);
    expect(se.counters.evicted).toBe(900);
    const summaries = got.filter(isC2HitSummary);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({ client: '10.0.0.1', count: 2, closedBy: 'evicted' });
    expect(se.counters.c2Hits).toBe(1000);
  });

  it('counts into an open window only blocks by C2 rules: the same name blocked by another list, or allowed, is not a repeat', () => {
    const { se, got } = setup();
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', rule('msstorageazure.com', ['ads'], 'ads')));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r, 'allowed'));
    se.onQuery(query('10.0.0.5', 'www.msstorageazure.com', r));
    expect(se.counters.aggregated).toBe(1);
    se.stop();
    expect(got.filter(isC2HitSummary)).toMatchObject([{ count: 2, qnames: ['msstorageazure.com', 'www.msstorageazure.com'] }]);
  });

  it('evicts in opening order while windows are reopened, swept and evicted in turns', () => {
    const { clock, se, got } = setup({ maxTracked: 3, windowSeconds: 10 });
    const hit2 = (client: string): void => {
      se.onQuery(query(client, 'msstorageazure.com', r));
      se.onQuery(query(client, 'msstorageazure.com', r)); // a repeat: closing the window raises its summary
    };
    const closed = (): string[] => got.filter(isC2HitSummary).map((e) => `${e.client} ${e.closedBy}`);
    hit2('10.0.0.1');
    clock.advance(1000);
    hit2('10.0.0.2');
    clock.advance(1000);
    hit2('10.0.0.3');
    clock.advance(9000); // 10.0.0.1's window has ended, the sweep has not run: its next hit reopens it last
    hit2('10.0.0.1');
    hit2('10.0.0.4');
    hit2('10.0.0.5');
    hit2('10.0.0.6');
    expect(closed()).toEqual(['10.0.0.1 window', '10.0.0.2 evicted', '10.0.0.3 evicted', '10.0.0.1 evicted']);
    clock.advance(20_000);
    se.sweep(); // every window ends: the table is empty, eviction starts afresh
    expect(se.tracked).toBe(0);
    for (const c of ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4']) hit2(c);
    expect(closed().slice(-4)).toEqual(['10.0.0.4 window', '10.0.0.5 window', '10.0.0.6 window', '10.0.1.1 evicted']);
    expect(se.tracked).toBe(3);
  });

  it('keeps opening order over thousands of windows closed out of turn (reopened, swept, evicted)', () => {
    const { clock, se, got } = setup({ maxTracked: 3000, windowSeconds: 10 });
    const hit2 = (client: string): void => {
      se.onQuery(query(client, 'msstorageazure.com', r));
      se.onQuery(query(client, 'msstorageazure.com', r));
    };
    const ip = (i: number): string => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < 2500; i++) hit2(ip(i));
    clock.advance(10_000); // all 2,500 have ended; every other one is hit again before a sweep: closed and reopened at the end
    for (let i = 0; i < 2500; i += 2) hit2(ip(i));
    se.sweep(); // the 1,250 not reopened close; the reopened ones are 0 s old
    expect(se.tracked).toBe(1250);
    const closedBy = (): string[] => got.filter(isC2HitSummary).map((e) => `${e.client} ${e.closedBy}`);
    expect(closedBy()).toHaveLength(2500);
    for (let i = 0; i < 2000; i++) hit2(ip(100_000 + i)); // 3,250 wanted, 3,000 kept: the 250 oldest (reopened 0, 2, 4…) go
    expect(se.tracked).toBe(3000);
    expect(closedBy().slice(2500)).toEqual(Array.from({ length: 250 }, (_, k) => `${ip(2 * k)} evicted`));
    clock.advance(10_000);
    se.sweep();
    expect(se.tracked).toBe(0);
    expect(closedBy()).toHaveLength(2500 + 250 + 3000);
    se.stop();
    expect(closedBy()).toHaveLength(5750);
  });

  it('at the eviction boundary the oldest window closes: with its summary when it counted repeats, silently with one hit', () => {
    const { clock, se, got } = setup({ maxTracked: 3 });
    const at = (c: string): void => {
      clock.advance(1000);
      se.onQuery(query(c, 'msstorageazure.com', r));
    };
    at('10.0.0.1');
    at('10.0.0.1'); // a repeat
    at('10.0.0.2');
    at('10.0.0.3');
    expect(se.tracked).toBe(3);
    expect(se.counters.evicted).toBe(0);
    at('10.0.0.4'); // full: 10.0.0.1 (2 hits) goes first
    const s = got.filter(isC2HitSummary);
    expect(s).toMatchObject([{ client: '10.0.0.1', count: 2, closedBy: 'evicted', summaryOf: got[0]!.id }]);
    at('10.0.0.5'); // 10.0.0.2 (1 hit) goes without a summary
    expect(got.filter(isC2HitSummary)).toHaveLength(1);
    expect(se.counters.evicted).toBe(2);
    expect(se.tracked).toBe(3);
    // The evicted hosts' windows are gone: their next hit opens a new one (a c2-hit), the next oldest is evicted.
    at('10.0.0.2');
    expect(got.filter(isC2Hit).map((e) => e.client)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.2']);
    expect(se.counters.evicted).toBe(3);
  });

  it('a summary carries its c2-hit\'s fields: the first query\'s name, port, type, identity, trigger and chain', () => {
    const { clock, se, got } = setup();
    const cname = ruleDecision(r, 'cname', ['innocent.example', 'cdn.msstorageazure.com']);
    const first: QueryEvent = { ...query('10.0.0.5', 'innocent.example', r, 'blocked', 28), decision: cname, clientPort: 5353, mac: 'aa:bb:cc:dd:ee:ff', clientName: 'laptop', via: '10.0.0.1', transport: 'tcp' };
    se.onQuery(first);
    clock.advance(5000);
    se.onQuery({ ...query('10.0.0.9', 'x.msstorageazure.com', r), mac: 'aa:bb:cc:dd:ee:ff' }); // same host (MAC), another address
    se.stop();
    const [hit, sum] = got as [C2HitEvent, C2HitSummaryEvent];
    expect(hit).toMatchObject({ client: '10.0.0.5', clientPort: 5353, identity: 'laptop', via: '10.0.0.1', qname: 'innocent.example', qtype: 'AAAA', trigger: 'cname', chain: ['innocent.example', 'cdn.msstorageazure.com'], transport: 'tcp' });
    const { id, type, time, lastSeen, count, ...same } = hit;
    expect(sum).toMatchObject({ ...same, summaryOf: id, count: 2, qnames: ['innocent.example', 'x.msstorageazure.com'], closedBy: 'shutdown' });
    expect(sum.lastSeen).toBe(new Date(clock.t).toISOString());
    expect([type, id, time, lastSeen, count]).toEqual(['c2-hit', sum.summaryOf, sum.firstSeen, sum.firstSeen, 1]);
    // Same fields in the same order as the c2-hit, then the summary's own.
    expect(Object.keys(sum)).toEqual([...Object.keys(hit), 'summaryOf', 'qnames', 'closedBy']);
  });

  it('a window reopened after it ended is a new window: new c2-hit id, its own count and qnames', () => {
    const { clock, se, got } = setup({ windowSeconds: 60 });
    se.onQuery(query('10.0.0.5', 'a.msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'b.msstorageazure.com', r));
    clock.advance(60_000);
    se.sweep();
    se.onQuery(query('10.0.0.5', 'c.msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'c.msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'd.msstorageazure.com', r));
    se.stop();
    const hits = got.filter(isC2Hit);
    expect(hits.map((e) => e.qname)).toEqual(['a.msstorageazure.com', 'c.msstorageazure.com']);
    expect(hits[0]!.id).not.toBe(hits[1]!.id);
    expect(got.filter(isC2HitSummary).map((e) => [e.summaryOf, e.count, e.qnames, e.closedBy])).toEqual([
      [hits[0]!.id, 2, ['a.msstorageazure.com', 'b.msstorageazure.com'], 'window'],
      [hits[1]!.id, 3, ['c.msstorageazure.com', 'd.msstorageazure.com'], 'shutdown'],
    ]);
  });

  it('a summary names at most 9 distinct qnames (the first and 8 more), each once', () => {
    const { se, got } = setup();
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    for (let i = 0; i < 20; i++) se.onQuery(query('10.0.0.5', `n${i % 12}.msstorageazure.com`, r));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.stop();
    const [s] = got.filter(isC2HitSummary);
    expect(s!.count).toBe(22);
    expect(s!.qnames).toEqual(['msstorageazure.com', ...Array.from({ length: 8 }, (_, i) => `n${i}.msstorageazure.com`)]);
  });

  it('in a fleet, a summary published after the window\'s table slot was reused is still that window\'s; a late raise or align leaves the new window alone', () => {
    const { clock, se, got } = setup({ windowSeconds: 60, maxTracked: 1 });
    const publishes: ((count: number, extra: Record<string, unknown>) => void)[] = [];
    const raises: ((extra: Record<string, unknown>) => void)[] = [];
    const aligns: ((openedAt: number) => void)[] = [];
    se.shared = {
      opened: (_key, _hit, _ms, to) => {
        raises.push(to.raise);
        aligns.push(to.align);
      },
      repeated: () => {},
      closed: (_key, _count, publish) => publishes.push(publish),
    };
    se.onQuery(query('10.0.0.5', 'a.msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'b.msstorageazure.com', r));
    se.onQuery(query('10.0.0.6', 'msstorageazure.com', r)); // evicts 10.0.0.5's window; 10.0.0.6 takes its slot
    expect(se.counters.evicted).toBe(1);
    raises[0]!({ instances: ['a'] }); // the fleet answers late for the evicted window
    aligns[0]!(clock.t - 3_600_000);
    publishes[0]!(5, { instances: ['a', 'b'] });
    raises[1]!({ instances: ['b'] });
    expect(got.map((e) => [e.type, (e as C2HitEvent).client])).toEqual([
      ['c2-hit', '10.0.0.5'],
      ['c2-hit-summary', '10.0.0.5'],
      ['c2-hit', '10.0.0.6'],
    ]);
    expect(got[1]).toMatchObject({ count: 5, qnames: ['a.msstorageazure.com', 'b.msstorageazure.com'], closedBy: 'evicted', instances: ['a', 'b'] });
    se.sweep(); // the late align did not move 10.0.0.6's window back an hour
    expect(se.tracked).toBe(1);
    se.stop();
    publishes[1]!(1, {});
    expect(got[3]).toMatchObject({ type: 'c2-hit-summary', client: '10.0.0.6', instances: ['b'], closedBy: 'shutdown' });
  });

  it('stop() summarises open windows (nothing counted is lost at shutdown)', () => {
    const { se, got } = setup();
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.onQuery(query('10.0.0.5', 'msstorageazure.com', r));
    se.stop();
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit-summary']);
    expect((got[1] as C2HitSummaryEvent).closedBy).toBe('shutdown');
  });

  it('the non-blocked path costs next to nothing', () => {
    const { se } = setup();
    const q = query('10.0.0.5', 'example.org', null, 'allowed');
    const n = 2_000_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) se.onQuery(q);
    const nsPerQuery = ((performance.now() - t) * 1e6) / n;
    expect(nsPerQuery).toBeLessThan(500); // ~5 ns measured; generous for slow CI
  });
});

function makeAllow() {
  const r = rule('x.example', ['c2']);
  return { ...r, kind: 'allow' as const };
}

describe('stale feeds', () => {
  const H = 3_600_000;

  it('raises one event per staleness episode, per-list thresholds, and a resolution when it updates', () => {
    const clock = new Clock();
    const se = new SecurityEvents({ now: clock.now, sweepIntervalMs: 0, staleFeedSeconds: 6 * 3600, staleFeedOverrides: { fast: 3600, local: 0 } });
    const start = clock.t;
    const sources = [
      { config: { name: 'slow' }, lastSuccess: start, lastFailure: null },
      { config: { name: 'fast' }, lastSuccess: start, lastFailure: { at: start + 30 * 60_000, reason: 'network', message: 'connect ECONNREFUSED' } },
      { config: { name: 'local' }, lastSuccess: start - 1000 * H, lastFailure: null },
      { config: { name: 'constructor' }, lastSuccess: start, lastFailure: null }, // not an override: the default applies
    ];
    expect(se.checkStaleFeeds(sources)).toEqual([]);
    clock.advance(H + 1);
    const first = se.checkStaleFeeds(sources) as StaleFeedEvent[];
    expect(first.map((e) => [e.type, e.list])).toEqual([['stale-feed', 'fast']]);
    expect(first[0]).toMatchObject({ thresholdSeconds: 3600, ageSeconds: 3600, lastSuccess: new Date(start).toISOString(), lastFailure: { reason: 'network', message: 'connect ECONNREFUSED' }, severity: 'medium' });
    // Still stale at the next checks: no new event.
    clock.advance(H);
    expect(se.checkStaleFeeds(sources)).toEqual([]);
    expect(se.staleLists().map((s) => s.list)).toEqual(['fast']);
    clock.advance(4 * H);
    expect(se.checkStaleFeeds(sources).map((e) => (e as StaleFeedEvent).list)).toEqual(['slow', 'constructor']);
    expect(se.staleLists().map((s) => [s.list, s.thresholdSeconds])).toEqual([
      ['fast', 3600],
      ['slow', 21600],
      ['constructor', 21600],
    ]);
    // fast updates: the episode closes with an event; going stale again is a new episode.
    sources[1] = { ...sources[1]!, lastSuccess: clock.t };
    const resolved = se.checkStaleFeeds(sources);
    expect(resolved.map((e) => [e.type, (e as StaleFeedEvent).list])).toEqual([['stale-feed-resolved', 'fast']]);
    expect(se.staleLists().map((s) => s.list)).toEqual(['slow', 'constructor']);
    clock.advance(H + 1);
    expect(se.checkStaleFeeds(sources).map((e) => [e.type, (e as StaleFeedEvent).list])).toEqual([['stale-feed', 'fast']]);
  });

  it('a list that never succeeded is measured from start; a list removed from the config leaves the stale set', () => {
    const clock = new Clock();
    const se = new SecurityEvents({ now: clock.now, sweepIntervalMs: 0, staleFeedSeconds: 60 });
    const src = [{ config: { name: 'new-feed' }, lastSuccess: null }];
    expect(se.checkStaleFeeds(src)).toEqual([]);
    clock.advance(61_000);
    const [e] = se.checkStaleFeeds(src) as StaleFeedEvent[];
    expect(e).toMatchObject({ list: 'new-feed', lastSuccess: null, ageSeconds: 61 });
    se.checkStaleFeeds([]);
    expect(se.staleLists()).toEqual([]);
  });
});

describe('emit and since', () => {
  it('accepts any producer type, fills id/time/severity, keeps the last N in order', () => {
    const clock = new Clock();
    const se = new SecurityEvents({ now: clock.now, sweepIntervalMs: 0, recentEvents: 3 });
    const got: SecurityEvent[] = [];
    se.subscribe((e) => got.push(e));
    const t0 = clock.t;
    const a = se.emit({ type: 'retro-hunt-match', client: '10.0.0.9', qname: 'old.example', severity: 'critical' });
    expect(a).toMatchObject({ type: 'retro-hunt-match', client: '10.0.0.9', severity: 'critical', time: new Date(t0).toISOString() });
    expect(typeof a.id).toBe('string');
    for (let i = 1; i <= 4; i++) {
      clock.advance(1000);
      se.emit({ type: 'quarantine', n: i });
    }
    expect(got).toHaveLength(5);
    expect(se.since(0).map((e) => (e as Record<string, unknown>).n)).toEqual([2, 3, 4]); // ring of 3
    expect(se.since(t0 + 3000).map((e) => (e as Record<string, unknown>).n)).toEqual([3, 4]);
    expect(se.since(t0 + 10_000)).toEqual([]);
  });

  // A c2-hit raised alone is kept in the ring as its window's slot and made when asked for: what
  // since() gives must be the event as raised, whatever the window's slot went through since.
  const r = rule('msstorageazure.com', ['c2', '3cx'], '3cx', { ref: 'indicator--1', line: 7 });

  it('gives each c2-hit as it was raised, before and after its window closed and its slot was reused', () => {
    const { clock, se, got } = setup({ maxTracked: 2, windowSeconds: 60, recentEvents: 5 });
    se.onQuery({ ...query('10.0.0.5', 'cdn.msstorageazure.com', r, 'blocked', 28), clientPort: 51515, transport: 'tcp', mac: 'aa:bb:cc:dd:ee:ff' });
    clock.advance(1000);
    se.onQuery({ ...query('10.0.0.6', 'msstorageazure.com', r), decision: ruleDecision(r, 'cname', ['innocent.example', 'msstorageazure.com']) });
    expect(se.since(0)).toEqual(got);
    clock.advance(1000);
    se.onQuery(query('10.0.0.6', 'msstorageazure.com', r)); // a repeat: counted, nothing raised
    se.onQuery(query('10.0.0.7', 'x.msstorageazure.com', r)); // evicts the first window; its slot is reused
    clock.advance(61_000);
    se.sweep(); // the other two close (one with its summary)
    se.onQuery(query('10.0.0.8', 'y.msstorageazure.com', r, 'blocked', 16));
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit', 'c2-hit', 'c2-hit-summary', 'c2-hit']);
    const recent = se.since(0);
    expect(recent).toEqual(got);
    for (const e of recent) expect(Object.isFrozen(e)).toBe(true);
    expect(recent[1]).toMatchObject({ client: '10.0.0.6', trigger: 'cname', chain: ['innocent.example', 'msstorageazure.com'] });
    se.stop();
    expect(se.since(0)).toEqual(got);
  });

  it('keeps the last N events, c2-hits and others mixed, when no one listens', () => {
    const clock = new Clock();
    const se = new SecurityEvents({ now: clock.now, sweepIntervalMs: 0, recentEvents: 3, maxTracked: 2 });
    const qnames: string[] = [];
    for (let i = 0; i < 7; i++) {
      clock.advance(1000);
      if (i % 3 === 2) se.emit({ type: 'quarantine', n: i });
      else {
        qnames.push(`h${i}.msstorageazure.com`);
        se.onQuery(query(`10.0.1.${i}`, qnames[qnames.length - 1]!, r));
      }
    }
    // Raised: hit0 hit1 q2 hit3 hit4 q5 hit6 (each hit evicting the window two before it).
    const recent = se.since(0);
    expect(recent.map((e) => (isC2Hit(e) ? e.qname : (e as Record<string, unknown>).n))).toEqual(['h4.msstorageazure.com', 5, 'h6.msstorageazure.com']);
    expect(recent.map((e) => e.time)).toEqual([5, 6, 7].map((k) => new Date(clock.t - (7 - k) * 1000).toISOString()));
    expect(se.counters.emitted).toBe(7);
    expect(se.counters.c2Hits).toBe(5);
  });

  it('a throwing subscriber is counted and does not stop the others', () => {
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    const got: string[] = [];
    se.subscribe(() => {
      throw new Error('bad listener');
    });
    se.subscribe((e) => got.push(e.type));
    se.emit({ type: 'x' });
    expect(got).toEqual(['x']);
    expect(se.counters.subscriberErrors).toBe(1);
  });
});

describe('event ids', () => {
  it('are random version 4 UUIDs, unique over many batches of random bytes', () => {
    const ids = Array.from({ length: 5000 }, () => newId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Every random hex digit position takes many values (not a counter, not a constant).
    for (const pos of [0, 7, 9, 15, 20, 35]) expect(new Set(ids.map((id) => id[pos])).size).toBeGreaterThan(12);
  });
});
