// Who may use the admin listener, over real sockets against c2dns started from a real config file
// (the path `c2dns serve` takes): admin.allow (403 outside, probes included; clients are told
// apart by the loopback source address they bind), the Host header check against DNS rebinding
// (421), and the bearer token for every /api read when the listener is not bound to loopback.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'security-test-token-0123456789';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
  text: string;
}

interface Req {
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Source address of the connection (any 127.x works on Linux loopback). */
  from?: string;
  /** Destination address; default 127.0.0.1. */
  to?: string;
}

/** One request with node:http, which (unlike fetch) lets a test set Host and the source address. */
function request(port: number, path: string, o: Req = {}): Promise<Res> {
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...o.headers };
  if (o.host !== undefined) headers.host = o.host;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: o.to ?? '127.0.0.1', port, path, method: o.method ?? 'GET', headers, ...(o.from !== undefined ? { localAddress: o.from } : {}), agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        if ((res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text) as Record<string, unknown>;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (t = TOKEN): Record<string, string> => ({ authorization: `Bearer ${t}` });

function expectError(r: Res, status: number, code: string, detail?: RegExp): void {
  expect(r.status, r.text).toBe(status);
  expect(r.json.error).toBe(code);
  if (detail) expect(r.json.detail).toMatch(detail);
}

let up: Upstream;
const servers: TestServer[] = [];

async function c2dnsWithAdmin(admin: Record<string, unknown>): Promise<{ c2: TestServer; port: number }> {
  const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'c2', path: 'c2.txt' }], admin }, { 'c2.txt': 'akamaicontainer.com\n' });
  servers.push(c2);
  return { c2, port: c2.server.admin!.address.port };
}

beforeAll(async () => {
  up = await startUpstream(zoneScript({}));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await up?.close();
});

const PROBES = ['/healthz', '/readyz', '/metrics'];
const API_READS = ['/api/status', '/api/lists', '/api/check?name=example.org', '/api/block', '/api/quarantine', '/api/marks', '/api/events', '/api/openapi.json'];

describe('admin.allow', () => {
  it('by default serves loopback callers (all of 127.0.0.0/8)', async () => {
    const { port } = await c2dnsWithAdmin({ listen: '127.0.0.1:0' });
    for (const from of ['127.0.0.1', '127.0.0.9']) {
      expect((await request(port, '/healthz', { from })).status, from).toBe(200);
      expect((await request(port, '/api/status', { from })).status, from).toBe(200);
    }
  });

  it('refuses every route, probes included, to a caller outside it, with 403 naming the caller and the setting', async () => {
    const { c2, port } = await c2dnsWithAdmin({ listen: '127.0.0.1:0', allow: ['127.0.0.2/32', '10.0.0.0/8'], token: TOKEN });
    for (const path of [...PROBES, ...API_READS]) {
      expectError(await request(port, path, { from: '127.0.0.1', headers: bearer() }), 403, 'forbidden', /^127\.0\.0\.1 is not in admin\.allow \(127\.0\.0\.2\/32, 10\.0\.0\.0\/8\): add its network there/);
    }
    // A change with the right token is refused as well, and nothing changes.
    const blocked = await request(port, '/api/block', { method: 'POST', from: '127.0.0.1', headers: bearer(), body: { names: ['evil.example'], reason: 'x' } });
    expectError(blocked, 403, 'forbidden', /not in admin\.allow/);
    expect(c2.server.emergency.list()).toEqual([]);
    // The allowed address is served.
    expect((await request(port, '/healthz', { from: '127.0.0.2' })).status).toBe(200);
    const ok = await request(port, '/api/block', { method: 'POST', from: '127.0.0.2', headers: bearer(), body: { names: ['evil.example'], reason: 'allowed caller' } });
    expect(ok.status).toBe(201);
    expect(c2.server.emergency.list().map((b) => b.name)).toEqual(['evil.example']);
  });

  it('matches IPv6 callers, and IPv4 callers of a dual-stack listener by their IPv4 address', async () => {
    const v6 = await c2dnsWithAdmin({ listen: '[::1]:0' });
    expect((await request(v6.port, '/healthz', { to: '::1' })).status).toBe(200);
    const only = await c2dnsWithAdmin({ listen: '[::1]:0', allow: ['127.0.0.0/8'] });
    expectError(await request(only.port, '/healthz', { to: '::1' }), 403, 'forbidden', /^::1 is not in admin\.allow/);
    // [::]: IPv4 callers arrive as ::ffff:127.0.0.1 and are matched as 127.0.0.1.
    const dual = await c2dnsWithAdmin({ listen: '[::]:0', allow: ['127.0.0.1/32'], token: TOKEN });
    expect((await request(dual.port, '/healthz', { to: '127.0.0.1' })).status).toBe(200);
    expectError(await request(dual.port, '/healthz', { to: '::1' }), 403, 'forbidden', /^::1 is not in admin\.allow/);
  });
});

