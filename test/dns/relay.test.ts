// The relay path: an upstream answer is checked against the query we sent, indexed once, and
// replayed to each client as bytes. dns2 builds the upstream answers (or they are written by
// hand when they must be malformed) and dns2's Packet.parse is the reference decoder of what a
// client receives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuery, ParseStatus, type ParsedQuery } from '../../src/dns/query.js';
import { checkResponse, replay, replayStale, ResponseCheck, STALE_TTL, storeResponse, ttlOffsets, type StoredAnswer } from '../../src/dns/relay.js';
import { buildUpstreamQuery } from '../../src/upstream/message.js';
import { buildQuery, decode, edeOf, encodeName, Packet, T, type DecodedPacket, type QueryOptions } from '../helpers/wire.js';

type Resource = DecodedPacket['answers'][number];
type Question = DecodedPacket['questions'][number];

// ---- building an exchange ---------------------------------------------------------------

const SENT_ID = 0xabcd;
const CLIENT_ID = 0x1111;

interface Exchange {
  /** The client's query as c2dns received it. */
  client: Buffer;
  pq: ParsedQuery;
  /** What c2dns sent upstream (client question, our OPT, ID SENT_ID). */
  sent: Buffer;
}

function exchange(qname: string, qtype: number, o: QueryOptions = {}): Exchange {
  const client = buildQuery(qname, qtype, { id: CLIENT_ID, ...o });
  const pq = parseQuery(client);
  expect(pq.status).toBe(ParseStatus.Ok);
  const sent = buildUpstreamQuery(client, pq);
  sent.writeUInt16BE(SENT_ID, 0);
  return { client, pq, sent };
}

type Rec = Record<string, unknown> & { name: string; type: number };

interface Upstream {
  id?: number;
  /** Question as the upstream echoes it; defaults to the one we sent. */
  qname?: string;
  qtype?: number;
  qclass?: number;
  rcode?: number;
  tc?: boolean;
  qr?: boolean;
  opcode?: number;
  answers?: Rec[];
  authorities?: Rec[];
  additionals?: Rec[];
}

/** An upstream answer encoded by dns2 (names compressed as a real server would). */
function upstreamAnswer(x: Exchange, u: Upstream = {}): Buffer {
  const sentQ = decode(x.sent).questions[0]!;
  const p = new Packet();
  p.header.id = u.id ?? SENT_ID;
  p.header.qr = u.qr === false ? 0 : 1;
  p.header.opcode = u.opcode ?? 0;
  p.header.rd = 1;
  p.header.ra = 1;
  p.header.tc = u.tc ? 1 : 0;
  p.header.rcode = u.rcode ?? 0;
  p.questions.push({ name: u.qname ?? sentQ.name, type: u.qtype ?? sentQ.type, class: u.qclass ?? sentQ.class } as Question);
  const fill = (r: Rec) => ({ class: 1, ttl: 300, ...r }) as unknown as Resource;
  p.answers.push(...(u.answers ?? []).map(fill));
  p.authorities.push(...(u.authorities ?? []).map(fill));
  p.additionals.push(...(u.additionals ?? []).map(fill));
  return p.toBuffer();
}

/** dns2's OPT record: `options` are dns2 option objects (EDE etc.). */
function dns2Opt(options: unknown[] = [], o: { extendedRcode?: number; doFlag?: boolean } = {}): Rec {
  return { ...Packet.Resource.EDNS(options as never, { udpPayloadSize: 1232, ...o }), name: '' } as unknown as Rec;
}

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/** A record written by hand: owner bytes, type, class IN, TTL, RDATA bytes. */
function rawRr(owner: Buffer, type: number, ttl: number, rdata: Buffer, cls = 1): Buffer {
  return Buffer.concat([owner, u16(type), u16(cls), u32(ttl), u16(rdata.length), rdata]);
}

/** A raw OPT record with raw option bytes. */
function rawOpt(options: Buffer, extRcode = 0): Buffer {
  return Buffer.concat([Buffer.from([0]), u16(41), u16(4096), Buffer.from([extRcode, 0, 0x80, 0]), u16(options.length), options]);
}

const option = (code: number, data: Buffer): Buffer => Buffer.concat([u16(code), u16(data.length), data]);
const ede = (info: number, text: string): Buffer => option(15, Buffer.concat([u16(info), Buffer.from(text, 'utf8')]));

