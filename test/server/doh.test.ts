// The DNS-over-HTTPS listener (RFC 8484) over real TLS with a certificate made in the test: GET
// ?dns= and POST application/dns-message over HTTP/2 and HTTP/1.1, blocked answers with EDE,
// Cache-Control from the answer's TTLs (§5.1), HTTP errors for requests without a usable query,
// transport "doh" in the log and metrics, X-Forwarded-For from trusted proxies only, the path from
// the listen URL, curl as an independent client, and the certificate reload.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dohMaxAge, forwardedClient } from '../../src/server/doh.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { H2Client, http1Request } from '../helpers/encrypted.js';
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from '../helpers/tls.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, edeOf, rcodeOf, T } from '../helpers/wire.js';

const ZONE = {
  'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }],
  'multi.example.org 1': [
    { name: 'multi.example.org', type: T.A, address: '192.0.2.20', ttl: 600 },
    { name: 'multi.example.org', type: T.A, address: '192.0.2.21', ttl: 30 },
  ],
};
const b64url = (b: Buffer): string => b.toString('base64url');
const DNS = 'application/dns-message';

let ca: TestCa;
let leaf: TestLeaf;
let up: Upstream;
let c2: TestServer;
let port: number;
let h2: H2Client;

beforeAll(async () => {
  ca = makeCa();
  leaf = makeLeaf(ca);
  up = await startUpstream(zoneScript(ZONE, 45));
  c2 = await startC2dns({
    listen: ['127.0.0.1:0', 'https://127.0.0.1:0/dns-query'],
    tls: { certFile: leaf.certFile, keyFile: leaf.keyFile },
    upstreams: [`127.0.0.1:${up.port}`],
    cache: { maxEntries: 0 },
  });
  port = c2.server.doh[0]!.address.port;
  h2 = await H2Client.connect(port, ca.certPem);
});

afterAll(async () => {
  h2?.close();
  await c2?.close();
  await up?.close();
});

describe('DoH listener: queries', () => {
  it('GET ?dns= over HTTP/2: 200 application/dns-message, the answer, max-age = its TTL', async () => {
    const r = await h2.request({ path: `/dns-query?dns=${b64url(buildQuery('example.org', T.A, { id: 0 }))}`, headers: { accept: DNS } });
    expect(r.version).toBe('2');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(DNS);
    expect(r.headers['cache-control']).toBe('max-age=120');
    const p = decode(r.body);
    expect(p.header.id).toBe(0);
    expect(p.answers[0]).toMatchObject({ name: 'example.org', address: '192.0.2.10' });
  });

  it('POST over HTTP/2 with several streams on one connection', async () => {
    const rs = await Promise.all(
      [1, 2, 3].map((id) => h2.request({ method: 'POST', path: '/dns-query', body: buildQuery('example.org', T.A, { id }), headers: { 'content-type': DNS, accept: DNS } })),
    );
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(rs.map((r) => decode(r.body).header.id)).toEqual([1, 2, 3]);
    expect(c2.server.doh[0]!.url).toBe(`https://127.0.0.1:${port}/dns-query`);
  });

  it('GET and POST over HTTP/1.1', async () => {
    const g = await http1Request(port, ca.certPem, { path: `/dns-query?dns=${b64url(buildQuery('example.org', T.A, { id: 5 }))}` });
    expect(g.version).toBe('1.1');
    expect(g.status).toBe(200);
    expect(decode(g.body).header.id).toBe(5);
    const p = await http1Request(port, ca.certPem, { method: 'POST', path: '/dns-query', body: buildQuery('example.org', T.A, { id: 6 }), headers: { 'content-type': DNS } });
    expect(p.status).toBe(200);
    expect(p.headers['content-type']).toBe(DNS);
    expect(decode(p.body).answers[0]).toMatchObject({ address: '192.0.2.10' });
  });

  it('max-age is the smallest TTL of the answer section; a negative answer uses min(SOA TTL, MINIMUM)', async () => {
    const multi = await h2.request({ path: `/dns-query?dns=${b64url(buildQuery('multi.example.org', T.A))}` });
    expect(multi.headers['cache-control']).toBe('max-age=30');
    const nx = await h2.request({ path: `/dns-query?dns=${b64url(buildQuery('nothing.example.org', T.A))}` });
    expect(nx.status).toBe(200); // NXDOMAIN is a DNS answer, not an HTTP error
    expect(rcodeOf(nx.body)).toBe(3);
    expect(nx.headers['cache-control']).toBe('max-age=45'); // SOA TTL 600, MINIMUM 45
  });

  it('a blocked name: 0.0.0.0 with EDE 15 and the Decision in the log, transport "doh"', async () => {
    const r = await h2.request({ method: 'POST', path: '/dns-query', body: buildQuery('akamaicontainer.com', T.A, { edns: {} }), headers: { 'content-type': DNS } });
    expect(r.status).toBe(200);
    const p = decode(r.body);
    expect(p.answers[0]).toMatchObject({ address: '0.0.0.0', ttl: 300 });
    expect(edeOf(p)).toEqual([{ infoCode: 15, text: 'blocked by c2dns: list=3cx rule=akamaicontainer.com' }]);
    expect(r.headers['cache-control']).toBe('max-age=300');
    const lines = await c2.waitForQueries(['akamaicontainer.com']);
    expect(lines.find((l) => l.qname === 'akamaicontainer.com')).toMatchObject({ transport: 'doh', action: 'blocked', client: '127.0.0.1', reason: 'list=3cx rule=akamaicontainer.com' });
  });

  it('counts DoH queries under transport="doh" in c2dns_queries_total', async () => {
    const text = await c2.server.metrics.registry.metrics();
    expect(text).toMatch(/c2dns_queries_total\{transport="doh",qtype="A",action="blocked"\} [1-9]/);
  });
});

