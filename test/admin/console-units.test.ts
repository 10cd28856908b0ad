// The web console's parts on their own: stream tickets, the per-minute counters, the live query
// ring, the history summary, the Origin check, the sparkline and the C2-hit folding.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MinuteCounters } from '../../src/admin/console/minutes.js';
import { QueryTail, type TailEntry } from '../../src/admin/console/tail.js';
import { Tickets } from '../../src/admin/console/tickets.js';
import { c2Hits, sparkline, SPARK_HEIGHT, SPARK_WIDTH } from '../../src/admin/console/views.js';
import { crossOrigin } from '../../src/admin/server.js';
import type { RuleMatch } from '../../src/blocklist/rule.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { summarizeHistory } from '../../src/history/summary.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { reasonText, ruleDecision } from '../../src/policy/decision.js';
import type { Action } from '../../src/resolve/types.js';

const rule = (list: string, name: string): RuleMatch => ({
  kind: 'block',
  list,
  rule: name,
  match: 'subtree',
  line: 1,
  action: null,
  important: false,
  labels: name.split('.').length,
  ref: null,
  tags: ['c2'],
  expiresAt: 0,
  firstSeen: 0,
});

function ev(time: number, client: string, qname: string, action: Action = 'allowed', extra: Partial<QueryEvent> = {}): QueryEvent {
  return {
    time,
    client,
    clientPort: 5353,
    via: null,
    mac: null,
    clientName: null,
    transport: 'udp',
    qname,
    qtype: 1,
    action,
    decision: null,
    rcode: 0,
    latencyMs: 1.234,
    upstream: action === 'blocked' ? null : '127.0.0.1:53',
    truncated: false,
    reply: null,
    ...extra,
  };
}

describe('stream tickets', () => {
  it('open once, until they expire, and only on the listener that issued them', () => {
    let now = 1_000_000;
    const t = new Tickets(60_000, () => now);
    const a = t.issue();
    expect(a.expiresAt).toBe(now + 60_000);
    expect(a.ticket).toMatch(/^v1\.\d+\.[\w-]+\.[\w-]+$/);
    expect(t.redeem(a.ticket)).toBeNull();
    expect(t.redeem(a.ticket)).toMatch(/already used/);
    const b = t.issue();
    now += 60_000;
    expect(t.redeem(b.ticket)).toMatch(/expired/);
    now -= 1;
    const other = new Tickets(60_000, () => now);
    expect(other.redeem(t.issue().ticket)).toMatch(/not issued by this c2dns/);
    const c = t.issue().ticket;
    const [v, exp, nonce, mac] = c.split('.');
    expect(t.redeem(`${v}.${Number(exp) + 3_600_000}.${nonce}.${mac}`)).toMatch(/not issued/); // a longer life cannot be forged
    for (const bad of ['', 'x', 'v1.1.2', 'v2.1.2.3', 'v1.abc.n.m']) expect(t.redeem(bad), bad).toMatch(/malformed/);
    expect(t.redeem(c)).toBeNull();
  });
});

describe('per-minute counters', () => {
  it('count queries and blocks per minute for the last hour, forgetting older minutes as slots are reused', () => {
    const m = new MinuteCounters();
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 30);
    m.onQuery(ev(t0, '10.0.0.1', 'a.example'));
    m.onQuery(ev(t0 + 1000, '10.0.0.1', 'c2.example', 'blocked'));
    m.onQuery(ev(t0 + 60_000, '10.0.0.1', 'c2.example', 'local-data'));
    let s = m.series(t0 + 60_000);
    expect(s.queries).toHaveLength(61);
    expect(s.start).toBe(Date.UTC(2026, 0, 1, 11, 1, 0));
    expect(s.queries.slice(-2)).toEqual([2, 1]);
    expect(s.blocked.slice(-2)).toEqual([1, 1]);
    expect(s.queries.slice(0, -2).every((n) => n === 0)).toBe(true);
    // 61 minutes later the same slot holds a new minute: the old counts are not shown.
    m.onQuery(ev(t0 + 61 * 60_000, '10.0.0.1', 'b.example'));
    s = m.series(t0 + 61 * 60_000);
    expect(s.queries.reduce((a, b) => a + b, 0)).toBe(2); // t0+60 s (still in the hour) and the new one
    expect(s.queries.at(-1)).toBe(1);
    // A quiet hour later, everything is 0.
    expect(m.series(t0 + 3 * 3_600_000).queries.every((n) => n === 0)).toBe(true);
  });
});

