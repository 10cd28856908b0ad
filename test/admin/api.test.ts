// The admin listener over real HTTP on 127.0.0.1:0, in front of a real running c2dns: every
// route, the token on mutating calls, 4xx/5xx JSON bodies, body limits, and the OpenAPI document
// describing exactly the routes the server answers.
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_DEFAULT_ALLOW } from '../../src/admin/config.js';
import type { AdminContext, LogReopenResult } from '../../src/admin/context.js';
import { OPENAPI } from '../../src/admin/openapi.js';
import { readinessReport, UpstreamHealth, type StaleList } from '../../src/admin/readiness.js';
import { API_ROUTES, ROUTES } from '../../src/admin/routes/index.js';
import { AdminServer } from '../../src/admin/server.js';
import { check } from '../../src/commands/check.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/observe/metrics.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { parseExposition, sample } from '../observe/exposition.js';
import { FakeEmergency, FakeEvents, FakeQuarantine } from './fakes.js';

const TOKEN = 'test-token-0123456789abcdef';

interface Admin {
  admin: AdminServer;
  ctx: AdminContext;
  emergency: FakeEmergency;
  quarantine: FakeQuarantine;
  events: FakeEvents;
  health: UpstreamHealth;
  errors: unknown[];
  /** How many times the API asked for the query log to be reopened. */
  reopens: number;
  close(): Promise<void>;
}

async function startAdmin(c2: TestServer, o: { token: string | null; stale?: StaleList[] }): Promise<Admin> {
  const s = c2.server;
  const cfg = loadConfig({ file: join(c2.dir, 'c2dns.yaml') });
  const health = new UpstreamHealth(s.forward.upstreams, { windowMs: 60_000 });
  const metrics = new Metrics({
    feeds: s.feeds,
    upstreams: s.forward.upstreams,
    cache: s.cache,
    dispatchCounters: () => s.dispatcher.counters,
    upstreamHealth: () => health.status(),
  });
  s.observers.push(metrics);
  const emergency = new FakeEmergency();
  const quarantine = new FakeQuarantine(['192.168.1.23', '2001:db8::1']);
  const events = new FakeEvents();
  const staleLists = (): StaleList[] => o.stale ?? [];
  const ctx: AdminContext = {
    feeds: s.feeds,
    check: (name) => check(name, s.feeds, cfg),
    emergency,
    quarantine,
    marks: { list: () => [{ client: '192.168.1.23', mark: 'posture:3cx-desktop', list: '3cx-app', name: 'update.3cx.example', since: '2026-12-03T10:00:00.000Z', lastSeen: '2026-12-03T10:05:00.000Z', count: 2 }] },
    chain: s.chain,
    events,
    metrics,
    readiness: () => readinessReport(s.feeds, health, staleLists),
    staleLists,
    reopenLog: (): LogReopenResult => {
      out.reopens++;
      return { reopened: true, destination: c2.logFile, detail: `reopened ${c2.logFile}` };
    },
    token: o.token,
  };
  const errors: unknown[] = [];
  const admin = await AdminServer.start({ listen: { host: '127.0.0.1', port: 0 }, allow: ADMIN_DEFAULT_ALLOW, hosts: [], context: ctx, onError: (e) => errors.push(e) });
  const out: Admin = { admin, ctx, emergency, quarantine, events, health, errors, reopens: 0, close: () => admin.close() };
  return out;
}

interface CallOptions {
  body?: unknown;
  /** Sent as is; a Blob goes without a Content-Type (fetch labels strings text/plain). */
  raw?: string | Blob;
  token?: string | null;
  headers?: Record<string, string>;
}

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function call(a: Admin, method: string, path: string, o: CallOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  const token = o.token === undefined ? TOKEN : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Blob | undefined = o.raw;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${a.admin.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  if (text !== '' && (res.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, json };
}

function expectError(r: Res, status: number, code: string, detail?: RegExp): void {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(Object.keys(r.json).sort()).toEqual(['detail', 'error']);
  expect(r.json.error).toBe(code);
  expect(typeof r.json.detail).toBe('string');
  if (detail) expect(r.json.detail).toMatch(detail);
}

let up: Upstream;
let c2: TestServer;
let a: Admin;

beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
  c2 = await startC2dns(
    { upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'c2', path: 'c2.txt', format: 'plain', tags: ['c2', '3cx'] }, { name: 'allow', path: 'allow.txt', kind: 'allow' }] },
    { 'c2.txt': 'akamaicontainer.com\nmsstorageazure.com\nsbmsa.wiki\n', 'allow.txt': 'good.msstorageazure.com\n' },
  );
  a = await startAdmin(c2, { token: TOKEN });
});

