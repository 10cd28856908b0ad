// The client-identity options a forwarder adds (ECS, MAC, CPE-ID), read from real query bytes:
// every form dnsmasq sends, and garbage, which must give what could be read plus `malformed`,
// never an exception.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressText } from '../../src/dns/address.js';
import { hasClientOptions, normalizeMac, readClientOptions, type ClientOptions } from '../../src/dns/client-options.js';
import { parseQuery, ParseStatus } from '../../src/dns/query.js';
import { cpeId, ecs, mac, option, queryWith } from '../helpers/edns-options.js';
import { buildQuery } from '../helpers/wire.js';

function read(options: Buffer[]): ClientOptions {
  const msg = queryWith('example.org', 1, options);
  const pq = parseQuery(msg);
  expect(pq.status).toBe(ParseStatus.Ok);
  return readClientOptions(msg, pq.ednsOptions, pq.ednsOptionsLen);
}

/** What the reader saw, in a form a table can state. */
function seen(o: ClientOptions): { ecs: string | null; host: boolean | null; mac: string | null; cpeId: string | null; malformed: boolean } {
  return { ecs: o.ecs?.cidr ?? null, host: o.ecs?.host ?? null, mac: o.mac, cpeId: o.cpeId, malformed: o.malformed };
}

const none = { ecs: null, host: null, mac: null, cpeId: null, malformed: false };

// dnsmasq 2.90's own bytes for a host 10.199.1.2 with MAC 02:00:00:aa:bb:01 and --add-cpe-id=site-7
// (captured from `dnsmasq --add-mac[=text|=base64] --add-subnet=32,128 --add-cpe-id=site-7`).
const DNSMASQ = {
  binary: Buffer.from('fde90006020000aabb01fe320006736974652d3700080008000120000ac70102', 'hex'),
  text: Buffer.from('fe31001130323a30303a30303a61613a62623a3031fe320006736974652d3700080008000120000ac70102', 'hex'),
  base64: Buffer.from('fe3100084167414171727342fe320006736974652d3700080008000120000ac70102', 'hex'),
};