describe('DoH listener: requests without a usable query', () => {
  const cases: { name: string; req: () => Promise<{ status: number; body: Buffer }>; status: number; text: RegExp }[] = [
    { name: 'GET without dns', req: () => h2.request({ path: '/dns-query' }), status: 400, text: /"dns" parameter/ },
    { name: 'GET with two dns', req: () => h2.request({ path: '/dns-query?dns=AAAA&dns=AAAA' }), status: 400, text: /one "dns"/ },
    { name: 'GET with standard base64 (+ and /)', req: () => h2.request({ path: '/dns-query?dns=ab+c/de' }), status: 400, text: /base64url/ },
    { name: 'GET of a too short message', req: () => h2.request({ path: `/dns-query?dns=${b64url(Buffer.alloc(5))}` }), status: 400, text: /shorter than a DNS header/ },
    {
      name: 'GET of a response (QR=1)',
      req: () => {
        const q = buildQuery('example.org', T.A);
        q[2] = q[2]! | 0x80;
        return h2.request({ path: `/dns-query?dns=${b64url(q)}` });
      },
      status: 400,
      text: /response/,
    },
    { name: 'POST of another type', req: () => h2.request({ method: 'POST', path: '/dns-query', body: buildQuery('example.org', T.A), headers: { 'content-type': 'application/json' } }), status: 415, text: /Content-Type: application\/dns-message/ },
    { name: 'POST without a type', req: () => h2.request({ method: 'POST', path: '/dns-query', body: buildQuery('example.org', T.A) }), status: 415, text: /got none/ },
    { name: 'POST with an empty body', req: () => h2.request({ method: 'POST', path: '/dns-query', body: Buffer.alloc(0), headers: { 'content-type': DNS } }), status: 400, text: /empty/ },
    { name: 'POST over 65,535 bytes', req: () => h2.request({ method: 'POST', path: '/dns-query', body: Buffer.alloc(70_000), headers: { 'content-type': DNS } }), status: 413, text: /longer than 65535/ },
    // Node's HTTP/1.1 parser refuses a request line over its header limit (16 KiB) before c2dns sees it.
    { name: 'GET beyond the HTTP/1.1 header limit', req: () => http1Request(port, ca.certPem, { path: `/dns-query?dns=${'A'.repeat(90_000)}` }), status: 431, text: /^$/ },
    { name: 'another path', req: () => h2.request({ path: `/resolve?dns=${b64url(buildQuery('example.org', T.A))}` }), status: 404, text: /served on \/dns-query/ },
    { name: 'PUT', req: () => h2.request({ method: 'PUT', path: '/dns-query', body: buildQuery('example.org', T.A), headers: { 'content-type': DNS } }), status: 405, text: /GET or POST/ },
    { name: 'HTTP/1.1 POST of another type', req: () => http1Request(port, ca.certPem, { method: 'POST', path: '/dns-query', body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } }), status: 415, text: /dns-message/ },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const r = await c.req();
      expect(r.status).toBe(c.status);
      expect(r.body.toString()).toMatch(c.text);
    });
  }

  it('bad requests never reach the pipeline (no query log line)', async () => {
    const before = c2.logLines().length;
    await h2.request({ path: '/dns-query?dns=!!' });
    await new Promise((r) => setTimeout(r, 100));
    expect(c2.logLines().length).toBe(before);
  });
});

