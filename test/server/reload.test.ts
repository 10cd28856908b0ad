// Configuration reload (server/reload.ts): what changed and who applies it, then a running server
// reloading its file through POST /api/reload: lists, upstreams, access, listen addresses, an
// invalid file, the token, the metrics.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { configChanges, effectiveConfig, type Part } from '../../src/server/reload.js';
import { ask } from '../helpers/client.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { makeCa, makeLeaf } from '../helpers/tls.js';
import { rcodeOf, T } from '../helpers/wire.js';

const NXDOMAIN = 3;
const REFUSED = 5;
const TOKEN = 'reload-test-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'c2dns-reload-'));
writeFileSync(join(dir, 'a.txt'), 'a-c2.example\n');
writeFileSync(join(dir, 'b.txt'), 'b-c2.example\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configOf(o: Record<string, unknown>): Config {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, YAML.stringify({ state: { dir: join(dir, 'state') }, log: { queries: 'none' }, ...o }));
  return loadConfig({ file });
}

const listA = { name: 'a', path: join(dir, 'a.txt') };
const listB = { name: 'b', path: join(dir, 'b.txt') };

describe('configChanges: each changed key goes to the part that applies it, or is named as needing a restart', () => {
  const cases: { what: string; from: Record<string, unknown>; to: Record<string, unknown>; parts: Partial<Record<Part, string[]>> }[] = [
    { what: 'nothing', from: {}, to: {}, parts: {} },
    { what: 'a list added', from: { lists: [listA] }, to: { lists: [listA, listB] }, parts: { lists: ['lists'], chain: ['lists'] } },
    { what: 'upstreams and upstream.*', from: { upstreams: ['192.0.2.1'] }, to: { upstreams: ['192.0.2.2'], upstream: { timeoutMs: 900 } }, parts: { upstreams: ['upstreams', 'upstream'] } },
    { what: 'access.allow', from: {}, to: { access: { allow: ['10.0.0.0/8'] } }, parts: { chain: ['access'] } },
    { what: 'blocking and rate limits', from: {}, to: { blocking: { action: 'nxdomain' }, rateLimit: { qps: 7 } }, parts: { chain: ['rateLimit', 'blocking'] } },
    { what: 'groups: the chain and the lists', from: {}, to: { groups: [{ name: 'kids', clients: ['10.1.0.0/16'] }] }, parts: { chain: ['groups'], lists: ['groups'] } },
    { what: 'log.level live, log.destination at restart', from: {}, to: { log: { level: 'debug', destination: join(dir, 'q.log'), queries: 'none' } }, parts: { log: ['log.level'], restart: ['log.destination'] } },
    { what: 'alert sinks live, the spool at restart', from: {}, to: { alerts: { sinks: [{ type: 'file', path: join(dir, 'alerts.jsonl') }], spool: { maxEvents: 50 } } }, parts: { alerts: ['alerts.sinks'], restart: ['alerts.spool'] } },
    { what: 'state.dir, workers, cache, history: restart', from: {}, to: { state: { dir: join(dir, 'elsewhere') }, workers: 2, cache: { maxEntries: 10 }, history: { enabled: false } }, parts: { restart: ['workers', 'history', 'state', 'cache'] } },
    { what: 'listen', from: { listen: ['127.0.0.1:5300'] }, to: { listen: ['127.0.0.1:5301'] }, parts: { listen: ['listen'] } },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const ch = configChanges(configOf(c.from), configOf(c.to));
      expect(Object.fromEntries(ch.byPart)).toEqual(c.parts);
      expect(ch.needsRestart).toEqual(c.parts.restart ?? []);
    });
  }

  it('listen: the entries added and removed, the kept one untouched', () => {
    const ch = configChanges(configOf({ listen: ['127.0.0.1:5300', '127.0.0.1:5301'] }), configOf({ listen: ['127.0.0.1:5301', '127.0.0.1:5302'] }));
    expect(ch.listen).toEqual({ added: ['127.0.0.1:5302'], removed: ['127.0.0.1:5300'] });
  });

  it('the configuration run after a reload keeps the running value of every key that needs a restart', () => {
    const running = configOf({ cache: { maxEntries: 100 }, log: { level: 'info', queries: 'none' } });
    const eff = effectiveConfig(running, configOf({ cache: { maxEntries: 5 }, log: { level: 'debug', queries: 'all' }, access: { allow: ['10.0.0.0/8'] } }));
    expect(eff.cache.maxEntries).toBe(100);
    expect(eff.log).toEqual({ ...running.log, level: 'debug' });
    expect(eff.access.allow).toEqual(['10.0.0.0/8']);
  });
});

