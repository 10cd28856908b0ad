// tls:// and https:// upstreams against local DoT and DoH servers the test starts, with a CA made
// in the test given as upstream.caFile: forwarding with verification on, one connection reused by
// many (pipelined) queries, a reconnect after the server closed it, a wrong CA / wrong name / SPKI
// pin mismatch refused (SERVFAIL with EDE 22, the reason logged), the right pin accepted, the
// addresses of a named upstream after "#" or from upstream.bootstrap, and the config errors; queries
// padded to 128-octet blocks (RFC 8467) on DoT/DoH and never on plain DNS; upstream.caFile read
// again by reloadTls (SIGHUP); upstream.idleTimeoutMs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parseUpstream } from '../../src/config/encrypted.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { ask } from '../helpers/client.js';
import { startDohUpstream, startDotUpstream } from '../helpers/encrypted.js';
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from '../helpers/tls.js';
import { paddingOf } from '../helpers/padding.js';
import { startUpstream, zoneScript, type ScriptedReply } from '../helpers/upstream.js';
import { edeOf, rcodeOf, T } from '../helpers/wire.js';
import { closeAfterEach } from '../helpers/cleanup.js';

const ZONE = { 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }] };
/** "d<ms>.<anything>" answers after <ms> ms; every name gets an A record. */
function script(q: { name: string }): ScriptedReply {
  const m = /^d(\d+)\./i.exec(q.name);
  return { answers: [{ name: q.name, type: T.A, address: '192.0.2.1', ttl: 60 }], ...(m ? { delayMs: Number(m[1]) } : {}) };
}

let ca: TestCa;
let leaf: TestLeaf;
let otherCa: TestCa;
const track = closeAfterEach();

beforeAll(() => {
  ca = makeCa('upstream CA');
  leaf = makeLeaf(ca, ['127.0.0.1', 'localhost', 'dns.test']);
  otherCa = makeCa('some other CA');
});

function c2dnsWith(upstreams: unknown[], upstream: Record<string, unknown> = {}): Promise<TestServer> {
  return startC2dns({ upstreams, upstream: { timeoutMs: 1500, caFile: ca.certFile, ...upstream }, cache: { maxEntries: 0 } }).then(track);
}

/** c2dns started from a config file in `dir`, its operational log (info and up) kept as parsed lines. */
async function startWithOplog(dir: string, doc: Record<string, unknown>): Promise<{ server: RunningServer; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, JSON.stringify({ admin: { enabled: false }, state: { dir: join(dir, 'state') }, log: { queries: 'none' }, ...doc }));
  const server = await startServer(loadConfig({ file }), pino({ level: 'info' }, sink));
  track({ close: () => server.close(200) });
  return { server, lines };
}

