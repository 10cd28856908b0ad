// The IP prefix table: the most specific prefix wins; on one prefix an allow beats a block and
// an important block beats an allow; important rules win across prefixes as in the name lists;
// IPv4-mapped IPv6 addresses also match the IPv4 prefixes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toCidr } from '../../src/blocklist/ioc.js';
import { IpPrefixTable, parseIp, type PrefixRule } from '../../src/blocklist/prefix-table.js';

interface Rule extends PrefixRule {
  readonly id: string;
}

type Spec = [cidr: string, kind: 'block' | 'allow', important?: 'important'];

function table(specs: Spec[]): IpPrefixTable<Rule> {
  const t = new IpPrefixTable<Rule>();
  for (const [cidr, kind, imp] of specs) t.add(cidr, { id: `${kind} ${cidr}`, kind, important: imp === 'important' });
  return t;
}

/** "kind prefix" of the deciding entry, or null. */
function decide(t: IpPrefixTable<Rule>, ip: string): string | null {
  const m = t.lookupText(ip);
  return m === null ? null : `${m.rule.kind} ${m.prefix}`;
}

describe('IpPrefixTable: which entry decides', () => {
  const t = table([
    ['23.254.211.230', 'block'],
    ['198.51.100.0/24', 'block'],
    ['198.51.100.7', 'allow'],
    ['10.0.0.0/8', 'block'],
    ['10.1.0.0/16', 'block'],
    ['203.0.113.0/24', 'block'],
    ['203.0.113.0/24', 'allow'],
    ['192.0.2.0/24', 'allow'],
    ['192.0.2.0/24', 'block', 'important'],
    ['172.16.5.4/12', 'block'],
    ['2001:db8::/32', 'block'],
    ['2001:db8:1::/48', 'allow'],
    ['2001:db8:1:2::/64', 'block'],
    ['2001:db8:ffff::1', 'block'],
    ['2001:db8:abcd:12::1/40', 'block'],
  ]);
  const cases: [ip: string, decidedBy: string | null, why: string][] = [
    ['23.254.211.230', 'block 23.254.211.230/32', 'a listed address'],
    ['23.254.211.231', null, 'its neighbour'],
    ['198.51.100.8', 'block 198.51.100.0/24', 'inside a blocked /24'],
    ['198.51.100.7', 'allow 198.51.100.7/32', 'an allowed /32 inside a blocked /24 (longest wins)'],
    ['10.2.3.4', 'block 10.0.0.0/8', 'the /8 alone'],
    ['10.1.3.4', 'block 10.1.0.0/16', 'the /16 inside the /8 (longest wins)'],
    ['11.0.0.1', null, 'outside every prefix'],
    ['203.0.113.9', 'allow 203.0.113.0/24', 'same prefix: the allow beats the block'],
    ['192.0.2.1', 'block 192.0.2.0/24', 'same prefix: the important block beats the allow'],
    ['172.31.255.255', 'block 172.16.0.0/12', 'host bits of "172.16.5.4/12" were cleared'],
    ['172.32.0.0', null, 'just past the /12'],
    ['2001:db8::5', 'block 2001:db8::/32', 'IPv6 /32'],
    ['2001:DB8:0:0::5', 'block 2001:db8::/32', 'IPv6 text in any case and spelling'],
    ['2001:db8:1::5', 'allow 2001:db8:1::/48', 'IPv6 allow /48 inside the /32'],
    ['2001:db8:1:2::5', 'block 2001:db8:1:2::/64', 'IPv6 block /64 inside the allowed /48'],
    ['2001:db8:ffff::1', 'block 2001:db8:ffff::1/128', 'IPv6 exact address'],
    ['2001:db8:abff::1', 'block 2001:db8:ab00::/40', 'IPv6 host bits cleared'],
    ['2001:db9::1', null, 'IPv6 outside'],
    ['::ffff:23.254.211.230', 'block 23.254.211.230/32', 'IPv4-mapped IPv6 matches the IPv4 entry'],
    ['::ffff:17fe:d3e6', 'block 23.254.211.230/32', 'the same mapped address in hex'],
    ['::ffff:198.51.100.7', 'allow 198.51.100.7/32', 'mapped: longest IPv4 prefix wins'],
    ['::ffff:203.0.113.9', 'allow 203.0.113.0/24', 'mapped: same-prefix precedence'],
    ['::23.254.211.230', null, 'IPv4-compatible (::a.b.c.d) is not mapped'],
    ['64:ff9b::23.254.211.230', null, 'NAT64 is not mapped'],
  ];
  for (const [ip, want, why] of cases) {
    it(`${ip} → ${want ?? 'no entry'} (${why})`, () => {
      expect(decide(t, ip)).toBe(want);
    });
  }

  it('lookup() takes the address as bytes: 4 for IPv4, 16 for IPv6', () => {
    expect(t.lookup(Uint8Array.of(23, 254, 211, 230))?.prefix).toBe('23.254.211.230/32');
    expect(t.lookup(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 23, 254, 211, 230))?.prefix).toBe('23.254.211.230/32');
    expect(t.lookup(parseIp('2001:db8::5')!)?.prefix).toBe('2001:db8::/32');
    expect(() => t.lookup(new Uint8Array(5))).toThrow(/4 or 16 bytes, got 5/);
  });

  it('returns the same object for every address one entry decides (no allocation per lookup)', () => {
    expect(t.lookupText('10.9.9.9')).toBe(t.lookupText('10.200.0.1'));
    expect(t.lookupText('2001:db8::1')).toBe(t.lookupText('2001:db8:2::1'));
  });
});

