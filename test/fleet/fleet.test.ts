// Three c2dns instances in-process (startC2dns with a `cluster` section) against one real
// redis-server on a loopback port: emergency blocks propagate with acknowledgements, a stopped
// instance catches up before its listeners answer, quarantine is shared, a C2 hit seen by two
// instances raises one c2-hit naming both, /api/fleet flags an instance serving an older list,
// and Redis lost mid-test: every instance keeps blocking and the fleet reconciles when it is back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Propagation, FleetView } from '../../src/fleet/types.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const TOKEN = 'fleet-test-token-0123456789abcdef';
const INTEL_V1 = 'known-c2.example\n';
const INTEL_V2 = 'known-c2.example\nnewer-c2.example\n';

if (!redisAvailable()) {
  if (process.env.CI === 'true') throw new Error('redis-server is missing (apt-get install redis-server; .ci/run installs it)');
  console.warn('test/fleet: redis-server not installed: skipped');
}

interface Instance {
  name: string;
  ts: TestServer;
  /** The running server (replaced when the instance is restarted). */
  s: RunningServer;
  port: number;
}

async function api(i: Instance, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${i.s.admin!.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

const answer = async (port: number, name: string, from?: string): Promise<string | null> => {
  const r = await ask(port, name, T.A, { timeoutMs: 2000, ...(from !== undefined ? { from } : {}) });
  const a = r.packet.answers.find((x) => x.type === T.A) as { address?: string } | undefined;
  return a?.address ?? null;
};

/** Polls until `name` is answered `want` by every instance; returns ms taken (or throws after `ms`). */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return Math.round(performance.now() - start);
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!redisAvailable())('fleet: three instances, one Redis', () => {
  let redis: RedisServer;
  let up: Upstream;
  const fleet: Instance[] = [];
  const byName = (n: string): Instance => fleet.find((i) => i.name === n)!;

  const config = (name: string): Record<string, unknown> => ({
    upstreams: [`127.0.0.1:${up.port}`],
    lists: [
      { name: 'intel', path: 'intel.txt', format: 'plain', tags: ['c2'] },
      { name: 'worm', path: 'worm.txt', format: 'plain', tags: ['worm'] },
    ],
    quarantine: { enabled: true, tags: ['worm'] },
    alerts: { windowSeconds: 2 }, // short c2-hit windows: the test sees one close
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    history: { enabled: false },
    log: { queries: 'none' },
    cluster: { redis: redis.url, instance: name, heartbeatSeconds: 1, ackTimeoutMs: 2000, driftSeconds: 1 },
  });

  beforeAll(async () => {
    redis = await startRedis();
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, ttl: 1, address: '192.0.2.10' }] }));
    for (const name of ['a', 'b', 'c']) {
      const ts = await startC2dns(config(name), { 'intel.txt': INTEL_V1, 'worm.txt': 'worm-c2.example\n' });
      fleet.push({ name, ts, s: ts.server, port: ts.port });
    }
  }, 60_000);

  afterAll(async () => {
    for (const i of fleet) await i.s.close(200);
    await up?.close();
    await redis?.close();
  });

  it('a block on A is answered blocked by B and C within 1 s, and the API reports 3/3 acknowledgements', async () => {
    const [a, b, c] = [byName('a'), byName('b'), byName('c')];
    expect(await answer(b.port, 'evil-one.example')).toBe(null); // NXDOMAIN from the upstream: not blocked yet
    const t0 = performance.now();
    const r = await api(a, 'POST', '/api/block?wait=1', { names: ['evil-one.example'], reason: 'fleet test' });
    expect(r.status).toBe(201);
    const p = r.json.propagation as Propagation;
    expect(p.summary, JSON.stringify(p)).toMatch(/^applied on 3\/3 instances in \d+ ms$/);
    expect(p.complete).toBe(true);
    expect(p.missing).toEqual([]);
    expect(p.elapsedMs).toBeLessThan(1000); // applied (acknowledged) everywhere within 1 s
    expect(p.instances.map((i) => i.instance)).toEqual(['a', 'b', 'c']);
    for (const i of p.instances) expect(i.policyVersion).toBeGreaterThan(0);
    // Each acknowledged with the policy version it now serves.
    expect(p.instances.find((i) => i.instance === 'b')!.policyVersion).toBe(b.s.policy.current.version);
    for (const i of [b, c]) {
      const ms = await until(async () => (await answer(i.port, 'evil-one.example')) === '0.0.0.0', 1000 - (performance.now() - t0), `${i.name} blocks evil-one.example`);
      expect(ms).toBeLessThan(1000);
      expect(i.s.emergency.list().map((x) => x.name)).toContain('evil-one.example');
    }
    // A removal made on C reaches A and B the same way.
    const del = await api(c, 'DELETE', '/api/block/evil-one.example?wait=1');
    expect(del.status).toBe(200);
    expect((del.json.propagation as Propagation).summary).toMatch(/^applied on 3\/3 instances/);
    expect(await answer(a.port, 'evil-one.example')).toBe(null);
    expect(await answer(b.port, 'evil-one.example')).toBe(null);
  });

  it('an instance stopped while a block is made has the block when it restarts, before its listeners answer', async () => {
    const [a, c] = [byName('a'), byName('c')];
    await c.s.close(200);
    const r = await api(a, 'POST', '/api/block?wait=1', { names: ['while-away.example'], reason: 'c is down' });
    // C said it left: the change waits for the two live instances only.
    expect((r.json.propagation as Propagation).summary).toMatch(/^applied on 2\/2 instances/);
    // Restart C from its configuration and state directory (no emergency-blocks file has the name).
    const cfg = loadConfig({ file: join(c.ts.dir, 'c2dns.yaml') });
    const s = await startServer(cfg, pino({ level: 'silent' }));
    c.s = s;
    c.port = s.udp[0]!.port;
    // startServer resolves once the listeners are bound: the catch-up happened before.
    expect(s.emergency.list().map((b) => b.name)).toContain('while-away.example');
    expect(s.policy.current.tables.names.match('while-away.example')?.list).toBe('emergency');
    expect(await answer(c.port, 'while-away.example')).toBe('0.0.0.0');
    const ready = await fetch(`${s.admin!.url}/readyz`);
    expect(((await ready.json()) as { fleet: { connected: boolean } }).fleet.connected).toBe(true);
  });

  it('a client quarantined on A is quarantined on B, and released everywhere', async () => {
    const [a, b] = [byName('a'), byName('b')];
    const client = '127.0.0.5';
    expect(await answer(b.port, 'example.org', client)).toBe('192.0.2.10');
    expect(await answer(a.port, 'worm-c2.example', client)).toBe('0.0.0.0'); // quarantines it on A
    await until(async () => b.s.quarantineStore.get(client) !== undefined, 1000, 'B has the quarantine');
    expect(await answer(b.port, 'example.org', client)).toBe('0.0.0.0');
    expect(b.s.quarantineStore.get(client)!.reason).toMatch(/worm-c2\.example/);
    const rel = await api(a, 'DELETE', `/api/quarantine/${client}`);
    expect(rel.status).toBe(200);
    await until(async () => b.s.quarantineStore.get(client) === undefined, 1000, 'B released it');
    expect(await answer(b.port, 'example.org', client)).toBe('192.0.2.10');
  });

  it('a C2 hit seen by A and B within the window raises one c2-hit for the fleet, naming both instances', async () => {
    const [a, b, c] = [byName('a'), byName('b'), byName('c')];
    const client = '127.0.0.6';
    const since = Date.now() - 1;
    await Promise.all([answer(a.port, 'known-c2.example', client), answer(b.port, 'known-c2.example', client)]);
    await answer(b.port, 'known-c2.example', client); // a repeat, counted into B's window
    const hits = (): Record<string, unknown>[] =>
      [a, b, c].flatMap((i) => i.s.alerting!.events.since(since).filter((e) => e.type === 'c2-hit' && e.client === client) as unknown as Record<string, unknown>[]);
    await until(async () => hits().length > 0, 3000, 'a c2-hit');
    await new Promise((r) => setTimeout(r, 700)); // a duplicate would come by now
    const got = hits();
    expect(got).toHaveLength(1);
    expect(got[0]!.instances).toEqual(['a', 'b']);
    expect(['a', 'b']).toContain(got[0]!.instance);
    expect(got[0]!.rule).toBe('known-c2.example');
    // When the fleet's window closes, its owner sums up the hits of every instance: 1 on A, 2 on B.
    const summaries = (): Record<string, unknown>[] =>
      [a, b, c].flatMap((i) => i.s.alerting!.events.since(since).filter((e) => e.type === 'c2-hit-summary' && e.client === client) as unknown as Record<string, unknown>[]);
    await until(async () => summaries().length > 0, 8000, 'a c2-hit-summary');
    await new Promise((r) => setTimeout(r, 300));
    expect(summaries()).toHaveLength(1);
    expect(summaries()[0]).toMatchObject({ count: 3, instances: ['a', 'b'], instance: got[0]!.instance, summaryOf: got[0]!.id });
  }, 20_000);

  it('GET /api/fleet lists the three instances and flags the one serving an older list', async () => {
    const [a, b, c] = [byName('a'), byName('b'), byName('c')];
    // A and B get a new version of the list; C keeps the old one.
    for (const i of [a, b]) {
      writeFileSync(join(i.ts.dir, 'intel.txt'), INTEL_V2);
      expect((await i.s.feeds.refresh(['intel'])).get('intel')).toBe('updated');
    }
    await new Promise((r) => setTimeout(r, 5)); // the fleet first sees the new version after the old one
    for (const i of [c, a, b]) await i.s.fleet!.heartbeat();
    const r = await api(b, 'GET', '/api/fleet');
    expect(r.status).toBe(200);
    const v = r.json as FleetView;
    expect(v.instance).toBe('b');
    expect(v.connected).toBe(true);
    expect(v.instances.map((i) => [i.instance, i.alive, i.self])).toEqual([
      ['a', true, false],
      ['b', true, true],
      ['c', true, false],
    ]);
    const inst = (n: string) => v.instances.find((i) => i.instance === n)!;
    expect(inst('c').flagged).toBe(true);
    expect(inst('c').behind).toEqual(['intel']);
    expect(inst('a').flagged).toBe(false);
    expect(inst('b').flagged).toBe(false);
    const sha = (n: string) => inst(n).lists.find((l) => l.list === 'intel')!.sha256;
    expect(sha('a')).toBe(a.s.feeds.sources.find((s) => s.config.name === 'intel')!.sha256);
    expect(sha('a')).toBe(sha('b'));
    expect(sha('c')).not.toBe(sha('a'));
    expect(inst('c').lists.find((l) => l.list === 'worm')!.behind).toBe(false);
    expect(v.drift).toEqual([{ list: 'intel', newest: sha('a'), newestSeen: expect.any(String), behind: ['c'] }]);
    expect(inst('a').policyVersion).toBe(a.s.policy.current.version);
    expect(inst('a').lastHeartbeat).toMatch(/^\d{4}-/);

    // Behind for longer than cluster.driftSeconds (1 s here): C raises fleet-drift, once, and says so in its metrics.
    const events = (type: string) => c.s.alerting!.events.since(0).filter((e) => e.type === type) as unknown as Record<string, unknown>[];
    await until(async () => events('fleet-drift').length > 0, 5000, 'C raises fleet-drift');
    expect(events('fleet-drift')[0]).toMatchObject({ instance: 'c', list: 'intel', serving: sha('c'), newest: sha('a'), newestOn: ['a', 'b'] });
    expect(await c.s.metrics.render()).toMatch(/^c2dns_fleet_lists_behind 1$/m);
    expect(await a.s.metrics.render()).toMatch(/^c2dns_fleet_lists_behind 0$/m);
    expect(await a.s.metrics.render()).toMatch(/^c2dns_fleet_connected 1$/m);
    // C gets the new version too: the episode ends.
    writeFileSync(join(c.ts.dir, 'intel.txt'), INTEL_V2);
    await c.s.feeds.refresh(['intel']);
    await until(async () => events('fleet-drift-resolved').length > 0, 5000, 'C resolves fleet-drift');
    expect(events('fleet-drift')).toHaveLength(1);
    expect(a.s.alerting!.events.since(0).filter((e) => e.type === 'fleet-drift')).toEqual([]);
  });

  it('20 blocks made on the instances in turn are each acknowledged by all three (median under 1 s; median and max reported)', async () => {
    const times: number[] = [];
    for (let k = 0; k < 20; k++) {
      const on = fleet[k % 3]!;
      const r = await api(on, 'POST', '/api/block?wait=1', { names: [`burst-${k}.example`], reason: 'propagation times' });
      const p = r.json.propagation as Propagation;
      expect(p.summary, JSON.stringify(p)).toMatch(/^applied on 3\/3 instances/);
      times.push(p.elapsedMs);
    }
    for (const i of fleet) expect(await answer(i.port, 'burst-19.example')).toBe('0.0.0.0');
    const sorted = [...times].sort((x, y) => x - y);
    const median = (sorted[9]! + sorted[10]!) / 2;
    console.log(`fleet propagation of 20 emergency blocks to 3 instances (request to the last acknowledgement): median ${median} ms, max ${sorted[19]} ms`);
    // Each one was acknowledged by all three within ackTimeoutMs (above); the typical one well within 1 s.
    // (The maximum is printed, not asserted: on a loaded 2-core CI machine one may stall longer.)
    expect(median).toBeLessThan(1000);
  }, 30_000);

  it('with Redis gone every instance keeps blocking and is still ready; a block made meanwhile reaches the others when Redis is back', async () => {
    const [a, b, c] = [byName('a'), byName('b'), byName('c')];
    await api(a, 'POST', '/api/block?wait=1', { names: ['before-outage.example'], reason: 'outage test' });
    await redis.stop();
    await until(async () => !a.s.fleet!.link.connected && !b.s.fleet!.link.connected, 3000, 'the instances see Redis gone');
    for (const i of [a, b, c]) expect(await answer(i.port, 'before-outage.example')).toBe('0.0.0.0');
    const ready = await fetch(`${a.s.admin!.url}/readyz`);
    expect(ready.status).toBe(200); // degraded, not unready
    const rj = (await ready.json()) as { ready: boolean; fleet: { connected: boolean; problem: string } };
    expect(rj.ready).toBe(true);
    expect(rj.fleet.connected).toBe(false);
    expect(rj.fleet.problem).toMatch(/unreachable/);
    // A block made on A while Redis is away: live on A at once, reported as not shared.
    const r = await api(a, 'POST', '/api/block?wait=1', { names: ['during-outage.example'], reason: 'outage test' });
    expect(r.status).toBe(201);
    expect((r.json.propagation as Propagation).summary).toMatch(/^not shared with the fleet: Redis is unreachable/);
    expect(await answer(a.port, 'during-outage.example')).toBe('0.0.0.0');
    // Redis comes back empty (no persistence): the instances write back what they have and share it.
    await redis.start();
    await until(async () => (await answer(b.port, 'during-outage.example')) === '0.0.0.0' && (await answer(c.port, 'during-outage.example')) === '0.0.0.0', 15_000, 'B and C get the block made during the outage');
    for (const i of [a, b, c]) expect(await answer(i.port, 'before-outage.example')).toBe('0.0.0.0');
    // Each instance resubscribes on its own schedule after the outage (the block above may have come
    // from the write-back, not the channel): a block made after that reaches all three at once.
    let n = 0;
    let summary = '';
    await until(
      async () => {
        const after = await api(b, 'POST', '/api/block?wait=1', { names: [`after-outage-${n++}.example`], reason: 'outage test' });
        summary = (after.json.propagation as Propagation).summary;
        return summary.startsWith('applied on 3/3 instances');
      },
      12_000,
      'a block made after the outage applied on all three',
    );
    expect(summary).toMatch(/^applied on 3\/3 instances/);
    for (const i of [a, b, c]) expect(await answer(i.port, `after-outage-${n - 1}.example`)).toBe('0.0.0.0');
  }, 45_000);
});

