// The answer cache: hits replay upstream bytes with the client's ID and case and aged TTLs;
// negative answers are kept for the SOA's negative TTL (RFC 2308); some answers are never kept.
import { afterEach, describe, expect, it } from 'vitest';
import { ask, sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { encodeReply, startUpstream, zoneScript, type Script, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T, type QueryOptions } from '../helpers/wire.js';

const ZONE = {
  'example.org 1': [
    { name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 },
    { name: 'example.org', type: T.A, address: '192.0.2.11', ttl: 100 },
  ],
  'short.example.org 1': [{ name: 'short.example.org', type: T.A, address: '192.0.2.12', ttl: 5 }],
  'long.example.org 1': [{ name: 'long.example.org', type: T.A, address: '192.0.2.13', ttl: 999999 }],
  'www.example.org 5': [{ name: 'www.example.org', type: T.CNAME, domain: 'example.org', ttl: 300 }],
};

let up: Upstream;
let c2: TestServer;
afterEach(async () => {
  await c2?.close();
  await up?.close();
});

async function setup(script: Script = zoneScript(ZONE), cache: Record<string, number> = {}): Promise<void> {
  up = await startUpstream(script);
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], upstream: { timeoutMs: 300 }, cache });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cache', () => {
  it('answers a repeat from cache with the new ID and TTLs aged by the time spent in cache', async () => {
    await setup();
    const first = await ask(c2.port, 'example.org', T.A, { id: 1 });
    expect(first.packet.answers.map((a) => a.ttl)).toEqual([120, 100]);
    await sleep(1100);
    const second = await ask(c2.port, 'example.org', T.A, { id: 2 });
    expect(up.received).toHaveLength(1);
    expect(second.packet.header.id).toBe(2);
    const ttls = second.packet.answers.map((a) => a.ttl);
    expect(ttls[0]).toBeLessThanOrEqual(119);
    expect(ttls[0]).toBeGreaterThanOrEqual(117);
    expect(ttls[0]! - ttls[1]!).toBe(20); // every TTL decremented by the same amount
    const lines = await c2.waitForLog(2);
    expect(lines.map((l) => l.action)).toEqual(['allowed', 'cached']);
  });

  it("keys on the lower-cased name but answers with this client's case", async () => {
    await setup();
    await ask(c2.port, 'www.example.org', T.CNAME);
    const { packet } = await ask(c2.port, 'WwW.ExAmPlE.oRg', T.CNAME);
    expect(up.received).toHaveLength(1);
    expect(packet.questions[0]!.name).toBe('WwW.ExAmPlE.oRg');
  });

  it('keeps type, class and the DO bit apart', async () => {
    await setup();
    await ask(c2.port, 'example.org', T.A);
    await ask(c2.port, 'example.org', T.AAAA);
    await ask(c2.port, 'example.org', T.A, { edns: { do: true } });
    await ask(c2.port, 'example.org', T.A, { qclass: 255 }); // CH and HS never leave c2dns (chaos stage)
    expect(up.received).toHaveLength(4);
    await ask(c2.port, 'example.org', T.A, { edns: { do: true } });
    expect(up.received).toHaveLength(4);
  });

  it('caches NXDOMAIN for min(SOA TTL, SOA MINIMUM) (RFC 2308)', async () => {
    await setup(zoneScript(ZONE, 1));
    const first = await ask(c2.port, 'nope.example.org', T.A);
    expect(first.packet.header.rcode).toBe(3);
    await ask(c2.port, 'nope.example.org', T.A);
    expect(up.received).toHaveLength(1); // within the 1 s negative TTL
    await sleep(1100);
    await ask(c2.port, 'nope.example.org', T.A);
    expect(up.received).toHaveLength(2); // expired
  });

  it('caches NODATA (NOERROR, no answer, SOA) too', async () => {
    await setup();
    const r = await ask(c2.port, 'example.org', T.MX);
    expect(r.packet.header.rcode).toBe(0);
    expect(r.packet.answers).toHaveLength(0);
    await ask(c2.port, 'example.org', T.MX);
    expect(up.received).toHaveLength(1);
  });

  it('does not cache a negative answer without SOA, nor SERVFAIL', async () => {
    await setup((q) => (q.name === 'nosoa.example.org' ? { rcode: 3 } : { rcode: 2 }));
    await ask(c2.port, 'nosoa.example.org', T.A);
    await ask(c2.port, 'nosoa.example.org', T.A);
    await ask(c2.port, 'fail.example.org', T.A);
    await ask(c2.port, 'fail.example.org', T.A);
    expect(up.received).toHaveLength(4);
  });

  it('clamps TTLs to cache.minTtl / cache.maxTtl, on the first answer and on replays', async () => {
    await setup(zoneScript(ZONE), { minTtl: 30, maxTtl: 3600 });
    const short = await ask(c2.port, 'short.example.org', T.A);
    const long = await ask(c2.port, 'long.example.org', T.A);
    expect(short.packet.answers[0]!.ttl).toBe(30);
    expect(long.packet.answers[0]!.ttl).toBe(3600);
    const again = await ask(c2.port, 'short.example.org', T.A);
    expect(again.packet.answers[0]!.ttl).toBe(30);
    expect(up.received).toHaveLength(2);
  });

  it('does not cache answers with TTL 0', async () => {
    await setup((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1', ttl: 0 }] }));
    await ask(c2.port, 'zero.example.org', T.A);
    await ask(c2.port, 'zero.example.org', T.A);
    expect(up.received).toHaveLength(2);
  });

  // Issue 10 item 3: whichever query filled the cache decided AD for everyone.
  const AD = 0x0020;
  /** An upstream that sets AD=1 when the query asked for it (AD or DO), as a validator does. */
  const validating: Script = (q) => {
    const b = encodeReply(q, { answers: [{ name: q.name, type: T.A, address: '192.0.2.7', ttl: 300 }] }, null);
    const asked = (q.raw.readUInt16BE(2) & AD) !== 0 || (q.raw.length > 0 && q.packet.additionals.some((r) => r.type === T.OPT && (r.ttl & 0x8000) !== 0));
    if (asked) b.writeUInt16BE(b.readUInt16BE(2) | AD, 2);
    return { raw: b };
  };
  const askAd = async (name: string, ad: boolean, o: QueryOptions = {}): Promise<number> => {
    const msg = buildQuery(name, T.A, o);
    if (ad) msg.writeUInt16BE(msg.readUInt16BE(2) | AD, 2);
    const raw = await sendUdp(c2.port, msg);
    expect(decode(raw).answers).toHaveLength(1);
    return raw.readUInt16BE(2) & AD;
  };

  it('an AD=1 answer cached for an AD query is replayed with AD=0 to a query without AD or DO', async () => {
    await setup(validating);
    expect(await askAd('signed.example.org', true)).toBe(AD);
    expect(await askAd('signed.example.org', false)).toBe(0);
    expect(await askAd('signed.example.org', false, { edns: { do: true } })).toBe(AD);
  });

  it('an AD=0 answer cached for a plain query does not answer a query that asked for AD', async () => {
    await setup(validating);
    expect(await askAd('signed.example.org', false)).toBe(0);
    expect(await askAd('signed.example.org', true)).toBe(AD);
    expect(await askAd('signed.example.org', true)).toBe(AD); // and that one is cached too
    expect(up.received).toHaveLength(2);
  });
});