describe('IpPrefixTable: important rules, as in the name lists', () => {
  const cases: [rules: Spec[], ip: string, decidedBy: string][] = [
    [[['192.0.2.0/24', 'block', 'important'], ['192.0.2.7', 'allow']], '192.0.2.7', 'block 192.0.2.0/24'],
    [[['192.0.2.7', 'allow'], ['192.0.2.0/24', 'block', 'important']], '192.0.2.7', 'block 192.0.2.0/24'],
    [[['192.0.2.0/24', 'block', 'important'], ['192.0.2.7', 'allow', 'important']], '192.0.2.7', 'allow 192.0.2.7/32'],
    [[['192.0.2.0/24', 'block', 'important'], ['192.0.2.7', 'block', 'important']], '192.0.2.7', 'block 192.0.2.7/32'],
    [[['192.0.0.0/8', 'allow', 'important'], ['192.0.2.7', 'block', 'important']], '192.0.2.7', 'allow 192.0.0.0/8'],
    [[['192.0.2.0/24', 'block', 'important'], ['192.0.2.0/24', 'allow', 'important']], '192.0.2.1', 'allow 192.0.2.0/24'],
    [[['192.0.2.0/24', 'allow', 'important'], ['192.0.2.0/24', 'block', 'important']], '192.0.2.1', 'allow 192.0.2.0/24'],
    [[['2001:db8::/32', 'block', 'important'], ['2001:db8::1', 'allow']], '2001:db8::1', 'block 2001:db8::/32'],
    [[['2001:db8::/32', 'block', 'important'], ['2001:db8::1', 'allow']], '2001:db8::2', 'block 2001:db8::/32'],
  ];
  for (const [rules, ip, want] of cases) {
    it(`${rules.map((r) => r.filter(Boolean).join(' ')).join(', ')}: ${ip} → ${want}`, () => {
      expect(decide(table(rules), ip)).toBe(want);
    });
  }

  it('keeps the first of equal rules on one prefix (the earlier list)', () => {
    const t = new IpPrefixTable<Rule>();
    t.add('192.0.2.0/24', { id: 'first', kind: 'block' });
    t.add('192.0.2.0/24', { id: 'second', kind: 'block' });
    t.add('192.0.2.1/24', { id: 'third', kind: 'block' });
    expect(t.lookupText('192.0.2.9')?.rule.id).toBe('first');
    expect(t.size).toBe(1);
  });
});

