// inspectAnswer: which names, addresses and additional records of an upstream answer a response
// policy must check. Answers are real wire messages: dns2 encodes the ordinary ones (compressing
// names as a server would) and they go through storeResponse like in the relay; DNAME, SVCB,
// HTTPS and every malformed case are written byte by byte with the small builder below.
import { describe, expect, it } from 'vitest';
import { addressBytes } from '../../src/dns/address.js';
import { chainTo, inspectAnswer, withoutAdditional, type AnswerFacts, type ReachedName } from '../../src/dns/inspect.js';
import { skipName } from '../../src/dns/names.js';
import { parseQuery, ParseStatus } from '../../src/dns/query.js';
import { storeResponse } from '../../src/dns/relay.js';
import { decode, Packet, T, type DecodedPacket } from '../helpers/wire.js';

const DNAME = 39;
const SVCB = 64;
const HTTPS = 65;

interface Built {
  wire: Buffer;
  qEnd: number;
}

// ---- answers encoded by dns2, stored as the relay stores them ----------------------------

type Rec = Record<string, unknown> & { name: string; type: number };

function viaDns2(qname: string, qtype: number, s: { answers?: Rec[]; authorities?: Rec[]; additionals?: Rec[] }): Built {
  type Resource = DecodedPacket['answers'][number];
  type Question = DecodedPacket['questions'][number];
  const p = new Packet();
  p.header.id = 1;
  p.header.qr = 1;
  p.header.rd = 1;
  p.header.ra = 1;
  p.questions.push({ name: qname, type: qtype, class: 1 } as Question);
  const fill = (r: Rec) => ({ class: 1, ttl: 300, ...r }) as unknown as Resource;
  p.answers.push(...(s.answers ?? []).map(fill));
  p.authorities.push(...(s.authorities ?? []).map(fill));
  p.additionals.push(...(s.additionals ?? []).map(fill));
  const raw = p.toBuffer();
  const qEnd = skipName(raw, 12) + 4;
  const stored = storeResponse(raw, qEnd, 0);
  if (stored === null) throw new Error('storeResponse rejected a dns2 answer');
  return { wire: stored.wire, qEnd };
}

// ---- answers written by hand -------------------------------------------------------------

/**
 * A name: presentation text (literal, or compressed against earlier names when the message
 * compresses), labels followed by a pointer to an offset or to a mark, or raw bytes.
 */
type Name = string | { labels?: string; ptr: number | string } | { raw: number[] };
/** RDATA pieces: bytes, a 16-bit number, a name, or a mark (remembers the current offset). */
type Part = number[] | { u16: number } | { name: Name } | { mark: string };

interface HandRec {
  owner: Name;
  type: number;
  rdata: Part[];
  /** Overrides RDLENGTH (to lie about it). */
  rdlength?: number;
}

interface HandMsg {
  qname: string;
  qtype?: number;
  an?: HandRec[];
  ns?: HandRec[];
  ar?: HandRec[];
  /** Compress string names against earlier ones, as a server would. */
  compress?: boolean;
  /** Cut this many bytes off the end. */
  chop?: number;
}