/** Upstream answer written by hand: header (counts given), the sent question, then `records`. */
function rawAnswer(x: Exchange, counts: { an?: number; ns?: number; ar?: number; rcode?: number }, ...records: Buffer[]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(SENT_ID, 0);
  h.writeUInt16BE(0x8180 | (counts.rcode ?? 0), 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(counts.an ?? 0, 6);
  h.writeUInt16BE(counts.ns ?? 0, 8);
  h.writeUInt16BE(counts.ar ?? 0, 10);
  return Buffer.concat([h, x.sent.subarray(12, x.pq.qEnd), ...records]);
}

const PTR_QNAME = Buffer.from([0xc0, 0x0c]);

function store(x: Exchange, resp: Buffer, now = 1000): StoredAnswer {
  expect(checkResponse(resp, x.sent, x.pq.qEnd)).toBe(ResponseCheck.Ok);
  const s = storeResponse(resp, x.pq.qEnd, now);
  expect(s).not.toBeNull();
  return s!;
}

const soa = (name: string, ttl: number, minimum: number): Rec => ({
  name,
  type: T.SOA,
  ttl,
  primary: 'ns1.example.com',
  admin: 'hostmaster.example.com',
  serial: 2024010101,
  refresh: 3600,
  retry: 600,
  expiration: 86400,
  minimum,
});

// ---- checkResponse ----------------------------------------------------------------------

interface CheckCase {
  name: string;
  qname: string;
  qtype: number;
  resp: (x: Exchange) => Buffer;
  want: ResponseCheck;
}

const A_ANSWER: Rec[] = [{ name: 'www.example.com', type: T.A, address: '192.0.2.1' }];

const checkCases: CheckCase[] = [
  { name: 'an answer with our ID, QR=1 and our question is accepted', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { answers: A_ANSWER }), want: ResponseCheck.Ok },
  { name: 'NXDOMAIN is still an answer', qname: 'nope.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { rcode: 3 }), want: ResponseCheck.Ok },
  { name: 'a different ID (low byte) is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { id: SENT_ID ^ 0x0001 }), want: ResponseCheck.Mismatch },
  { name: 'a different ID (high byte) is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { id: SENT_ID ^ 0x0100 }), want: ResponseCheck.Mismatch },
  { name: 'QR=0 (a query, e.g. our own packet reflected) is not an answer', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qr: false }), want: ResponseCheck.Mismatch },
  { name: 'a different opcode is not an answer to a QUERY', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { opcode: 4 }), want: ResponseCheck.Mismatch },
  { name: 'a different question name is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'www.example.net' }), want: ResponseCheck.Mismatch },
  { name: 'a name of the same length differing in one letter is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'www.exampla.com' }), want: ResponseCheck.Mismatch },
  { name: 'a different question type is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qtype: T.AAAA }), want: ResponseCheck.Mismatch },
  { name: 'qtype 97 is not an answer to qtype 65 (they differ only in bit 0x20)', qname: 'www.example.com', qtype: 65, resp: (x) => upstreamAnswer(x, { qtype: 97 }), want: ResponseCheck.Mismatch },
  { name: 'qtype 65 is not an answer to qtype 97', qname: 'www.example.com', qtype: 97, resp: (x) => upstreamAnswer(x, { qtype: 65 }), want: ResponseCheck.Mismatch },
  { name: 'class 0x0101 is not an answer to class IN (0x0001)', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qclass: 0x0101 }), want: ResponseCheck.Mismatch },
  { name: 'a different class (CH) is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qclass: 3 }), want: ResponseCheck.Mismatch },
  { name: 'the name is compared case-insensitively (0x20 upstream case)', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'WwW.eXaMpLe.CoM' }), want: ResponseCheck.Ok },
  { name: 'a client-cased question matches the upstream lower case', qname: 'WWW.Example.COM', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'www.example.com' }), want: ResponseCheck.Ok },
  { name: "only ASCII letters fold: '[' and '{' differ", qname: 'a[b.example', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'a{b.example' }), want: ResponseCheck.Mismatch },
  { name: "only ASCII letters fold: '@' and '`' differ", qname: 'a@b.example', qtype: T.A, resp: (x) => upstreamAnswer(x, { qname: 'a`b.example' }), want: ResponseCheck.Mismatch },
  { name: 'TC=1 asks for a retry over TCP', qname: 'www.example.com', qtype: T.TXT, resp: (x) => upstreamAnswer(x, { tc: true }), want: ResponseCheck.Truncated },
  {
    name: 'a NOERROR answer without a question (QDCOUNT 0) is not ours',
    qname: 'www.example.com',
    qtype: T.A,
    resp: () => Buffer.concat([u16(SENT_ID), u16(0x8180), u16(0), u16(0), u16(0), u16(0), Buffer.alloc(40)]),
    want: ResponseCheck.Mismatch,
  },
  ...[1, 2, 4, 5].map((rc) => ({
    name: `an rcode ${rc} answer without a question (RFC 1035 allows it) is a failure: next upstream now`,
    qname: 'www.example.com',
    qtype: T.A,
    resp: () => Buffer.concat([u16(SENT_ID), u16(0x8180 | rc), u16(0), u16(0), u16(0), u16(0)]),
    want: ResponseCheck.Failed,
  })),
  { name: 'a message shorter than our question is not ours', qname: 'www.example.com', qtype: T.A, resp: (x) => upstreamAnswer(x).subarray(0, x.pq.qEnd - 1), want: ResponseCheck.Mismatch },
  { name: 'a 2-byte datagram is not ours', qname: 'www.example.com', qtype: T.A, resp: () => u16(SENT_ID), want: ResponseCheck.Mismatch },
];