describe('IpPrefixTable: IPv4 inside IPv6', () => {
  const cases: [rules: Spec[], ip: string, decidedBy: string | null, why: string][] = [
    [[['::ffff:0:0/96', 'block']], '::ffff:192.0.2.1', 'block ::ffff:0:0/96', 'an IPv6 prefix matches mapped addresses'],
    [[['::ffff:0:0/96', 'block']], '192.0.2.1', null, 'but never a 4-byte IPv4 address'],
    [[['::/0', 'block']], '192.0.2.1', null, 'not even ::/0'],
    [[['::ffff:1.2.3.4/128', 'block']], '::ffff:1.2.3.4', 'block ::ffff:102:304/128', 'mapped entry, mapped address'],
    [[['::ffff:1.2.3.4/128', 'block']], '1.2.3.4', null, 'mapped entry, IPv4 address'],
    [[['1.2.3.0/24', 'block'], ['::ffff:1.2.3.4/128', 'allow']], '::ffff:1.2.3.4', 'allow ::ffff:102:304/128', '/128 is longer than a /24 (= /120)'],
    [[['::ffff:1.2.3.0/120', 'allow'], ['1.2.3.4', 'block']], '::ffff:1.2.3.4', 'block 1.2.3.4/32', 'a /32 (= /128) is longer than /120'],
    [[['1.2.3.4', 'block'], ['::ffff:1.2.3.4', 'allow']], '::ffff:1.2.3.4', 'allow ::ffff:102:304/128', 'one prefix written both ways: allow beats block'],
    [[['::ffff:1.2.3.4', 'allow'], ['1.2.3.4', 'block']], '::ffff:1.2.3.4', 'allow ::ffff:102:304/128', '… in either order'],
    [[['1.2.3.4', 'block'], ['::ffff:1.2.3.4', 'block']], '::ffff:1.2.3.4', 'block 1.2.3.4/32', 'equal rules: the first added'],
    [[['::ffff:1.2.3.4', 'block'], ['1.2.3.4', 'block']], '::ffff:1.2.3.4', 'block ::ffff:102:304/128', 'equal rules: the first added'],
    [[['::/0', 'block'], ['1.2.3.0/24', 'allow']], '::ffff:1.2.3.4', 'allow 1.2.3.0/24', 'the IPv4 /24 is longer than ::/0'],
    [[['::/0', 'block', 'important'], ['1.2.3.0/24', 'allow']], '::ffff:1.2.3.4', 'block ::/0', 'an important IPv6 block beats a plain IPv4 allow'],
    [[['::/0', 'block'], ['0.0.0.0/0', 'block', 'important']], '::ffff:1.2.3.4', 'block 0.0.0.0/0', 'an important IPv4 block beats a plain IPv6 block'],
  ];
  for (const [rules, ip, want, why] of cases) {
    it(`${rules.map((r) => r.filter(Boolean).join(' ')).join(', ')}: ${ip} → ${want ?? 'no entry'} (${why})`, () => {
      expect(decide(table(rules), ip)).toBe(want);
    });
  }
});

