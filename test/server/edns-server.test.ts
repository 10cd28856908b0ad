// NSID (RFC 5001), EDNS TCP keepalive (RFC 7828) and DNS Cookies (RFC 7873 with RFC 9018 server
// cookies) towards clients: SipHash-2-4 and the RFC 9018 appendix A vectors, then end to end over
// UDP and TCP (cookie handed out, kept while valid, renewed when not, FORMERR for bad lengths,
// BADCOOKIE with server.cookies.require and as the rate limiter's slip, a valid cookie counting as
// a proven address), the NSID text, and the keepalive timeout on TCP only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkServerCookie, fixedKey, makeServerCookie, rotatingKeys } from '../../src/dns/cookies.js';
import { findOpt, OPT_FIXED_LEN } from '../../src/dns/opt.js';
import { siphash24 } from '../../src/dns/siphash.js';
import { appendOptions } from '../../src/server/edns-server.js';
import { sendTcp, sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { option, queryWith } from '../helpers/edns-options.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, T } from '../helpers/wire.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** The EDNS options of a reply (its OPT record's RDATA), in order. */
function replyOptions(msg: Buffer): { code: number; data: Buffer }[] {
  const opt = findOpt(msg);
  if (opt === null) return [];
  const start = opt.start + OPT_FIXED_LEN;
  const end = start + msg.readUInt16BE(opt.start + 9);
  const out: { code: number; data: Buffer }[] = [];
  for (let off = start; off + 4 <= end; ) {
    const len = msg.readUInt16BE(off + 2);
    out.push({ code: msg.readUInt16BE(off), data: Buffer.from(msg.subarray(off + 4, off + 4 + len)) });
    off += 4 + len;
  }
  return out;
}

/** Header rcode with the OPT's extended bits. */
function fullRcode(msg: Buffer): number {
  const opt = findOpt(msg);
  return (msg[3]! & 0x0f) | ((opt?.extRcode ?? 0) << 4);
}

const cookieOf = (msg: Buffer): Buffer | undefined => replyOptions(msg).find((o) => o.code === 10)?.data;

describe('SipHash-2-4 and RFC 9018 server cookies', () => {
  it('matches the SipHash reference vectors', () => {
    const key = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
    const msg = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i));
    expect(siphash24(key, msg(0)).toString('hex')).toBe('310e0edd47db6f72');
    expect(siphash24(key, msg(1)).toString('hex')).toBe('fd67dc93c539f874');
    expect(siphash24(key, msg(15)).toString('hex')).toBe('e545be4961ca29a1');
  });

  const k1 = fixedKey(hex('e5e973e5a6b2a43f48e7dc849e37bfcf'));
  it('makes the server cookies of RFC 9018 appendix A', () => {
    expect(makeServerCookie(k1, hex('2464c4abcf10c957'), '198.51.100.100', 1559731985).toString('hex')).toBe('010000005cf79f111f8130c3eee29480');
    expect(makeServerCookie(k1, hex('2464c4abcf10c957'), '198.51.100.100', 1559734385).toString('hex')).toBe('010000005cf7a871d4a564a1442aca77');
    expect(makeServerCookie(k1, hex('fc93fc62807ddb86'), '203.0.113.203', 1559734700).toString('hex')).toBe('010000005cf7a9acf73a7810aca2381e');
    const k4 = fixedKey(hex('445536bcd2513298075a5d379663c962'));
    expect(makeServerCookie(k4, hex('22681ab97d52c298'), '2001:db8:220:1:59de:d0f4:8769:82b8', 1559741961).toString('hex')).toBe('010000005cf7c609a6bb79d16625507a');
  });

  it('checks returned cookies: reserved octets hashed as sent, the address, the hour, the renewal after 30 minutes', () => {
    const a3 = hex('01abcdef5cf78f71a314227b6679ebf5');
    expect(checkServerCookie(k1, hex('fc93fc62807ddb86'), a3, '203.0.113.203', 0x5cf78f71 + 60)).toEqual({ verdict: 'valid', renew: false });
    expect(checkServerCookie(k1, hex('fc93fc62807ddb86'), a3, '203.0.113.204', 0x5cf78f71 + 60).verdict).toBe('invalid');
    expect(checkServerCookie(k1, hex('fc93fc62807ddb86'), a3, '203.0.113.203', 0x5cf78f71 + 1801)).toEqual({ verdict: 'valid', renew: true });
    expect(checkServerCookie(k1, hex('fc93fc62807ddb86'), a3, '203.0.113.203', 0x5cf78f71 + 3601).verdict).toBe('invalid');
    expect(checkServerCookie(k1, hex('fc93fc62807ddb86'), a3, '203.0.113.203', 0x5cf78f71 - 301).verdict).toBe('invalid');
    const old = fixedKey(hex('dd3bdf9344b678b185a6f5cb60fca715'));
    expect(checkServerCookie(old, hex('22681ab97d52c298'), hex('010000005cf7c57926556bd0934c72f8'), '2001:db8:220:1:59de:d0f4:8769:82b8', 0x5cf7c579).verdict).toBe('valid');
  });

  it('rotating keys: a cookie is checked with its own period\'s key, so it outlives the rotation by its hour', () => {
    const keys = rotatingKeys(hex('00112233445566778899aabbccddeeff'), 3600);
    const t = 3600 * 1000 + 3500; // 100 s before a rotation
    const c = makeServerCookie(keys, hex('0102030405060708'), '192.0.2.1', t);
    expect(checkServerCookie(keys, hex('0102030405060708'), c, '192.0.2.1', t + 1000).verdict).toBe('valid');
    expect(keys.keyFor(t)).not.toEqual(keys.keyFor(t + 200));
  });

  it('appendOptions adds to the OPT record and leaves replies without one alone', () => {
    const q = buildQuery('a.example', T.A, { edns: {} });
    const withOpt = appendOptions(q, option(3, Buffer.from('x')));
    expect(replyOptions(withOpt)).toEqual([{ code: 3, data: Buffer.from('x') }]);
    const plain = buildQuery('a.example', T.A);
    expect(appendOptions(plain, option(3, Buffer.from('x')))).toBe(plain);
  });
});