afterAll(async () => {
  await a?.close();
  await c2?.close();
  await up?.close();
});

describe('probes', () => {
  it('GET /healthz is 200 while the process runs; HEAD too, without a body', async () => {
    const r = await call(a, 'GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ok' });
    expect(r.headers.get('cache-control')).toBe('no-store');
    const h = await call(a, 'HEAD', '/healthz');
    expect(h.status).toBe(200);
    expect(h.text).toBe('');
  });

  it('GET /readyz is 200 with every list loaded and a healthy upstream', async () => {
    const r = await call(a, 'GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ready: true, problems: [] });
    const lists = r.json.lists as { list: string; loaded: boolean; entries: number; stale: boolean }[];
    expect(lists.map((l) => [l.list, l.loaded, l.entries, l.stale])).toEqual([
      ['c2', true, 3, false],
      ['allow', true, 1, false],
    ]);
    const ups = r.json.upstreams as { upstream: string; healthy: boolean }[];
    expect(ups).toEqual([expect.objectContaining({ upstream: `127.0.0.1:${up.port}`, healthy: true, reason: null })]);
  });

  it('GET /metrics serves the Prometheus text format and counts real queries', async () => {
    await ask(c2.port, 'akamaicontainer.com', T.A);
    await ask(c2.port, 'example.org', T.A);
    const r = await call(a, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const f = parseExposition(r.text);
    expect(sample(f, 'c2dns_queries_total', { transport: 'udp', qtype: 'A', action: 'blocked' })).toBeGreaterThanOrEqual(1);
    expect(sample(f, 'c2dns_blocks_total', { list: 'c2', tag: '3cx' })).toBeGreaterThanOrEqual(1);
    expect(sample(f, 'c2dns_upstream_healthy', { upstream: `127.0.0.1:${up.port}` })).toBe(1);
    expect(sample(f, 'c2dns_list_entries', { list: 'c2' })).toBe(3);
  });
});

describe('status, lists and check', () => {
  it('GET /api/status summarises the resolver', async () => {
    a.emergency.entries.clear();
    await ask(c2.port, 'example.org', T.A, { tcp: true });
    const r = await call(a, 'GET', '/api/status');
    expect(r.status).toBe(200);
    const j = r.json as Record<string, never>;
    expect(j.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(j.node).toBe(process.version);
    expect(Date.parse(j.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(j.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(j.ready).toBe(true);
    expect((j.queries as { total: number }).total).toBeGreaterThanOrEqual(1);
    expect(j.lists).toEqual({ configured: 2, loaded: 2, stale: [], entries: 4 });
    expect((j.upstreams as unknown[]).length).toBe(1);
    expect(j.cache).toEqual({ entries: c2.server.cache!.size, hits: c2.server.cache!.hits, misses: c2.server.cache!.misses });
    expect(j.emergencyBlocks).toBe(0);
    expect(j.quarantinedClients).toBe(a.quarantine.entries.size);
    expect(j.packets).toEqual({ malformed: 0, dropped: 0, internalErrors: 0 });
  });

  it('GET /api/lists describes every list', async () => {
    const r = await call(a, 'GET', '/api/lists');
    expect(r.status).toBe(200);
    const lists = r.json.lists as Record<string, unknown>[];
    expect(lists).toHaveLength(2);
    expect(lists[0]).toMatchObject({ list: 'c2', kind: 'block', format: 'plain', detectedFormat: 'plain', origin: join(c2.dir, 'c2.txt'), entries: 3, loaded: true, tags: ['c2', '3cx'], rejectedLines: 0, lastFailure: null });
    expect(lists[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(lists[1]).toMatchObject({ list: 'allow', kind: 'allow', entries: 1 });
  });

  it('POST /api/lists/refresh refreshes all lists, or the named ones, and waits for the outcome', async () => {
    let r = await call(a, 'POST', '/api/lists/refresh', { body: {} });
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([
      { list: 'c2', outcome: 'unchanged', failure: null },
      { list: 'allow', outcome: 'unchanged', failure: null },
    ]);
    r = await call(a, 'POST', '/api/lists/refresh'); // no body at all: all lists
    expect((r.json.results as unknown[]).length).toBe(2);
    r = await call(a, 'POST', '/api/lists/refresh', { body: { names: ['allow'] } });
    expect(r.json.results).toEqual([{ list: 'allow', outcome: 'unchanged', failure: null }]);
  });

  it('POST /api/lists/refresh refuses unknown lists and malformed bodies', async () => {
    expectError(await call(a, 'POST', '/api/lists/refresh', { body: { names: ['c2', 'nope'] } }), 400, 'bad_request', /no such list: "nope"; configured: c2, allow/);
    expectError(await call(a, 'POST', '/api/lists/refresh', { body: { names: 'c2' } }), 400, 'bad_request', /names: Expected array/);
    expectError(await call(a, 'POST', '/api/lists/refresh', { body: { name: ['c2'] } }), 400, 'bad_request', /Unrecognized key/);
    expectError(await call(a, 'POST', '/api/lists/refresh', { body: ['c2'] }), 400, 'bad_request');
  });

  it('GET /api/check says what c2dns does with a name and why', async () => {
    let r = await call(a, 'GET', '/api/check?name=CDN.msstorageazure.com.');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'cdn.msstorageazure.com', decision: 'blocked', list: 'c2', rule: 'msstorageazure.com', ruleKind: 'block', tags: ['c2', '3cx'], action: 'null' });
    r = await call(a, 'GET', '/api/check?name=good.msstorageazure.com');
    expect(r.json).toMatchObject({ decision: 'allowed', list: 'allow' });
    r = await call(a, 'GET', '/api/check?name=example.org');
    expect(r.json).toEqual({ name: 'example.org', input: 'name', decision: 'not listed', detail: null, watch: null, guard: [] });
  });

  it('GET /api/check of an IP address says which IP rule would act on it', async () => {
    const r = await call(a, 'GET', '/api/check?name=192.0.2.1');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: '192.0.2.1', input: 'ip', decision: 'not listed', ipRules: { answer: null, client: null } });
  });

  it('GET /api/check refuses a missing or invalid name', async () => {
    expectError(await call(a, 'GET', '/api/check'), 400, 'bad_request', /"name" is required/);
    expectError(await call(a, 'GET', '/api/check?name='), 400, 'bad_request', /"name" is required/);
    expectError(await call(a, 'GET', '/api/check?name=com'), 400, 'bad_request', /single label/);
  });
});

describe('emergency blocks', () => {
  it('POST /api/block adds normalised names with reason, expiry and actor', async () => {
    a.emergency.entries.clear();
    const before = Date.now();
    const r = await call(a, 'POST', '/api/block', { body: { names: ['Evil.Example.', 'cdn.evil.example', 'evil.example'], reason: 'INC-42 beaconing', expiresIn: '1h' } });
    expect(r.status).toBe(201);
    const added = r.json.added as { name: string; expiresAt: string; actor: string; reason: string }[];
    expect(added.map((e) => e.name)).toEqual(['evil.example', 'cdn.evil.example']);
    const exp = Date.parse(added[0]!.expiresAt);
    expect(exp).toBeGreaterThanOrEqual(before + 3600_000);
    expect(exp).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(added[0]).toMatchObject({ reason: 'INC-42 beaconing', actor: 'api 127.0.0.1' });
    const list = await call(a, 'GET', '/api/block');
    expect((list.json.blocks as { name: string }[]).map((b) => b.name).sort()).toEqual(['cdn.evil.example', 'evil.example']);
  });

  it.each([
    ['30m', 1800],
    ['7d', 7 * 86400],
    ['90s', 90],
    ['120', 120],
    [3600, 3600],
  ])('expiresIn %j is %i seconds', async (expiresIn, seconds) => {
    const before = Date.now();
    const r = await call(a, 'POST', '/api/block', { body: { names: ['ttl.example'], reason: 'test', expiresIn } });
    expect(r.status).toBe(201);
    const last = a.emergency.calls.at(-1)!;
    expect(last.expiresAt!).toBeGreaterThanOrEqual(before + seconds * 1000);
    expect(last.expiresAt!).toBeLessThanOrEqual(Date.now() + seconds * 1000);
  });

  it('POST /api/block without expiresIn blocks until removed', async () => {
    const r = await call(a, 'POST', '/api/block', { body: { names: ['forever.example'], reason: 'test' } });
    expect(r.status).toBe(201);
    expect((r.json.added as { expiresAt: unknown }[])[0]!.expiresAt).toBeNull();
  });

  it('POST /api/block refuses bad input with 400 and adds nothing', async () => {
    const calls = a.emergency.calls.length;
    const bad = async (body: unknown, detail: RegExp): Promise<void> => expectError(await call(a, 'POST', '/api/block', { body }), 400, 'bad_request', detail);
    await bad({ names: ['ok.example', '192.0.2.1', 'com'], reason: 'x' }, /"192\.0\.2\.1": an IP address.*"com": a single label/);
    await bad({ names: [], reason: 'x' }, /names: Array must contain at least 1/);
    await bad({ reason: 'x' }, /names: Required/);
    await bad({ names: ['a.example'] }, /reason: Required/);
    await bad({ names: ['a.example'], reason: '   ' }, /reason: expected a reason/);
    await bad({ names: ['a.example'], reason: 'x', expiresIn: '2w' }, /expiresIn: expected a duration/);
    await bad({ names: ['a.example'], reason: 'x', expiresIn: 0 }, /expiresIn: expected a whole number of seconds from 1/);
    await bad({ names: ['a.example'], reason: 'x', expiresIn: '400d' }, /365 days/);
    await bad({ names: ['a.example'], reason: 'x', expiresIn: 1.5 }, /whole number/);
    await bad({ names: ['a.example'], reason: 'x', force: true }, /Unrecognized key.*force/);
    await bad({ names: Array.from({ length: 1001 }, (_, i) => `n${i}.example`), reason: 'x' }, /at most 1000/);
    expect(a.emergency.calls.length).toBe(calls);
  });

  it('POST /api/block passes on a refusal from the emergency component as 400', async () => {
    expectError(await call(a, 'POST', '/api/block', { body: { names: ['google.com'], reason: 'oops' } }), 400, 'bad_request', /protected shared infrastructure/);
  });

  it('DELETE /api/block/{name} removes a block, 404 when there is none, 400 for a non-name', async () => {
    await call(a, 'POST', '/api/block', { body: { names: ['gone.example'], reason: 'test' } });
    const r = await call(a, 'DELETE', '/api/block/Gone.Example');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ removed: 'gone.example' });
    expect(a.emergency.calls.at(-1)).toMatchObject({ op: 'remove', names: ['gone.example'], actor: 'api 127.0.0.1' });
    expectError(await call(a, 'DELETE', '/api/block/gone.example'), 404, 'not_found', /no emergency block for "gone.example"/);
    expectError(await call(a, 'DELETE', '/api/block/not%20a%20name'), 400, 'bad_request', /not a valid name/);
    expectError(await call(a, 'DELETE', '/api/block/%E0%A4%A'), 400, 'bad_request', /percent-encoding/);
  });
});

describe('quarantine and events', () => {
  it('GET /api/quarantine lists quarantined clients', async () => {
    const r = await call(a, 'GET', '/api/quarantine');
    expect(r.status).toBe(200);
    expect((r.json.clients as { client: string }[]).map((c) => c.client)).toEqual([...a.quarantine.entries.keys()]);
  });

  it('DELETE /api/quarantine/{client} releases a client by IP (IPv6 in any spelling), MAC or name, 404/400 otherwise', async () => {
    let r = await call(a, 'DELETE', '/api/quarantine/192.168.1.23');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ released: '192.168.1.23' });
    expectError(await call(a, 'DELETE', '/api/quarantine/192.168.1.23'), 404, 'not_found', /not quarantined/);
    r = await call(a, 'DELETE', '/api/quarantine/2001%3ADB8%3A0%3A%3A1');
    expect(r.json).toEqual({ released: '2001:db8::1' });
    expect(a.quarantine.released.at(-1)).toEqual({ client: '2001:db8::1', actor: 'api 127.0.0.1' });
    // A MAC in any spelling reaches the store in its one form; a name as it is; anything else is a 400.
    a.quarantine.entries.set('aa:bb:cc:dd:ee:0f', { client: 'aa:bb:cc:dd:ee:0f', reason: 'manual', since: new Date().toISOString(), until: null });
    r = await call(a, 'DELETE', '/api/quarantine/AA-BB-CC-DD-EE-0F');
    expect(r.json).toEqual({ released: 'aa:bb:cc:dd:ee:0f' });
    expectError(await call(a, 'DELETE', '/api/quarantine/laptop-7'), 404, 'not_found', /client laptop-7 is not quarantined/);
    expect(a.quarantine.released.at(-1)).toEqual({ client: 'laptop-7', actor: 'api 127.0.0.1' });
    expectError(await call(a, 'DELETE', '/api/quarantine/%3Cscript%3E'), 400, 'bad_request', /expected a client IP address, MAC address or name/);
  });

  it('GET /api/events returns events since an ISO time or a Unix time, oldest first, with a limit', async () => {
    const t0 = Date.parse('2026-03-01T10:00:00Z');
    a.events.events.length = 0;
    a.events.add(t0, 'blocked-query', '192.168.1.5');
    a.events.add(t0 + 1000, 'quarantined', '192.168.1.5');
    a.events.add(t0 + 2000, 'emergency-block', null);
    let r = await call(a, 'GET', '/api/events');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ since: '1970-01-01T00:00:00.000Z', count: 3, truncated: false, next: null });
    r = await call(a, 'GET', '/api/events?since=2026-03-01T10:00:01Z');
    expect((r.json.events as { kind: string }[]).map((e) => e.kind)).toEqual(['quarantined', 'emergency-block']);
    r = await call(a, 'GET', `/api/events?since=${(t0 + 1000) / 1000}`);
    expect(r.json.count).toBe(2);
    r = await call(a, 'GET', `/api/events?since=${t0 + 2000}`);
    expect(r.json).toMatchObject({ since: '2026-03-01T10:00:02.000Z', count: 1 });
    r = await call(a, 'GET', `/api/events?since=${encodeURIComponent('2026-03-01T11:00:00.5+01:00')}`); // 10:00:00.5Z
    expect(r.json.count).toBe(2);
    r = await call(a, 'GET', '/api/events?limit=2');
    expect(r.json).toMatchObject({ count: 2, truncated: true, next: '2026-03-01T10:00:01.000Z' });
    expect((r.json.events as Record<string, unknown>[])[0]).toEqual({ time: '2026-03-01T10:00:00.000Z', kind: 'blocked-query', client: '192.168.1.5', message: 'blocked-query from 192.168.1.5', details: { qname: 'akamaicontainer.com', tags: ['c2'] } });
  });

  it('GET /api/events refuses a bad since or limit', async () => {
    expectError(await call(a, 'GET', '/api/events?since=yesterday'), 400, 'bad_request', /since: expected an ISO 8601 time/);
    expectError(await call(a, 'GET', '/api/events?since=2026-13-45'), 400, 'bad_request', /since/);
    expectError(await call(a, 'GET', '/api/events?limit=0'), 400, 'bad_request', /limit/);
    expectError(await call(a, 'GET', '/api/events?limit=10001'), 400, 'bad_request', /limit/);
    expectError(await call(a, 'GET', '/api/events?limit=5x'), 400, 'bad_request', /limit/);
  });

  it('answers 500 JSON, and reports the error, when a component fails', async () => {
    a.events.fail = new Error('event store unavailable');
    try {
      expectError(await call(a, 'GET', '/api/events'), 500, 'internal_error', /operational log/);
      expect(a.errors.at(-1)).toBe(a.events.fail);
    } finally {
      a.events.fail = null;
    }
  });
});