describe('DoT upstream (tls://)', () => {
  it('forwards over one verified TLS connection, reused and pipelined by many queries', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${up.port}`]);
    const r = await ask(c2.port, 'example.org', T.A);
    expect(r.packet.answers[0]).toMatchObject({ address: '192.0.2.1' });
    // 30 at once, the slow ones first: all on the same connection, answered as they complete.
    const names = Array.from({ length: 30 }, (_, i) => (i < 5 ? `d200.n${i}.example` : `n${i}.example`));
    const answers = await Promise.all(names.map((n) => ask(c2.port, n, T.A, { timeoutMs: 4000 })));
    expect(answers.every((a) => rcodeOf(a.raw) === 0 && a.packet.answers.length === 1)).toBe(true);
    expect(up.received).toHaveLength(31);
    expect(up.connections).toBe(1);
    const t = c2.server.forward.upstreams[0]!.transport!;
    expect(t.stats).toMatchObject({ connections: 1, queries: 31, reused: 30 });
    const lines = await c2.waitForQueries(['example.org']);
    expect(lines.find((l) => l.qname === 'example.org')).toMatchObject({ upstream: `tls://127.0.0.1:${up.port}`, action: 'allowed' });
    // Same counters as a plain upstream.
    expect(c2.server.forward.upstreams[0]!.counters).toMatchObject({ requests: 31, responses: 31, errors: 0, timeouts: 0 });
  });

  it('verifies the name after "#": a certificate for that name is accepted, another name refused', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const good = await c2dnsWith([`tls://127.0.0.1:${up.port}#dns.test`]);
    expect((await ask(good.port, 'example.org', T.A)).packet.answers).toHaveLength(1);
    const bad = await c2dnsWith([`tls://127.0.0.1:${up.port}#dns.quad9.net`]);
    const r = await ask(bad.port, 'example.org', T.A, { edns: {} });
    expect(rcodeOf(r.raw)).toBe(2);
    expect(edeOf(r.packet)[0]!.infoCode).toBe(22);
    expect(bad.server.forward.upstreams[0]!.transport!.lastError!.message).toMatch(/certificate refused \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });

  it('a certificate from a CA it does not trust: no query sent, SERVFAIL with EDE 22, the reason kept', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${up.port}`], { caFile: otherCa.certFile });
    const r = await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(rcodeOf(r.raw)).toBe(2);
    expect(edeOf(r.packet).map((e) => e.infoCode)).toEqual([22]); // the text is cut over UDP (no amplification)
    expect(up.received).toHaveLength(0);
    const u = c2.server.forward.upstreams[0]!;
    expect(u.counters.errors).toBe(1);
    expect(u.transport!.lastError!.message).toMatch(/^upstream tls:\/\/127\.0\.0\.1:\d+: certificate refused \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  });

  it('without caFile only the system store counts: a private CA is refused', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${up.port}`], { caFile: null });
    const r = await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(edeOf(r.packet)[0]!.infoCode).toBe(22);
  });

  it('SPKI pins: a mismatch is refused with the chain\'s keys in the message; the right pin (or the CA\'s) is accepted', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const url = `tls://127.0.0.1:${up.port}`;
    const wrongPin = makeLeaf(ca).spkiPin;
    const bad = await c2dnsWith([url], { spkiPins: { [url]: wrongPin } });
    const r = await ask(bad.port, 'example.org', T.A, { edns: {} });
    expect(edeOf(r.packet)[0]!.infoCode).toBe(22);
    expect(up.received).toHaveLength(0);
    const err = bad.server.forward.upstreams[0]!.transport!.lastError!.message;
    expect(err).toMatch(/no certificate of its chain matches the SPKI pins/);
    expect(err).toContain(leaf.spkiPin);

    const good = await c2dnsWith([{ url, spkiPin: [wrongPin, leaf.spkiPin] }]);
    expect((await ask(good.port, 'example.org', T.A)).packet.answers).toHaveLength(1);
  });

  it('reconnects after an idle close by the server and answers', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${up.port}`]);
    expect((await ask(c2.port, 'a.example', T.A)).packet.answers).toHaveLength(1);
    // The server ends the idle connection (as Unbound and others do after a few seconds).
    up.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect((await ask(c2.port, 'b.example', T.A)).packet.answers).toHaveLength(1);
    expect(up.connections).toBe(2);
  });
});

describe('DoH upstream (https://)', () => {
  it('POSTs application/dns-message over one HTTP/2 session reused by many queries', async () => {
    const up = track(await startDohUpstream(script, leaf));
    const c2 = await c2dnsWith([`https://127.0.0.1:${up.port}/dns-query`]);
    const names = Array.from({ length: 20 }, (_, i) => (i < 3 ? `d150.n${i}.example` : `n${i}.example`));
    const answers = await Promise.all(names.map((n) => ask(c2.port, n, T.A, { timeoutMs: 4000 })));
    expect(answers.every((a) => a.packet.answers.length === 1)).toBe(true);
    expect(up.connections).toBe(1);
    expect(up.requests).toHaveLength(20);
    expect(up.requests[0]).toMatchObject({ method: 'POST', path: '/dns-query', contentType: 'application/dns-message', authority: `127.0.0.1:${up.port}` });
    expect(c2.server.forward.upstreams[0]!.transport!.stats).toMatchObject({ connections: 1, queries: 20, reused: 19 });
  });

  it('a host name with its address after "#": connects there, verifies and sends the name', async () => {
    const up = track(await startDohUpstream(script, leaf));
    const c2 = await c2dnsWith([`https://dns.test:${up.port}/dns-query#127.0.0.1`]);
    expect((await ask(c2.port, 'example.org', T.A)).packet.answers).toHaveLength(1);
    expect(up.requests[0]!.authority).toBe(`dns.test:${up.port}`);
  });

  it('a host name resolved through upstream.bootstrap (plain DNS by IP), never through c2dns', async () => {
    const up = track(await startDohUpstream(script, leaf));
    const boot = track(await startUpstream(zoneScript({ 'dns.test 1': [{ name: 'dns.test', type: T.A, address: '127.0.0.1', ttl: 300 }] })));
    const c2 = await c2dnsWith([`https://dns.test:${up.port}/dns-query`], { bootstrap: [`127.0.0.1:${boot.port}`] });
    expect((await ask(c2.port, 'example.org', T.A)).packet.answers).toHaveLength(1);
    expect((await ask(c2.port, 'example.net', T.A)).packet.answers).toHaveLength(1);
    expect(boot.received.map((q) => `${q.name} ${q.type}`).sort()).toEqual(['dns.test 1', 'dns.test 28']); // looked up once
  });

  it('wrong CA or pin mismatch: SERVFAIL with EDE 22 and the reason', async () => {
    const up = track(await startDohUpstream(script, leaf));
    const url = `https://127.0.0.1:${up.port}/dns-query`;
    const wrongCa = await c2dnsWith([url], { caFile: otherCa.certFile });
    const r1 = await ask(wrongCa.port, 'example.org', T.A, { edns: {} });
    expect(rcodeOf(r1.raw)).toBe(2);
    expect(edeOf(r1.packet)[0]!.infoCode).toBe(22);
    expect(wrongCa.server.forward.upstreams[0]!.transport!.lastError!.message).toMatch(/certificate refused/);
    const wrongPin = await c2dnsWith([url], { spkiPins: { [url]: makeLeaf(otherCa).spkiPin } });
    const r2 = await ask(wrongPin.port, 'example.org', T.A, { edns: {} });
    expect(edeOf(r2.packet)[0]!.infoCode).toBe(22);
    expect(wrongPin.server.forward.upstreams[0]!.transport!.lastError!.message).toMatch(/SPKI pins/);
    expect(up.requests).toHaveLength(0);
  });

  it('an HTTP error from the upstream is a failure: the next upstream answers', async () => {
    const up = track(await startDohUpstream(script, leaf, '/other-path'));
    const plain = track(await startUpstream(zoneScript(ZONE)));
    const c2 = await c2dnsWith([`https://127.0.0.1:${up.port}/dns-query`, `127.0.0.1:${plain.port}`]);
    const r = await ask(c2.port, 'example.org', T.A);
    expect(r.packet.answers[0]).toMatchObject({ address: '192.0.2.10' });
    expect(c2.server.forward.upstreams[0]!.counters.errors).toBe(1);
  });
});