const cases: { name: string; options: Buffer[]; want: Partial<ReturnType<typeof seen>> }[] = [
  { name: 'no options', options: [], want: none },
  { name: 'only a DNS cookie (not ours)', options: [option(10, Buffer.alloc(8, 7))], want: none },
  { name: 'ECS IPv4 /32: one host', options: [ecs('192.168.1.20', 32)], want: { ecs: '192.168.1.20/32', host: true, malformed: false } },
  { name: 'ECS IPv4 /24: a network', options: [ecs('192.168.1.0', 24)], want: { ecs: '192.168.1.0/24', host: false } },
  { name: 'ECS IPv4 /20: the last octet carries 4 bits', options: [ecs('10.1.16.0', 20)], want: { ecs: '10.1.16.0/20', host: false, malformed: false } },
  { name: 'ECS IPv6 /128', options: [ecs('2001:db8::1:0:0:42', 128)], want: { ecs: '2001:db8::1:0:0:42/128', host: true } },
  { name: 'ECS IPv6 /56', options: [ecs('2001:db8:0:ab00::', 56)], want: { ecs: '2001:db8:0:ab00::/56', host: false } },
  { name: 'ECS /0: the client asked not to be located (no identity, not malformed)', options: [ecs('0.0.0.0', 0)], want: none },
  { name: 'ECS scope not 0 in a query', options: [ecs('192.168.1.20', 32, 24)], want: { ecs: null, malformed: true } },
  { name: 'ECS prefix longer than the family', options: [option(8, Buffer.from([0, 1, 33, 0, 1, 2, 3, 4, 5]))], want: { ecs: null, malformed: true } },
  { name: 'ECS unknown family', options: [option(8, Buffer.from([0, 3, 8, 0, 1]))], want: { ecs: null, malformed: true } },
  { name: 'ECS address longer than its prefix needs', options: [option(8, Buffer.from([0, 1, 24, 0, 192, 168, 1, 20]))], want: { ecs: null, malformed: true } },
  { name: 'ECS bits set past the prefix', options: [option(8, Buffer.from([0, 1, 20, 0, 10, 1, 31]))], want: { ecs: null, malformed: true } },
  { name: 'ECS shorter than its fixed part', options: [option(8, Buffer.from([0, 1, 32]))], want: { ecs: null, malformed: true } },
  { name: 'two ECS options: neither is used', options: [ecs('192.168.1.20', 32), ecs('192.168.1.21', 32)], want: { ecs: null, malformed: true } },
  { name: 'MAC, 6 bytes in 65001 (--add-mac)', options: [mac('3c:22:fb:41:7a:09')], want: { mac: '3c:22:fb:41:7a:09', malformed: false } },
  { name: 'MAC as text in 65073 (--add-mac=text)', options: [mac('3C:22:FB:41:7A:09', 'text')], want: { mac: '3c:22:fb:41:7a:09', malformed: false } },
  { name: 'MAC as base64 in 65073 (--add-mac=base64)', options: [mac('3c:22:fb:41:7a:09', 'base64')], want: { mac: '3c:22:fb:41:7a:09', malformed: false } },
  { name: 'MAC as text in 65001', options: [mac('3c-22-fb-41-7a-09', 'text', 65001)], want: { mac: '3c:22:fb:41:7a:09' } },
  { name: 'MAC as 6 bytes in 65073', options: [mac('3c:22:fb:41:7a:09', 'binary', 65073)], want: { mac: '3c:22:fb:41:7a:09' } },
  { name: 'MAC of 5 bytes', options: [option(65001, Buffer.from([1, 2, 3, 4, 5]))], want: { mac: null, malformed: true } },
  { name: 'MAC text that is not hex', options: [option(65073, Buffer.from('zz:22:fb:41:7a:09'))], want: { mac: null, malformed: true } },
  { name: 'MAC base64 with a bad character', options: [option(65073, Buffer.from('AgAAqr*B'))], want: { mac: null, malformed: true } },
  { name: 'the same MAC twice (binary and text) is one MAC', options: [mac('02:00:00:aa:bb:01'), mac('02:00:00:aa:bb:01', 'text')], want: { mac: '02:00:00:aa:bb:01', malformed: false } },
  { name: 'two different MACs: neither is used', options: [mac('02:00:00:aa:bb:01'), mac('02:00:00:aa:bb:02', 'text')], want: { mac: null, malformed: true } },
  { name: 'CPE-ID text', options: [cpeId('site-7')], want: { cpeId: 'site-7', malformed: false } },
  { name: 'CPE-ID empty', options: [cpeId('')], want: { cpeId: null, malformed: true } },
  { name: 'CPE-ID with a control character', options: [option(65074, Buffer.from('site\n7'))], want: { cpeId: null, malformed: true } },
  { name: 'CPE-ID longer than 64 characters', options: [cpeId('x'.repeat(65))], want: { cpeId: null, malformed: true } },
  {
    name: 'all three, in any order, beside other options',
    options: [option(10, Buffer.alloc(8)), cpeId('site-7'), mac('02:00:00:aa:bb:01'), ecs('10.199.1.2', 32)],
    want: { ecs: '10.199.1.2/32', host: true, mac: '02:00:00:aa:bb:01', cpeId: 'site-7', malformed: false },
  },
  { name: "dnsmasq's --add-mac bytes", options: [DNSMASQ.binary], want: { ecs: '10.199.1.2/32', host: true, mac: '02:00:00:aa:bb:01', cpeId: 'site-7', malformed: false } },
  { name: "dnsmasq's --add-mac=text bytes", options: [DNSMASQ.text], want: { ecs: '10.199.1.2/32', mac: '02:00:00:aa:bb:01', cpeId: 'site-7', malformed: false } },
  { name: "dnsmasq's --add-mac=base64 bytes", options: [DNSMASQ.base64], want: { ecs: '10.199.1.2/32', mac: '02:00:00:aa:bb:01', cpeId: 'site-7', malformed: false } },
];

