// Prometheus metrics: counted from real queries through a running c2dns (UDP, TCP, blocked,
// forwarded, cached, refused, malformed), mirrored state read at scrape time (upstreams, cache,
// lists, dispatcher), and the exposition itself checked line by line against the format and
// Prometheus naming conventions.
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleMatch } from '../../src/blocklist/rule.js';
import type { SourceState } from '../../src/feeds/manager.js';
import { DURATION_BUCKETS, Metrics } from '../../src/observe/metrics.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { parseExposition, sample, type Family } from './exposition.js';
import { ruleDecision } from '../../src/policy/decision.js';

/** Hooks a Metrics into a running server, as app.ts will. */
function attach(c2: TestServer): Metrics {
  const s = c2.server;
  const m = new Metrics({ feeds: s.feeds, upstreams: s.forward.upstreams, cache: s.cache, dispatchCounters: () => s.dispatcher.counters });
  s.observers.push(m);
  return m;
}

async function scrape(m: Metrics): Promise<Map<string, Family>> {
  return parseExposition(await m.render());
}

function sum(f: Map<string, Family>, name: string, where: Record<string, string>): number {
  return (f.get(name)?.samples ?? []).filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

function sendRaw(port: number, msg: Buffer): Promise<void> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve) => sock.send(msg, port, '127.0.0.1', () => sock.close(() => resolve())));
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