describe('IpPrefixTable.add: canonical prefix text', () => {
  const cases: [input: string, stored: string][] = [
    ['23.254.211.230', '23.254.211.230/32'],
    ['23.254.211.99/24', '23.254.211.0/24'],
    ['1.2.3.4/0', '0.0.0.0/0'],
    ['255.255.255.255/31', '255.255.255.254/31'],
    [' 10.0.0.1/8 ', '10.0.0.0/8'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1/128'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:db8::ffff/127', '2001:db8::fffe/127'],
    ['::/0', '::/0'],
    ['1::/16', '1::/16'],
    ['::1', '::1/128'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0/128'],
    ['::ffff:1.2.3.4/128', '::ffff:102:304/128'],
    ['::ffff:1.2.3.4/104', '::ffff:100:0/104'],
  ];
  for (const [input, stored] of cases) {
    it(`"${input}" is stored as ${stored}`, () => {
      const t = table([[input, 'block']]);
      expect(t.lookupText(stored.slice(0, stored.indexOf('/')))?.prefix).toBe(stored);
    });
  }
});

describe('IpPrefixTable.add: bad input', () => {
  const cases: [input: string, message: RegExp][] = [
    ['', /bad IP prefix "": "" is not an IPv4 or IPv6 address/],
    ['example.com', /"example.com" is not an IPv4 or IPv6 address/],
    ['256.1.1.1', /"256.1.1.1" is not an IPv4 or IPv6 address/],
    ['1.2.3', /is not an IPv4 or IPv6 address/],
    ['1.2.3.4.5', /is not an IPv4 or IPv6 address/],
    ['01.2.3.4', /is not an IPv4 or IPv6 address/],
    ['1.2.3.4 /24', /is not an IPv4 or IPv6 address/],
    ['2001:db8:::1', /is not an IPv4 or IPv6 address/],
    ['2001:db8::1::2', /is not an IPv4 or IPv6 address/],
    ['1:2:3:4:5:6:7:8:9', /is not an IPv4 or IPv6 address/],
    ['1:2:3:4:5:6:7', /is not an IPv4 or IPv6 address/],
    ['12345::', /is not an IPv4 or IPv6 address/],
    ['::ffff:1.2.3.256', /is not an IPv4 or IPv6 address/],
    ['1.2.3.4::', /is not an IPv4 or IPv6 address/],
    ['fe80::1%eth0', /is not an IPv4 or IPv6 address/],
    ['[2001:db8::1]', /is not an IPv4 or IPv6 address/],
    ['1.2.3.4/33', /bad IP prefix "1.2.3.4\/33": prefix length 33 is out of range 0-32 for IPv4/],
    ['2001:db8::/129', /prefix length 129 is out of range 0-128 for IPv6/],
    ['::ffff:1.2.3.4/129', /prefix length 129 is out of range 0-128 for IPv6/],
    ['1.2.3.4/', /prefix length "" is not a number/],
    ['1.2.3.4/-1', /prefix length "-1" is not a number/],
    ['1.2.3.4/0x8', /prefix length "0x8" is not a number/],
    ['1.2.3.4/24/8', /prefix length "24\/8" is not a number/],
    ['1.2.3.4/1000', /prefix length "1000" is not a number/],
  ];
  for (const [input, message] of cases) {
    it(`refuses "${input}"`, () => {
      const t = new IpPrefixTable<Rule>();
      expect(() => t.add(input, { id: 'x', kind: 'block' })).toThrow(message);
      expect(t.empty).toBe(true);
    });
  }
});

describe('IpPrefixTable.lookupText', () => {
  const t = table([['0.0.0.0/0', 'block'], ['::/0', 'block']]);
  for (const text of ['', 'example.com', 'not an ip', '1.2.3.4/32', '1.2.3.4.5', '::g', '1.2.3.4:53', '[::1]', '01.2.3.4']) {
    it(`"${text}" is not an address: null`, () => {
      expect(t.lookupText(text)).toBeNull();
    });
  }
  it('trims surrounding white space', () => {
    expect(t.lookupText(' 1.2.3.4\n')?.prefix).toBe('0.0.0.0/0');
  });
});

describe('IpPrefixTable: size and empty', () => {
  it('counts distinct prefixes', () => {
    const t = new IpPrefixTable<Rule>();
    expect([t.empty, t.size]).toEqual([true, 0]);
    expect(t.lookupText('1.2.3.4')).toBeNull();
    t.add('1.2.3.4', { id: 'a', kind: 'block' });
    expect([t.empty, t.size]).toEqual([false, 1]);
    t.add('1.2.3.4/32', { id: 'b', kind: 'allow' });
    t.add('1.2.3.5/31', { id: 'c', kind: 'block' });
    expect(t.size).toBe(2);
    t.add('::ffff:1.2.3.4', { id: 'd', kind: 'block' });
    expect(t.size).toBe(3);
  });
});

// ---- property: the table decides exactly as a linear scan with the same precedence ----------

interface RefEntry {
  bytes: Uint8Array;
  len: number;
  rule: Rule;
  seq: number;
}

function inPrefix(addr: Uint8Array, net: Uint8Array, len: number): boolean {
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((addr[bit >> 3]! & m) !== (net[bit >> 3]! & m)) return false;
  }
  return true;
}

function masked(b: Uint8Array, len: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let bit = len; bit < b.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function fullText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

function isMapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255;
}