describe('readClientOptions', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(seen(read(c.options))).toMatchObject(c.want);
    });
  }

  it('keeps the whole ECS option as received, to copy upstream', () => {
    const opt = ecs('192.168.1.20', 32);
    expect(read([mac('02:00:00:aa:bb:01'), opt]).ecs!.raw).toEqual(opt);
  });

  it('keeps what it read before an option that runs past the RDATA', () => {
    const msg = queryWith('example.org', 1, [ecs('192.168.1.20', 32), mac('02:00:00:aa:bb:01')]);
    const pq = parseQuery(msg);
    // Claim the MAC option is longer than what is left: its header is read, its data is not.
    const macLenAt = pq.ednsOptions + 12 + 2;
    msg.writeUInt16BE(200, macLenAt);
    const o = readClientOptions(msg, pq.ednsOptions, pq.ednsOptionsLen);
    expect(seen(o)).toEqual({ ecs: '192.168.1.20/32', host: true, mac: null, cpeId: null, malformed: true });
  });

  it('stops at a fragment of an option header', () => {
    const msg = queryWith('example.org', 1, [cpeId('site-7'), Buffer.from([0xfd])]);
    const pq = parseQuery(msg);
    expect(seen(readClientOptions(msg, pq.ednsOptions, pq.ednsOptionsLen))).toEqual({ ...none, cpeId: 'site-7', malformed: true });
  });

  it('is bounded by the message even when told a longer RDATA', () => {
    const msg = queryWith('example.org', 1, [cpeId('site-7')]);
    const pq = parseQuery(msg);
    expect(seen(readClientOptions(msg, pq.ednsOptions, pq.ednsOptionsLen + 100))).toEqual({ ...none, cpeId: 'site-7', malformed: true });
    expect(seen(readClientOptions(msg, -1, 0))).toEqual(none);
  });

  it('never throws on random option bytes and never reads outside them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.uint8Array({ minLength: 0, maxLength: 20 }), (rdata, after) => {
        // The options sit between a prefix and bytes that are not theirs; flipping those must not change the result.
        const prefix = Buffer.from([1, 2, 3]);
        const msg = Buffer.concat([prefix, Buffer.from(rdata), Buffer.from(after)]);
        const a = readClientOptions(msg, prefix.length, rdata.length);
        const other = Buffer.from(msg);
        for (let i = 0; i < prefix.length; i++) other[i] = ~other[i]! & 0xff;
        for (let i = prefix.length + rdata.length; i < other.length; i++) other[i] = ~other[i]! & 0xff;
        const b = readClientOptions(other, prefix.length, rdata.length);
        expect(seen(b)).toEqual(seen(a));
        if (a.ecs !== null) expect(a.ecs.raw.length).toBeLessThanOrEqual(rdata.length);
        if (a.cpeId !== null) expect(a.cpeId).toMatch(/^[\x21-\x7e]{1,64}$/);
        if (a.mac !== null) expect(a.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('hasClientOptions', () => {
  it('finds ECS, MAC (both codes) and CPE-ID options and nothing else', () => {
    const has = (options: Buffer[]): boolean => {
      const msg = queryWith('example.org', 1, options);
      const pq = parseQuery(msg);
      return hasClientOptions(msg, pq.ednsOptions, pq.ednsOptionsLen);
    };
    expect(has([option(10, Buffer.alloc(8))])).toBe(false);
    expect(has([])).toBe(false);
    for (const o of [ecs('10.0.0.1', 32), mac('02:00:00:aa:bb:01'), mac('02:00:00:aa:bb:01', 'text'), cpeId('x')]) expect(has([option(10, Buffer.alloc(8)), o])).toBe(true);
  });
});

describe('parseQuery: where the EDNS options are', () => {
  it('points at the OPT RDATA, or -1 without OPT', () => {
    expect(parseQuery(buildQuery('example.org', 1))).toMatchObject({ status: ParseStatus.Ok, ednsOptions: -1, ednsOptionsLen: 0 });
    expect(parseQuery(queryWith('example.org', 1, []))).toMatchObject({ status: ParseStatus.Ok, edns: true, ednsOptionsLen: 0 });
    const msg = queryWith('example.org', 1, [cpeId('abc')]);
    const pq = parseQuery(msg);
    expect(pq.ednsOptionsLen).toBe(4 + 3);
    expect(msg.toString('latin1', pq.ednsOptions + 4, pq.ednsOptions + 7)).toBe('abc');
  });
});

describe('normalizeMac and addressText', () => {
  it('accepts ":" and "-" in any case, nothing else', () => {
    expect(normalizeMac('AA-BB-CC-DD-EE-0F')).toBe('aa:bb:cc:dd:ee:0f');
    expect(normalizeMac('aa:bb:cc:dd:ee:0f')).toBe('aa:bb:cc:dd:ee:0f');
    for (const bad of ['aa:bb-cc:dd:ee:0f', 'aa:bb:cc:dd:ee', 'aabb.ccdd.ee0f', 'aa:bb:cc:dd:ee:0g', ' aa:bb:cc:dd:ee:0f']) expect(normalizeMac(bad), bad).toBeNull();
  });

  it('writes RFC 5952 text', () => {
    const v6 = (hex: string): string => addressText(Buffer.from(hex, 'hex'));
    expect(v6('20010db8000000000000000000000001')).toBe('2001:db8::1');
    expect(v6('00000000000000000000000000000000')).toBe('::');
    expect(v6('20010db8000000010000000000000001')).toBe('2001:db8:0:1::1');
    expect(v6('20010db8000100000001000000000000')).toBe('2001:db8:1:0:1::'); // the longer run wins
    expect(v6('20010db8000000010001000100010001')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
  });
});