function handBuilt(m: HandMsg): Built {
  const out: number[] = [];
  const marks = new Map<string, number>();
  const fixups: { at: number; mark: string }[] = [];
  const suffixes = new Map<string, number>();
  const u16 = (n: number) => out.push(n >>> 8, n & 0xff);

  const writeName = (n: Name, compress: boolean): void => {
    if (typeof n === 'string') {
      const labels = n === '' ? [] : n.split('.');
      for (let i = 0; i < labels.length; i++) {
        const key = labels.slice(i).join('.').toLowerCase();
        const at = suffixes.get(key);
        if (compress && at !== undefined) {
          u16(0xc000 | at);
          return;
        }
        if (out.length < 0x4000) suffixes.set(key, out.length);
        const b = Buffer.from(labels[i]!, 'latin1');
        out.push(b.length, ...b);
      }
      out.push(0);
    } else if ('raw' in n) {
      out.push(...n.raw);
    } else {
      if (n.labels) for (const l of n.labels.split('.')) out.push(l.length, ...Buffer.from(l, 'latin1'));
      if (typeof n.ptr === 'number') u16(0xc000 | n.ptr);
      else {
        fixups.push({ at: out.length, mark: n.ptr });
        u16(0);
      }
    }
  };

  u16(0x1234);
  u16(0x8180);
  u16(1);
  u16(m.an?.length ?? 0);
  u16(m.ns?.length ?? 0);
  u16(m.ar?.length ?? 0);
  writeName(m.qname, false);
  u16(m.qtype ?? T.A);
  u16(1);
  const qEnd = out.length;
  for (const r of [...(m.an ?? []), ...(m.ns ?? []), ...(m.ar ?? [])]) {
    writeName(r.owner, m.compress ?? false);
    u16(r.type);
    u16(1);
    out.push(0, 0, 1, 0x2c);
    const lenAt = out.length;
    u16(0);
    const start = out.length;
    for (const p of r.rdata) {
      if (Array.isArray(p)) out.push(...p);
      else if ('u16' in p) u16(p.u16);
      else if ('mark' in p) marks.set(p.mark, out.length);
      else writeName(p.name, m.compress ?? false);
    }
    const rdlen = r.rdlength ?? out.length - start;
    out[lenAt] = rdlen >>> 8;
    out[lenAt + 1] = rdlen & 0xff;
  }
  for (const f of fixups) {
    const at = marks.get(f.mark);
    if (at === undefined) throw new Error(`no mark ${f.mark}`);
    out[f.at] = 0xc0 | (at >>> 8);
    out[f.at + 1] = at & 0xff;
  }
  const wire = Buffer.from(out);
  return { wire: m.chop ? wire.subarray(0, wire.length - m.chop) : wire, qEnd };
}

const rr = {
  cname: (owner: Name, target: Name): HandRec => ({ owner, type: T.CNAME, rdata: [{ name: target }] }),
  dname: (owner: Name, target: Name): HandRec => ({ owner, type: DNAME, rdata: [{ name: target }] }),
  a: (owner: Name, ip: string): HandRec => ({ owner, type: T.A, rdata: [[...addressBytes(ip)]] }),
  /** SvcPriority, TargetName, then one SvcParam (alpn=h2) so the name is not the whole RDATA. */
  svc: (type: number, owner: Name, priority: number, target: Name): HandRec => ({
    owner,
    type,
    rdata: [{ u16: priority }, { name: target }, { u16: 1 }, { u16: 3 }, [2, 0x68, 0x32]],
  }),
};

// ---- expectations ------------------------------------------------------------------------

interface Expected {
  names?: [name: string, via: ReachedName['via'], from: string][];
  addresses?: [owner: string, ip: string][];
  additional?: [index: number, name: string][];
  empty?: boolean;
}

function shape(f: AnswerFacts): Required<Expected> {
  return {
    names: f.names.map((n) => [n.name, n.via, n.from]),
    addresses: f.addresses.map((a) => [a.owner, ipText(a.bytes)]),
    additional: f.additional.map((a) => [a.index, a.name]),
    empty: f.empty,
  };
}

/** Expected addresses are compared by bytes, so the text form only needs to round-trip here. */
function ipText(b: Uint8Array): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

function normalized(e: Expected): Required<Expected> {
  return {
    names: e.names ?? [],
    addresses: (e.addresses ?? []).map(([o, ip]) => [o, ipText(addressBytes(ip))]),
    additional: e.additional ?? [],
    empty: e.empty ?? false,
  };
}

// ---- the specification -------------------------------------------------------------------

interface Case {
  spec: string;
  msg: () => Built;
  expect: Expected | null;
}

