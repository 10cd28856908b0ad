// ISC-style EDNS compliance checks (the DNS Flag Day `genreport` battery) asked with dig of
// c2dns and of an Unbound forwarder started by the test, both forwarding to the same NSD. The
// parts of each reply that the checks judge (rcode, header flags, OPT presence and version, DO
// echo, unknown EDNS flags and options not echoed, the answer records) must be the same. Needs
// dig, nsd and unbound (.ci/run installs them).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { findNsd, startNsd, type Nsd } from '../helpers/nsd.js';
import { findUnbound, startUnbound, type Unbound } from '../helpers/unbound.js';

const run = promisify(execFile);
let hasDig = true;
try {
  execFileSync('dig', ['-v'], { stdio: 'ignore' });
} catch {
  hasDig = false;
}
const ready = hasDig && findNsd() !== null && findUnbound() !== null;
const inCi = process.env.CI === 'true';
if (!ready && !inCi) console.warn('test/e2e/edns-interop.test.ts: dig, nsd or unbound is not installed (apt-get install dnsutils nsd unbound): skipped');

const ZONE = `$TTL 300
@     IN SOA ns1.interop.test. hostmaster.interop.test. 1 3600 900 604800 300
@     IN NS  ns1
ns1   IN A   127.0.0.1
www   IN A   192.0.2.1
www   IN AAAA 2001:db8::1
alias IN CNAME www
@     IN MX  10 mx1
@     IN MX  20 mx2
mx1   IN A   192.0.2.25
mx2   IN A   192.0.2.26
big   IN TXT "${'a'.repeat(200)}" "${'b'.repeat(200)}"
big   IN TXT "${'c'.repeat(200)}" "${'d'.repeat(200)}"
`;

/** The checks of ISC's EDNS compliance report (name, dig options, question). */
const CHECKS: [string, string[], string, string][] = [
  ['dns (no EDNS)', ['+noedns'], 'www.interop.test', 'A'],
  ['edns', ['+edns=0', '+nocookie'], 'www.interop.test', 'A'],
  ['edns1 (unknown version: BADVERS)', ['+edns=1', '+noednsneg', '+nocookie'], 'www.interop.test', 'A'],
  ['edns@512 (large answer, small buffer)', ['+edns=0', '+bufsize=512', '+dnssec', '+nocookie', '+ignore'], 'big.interop.test', 'TXT'],
  ['ednsopt (unknown option not echoed)', ['+edns=0', '+ednsopt=100', '+nocookie'], 'www.interop.test', 'A'],
  ['edns1opt', ['+edns=1', '+noednsneg', '+ednsopt=100', '+nocookie'], 'www.interop.test', 'A'],
  ['do (DO bit echoed)', ['+edns=0', '+dnssec', '+nocookie'], 'www.interop.test', 'AAAA'],
  ['ednsflags (unknown flag not echoed)', ['+edns=0', '+ednsflags=0x80', '+nocookie'], 'www.interop.test', 'A'],
  ['optlist (expire, subnet)', ['+edns=0', '+expire', '+subnet=0.0.0.0/0', '+nocookie'], 'www.interop.test', 'A'],
  ['ednstcp', ['+edns=0', '+tcp', '+nocookie'], 'alias.interop.test', 'A'],
  ['dnstcp', ['+noedns', '+tcp'], 'interop.test', 'MX'],
  ['nxdomain', ['+edns=0', '+nocookie'], 'nothing.interop.test', 'A'],
  ['nodata', ['+edns=0', '+nocookie'], 'www.interop.test', 'TXT'],
];

interface Judged {
  status: string;
  flags: string[];
  opt: boolean;
  version: string | null;
  ednsFlags: string | null;
  mbz: boolean;
  /** EDNS options echoed that a server must not echo (unknown 100, EXPIRE from a non-authority). */
  echoed: string[];
  answer: string[];
}

/** What the compliance checks judge in dig's output. */
function judge(out: string): Judged {
  const status = /status: (\w+)/.exec(out)?.[1] ?? 'NONE';
  const flags = (/;; flags:([^;]*);/.exec(out)?.[1] ?? '').trim().split(/\s+/).filter((f) => f !== 'aa').sort();
  const edns = /; EDNS: version: (\d+), flags:([^;]*); (?:MBZ: (\S+), )?udp/.exec(out);
  const echoed = [...out.matchAll(/^; (OPT=100|EXPIRE)\b/gm)].map((m) => m[1]!);
  const answer: string[] = [];
  const sec = /;; ANSWER SECTION:\n([\s\S]*?)(?:\n\n|$)/.exec(out);
  if (sec) for (const l of sec[1]!.split('\n')) if (l.trim() !== '') answer.push(l.split(/\s+/).filter((_, i) => i !== 1).join(' ').toLowerCase());
  return { status, flags, opt: edns !== null, version: edns?.[1] ?? null, ednsFlags: edns === null ? null : edns[2]!.trim(), mbz: edns?.[3] !== undefined, echoed, answer: answer.sort() };
}

let nsd: Nsd;
let unbound: Unbound;
let c2: TestServer;

describe.skipIf(!ready && !inCi)('EDNS compliance checks, c2dns against an Unbound forwarder', () => {
  beforeAll(async () => {
    nsd = await startNsd({ 'interop.test.': ZONE });
    unbound = await startUnbound(nsd.port);
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${nsd.port}`] });
  });
  afterAll(async () => {
    await c2?.close();
    await unbound?.close();
    await nsd?.close();
  });

  const dig = async (port: number, opts: string[], name: string, type: string): Promise<string> =>
    (await run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...opts, name, type])).stdout;

  for (const [what, opts, name, type] of CHECKS) {
    it(`${what}: ${opts.join(' ')} ${name} ${type}`, async () => {
      const ref = judge(await dig(unbound.port, opts, name, type));
      const ours = judge(await dig(c2.port, opts, name, type));
      expect(ours, 'c2dns compared with Unbound').toEqual(ref);
      // And what the checks require of any server, whatever Unbound does.
      expect(ours.echoed).toEqual([]);
      expect(ours.mbz).toBe(false);
    });
  }
});