describe('metrics from real queries', () => {
  let up: Upstream;
  let c2: TestServer;
  let m: Metrics;
  let f: Map<string, Family>;
  let upstreamLabel: string;
  const startedAt = Date.now();

  beforeAll(async () => {
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 300 }] }));
    c2 = await startC2dns(
      {
        upstreams: [`127.0.0.1:${up.port}`],
        access: { allow: ['127.0.0.1/32'] },
        lists: [
          { name: 'c2', path: 'c2.txt', format: 'plain', tags: ['c2', '3cx'] },
          { name: 'plain', path: 'plain.txt', format: 'plain' },
          { name: 'shrinky', path: 'shrink.txt', format: 'plain', maxShrinkRatio: 0.5 },
        ],
      },
      {
        'c2.txt': 'akamaicontainer.com\nmsstorageazure.com\nsbmsa.wiki\nnot a domain!\n',
        'plain.txt': 'evil.example\n',
        'shrink.txt': 'a1.example\na2.example\na3.example\na4.example\n',
      },
    );
    m = attach(c2);
    upstreamLabel = c2.server.forward.upstreams[0]!.label;

    await ask(c2.port, 'akamaicontainer.com', T.A);
    await ask(c2.port, 'cdn.msstorageazure.com', T.AAAA);
    await ask(c2.port, 'evil.example', T.A, { tcp: true });
    await ask(c2.port, 'example.org', T.A);
    await ask(c2.port, 'example.org', T.A); // from the cache
    await ask(c2.port, 'example.org', 4242); // forwarded; an unlisted type
    await ask(c2.port, 'nx.example.org', T.A); // forwarded, NXDOMAIN
    await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2' }); // refused by access control
    await ask(c2.port, 'example.org', T.A, { opcode: 2 }); // NOTIMP
    await sendRaw(c2.port, Buffer.from([1, 2, 3, 4, 5])); // shorter than a header: dropped
    await until(() => c2.server.dispatcher.counters.dropped > 0);
    f = await scrape(m);
  });

  afterAll(async () => {
    await c2?.close();
    await up?.close();
  });

  it('counts queries by transport, qtype and action', () => {
    const q = (transport: string, qtype: string, action: string): number | undefined => sample(f, 'c2dns_queries_total', { transport, qtype, action });
    expect(q('udp', 'A', 'blocked')).toBe(1);
    expect(q('udp', 'AAAA', 'blocked')).toBe(1);
    expect(q('tcp', 'A', 'blocked')).toBe(1);
    expect(q('udp', 'A', 'allowed')).toBe(2);
    expect(q('udp', 'A', 'cached')).toBe(1);
    expect(q('udp', 'other', 'allowed')).toBe(1);
    expect(q('udp', 'A', 'refused')).toBe(1);
    expect(sum(f, 'c2dns_queries_total', { action: 'notimp' })).toBe(1);
    expect(sum(f, 'c2dns_queries_total', {})).toBe(9);
    expect(q('tcp', 'A', 'allowed')).toBeUndefined(); // only combinations seen are exported
  });

  it('counts one block per tag of the matching rule, "" for an untagged rule', () => {
    expect(sample(f, 'c2dns_blocks_total', { list: 'c2', tag: 'c2' })).toBe(2);
    expect(sample(f, 'c2dns_blocks_total', { list: 'c2', tag: '3cx' })).toBe(2);
    expect(sample(f, 'c2dns_blocks_total', { list: 'plain', tag: '' })).toBe(1);
    expect(f.get('c2dns_blocks_total')!.samples).toHaveLength(3);
  });

  it('counts answers by rcode, refusals, and dropped and malformed packets', () => {
    expect(sample(f, 'c2dns_responses_total', { rcode: 'NOERROR' })).toBe(6);
    expect(sample(f, 'c2dns_responses_total', { rcode: 'NXDOMAIN' })).toBe(1);
    expect(sample(f, 'c2dns_responses_total', { rcode: 'REFUSED' })).toBe(1);
    expect(sample(f, 'c2dns_responses_total', { rcode: 'NOTIMP' })).toBe(1);
    expect(sample(f, 'c2dns_refused_total')).toBe(1);
    expect(sample(f, 'c2dns_malformed_packets_total', { handling: 'dropped' })).toBe(1);
    expect(sample(f, 'c2dns_malformed_packets_total', { handling: 'answered' })).toBe(1);
    expect(sample(f, 'c2dns_internal_errors_total')).toBe(0);
    expect(sample(f, 'c2dns_rate_limited_total', { response: 'drop' }) ?? 0).toBe(0);
    expect(sample(f, 'c2dns_truncated_responses_total')).toBe(0);
  });

  it('times every answered query, and forwarded ones per upstream', () => {
    expect(sample(f, 'c2dns_request_duration_seconds_count')).toBe(9);
    expect(sample(f, 'c2dns_request_duration_seconds_bucket', { le: '+Inf' })).toBe(9);
    expect(sample(f, 'c2dns_request_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sample(f, 'c2dns_request_duration_seconds_sum')).toBeLessThan(9 * 2);
    expect(sample(f, 'c2dns_upstream_duration_seconds_count', { upstream: upstreamLabel })).toBe(3);
    const buckets = f.get('c2dns_request_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket'));
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  });

  it('mirrors the upstream counters and the cache', () => {
    const c = c2.server.forward.upstreams[0]!.counters;
    expect(c.requests).toBe(3);
    expect(sample(f, 'c2dns_upstream_requests_total', { upstream: upstreamLabel })).toBe(c.requests);
    expect(sample(f, 'c2dns_upstream_responses_total', { upstream: upstreamLabel })).toBe(c.responses);
    expect(sample(f, 'c2dns_upstream_timeouts_total', { upstream: upstreamLabel })).toBe(0);
    expect(sample(f, 'c2dns_upstream_errors_total', { upstream: upstreamLabel })).toBe(0);
    expect(sample(f, 'c2dns_upstream_ignored_replies_total', { upstream: upstreamLabel })).toBe(0);
    expect(sample(f, 'c2dns_upstream_truncated_total', { upstream: upstreamLabel })).toBe(0);
    const cache = c2.server.cache!;
    expect(cache.hits).toBe(1);
    expect(sample(f, 'c2dns_cache_hits_total')).toBe(cache.hits);
    expect(sample(f, 'c2dns_cache_misses_total')).toBe(cache.misses);
    expect(sample(f, 'c2dns_cache_entries')).toBe(cache.size);
    expect(cache.size).toBeGreaterThan(0);
    expect(sample(f, 'c2dns_cache_stale_served_total')).toBe(0);
  });

  it('reports each list: entries, loaded, last success, age, rejected lines', () => {
    expect(sample(f, 'c2dns_list_entries', { list: 'c2' })).toBe(3);
    expect(sample(f, 'c2dns_list_entries', { list: 'plain' })).toBe(1);
    expect(sample(f, 'c2dns_list_entries', { list: 'shrinky' })).toBe(4);
    expect(sample(f, 'c2dns_list_loaded', { list: 'c2' })).toBe(1);
    expect(sample(f, 'c2dns_feed_rejected_lines', { list: 'c2' })).toBe(1);
    expect(sample(f, 'c2dns_feed_rejected_lines', { list: 'plain' })).toBe(0);
    const last = sample(f, 'c2dns_list_last_success_timestamp_seconds', { list: 'c2' })!;
    expect(last).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) - 1);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
    const age = sample(f, 'c2dns_list_age_seconds', { list: 'c2' })!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
    expect(sample(f, 'c2dns_list_refresh_failures_total', { list: 'c2', reason: 'network' })).toBe(0);
  });

  it('counts a rejected list update once per failure, by reason, and keeps the old rules', async () => {
    writeFileSync(join(c2.dir, 'shrink.txt'), 'a1.example\n');
    expect((await c2.server.feeds.refresh(['shrinky'])).get('shrinky')).toBe('failed');
    let g = await scrape(m);
    expect(sample(g, 'c2dns_list_refresh_failures_total', { list: 'shrinky', reason: 'shrunk' })).toBe(1);
    g = await scrape(m); // a second scrape sees the same failure: not counted again
    expect(sample(g, 'c2dns_list_refresh_failures_total', { list: 'shrinky', reason: 'shrunk' })).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    await c2.server.feeds.refresh(['shrinky']);
    g = await scrape(m);
    expect(sample(g, 'c2dns_list_refresh_failures_total', { list: 'shrinky', reason: 'shrunk' })).toBe(2);
    expect(sample(g, 'c2dns_list_entries', { list: 'shrinky' })).toBe(4);
  });

  it('exports build info', () => {
    const b = f.get('c2dns_build_info')!.samples;
    expect(b).toHaveLength(1);
    expect(b[0]!.labels).toEqual({ version: m.version, node: process.version });
    expect(m.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(b[0]!.value).toBe(1);
  });

  it('follows Prometheus naming conventions', () => {
    expect(f.size).toBeGreaterThan(25);
    for (const fam of f.values()) {
      expect(fam.name).toMatch(/^c2dns_[a-z0-9_]+$/);
      expect(fam.help.length).toBeGreaterThan(10);
      if (fam.type === 'counter') expect(fam.name).toMatch(/_total$/);
      else expect(fam.name).not.toMatch(/_total$/);
      if (fam.type === 'histogram') expect(fam.name).toMatch(/_seconds$/);
      for (const s of fam.samples) for (const k of Object.keys(s.labels)) expect(k).toMatch(/^[a-z][a-z_]*$/);
    }
    expect([...f.values()].filter((x) => x.type === 'histogram').map((x) => x.name)).toEqual(['c2dns_request_duration_seconds', 'c2dns_upstream_duration_seconds']);
  });

  it('summarises the same counts for /api/status', () => {
    const s = m.summary();
    expect(s.queries).toBeGreaterThanOrEqual(9);
    expect(s.byAction.blocked).toBe(3);
    expect(s.byAction.refused).toBe(1);
    expect(s.blocked).toBe(3);
    expect(s.dropped).toBe(1);
    expect(s.malformed).toBe(1);
    expect(s.cache).toEqual({ entries: c2.server.cache!.size, hits: 1, misses: c2.server.cache!.misses });
    expect(s.upstreams).toEqual([{ upstream: upstreamLabel, ...c2.server.forward.upstreams[0]!.counters }]);
  });
});