describe('checkResponse', () => {
  for (const c of checkCases) {
    it(c.name, () => {
      const x = exchange(c.qname, c.qtype);
      expect(checkResponse(c.resp(x), x.sent, x.pq.qEnd)).toBe(c.want);
    });
  }
});

// ---- storeResponse ----------------------------------------------------------------------

describe('storeResponse: indexing a valid answer', () => {
  it('records the offset of every TTL, the answer count and the smallest answer/authority TTL', () => {
    const x = exchange('www.example.com', T.A);
    const resp = upstreamAnswer(x, {
      answers: [
        { name: 'www.example.com', type: T.CNAME, ttl: 300, domain: 'cdn.example.net' },
        { name: 'cdn.example.net', type: T.A, ttl: 120, address: '192.0.2.1' },
      ],
      authorities: [{ name: 'example.net', type: T.NS, ttl: 200, ns: 'ns.example.net' }],
      additionals: [{ name: 'ns.example.net', type: T.A, ttl: 5, address: '192.0.2.53' }],
    });
    const s = store(x, resp, 1234.5);
    expect(s.answerCount).toBe(2);
    expect(s.rcode).toBe(0);
    expect(s.minTtl).toBe(120); // the additional record's TTL 5 does not count
    expect(s.negativeTtl).toBe(-1);
    expect(s.ede).toBeNull();
    expect(s.storedAt).toBe(1234.5);
    expect(ttlOffsets(s).map((o) => s.wire.readUInt32BE(o))).toEqual([300, 120, 200, 5]);
    expect(s.wire).toEqual(resp); // no OPT to remove: the bytes are kept as they came
  });

  it('reports minTtl -1 for an answer without records', () => {
    const x = exchange('www.example.com', T.MX);
    const s = store(x, upstreamAnswer(x));
    expect(s).toMatchObject({ answerCount: 0, minTtl: -1, negativeTtl: -1 });
    expect(ttlOffsets(s)).toHaveLength(0);
  });

  const negCases = [
    { name: 'NXDOMAIN: negative TTL is the SOA MINIMUM when smaller than the SOA TTL', rcode: 3, ttl: 600, minimum: 60, want: 60 },
    { name: 'NXDOMAIN: negative TTL is the SOA TTL when smaller than MINIMUM', rcode: 3, ttl: 30, minimum: 3600, want: 30 },
    { name: 'NODATA: the same rule applies with rcode NOERROR', rcode: 0, ttl: 900, minimum: 300, want: 300 },
    { name: 'a zero SOA TTL gives a zero negative TTL', rcode: 3, ttl: 0, minimum: 300, want: 0 },
  ];
  for (const c of negCases) {
    it(c.name, () => {
      const x = exchange('nope.example.com', T.A);
      const s = store(x, upstreamAnswer(x, { rcode: c.rcode, authorities: [soa('example.com', c.ttl, c.minimum)] }));
      expect(s.rcode).toBe(c.rcode);
      expect(s.negativeTtl).toBe(c.want);
      expect(s.minTtl).toBe(c.ttl);
    });
  }

  it('takes the smallest negative TTL when the authority section has two SOAs', () => {
    const x = exchange('nope.example.com', T.A);
    const s = store(x, upstreamAnswer(x, { rcode: 3, authorities: [soa('example.com', 600, 500), soa('com', 900, 40)] }));
    expect(s.negativeTtl).toBe(40);
  });

  it('ignores a SOA in the answer or additional section for the negative TTL', () => {
    const x = exchange('example.com', T.SOA);
    const s = store(x, upstreamAnswer(x, { answers: [soa('example.com', 600, 5)], additionals: [soa('example.com', 600, 7)] }));
    expect(s.negativeTtl).toBe(-1);
    expect(s.minTtl).toBe(600);
  });

  it('ignores an authority SOA too short to hold a MINIMUM field', () => {
    const x = exchange('nope.example.com', T.A);
    const s = store(x, rawAnswer(x, { ns: 1, rcode: 3 }, rawRr(Buffer.from([0]), T.SOA, 600, Buffer.alloc(21))));
    expect(s.negativeTtl).toBe(-1);
  });

  it('treats a TTL with the top bit set as zero (RFC 2181 §8), in the index and in the stored bytes', () => {
    const x = exchange('www.example.com', T.A);
    const resp = rawAnswer(x, { an: 2 }, rawRr(PTR_QNAME, T.A, 0xffffffff, Buffer.from([192, 0, 2, 1])), rawRr(PTR_QNAME, T.A, 0x80000005, Buffer.from([192, 0, 2, 2])));
    const s = store(x, resp);
    expect(s.minTtl).toBe(0);
    expect(ttlOffsets(s).map((o) => s.wire.readUInt32BE(o))).toEqual([0, 0]);
    expect(decode(replay(s, x.client, x.pq, 1000)).answers.map((a) => a.ttl)).toEqual([0, 0]);
  });

  it('drops bytes after the last counted record', () => {
    const x = exchange('www.example.com', T.A);
    const resp = upstreamAnswer(x, { answers: A_ANSWER });
    const s = store(x, Buffer.concat([resp, Buffer.from('garbage after the message')]));
    expect(s.wire).toEqual(resp);
  });
});