describe('live query ring', () => {
  it('gives back every field of a query as it was sent, in a ring not yet full and across its wrap', () => {
    const tail = new QueryTail(3, 100);
    expect(tail.oldest()).toBeNull();
    expect(tail.recent()).toEqual([]);
    tail.onQuery(ev(1000, '10.0.0.1', 'a.example', 'allowed', { via: '192.168.1.1', transport: 'doh', upstream: '9.9.9.9:53', latencyMs: 12.345, qtype: 65535, rcode: 4095 }));
    expect(tail.oldest()).toBe(1000);
    expect(tail.recent()[0]).toMatchObject({ id: 1, via: '192.168.1.1', transport: 'doh', upstream: '9.9.9.9:53', latencyMs: 12.35, qtype: 'TYPE65535', rcode: 'RCODE4095' });
    for (let i = 2; i <= 4; i++) tail.onQuery(ev(1000 * i, '10.0.0.2', `n${i}.example`, 'blocked', { rcode: -1, transport: 'tcp' }));
    expect(tail.oldest()).toBe(2000);
    expect(tail.recent().map((e) => [e.id, e.qname, e.rcode, e.transport, e.upstream, e.via])).toEqual([
      [4, 'n4.example', 'none', 'tcp', null, null],
      [3, 'n3.example', 'none', 'tcp', null, null],
      [2, 'n2.example', 'none', 'tcp', null, null],
    ]);
  });

  it('gives back every query name as sent: short ASCII ones (kept as bytes), long, non-ASCII, empty and escaped ones, and a slot reused by a shorter name', () => {
    const names = ['a.example', 'x'.repeat(64), `${'y'.repeat(60)}.example`, 'caf\u00e9.example', '\u4e2d\u6587.example', '', 'q"u\\ote.example', 'h000001.bench.test'];
    const tail = new QueryTail(3, 100);
    const seen: string[] = [];
    tail.subscribe({}, (e) => seen.push(e.qname));
    for (const [t, name] of names.entries()) {
      tail.onQuery(ev(t + 1, '10.0.0.1', name));
      expect(tail.recent({}, 1)[0]!.qname).toBe(name);
    }
    expect(seen).toEqual(names);
    expect(tail.recent({}, 3).map((e) => e.qname)).toEqual(names.slice(-3).reverse());
    expect([...tail.since(0)].map((q) => q.qname)).toEqual(names.slice(-3));
  });

  it('keeps the newest `capacity` queries with ids, filters them, and renders the decision only when asked', () => {
    const tail = new QueryTail(5, 100);
    const d = ruleDecision(rule('3cx', 'msstorageazure.com'), 'cname', ['innocent.example', 'cdn.msstorageazure.com']);
    for (let i = 1; i <= 7; i++) tail.onQuery(ev(1000 * i, `10.0.0.${i % 2}`, `n${i}.example`));
    tail.onQuery(ev(8000, '10.0.0.9', 'innocent.example', 'blocked', { decision: d, mac: 'aa:bb:cc:dd:ee:ff', clientName: 'laptop', rcode: 0, qtype: 28 }));
    expect(tail.lastId).toBe(8);
    const all = tail.recent({}, 100);
    expect(all.map((e) => e.id)).toEqual([8, 7, 6, 5, 4]);
    expect(all[0]).toMatchObject({
      time: new Date(8000).toISOString(),
      client: '10.0.0.9',
      mac: 'aa:bb:cc:dd:ee:ff',
      clientName: 'laptop',
      qtype: 'AAAA',
      action: 'blocked',
      rcode: 'NOERROR',
      latencyMs: 1.23,
      decidedBy: 'list',
      verdict: 'block',
      trigger: 'cname',
      list: '3cx',
      rule: 'msstorageazure.com',
      chain: ['innocent.example', 'cdn.msstorageazure.com'],
      reason: 'list=3cx rule=msstorageazure.com trigger=cname chain=innocent.example>cdn.msstorageazure.com',
    });
    expect(all[1]!.reason).toBeNull();
    expect(tail.recent({}, 2).map((e) => e.id)).toEqual([8, 7]);
    expect(tail.recent({}, 100, 6).map((e) => e.id)).toEqual([8, 7]);
    expect(tail.recent({ client: '10.0.0.1' }).map((e) => e.qname)).toEqual(['n7.example', 'n5.example']);
    expect(tail.recent({ client: 'LAPTOP' }).map((e) => e.id)).toEqual([8]);
    expect(tail.recent({ client: 'ee:ff' }).map((e) => e.id)).toEqual([8]);
    expect(tail.recent({ name: 'N6.EX' }).map((e) => e.id)).toEqual([6]);
    expect(tail.recent({ action: 'blocked', list: '3cx' }).map((e) => e.id)).toEqual([8]);
    expect(tail.recent({ list: 'other' })).toEqual([]);
    expect(tail.oldest()).toBe(4000);
    expect([...tail.since(6000)].map((q) => q.qname)).toEqual(['n6.example', 'n7.example', 'innocent.example']);
    expect([...tail.since(9000)]).toEqual([]);
  });

  it('gives back a qname rule decision (kept as its rule) as the one sent, and any other decision as it was', () => {
    const tail = new QueryTail(10, 100);
    const block = rule('3cx', 'msstorageazure.com');
    const watch = { ...rule('posture', 'update.example'), tags: ['watch'] };
    const emergency = rule('emergency', 'bad.example');
    const local = { ...rule('garden', 'walled.example'), action: { local: [] } };
    const sent = [
      ev(1000, '10.0.0.1', 'msstorageazure.com', 'blocked', { decision: ruleDecision(block, 'qname', ['msstorageazure.com']) }),
      ev(2000, '10.0.0.1', 'cdn.msstorageazure.com', 'blocked', { decision: ruleDecision(block, 'qname', ['cdn.msstorageazure.com']) }),
      ev(3000, '10.0.0.2', 'update.example', 'allowed', { decision: ruleDecision(watch, 'qname', ['update.example'], true) }),
      ev(4000, '10.0.0.2', 'bad.example', 'blocked', { decision: ruleDecision(emergency, 'qname', ['bad.example']) }),
      ev(5000, '10.0.0.2', 'walled.example', 'local-data', { decision: ruleDecision(local, 'qname', ['walled.example']) }),
      ev(6000, '10.0.0.3', 'x.example', 'blocked', { decision: { ...ruleDecision(block, 'qname', ['x.example']), note: 'kept as sent' } }),
      ev(7000, '10.0.0.3', 'innocent.example', 'blocked', { decision: ruleDecision(block, 'cname', ['innocent.example', 'cdn.msstorageazure.com']) }),
    ];
    const pushed: TailEntry[] = [];
    tail.subscribe({}, (e) => pushed.push(e));
    for (const e of sent) tail.onQuery(e);
    const expected = sent.map((e) => {
      const d = e.decision!;
      return { qname: e.qname, client: e.client, decidedBy: d.by, verdict: d.verdict, trigger: d.trigger, list: d.rule!.list, rule: d.rule!.rule, chain: d.chain, reason: reasonText(d) };
    });
    expect(pushed).toMatchObject(expected);
    expect(tail.recent({}, 100).reverse()).toMatchObject(expected);
    expect(tail.recent({ list: 'emergency' }).map((e) => e.qname)).toEqual(['bad.example']);
  });

  it('pushes matching queries to subscribers until they unsubscribe; a throwing subscriber never reaches the answering path', () => {
    const tail = new QueryTail(10);
    const got: string[] = [];
    const stop = tail.subscribe({ action: 'blocked' }, (e) => got.push(e.qname));
    tail.subscribe({}, () => {
      throw new Error('broken stream');
    });
    expect(tail.subscribers).toBe(2);
    expect(() => tail.onQuery(ev(1, '10.0.0.1', 'a.example'))).not.toThrow();
    tail.onQuery(ev(2, '10.0.0.1', 'c2.example', 'blocked'));
    stop();
    tail.onQuery(ev(3, '10.0.0.1', 'c2.example', 'blocked'));
    expect(got).toEqual(['c2.example']);
    expect(tail.listenerErrors).toBe(3);
    expect(tail.subscribers).toBe(1);
  });

  it('remembers client identities, counts, and forgets the oldest client when full', () => {
    const tail = new QueryTail(10, 2);
    tail.onQuery(ev(1, '10.0.0.1', 'a.example', 'allowed', { mac: 'aa:bb:cc:dd:ee:01', via: '10.0.0.254' }));
    tail.onQuery(ev(2, '10.0.0.1', 'c2.example', 'blocked', { clientName: 'printer' }));
    expect(tail.identity('10.0.0.1')).toEqual({ client: '10.0.0.1', mac: 'aa:bb:cc:dd:ee:01', clientName: 'printer', via: '10.0.0.254', firstSeen: 1, lastSeen: 2, queries: 2, blocked: 1 });
    tail.onQuery(ev(3, '10.0.0.2', 'a.example'));
    tail.onQuery(ev(4, '10.0.0.3', 'a.example'));
    expect(tail.identity('10.0.0.1')).toBeNull();
    expect(tail.knownClients().map((c) => c.client)).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('counts a run of queries from one client, and the client last asked when it is the one evicted', () => {
    const tail = new QueryTail(10, 2);
    const from = (t: number, client: string, action: Action = 'allowed') => tail.onQuery(ev(t, Buffer.from(client).toString('latin1'), 'a.example', action));
    from(1, '10.0.0.1');
    from(2, '10.0.0.1', 'blocked');
    from(3, '10.0.0.2');
    from(4, '10.0.0.1');
    expect(tail.identity('10.0.0.1')).toMatchObject({ firstSeen: 1, lastSeen: 4, queries: 3, blocked: 1 });
    // 10.0.0.1 was inserted first: a third client evicts it although it asked last.
    from(5, '10.0.0.3');
    expect(tail.identity('10.0.0.1')).toBeNull();
    from(6, '10.0.0.1');
    expect(tail.identity('10.0.0.1')).toMatchObject({ firstSeen: 6, lastSeen: 6, queries: 1 });
    expect(tail.knownClients().map((c) => c.client)).toEqual(['10.0.0.3', '10.0.0.1']);
  });
});

describe('history summary', () => {
  it('top clients, top blocked names and one client\'s timeline over a window, from open and gzip\'ed segments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-summary-'));
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
    let now = t0;
    const rec = new HistoryRecorder({ dir, segmentMinutes: 60, now: () => now, flushMs: 60_000 });
    const a4 = new Uint8Array([192, 0, 2, 10]);
    rec.record(t0 - 1000, '10.0.0.9', 'before.example', 1, 'allowed', 0, null); // outside the window
    rec.record(t0 + 1000, '10.0.0.1', 'example.org', 1, 'allowed', 0, a4);
    rec.record(t0 + 2000, '10.0.0.1', 'cdn.msstorageazure.com', 1, 'blocked', 0, null);
    rec.record(t0 + 3000, '10.0.0.2', 'cdn.msstorageazure.com', 28, 'blocked', 0, null);
    rec.record(t0 + 4000, '10.0.0.2', 'walled.example', 1, 'local-data', 0, null);
    rec.record(t0 + 5000, '10.0.0.1', 'drop.example', 1, 'blocked', 255, null);
    now = t0 + 3_600_000 + 1000;
    rec.record(t0 + 3_600_000 + 500, '10.0.0.1', 'later.example', 1, 'cached', 3, null); // next segment
    await rec.flush();
    const s = await summarizeHistory(dir, { since: t0, client: '10.0.0.1' });
    expect(s.records).toBe(6);
    expect(s.clients).toBe(2);
    expect(s.topClients).toEqual([
      { client: '10.0.0.1', queries: 4, blocked: 2 },
      { client: '10.0.0.2', queries: 2, blocked: 2 },
    ]);
    expect(s.topBlocked).toEqual([
      { name: 'cdn.msstorageazure.com', queries: 2, clients: 2 },
      { name: 'drop.example', queries: 1, clients: 1 },
      { name: 'walled.example', queries: 1, clients: 1 },
    ]);
    expect(s.timeline).toEqual([
      { time: t0 + 3_600_000 + 500, name: 'later.example', qtype: 'A', action: 'cached', rcode: 'NXDOMAIN', answer: null },
      { time: t0 + 5000, name: 'drop.example', qtype: 'A', action: 'blocked', rcode: 'none', answer: null },
      { time: t0 + 2000, name: 'cdn.msstorageazure.com', qtype: 'A', action: 'blocked', rcode: 'NOERROR', answer: null },
      { time: t0 + 1000, name: 'example.org', qtype: 'A', action: 'allowed', rcode: 'NOERROR', answer: '192.0.2.10' },
    ]);
    await rec.close(); // compresses: the same answers from .c2h.gz
    const closed = await summarizeHistory(dir, { since: t0, until: t0 + 3_600_000, client: '10.0.0.1', timelineLimit: 2, top: 1 });
    expect(closed.records).toBe(5);
    expect(closed.topClients).toEqual([{ client: '10.0.0.1', queries: 3, blocked: 2 }]);
    expect(closed.timeline!.map((r) => r.name)).toEqual(['drop.example', 'cdn.msstorageazure.com']);
    const none = await summarizeHistory(join(dir, 'missing'), { since: 0 });
    expect(none).toEqual({ segments: 0, records: 0, unreadable: 0, clients: 0, topClients: [], topBlocked: [], timeline: null });
  });
});

