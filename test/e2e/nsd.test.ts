// The NSD helper (test/helpers/nsd.ts) proven on its own: a real authoritative server on
// 127.0.0.1, asked directly with dig over UDP and TCP. Needs nsd and dig (Debian: nsd, dnsutils;
// .ci/run installs both). Without them these tests are skipped with a message, except under CI,
// where a missing tool is a failure.
import { execFile, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNsd, startNsd, type Nsd } from '../helpers/nsd.js';

const run = promisify(execFile);
let hasDig = true;
try {
  execFileSync('dig', ['-v'], { stdio: 'ignore' });
} catch {
  hasDig = false;
}
const hasNsd = findNsd() !== null;
const inCi = process.env.CI === 'true';
if (!(hasDig && hasNsd) && !inCi) {
  console.warn('test/e2e/nsd.test.ts: nsd or dig is not installed (apt-get install nsd dnsutils): these tests are skipped');
}

const EXAMPLE_TEST = `$TTL 300
@         IN SOA ns1.example.test. hostmaster.example.test. 2026030101 3600 900 604800 300
@         IN NS  ns1
ns1       IN A   127.0.0.1
innocent.example.test. IN CNAME cdn.msstorageazure.com.
www       IN A   192.0.2.1
`;

const OTHER_TEST = `$TTL 60
@   IN SOA ns1.other.test. hostmaster.other.test. 1 3600 900 604800 60
@   IN NS  ns1.other.test.
ns1 IN A   127.0.0.1
txt IN TXT "second zone"
`;

let nsd: Nsd;
const dig = async (...args: string[]): Promise<string> =>
  (await run('dig', ['@127.0.0.1', '-p', String(nsd.port), '+norec', '+tries=1', '+time=2', ...args])).stdout;

describe.skipIf(!(hasDig && hasNsd) && !inCi)('nsd as a test authoritative server', () => {
  beforeAll(async () => {
    nsd = await startNsd({ 'example.test.': EXAMPLE_TEST, 'other.test': OTHER_TEST });
  });
  afterAll(async () => {
    await nsd?.close();
  });

  it('answers the CNAME over UDP, authoritatively', async () => {
    const out = await dig('innocent.example.test', 'A');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/flags: qr aa;/);
    expect(out).toMatch(/^innocent\.example\.test\.\s+300\s+IN\s+CNAME\s+cdn\.msstorageazure\.com\.$/m);
    expect(out).toMatch(/\(UDP\)/);
  });

  it('answers the A record over TCP', async () => {
    const out = await dig('+tcp', 'www.example.test', 'A');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/^www\.example\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.1$/m);
    expect(out).toMatch(/\(TCP\)/);
  });

  it('answers NXDOMAIN with the SOA for a missing name, and serves every zone it was given', async () => {
    const nx = await dig('missing.example.test', 'A');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/^example\.test\.\s+300\s+IN\s+SOA\s+ns1\.example\.test\. hostmaster\.example\.test\. 2026030101 /m);
    expect((await dig('+short', 'txt.other.test', 'TXT')).trim()).toBe('"second zone"');
  });

  it('refuses names outside its zones (authoritative only, no recursion)', async () => {
    expect(await dig('example.org', 'A')).toMatch(/status: REFUSED/);
  });
});

describe.skipIf(!hasNsd && !inCi)('startNsd lifecycle', () => {
  it('close() stops nsd, frees the port for UDP and TCP, and removes its directory; a second close() is harmless', async () => {
    const s = await startNsd({ 'example.test': EXAMPLE_TEST });
    expect(existsSync(s.dir)).toBe(true);
    await s.close();
    await s.close();
    expect(existsSync(s.dir)).toBe(false);
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(s.port, '127.0.0.1', () => resolve());
    });
    udp.close();
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(s.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  it('a zone file that does not load is an error naming the zone, with what nsd logged', async () => {
    const broken = `${EXAMPLE_TEST}bogus IN A not-an-address\n`;
    await expect(startNsd({ 'example.test': broken })).rejects.toThrow(/zone example\.test\. did not load[\s\S]*not-an-address/);
  });
});

describe('startNsd without nsd', () => {
  it('says how to install it', async () => {
    await expect(startNsd({ 'example.test': EXAMPLE_TEST }, { binary: '/nonexistent/sbin/nsd' })).rejects.toThrow(/apt-get install nsd/);
  });
});