describe('storeResponse: EDNS is hop-by-hop', () => {
  it('removes the upstream OPT and decrements ARCOUNT', () => {
    const x = exchange('www.example.com', T.A, { edns: {} });
    const resp = upstreamAnswer(x, { answers: A_ANSWER, additionals: [dns2Opt()] });
    const s = store(x, resp);
    expect(s.wire.readUInt16BE(10)).toBe(0);
    expect(s.wire.length).toBe(resp.length - 11);
    const p = decode(s.wire);
    expect(p.additionals).toEqual([]);
    expect(p.answers[0]!.address).toBe('192.0.2.1');
    expect(s.ede).toBeNull();
  });

  /** An MX answer with glue, its OPT second in the additional section (written by hand so its position is certain), a record after it. */
  const midOptAnswer = (x: Exchange): Buffer =>
    rawAnswer(
      x,
      { an: 1, ar: 3 },
      rawRr(PTR_QNAME, T.MX, 300, Buffer.concat([u16(10), encodeName('mx.example.com')])),
      rawRr(encodeName('glue.example.com'), T.A, 77, Buffer.from([192, 0, 2, 7])),
      rawOpt(ede(18, 'hi')),
      rawRr(encodeName('mx.example.com'), T.A, 88, Buffer.from([192, 0, 2, 8])),
    );

  it('keeps the additional records before a mid-section OPT, with their TTL offsets', () => {
    const x = exchange('example.com', T.MX, { edns: {} });
    const resp = midOptAnswer(x);
    const s = store(x, resp);
    expect(s.ede).toEqual(ede(18, 'hi'));
    expect(ttlOffsets(s).map((o) => s.wire.readUInt32BE(o))).toEqual([300, 77]);
    const p = decode(s.wire);
    expect(p.header.arcount).toBe(1);
    expect(p.additionals.map((r) => `${r.name} ${r.type} ${r.address}`)).toEqual(['glue.example.com 1 192.0.2.7']);
  });

  it('ages and serves stale every record it kept, owners written out or compressed alike', () => {
    const x = exchange('example.com', T.MX, { edns: {} });
    const resp = midOptAnswer(x);
    const s = store(x, resp, 1000);
    const aged = decode(replay(s, x.client, x.pq, 1000 + 10_500));
    expect([...aged.answers, ...aged.additionals.filter((r) => r.type !== T.OPT)].map((r) => r.ttl)).toEqual([290, 67]);
    const stale = decode(replayStale(s, x.client, x.pq));
    expect([...stale.answers, ...stale.additionals.filter((r) => r.type !== T.OPT)].map((r) => r.ttl)).toEqual([STALE_TTL, STALE_TTL]);
  });

  it('drops the records after a mid-section OPT rather than relay them with compression pointers gone wrong', () => {
    const x = exchange('example.com', T.NS, { edns: {} });
    // dns2 compresses the second glue.other.org into a pointer to the first, which sits after the OPT.
    const resp = upstreamAnswer(x, {
      answers: [{ name: 'example.com', type: T.NS, ns: 'ns1.example.com' }],
      additionals: [dns2Opt(), { name: 'glue.other.org', type: T.A, address: '192.0.2.53' }, { name: 'glue.other.org', type: T.AAAA, address: '2001:db8::53' }],
    });
    // The AAAA record (2 + 10 + 16 bytes) is owned by a pointer to the A record's owner (16 + 10 + 4 bytes).
    expect(resp.readUInt16BE(resp.length - 28)).toBe(0xc000 | (resp.length - 28 - 30));
    const s = store(x, resp);
    const p = decode(replay(s, x.client, x.pq, s.storedAt));
    expect(p.answers.map((r) => `${r.name} ${r.ns}`)).toEqual(['example.com ns1.example.com']);
    expect(p.additionals.map((r) => `${r.name}/${r.type}`)).toEqual(['/41']); // c2dns's own OPT only
  });

  it('merges the extended rcode bits of the upstream OPT', () => {
    const x = exchange('www.example.com', T.A, { edns: {} });
    const s = store(x, upstreamAnswer(x, { rcode: 16, additionals: [dns2Opt()] }));
    expect(s.rcode).toBe(16);
  });

  it('keeps EDE options and drops the others (COOKIE, padding, NSID)', () => {
    const x = exchange('www.example.com', T.A, { edns: {} });
    const options = Buffer.concat([
      option(10, Buffer.alloc(24, 0xcc)), // COOKIE
      ede(18, 'prohibited by upstream'),
      option(3, Buffer.from('ns-7')), // NSID
      ede(0, 'second'),
      option(12, Buffer.alloc(30)), // padding
    ]);
    const s = store(x, rawAnswer(x, { ar: 1, rcode: 5 }, rawOpt(options)));
    expect(s.ede).toEqual(Buffer.concat([ede(18, 'prohibited by upstream'), ede(0, 'second')]));
    expect(s.rcode).toBe(5);
  });

  it('stops reading options at one that overruns the OPT RDATA, keeping the EDE before it', () => {
    const x = exchange('www.example.com', T.A, { edns: {} });
    const options = Buffer.concat([ede(22, 'ok'), u16(15), u16(50), Buffer.alloc(4)]);
    const s = store(x, rawAnswer(x, { ar: 1 }, rawOpt(options)));
    expect(s.ede).toEqual(ede(22, 'ok'));
  });
});