describe('Origin check', () => {
  it('accepts no Origin and this listener; refuses other origins, "null" and garbage', () => {
    expect(crossOrigin(undefined, '127.0.0.1:9153')).toBeNull();
    expect(crossOrigin('http://127.0.0.1:9153', '127.0.0.1:9153')).toBeNull();
    expect(crossOrigin('http://[::1]:9153', '[::1]:9153')).toBeNull();
    expect(crossOrigin('http://C2DNS.lan', 'c2dns.lan:80')).toBeNull();
    expect(crossOrigin('https://c2dns.lan', 'c2dns.lan')).toBeNull(); // behind a TLS proxy
    for (const o of ['http://evil.example', 'http://127.0.0.1:9154', 'null', 'file://', 'not a url', 'ftp://127.0.0.1:9153']) expect(crossOrigin(o, '127.0.0.1:9153'), o).toMatch(/is refused/);
    expect(crossOrigin('http://127.0.0.1:9153', undefined)).toMatch(/is refused/);
  });
});

describe('overview pieces', () => {
  it('sparkline points span the box, queries and blocked on one scale', () => {
    const s = sparkline({ start: 0, queries: [0, 5, 10], blocked: [0, 0, 5] });
    expect(s).toEqual({ width: SPARK_WIDTH, height: SPARK_HEIGHT, max: 10, queries: `0,78 300,40 600,2`, blocked: `0,78 300,78 600,40` });
    expect(sparkline({ start: 0, queries: [0, 0], blocked: [0, 0] }).max).toBe(1);
  });

  it('C2 hits newest first, with the counts of their summaries folded in', () => {
    const hit = (id: string, time: string, qname: string) => ({
      time,
      kind: 'c2-hit',
      client: '10.0.0.5',
      message: '',
      details: { id, qname, list: '3cx', rule: 'msstorageazure.com', trigger: 'qname', chain: [qname], count: 1, identity: 'laptop', lastSeen: time },
    });
    const hits = c2Hits([
      hit('a', '2026-01-01T10:00:00.000Z', 'a.msstorageazure.com'),
      { time: '2026-01-01T10:01:00.000Z', kind: 'stale-feed', client: null, message: '', details: {} },
      hit('b', '2026-01-01T10:02:00.000Z', 'b.msstorageazure.com'),
      { time: '2026-01-01T10:05:00.000Z', kind: 'c2-hit-summary', client: '10.0.0.5', message: '', details: { summaryOf: 'a', count: 7, lastSeen: '2026-01-01T10:04:00.000Z' } },
    ]);
    expect(hits.map((h) => [h.name, h.count, h.lastSeen])).toEqual([
      ['b.msstorageazure.com', 1, '2026-01-01T10:02:00.000Z'],
      ['a.msstorageazure.com', 7, '2026-01-01T10:04:00.000Z'],
    ]);
    expect(hits[0]).toMatchObject({ client: '10.0.0.5', identity: 'laptop', list: '3cx', rule: 'msstorageazure.com' });
  });
});
