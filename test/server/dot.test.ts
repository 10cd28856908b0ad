// The DNS-over-TLS listener (RFC 7858) over real TLS sockets with a certificate made in the test:
// forwarded and blocked answers (EDE) with transport "dot" in the log and the metrics, RFC 7766
// framing and pipelining on the TLS stream, TLS 1.2 as the floor, access control on the peer,
// the idle timeout, the certificate reload (SIGHUP's reloadTls) and the preflight on the files.
import { writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { preflight } from '../../src/server/assemble/preflight.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { dotAsk, dotConnect } from '../helpers/encrypted.js';
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from '../helpers/tls.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, edeOf, rcodeOf, T } from '../helpers/wire.js';

const ZONE = {
  'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }],
  'slow.example.org 1': [{ name: 'slow.example.org', type: T.A, address: '192.0.2.11', ttl: 120 }],
};

let ca: TestCa;
let leaf: TestLeaf;
let up: Upstream;
let c2: TestServer;
let dotPort: number;
let certFile: string;
let keyFile: string;

beforeAll(async () => {
  ca = makeCa();
  leaf = makeLeaf(ca);
  // The server reads copies, so the reload test can replace them.
  certFile = join(ca.dir, 'server.pem');
  keyFile = join(ca.dir, 'server.key');
  copyFileSync(leaf.certFile, certFile);
  copyFileSync(leaf.keyFile, keyFile);
  up = await startUpstream((q) => ({ ...zoneScript(ZONE)(q), ...(q.name.startsWith('slow.') ? { delayMs: 150 } : {}) }));
  c2 = await startC2dns({
    listen: ['127.0.0.1:0', 'tls://127.0.0.1:0'],
    tls: { certFile, keyFile },
    upstreams: [`127.0.0.1:${up.port}`],
    cache: { maxEntries: 0 },
    tcp: { idleTimeoutMs: 400 },
  });
  dotPort = c2.server.dot[0]!.port;
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

describe('DoT listener', () => {
  it('forwards over TLS and logs transport "dot"', async () => {
    const r = await dotAsk(dotPort, ca.certPem, buildQuery('example.org', T.A, { id: 77 }));
    expect(r.packet.header.id).toBe(77);
    expect(r.packet.answers[0]).toMatchObject({ name: 'example.org', address: '192.0.2.10' });
    const lines = await c2.waitForQueries(['example.org']);
    expect(lines.find((l) => l.qname === 'example.org')).toMatchObject({ transport: 'dot', action: 'allowed', client: '127.0.0.1' });
  });

  it('answers a blocked name with the sinkhole answer and EDE 15, same Decision as over UDP', async () => {
    const r = await dotAsk(dotPort, ca.certPem, buildQuery('akamaicontainer.com', T.A, { edns: {} }));
    expect(rcodeOf(r.raw)).toBe(0);
    expect(r.packet.answers[0]).toMatchObject({ address: '0.0.0.0' });
    expect(edeOf(r.packet)).toEqual([{ infoCode: 15, text: 'blocked by c2dns: list=3cx rule=akamaicontainer.com' }]);
    const lines = await c2.waitForQueries(['akamaicontainer.com']);
    expect(lines.find((l) => l.qname === 'akamaicontainer.com')).toMatchObject({ transport: 'dot', action: 'blocked', reason: 'list=3cx rule=akamaicontainer.com' });
  });

  it('takes pipelined queries in one TLS record and answers each as it completes (RFC 7766 framing)', async () => {
    const s = await dotConnect(dotPort, ca.certPem);
    try {
      s.send(buildQuery('slow.example.org', T.A, { id: 1 }), buildQuery('example.org', T.A, { id: 2 }), buildQuery('akamaicontainer.com', T.A, { id: 3 }));
      const ids = (await s.answers(3)).map((a) => decode(a).header.id);
      expect([...ids].sort()).toEqual([1, 2, 3]);
      // Answers come in completion order, not request order: the slow upstream answer is last.
      expect(ids[2]).toBe(1);
    } finally {
      s.close();
    }
  });

  it('never truncates: a large answer arrives whole', async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ name: 'big.example.org', type: T.A, address: `192.0.2.${i + 1}`, ttl: 60 }));
    up.setScript((q) => (q.name === 'big.example.org' ? { answers: many } : zoneScript(ZONE)(q)));
    try {
      const r = await dotAsk(dotPort, ca.certPem, buildQuery('big.example.org', T.A, { edns: { udpSize: 512 } }));
      expect(r.packet.header.tc).toBe(0);
      expect(r.packet.answers).toHaveLength(60);
    } finally {
      up.setScript(zoneScript(ZONE));
    }
  });

  it('speaks TLS 1.2 and 1.3, and refuses older versions', async () => {
    const s12 = await dotConnect(dotPort, ca.certPem, { maxVersion: 'TLSv1.2' });
    expect(s12.sock.getProtocol()).toBe('TLSv1.2');
    s12.close();
    const s13 = await dotConnect(dotPort, ca.certPem);
    expect(s13.sock.getProtocol()).toBe('TLSv1.3');
    s13.close();
    await expect(dotConnect(dotPort, ca.certPem, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it('closes a connection left idle for tcp.idleTimeoutMs', async () => {
    const s = await dotConnect(dotPort, ca.certPem);
    const started = Date.now();
    await new Promise<void>((resolve) => s.sock.on('close', () => resolve()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a client that does not trust the certificate gets no service', async () => {
    const other = makeCa('another CA');
    await expect(dotAsk(dotPort, other.certPem, buildQuery('example.org', T.A))).rejects.toThrow(/certificate/i);
  });
});

describe('DoT access control and certificate reload', () => {
  it('applies access.allow to the TLS peer: REFUSED with EDE 18', async () => {
    const c = await startC2dns({ listen: ['127.0.0.1:0', 'tls://127.0.0.1:0'], tls: { certFile, keyFile }, upstreams: [`127.0.0.1:${up.port}`], access: { allow: ['10.0.0.0/8'] } });
    try {
      const asked = up.received.length;
      const r = await dotAsk(c.server.dot[0]!.port, ca.certPem, buildQuery('example.org', T.A, { edns: {} }));
      expect(rcodeOf(r.raw)).toBe(5);
      expect(edeOf(r.packet)[0]!.infoCode).toBe(18);
      expect(up.received.length).toBe(asked); // never forwarded
      const lines = await c.waitForLog(1);
      expect(lines[0]).toMatchObject({ transport: 'dot', action: 'refused', client: '127.0.0.1' });
    } finally {
      await c.close();
    }
  });

  it('reloadTls (the SIGHUP handler) swaps the certificate for new connections; a bad pair keeps the old one', async () => {
    const dir = makeCa('reload CA');
    const renewed = makeLeaf(dir);
    const cf = join(dir.dir, 'live.pem');
    const kf = join(dir.dir, 'live.key');
    copyFileSync(leaf.certFile, cf);
    copyFileSync(leaf.keyFile, kf);
    const c = await startC2dns({ listen: ['127.0.0.1:0', 'tls://127.0.0.1:0', 'https://127.0.0.1:0'], tls: { certFile: cf, keyFile: kf }, upstreams: [`127.0.0.1:${up.port}`] });
    try {
      const port = c.server.dot[0]!.port;
      const before = await dotConnect(port, ca.certPem);
      expect(before.sock.getPeerX509Certificate()!.fingerprint256).toBe(new (await import('node:crypto')).X509Certificate(leaf.certPem).fingerprint256);

      // certbot renewed: new files in place, then SIGHUP.
      copyFileSync(renewed.certFile, cf);
      copyFileSync(renewed.keyFile, kf);
      const ok = c.server.reloadTls();
      expect(ok).toMatchObject({ ok: true });
      const after = await dotConnect(port, dir.certPem);
      expect(after.sock.getPeerX509Certificate()!.fingerprint256).toBe(new (await import('node:crypto')).X509Certificate(renewed.certPem).fingerprint256);
      // The connection made before the reload keeps working.
      before.send(buildQuery('example.org', T.A, { id: 9 }));
      expect(decode((await before.answers(1))[0]!).header.id).toBe(9);
      before.close();
      after.close();

      // A half-written renewal (key of another certificate): refused, the renewed pair stays.
      copyFileSync(leaf.keyFile, kf);
      const bad = c.server.reloadTls();
      expect(bad).toMatchObject({ ok: false });
      expect(bad!.ok ? '' : bad!.error).toMatch(/tls\.keyFile.*not the private key/);
      const still = await dotConnect(port, dir.certPem);
      expect(still.sock.authorized).toBe(true);
      still.close();
      writeFileSync(cf, 'not a certificate');
      expect(c.server.reloadTls()).toMatchObject({ ok: false });
      const still2 = await dotAsk(port, dir.certPem, buildQuery('example.org', T.A));
      expect(still2.packet.answers).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it('reloadTls is null without encrypted listeners', async () => {
    const c = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`] });
    try {
      expect(c.server.reloadTls()).toBeNull();
      expect(c.server.dot).toEqual([]);
    } finally {
      await c.close();
    }
  });
});

describe('DoT configuration and preflight', () => {
  const base = (extra: Record<string, unknown>): string => {
    const dir = makeCa('cfg CA').dir;
    const file = join(dir, 'c2dns.yaml');
    writeFileSync(file, JSON.stringify({ listen: ['tls://127.0.0.1:0'], state: { dir: join(dir, 'state') }, admin: { enabled: false }, ...extra }));
    return file;
  };

  it('a tls:// listener without tls.certFile/keyFile is a config error naming the keys', () => {
    expect(() => loadConfig({ file: base({}) })).toThrow(/key "tls\.certFile": expected a PEM certificate file for the tls:\/\/ listener/);
    expect(() => loadConfig({ file: base({}) })).toThrow(/key "tls\.keyFile"/);
  });

  it('preflight reads the pair before anything binds: unreadable, not PEM, or not matching', async () => {
    const other = makeLeaf(ca);
    const cases: [Record<string, string>, RegExp][] = [
      [{ certFile: '/nonexistent/cert.pem', keyFile }, /key "tls\.certFile": cannot read \/nonexistent\/cert\.pem/],
      [{ certFile: keyFile, keyFile }, /key "tls\.certFile": .* holds no PEM certificate/],
      [{ certFile, keyFile: certFile }, /key "tls\.keyFile": .* holds no usable PEM private key/],
      [{ certFile, keyFile: other.keyFile }, /key "tls\.keyFile": .* is not the private key of the certificate/],
    ];
    for (const [tls, re] of cases) {
      const cfg = loadConfig({ file: base({ tls }) });
      const r = await preflight(cfg, { create: false, ports: false, owner: true });
      expect(r.errors.join('\n')).toMatch(re);
    }
    const good = await preflight(loadConfig({ file: base({ tls: { certFile, keyFile } }) }), { create: false, ports: false, owner: true });
    expect(good.errors).toEqual([]);
  });

  it('two listen entries on the same TCP address are a config error', () => {
    expect(() => loadConfig({ file: base({ listen: ['127.0.0.1:853', 'tls://127.0.0.1'], tls: { certFile, keyFile } }) })).toThrow(/key "listen\[1\]": expected a TCP address and port not already used by listen\[0\]/);
  });
});