describe.skipIf(!redisAvailable())('fleet: an instance started while Redis is down', () => {
  it('starts with its local state, reports the fleet link degraded (still ready), and joins the fleet when Redis comes up', async () => {
    const redis = await startRedis();
    await redis.stop();
    const up = await startUpstream(zoneScript({}));
    const servers: TestServer[] = [];
    try {
      // A long heartbeat: what reaches D below comes through its subscription, not a heartbeat's catch-up.
      const config = (name: string): Record<string, unknown> => ({
        upstreams: [`127.0.0.1:${up.port}`],
        lists: [{ name: 'intel', path: 'intel.txt', format: 'plain', tags: ['c2'] }],
        admin: { listen: '127.0.0.1:0', token: TOKEN },
        history: { enabled: false },
        log: { queries: 'none' },
        cluster: { redis: redis.url, instance: name, heartbeatSeconds: 60, ackTimeoutMs: 3000 },
      });
      const t0 = performance.now();
      const d = await startC2dns(config('d'), { 'intel.txt': INTEL_V1 });
      servers.push(d);
      expect(performance.now() - t0).toBeLessThan(5000);
      const dd: Instance = { name: 'd', ts: d, s: d.server, port: d.port };
      const ready = await fetch(`${d.server.admin!.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { fleet: { connected: boolean } }).fleet.connected).toBe(false);
      const r = await api(dd, 'POST', '/api/block?wait=1', { names: ['made-offline.example'], reason: 'no Redis yet' });
      expect((r.json.propagation as Propagation).version).toBe(null);
      expect(await answer(d.port, 'made-offline.example')).toBe('0.0.0.0');

      await redis.start();
      await until(async () => d.server.fleet!.link.connected && d.server.fleet!.emergencySync.applied > 0, 10_000, 'D connects and writes its block');
      const e = await startC2dns(config('e'), { 'intel.txt': INTEL_V1 });
      servers.push(e);
      const ee: Instance = { name: 'e', ts: e, s: e.server, port: e.port };
      expect(await answer(e.port, 'made-offline.example')).toBe('0.0.0.0'); // caught up at start
      const back = await api(ee, 'POST', '/api/block?wait=1', { names: ['made-on-e.example'], reason: 'D hears it' });
      expect((back.json.propagation as Propagation).summary).toMatch(/^applied on 2\/2 instances/);
      expect(await answer(d.port, 'made-on-e.example')).toBe('0.0.0.0');
    } finally {
      for (const s of servers) await s.close();
      await up.close();
      await redis.close();
    }
  }, 30_000);
});
