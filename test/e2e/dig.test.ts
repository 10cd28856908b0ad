// The README's dig session, run for real: c2dns with its embedded defaults (the bundled 3CX
// list), a local upstream, and dig as the client. Needs dig (Debian: dnsutils; .ci/run installs it).
import { execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const run = promisify(execFile);
let hasDig = true;
try {
  execFileSync('dig', ['-v'], { stdio: 'ignore' });
} catch {
  hasDig = false;
  console.warn('test/e2e/dig.test.ts: dig is not installed (apt-get install dnsutils): these tests are skipped');
}

let up: Upstream;
let c2: TestServer;
const dig = async (...args: string[]): Promise<string> =>
  (await run('dig', ['@127.0.0.1', '-p', String(c2.port), '+tries=1', '+time=2', ...args])).stdout;

describe.skipIf(!hasDig)('dig against c2dns with the bundled 3CX list', () => {
  beforeAll(async () => {
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.80', ttl: 300 }] }));
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`] }); // no lists key: the embedded default
  });
  afterAll(async () => {
    await c2?.close();
    await up?.close();
  });

  it('akamaicontainer.com A → 0.0.0.0 with EDE 15 naming the list and rule', async () => {
    const out = await dig('akamaicontainer.com', 'A');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/^akamaicontainer\.com\.\s+300\s+IN\s+A\s+0\.0\.0\.0$/m);
    expect(out).toMatch(/EDE: 15 \(Blocked\): \(blocked by c2dns: list=3cx rule=akamaicontainer\.com\)/);
  });

  it('cdn.msstorageazure.com AAAA → ::', async () => {
    const out = await dig('cdn.msstorageazure.com', 'AAAA', '+short');
    expect(out.trim()).toBe('::');
  });

  it('sbmsa.wiki MX → NOERROR, no answer, SOA in authority', async () => {
    const out = await dig('sbmsa.wiki', 'MX');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/ANSWER: 0, AUTHORITY: 1/);
    expect(out).toMatch(/^sbmsa\.wiki\.\s+300\s+IN\s+SOA\s+sinkhole\.c2dns\.invalid\./m);
  });

  it('example.org A over TCP is forwarded to the upstream', async () => {
    const out = await dig('+tcp', 'example.org', 'A');
    expect(out).toMatch(/^example\.org\.\s+\d+\s+IN\s+A\s+192\.0\.2\.80$/m);
    expect(out).toMatch(/\(TCP\)/);
    expect(up.received.map((q) => q.name)).toContain('example.org');
  });
});