describe('query log', () => {
  it('POST /api/log/reopen asks c2dns to reopen the query log and says what it did', async () => {
    const before = a.reopens;
    const r = await call(a, 'POST', '/api/log/reopen');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ reopened: true, destination: c2.logFile, detail: `reopened ${c2.logFile}` });
    expect(a.reopens).toBe(before + 1);
  });

  it('answers 500 log_reopen_failed when the file cannot be reopened', async () => {
    const saved = a.ctx.reopenLog;
    const errors = a.errors.length;
    a.ctx.reopenLog = () => Promise.reject(new Error("EISDIR: illegal operation on a directory, open '/var/log/c2dns/queries.log'"));
    try {
      expectError(await call(a, 'POST', '/api/log/reopen'), 500, 'log_reopen_failed', /could not be reopened \(lines keep going to the previous file\): EISDIR/);
      expect(a.errors.length).toBe(errors); // an expected failure, logged by the implementation, not as a crash
    } finally {
      a.ctx.reopenLog = saved;
    }
  });
});

describe('authentication of mutating calls', () => {
  const mutating = [
    ['POST', '/api/lists/refresh'],
    ['POST', '/api/block'],
    ['DELETE', '/api/block/evil.example'],
    ['DELETE', '/api/quarantine/192.0.2.1'],
    ['POST', '/api/log/reopen'],
  ] as const;

  it.each(mutating)('%s %s needs the bearer token', async (method, path) => {
    const body = method === 'POST' ? { body: { names: ['evil.example'], reason: 'x' } } : {};
    const calls = a.emergency.calls.length;
    const reopens = a.reopens;
    for (const header of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, 'Bearer', `Bearer ${TOKEN} extra`]) {
      const r = await call(a, method, path, { ...body, token: null, headers: header === undefined ? {} : { authorization: header } });
      expectError(r, 401, 'unauthorized');
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="c2dns-admin"');
    }
    expect(a.emergency.calls.length).toBe(calls);
    expect(a.reopens).toBe(reopens);
  });

  it('accepts the scheme name in any case', async () => {
    const r = await call(a, 'POST', '/api/block', { body: { names: ['case.example'], reason: 'x' }, token: null, headers: { authorization: `bearer ${TOKEN}` } });
    expect(r.status).toBe(201);
  });

  it('checks the token before reading the body', async () => {
    expectError(await call(a, 'POST', '/api/block', { raw: '{not json', token: null, headers: { 'content-type': 'application/json' } }), 401, 'unauthorized');
  });

  it('GET calls need no token on a loopback listener', async () => {
    for (const path of ['/api/status', '/api/lists', '/api/block', '/api/quarantine', '/api/events', '/api/openapi.json', '/metrics', '/readyz']) {
      expect((await call(a, 'GET', path, { token: null })).status).toBe(200);
    }
  });

  describe('with no token configured', () => {
    let b: Admin;
    beforeAll(async () => {
      b = await startAdmin(c2, { token: null });
    });
    afterAll(async () => b.close());

    it.each(mutating)('%s %s is refused with 403 saying how to set one', async (method, path) => {
      const r = await call(b, method, path, { body: { names: ['evil.example'], reason: 'x' } });
      expectError(r, 403, 'forbidden', /admin\.token.*C2DNS_ADMIN_TOKEN/);
      expect(b.emergency.calls).toEqual([]);
      expect(b.reopens).toBe(0);
    });

    it('still serves GET calls', async () => {
      expect((await call(b, 'GET', '/api/status', { token: null })).status).toBe(200);
    });
  });
});

