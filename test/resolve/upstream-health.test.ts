// Upstream strategies and health over real sockets with scripted upstreams: failover order,
// fastest, parallel, a down upstream probed back, readiness; and the cache's serve-stale and
// coalescing end to end. The `fastest` draw itself is a unit test at the end.
import { describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Script, type Upstream } from '../helpers/upstream.js';
import { edeOf, T } from '../helpers/wire.js';
import { ForwardStage } from '../../src/resolve/forward.js';
import { newHealthState, orderUpstreams, recordLatency, type Ranked } from '../../src/upstream/health.js';
import { query } from '../helpers/stage.js';
import { closeAfterEach } from '../helpers/cleanup.js';

const track = closeAfterEach();

const answer = (address: string, ttl = 300): Script => (q) => ({ answers: [{ name: q.name, type: T.A, address, ttl }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

async function serve(ups: Upstream[], upstream: Record<string, unknown> = {}, cache: Record<string, unknown> = { maxEntries: 0 }): Promise<TestServer> {
  return track(await startC2dns({ upstreams: ups.map((u) => `127.0.0.1:${u.port}`), upstream: { timeoutMs: 300, ...upstream }, cache }));
}

describe('upstream strategies', () => {
  it('failover (the default) asks the first upstream while it answers, the second only when it does not', async () => {
    const first = track(await startUpstream(answer('192.0.2.1')));
    const second = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([first, second]);
    expect(c2.server.forward.strategy).toBe('failover');
    for (let i = 0; i < 10; i++) expect((await ask(c2.port, `n${i}.example.org`, T.A)).packet.answers[0]!.address).toBe('192.0.2.1');
    expect([first.received.length, second.received.length]).toEqual([10, 0]);
    first.setScript(() => ({ drop: true }));
    expect((await ask(c2.port, 'x.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.2');
    expect((await ask(c2.port, 'y.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.2');
    expect(first.received.length).toBe(11); // down after its timeout: not asked first any more
  });

  it('fastest prefers the upstream that answers faster', async () => {
    const slow = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }], delayMs: 60 })));
    const fast = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([slow, fast], { strategy: 'fastest' });
    for (let i = 0; i < 40; i++) await ask(c2.port, `n${i}.example.org`, T.A);
    const [s, f] = c2.server.forward.upstreams.map((u) => u.health);
    expect(s!.latencyMs).toBeGreaterThan(f!.latencyMs);
    // Each is measured once, then the draw weighs 1/latency²: the slow one gets a few percent.
    expect(fast.received.length).toBeGreaterThanOrEqual(34);
    expect(slow.received.length).toBeGreaterThanOrEqual(1);
    const lines = await c2.waitForLog(40);
    expect(lines.filter((l) => l.upstream === `127.0.0.1:${fast.port}`).length).toBe(fast.received.length);
  });

  it('parallel asks two at once and answers with the first good answer', async () => {
    const slow = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }], delayMs: 250 })));
    const fast = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([slow, fast], { strategy: 'parallel', timeoutMs: 1000 });
    const t0 = Date.now();
    const r = await ask(c2.port, 'p.example.org', T.A);
    expect(Date.now() - t0).toBeLessThan(200);
    expect(r.packet.answers[0]!.address).toBe('192.0.2.2');
    expect([slow.received.length, fast.received.length]).toEqual([1, 1]);
    const [line] = await c2.waitForLog(1);
    expect(line).toMatchObject({ action: 'allowed', upstream: `127.0.0.1:${fast.port}` });
    // The slower answer still arrives and is measured.
    await until(() => c2.server.forward.upstreams[0]!.health.samples === 1);
  });

  it('parallel: a SERVFAIL from one of the two waits for the other; a third is asked when both fail', async () => {
    const failing = track(await startUpstream(() => ({ rcode: 2 })));
    const good = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.2' }], delayMs: 50 })));
    const c2 = await serve([failing, good], { strategy: 'parallel' });
    expect((await ask(c2.port, 'p.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.2');

    const refusing = track(await startUpstream(() => ({ rcode: 5 })));
    const third = track(await startUpstream(answer('192.0.2.3')));
    const c3 = await serve([failing, refusing, third], { strategy: 'parallel' });
    expect((await ask(c3.port, 'q.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.3');
    expect([refusing.received.length, third.received.length]).toEqual([1, 1]);
  });
});

describe('upstream health', () => {
  it('a down upstream is probed with the probe question until it answers, then it is up and first again', async () => {
    const primary = track(await startUpstream(() => ({ drop: true })));
    const backup = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([primary, backup], { probeIntervalMs: 50, penaltyMs: 60_000, probeName: 'probe.example', probeType: 'A' });
    expect((await ask(c2.port, 'a.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.2');
    const u = c2.server.forward.upstreams[0]!;
    expect(u.penalisedUntil).toBeGreaterThan(performance.now());
    expect(u.health.downReason).toBe('query timed out');
    let ready = c2.server.upstreamHealth.status();
    expect(ready[0]).toMatchObject({ healthy: false, reason: expect.stringMatching(/^query timed out: tried last for another \d+ ms$/) });
    expect(ready[0]!.downSince).not.toBeNull();
    expect(ready[1]).toMatchObject({ healthy: true });
    // While down: probed, and still down as the probes time out.
    await until(() => u.health.probes.failed >= 1);
    expect(primary.received.some((q) => q.name === 'probe.example' && q.type === T.A)).toBe(true);
    expect(u.penalisedUntil).toBeGreaterThan(performance.now());
    // It comes back: the next probe brings it up.
    primary.setScript(zoneScript({ 'probe.example 1': [{ name: 'probe.example', type: T.A, address: '192.0.2.53' }], 'b.example.org 1': [{ name: 'b.example.org', type: T.A, address: '192.0.2.1' }] }));
    await until(() => u.penalisedUntil === 0);
    expect(u.health.probes.ok).toBe(1);
    expect(u.health.lastProbeOk).toBe(true);
    ready = c2.server.upstreamHealth.status();
    expect(ready[0]).toMatchObject({ healthy: true, reason: null, downSince: null, lastProbeOk: true, probes: { ok: 1 } });
    expect(ready[0]!.latencyMs).not.toBeNull();
    const probesBefore = primary.received.length;
    expect((await ask(c2.port, 'b.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.1');
    await sleep(120);
    expect(primary.received.length).toBe(probesBefore + 1); // no probes once it is up
  });

  it('a SERVFAIL probe keeps it down; a REFUSED one (a server that does not serve the probe name) brings it back', async () => {
    const primary = track(await startUpstream(() => ({ drop: true })));
    const backup = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([primary, backup], { probeIntervalMs: 40, penaltyMs: 60_000 });
    await ask(c2.port, 'a.example.org', T.A);
    const u = c2.server.forward.upstreams[0]!;
    primary.setScript(() => ({ rcode: 2 }));
    await until(() => u.health.downReason === 'probe answered SERVFAIL');
    expect(primary.received.some((q) => q.name === '' && q.type === T.NS)).toBe(true); // the default: ". NS"
    expect(u.penalisedUntil).toBeGreaterThan(performance.now());
    primary.setScript(() => ({ rcode: 5 }));
    await until(() => u.penalisedUntil === 0);
  });

  it('readiness: not ready while every upstream is down, ready once a probe brings one back', async () => {
    const only = track(await startUpstream(() => ({ drop: true })));
    const c2 = await serve([only], { probeIntervalMs: 50, penaltyMs: 60_000 });
    const r = await ask(c2.port, 'a.example.org', T.A);
    expect(r.packet.header.rcode).toBe(2);
    const url = `${c2.server.admin!.url}/readyz`;
    let res = await fetch(url);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { upstreams: { healthy: boolean; reason: string }[] };
    expect(body.upstreams[0]!.reason).toMatch(/^query timed out/);
    only.setScript(zoneScript({}));
    await until(() => c2.server.forward.upstreams[0]!.penalisedUntil === 0);
    res = await fetch(url);
    expect(res.status).toBe(200);
  });

  it('with probeIntervalMs 0 nothing is probed: the penalty runs out instead', async () => {
    const primary = track(await startUpstream(() => ({ drop: true })));
    const backup = track(await startUpstream(answer('192.0.2.2')));
    const c2 = await serve([primary, backup], { probeIntervalMs: 0, penaltyMs: 100 });
    await ask(c2.port, 'a.example.org', T.A);
    await sleep(200);
    expect(primary.received).toHaveLength(1);
    primary.setScript(answer('192.0.2.1'));
    expect((await ask(c2.port, 'b.example.org', T.A)).packet.answers[0]!.address).toBe('192.0.2.1');
  });

  it('close() stops the probes', async () => {
    const dead = track(await startUpstream(() => ({ drop: true })));
    const stage = new ForwardStage({ upstreams: [{ host: '127.0.0.1', port: dead.port, family: 4 }], timeoutMs: 50, penaltyMs: 60_000, probeIntervalMs: 30 });
    await stage.resolve(query('a.example.org', T.A));
    await until(() => dead.received.length >= 2);
    stage.close();
    await sleep(150);
    const n = dead.received.length;
    await sleep(150);
    expect(dead.received.length).toBe(n);
  });
});

describe('the cache in front of the upstreams', () => {
  it('serves an expired answer with TTL 30 and EDE 3 when the upstream goes silent, and counts it', async () => {
    const up = track(await startUpstream(answer('192.0.2.7', 1)));
    const c2 = await serve([up], { timeoutMs: 2000 }, { serveStaleClientTimeoutMs: 100 });
    expect((await ask(c2.port, 'stale.example.org', T.A)).packet.answers[0]!.ttl).toBe(1);
    up.setScript(() => ({ drop: true }));
    await sleep(1100);
    const t0 = Date.now();
    const { packet } = await ask(c2.port, 'stale.example.org', T.A, { edns: {} });
    expect(Date.now() - t0).toBeLessThan(1000); // the client timeout, not the upstream's
    expect(packet.answers.map((a) => [a.address, a.ttl])).toEqual([['192.0.2.7', 30]]);
    expect(edeOf(packet).map((e) => e.infoCode)).toEqual([3]);
    expect(up.received).toHaveLength(2);
    expect(c2.server.cache!.staleServed).toBe(1);
    const lines = await c2.waitForLog(2);
    expect(lines[1]).toMatchObject({ action: 'cached', rcode: 'NOERROR' });
    const metrics = await (await fetch(`${c2.server.admin!.url}/metrics`)).text();
    expect(metrics).toMatch(/^c2dns_cache_stale_served_total 1$/m);
  });

  it('50 concurrent identical queries make one upstream query', async () => {
    const up = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.9' }], delayMs: 400 })));
    const c2 = await serve([up], { timeoutMs: 2000 }, {});
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(c2.port, 'popular.example.org', T.A, { id: 100 + i })));
    expect(up.received).toHaveLength(1);
    replies.forEach((r, i) => {
      expect(r.packet.header.id).toBe(100 + i);
      expect(r.packet.answers[0]!.address).toBe('192.0.2.9');
    });
    expect(c2.server.cache!.coalesced).toBe(49);
    const metrics = await (await fetch(`${c2.server.admin!.url}/metrics`)).text();
    expect(metrics).toMatch(/^c2dns_cache_coalesced_total 49$/m);
    const lines = await c2.waitForLog(50);
    expect(lines.every((l) => l.action === 'allowed')).toBe(true);
  });
});

describe('the fastest draw', () => {
  const ranked = (...latencies: (number | null)[]): (Ranked & { id: number })[] =>
    latencies.map((ms, id) => {
      const health = newHealthState();
      if (ms !== null) recordLatency(health, ms);
      return { id, penalisedUntil: 0, health };
    });
  const firsts = (ups: (Ranked & { id: number })[], draws = 1000): number[] => {
    const n = ups.map(() => 0);
    for (let i = 0; i < draws; i++) n[orderUpstreams(ups, 'fastest', 0, () => i / draws)[0]!.id]!++;
    return n;
  };

  it('weighs the first pick by 1/latency², the rest by latency', () => {
    expect(firsts(ranked(100, 10))).toEqual([10, 990]);
    const [a, b, c] = firsts(ranked(10, 10, 20));
    for (const [got, want] of [[a, 444], [b, 444], [c, 111]] as const) expect(Math.abs(got! - want)).toBeLessThanOrEqual(2);
    expect(orderUpstreams(ranked(30, 10, 20), 'fastest', 0, () => 0.999).map((u) => u.id)).toEqual([2, 1, 0]);
  });

  it('asks an unmeasured upstream first, and a down one last', () => {
    expect(orderUpstreams(ranked(10, null), 'fastest', 0, () => 0).map((u) => u.id)).toEqual([1, 0]);
    const ups = ranked(50, 10);
    ups[1]!.penalisedUntil = 100;
    expect(orderUpstreams(ups, 'fastest', 0, () => 0).map((u) => u.id)).toEqual([0, 1]);
    expect(orderUpstreams(ups, 'failover', 0).map((u) => u.id)).toEqual([0, 1]);
    expect(orderUpstreams(ups, 'failover', 200).map((u) => u.id)).toEqual([0, 1]);
    ups[0]!.penalisedUntil = 100;
    ups[1]!.penalisedUntil = 0;
    expect(orderUpstreams(ups, 'failover', 0).map((u) => u.id)).toEqual([1, 0]);
  });

  it('averages latency with weight 0.3 for the newest sample', () => {
    const h = newHealthState();
    recordLatency(h, 100);
    recordLatency(h, 200);
    expect(h.latencyMs).toBeCloseTo(130);
    expect(h.samples).toBe(2);
  });
});