interface MalformedCase {
  name: string;
  resp: (x: Exchange) => Buffer;
}

const A_RDATA = Buffer.from([192, 0, 2, 1]);
const malformedCases: MalformedCase[] = [
  { name: 'RDLENGTH past the end of the message', resp: (x) => rawAnswer(x, { an: 1 }, rawRr(PTR_QNAME, T.A, 60, A_RDATA).subarray(0, 14)) },
  { name: 'a record cut inside its fixed part', resp: (x) => rawAnswer(x, { an: 1 }, rawRr(PTR_QNAME, T.A, 60, A_RDATA).subarray(0, 8)) },
  { name: 'an owner name that runs off the end', resp: (x) => rawAnswer(x, { an: 1 }, Buffer.from([7, 0x65, 0x78])) },
  { name: 'an owner name with a reserved label type (0x40)', resp: (x) => rawAnswer(x, { an: 1 }, rawRr(Buffer.from([0x40, 0]), T.A, 60, A_RDATA)) },
  { name: 'an owner name with a reserved label type (0x80)', resp: (x) => rawAnswer(x, { an: 1 }, rawRr(Buffer.from([0x80, 0]), T.A, 60, A_RDATA)) },
  { name: 'an owner name longer than 255 octets', resp: (x) => rawAnswer(x, { an: 1 }, rawRr(encodeName(['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(60)).join('.')), T.A, 60, A_RDATA)) },
  { name: 'a pointer cut in half at the end', resp: (x) => rawAnswer(x, { an: 1 }, Buffer.from([0xc0])) },
  { name: 'ANCOUNT larger than the records present', resp: (x) => rawAnswer(x, { an: 3 }, rawRr(PTR_QNAME, T.A, 60, A_RDATA)) },
  { name: 'all counts 65535 on a short message', resp: (x) => rawAnswer(x, { an: 0xffff, ns: 0xffff, ar: 0xffff }) },
  { name: 'two OPT records', resp: (x) => rawAnswer(x, { ar: 2 }, rawOpt(Buffer.alloc(0)), rawOpt(Buffer.alloc(0))) },
  { name: 'an OPT in the answer section', resp: (x) => rawAnswer(x, { an: 1 }, rawOpt(Buffer.alloc(0))) },
  { name: 'an OPT in the authority section', resp: (x) => rawAnswer(x, { ns: 1, rcode: 3 }, rawOpt(Buffer.alloc(0))) },
];

describe('storeResponse: malformed answers are refused (null)', () => {
  for (const c of malformedCases) {
    it(c.name, () => {
      const x = exchange('www.example.com', T.A);
      const resp = c.resp(x);
      expect(checkResponse(resp, x.sent, x.pq.qEnd)).toBe(ResponseCheck.Ok);
      expect(storeResponse(resp, x.pq.qEnd, 0)).toBeNull();
    });
  }
});

describe('storeResponse: compression pointers are skipped, never followed', () => {
  it('an answer whose owner points to itself is indexed without looping', () => {
    const x = exchange('www.example.com', T.A);
    const at = x.pq.qEnd; // the owner of the first answer record
    const selfPtr = Buffer.from([0xc0 | (at >> 8), at & 0xff]);
    const resp = rawAnswer(x, { an: 1 }, rawRr(selfPtr, T.A, 60, A_RDATA));
    const s = store(x, resp);
    expect(s.wire).toEqual(resp); // relayed as bytes: the client's decoder has its own guard
    expect(s.minTtl).toBe(60);
  });

  it('a 64 KB answer of records whose owners form a pointer chain is indexed in linear time', () => {
    const x = exchange('www.example.com', T.A);
    const recs: Buffer[] = [];
    let off = x.pq.qEnd;
    const recLen = 2 + 10 + 4;
    let n = 0;
    while (off + recLen <= 0xffff) {
      const target = n === 0 ? off : off - recLen; // each owner points at the previous owner; the first at itself
      recs.push(rawRr(Buffer.from([0xc0 | (target >> 8), target & 0xff]), T.A, 60 + (n % 7), A_RDATA));
      off += recLen;
      n++;
    }
    const resp = rawAnswer(x, { an: n }, ...recs);
    expect(resp.length).toBeGreaterThan(65_000);
    const t0 = performance.now();
    const s = store(x, resp);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(s.answerCount).toBe(n);
    expect(ttlOffsets(s)).toHaveLength(n);
    expect(s.minTtl).toBe(60);
  });
});

// ---- replay -----------------------------------------------------------------------------

describe('replay: what each client receives', () => {
  const upstreamFor = (x: Exchange): Buffer =>
    upstreamAnswer(x, {
      answers: [
        { name: 'www.example.com', type: T.CNAME, ttl: 300, domain: 'cdn.example.net' },
        { name: 'cdn.example.net', type: T.A, ttl: 120, address: '192.0.2.1' },
      ],
      authorities: [{ name: 'example.net', type: T.NS, ttl: 3600, ns: 'ns.example.net' }],
      additionals: [dns2Opt()],
    });

  it("carries the client's ID and RD/CD bits, and the upstream's other flags and rcode", () => {
    const x = exchange('www.example.com', T.A, { rd: false, cd: true });
    const s = store(x, upstreamFor(x));
    const out = replay(s, x.client, x.pq, s.storedAt);
    const p = decode(out);
    expect(p.header).toMatchObject({ id: CLIENT_ID, qr: 1, rd: 0, cd: 1, ra: 1, rcode: 0, qdcount: 1, ancount: 2, nscount: 1, arcount: 0 });
  });

  it("copies the client's letter case into the question (and so into records compressed against it)", () => {
    const x = exchange('WwW.ExAmPlE.cOm', T.A);
    const s = store(x, upstreamAnswer(x, { qname: 'www.example.com', answers: [{ name: 'www.example.com', type: T.A, address: '192.0.2.1' }] }));
    const out = replay(s, x.client, x.pq, s.storedAt);
    expect(out.subarray(12, x.pq.qEnd)).toEqual(x.client.subarray(12, x.pq.qEnd));
    const p = decode(out);
    expect(p.questions[0]!.name).toBe('WwW.ExAmPlE.cOm');
    expect(p.answers[0]!.name).toBe('WwW.ExAmPlE.cOm');
  });

  it('serves a second client with a different case and ID from the same stored answer', () => {
    const first = exchange('www.example.com', T.A);
    const s = store(first, upstreamFor(first));
    const second = exchange('WWW.EXAMPLE.COM', T.A, { id: 0x2222 });
    const p = decode(replay(s, second.client, { ...second.pq, id: 0x2222 }, s.storedAt));
    expect(p.header.id).toBe(0x2222);
    expect(p.questions[0]!.name).toBe('WWW.EXAMPLE.COM');
    expect(p.answers[1]!.address).toBe('192.0.2.1');
  });

  const ageCases = [
    { name: 'less than a second in cache leaves TTLs alone', elapsedMs: 999, want: [300, 120, 3600] },
    { name: 'whole seconds in cache are subtracted', elapsedMs: 2999, want: [298, 118, 3598] },
    { name: 'a TTL never goes below zero', elapsedMs: 200_500, want: [100, 0, 3400] },
    { name: 'all TTLs reach zero, never wrap', elapsedMs: 10_000_000, want: [0, 0, 0] },
  ];
  for (const c of ageCases) {
    it(`TTLs: ${c.name}`, () => {
      const x = exchange('www.example.com', T.A);
      const s = store(x, upstreamFor(x), 5000);
      const before = Buffer.from(s.wire);
      const p = decode(replay(s, x.client, x.pq, 5000 + c.elapsedMs));
      expect([...p.answers, ...p.authorities].map((r) => r.ttl)).toEqual(c.want);
      expect(s.wire).toEqual(before); // the stored answer is not aged in place
    });
  }

  it('appends no OPT for a client that did not use EDNS', () => {
    const x = exchange('www.example.com', T.A);
    const s = store(x, upstreamFor(x));
    const out = replay(s, x.client, x.pq, s.storedAt);
    expect(out.length).toBe(s.wire.length);
    expect(decode(out).additionals).toEqual([]);
  });

  const ednsCases = [
    { name: 'DO=1 is echoed', do: true },
    { name: 'DO=0 is echoed', do: false },
  ];
  for (const c of ednsCases) {
    it(`appends c2dns's own OPT for an EDNS client: ${c.name}, UDP size 1232, version 0`, () => {
      const x = exchange('www.example.com', T.A, { edns: { udpSize: 4096, do: c.do } });
      const s = store(x, upstreamFor(x));
      const p = decode(replay(s, x.client, x.pq, s.storedAt));
      expect(p.header.arcount).toBe(1);
      const opt = p.additionals[0]!;
      expect(opt).toMatchObject({ name: '', type: T.OPT, class: 1232, version: 0, doFlag: c.do, extendedRcode: 0, rdata: [] });
    });
  }

  it("relays the upstream's EDE options in c2dns's OPT", () => {
    const x = exchange('www.example.com', T.A, { edns: {} });
    const s = store(x, rawAnswer(x, { ar: 1, rcode: 2 }, rawOpt(Buffer.concat([option(10, Buffer.alloc(16)), ede(23, 'network error upstream')]))));
    const p = decode(replay(s, x.client, x.pq, s.storedAt));
    expect(p.header.rcode).toBe(2);
    expect(edeOf(p)).toEqual([{ infoCode: 23, text: 'network error upstream' }]);
  });

  it('carries an extended rcode in the OPT for an EDNS client, and only its low bits otherwise', () => {
    const withEdns = exchange('www.example.com', T.A, { edns: {} });
    const s = store(withEdns, upstreamAnswer(withEdns, { rcode: 16, additionals: [dns2Opt()] }));
    const out = replay(s, withEdns.client, withEdns.pq, s.storedAt);
    expect(out[3]! & 0x0f).toBe(0);
    expect(decode(out).header.rcode).toBe(16);
    const plain = exchange('www.example.com', T.A);
    expect(decode(replay(s, plain.client, plain.pq, s.storedAt)).header.rcode).toBe(0);
  });

  it('relays binary TXT, HTTPS and unknown-type RDATA byte for byte', () => {
    const x = exchange('www.example.com', T.TXT, { edns: {} });
    const txt = Buffer.concat([Buffer.from([4, 0x00, 0xff, 0x80, 0x0a]), Buffer.from([3]), Buffer.from('a"b'), Buffer.from([0])]);
    const https = Buffer.concat([u16(1), Buffer.from([0]), u16(1), u16(3), Buffer.from([2, 0x68, 0x33])]); // 1 . alpn=h3
    const unknown = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37) & 0xff));
    const upstreamBody = [rawRr(PTR_QNAME, T.TXT, 60, txt), rawRr(PTR_QNAME, T.HTTPS, 60, https), rawRr(PTR_QNAME, 65280, 60, unknown, 0xfe)];
    const resp = rawAnswer(x, { an: 3, ar: 1 }, ...upstreamBody, rawOpt(Buffer.alloc(0)));
    const s = store(x, resp);
    const plain = exchange('www.example.com', T.TXT);
    const out = replay(s, plain.client, plain.pq, s.storedAt);
    // Everything but the ID (and the removed OPT) is the upstream's bytes.
    expect(out.subarray(2, 10)).toEqual(resp.subarray(2, 10));
    expect(out.readUInt16BE(10)).toBe(0);
    expect(out.subarray(12)).toEqual(Buffer.concat([x.sent.subarray(12, x.pq.qEnd), ...upstreamBody]));
    const p = decode(out);
    expect(p.answers.map((a) => a.type)).toEqual([T.TXT, T.HTTPS, 65280]);
    expect(p.answers[2]!.class).toBe(0xfe);
    expect((p.answers[2] as unknown as { data: Buffer }).data).toEqual(unknown);
    expect((p.answers[1] as unknown as { data: Buffer }).data).toEqual(https);
  });
});

// ---- properties -------------------------------------------------------------------------

describe('relay: properties', () => {
  const x = exchange('www.example.com', T.A, { edns: { do: true } });
  const base = upstreamAnswer(x, {
    answers: [
      { name: 'www.example.com', type: T.CNAME, domain: 'cdn.example.net' },
      { name: 'cdn.example.net', type: T.A, address: '192.0.2.1' },
    ],
    authorities: [soa('example.net', 600, 60)],
    additionals: [dns2Opt([Packet.Resource.EDNS.EDE(3, 'stale')])],
  });

  it('a damaged upstream answer is either refused or indexed and replayed within its own bytes', () => {
    let stored = 0;
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: base.length * 8 - 1 }), { minLength: 1, maxLength: 4 }),
        fc.oneof({ arbitrary: fc.constant(base.length), weight: 3 }, { arbitrary: fc.nat({ max: base.length }), weight: 1 }),
        fc.nat({ max: 100_000_000 }),
        (bits, cut, elapsed) => {
          const resp = Buffer.from(base.subarray(0, Math.max(cut, x.pq.qEnd)));
          for (const b of bits) {
            const at = b >>> 3;
            if (at >= resp.length || at < 2 || (at >= 12 && at < x.pq.qEnd)) continue; // keep ID and question
            resp[at]! ^= 0x80 >>> (b & 7);
          }
          if (checkResponse(resp, x.sent, x.pq.qEnd) !== ResponseCheck.Ok) return;
          const s = storeResponse(resp, x.pq.qEnd, 0);
          if (s === null) return;
          stored++;
          expect(s.wire.length).toBeLessThanOrEqual(resp.length);
          for (const o of ttlOffsets(s)) expect(o + 4).toBeLessThanOrEqual(s.wire.length);
          const out = replay(s, x.client, x.pq, elapsed);
          expect(out.length).toBe(s.wire.length + 11 + (s.ede?.length ?? 0));
          expect(out.readUInt16BE(0)).toBe(CLIENT_ID);
        },
      ),
      { numRuns: 3000 },
    );
    expect(stored).toBeGreaterThan(300); // the property was exercised, not only refusals
  });

  it('replayed TTLs are the stored TTLs minus the whole seconds elapsed, floored at zero', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 0x7fffffff }), { minLength: 1, maxLength: 5 }), fc.nat({ max: 0x7fffffff }), (ttls, elapsedS) => {
        const resp = rawAnswer(x, { an: ttls.length }, ...ttls.map((t) => rawRr(PTR_QNAME, T.A, t, A_RDATA)));
        const s = store(x, resp, 0);
        const p: DecodedPacket = decode(replay(s, x.client, x.pq, elapsedS * 1000 + 500));
        expect(p.answers.map((a) => a.ttl)).toEqual(ttls.map((t) => Math.max(0, t - elapsedS)));
      }),
      { numRuns: 500 },
    );
  });
});