const cases: Case[] = [
  // What a policy must follow
  {
    spec: 'a single CNAME: its target, reached from the qname',
    msg: () =>
      viaDns2('www.shop.example', T.A, {
        answers: [
          { name: 'www.shop.example', type: T.CNAME, domain: 'shop.cdn.example' },
          { name: 'shop.cdn.example', type: T.A, address: '192.0.2.10' },
        ],
      }),
    expect: {
      names: [['shop.cdn.example', 'cname', 'www.shop.example']],
      addresses: [['shop.cdn.example', '192.0.2.10']],
    },
  },
  {
    spec: 'a two-hop chain: both targets in record order, each from its predecessor',
    msg: () =>
      viaDns2('a.example', T.A, {
        answers: [
          { name: 'a.example', type: T.CNAME, domain: 'b.example.net' },
          { name: 'b.example.net', type: T.CNAME, domain: 'c2.example' },
          { name: 'c2.example', type: T.A, address: '198.51.100.7' },
        ],
      }),
    expect: {
      names: [
        ['b.example.net', 'cname', 'a.example'],
        ['c2.example', 'cname', 'b.example.net'],
      ],
      addresses: [['c2.example', '198.51.100.7']],
    },
  },
  {
    spec: 'DNAME with its synthesized CNAME: the DNAME target from the DNAME owner, then the CNAME target',
    msg: () =>
      handBuilt({
        qname: 'www.old.example',
        compress: true,
        an: [rr.dname('old.example', 'new.example.net'), rr.cname('www.old.example', 'www.new.example.net'), rr.a('www.new.example.net', '192.0.2.1')],
      }),
    expect: {
      names: [
        ['new.example.net', 'dname', 'old.example'],
        ['www.new.example.net', 'cname', 'www.old.example'],
      ],
      addresses: [['www.new.example.net', '192.0.2.1']],
    },
  },
  {
    spec: 'HTTPS with a TargetName: the target, from the owner',
    msg: () => handBuilt({ qname: 'example.com', qtype: HTTPS, an: [rr.svc(HTTPS, 'example.com', 1, 'svc.example.net')] }),
    expect: { names: [['svc.example.net', 'svcb-target', 'example.com']] },
  },
  {
    spec: 'HTTPS in AliasMode (priority 0) names its target the same way',
    msg: () => handBuilt({ qname: 'example.com', qtype: HTTPS, an: [rr.svc(HTTPS, 'example.com', 0, 'pool.example.net')] }),
    expect: { names: [['pool.example.net', 'svcb-target', 'example.com']] },
  },
  {
    spec: 'SVCB with TargetName "." means the owner itself: nothing to check',
    msg: () => handBuilt({ qname: '_dns.resolver.arpa', qtype: SVCB, an: [rr.svc(SVCB, '_dns.resolver.arpa', 1, '')] }),
    expect: { empty: true },
  },
  {
    spec: 'a compressed TargetName is tolerated (RFC 9460 forbids it, servers still send it)',
    msg: () =>
      handBuilt({ qname: 'www.example.com', qtype: HTTPS, an: [rr.svc(HTTPS, { ptr: 12 }, 1, { labels: 'edge', ptr: 16 })] }),
    expect: { names: [['edge.example.com', 'svcb-target', 'www.example.com']] },
  },
  {
    spec: 'the same target twice is reported once, at its first record',
    msg: () =>
      handBuilt({
        qname: 'example.com',
        qtype: HTTPS,
        compress: true,
        an: [rr.svc(HTTPS, 'example.com', 1, 'svc.example.net'), rr.svc(HTTPS, 'example.com', 2, 'svc.example.net')],
      }),
    expect: { names: [['svc.example.net', 'svcb-target', 'example.com']] },
  },

  // Addresses
  {
    spec: 'A and AAAA records: their bytes with owners, nothing else',
    msg: () =>
      viaDns2('dual.example', T.A, {
        answers: [
          { name: 'dual.example', type: T.A, address: '192.0.2.1' },
          { name: 'dual.example', type: T.A, address: '192.0.2.2' },
          { name: 'dual.example', type: T.AAAA, address: '2001:db8::1' },
        ],
      }),
    expect: {
      addresses: [
        ['dual.example', '192.0.2.1'],
        ['dual.example', '192.0.2.2'],
        ['dual.example', '2001:db8::1'],
      ],
    },
  },

  // Additional section
  {
    spec: 'glue of an MX answer: each additional owner that is not the qname, by index',
    msg: () =>
      viaDns2('example.org', T.MX, {
        answers: [
          { name: 'example.org', type: T.MX, exchange: 'mx1.mail.example', priority: 10 },
          { name: 'example.org', type: T.MX, exchange: 'mx2.mail.example', priority: 20 },
        ],
        additionals: [
          { name: 'mx1.mail.example', type: T.A, address: '192.0.2.25' },
          { name: 'example.org', type: T.TXT, data: 'about the qname itself' },
          { name: 'mx2.mail.example', type: T.AAAA, address: '2001:db8::25' },
        ],
      }),
    expect: {
      additional: [
        [0, 'mx1.mail.example'],
        [2, 'mx2.mail.example'],
      ],
    },
  },
  {
    spec: 'an additional record owned by the qname in another letter case is the qname',
    msg: () => handBuilt({ qname: 'Example.ORG', qtype: T.MX, ar: [rr.a('eXample.org', '192.0.2.1')] }),
    expect: { empty: true },
  },

  // Nothing to check
  {
    spec: 'an answer with nothing relevant (MX, TXT, authority SOA) is empty',
    msg: () =>
      viaDns2('example.org', T.MX, {
        answers: [
          { name: 'example.org', type: T.MX, exchange: 'mx.example.org', priority: 10 },
          { name: 'example.org', type: T.TXT, data: 'v=spf1 -all' },
        ],
        authorities: [
          { name: 'example.org', type: T.NS, ns: 'ns1.example.org' },
        ],
      }),
    expect: { empty: true },
  },
  {
    spec: 'NXDOMAIN-shaped answer (no records at all) is empty',
    msg: () => viaDns2('nothing.example', T.A, {}),
    expect: { empty: true },
  },

  // Name form
  {
    spec: 'names are case-folded like ParsedQuery.name',
    msg: () =>
      handBuilt({
        qname: 'WWW.Example.COM',
        an: [rr.cname({ ptr: 12 }, 'CDN.Example.NET'), rr.a('Cdn.EXAMPLE.net', '192.0.2.9')],
      }),
    expect: {
      names: [['cdn.example.net', 'cname', 'www.example.com']],
      addresses: [['cdn.example.net', '192.0.2.9']],
    },
  },
  {
    spec: 'odd bytes in labels are escaped (\\. \\\\ \\DDD), never confused with a listed name',
    msg: () =>
      handBuilt({
        qname: 'q.example',
        an: [rr.cname({ ptr: 12 }, { raw: [3, 0x63, 0x2e, 0x32, 2, 0x5c, 0x20, 7, ...Buffer.from('example'), 0] })],
      }),
    expect: { names: [['c\\.2.\\\\\\032.example', 'cname', 'q.example']] },
  },
  {
    spec: 'the root as a CNAME target leads nowhere and is not reported',
    msg: () => handBuilt({ qname: 'q.example', an: [rr.cname({ ptr: 12 }, '')] }),
    expect: { empty: true },
  },

  // Compression
  {
    spec: 'compressed names in rdata: labels plus a pointer, and a pointer to a pointer',
    msg: () =>
      handBuilt({
        qname: 'www.example.com',
        an: [
          // www.example.com CNAME edge.example.com   (edge + pointer into the question)
          { owner: { ptr: 12 }, type: T.CNAME, rdata: [{ mark: 'edge' }, { name: { labels: 'edge', ptr: 16 } }] },
          // edge.example.com CNAME c2.edge.example.com (c2 + pointer to the previous rdata)
          { owner: { ptr: 'edge' }, type: T.CNAME, rdata: [{ name: { labels: 'c2', ptr: 'edge' } }] },
        ],
      }),
    expect: {
      names: [
        ['edge.example.com', 'cname', 'www.example.com'],
        ['c2.edge.example.com', 'cname', 'edge.example.com'],
      ],
    },
  },

  // Malformed: null, never a partial answer
  {
    spec: 'a pointer to itself (loop) is malformed',
    msg: () => handBuilt({ qname: 'q.example', an: [{ owner: { ptr: 12 }, type: T.CNAME, rdata: [{ mark: 'me' }, { name: { ptr: 'me' } }] }] }),
    expect: null,
  },
  {
    spec: 'labels then a pointer back to the same name (loop through labels) is malformed',
    msg: () =>
      handBuilt({ qname: 'q.example', an: [{ owner: { ptr: 12 }, type: T.CNAME, rdata: [{ mark: 'me' }, { name: { labels: 'x', ptr: 'me' } }] }] }),
    expect: null,
  },
  {
    spec: 'a forward pointer is malformed even when it lands on a valid name',
    msg: () =>
      handBuilt({
        qname: 'q.example',
        an: [
          { owner: { ptr: 12 }, type: T.CNAME, rdata: [{ name: { ptr: 'later' } }] },
          { owner: { ptr: 12 }, type: T.CNAME, rdata: [{ mark: 'later' }, { name: 'later.example' }] },
        ],
      }),
    expect: null,
  },
  {
    spec: 'a pointer into the header is malformed',
    msg: () => handBuilt({ qname: 'q.example', an: [rr.cname({ ptr: 12 }, { ptr: 2 })] }),
    expect: null,
  },
  {
    spec: 'rdata cut short by the end of the message is malformed',
    msg: () => handBuilt({ qname: 'q.example', an: [rr.cname({ ptr: 12 }, 'target.example')], chop: 3 }),
    expect: null,
  },
  {
    spec: 'a CNAME whose name runs past its RDLENGTH is malformed',
    msg: () =>
      handBuilt({
        qname: 'q.example',
        an: [{ ...rr.cname({ ptr: 12 }, 'target.example'), rdlength: 4 }, rr.a({ ptr: 12 }, '192.0.2.1')],
      }),
    expect: null,
  },
  {
    spec: 'an SVCB RDATA too short for priority and TargetName is malformed',
    msg: () => handBuilt({ qname: 'q.example', qtype: SVCB, an: [{ owner: { ptr: 12 }, type: SVCB, rdata: [{ u16: 1 }] }] }),
    expect: null,
  },
  {
    spec: 'an A record with 5 bytes of RDATA is malformed',
    msg: () => handBuilt({ qname: 'q.example', an: [{ owner: { ptr: 12 }, type: T.A, rdata: [[192, 0, 2, 1, 0]] }] }),
    expect: null,
  },
  {
    spec: 'a name longer than 255 bytes once decompressed is malformed',
    msg: () => {
      const long = Array.from({ length: 4 }, () => 'x'.repeat(60)).join('.'); // 245 bytes on the wire
      return handBuilt({
        qname: long,
        an: [{ owner: { ptr: 12 }, type: T.CNAME, rdata: [{ name: { labels: 'abcdefghij', ptr: 12 } }] }],
      });
    },
    expect: null,
  },
];