describe('Metrics with synthetic events', () => {
  const rule = (list: string, tags: string[]): RuleMatch => ({
    kind: 'block',
    list,
    rule: 'x.example',
    match: 'subtree',
    line: 1,
    action: null,
    important: false,
    labels: 2,
    ref: null,
    tags,
    expiresAt: 0,
    firstSeen: 0,
  });
  const ev = (o: Partial<QueryEvent>): QueryEvent => ({
    time: Date.now(),
    client: '192.0.2.1',
    clientPort: 5353,
    via: null,
    mac: null,
    clientName: null,
    transport: 'udp',
    qname: 'x.example',
    qtype: 1,
    action: 'blocked',
    decision: null,
    rcode: 0,
    latencyMs: 0.1,
    upstream: null,
    truncated: false,
    reply: null,
    ...o,
  });
  const counters = { requests: 0, responses: 0, timeouts: 0, errors: 0, ignoredReplies: 0, truncated: 0 };

  function make(extra: Partial<ConstructorParameters<typeof Metrics>[0]> = {}): Metrics {
    return new Metrics({ feeds: { sources: [] }, upstreams: [{ label: '192.0.2.53:53', counters }], cache: null, dispatchCounters: () => ({ dropped: 0, malformed: 0, internalErrors: 0 }), version: '9.9.9', ...extra });
  }

  it('exports stalls and hedged questions per upstream from its health', async () => {
    const health = { latencyMs: 3, samples: 9, probes: { sent: 1, ok: 1, failed: 0 }, stalls: 2, hedged: 37 };
    const f = await scrape(make({ upstreams: [{ label: '192.0.2.53:53', counters, health }, { label: '192.0.2.54:53', counters }] }));
    expect(sample(f, 'c2dns_upstream_stalls_total', { upstream: '192.0.2.53:53' })).toBe(2);
    expect(sample(f, 'c2dns_upstream_hedged_total', { upstream: '192.0.2.53:53' })).toBe(37);
    expect(sample(f, 'c2dns_upstream_stalls_total', { upstream: '192.0.2.54:53' })).toBeUndefined(); // no health: nothing made up
  });

  it('puts each latency in the first bucket whose bound is not below it', async () => {
    const m = make();
    for (const ms of [0.01, 0.05, 0.051, 1, 2000, 2001]) m.onQuery(ev({ latencyMs: ms, action: 'cached' }));
    const f = await scrape(m);
    const b = (le: string): number | undefined => sample(f, 'c2dns_request_duration_seconds_bucket', { le });
    expect(b('0.00005')).toBe(2);
    expect(b('0.0001')).toBe(3);
    expect(b('0.001')).toBe(4);
    expect(b('2')).toBe(5);
    expect(b('+Inf')).toBe(6);
    expect(sample(f, 'c2dns_request_duration_seconds_sum')).toBeCloseTo((0.01 + 0.05 + 0.051 + 1 + 2000 + 2001) / 1000, 9);
  });

  it('labels a block without a rule list="" tag="", counts a repeated tag once, and caps tags per list', async () => {
    const m = make();
    m.onQuery(ev({ decision: null }));
    const r = rule('feed', ['c2', 'c2', 'apt']);
    m.onQuery(ev({ decision: ruleDecision(r, 'qname', ['x.example']) }));
    m.onQuery(ev({ decision: ruleDecision(r, 'qname', ['x.example']) }));
    for (let i = 0; i < 300; i++) m.onQuery(ev({ decision: ruleDecision(rule('many', [`family-${i}`]), 'qname', ['x.example']) }));
    const f = await scrape(m);
    expect(sample(f, 'c2dns_blocks_total', { list: '', tag: '' })).toBe(1);
    expect(sample(f, 'c2dns_blocks_total', { list: 'feed', tag: 'c2' })).toBe(2);
    expect(sample(f, 'c2dns_blocks_total', { list: 'feed', tag: 'apt' })).toBe(2);
    const many = f.get('c2dns_blocks_total')!.samples.filter((s) => s.labels.list === 'many');
    expect(many).toHaveLength(257);
    expect(sample(f, 'c2dns_blocks_total', { list: 'many', tag: 'other' })).toBe(300 - 256);
  });

  it('counts the rules of one source (one tags array, new rule objects) by list and tag, a tags array shared by two lists per list, in runs and in turns', async () => {
    const m = make();
    const shared = ['c2', 'apt'];
    for (let i = 0; i < 1000; i++) m.onQuery(ev({ decision: ruleDecision({ ...rule('feed', shared), rule: `n${i}.example` }, 'qname', ['x.example']) }));
    m.onQuery(ev({ decision: ruleDecision(rule('other', shared), 'qname', ['x.example']) }));
    m.onQuery(ev({ decision: ruleDecision(rule('feed', ['c2', 'own']), 'qname', ['x.example']) }));
    m.onQuery(ev({ decision: ruleDecision(rule('feed', shared), 'qname', ['x.example']) })); // back to the first source
    const f = await scrape(m);
    expect(sample(f, 'c2dns_blocks_total', { list: 'feed', tag: 'c2' })).toBe(1002);
    expect(sample(f, 'c2dns_blocks_total', { list: 'feed', tag: 'apt' })).toBe(1001);
    expect(sample(f, 'c2dns_blocks_total', { list: 'feed', tag: 'own' })).toBe(1);
    expect(sample(f, 'c2dns_blocks_total', { list: 'other', tag: 'c2' })).toBe(1);
    expect(sample(f, 'c2dns_blocks_total', { list: 'other', tag: 'apt' })).toBe(1);
  });

  it('counts each query under its own action when actions come in runs and in turns', async () => {
    const m = make();
    const actions = ['blocked', 'blocked', 'cached', 'blocked', 'quarantined', 'quarantined', 'cached', 'blocked'] as QueryEvent['action'][];
    for (const action of actions) m.onQuery(ev({ action }));
    const f = await scrape(m);
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'blocked' })).toBe(4);
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'cached' })).toBe(2);
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'quarantined' })).toBe(2);
  });

  it('labels an action added later by another stage with its own name', async () => {
    const m = make();
    m.onQuery(ev({ action: 'quarantined' as QueryEvent['action'] }));
    m.onQuery(ev({ action: 'allowed', upstream: '198.51.100.1:53' })); // not a configured upstream: gets its own series
    m.onQuery(ev({ rcode: -1 })); // RPZ DROP: nothing sent
    m.onQuery(ev({ truncated: true, action: 'cached' }));
    const f = await scrape(m);
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'quarantined' })).toBe(1);
    expect(sample(f, 'c2dns_upstream_duration_seconds_count', { upstream: '198.51.100.1:53' })).toBe(1);
    expect(sample(f, 'c2dns_upstream_duration_seconds_count', { upstream: '192.0.2.53:53' })).toBe(0);
    expect(sample(f, 'c2dns_responses_total', { rcode: 'none' })).toBe(1);
    expect(sample(f, 'c2dns_truncated_responses_total')).toBe(1);
    expect(m.summary().byAction.quarantined).toBe(1);
  });

  it('reads alert, quarantine and upstream health counts from callbacks at scrape time', async () => {
    let sent = 3;
    const m = make({
      alerts: () => [
        { sink: 'webhook', sent, failed: 1, dropped: 4, queued: 7 },
        { sink: 'syslog', sent: 0, failed: 0 },
      ],
      quarantinedClients: () => 2,
      upstreamHealth: () => [{ upstream: '192.0.2.53:53', healthy: false }],
    });
    let f = await scrape(m);
    expect(sample(f, 'c2dns_alerts_sent_total', { sink: 'webhook' })).toBe(3);
    expect(sample(f, 'c2dns_alerts_failed_total', { sink: 'webhook' })).toBe(1);
    expect(sample(f, 'c2dns_alerts_sent_total', { sink: 'syslog' })).toBe(0);
    expect(sample(f, 'c2dns_alerts_dropped_total', { sink: 'webhook' })).toBe(4);
    expect(sample(f, 'c2dns_alerts_dropped_total', { sink: 'syslog' })).toBeUndefined(); // not reported by that sink
    expect(sample(f, 'c2dns_alerts_queued', { sink: 'webhook' })).toBe(7);
    expect(sample(f, 'c2dns_quarantined_clients')).toBe(2);
    expect(sample(f, 'c2dns_upstream_healthy', { upstream: '192.0.2.53:53' })).toBe(0);
    sent = 5;
    f = await scrape(m);
    expect(sample(f, 'c2dns_alerts_sent_total', { sink: 'webhook' })).toBe(5);
  });

  it('takes callbacks for components built later through provide()', async () => {
    const m = make();
    let f = await scrape(m);
    expect(sample(f, 'c2dns_quarantined_clients')).toBe(0);
    expect(f.get('c2dns_alerts_sent_total')!.samples).toEqual([]);
    expect(f.get('c2dns_upstream_healthy')!.samples).toEqual([]);
    m.provide({ alerts: () => [{ sink: 'file', sent: 2, failed: 0 }], quarantinedClients: () => 4 });
    m.provide({ upstreamHealth: () => [{ upstream: '192.0.2.53:53', healthy: true }] });
    f = await scrape(m);
    expect(sample(f, 'c2dns_alerts_sent_total', { sink: 'file' })).toBe(2);
    expect(sample(f, 'c2dns_quarantined_clients')).toBe(4);
    expect(sample(f, 'c2dns_upstream_healthy', { upstream: '192.0.2.53:53' })).toBe(1);
  });

  it('aggregates across cluster workers: counts summed, shared state not', async () => {
    const source = { config: { name: 'c2' }, compiled: { rules: [{}, {}, {}], report: { rejected: 0 } }, sha256: null, fromLastGood: false, lastSuccess: Date.now(), lastFailure: null } as unknown as SourceState;
    const workers = [make({ feeds: { sources: [source] } }), make({ feeds: { sources: [source] } })];
    for (const w of workers) w.onQuery(ev({ action: 'cached', latencyMs: 0.2 }));
    const merged = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())));
    const f = parseExposition(await merged.metrics());
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'cached' })).toBe(2);
    expect(sample(f, 'c2dns_request_duration_seconds_count')).toBe(2);
    expect(sample(f, 'c2dns_request_duration_seconds_bucket', { le: '0.00025' })).toBe(2);
    expect(sample(f, 'c2dns_list_entries', { list: 'c2' })).toBe(3);
    expect(sample(f, 'c2dns_list_loaded', { list: 'c2' })).toBe(1);
    expect(sample(f, 'c2dns_build_info', { version: '9.9.9', node: process.version })).toBe(1);
  });

  it('uses its own registry: two instances do not share counts', async () => {
    const a = make();
    const b = make();
    a.onQuery(ev({}));
    expect(sample(await scrape(a), 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'blocked' })).toBe(1);
    expect(sample(await scrape(b), 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'blocked' })).toBeUndefined();
    expect(a.registry).not.toBe(b.registry);
    expect(a.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