interface Api {
  status: number;
  body: Record<string, unknown>;
}

function post(port: number, path: string, token: string | null): Promise<Api> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: token === null ? {} : { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    })
      .on('error', reject)
      .end();
  });
}

describe('a running server reloads its file (POST /api/reload)', () => {
  let up: Upstream;
  let up2: Upstream;
  let server: RunningServer;
  let file: string;
  let base: Record<string, unknown>;
  const write = (o: Record<string, unknown>): void => writeFileSync(file, YAML.stringify({ ...base, ...o }));
  const adminPort = (): number => Number(new URL(server.admin!.url).port);

  beforeAll(async () => {
    up = await startUpstream(zoneScript({ 'www.example 1': [{ name: 'www.example', type: T.A, address: '192.0.2.1', ttl: 60 }] }));
    up2 = await startUpstream(zoneScript({ 'www.example 1': [{ name: 'www.example', type: T.A, address: '192.0.2.2', ttl: 60 }] }));
    file = join(dir, 'running.yaml');
    base = { listen: ['127.0.0.1:0'], upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, state: { dir: join(dir, 'state-running') }, admin: { listen: '127.0.0.1:0', token: TOKEN }, log: { queries: 'none' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }] };
    write({});
    server = await startServer(loadConfig({ file }), pino({ level: 'silent' }), { refresh: true, reloadFrom: () => loadConfig({ file }) });
  });
  afterAll(async () => {
    await server?.close(200);
    await up?.close();
    await up2?.close();
  });

  const port = (): number => server.udp[0]!.port;
  const rcode = async (name: string): Promise<number> => rcodeOf((await ask(port(), name, T.A)).raw);
  const address = async (name: string): Promise<string | undefined> => ((await ask(port(), name, T.A)).packet.answers[0] as { address?: string } | undefined)?.address;

  it('needs the admin token: without it 401 and nothing is read', async () => {
    const r = await post(adminPort(), '/api/reload', null);
    expect(r.status).toBe(401);
    expect((await post(adminPort(), '/api/reload', 'wrong-token-0123456789abcdef0123')).status).toBe(401);
  });

  it('a list added, the upstreams and access changed: applied without a restart, the list blocking at once', async () => {
    expect(await address('a-c2.example')).toBe('0.0.0.0');
    expect(await rcode('b-c2.example')).toBe(NXDOMAIN);
    expect(await address('www.example')).toBe('192.0.2.1');
    write({ upstreams: [`127.0.0.1:${up2.port}`], lists: [{ name: 'a', path: join(dir, 'a.txt') }, { name: 'b', path: join(dir, 'b.txt') }] });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ result: 'ok', error: null, problem: null, needsRestart: [], lists: { added: ['b'], removed: [], changed: [] } });
    expect(r.body.applied).toEqual(expect.arrayContaining(['lists', 'upstreams']));
    expect(await address('b-c2.example')).toBe('0.0.0.0');
    expect(await address('www.example')).toBe('192.0.2.2');
    expect(server.forward.upstreams.map((u) => u.label)).toEqual([`127.0.0.1:${up2.port}`]);
  });

  it('access.allow and blocking: the chain is rebuilt and swapped', async () => {
    write({ upstreams: [`127.0.0.1:${up2.port}`], access: { allow: ['10.0.0.0/8'] }, lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.body).toMatchObject({ result: 'ok', lists: { removed: ['b'] } });
    expect(await rcode('www.example')).toBe(REFUSED);
    write({ upstreams: [`127.0.0.1:${up2.port}`], blocking: { action: 'nxdomain' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    expect((await post(adminPort(), '/api/reload', TOKEN)).body).toMatchObject({ result: 'ok', applied: ['access', 'blocking'] });
    expect(await rcode('a-c2.example')).toBe(NXDOMAIN);
    expect(await rcode('b-c2.example')).toBe(NXDOMAIN); // removed list: forwarded, the zone has no such name
    expect(await address('www.example')).toBe('192.0.2.2');
  });

  it('an invalid file keeps the running configuration: 422 with the reason, counted as invalid', async () => {
    write({ upstreams: [`127.0.0.1:${up2.port}`], blocking: { action: 'nxdomain' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }], access: { allow: ['not-a-network'] } });
    const bad = await post(adminPort(), '/api/reload', TOKEN);
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ result: 'invalid', error: 'config_invalid', applied: [] });
    expect(String(bad.body.detail)).toMatch(/access\.allow/);
    write({ upstreams: [`127.0.0.1:${up2.port}`], lists: [{ name: 'missing', path: join(dir, 'missing.txt') }] });
    const missing = await post(adminPort(), '/api/reload', TOKEN);
    expect(missing.status).toBe(422);
    expect(String(missing.body.detail)).toMatch(/missing\.txt/);
    expect(await rcode('a-c2.example')).toBe(NXDOMAIN); // still blocked as before
    const m = await metricsText(adminPort());
    expect(m).toMatch(/c2dns_config_reload_total\{result="invalid"\} 2/);
    expect(m).toMatch(/c2dns_config_reload_total\{result="ok"\} 3/);
    expect(m).toMatch(/c2dns_config_last_reload_success_timestamp_seconds \d/);
  });

  it('keys that cannot change at runtime are named as needing a restart, the rest applied', async () => {
    write({ upstreams: [`127.0.0.1:${up2.port}`], lists: [{ name: 'a', path: join(dir, 'a.txt') }], cache: { maxEntries: 50 }, workers: 2, log: { queries: 'none', level: 'debug' } });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.body).toMatchObject({ result: 'ok', needsRestart: ['workers', 'cache'] });
    expect(r.body.applied).toEqual(expect.arrayContaining(['blocking', 'log.level']));
    expect(server.cache).toBeNull(); // still the running value
  });

  it('a changed listen address is bound, the removed one closed, the kept one untouched', async () => {
    const before = server.udp.map((a) => a.port);
    const free = await startUpstream(zoneScript({})); // a port known to be free once closed
    const newPort = free.port;
    await free.close();
    write({ listen: ['127.0.0.1:0', `127.0.0.1:${newPort}`], upstreams: [`127.0.0.1:${up2.port}`], lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.body).toMatchObject({ result: 'ok', listen: { added: [`127.0.0.1:${newPort}`], removed: [] } });
    expect(server.udp.map((a) => a.port)).toEqual([before[0], newPort]);
    expect(((await ask(newPort, 'www.example', T.A)).packet.answers[0] as { address: string }).address).toBe('192.0.2.2');
    expect(((await ask(newPort, 'www.example', T.A, { tcp: true })).packet.answers[0] as { address: string }).address).toBe('192.0.2.2');
    write({ listen: [`127.0.0.1:${newPort}`], upstreams: [`127.0.0.1:${up2.port}`], lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    const moved = await post(adminPort(), '/api/reload', TOKEN);
    expect(moved.body).toMatchObject({ result: 'ok', listen: { added: [], removed: [`127.0.0.1:${before[0]}`] } });
    expect(server.udp.map((a) => a.port)).toEqual([newPort]);
    await new Promise((res) => setTimeout(res, 2200)); // the removed UDP socket closes after its grace
    await expect(ask(before[0]!, 'www.example', T.A, { timeoutMs: 300 })).rejects.toThrow();
  });

  it('a listen address already taken: 500 reload_failed, the other parts applied, the address tried again next time', async () => {
    const before = server.udp.map((a) => a.port);
    const taken = `127.0.0.1:${up.port}`; // the test upstream holds it
    write({ listen: [...before.map((p) => `127.0.0.1:${p}`), taken], upstreams: [`127.0.0.1:${up2.port}`], blocking: { action: 'nxdomain' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ result: 'failed', error: 'reload_failed', applied: ['blocking'] });
    expect(String(r.body.problem)).toMatch(/EADDRINUSE/);
    expect(server.udp.map((a) => a.port)).toEqual(before);
    expect(await rcode('a-c2.example')).toBe(NXDOMAIN);
    const again = await post(adminPort(), '/api/reload', TOKEN);
    expect(again.body).toMatchObject({ result: 'failed', applied: [] });
    expect(await metricsText(adminPort())).toMatch(/c2dns_config_reload_total\{result="failed"\} 2/);
  });

  it('a DoT listener added with a first certificate: the certificate needs a restart, so the listener is not bound and the answer says why', async () => {
    const leaf = makeLeaf(makeCa());
    const listen = server.udp.map((a) => `127.0.0.1:${a.port}`);
    write({ listen: [...listen, 'tls://127.0.0.1:0'], tls: { certFile: leaf.certFile, keyFile: leaf.keyFile }, upstreams: [`127.0.0.1:${up2.port}`], blocking: { action: 'nxdomain' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }] });
    const r = await post(adminPort(), '/api/reload', TOKEN);
    expect(r.body).toMatchObject({ result: 'failed', needsRestart: ['tls'] });
    expect(String(r.body.problem)).toMatch(/tls:\/\/127\.0\.0\.1:0: needs tls\.certFile and tls\.keyFile, which only a restart applies/);
    expect(server.dot).toEqual([]);
  });
});

describe('alert sinks follow the file (alerts.sinks)', () => {
  let server: RunningServer;
  let up: Upstream;
  const file = join(dir, 'sinks.yaml');
  const sinkFile = join(dir, 'alerts.jsonl');
  const write = (sinks: unknown[]): void =>
    writeFileSync(
      file,
      YAML.stringify({ listen: ['127.0.0.1:0'], upstreams: [`127.0.0.1:${up.port}`], state: { dir: join(dir, 'state-sinks') }, admin: { listen: '127.0.0.1:0' }, log: { queries: 'none' }, lists: [{ name: 'a', path: join(dir, 'a.txt'), tags: ['c2'] }], alerts: { sinks } }),
    );

  beforeAll(async () => {
    up = await startUpstream(zoneScript({}));
    write([]);
    server = await startServer(loadConfig({ file }), pino({ level: 'silent' }), { refresh: true, reloadFrom: () => loadConfig({ file }) });
  });
  afterAll(async () => {
    await server?.close(200);
    await up?.close();
  });

  it('a sink added by reload receives the next C2 hit; a removed one is closed', async () => {
    expect(server.alerting!.sinks).toHaveLength(0);
    write([{ type: 'file', path: sinkFile }]);
    expect(await server.reloadConfig('test')).toMatchObject({ result: 'ok', applied: ['alerts.sinks'] });
    expect(server.alerting!.sinks.map((s) => s.sink.name)).toHaveLength(1);
    await ask(server.udp[0]!.port, 'a-c2.example', T.A);
    const end = Date.now() + 3000;
    let text = '';
    while (Date.now() < end && !text.includes('c2-hit')) {
      await new Promise((res) => setTimeout(res, 50));
      text = existsSync(sinkFile) ? readFileSync(sinkFile, 'utf8') : '';
    }
    expect(JSON.parse(text.trim().split('\n')[0]!)).toMatchObject({ type: 'c2-hit', client: '127.0.0.1' });
    write([]);
    expect(await server.reloadConfig('test')).toMatchObject({ result: 'ok', applied: ['alerts.sinks'] });
    expect(server.alerting!.sinks).toHaveLength(0);
  });
});

describe('the rate limiter across reloads', () => {
  let server: RunningServer;
  let up: Upstream;
  const file = join(dir, 'ratelimit.yaml');
  const write = (o: Record<string, unknown>): void =>
    writeFileSync(
      file,
      YAML.stringify({ listen: ['127.0.0.1:0'], upstreams: [`127.0.0.1:${up.port}`], state: { dir: join(dir, 'state-rl') }, admin: { enabled: false }, log: { queries: 'none' }, lists: [{ name: 'a', path: join(dir, 'a.txt') }], rateLimit: { qps: 0.1, burst: 3, slip: 0, exempt: [] }, ...o }),
    );
  // A blocked name: answered by c2dns itself, so only the rate limiter can drop it.
  const answered = async (n: number): Promise<number> => {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      try {
        await ask(server.udp[0]!.port, 'a-c2.example', T.A, { timeoutMs: 300 });
        ok++;
      } catch {
        // dropped: over the rate
      }
    }
    return ok;
  };

  beforeAll(async () => {
    up = await startUpstream(zoneScript({}));
    write({});
    server = await startServer(loadConfig({ file }), pino({ level: 'silent' }), { refresh: true, reloadFrom: () => loadConfig({ file }) });
  });
  afterAll(async () => {
    await server?.close(200);
    await up?.close();
  });

  it('unchanged limits keep their buckets when the chain is rebuilt; changed limits start afresh', async () => {
    expect(await answered(5)).toBe(3); // the burst, then dropped
    write({ blocking: { action: 'nxdomain' } });
    expect(await server.reloadConfig('test')).toMatchObject({ result: 'ok', applied: ['blocking'] });
    expect(await answered(2)).toBe(0); // still limited: the same buckets
    write({ blocking: { action: 'nxdomain' }, rateLimit: { qps: 0.1, burst: 4, slip: 0, exempt: [] } });
    expect(await server.reloadConfig('test')).toMatchObject({ result: 'ok', applied: ['rateLimit'] });
    expect(await answered(5)).toBe(4);
  });
});