describe('bad requests', () => {
  it('unknown routes are 404 JSON', async () => {
    expectError(await call(a, 'GET', '/nope'), 404, 'not_found', /no route GET \/nope; GET \/api\/openapi.json lists them/);
    expectError(await call(a, 'GET', '/api/lists/'), 404, 'not_found');
    expectError(await call(a, 'GET', '/api'), 404, 'not_found');
    expectError(await call(a, 'POST', '/api/block/x.example'), 405, 'method_not_allowed');
    expectError(await call(a, 'DELETE', '/api/block/'), 404, 'not_found');
  });

  it('a wrong method is 405 with Allow, before any token check', async () => {
    let r = await call(a, 'PUT', '/api/block', { token: null });
    expectError(r, 405, 'method_not_allowed', /\/api\/block accepts GET, POST, HEAD, not PUT/);
    expect(r.headers.get('allow')).toBe('GET, POST, HEAD');
    r = await call(a, 'DELETE', '/api/lists', { token: null });
    expectError(r, 405, 'method_not_allowed');
    expect(r.headers.get('allow')).toBe('GET, HEAD');
    r = await call(a, 'GET', '/api/lists/refresh');
    expect(r.headers.get('allow')).toBe('POST');
  });

  it('a body that is not JSON is 400', async () => {
    expectError(await call(a, 'POST', '/api/block', { raw: '{"names": ["a.example"], ', headers: { 'content-type': 'application/json' } }), 400, 'bad_request', /not valid JSON/);
  });

  it('a change with a body but no Content-Type is 415 (CSRF: only JSON is accepted)', async () => {
    expectError(await call(a, 'POST', '/api/block', { raw: new Blob(['{"names": ["a.example"], "reason": "x"}']) }), 415, 'unsupported_media_type', /Content-Type: application\/json/);
    expectError(await call(a, 'DELETE', '/api/block/a.example', { raw: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  });

  it('a body declared as something else than JSON is 415', async () => {
    expectError(await call(a, 'POST', '/api/block', { raw: 'names=a.example', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    const r = await call(a, 'POST', '/api/block', { raw: JSON.stringify({ names: ['ct.example'], reason: 'x' }), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(r.status).toBe(201);
  });

  it('a body over 64 KB is 413, whether declared or streamed', async () => {
    const big = { names: ['a.example'], reason: 'x'.repeat(70_000) };
    const r = await call(a, 'POST', '/api/block', { body: big });
    expectError(r, 413, 'payload_too_large', /65536 bytes/);
    // Chunked, no Content-Length: the cap applies while reading.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${a.admin.url}/api/block`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      const chunk = 'x'.repeat(8192);
      req.write('{"names":["a.example"],"reason":"');
      for (let i = 0; i < 9; i++) req.write(chunk);
      req.end('"}');
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: 'payload_too_large' });
    // The listener is still fine afterwards.
    expect((await call(a, 'GET', '/healthz')).status).toBe(200);
  });

  it('a body just under the cap is accepted', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${i}.${'x'.repeat(40)}.example`);
    const body = JSON.stringify({ names, reason: 'bulk' });
    expect(body.length).toBeLessThan(64 * 1024);
    const r = await call(a, 'POST', '/api/block', { raw: body, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(201);
  });
});

describe('not ready', () => {
  let deadUp: Upstream;
  let bad: TestServer;
  let b: Admin;
  beforeAll(async () => {
    deadUp = await startUpstream(() => ({ drop: true }));
    bad = await startC2dns(
      {
        upstreams: [`127.0.0.1:${deadUp.port}`],
        upstream: { timeoutMs: 100, penaltyMs: 30_000 },
        lists: [
          { name: 'local', path: 'local.txt', format: 'plain' },
          { name: 'feed', url: 'http://reader:s3cret@127.0.0.1:1/feed.txt?auth_key=SECRET123&format=plain', format: 'plain', timeoutMs: 200, retries: 0 },
        ],
      },
      { 'local.txt': 'akamaicontainer.com\n' },
    );
    b = await startAdmin(bad, { token: TOKEN, stale: [{ list: 'local', lastSuccess: Date.now() - 3_600_000, thresholdSeconds: 600 }] });
  });
  afterAll(async () => {
    await b?.close();
    await bad?.close();
    await deadUp?.close();
  });

  it('GET /readyz is 503 while a list has no usable copy, with details per list', async () => {
    const r = await call(b, 'GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.json.ready).toBe(false);
    expect(r.json.problems).toEqual([expect.stringMatching(/^list "feed" has no usable copy \(last failure: network: /)]);
    const lists = r.json.lists as Record<string, unknown>[];
    expect(lists[0]).toMatchObject({ list: 'local', loaded: true, stale: true, staleThresholdSeconds: 600 });
    expect(lists[1]).toMatchObject({ list: 'feed', loaded: false, entries: 0, stale: false, lastSuccess: null, lastFailure: { reason: 'network' } });
  });

  it('and when no upstream is healthy, with details per upstream', async () => {
    const reply = await ask(bad.port, 'example.org', T.A, { timeoutMs: 3000 });
    expect(reply.packet.header.rcode).toBe(2);
    const r = await call(b, 'GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.json.problems).toEqual([expect.stringMatching(/list "feed"/), expect.stringMatching(/^no healthy upstream: 127\.0\.0\.1:\d+ query timed out: tried last for another \d+ ms$/)]);
    const u = (r.json.upstreams as Record<string, unknown>[])[0]!;
    expect(u).toMatchObject({ healthy: false, timeouts: 1, responses: 0 });
    expect(u.penalisedForMs).toBeGreaterThan(20_000);
    expect(u.lastTimeout).not.toBeNull();
    const m = parseExposition((await call(b, 'GET', '/metrics')).text);
    expect(sample(m, 'c2dns_upstream_healthy', { upstream: `127.0.0.1:${deadUp.port}` })).toBe(0);
    expect(sample(m, 'c2dns_list_loaded', { list: 'feed' })).toBe(0);
    expect(sample(m, 'c2dns_list_refresh_failures_total', { list: 'feed', reason: 'network' })).toBe(1);
  });

  it('GET /api/lists redacts credentials in feed URLs', async () => {
    const r = await call(b, 'GET', '/api/lists');
    expect(r.text).not.toMatch(/s3cret|SECRET123/);
    expect((r.json.lists as { origin: string }[])[1]!.origin).toBe('http://redacted@127.0.0.1:1/feed.txt?auth_key=redacted&format=redacted');
  });

  it('GET /api/status reports not ready and the stale list', async () => {
    const r = await call(b, 'GET', '/api/status');
    expect(r.json).toMatchObject({ ready: false, lists: { configured: 2, loaded: 1, stale: ['local'] } });
  });

  it('POST /api/lists/refresh reports a failed update with its reason', async () => {
    const r = await call(b, 'POST', '/api/lists/refresh', { body: { names: ['feed'] } });
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([{ list: 'feed', outcome: 'failed', failure: { reason: 'network', message: expect.any(String) } }]);
  });
});

describe('OpenAPI document', () => {
  type Op = { method: string; path: string };
  const docOps: Op[] = Object.entries(OPENAPI.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
  const key = (o: Op): string => `${o.method} ${o.path}`;

  it('GET /api/openapi.json serves it', async () => {
    const r = await call(a, 'GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json).toEqual(JSON.parse(JSON.stringify(OPENAPI)));
    expect(r.json.openapi).toBe('3.1.0');
  });

  it('describes exactly the routes the server has, but for the web console\'s pages and files', () => {
    expect(docOps.map(key).sort()).toEqual(API_ROUTES.map(key).sort());
    expect(ROUTES.filter((r) => !API_ROUTES.includes(r)).every((r) => !r.path.startsWith('/api/') && r.method === 'GET')).toBe(true);
  });

  it('every operation it describes is answered by the server (not 404/405 for the route)', async () => {
    const example = (p: string): string => p.replace('{name}', 'openapi-probe.example').replace('{client}', '192.0.2.99');
    for (const op of docOps) {
      const r = await call(a, op.method, `${example(op.path)}${op.path === '/api/check' ? '?name=example.org' : ''}`, op.method === 'POST' ? { body: op.path === '/api/block' ? { names: ['openapi-probe.example'], reason: 'probe' } : {} } : {});
      expect(r.status, key(op)).not.toBe(405);
      if (r.status === 404) expect(r.json.detail, key(op)).not.toMatch(/^no route/);
      const documented = Object.keys(OPENAPI.paths[op.path]![op.method.toLowerCase() as 'get' | 'post' | 'delete']!.responses);
      expect(documented, `${key(op)} answered ${r.status}`).toContain(String(r.status));
    }
  });

  it('and a route it does not describe is 404', async () => {
    for (const path of ['/api/admin', '/api/openapi.yaml', '/metrics/extra', '/api/block/a/b']) expectError(await call(a, 'GET', path), 404, 'not_found', /^no route/);
  });

  it('marks mutating operations as needing the token, /api reads as needing it off loopback, probes as open; declares every path parameter', () => {
    for (const [path, ops] of Object.entries(OPENAPI.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        if (method !== 'get') expect(op.security, where).toEqual([{ bearerAuth: [] }]);
        else if (path === '/api/console/stream') expect(op.security, where).toEqual([{ bearerAuth: [] }, { consoleTicket: [] }, {}]);
        else if (path.startsWith('/api/')) expect(op.security, where).toEqual([{ bearerAuth: [] }, {}]);
        else expect(op.security, where).toEqual([]);
        // Every operation can meet admin.allow (403) and the Host check (421); /api ones the token (401).
        expect(op.responses['403'], where).toBeDefined();
        expect(op.responses['421'], where).toBeDefined();
        expect(op.responses['401'] !== undefined, where).toBe(path.startsWith('/api/'));
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared, `${method} ${path}`).toEqual(params);
      }
    }
    const ids = Object.values(OPENAPI.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has no dangling $ref', () => {
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref' && typeof x === 'string') refs.push(x);
          else walk(x);
        }
      }
    };
    walk(OPENAPI);
    expect(refs.length).toBeGreaterThan(10);
    for (const r of refs) {
      const [, section, name] = /^#\/components\/(schemas|responses)\/(\w+)$/.exec(r) ?? [];
      expect(section, r).toBeDefined();
      expect(OPENAPI.components[section as 'schemas' | 'responses'][name!], r).toBeDefined();
    }
  });
});