describe('inspectAnswer', () => {
  it.each(cases)('$spec', ({ msg, expect: want }) => {
    const { wire, qEnd } = msg();
    const facts = inspectAnswer(wire, qEnd);
    if (want === null) {
      expect(facts).toBeNull();
      return;
    }
    expect(facts).not.toBeNull();
    expect(shape(facts!)).toEqual(normalized(want));
  });

  // The response stage passes the client's question name (ParsedQuery.name), so owners that are
  // the question are not decoded again: what it finds must not change.
  it.each(cases)('$spec (the question name given)', ({ msg }) => {
    const { wire, qEnd } = msg();
    const query = Buffer.from(wire.subarray(0, qEnd));
    query[2] = query[2]! & 0x7f; // a query: QR=0, no records after the question
    query.fill(0, 6, 12);
    const pq = parseQuery(query);
    if (pq.status !== ParseStatus.Ok) return; // a malformed question: the stage never gets that far
    expect(inspectAnswer(wire, qEnd, pq.name)).toEqual(inspectAnswer(wire, qEnd));
  });

  it('with the question name given, an owner pointing at the question is that name and an additional owner spelling it in other case is left out', () => {
    const { wire, qEnd } = handBuilt({
      qname: 'Q.Example',
      an: [rr.a({ ptr: 12 }, '192.0.2.1')],
      ar: [rr.a('q.EXAMPLE', '192.0.2.2'), rr.a('glue.example', '192.0.2.3')],
    });
    const facts = inspectAnswer(wire, qEnd, 'q.example')!;
    expect(facts.addresses.map((a) => a.owner)).toEqual(['q.example']);
    expect(facts.additional).toEqual([{ index: 1, name: 'glue.example' }]);
  });

  it('names are exactly the strings parseQuery makes of the same wire name, odd bytes included', () => {
    const odd = [3, 0x41, 0x2e, 0x7f, 4, 0x5c, 0x20, 0x5a, 0x80, 7, ...Buffer.from('Example'), 0];
    const query = Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from(odd), Buffer.from([0, 1, 0, 1])]);
    const pq = parseQuery(query);
    expect(pq.status).toBe(ParseStatus.Ok);
    const { wire, qEnd } = handBuilt({ qname: 'q.example', an: [rr.cname({ ptr: 12 }, { raw: odd }), rr.a({ raw: odd }, '192.0.2.1')] });
    const facts = inspectAnswer(wire, qEnd)!;
    expect(facts.names[0]!.name).toBe(pq.name);
    expect(facts.addresses[0]!.owner).toBe(pq.name);
  });

  it('an empty answer is one shared frozen object, so the fast path allocates nothing per answer', () => {
    const a = viaDns2('one.example', T.TXT, { answers: [{ name: 'one.example', type: T.TXT, data: 'x' }] });
    const b = viaDns2('two.example', T.A, {});
    const fa = inspectAnswer(a.wire, a.qEnd)!;
    expect(fa.empty).toBe(true);
    expect(inspectAnswer(b.wire, b.qEnd)).toBe(fa);
    expect(Object.isFrozen(fa) && Object.isFrozen(fa.names)).toBe(true);
  });

  it('looks at no more than 64 answer records and says so', () => {
    const an = Array.from({ length: 70 }, (_, i) => rr.cname({ ptr: 12 }, `t${i}.example`));
    const { wire, qEnd } = handBuilt({ qname: 'q.example', an, ar: [rr.a('glue.example', '192.0.2.1')] });
    const facts = inspectAnswer(wire, qEnd)!;
    expect(facts.names).toHaveLength(64);
    expect(facts.names.at(-1)!.name).toBe('t63.example');
    expect(facts.additional).toEqual([{ index: 0, name: 'glue.example' }]); // still reached past them
    expect(facts.capped).toBe(true);
    expect(facts.empty).toBe(false);
  });

  it('an address view points into the stored wire, not a copy', () => {
    const { wire, qEnd } = viaDns2('v.example', T.A, { answers: [{ name: 'v.example', type: T.A, address: '192.0.2.77' }] });
    const bytes = inspectAnswer(wire, qEnd)!.addresses[0]!.bytes;
    expect(bytes.buffer).toBe(wire.buffer);
  });
});

