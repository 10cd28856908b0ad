// Response inspection against a real authoritative server: NSD serves a CNAME into a listed C2
// name (and the C2 zone itself, so its address comes in the same answer), a DNAME into it, and a
// fresh name whose address is a listed C2 IP. dig through c2dns must get the blocked answer over
// UDP and TCP, never the C2 address. Needs nsd and dig (.ci/run installs them).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { findNsd, startNsd, type Nsd } from '../helpers/nsd.js';

const run = promisify(execFile);
let hasDig = true;
try {
  execFileSync('dig', ['-v'], { stdio: 'ignore' });
} catch {
  hasDig = false;
}
const ready = hasDig && findNsd() !== null;
const inCi = process.env.CI === 'true';
if (!ready && !inCi) console.warn('test/e2e/nsd-inspection.test.ts: nsd or dig is not installed (apt-get install nsd dnsutils): skipped');

const CLOAK = `$TTL 300
@        IN SOA ns1.cloak.test. hostmaster.cloak.test. 1 3600 900 604800 300
@        IN NS  ns1
ns1      IN A   127.0.0.1
innocent IN CNAME cdn.msstorageazure.com.
fresh    IN A   23.254.211.230
evil     IN DNAME msstorageazure.com.
www      IN A   192.0.2.1
`;
const C2 = `$TTL 300
@   IN SOA ns1.msstorageazure.com. hostmaster.msstorageazure.com. 1 3600 900 604800 300
@   IN NS  ns1.cloak.test.
cdn IN A   203.0.113.66
x   IN A   203.0.113.67
`;

let nsd: Nsd;
let c2: TestServer;

describe.skipIf(!ready && !inCi)('response inspection with NSD as the upstream', () => {
  beforeAll(async () => {
    nsd = await startNsd({ 'cloak.test.': CLOAK, 'msstorageazure.com.': C2 });
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${nsd.port}`], lists: [{ name: '3cx', path: 'c2.txt', tags: ['c2', '3cx'] }] }, { 'c2.txt': 'msstorageazure.com\n23.254.211.230\n' });
  });
  afterAll(async () => {
    await c2?.close();
    await nsd?.close();
  });

  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(c2.port), '+tries=1', '+time=3', ...args])).stdout;

  for (const transport of ['+notcp', '+tcp']) {
    it(`a CNAME into a listed name gets the null address, not the C2 address (${transport})`, async () => {
      const out = await dig(transport, 'innocent.cloak.test', 'A');
      expect(out).toMatch(/status: NOERROR/);
      expect(out).toMatch(/^innocent\.cloak\.test\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0$/m);
      expect(out).not.toContain('203.0.113.66');
      // Over UDP the EDE text does not fit the blocked-answer amplification cap; the code does.
      if (transport === '+tcp') expect(out).toContain('trigger=cname chain=innocent.cloak.test>cdn.msstorageazure.com');
      else expect(out).toMatch(/EDE: 15 \(Blocked\)$/m);
    });
  }

  it('a DNAME into a listed zone is blocked (trigger dname)', async () => {
    const out = await dig('+tcp', 'x.evil.cloak.test', 'A');
    expect(out).toMatch(/^x\.evil\.cloak\.test\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0$/m);
    expect(out).not.toContain('203.0.113.67');
    expect(out).toContain('trigger=dname');
  });

  it('a fresh name whose address is a listed C2 IP is blocked (trigger answer-ip)', async () => {
    const out = await dig('+tcp', 'fresh.cloak.test', 'A');
    expect(out).toMatch(/^fresh\.cloak\.test\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0$/m);
    expect(out).not.toContain('23.254.211.230\n');
    expect(out).toContain('rule=23.254.211.230/32 trigger=answer-ip');
  });

  it('an unlisted name is relayed as NSD answered it, and the log says why the others were blocked', async () => {
    const out = await dig('www.cloak.test', 'A');
    expect(out).toMatch(/^www\.cloak\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1$/m);
    const lines = await c2.waitForQueries(['innocent.cloak.test', 'fresh.cloak.test', 'www.cloak.test']);
    expect(lines.find((l) => l.qname === 'innocent.cloak.test')).toMatchObject({ action: 'blocked', list: '3cx', rule: 'msstorageazure.com', decidedBy: 'list', trigger: 'cname', chain: ['innocent.cloak.test', 'cdn.msstorageazure.com'] });
    expect(lines.find((l) => l.qname === 'fresh.cloak.test')).toMatchObject({ action: 'blocked', trigger: 'answer-ip', chain: ['fresh.cloak.test', '23.254.211.230'] });
    expect(lines.find((l) => l.qname === 'www.cloak.test')).toMatchObject({ action: 'allowed', decidedBy: null });
  });
});
