// Blocking, allowlisting and forwarding, as request → answer cases over real UDP sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { edeOf, T } from '../helpers/wire.js';

const BLOCK = `# test blocklist
akamaicontainer.com
msstorageazure.com
sbmsa.wiki
tracker.example.net
`;
const ALLOW = `# allowlist
good.tracker.example.net
`;

let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  up = await startUpstream(
    zoneScript({
      'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }],
      'good.tracker.example.net 1': [{ name: 'good.tracker.example.net', type: T.A, address: '192.0.2.20' }],
    }),
  );
  c2 = await startC2dns(
    {
      upstreams: [`127.0.0.1:${up.port}`],
      lists: [
        { name: 'c2', path: 'block.txt' },
        { name: 'ok', path: 'allow.txt', kind: 'allow' },
      ],
      blocking: { ttl: 42 },
    },
    { 'block.txt': BLOCK, 'allow.txt': ALLOW },
  );
});

afterAll(async () => {
  await c2.close();
  await up.close();
});

interface Case {
  name: string;
  qname: string;
  qtype: number;
  rcode: number;
  answer: string[]; // "type data" of each answer record
  authoritySoaOwner?: string;
  forwarded: boolean;
  rule?: string;
}

const cases: Case[] = [
  { name: 'apex A → 0.0.0.0', qname: 'akamaicontainer.com', qtype: T.A, rcode: 0, answer: ['1 0.0.0.0'], forwarded: false, rule: 'akamaicontainer.com' },
  { name: 'subdomain AAAA → ::', qname: 'cdn.msstorageazure.com', qtype: T.AAAA, rcode: 0, answer: ['28 ::'], forwarded: false, rule: 'msstorageazure.com' },
  { name: 'MX → NODATA with SOA of the rule', qname: 'sbmsa.wiki', qtype: T.MX, rcode: 0, answer: [], authoritySoaOwner: 'sbmsa.wiki', forwarded: false, rule: 'sbmsa.wiki' },
  { name: 'TXT of a deep subdomain → NODATA', qname: 'a.b.c.sbmsa.wiki', qtype: T.TXT, rcode: 0, answer: [], authoritySoaOwner: 'sbmsa.wiki', forwarded: false, rule: 'sbmsa.wiki' },
  { name: 'mixed case and trailing dot', qname: 'AkAmAiCoNtAiNeR.CoM.', qtype: T.A, rcode: 0, answer: ['1 0.0.0.0'], forwarded: false, rule: 'akamaicontainer.com' },
  { name: 'a look-alike that is not a subdomain is not blocked', qname: 'xakamaicontainer.com', qtype: T.A, rcode: 3, answer: [], forwarded: true },
  { name: 'parent of a listed name is not blocked', qname: 'example.net', qtype: T.A, rcode: 3, answer: [], forwarded: true },
  { name: 'allowlist beats a less specific block', qname: 'good.tracker.example.net', qtype: T.A, rcode: 0, answer: ['1 192.0.2.20'], forwarded: true, rule: 'good.tracker.example.net' },
  { name: 'the allowlist does not lift siblings', qname: 'bad.tracker.example.net', qtype: T.A, rcode: 0, answer: ['1 0.0.0.0'], forwarded: false, rule: 'tracker.example.net' },
  { name: 'unlisted name is forwarded', qname: 'example.org', qtype: T.A, rcode: 0, answer: ['1 192.0.2.10'], forwarded: true },
];

describe('policy: request → answer', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const before = up.received.length;
      const { packet } = await ask(c2.port, c.qname, c.qtype, { edns: {} });
      expect(packet.header.rcode).toBe(c.rcode);
      expect(packet.header.qr).toBe(1);
      expect(packet.questions[0]!.name).toBe(c.qname.replace(/\.$/, '')); // case preserved
      expect(packet.answers.map((a) => `${a.type} ${a.address}`)).toEqual(c.answer);
      if (c.authoritySoaOwner) {
        expect(packet.authorities).toHaveLength(1);
        expect(packet.authorities[0]!.type).toBe(T.SOA);
        expect(packet.authorities[0]!.name).toBe(c.authoritySoaOwner);
        expect(packet.authorities[0]!.minimum).toBe(42);
      }
      expect(up.received.length > before).toBe(c.forwarded);
      const ede = edeOf(packet);
      if (!c.forwarded) {
        expect(packet.answers.every((a) => a.ttl === 42)).toBe(true);
        // Over UDP the EDE text goes along only where it fits the blocked-answer cap
        // (test/server/amplification.test.ts); over TCP always.
        expect(ede.map((e) => e.infoCode)).toEqual([15]);
        const tcp = await ask(c2.port, c.qname, c.qtype, { edns: {}, tcp: true });
        expect(edeOf(tcp.packet)).toEqual([{ infoCode: 15, text: `blocked by c2dns: list=c2 rule=${c.rule}` }]);
      } else expect(ede).toEqual([]);
    });
  }

  it('sends no OPT (hence no EDE) to a client that did not use EDNS', async () => {
    const { packet } = await ask(c2.port, 'akamaicontainer.com', T.A);
    expect(packet.answers[0]!.address).toBe('0.0.0.0');
    expect(packet.additionals).toEqual([]);
  });

  it('logs the list and rule that decided', async () => {
    await ask(c2.port, 'x.msstorageazure.com', T.A);
    const lines = await c2.waitForQueries(['x.msstorageazure.com', 'good.tracker.example.net']);
    const line = lines.find((l) => l.qname === 'x.msstorageazure.com');
    expect(line).toMatchObject({ action: 'blocked', list: 'c2', rule: 'msstorageazure.com', ruleKind: 'block', rcode: 'NOERROR', transport: 'udp', client: '127.0.0.1' });
    const allowed = lines.find((l) => l.qname === 'good.tracker.example.net');
    expect(allowed).toMatchObject({ action: 'allowed', list: 'ok', ruleKind: 'allow', upstream: `127.0.0.1:${up.port}` });
  });
});