describe('Host header (DNS rebinding)', () => {
  let c2: TestServer;
  let port: number;
  beforeAll(async () => {
    ({ c2, port } = await c2dnsWithAdmin({ listen: '127.0.0.1:0', hosts: ['c2dns.lan', 'Resolver.Example.ORG.'], token: TOKEN }));
  });

  it('accepts IP literals, localhost and the names in admin.hosts, with or without a port, in any case', async () => {
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`, `localhost:${port}`, 'LOCALHOST', `c2dns.lan:${port}`, 'C2DNS.LAN.', `resolver.example.org:${port}`, `192.0.2.2:8080`]) {
      const r = await request(port, '/api/status', { host });
      expect(r.status, host).toBe(200);
    }
  });

  it('refuses any other name with 421 before the route runs, even with the right token', async () => {
    for (const host of [`evil.example:${port}`, 'rebind.attacker.example', `localhost.evil.example:${port}`, `c2dns.lan.evil.example`]) {
      for (const path of ['/healthz', '/metrics', '/api/status', '/api/events']) {
        expectError(await request(port, path, { host, headers: bearer() }), 421, 'misdirected_request', /Host header names ".+", which is not an address of this admin listener.*admin\.hosts \(c2dns\.lan, resolver\.example\.org\).*DNS rebinding/);
      }
    }
    const r = await request(port, '/api/block', { method: 'POST', host: 'evil.example', headers: bearer(), body: { names: ['rebound.example'], reason: 'x' } });
    expectError(r, 421, 'misdirected_request');
    expect(c2.server.emergency.list()).toEqual([]);
  });

  it('refuses a Host header that is not a host name', async () => {
    expectError(await request(port, '/healthz', { host: `[::1` }), 421, 'misdirected_request', /not a host name or address/);
  });

  it('admin.allow is checked first: an outside caller gets 403 whatever the Host', async () => {
    const other = await c2dnsWithAdmin({ listen: '127.0.0.1:0', allow: ['127.0.0.2/32'] });
    expectError(await request(other.port, '/healthz', { host: 'evil.example' }), 403, 'forbidden');
  });
});

describe('a listener not bound to loopback', () => {
  let port: number;
  let noToken: number;
  beforeAll(async () => {
    // 0.0.0.0, but admin.allow keeps it to this machine: only loopback callers are served.
    ({ port } = await c2dnsWithAdmin({ listen: '0.0.0.0:0', allow: ['127.0.0.0/8'], token: TOKEN }));
    ({ port: noToken } = await c2dnsWithAdmin({ listen: '0.0.0.0:0', allow: ['127.0.0.0/8'] }));
  });

  it('knows it is not on loopback', () => {
    const admin = servers.at(-2)!.server.admin!;
    expect(admin.address.host).toBe('0.0.0.0');
    expect(admin.apiReadsNeedToken).toBe(true);
    expect(servers[0]!.server.admin!.apiReadsNeedToken).toBe(false);
  });

  it('needs the bearer token for every /api read (401 without it or with a wrong one)', async () => {
    for (const path of API_READS) {
      const missing = await request(port, path);
      expectError(missing, 401, 'unauthorized', /not on loopback, so reading \/api and needs the header "Authorization: Bearer TOKEN"/);
      expect(missing.headers['www-authenticate']).toBe('Bearer realm="c2dns-admin"');
      expectError(await request(port, path, { headers: bearer(`${TOKEN}x`) }), 401, 'unauthorized', /not the configured admin token/);
      expect((await request(port, path, { headers: bearer() })).status, path).toBe(200);
    }
  });

  it('keeps /healthz, /readyz and /metrics open to admin.allow', async () => {
    for (const path of PROBES) expect((await request(port, path)).status, path).toBe(200);
  });

  it('with no token configured refuses /api reads with 403 saying how to set one, and still serves the probes', async () => {
    for (const path of API_READS) expectError(await request(noToken, path), 403, 'forbidden', /not on loopback, so reading \/api needs the admin token, and none is configured: set admin\.token .*C2DNS_ADMIN_TOKEN/);
    for (const path of PROBES) expect((await request(noToken, path)).status, path).toBe(200);
  });
});