// ---- header bits a forwarder owns (issue 10 items 3, 6, 13) ------------------------------

describe('replay: the header is c2dns\'s, not the upstream\'s', () => {
  const AA = 0x0400;
  const RA = 0x0080;
  const AD = 0x0020;
  /** An upstream answer with its AA/RA/AD bits forced to the given values. */
  const answerWith = (x: Exchange, set: number, clear: number): Buffer => {
    const b = upstreamAnswer(x, { answers: [{ name: 'www.example.com', type: T.A, address: '192.0.2.1' }] });
    b.writeUInt16BE((b.readUInt16BE(2) | set) & ~clear, 2);
    return b;
  };

  it('an authoritative upstream (AA=1, RA=0): AA cleared, RA set (item 6)', () => {
    const x = exchange('www.example.com', T.A);
    const s = store(x, answerWith(x, AA, RA));
    const out = replay(s, x.client, x.pq, s.storedAt);
    expect(decode(out).header).toMatchObject({ aa: 0, ra: 1, qr: 1, rcode: 0 });
    // The stored bytes are left alone: the next client is patched the same way.
    expect(s.wire.readUInt16BE(2) & AA).toBe(AA);
  });

  const adCases = [
    { name: 'a query without AD or DO: AD cleared', o: {} as QueryOptions, ad: false, want: 0 },
    { name: 'a query with AD=1: AD relayed', o: {} as QueryOptions, ad: true, want: AD },
    { name: 'a query with DO=1: AD relayed', o: { edns: { do: true } } as QueryOptions, ad: false, want: AD },
  ];
  for (const c of adCases) {
    it(`an AD=1 upstream answer to ${c.name} (RFC 6840 §5.8, item 3)`, () => {
      const client = buildQuery('www.example.com', T.A, { id: CLIENT_ID, ...c.o });
      if (c.ad) client.writeUInt16BE(client.readUInt16BE(2) | AD, 2);
      const pq = parseQuery(client);
      const sent = buildUpstreamQuery(client, pq);
      sent.writeUInt16BE(SENT_ID, 0);
      const x = { client, pq, sent };
      const s = store(x, answerWith(x, AD, 0));
      expect(replay(s, client, pq, s.storedAt).readUInt16BE(2) & AD).toBe(c.want);
    });
  }

  it('AD is never invented: an AD=0 answer stays AD=0 for a DO client', () => {
    const x = exchange('www.example.com', T.A, { edns: { do: true } });
    const s = store(x, answerWith(x, 0, AD));
    expect(replay(s, x.client, x.pq, s.storedAt).readUInt16BE(2) & AD).toBe(0);
  });
});

describe('checkResponse with exact case (0x20)', () => {
  it('a question differing only in case is CaseMismatch when exact case is asked for, Ok otherwise', () => {
    const x = exchange('www.example.com', T.A);
    x.sent.write('WwW', 13, 'latin1');
    const lower = upstreamAnswer(x, { qname: 'www.example.com' });
    expect(checkResponse(lower, x.sent, x.pq.qEnd, true)).toBe(ResponseCheck.CaseMismatch);
    expect(checkResponse(lower, x.sent, x.pq.qEnd, false)).toBe(ResponseCheck.Ok);
    const echoed = upstreamAnswer(x, { qname: 'WwW.example.com' });
    expect(checkResponse(echoed, x.sent, x.pq.qEnd, true)).toBe(ResponseCheck.Ok);
    const other = upstreamAnswer(x, { qname: 'WwW.example.org' });
    expect(checkResponse(other, x.sent, x.pq.qEnd, true)).toBe(ResponseCheck.Mismatch);
  });
});