/** The README's precedence stated directly: important allow, important block, longest, allow over block, first. */
function reference(entries: RefEntry[], addr: Uint8Array): { rule: Rule; prefix: string } | null {
  const mapped = isMapped(addr);
  let best: { key: number[]; e: RefEntry } | null = null;
  for (const e of entries) {
    let span: number;
    if (e.bytes.length === 4) {
      const a4 = addr.length === 4 ? addr : mapped ? addr.subarray(12) : null;
      if (a4 === null || !inPrefix(a4, e.bytes, e.len)) continue;
      span = 96 + e.len;
    } else {
      if (addr.length !== 16 || !inPrefix(addr, e.bytes, e.len)) continue;
      span = e.len;
    }
    const imp = e.rule.important === true;
    const allow = e.rule.kind === 'allow';
    const tier = imp ? (allow ? 2 : 1) : 0;
    const key = [tier, span, (imp ? 2 : 0) + (allow ? 1 : 0), -e.seq];
    if (best === null || compare(key, best.key) > 0) best = { key, e };
  }
  if (best === null) return null;
  const e = best.e;
  return { rule: e.rule, prefix: toCidr(`${fullText(masked(e.bytes, e.len))}/${e.len}`)! };
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

// Addresses near a few bases, so that prefixes overlap and nest; the mapped base makes IPv4 and
// IPv6 entries meet.
const V4_BASES = [[10, 1, 2, 3], [192, 0, 2, 200], [0, 0, 0, 0], [255, 255, 255, 255]];
const V6_BASES = [
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
];
const address = fc.oneof(
  fc.record({ base: fc.constantFrom(...V4_BASES), flip: fc.nat(32), bits: fc.integer() }).map(({ base, flip, bits }) => perturb(base, flip, bits)),
  fc.record({ base: fc.constantFrom(...V6_BASES), flip: fc.nat(128), bits: fc.integer() }).map(({ base, flip, bits }) => perturb(base, flip, bits)),
);

/** The base with some of its last `flip` bits changed (at most 32 of them, spread by `bits`). */
function perturb(base: number[], flip: number, bits: number): Uint8Array {
  const out = Uint8Array.from(base);
  const total = out.length * 8;
  for (let k = 0; k < Math.min(flip, 32); k++) {
    if (((bits >>> k) & 1) === 0) continue;
    const bit = total - 1 - ((k * 7) % flip);
    out[bit >> 3]! ^= 0x80 >> (bit & 7);
  }
  return out;
}

const entryArb = fc.record({
  addr: address,
  lenFrac: fc.double({ min: 0, max: 1, noNaN: true }),
  kind: fc.constantFrom('block' as const, 'allow' as const),
  important: fc.boolean(),
  mappedText: fc.boolean(),
  noSlash: fc.boolean(),
});

describe('IpPrefixTable: property', () => {
  it('decides as a linear scan over the same rules', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 40 }), fc.array(address, { maxLength: 30 }), (specs, queries) => {
        const t = new IpPrefixTable<Rule>();
        const ref: RefEntry[] = [];
        specs.forEach((s, seq) => {
          const max = s.addr.length * 8;
          // Longer prefixes are more common in lists, and make matches less trivial.
          const len = Math.round(max * Math.sqrt(s.lenFrac));
          let text = fullText(s.addr);
          if (s.mappedText && isMapped(s.addr)) text = `::ffff:${s.addr.subarray(12).join('.')}`;
          if (!(s.noSlash && len === max)) text += `/${len}`;
          const rule: Rule = { id: `#${seq} ${s.kind}${s.important ? ' important' : ''} ${text}`, kind: s.kind, important: s.important };
          t.add(text, rule);
          ref.push({ bytes: s.addr, len, rule, seq });
        });
        // The entries' own addresses match at least themselves.
        for (const q of [...queries, ...specs.map((s) => s.addr)]) {
          const want = reference(ref, q);
          const got = t.lookup(q);
          expect(got === null ? null : { rule: got.rule.id, prefix: got.prefix }).toEqual(want === null ? null : { rule: want.rule.id, prefix: want.prefix });
          expect(t.lookupText(fullText(q))).toBe(got);
          // A 4-byte address and its mapped form see the same IPv4 entries.
          if (q.length === 4) {
            const m = new Uint8Array(16);
            m[10] = m[11] = 255;
            m.set(q, 12);
            const viaMapped = reference(ref.filter((e) => e.bytes.length === 4), m);
            expect(got?.rule.id ?? null).toBe(viaMapped?.rule.id ?? null);
          }
        }
        expect(t.size).toBe(new Set(ref.map((e) => `${e.bytes.length} ${fullText(masked(e.bytes, e.len))}/${e.len}`)).size);
      }),
      { numRuns: 500 },
    );
  });

  it('writes prefixes as toCidr does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(128), fc.boolean(), (bytes, len, v4) => {
        const b = v4 ? bytes.subarray(0, 4) : bytes;
        const l = v4 ? len % 33 : len;
        const m = masked(b, l);
        const t = table([[`${fullText(m)}/${l}`, 'block']]);
        expect(t.lookup(m)?.prefix).toBe(toCidr(`${fullText(m)}/${l}`));
      }),
      { numRuns: 300 },
    );
  });
});
