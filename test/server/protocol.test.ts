// Protocol corrections found by the issue 10 protocol test, end to end over real sockets: c2dns
// started from a config file, a scripted upstream, dns2 as the reference decoder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';

const MX = Array.from({ length: 12 }, (_, i) => ({ name: 'mail.example.org', type: T.MX, priority: 10 + i, exchange: `mx${i}.example.org` }));
const GLUE = Array.from({ length: 37 }, (_, i) => ({ name: `mx${i % 12}.example.org`, type: T.A, address: `192.0.2.${i + 1}` }));
const BIG = Array.from({ length: 60 }, (_, i) => ({ name: 'big.example.org', type: T.A, address: `192.0.2.${i + 1}` }));

let up: Upstream;
let c2: TestServer;
beforeAll(async () => {
  up = await startUpstream((q) => {
    const n = q.name.toLowerCase();
    if (n === 'mail.example.org') return { answers: MX, additionals: GLUE };
    if (n === 'big.example.org') return { answers: BIG };
    return { answers: [{ name: q.name, type: T.A, address: '192.0.2.99' }] };
  });
  c2 = await startC2dns(
    { upstreams: [`127.0.0.1:${up.port}`], upstream: { timeoutMs: 400 }, cache: { maxEntries: 0 }, lists: [{ name: 'c2', path: 'block.txt' }] },
    { 'block.txt': 'akamaicontainer.com\n' },
  );
});
afterAll(async () => {
  await c2?.close();
  await up?.close();
});

const logFor = async (qname: string): Promise<Record<string, unknown>> => {
  const lines = await c2.waitForQueries([qname]);
  return lines.filter((l) => l.qname === qname).at(-1)!;
};

describe('an answer that does not fit a UDP datagram (item 2, RFC 2181 §9)', () => {
  it('12 MX + 37 glue, no EDNS: the 12 MX without the glue, TC=0', async () => {
    const { raw, packet } = await ask(c2.port, 'mail.example.org', T.MX);
    expect(raw.length).toBeLessThanOrEqual(512);
    expect(packet.header).toMatchObject({ tc: 0, rcode: 0, ancount: 12, arcount: 0 });
    expect(packet.answers.map((a) => a.exchange)).toEqual(MX.map((m) => m.exchange));
    expect(await logFor('mail.example.org')).toMatchObject({ action: 'allowed', truncated: false, rcode: 'NOERROR' });
  });

  it('with EDNS 1232 the glue fits and stays', async () => {
    const { packet } = await ask(c2.port, 'mail.example.org', T.MX, { edns: {} });
    expect(packet.header).toMatchObject({ tc: 0, ancount: 12, arcount: 38 });
  });

  it('an answer section over 512 bytes still gets TC=1 (question and nothing else)', async () => {
    const { packet } = await ask(c2.port, 'big.example.org', T.A);
    expect(packet.header).toMatchObject({ tc: 1, ancount: 0, qdcount: 1 });
    expect(await logFor('big.example.org')).toMatchObject({ truncated: true });
  });
});

describe('the query log has the full rcode (item 5)', () => {
  it('EDNS version 1: BADVERS in the reply and in the log (action formerr)', async () => {
    const { packet } = await ask(c2.port, 'badvers.example.org', T.A, { edns: { version: 1 } });
    expect(packet.header.rcode).toBe(16);
    expect(await logFor('badvers.example.org')).toMatchObject({ action: 'formerr', rcode: 'BADVERS' });
  });
});

describe('CHAOS class and other classes (item 8)', () => {
  for (const name of ['version.bind', 'hostname.bind', 'id.server', 'authors.bind']) {
    it(`${name} CH TXT is answered REFUSED by c2dns and never forwarded`, async () => {
      const before = up.received.length;
      const { packet } = await ask(c2.port, name, T.TXT, { qclass: 3, edns: {} });
      expect(packet.header).toMatchObject({ rcode: 5, ancount: 0, ra: 1 });
      expect(packet.questions[0]).toMatchObject({ name, class: 3 });
      expect(up.received.length).toBe(before);
      expect(await logFor(name)).toMatchObject({ action: 'refused', rcode: 'REFUSED', upstream: null });
    });
  }

  it('a listed name in class CH: REFUSED, not NOERROR with an IN-class SOA', async () => {
    const { packet } = await ask(c2.port, 'akamaicontainer.com', T.TXT, { qclass: 3 });
    expect(packet.header).toMatchObject({ rcode: 5, ancount: 0, nscount: 0 });
  });

  for (const qclass of [255, 254, 42]) {
    it(`a listed name in class ${qclass}: REFUSED with the block's EDE`, async () => {
      const raw = await sendUdp(c2.port, buildQuery('akamaicontainer.com', T.A, { qclass, edns: {} }));
      const p = decode(raw);
      expect(p.header).toMatchObject({ rcode: 5, ancount: 0, nscount: 0 });
      const line = await logFor('akamaicontainer.com');
      expect(line).toMatchObject({ action: 'blocked', rcode: 'REFUSED', rule: 'akamaicontainer.com' });
    });
  }

  it('the same listed name in class IN is still the null answer', async () => {
    const { packet } = await ask(c2.port, 'akamaicontainer.com', T.A);
    expect(packet.answers.map((a) => a.address)).toEqual(['0.0.0.0']);
  });
});