describe('encrypted upstream health', () => {
  it('DoT and DoH upstreams that never answer time out: counted and penalised like plain ones, the next upstream answers', async () => {
    const dot = track(await startDotUpstream(() => ({ drop: true }), leaf));
    const doh = track(await startDohUpstream((q) => ({ ...script(q), delayMs: 3000 }), leaf));
    const plain = track(await startUpstream(zoneScript(ZONE)));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${dot.port}`, `https://127.0.0.1:${doh.port}/dns-query`, `127.0.0.1:${plain.port}`], { timeoutMs: 300 });
    const r = await ask(c2.port, 'example.org', T.A, { timeoutMs: 3000 });
    expect(r.packet.answers[0]).toMatchObject({ address: '192.0.2.10' });
    const [u1, u2] = c2.server.forward.upstreams;
    expect(u1!.counters.timeouts).toBe(1);
    expect(u2!.counters.timeouts).toBe(1);
    expect(u1!.penalisedUntil).toBeGreaterThan(performance.now());
    // Penalised: the next query goes to the plain upstream first, without waiting for the others.
    const t = performance.now();
    await ask(c2.port, 'example.org', T.A);
    expect(performance.now() - t).toBeLessThan(250);
    const status = c2.server.upstreamHealth.status();
    expect(status.find((s) => s.upstream === `tls://127.0.0.1:${dot.port}`)).toMatchObject({ healthy: false });
  });
});