describe('withoutAdditional', () => {
  it('removes one of three additional records; the rest decode unchanged and ARCOUNT is 2', () => {
    const { wire, qEnd } = viaDns2('example.org', T.MX, {
      answers: [
        { name: 'example.org', type: T.MX, exchange: 'mx1.mail.example', priority: 10 },
        { name: 'example.org', type: T.MX, exchange: 'c2.mail.example', priority: 20 },
      ],
      additionals: [
        { name: 'mx1.mail.example', type: T.A, address: '192.0.2.25' },
        { name: 'c2.mail.example', type: T.A, address: '203.0.113.66' },
        { name: 'mx1.mail.example', type: T.AAAA, address: '2001:db8::25' },
      ],
    });
    const out = withoutAdditional(wire, qEnd, new Set([1]));
    expect(out.readUInt16BE(10)).toBe(2);
    const p = decode(out);
    expect(p.answers.map((r) => [r.name, (r as unknown as { exchange: string }).exchange])).toEqual([
      ['example.org', 'mx1.mail.example'],
      ['example.org', 'c2.mail.example'],
    ]);
    expect(p.additionals.map((r) => [r.name, r.type, (r as unknown as { address: string }).address])).toEqual([
      ['mx1.mail.example', T.A, '192.0.2.25'],
      ['mx1.mail.example', T.AAAA, '2001:db8::25'],
    ]);
    expect(wire.readUInt16BE(10)).toBe(3); // the input is left alone
  });

  it('a kept record whose owner pointed into the removed one is written out uncompressed', () => {
    const { wire, qEnd } = handBuilt({
      qname: 'q.example',
      compress: true,
      ar: [rr.a('ns.example', '192.0.2.1'), rr.a('c2.evil.test', '203.0.113.1'), rr.a('www.evil.test', '203.0.113.2')],
    });
    // Premise: the third owner is "www" plus a pointer into the second record.
    const third = wire.length - 4 - 10 - 6; // rdata, fixed fields, owner
    expect([...wire.subarray(third, third + 5)]).toEqual([3, 0x77, 0x77, 0x77, 0xc0]);
    expect(wire[third + 5]!).toBeGreaterThan(qEnd + 20); // past the first record (10-byte owner)
    const out = withoutAdditional(wire, qEnd, new Set([1]));
    const p = decode(out);
    expect(p.additionals.map((r) => r.name)).toEqual(['ns.example', 'www.evil.test']);
    expect(inspectAnswer(out, qEnd)!.additional).toEqual([
      { index: 0, name: 'ns.example' },
      { index: 1, name: 'www.evil.test' },
    ]);
  });

  it('a kept MX exchange compressed against a removed owner is rewritten with a fixed RDLENGTH', () => {
    const { wire, qEnd } = handBuilt({
      qname: 'q.example',
      compress: true,
      ar: [rr.a('c2.evil.test', '203.0.113.1'), { owner: 'evil.test', type: T.MX, rdata: [{ u16: 5 }, { name: 'mail.evil.test' }] }],
    });
    const out = withoutAdditional(wire, qEnd, new Set([0]));
    const p = decode(out);
    expect(p.additionals).toHaveLength(1);
    expect(p.additionals[0]!.name).toBe('evil.test');
    expect((p.additionals[0] as unknown as { exchange: string }).exchange).toBe('mail.evil.test');
  });

  it('dropping nothing returns an equal copy', () => {
    const { wire, qEnd } = handBuilt({ qname: 'q.example', ar: [rr.a('ns.example', '192.0.2.1')] });
    const out = withoutAdditional(wire, qEnd, new Set([5]));
    expect(out).toEqual(wire);
    expect(out).not.toBe(wire);
  });
});