describe('DoH clients behind a reverse proxy (X-Forwarded-For)', () => {
  it('believes X-Forwarded-For only from tls.trustedProxies; access.allow applies to that client', async () => {
    const c = await startC2dns({
      listen: ['127.0.0.1:0', 'https://127.0.0.1:0/q'],
      tls: { certFile: leaf.certFile, keyFile: leaf.keyFile, trustedProxies: ['127.0.0.0/8'] },
      upstreams: [`127.0.0.1:${up.port}`],
      access: { allow: ['127.0.0.0/8', '192.168.0.0/16'] },
    });
    const client = await H2Client.connect(c.server.doh[0]!.address.port, ca.certPem);
    try {
      const q = (name: string, xff?: string): Promise<{ status: number; body: Buffer }> =>
        client.request({ method: 'POST', path: '/q', body: buildQuery(name, T.A, { edns: {} }), headers: { 'content-type': DNS, ...(xff ? { 'x-forwarded-for': xff } : {}) } });
      // A client in an allowed network, named by the proxy (a spoofed entry to its left is ignored).
      expect((await q('example.org', '6.6.6.6, 192.168.1.50')).status).toBe(200);
      // A client outside access.allow: REFUSED with EDE 18, though the proxy itself is allowed.
      const refused = await q('akamaicontainer.com', '203.0.113.9');
      expect(rcodeOf(refused.body)).toBe(5);
      expect(edeOf(decode(refused.body))[0]!.infoCode).toBe(18);
      // The proxy's own chain of trusted hops is skipped: the client is the right-most untrusted one.
      await q('multi.example.org', '192.168.1.60, 127.0.0.5');
      // Garbage where the client should be: 400.
      expect((await q('example.org', 'unknown')).status).toBe(400);
      const lines = await c.waitForQueries(['example.org', 'akamaicontainer.com', 'multi.example.org']);
      expect(lines.find((l) => l.qname === 'example.org')).toMatchObject({ client: '192.168.1.50', clientPort: 0, via: '127.0.0.1', transport: 'doh' });
      expect(lines.find((l) => l.qname === 'akamaicontainer.com')).toMatchObject({ client: '203.0.113.9', action: 'refused' });
      expect(lines.find((l) => l.qname === 'multi.example.org')).toMatchObject({ client: '192.168.1.60' });
      // The path comes from the listen URL.
      expect((await client.request({ path: `/dns-query?dns=${b64url(buildQuery('example.org', T.A))}` })).status).toBe(404);
    } finally {
      client.close();
      await c.close();
    }
  });

  it('ignores X-Forwarded-For from peers that are not trusted proxies', async () => {
    const before = c2.logLines().length;
    const r = await h2.request({ method: 'POST', path: '/dns-query', body: buildQuery('example.org', T.A), headers: { 'content-type': DNS, 'x-forwarded-for': '192.168.7.7' } });
    expect(r.status).toBe(200);
    const lines = await c2.waitForLog(before + 1);
    expect(lines[lines.length - 1]).toMatchObject({ client: '127.0.0.1', via: null, qname: 'example.org' });
  });

  it('forwardedClient reads the header from the right', () => {
    const trust = { trusts: (a: string) => a.startsWith('10.') };
    expect(forwardedClient(undefined, trust)).toBeUndefined();
    expect(forwardedClient('1.2.3.4', trust)).toBe('1.2.3.4');
    expect(forwardedClient('1.2.3.4, 5.6.7.8', trust)).toBe('5.6.7.8');
    expect(forwardedClient('1.2.3.4, 10.0.0.2', trust)).toBe('1.2.3.4');
    expect(forwardedClient('10.0.0.3, 10.0.0.2', trust)).toBe('10.0.0.3');
    expect(forwardedClient(['1.2.3.4', '[2001:db8::1]:443'], trust)).toBe('2001:db8::1');
    expect(forwardedClient('198.51.100.7:5353', trust)).toBe('198.51.100.7');
    expect(forwardedClient('bogus, 1.2.3.4', trust)).toBe('1.2.3.4');
    expect(forwardedClient('1.2.3.4, bogus', trust)).toBeNull();
  });
});

