// Every upstream down (upstream.allDownScoutMs): one question per interval still goes out as a
// scout, the others are answered at once (SERVFAIL with EDE 22, or stale from the cache), and the
// first reply to a scout ends the outage. Real sockets, scripted upstreams.
import { describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type Script, type Upstream } from '../helpers/upstream.js';
import { edeOf, T } from '../helpers/wire.js';
import { closeAfterEach } from '../helpers/cleanup.js';

const track = closeAfterEach();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const answer = (address: string, ttl = 300): Script => (q) => ({ answers: [{ name: q.name, type: T.A, address, ttl }] });
const silent: Script = () => ({ drop: true });
const SERVFAIL = 2;

async function serve(ups: Upstream[], upstream: Record<string, unknown>, cache: Record<string, unknown> = { maxEntries: 0 }): Promise<TestServer> {
  // No probes: what brings an upstream back here is a scout's reply.
  return track(await startC2dns({ upstreams: ups.map((u) => `127.0.0.1:${u.port}`), upstream: { timeoutMs: 300, probeIntervalMs: 0, ...upstream }, cache }));
}

/** Asks until both upstreams have timed out and are down. */
async function takeDown(c2: TestServer): Promise<void> {
  const r = await ask(c2.port, 'first.example.org', T.A, { timeoutMs: 3000 });
  expect(r.packet.header.rcode).toBe(SERVFAIL);
  expect(c2.server.forward.upstreams.every((u) => u.health.downSince !== null)).toBe(true);
}

describe('every upstream down', () => {
  it('answers at once with SERVFAIL and EDE 22, asking one scout per interval, and counts it', async () => {
    const a = track(await startUpstream(silent));
    const b = track(await startUpstream(silent));
    const c2 = await serve([a, b], { allDownScoutMs: 500 });
    await takeDown(c2);
    const before = a.received.length + b.received.length;
    const t0 = Date.now();
    const timed = async (i: number) => {
      const r = await ask(c2.port, `n${i}.example.org`, T.A, { edns: {}, timeoutMs: 3000 });
      return { ...r, ms: Date.now() - t0 };
    };
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(i)));
    // Every one SERVFAIL with EDE 22 (its text is left out: an error answer stays small, issue 10).
    expect(replies.every((r) => r.packet.header.rcode === SERVFAIL && edeOf(r.packet).some((e) => e.infoCode === 22))).toBe(true);
    // One of the 20 is the scout, asked of both upstreams (SERVFAIL after their 2 × 300 ms); 19 did not wait.
    expect(replies.filter((r) => r.ms < 300)).toHaveLength(19);
    expect(replies.filter((r) => r.ms >= 550)).toHaveLength(1);
    expect(a.received.length + b.received.length - before).toBe(2);
    expect(c2.server.forward.allDown).toBe(19);
    const metrics = await (await fetch(`${c2.server.admin!.url}/metrics`)).text();
    expect(metrics).toMatch(/^c2dns_upstream_all_down_total 19$/m);
    const lines = await c2.waitForLog(21);
    expect(lines.filter((l) => l.action === 'servfail')).toHaveLength(21);
  });

  it('the first scout that is answered brings the upstreams back for everyone', async () => {
    const a = track(await startUpstream(silent));
    const b = track(await startUpstream(silent));
    const c2 = await serve([a, b], { allDownScoutMs: 100 });
    await takeDown(c2);
    a.setScript(answer('192.0.2.1'));
    const t0 = Date.now();
    // Within one interval (plus the answer's round trip) a scout goes out and is answered.
    for (let back = false; !back; ) {
      expect(Date.now() - t0).toBeLessThan(1000);
      const r = await ask(c2.port, `back${Date.now()}.example.org`, T.A);
      back = r.packet.answers[0]?.address === '192.0.2.1';
      if (!back) await sleep(10);
    }
    // Up again: every question is asked once more.
    for (let i = 0; i < 5; i++) expect((await ask(c2.port, `up${i}.example.org`, T.A)).packet.answers[0]!.address).toBe('192.0.2.1');
    expect(c2.server.forward.upstreams[0]!.health.downSince).toBeNull();
  });

  it('a name in the cache is served stale at once instead of after serveStaleClientTimeoutMs', async () => {
    const a = track(await startUpstream(answer('192.0.2.7', 1)));
    const c2 = await serve([a], { allDownScoutMs: 60_000 }, { serveStaleClientTimeoutMs: 1800 });
    expect((await ask(c2.port, 'stale.example.org', T.A)).packet.answers[0]!.ttl).toBe(1);
    a.setScript(silent);
    await takeDown(c2);
    // The one scout of the minute: asked, and SERVFAIL after the upstream's timeout.
    expect((await ask(c2.port, 'scout.example.org', T.A)).packet.header.rcode).toBe(SERVFAIL);
    await sleep(800); // stale.example.org has expired
    const t0 = Date.now();
    const { packet } = await ask(c2.port, 'stale.example.org', T.A, { edns: {} });
    expect(Date.now() - t0).toBeLessThan(300);
    expect(packet.answers.map((x) => [x.address, x.ttl])).toEqual([['192.0.2.7', 30]]);
    expect(edeOf(packet).map((e) => e.infoCode)).toEqual([3]);
    expect(c2.server.cache!.staleServed).toBe(1);
  });

  it('allDownScoutMs 0: every question is still asked of the down upstreams', async () => {
    const a = track(await startUpstream(silent));
    const c2 = await serve([a], { allDownScoutMs: 0 });
    await takeDown(c2);
    const before = a.received.length;
    const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => ask(c2.port, `n${i}.example.org`, T.A, { edns: {}, timeoutMs: 3000 })));
    expect(replies.every((r) => r.packet.header.rcode === SERVFAIL)).toBe(true);
    expect(a.received.length - before).toBe(5);
    expect(c2.server.forward.allDown).toBe(0);
  });
});