let up: Upstream;
let c2: TestServer;
let strict: TestServer;
beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'a.example 1': [{ name: 'a.example', type: T.A, address: '192.0.2.1', ttl: 300 }] }));
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], server: { nsid: 'c2dns-test-1' }, tcp: { idleTimeoutMs: 7000 }, rateLimit: { exempt: [], burst: 5, qps: 1 } });
  strict = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], server: { cookies: { require: true } } });
});
afterAll(async () => {
  await c2?.close();
  await strict?.close();
  await up?.close();
});

const metric = async (s: TestServer, name: string): Promise<string> => (await s.server.metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');

describe('DNS Cookies end to end', () => {
  const clientCookie = hex('a1b2c3d4e5f60718');

  it('hands out a server cookie, keeps it while valid, replaces an invalid one', async () => {
    const r1 = await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, clientCookie)]), { from: '127.0.0.1' });
    const c1 = cookieOf(r1)!;
    expect(c1).toHaveLength(24);
    expect(c1.subarray(0, 8)).toEqual(clientCookie);
    expect(c1[8]).toBe(1); // RFC 9018 version 1
    const r2 = await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, c1)]), { from: '127.0.0.1' });
    expect(cookieOf(r2)).toEqual(c1); // valid and young: the same one back
    const forged = Buffer.from(c1);
    forged[23] ^= 1;
    const r3 = await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, forged)]), { from: '127.0.0.1' });
    expect(fullRcode(r3)).toBe(0); // processed normally (require is off)
    expect(cookieOf(r3)!.subarray(0, 8)).toEqual(clientCookie);
    expect(cookieOf(r3)).not.toEqual(forged);
    // The cookie is bound to the address: from 127.0.0.2 it is not valid.
    await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, c1)]), { from: '127.0.0.2' });
    const m = await metric(c2, 'c2dns_dns_cookies_total');
    expect(m).toMatch(/verdict="valid"} 1$/m);
    expect(m).toMatch(/verdict="invalid"} 2$/m);
  });

  it('answers FORMERR to COOKIE options of a length RFC 7873 does not allow', async () => {
    for (const len of [7, 9, 15, 41]) {
      const r = await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, Buffer.alloc(len, 1))]));
      expect(fullRcode(r), `length ${len}`).toBe(1);
    }
  });

  it('server.cookies.require: BADCOOKIE with a fresh cookie over UDP, then the answer with it; TCP and cookie-less queries served', async () => {
    const r1 = await sendUdp(strict.port, queryWith('a.example', T.A, [option(10, clientCookie)]));
    expect(fullRcode(r1)).toBe(23); // BADCOOKIE: header 7, OPT extended rcode 1
    expect(r1[3]! & 0x0f).toBe(7);
    const c = cookieOf(r1)!;
    expect(c).toHaveLength(24);
    const r2 = await sendUdp(strict.port, queryWith('a.example', T.A, [option(10, c)]));
    expect(fullRcode(r2)).toBe(0);
    expect(r2.readUInt16BE(6)).toBe(1); // the answer
    expect(fullRcode(await sendTcp(strict.port, queryWith('a.example', T.A, [option(10, clientCookie)])))).toBe(0);
    expect(fullRcode(await sendUdp(strict.port, buildQuery('a.example', T.A, { edns: {} })))).toBe(0);
  });

  it('a rate-limited client that sent a cookie gets BADCOOKIE as its slip; with a valid cookie it is proven: REFUSED, not dropped', async () => {
    const from = '127.0.0.7';
    const q = (): Buffer => queryWith('a.example', T.A, [option(10, clientCookie)]);
    for (let i = 0; i < 5; i++) await sendUdp(c2.port, q(), { from }); // the burst
    // Over the rate: dropped, then the slip (every 2nd) is BADCOOKIE carrying a server cookie.
    await expect(sendUdp(c2.port, q(), { from, timeoutMs: 300 })).rejects.toThrow(/no UDP answer/);
    const slip = await sendUdp(c2.port, q(), { from, timeoutMs: 1000 });
    expect(fullRcode(slip)).toBe(23);
    const valid = cookieOf(slip)!;
    // With it, the same client is proven: its own bucket, and REFUSED rather than silence once that is empty too.
    const proven = async (): Promise<number> => fullRcode(await sendUdp(c2.port, queryWith('a.example', T.A, [option(10, valid)]), { from, timeoutMs: 1000 }));
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push(await proven());
    expect(codes.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(codes.slice(5)).toEqual([5, 5]);
  });
});

