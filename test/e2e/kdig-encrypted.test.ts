// c2dns's DoT and DoH listeners asked by an independent client, Knot's kdig, with a CA and a
// certificate made in the test: the certificate verified against the CA and a host name
// (+tls-ca, +tls-hostname), a wrong name or CA refused by kdig, several queries on one kept-open
// TLS connection, DoH by POST and GET (+https, +https-get), and EDNS Padding as kdig asks for it
// over TLS (answers of 468 octets). Needs kdig (Debian: knot-dnsutils; .ci/run installs it): the
// tests are skipped without it, except under CI=true, where a missing kdig fails them.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { makeCa, makeLeaf, type TestCa } from '../helpers/tls.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const run = promisify(execFile);
let hasKdig = true;
try {
  execFileSync('kdig', ['--version'], { stdio: 'ignore' });
} catch {
  hasKdig = false;
  if (process.env.CI !== 'true') console.warn('test/e2e/kdig-encrypted.test.ts: kdig is not installed (apt-get install knot-dnsutils): these tests are skipped');
}

const NAME = 'dns.c2dns.test';
let ca: TestCa;
let up: Upstream;
let c2: TestServer;
let dot: number;
let doh: number;

/** kdig's output; a failed kdig (exit 1) gives its output too, with `failed` set. */
async function kdig(...args: string[]): Promise<{ out: string; failed: boolean }> {
  try {
    const r = await run('kdig', ['@127.0.0.1', '+retry=0', '+time=3', ...args], { timeout: 10_000 });
    return { out: r.stdout, failed: false };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { out: `${e.stdout ?? ''}${e.stderr ?? ''}`, failed: true };
  }
}
const verified = (): string[] => [`+tls-ca=${ca.certFile}`, `+tls-hostname=${NAME}`];

describe.skipIf(!hasKdig && process.env.CI !== 'true')('kdig against the DoT and DoH listeners', () => {
  beforeAll(async () => {
    if (!hasKdig) throw new Error('kdig is not installed: CI must install knot-dnsutils (.ci/run)');
    ca = makeCa('kdig test CA');
    const leaf = makeLeaf(ca, ['127.0.0.1', 'localhost', NAME]);
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }] }));
    c2 = await startC2dns(
      {
        listen: ['127.0.0.1:0', 'tls://127.0.0.1:0', 'https://127.0.0.1:0/dns-query'],
        tls: { certFile: leaf.certFile, keyFile: leaf.keyFile },
        upstreams: [`127.0.0.1:${up.port}`],
        lists: [{ name: 'c2', path: 'list.txt', format: 'plain' }],
      },
      { 'list.txt': 'blocked.example\n' },
    );
    dot = c2.server.dot[0]!.port;
    doh = c2.server.doh[0]!.address.port;
  });
  afterAll(async () => {
    await c2?.close();
    await up?.close();
  });

  it('+tls with the CA and host name: a verified TLS 1.3 session, forwarded and blocked answers on one kept-open connection', async () => {
    const r = await kdig('-p', String(dot), ...verified(), '+keepopen', 'example.org', 'A', 'blocked.example', 'A', 'example.org', 'AAAA');
    expect(r.failed).toBe(false);
    expect(r.out).toMatch(/;; TLS session \(TLS1\.3\)/);
    expect(r.out).toMatch(/^example\.org\.\s+120\s+IN\s+A\s+192\.0\.2\.10$/m);
    expect(r.out).toMatch(/^blocked\.example\.\s+300\s+IN\s+A\s+0\.0\.0\.0$/m);
    expect(r.out).toMatch(/EDE: 15 \(Blocked\): 'blocked by c2dns: list=c2 rule=blocked\.example'/);
    expect(r.out.match(/status: NOERROR/g)).toHaveLength(3);
    // One connection carried the three: the query log sees one client port.
    const lines = (await c2.waitForLog(3)).filter((l) => l.transport === 'dot');
    expect(lines.map((l) => l.qname)).toEqual(['example.org', 'blocked.example', 'example.org']);
    expect(new Set(lines.map((l) => l.clientPort)).size).toBe(1);
  });

  it('kdig pads its TLS queries, and c2dns pads the answers to 468 octets', async () => {
    const r = await kdig('-p', String(dot), ...verified(), 'example.org', 'A');
    expect(r.out).toMatch(/;; PADDING: \d+ B/);
    expect(r.out).toMatch(/;; Received 468 B/);
  });

  it('kdig refuses the certificate for another host name or from another CA', async () => {
    const wrongName = await kdig('-p', String(dot), `+tls-ca=${ca.certFile}`, '+tls-hostname=dns.quad9.net', 'example.org');
    expect(wrongName.failed).toBe(true);
    expect(wrongName.out).toMatch(/TLS, handshake failed/);
    const other = makeCa('not the c2dns CA');
    const wrongCa = await kdig('-p', String(dot), `+tls-ca=${other.certFile}`, `+tls-hostname=${NAME}`, 'example.org');
    expect(wrongCa.failed).toBe(true);
    expect(wrongCa.out).toMatch(/TLS, handshake failed/);
  });

  it('+https (HTTP/2 POST) and +https-get against the DoH listener: blocked and forwarded answers', async () => {
    const post = await kdig('-p', String(doh), '+https', ...verified(), 'blocked.example', 'A');
    expect(post.failed).toBe(false);
    expect(post.out).toMatch(/;; HTTP session \(HTTP\/2-POST\)-\(dns\.c2dns\.test\/dns-query\)-\(status: 200\)/);
    expect(post.out).toMatch(/^blocked\.example\.\s+300\s+IN\s+A\s+0\.0\.0\.0$/m);
    expect(post.out).toMatch(/EDE: 15 \(Blocked\)/);
    const get = await kdig('-p', String(doh), '+https-get', ...verified(), 'example.org', 'A');
    expect(get.out).toMatch(/;; HTTP session \(HTTP\/2-GET\)/);
    expect(get.out).toMatch(/^example\.org\.\s+1[12]\d\s+IN\s+A\s+192\.0\.2\.10$/m); // from the cache: the TTL counts down
    expect(get.out).toMatch(/;; Received 468 B/);
    const dohLines = async (): Promise<Record<string, unknown>[]> => {
      for (let end = Date.now() + 2000; ; await new Promise((r) => setTimeout(r, 20))) {
        const lines = c2.logLines().filter((l) => l.transport === 'doh');
        if (lines.length >= 2 || Date.now() > end) return lines;
      }
    };
    expect((await dohLines()).map((l) => [l.qname, l.action])).toEqual([
      ['blocked.example', 'blocked'],
      ['example.org', 'cached'], // asked over DoT before: the same cache behind every transport
    ]);
  });
});