describe('DoH: other clients, reload, idle', () => {
  const curl = ['/usr/bin/curl', '/usr/local/bin/curl'].find((p) => existsSync(p));
  it.skipIf(curl === undefined)('curl --http2 POSTs application/dns-message and gets the answer', async () => {
    const qfile = join(ca.dir, 'q.bin');
    writeFileSync(qfile, buildQuery('example.org', T.A, { id: 0 }));
    const { stdout } = await promisify(execFile)(
      curl!,
      ['-sS', '--http2', '--cacert', ca.certFile, '-H', `content-type: ${DNS}`, '-H', `accept: ${DNS}`, '--data-binary', `@${qfile}`, '-o', '-', '-w', '%{http_code} %{http_version}', `https://127.0.0.1:${port}/dns-query`],
      { encoding: 'buffer' },
    );
    const tail = stdout.subarray(stdout.length - 5).toString();
    expect(tail).toBe('200 2');
    const p = decode(stdout.subarray(0, stdout.length - 5));
    expect(p.answers[0]).toMatchObject({ address: '192.0.2.10' });
  });

  it('reloadTls serves the renewed certificate to new HTTP/2 connections', async () => {
    const cf = join(ca.dir, 'doh-live.pem');
    const kf = join(ca.dir, 'doh-live.key');
    copyFileSync(leaf.certFile, cf);
    copyFileSync(leaf.keyFile, kf);
    const c = await startC2dns({ listen: ['127.0.0.1:0', 'https://127.0.0.1:0'], tls: { certFile: cf, keyFile: kf }, upstreams: [`127.0.0.1:${up.port}`] });
    try {
      const renewed = makeLeaf(ca);
      copyFileSync(renewed.certFile, cf);
      copyFileSync(renewed.keyFile, kf);
      expect(c.server.reloadTls()).toMatchObject({ ok: true, fingerprint: new X509Certificate(renewed.certPem).fingerprint256 });
      const s = http2.connect(`https://127.0.0.1:${c.server.doh[0]!.address.port}`, { ca: ca.certPem });
      const fp = await new Promise<string>((resolve, reject) => {
        s.once('error', reject);
        s.once('connect', () => resolve((s.socket as unknown as import('node:tls').TLSSocket).getPeerX509Certificate()!.fingerprint256));
      });
      s.close();
      expect(fp).toBe(new X509Certificate(renewed.certPem).fingerprint256);
    } finally {
      await c.close();
    }
  });

  it('an RPZ DROP ends the HTTP/2 stream without a response (as a dropped UDP query goes unanswered); the session goes on serving', async () => {
    const c = await startC2dns(
      { listen: ['127.0.0.1:0', 'https://127.0.0.1:0'], tls: { certFile: leaf.certFile, keyFile: leaf.keyFile }, upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'rpz', path: 'rpz.zone', format: 'rpz' }] },
      { 'rpz.zone': '$ORIGIN rpz.local.\ndropped.example CNAME rpz-drop.\n' },
    );
    const client = await H2Client.connect(c.server.doh[0]!.address.port, ca.certPem);
    try {
      // The stream ends without a response: no status, no body.
      const dropped = await client.request({ path: `/dns-query?dns=${b64url(buildQuery('dropped.example', T.A, { id: 0 }))}` });
      expect(dropped).toMatchObject({ status: 0, body: Buffer.alloc(0) });
      const r = await client.request({ path: `/dns-query?dns=${b64url(buildQuery('example.org', T.A, { id: 0 }))}` });
      expect(r.status).toBe(200);
      expect(decode(r.body).answers[0]).toMatchObject({ address: '192.0.2.10' });
    } finally {
      client.close();
      await c.close();
    }
  });

  it('closes idle HTTP/2 sessions after tcp.idleTimeoutMs, and stops within the grace time', async () => {
    const c = await startC2dns({ listen: ['127.0.0.1:0', 'https://127.0.0.1:0'], tls: { certFile: leaf.certFile, keyFile: leaf.keyFile }, upstreams: [`127.0.0.1:${up.port}`], tcp: { idleTimeoutMs: 300 } });
    try {
      const client = await H2Client.connect(c.server.doh[0]!.address.port, ca.certPem);
      const started = Date.now();
      await new Promise<void>((resolve) => client.session.on('close', () => resolve()));
      expect(Date.now() - started).toBeLessThan(3000);
      const h1 = await http1Request(c.server.doh[0]!.address.port, ca.certPem, { path: `/dns-query?dns=${b64url(buildQuery('example.org', T.A))}` });
      expect(h1.status).toBe(200);
    } finally {
      const t = Date.now();
      await c.close();
      expect(Date.now() - t).toBeLessThan(1500);
    }
  });
});

describe('dohMaxAge (RFC 8484 §5.1)', () => {
  it('is 0 for an answer without records or a malformed one', () => {
    const q = buildQuery('example.org', T.A);
    expect(dohMaxAge(q)).toBe(0);
    expect(dohMaxAge(Buffer.alloc(3))).toBe(0);
    const broken = Buffer.from(q);
    broken.writeUInt16BE(3, 6); // claims three answers it does not have
    expect(dohMaxAge(broken)).toBe(0);
  });
});