describe('encrypted upstream errors in the operational log', () => {
  it('logs a refused certificate once per reason, with the upstream and the verification code; the start-up line lists every listener', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const dir = makeCa('log CA').dir;
    const { server, lines } = await startWithOplog(dir, { listen: ['127.0.0.1:0', 'tls://127.0.0.1:0', 'https://127.0.0.1:0/q'], tls: { certFile: leaf.certFile, keyFile: leaf.keyFile }, upstreams: [`tls://127.0.0.1:${up.port}`], upstream: { caFile: otherCa.certFile, timeoutMs: 1000 } });
    await ask(server.udp[0]!.port, 'a.example', T.A);
    await ask(server.udp[0]!.port, 'b.example', T.A);
    const errs = lines.filter((l) => l.msg === 'encrypted upstream connection failed');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ upstream: `tls://127.0.0.1:${up.port}` });
    expect(String(errs[0]!.err)).toMatch(/certificate refused \(UNABLE_TO/);
    expect(lines.find((l) => l.msg === 'c2dns serving')).toMatchObject({
      upstreams: [`tls://127.0.0.1:${up.port}`],
      listen: [`127.0.0.1:${server.udp[0]!.port}`, `tls://127.0.0.1:${server.dot[0]!.port}`, `https://127.0.0.1:${server.doh[0]!.address.port}/q`],
    });
  });
});

describe('EDNS Padding towards upstreams', () => {
  it('DoT and DoH queries are padded to a multiple of 128 octets; plain UDP queries never are', async () => {
    const dot = track(await startDotUpstream(script, leaf));
    const doh = track(await startDohUpstream(script, leaf));
    const plain = track(await startUpstream(zoneScript(ZONE)));
    for (const [url, received] of [
      [`tls://127.0.0.1:${dot.port}`, dot.received],
      [`https://127.0.0.1:${doh.port}/dns-query`, doh.received],
    ] as const) {
      const c2 = await c2dnsWith([url]);
      // A short name and one long enough to need a second block.
      for (const name of ['a.example', `${'x'.repeat(60)}.${'y'.repeat(60)}.example`]) {
        expect((await ask(c2.port, name, T.A)).packet.answers).toHaveLength(1);
      }
      expect(received.map((q) => q.raw.length)).toEqual([128, 256]);
      for (const q of received) expect(paddingOf(q.raw)!.every((b) => b === 0)).toBe(true);
    }
    const c2 = await c2dnsWith([`127.0.0.1:${plain.port}`]);
    await ask(c2.port, 'example.org', T.A);
    expect(plain.received).toHaveLength(1);
    expect(paddingOf(plain.received[0]!.raw)).toBeNull();
  });
});