describe('chainTo', () => {
  const { wire, qEnd } = viaDns2('a.example', T.A, {
    answers: [
      { name: 'a.example', type: T.CNAME, domain: 'b.example.net' },
      { name: 'b.example.net', type: T.CNAME, domain: 'c2.example' },
      { name: 'c2.example', type: T.A, address: '198.51.100.7' },
    ],
  });
  const facts = inspectAnswer(wire, qEnd)!;

  it.each([
    { spec: 'follows a two-hop chain to its end', target: 'c2.example', chain: ['a.example', 'b.example.net', 'c2.example'] },
    { spec: 'stops at an intermediate target', target: 'b.example.net', chain: ['a.example', 'b.example.net'] },
    { spec: 'a name not in the chain gives just the two ends', target: 'elsewhere.example', chain: ['a.example', 'elsewhere.example'] },
  ])('$spec', ({ target, chain }) => {
    expect(chainTo(facts, 'a.example', target)).toEqual(chain);
  });

  it('a DNAME link applies to names below its owner', () => {
    const m = handBuilt({
      qname: 'www.old.example',
      compress: true,
      an: [rr.dname('old.example', 'new.example.net'), rr.cname('www.old.example', 'www.new.example.net')],
    });
    const f = inspectAnswer(m.wire, m.qEnd)!;
    expect(chainTo(f, 'www.old.example', 'new.example.net')).toEqual(['www.old.example', 'new.example.net']);
    expect(chainTo(f, 'www.old.example', 'www.new.example.net')).toEqual(['www.old.example', 'www.new.example.net']);
  });
});