describe('NSID and TCP keepalive', () => {
  it('returns server.nsid to a query that asks for it, and nothing to one that does not', async () => {
    const r = await sendUdp(c2.port, queryWith('a.example', T.A, [option(3, Buffer.alloc(0))]));
    expect(replyOptions(r).find((o) => o.code === 3)?.data.toString()).toBe('c2dns-test-1');
    expect(replyOptions(await sendUdp(c2.port, buildQuery('a.example', T.A, { edns: {} }))).find((o) => o.code === 3)).toBeUndefined();
  });

  it('advertises the TCP idle timeout (100 ms units) over TCP when asked; never over UDP; FORMERR for a query that sets a timeout', async () => {
    const tcp = await sendTcp(c2.port, queryWith('a.example', T.A, [option(11, Buffer.alloc(0))]));
    expect(replyOptions(tcp).find((o) => o.code === 11)?.data.readUInt16BE(0)).toBe(70);
    const udp = await sendUdp(c2.port, queryWith('a.example', T.A, [option(11, Buffer.alloc(0))]));
    expect(replyOptions(udp).find((o) => o.code === 11)).toBeUndefined();
    expect(fullRcode(await sendTcp(c2.port, queryWith('a.example', T.A, [option(11, Buffer.from([0, 50]))])))).toBe(1);
  });
});