describe('upstream.caFile on SIGHUP (reloadTls)', () => {
  it('new connections verify with the reloaded bundle, open ones keep going; a bad file keeps the old bundle and the log says why', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const dir = makeCa('reload CA').dir;
    const caFile = join(dir, 'upstream-ca.pem');
    writeFileSync(caFile, otherCa.certPem); // not the CA that signed the upstream's certificate
    const { server, lines } = await startWithOplog(dir, { listen: ['127.0.0.1:0'], upstreams: [`tls://127.0.0.1:${up.port}`], upstream: { caFile, timeoutMs: 1000, probeIntervalMs: 0, penaltyMs: 0 }, cache: { maxEntries: 0 } });
    const port = server.udp[0]!.port;
    const answered = async (name: string): Promise<boolean> => (await ask(port, name, T.A, { edns: {} })).packet.answers.length === 1;

    expect(await answered('a.example')).toBe(false); // refused: not the right CA
    expect(up.received).toHaveLength(0);

    // The right CA in place, then SIGHUP.
    writeFileSync(caFile, ca.certPem);
    expect(server.reloadTls()).toBeNull(); // no DoT/DoH listener: the listeners' result
    expect(lines.find((l) => l.msg === 'upstream CA bundle reloaded for new DoT/DoH upstream connections')).toMatchObject({ caFile, certificates: 1 });
    expect(await answered('b.example')).toBe(true);

    // A broken file: the bundle stays, the reason is logged; a new connection still verifies.
    writeFileSync(caFile, 'not a certificate');
    server.reloadTls();
    expect(lines.find((l) => l.msg === 'upstream CA bundle not reloaded: keeping the previous one')).toMatchObject({ caFile, problem: expect.stringMatching(/holds no PEM certificate/) });
    up.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect(await answered('c.example')).toBe(true);
    expect(up.connections).toBe(2);

    // Another CA: the open connection keeps working; the next one is judged by the new bundle (no resumed session).
    writeFileSync(caFile, otherCa.certPem);
    server.reloadTls();
    expect(await answered('d.example')).toBe(true);
    expect(up.connections).toBe(2);
    up.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect(await answered('e.example')).toBe(false);
    expect(server.forward.upstreams[0]!.transport!.lastError!.message).toMatch(/certificate refused/);
    expect(up.received.map((q) => q.name)).toEqual(['b.example', 'c.example', 'd.example']);
  });

  it('DoH upstreams follow the reloaded bundle too', async () => {
    const up = track(await startDohUpstream(script, leaf));
    const caFile = join(makeCa('reload CA 2').dir, 'upstream-ca.pem');
    writeFileSync(caFile, otherCa.certPem);
    const c2 = await c2dnsWith([`https://127.0.0.1:${up.port}/dns-query`], { caFile, probeIntervalMs: 0, penaltyMs: 0 });
    expect((await ask(c2.port, 'a.example', T.A, { edns: {} })).packet.answers).toHaveLength(0);
    writeFileSync(caFile, ca.certPem);
    c2.server.reloadTls();
    expect((await ask(c2.port, 'b.example', T.A)).packet.answers).toHaveLength(1);
  });
});

describe('upstream.idleTimeoutMs', () => {
  it('closes an upstream connection idle that long; the next question opens a new one', async () => {
    const up = track(await startDotUpstream(script, leaf));
    const c2 = await c2dnsWith([`tls://127.0.0.1:${up.port}`], { idleTimeoutMs: 1000 });
    await ask(c2.port, 'a.example', T.A);
    await new Promise((r) => setTimeout(r, 500));
    await ask(c2.port, 'b.example', T.A); // within the timeout: same connection
    expect(up.connections).toBe(1);
    await new Promise((r) => setTimeout(r, 1300));
    await ask(c2.port, 'c.example', T.A);
    expect(up.connections).toBe(2);
    expect(c2.server.forward.upstreams[0]!.transport!.stats).toMatchObject({ connections: 2, queries: 3 });
  });

  it('defaults to 30 s and must be 1 s to 1 h', () => {
    const file = join(ca.dir, 'idle.yaml');
    writeFileSync(file, JSON.stringify({}));
    expect(loadConfig({ file }).upstream.idleTimeoutMs).toBe(30_000);
    writeFileSync(file, JSON.stringify({ upstream: { idleTimeoutMs: 10 } }));
    expect(() => loadConfig({ file })).toThrow(/upstream\.idleTimeoutMs/);
  });
});

describe('encrypted upstream configuration', () => {
  const cfgFile = (doc: Record<string, unknown>): string => {
    const file = join(ca.dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  };
  it.each([
    ['https://dns.quad9.net/dns-query', /key "upstreams\[0\]": expected the address of "dns\.quad9\.net".*#ADDRESS.*upstream\.bootstrap/],
    ['quic://dns.adguard.com', /DNS over QUIC and HTTP\/3 are not supported/],
    ['http://127.0.0.1/dns-query', /not encrypted; use https:\/\//],
    ['sdns://AgcAAAAAAAAA', /DNS stamps are not supported/],
    ['dns.google', /a name needs tls:\/\/ or https:\/\/ in front/],
    ['tls://9.9.9.9:853#1.1.1.1', /expected "#SERVER-NAME" after an IP address/],
    ['tls://9.9.9.9/path', /without a path/],
    ['https://9.9.9.9/dns-query?x=1', /no query string/],
  ])('%s is refused with a clear message', (entry, re) => {
    expect(() => loadConfig({ file: cfgFile({ upstreams: [entry] }) })).toThrow(re);
  });

  it('pins must name an upstream as written, be a tls:// or https:// one, and look like a SHA-256', () => {
    expect(() => loadConfig({ file: cfgFile({ upstreams: ['tls://9.9.9.9#dns.quad9.net'], upstream: { spkiPins: { 'tls://9.9.9.9': leaf.spkiPin } } }) })).toThrow(/key "upstream\.spkiPins\.tls:\/\/9\.9\.9\.9": expected a key written exactly as an entry of "upstreams"/);
    expect(() => loadConfig({ file: cfgFile({ upstreams: ['9.9.9.9'], upstream: { spkiPins: { '9.9.9.9': leaf.spkiPin } } }) })).toThrow(/plain DNS has no certificate to pin/);
    expect(() => loadConfig({ file: cfgFile({ upstreams: ['tls://9.9.9.9#dns.quad9.net'], upstream: { spkiPins: { 'tls://9.9.9.9#dns.quad9.net': 'abc' } } }) })).toThrow(/base64 SHA-256/);
  });

  it('accepts the issue\'s forms, with bootstrap for the named one', () => {
    const cfg = loadConfig({ file: cfgFile({ upstreams: ['tls://9.9.9.9:853#dns.quad9.net', 'https://dns.quad9.net/dns-query'], upstream: { bootstrap: ['9.9.9.9'], caFile: null, spkiPins: {} } }) });
    expect(cfg.upstreams).toHaveLength(2);
    expect(parseUpstream('tls://9.9.9.9:853#dns.quad9.net')).toMatchObject({ kind: 'dot', host: '9.9.9.9', port: 853, serverName: 'dns.quad9.net', addresses: [{ host: '9.9.9.9', port: 853 }] });
    expect(parseUpstream('https://dns.quad9.net/dns-query')).toMatchObject({ kind: 'doh', host: 'dns.quad9.net', port: 443, path: '/dns-query', serverName: 'dns.quad9.net', addresses: [] });
    expect(parseUpstream('https://[2620:fe::fe]:8443/q#dns.quad9.net')).toMatchObject({ kind: 'doh', host: '2620:fe::fe', port: 8443, path: '/q', serverName: 'dns.quad9.net' });
    expect(parseUpstream('https://cloudflare-dns.com/dns-query#1.1.1.1,[2606:4700::1111]')).toMatchObject({ addresses: [{ host: '1.1.1.1', port: 443 }, { host: '2606:4700::1111', port: 443, family: 6 }] });
  });

  it('upstream.caFile is checked before start: unreadable or without certificates', async () => {
    const { preflight } = await import('../../src/server/assemble/preflight.js');
    const notPem = join(ca.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    for (const [caFile, re] of [
      ['/nonexistent/ca.pem', /key "upstream\.caFile": cannot read \/nonexistent\/ca\.pem/],
      [notPem, /key "upstream\.caFile": .* holds no PEM certificate/],
    ] as const) {
      const cfg = loadConfig({ file: cfgFile({ upstream: { caFile }, state: { dir: join(ca.dir, 'state') } }) });
      const r = await preflight(cfg, { create: false, ports: false, owner: true });
      expect(r.errors.join('\n')).toMatch(re);
    }
  });
});

