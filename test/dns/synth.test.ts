// Replies c2dns writes itself: sinkhole answers, NODATA/NXDOMAIN with a synthetic SOA, error
// replies and the TC=1 stub. Every reply is decoded by dns2 (which must report no errors) and
// checked to end exactly where its last record ends.
import { describe, expect, it } from 'vitest';
import { edeOption } from '../../src/dns/opt.js';
import { parseQuery, ParseStatus, type ParsedQuery } from '../../src/dns/query.js';
import { replay, storeResponse } from '../../src/dns/relay.js';
import { errorReply, synthesize, truncatedReply, type SynthOptions } from '../../src/dns/synth.js';
import { buildUpstreamQuery } from '../../src/upstream/message.js';
import { buildQuery, decode, edeOf, Packet, T, type DecodedPacket, type QueryOptions } from '../helpers/wire.js';

type Resource = DecodedPacket['answers'][number];
type Question = DecodedPacket['questions'][number];

const ID = 0x5a5a;

function query(qname: string, qtype: number, o: QueryOptions = {}): { q: Buffer; pq: ParsedQuery } {
  const q = buildQuery(qname, qtype, { id: ID, ...o });
  return { q, pq: parseQuery(q) };
}

/** Offset just past the last record the header counts (names skipped, not followed). */
function endOfRecords(m: Buffer): number {
  const skip = (off: number): number => {
    for (;;) {
      const l = m[off]!;
      if (l === 0) return off + 1;
      if ((l & 0xc0) === 0xc0) return off + 2;
      off += l + 1;
    }
  };
  let off = 12;
  for (let i = 0; i < m.readUInt16BE(4); i++) off = skip(off) + 4;
  const rrs = m.readUInt16BE(6) + m.readUInt16BE(8) + m.readUInt16BE(10);
  for (let i = 0; i < rrs; i++) {
    off = skip(off);
    off += 10 + m.readUInt16BE(off + 8);
  }
  return off;
}

/** Decodes with dns2 (throws on any decode error) and checks there are no stray bytes. */
function decodeExact(m: Buffer): DecodedPacket {
  const p = decode(m);
  expect(endOfRecords(m)).toBe(m.length);
  return p;
}

const opt = (p: DecodedPacket) => p.additionals.find((r) => r.type === T.OPT) as (Resource & { doFlag: boolean; version: number; extendedRcode: number }) | undefined;

const A_ZERO = { type: T.A, rdata: Buffer.alloc(4) };
const AAAA_ZERO = { type: T.AAAA, rdata: Buffer.alloc(16) };
const BLOCKED = edeOption(15, 'blocked by c2dns: list=c2 rule=sbmsa.wiki');

// ---- synthesize -------------------------------------------------------------------------

interface SynthCase {
  name: string;
  qname: string;
  qtype: number;
  query?: QueryOptions;
  opts: SynthOptions;
  rcode: number;
  answers: string[]; // "name type ttl address"
  /** Owner of the authority SOA as the client sees it, or undefined for no SOA. */
  soaOwner?: string;
  /** Offset of the SOA owner's pointer target inside the question, when there is a SOA. */
  soaTarget?: number;
  ede: { infoCode: number; text: string }[];
  hasOpt: boolean;
}

const synthCases: SynthCase[] = [
  {
    name: 'A → 0.0.0.0, owner compressed to the question name, TTL as configured',
    qname: 'akamaicontainer.com',
    qtype: T.A,
    opts: { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 42, ede: null },
    rcode: 0,
    answers: ['akamaicontainer.com 1 42 0.0.0.0'],
    ede: [],
    hasOpt: false,
  },
  {
    name: 'AAAA → ::',
    qname: 'cdn.msstorageazure.com',
    qtype: T.AAAA,
    opts: { rcode: 0, answers: [AAAA_ZERO], soaLabels: -1, ttl: 300, ede: null },
    rcode: 0,
    answers: ['cdn.msstorageazure.com 28 300 ::'],
    ede: [],
    hasOpt: false,
  },
  {
    name: 'A → a sinkhole address, in the client letter case',
    qname: 'Evil.Example.NET',
    qtype: T.A,
    opts: { rcode: 0, answers: [{ type: T.A, rdata: Buffer.from([192, 0, 2, 99]) }], soaLabels: -1, ttl: 60, ede: null },
    rcode: 0,
    answers: ['Evil.Example.NET 1 60 192.0.2.99'],
    ede: [],
    hasOpt: false,
  },
  {
    name: 'several answer records (local data), each owned by the question name',
    qname: 'Local.Example',
    qtype: T.A,
    opts: { rcode: 0, answers: [{ type: T.A, rdata: Buffer.from([10, 0, 0, 1]) }, { type: T.A, rdata: Buffer.from([10, 0, 0, 2]) }], soaLabels: -1, ttl: 7, ede: null },
    rcode: 0,
    answers: ['Local.Example 1 7 10.0.0.1', 'Local.Example 1 7 10.0.0.2'],
    ede: [],
    hasOpt: false,
  },
  {
    name: "NODATA: SOA owned by the rule's suffix of the question (pointer into it)",
    qname: 'a.b.c.sbmsa.wiki',
    qtype: T.MX,
    opts: { rcode: 0, answers: [], soaLabels: 2, ttl: 42, ede: null },
    rcode: 0,
    answers: [],
    soaOwner: 'sbmsa.wiki',
    soaTarget: 12 + 2 + 2 + 2, // past "a", "b", "c"
    ede: [],
    hasOpt: false,
  },
  {
    name: 'NODATA for the listed name itself: SOA owner is the whole question name',
    qname: 'sbmsa.wiki',
    qtype: T.TXT,
    opts: { rcode: 0, answers: [], soaLabels: 2, ttl: 42, ede: null },
    rcode: 0,
    answers: [],
    soaOwner: 'sbmsa.wiki',
    soaTarget: 12,
    ede: [],
    hasOpt: false,
  },
  {
    name: 'the SOA owner keeps the client letter case',
    qname: 'X.SbMsA.WiKi',
    qtype: T.MX,
    opts: { rcode: 0, answers: [], soaLabels: 2, ttl: 42, ede: null },
    rcode: 0,
    answers: [],
    soaOwner: 'SbMsA.WiKi',
    soaTarget: 14,
    ede: [],
    hasOpt: false,
  },
  {
    name: 'NXDOMAIN with SOA',
    qname: 'deep.sub.tracker.example.net',
    qtype: T.A,
    opts: { rcode: 3, answers: [], soaLabels: 3, ttl: 120, ede: null },
    rcode: 3,
    answers: [],
    soaOwner: 'tracker.example.net',
    soaTarget: 12 + 5 + 4,
    ede: [],
    hasOpt: false,
  },
  {
    name: 'a root-level rule (0 labels): SOA owned by the root',
    qname: 'anything.example',
    qtype: T.MX,
    opts: { rcode: 0, answers: [], soaLabels: 0, ttl: 10, ede: null },
    rcode: 0,
    answers: [],
    soaOwner: '',
    soaTarget: 12 + 9 + 8,
    ede: [],
    hasOpt: false,
  },
  {
    name: 'more SOA labels than the name has: SOA owned by the question name',
    qname: 'short.example',
    qtype: T.MX,
    opts: { rcode: 0, answers: [], soaLabels: 5, ttl: 10, ede: null },
    rcode: 0,
    answers: [],
    soaOwner: 'short.example',
    soaTarget: 12,
    ede: [],
    hasOpt: false,
  },
  {
    name: 'EDNS client: OPT with the EDE text',
    qname: 'x.sbmsa.wiki',
    qtype: T.A,
    query: { edns: { udpSize: 1232 } },
    opts: { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 42, ede: BLOCKED },
    rcode: 0,
    answers: ['x.sbmsa.wiki 1 42 0.0.0.0'],
    ede: [{ infoCode: 15, text: 'blocked by c2dns: list=c2 rule=sbmsa.wiki' }],
    hasOpt: true,
  },
  {
    name: 'EDNS client, NXDOMAIN: SOA and OPT with EDE together',
    qname: 'x.sbmsa.wiki',
    qtype: T.AAAA,
    query: { edns: { do: true } },
    opts: { rcode: 3, answers: [], soaLabels: 2, ttl: 42, ede: BLOCKED },
    rcode: 3,
    answers: [],
    soaOwner: 'sbmsa.wiki',
    soaTarget: 14,
    ede: [{ infoCode: 15, text: 'blocked by c2dns: list=c2 rule=sbmsa.wiki' }],
    hasOpt: true,
  },
  {
    name: 'EDNS client without EDE: an empty OPT',
    qname: 'akamaicontainer.com',
    qtype: T.A,
    query: { edns: {} },
    opts: { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 42, ede: null },
    rcode: 0,
    answers: ['akamaicontainer.com 1 42 0.0.0.0'],
    ede: [],
    hasOpt: true,
  },
  {
    name: 'client without EDNS: no OPT, so no EDE, even when one is given',
    qname: 'x.sbmsa.wiki',
    qtype: T.A,
    opts: { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 42, ede: BLOCKED },
    rcode: 0,
    answers: ['x.sbmsa.wiki 1 42 0.0.0.0'],
    ede: [],
    hasOpt: false,
  },
];

describe('synthesize', () => {
  for (const c of synthCases) {
    it(c.name, () => {
      const { q, pq } = query(c.qname, c.qtype, c.query);
      const out = synthesize(q, pq, c.opts);
      const p = decodeExact(out);
      expect(p.header).toMatchObject({ id: ID, qr: 1, opcode: 0, aa: 0, tc: 0, rd: 1, ra: 1, rcode: c.rcode, qdcount: 1 });
      expect(out.subarray(12, pq.qEnd)).toEqual(q.subarray(12, pq.qEnd)); // question echoed byte for byte
      expect(p.answers.map((a) => `${a.name} ${a.type} ${a.ttl} ${a.address}`)).toEqual(c.answers);
      expect(p.answers.every((a) => a.class === 1)).toBe(true);
      if (c.soaOwner === undefined) expect(p.authorities).toEqual([]);
      else {
        expect(p.authorities).toHaveLength(1);
        const soa = p.authorities[0]!;
        expect(soa).toMatchObject({
          name: c.soaOwner,
          type: T.SOA,
          class: 1,
          ttl: c.opts.ttl,
          primary: 'sinkhole.c2dns.invalid',
          admin: 'sinkhole.c2dns.invalid',
          serial: 1,
          refresh: 3600,
          retry: 600,
          expiration: 86400,
          minimum: c.opts.ttl, // RFC 2308: negative caches keep it for min(TTL, MINIMUM)
        });
        const ownerAt = pq.qEnd + c.opts.answers.reduce((n, r) => n + 12 + r.rdata.length, 0);
        expect(out.readUInt16BE(ownerAt)).toBe(0xc000 | c.soaTarget!);
      }
      expect(p.header.arcount).toBe(c.hasOpt ? 1 : 0);
      expect(edeOf(p)).toEqual(c.ede);
    });
  }

  it('answers a query handed out as a view into a bigger buffer (a batch receive) as it answers its own copy', () => {
    for (const o of [{}, { edns: {} }] as QueryOptions[]) {
      const own = query('x.sbmsa.wiki', T.A, o);
      // AA and TC set in the query: a reply states its own, whatever the query's header held.
      own.q.writeUInt16BE(own.q.readUInt16BE(2) | 0x0600, 2);
      const big = Buffer.alloc(own.q.length + 64, 0xee);
      own.q.copy(big, 32);
      const view = big.subarray(32, 32 + own.q.length);
      for (const opts of [
        { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 42, ede: null },
        { rcode: 3, answers: [], soaLabels: 2, ttl: 42, ede: null },
      ]) {
        const a = synthesize(own.q, parseQuery(own.q), opts);
        expect(synthesize(view, parseQuery(view), opts)).toEqual(a);
        expect(a.readUInt16BE(2) & 0x0600).toBe(0);
        expect(a.subarray(12, own.pq.qEnd)).toEqual(own.q.subarray(12, own.pq.qEnd));
      }
      expect(errorReply(view, parseQuery(view), 5)).toEqual(errorReply(own.q, own.pq, 5));
    }
  });

  it('echoes RD=0 and CD=1 from the query', () => {
    const { q, pq } = query('akamaicontainer.com', T.A, { rd: false, cd: true });
    const p = decodeExact(synthesize(q, pq, { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 1, ede: null }));
    expect(p.header).toMatchObject({ rd: 0, cd: 1, ra: 1 });
  });

  const doCases = [true, false];
  for (const dnssecOk of doCases) {
    it(`echoes DO=${dnssecOk ? 1 : 0} in its OPT, advertising 1232 bytes, version 0`, () => {
      const { q, pq } = query('akamaicontainer.com', T.A, { edns: { udpSize: 4096, do: dnssecOk } });
      const o = opt(decodeExact(synthesize(q, pq, { rcode: 0, answers: [A_ZERO], soaLabels: -1, ttl: 1, ede: null })));
      expect(o).toMatchObject({ name: '', class: 1232, version: 0, doFlag: dnssecOk, extendedRcode: 0 });
    });
  }

  it('answers a query whose name is at the 255-octet limit', () => {
    const long = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
    const { q, pq } = query(long, T.MX, { edns: {} });
    expect(pq.status).toBe(ParseStatus.Ok);
    const p = decodeExact(synthesize(q, pq, { rcode: 3, answers: [], soaLabels: 1, ttl: 5, ede: BLOCKED }));
    expect(p.authorities[0]!.name).toBe('d'.repeat(61));
  });
});

// ---- errorReply -------------------------------------------------------------------------

interface ErrCase {
  name: string;
  msg: Buffer;
  status: ParseStatus;
  rcode: number;
  ede?: Buffer;
  /** Header rcode nibble and full rcode as dns2 merges it with the OPT. */
  want: { headerRcode: number; rcode: number; question: string | null; opt: boolean; opcode?: number; ede?: { infoCode: number; text: string }[] };
}

const hdr = (flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer => {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(ID, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
};
const EXAMPLE_Q = buildQuery('www.Example.com', T.A, { id: ID }).subarray(12);
const OPT_RR = buildQuery('x', T.A, { edns: {} }).subarray(12 + 3 + 4);

const errCases: ErrCase[] = [
  {
    name: 'SERVFAIL for a readable query carries its question',
    msg: buildQuery('www.Example.com', T.A, { id: ID }),
    status: ParseStatus.Ok,
    rcode: 2,
    want: { headerRcode: 2, rcode: 2, question: 'www.Example.com', opt: false },
  },
  {
    name: 'REFUSED with EDE for an EDNS client: question, OPT and EDE',
    msg: buildQuery('www.example.com', T.A, { id: ID, edns: { do: true } }),
    status: ParseStatus.Ok,
    rcode: 5,
    ede: edeOption(18, 'c2dns: client not in an allowed network'),
    want: { headerRcode: 5, rcode: 5, question: 'www.example.com', opt: true, ede: [{ infoCode: 18, text: 'c2dns: client not in an allowed network' }] },
  },
  {
    name: 'REFUSED with EDE for a client without EDNS: no OPT',
    msg: buildQuery('www.example.com', T.A, { id: ID }),
    status: ParseStatus.Ok,
    rcode: 5,
    ede: edeOption(18, 'nope'),
    want: { headerRcode: 5, rcode: 5, question: 'www.example.com', opt: false, ede: [] },
  },
  {
    name: 'FORMERR for QDCOUNT 0: header only',
    msg: hdr(0x0100, 0),
    status: ParseStatus.FormErr,
    rcode: 1,
    want: { headerRcode: 1, rcode: 1, question: null, opt: false },
  },
  {
    name: 'FORMERR for QDCOUNT 2: no question echoed',
    msg: Buffer.concat([hdr(0x0100, 2), EXAMPLE_Q, EXAMPLE_Q]),
    status: ParseStatus.FormErr,
    rcode: 1,
    want: { headerRcode: 1, rcode: 1, question: null, opt: false },
  },
  {
    name: 'FORMERR for a compression pointer in the question: no question echoed',
    msg: Buffer.concat([hdr(0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]),
    status: ParseStatus.FormErr,
    rcode: 1,
    want: { headerRcode: 1, rcode: 1, question: null, opt: false },
  },
  {
    name: 'FORMERR for two OPT records: question and an OPT echoed',
    msg: Buffer.concat([hdr(0x0100, 1, 0, 0, 2), EXAMPLE_Q, OPT_RR, OPT_RR]),
    status: ParseStatus.FormErr,
    rcode: 1,
    want: { headerRcode: 1, rcode: 1, question: 'www.Example.com', opt: true },
  },
  {
    name: 'NOTIMP for UPDATE: opcode echoed, no question',
    msg: Buffer.concat([hdr(5 << 11, 1), EXAMPLE_Q]),
    status: ParseStatus.NotImp,
    rcode: 4,
    want: { headerRcode: 4, rcode: 4, question: null, opt: false, opcode: 5 },
  },
  {
    name: 'BADVERS: rcode 16 split into header 0 and OPT extended rcode 1',
    msg: buildQuery('www.example.com', T.A, { id: ID, edns: { version: 1 } }),
    status: ParseStatus.BadVers,
    rcode: 16,
    want: { headerRcode: 0, rcode: 16, question: 'www.example.com', opt: true },
  },
];

describe('errorReply', () => {
  for (const c of errCases) {
    it(c.name, () => {
      const pq = parseQuery(c.msg);
      expect(pq.status).toBe(c.status);
      const out = errorReply(c.msg, pq, c.rcode, c.ede ?? null);
      const p = decodeExact(out);
      expect(out[3]! & 0x0f).toBe(c.want.headerRcode);
      expect(p.header).toMatchObject({ id: ID, qr: 1, rcode: c.want.rcode, opcode: c.want.opcode ?? 0, ancount: 0, nscount: 0, tc: 0 });
      if (c.want.question === null) {
        expect(p.header.qdcount).toBe(0);
        expect(p.questions).toEqual([]);
      } else {
        expect(p.questions.map((x) => x.name)).toEqual([c.want.question]);
        expect(out.subarray(12, pq.qEnd)).toEqual(c.msg.subarray(12, pq.qEnd));
      }
      const o = opt(p);
      expect(o !== undefined).toBe(c.want.opt);
      if (o) expect(o).toMatchObject({ version: 0, extendedRcode: c.want.rcode >>> 4, doFlag: pq.dnssecOk });
      if (c.want.ede) expect(edeOf(p)).toEqual(c.want.ede);
    });
  }

  // Issue 10 item 7: replies to rejected queries kept RA and CD and lost the OPT the query had.
  const rejectCases = [
    { name: 'NOTIMP for opcode 15 with EDNS (DO=1)', msg: Buffer.concat([hdr((15 << 11) | 0x0100 | 0x0030, 1, 0, 0, 1), EXAMPLE_Q, Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0])]), rcode: 4, dnssecOk: true, opcode: 15 },
    { name: 'NOTIMP for UPDATE with EDNS', msg: Buffer.concat([hdr((5 << 11) | 0x0010, 1, 0, 0, 1), EXAMPLE_Q, OPT_RR]), rcode: 4, dnssecOk: false, opcode: 5 },
    { name: 'FORMERR for QDCOUNT 0 with an OPT', msg: Buffer.concat([hdr(0x0100 | 0x0010, 0, 0, 0, 1), OPT_RR]), rcode: 1, dnssecOk: false, opcode: 0 },
    { name: 'FORMERR for QDCOUNT 2 with an OPT', msg: Buffer.concat([hdr(0x0100 | 0x0020, 2, 0, 0, 1), EXAMPLE_Q, EXAMPLE_Q, OPT_RR]), rcode: 1, dnssecOk: false, opcode: 0 },
  ];
  for (const c of rejectCases) {
    it(`${c.name}: an OPT answers the OPT (RFC 6891 §7); RD echoed, RA/CD/AD clear`, () => {
      const pq = parseQuery(c.msg);
      expect(pq.status).not.toBe(ParseStatus.Ok);
      expect(pq.edns).toBe(false); // parseQuery stopped before the OPT: errorReply looks for it
      const out = errorReply(c.msg, pq, c.rcode);
      const p = decodeExact(out);
      expect(p.header).toMatchObject({ id: ID, qr: 1, opcode: c.opcode, rcode: c.rcode, ra: 0, cd: 0, rd: (c.msg[2]! & 1) === 1 ? 1 : 0, aa: 0, tc: 0, arcount: 1 });
      expect(out.readUInt16BE(2) & 0x0020).toBe(0); // AD
      expect(opt(p)).toMatchObject({ name: '', class: 1232, version: 0, extendedRcode: 0, doFlag: c.dnssecOk });
    });
  }

  it('a rejected message whose records do not walk cleanly gets no OPT', () => {
    // Opcode 15, ARCOUNT 2: the OPT, then a record cut short.
    const msg = Buffer.concat([hdr(15 << 11, 1, 0, 0, 2), EXAMPLE_Q, OPT_RR, Buffer.from([0, 0, 1])]);
    const p = decodeExact(errorReply(msg, parseQuery(msg), 4));
    expect(p.header.arcount).toBe(0);
  });

  it('an OPT outside the additional section is not one: FORMERR without an OPT', () => {
    const msg = Buffer.concat([hdr(0x0100, 0, 1), OPT_RR]);
    const p = decodeExact(errorReply(msg, parseQuery(msg), 1));
    expect(p.header.arcount).toBe(0);
  });

  it('a processed query (REFUSED, SERVFAIL) keeps RA set and CD echoed', () => {
    for (const rcode of [2, 5]) {
      const msg = buildQuery('www.example.com', T.A, { id: ID, cd: true, edns: {} });
      const p = decodeExact(errorReply(msg, parseQuery(msg), rcode));
      expect(p.header).toMatchObject({ ra: 1, cd: 1, rd: 1, rcode });
    }
  });

  it('does not echo a question that lies past the end of the message', () => {
    const msg = buildQuery('www.example.com', T.A, { id: ID });
    const pq = { ...parseQuery(msg), qEnd: msg.length + 10 };
    const p = decodeExact(errorReply(msg, pq, 2));
    expect(p.header.qdcount).toBe(0);
  });
});

// ---- truncatedReply ---------------------------------------------------------------------

/** A large relayed answer (many TXT records) for the given client query. */
function bigReplay(q: Buffer, pq: ParsedQuery): Buffer {
  const sent = buildUpstreamQuery(q, pq);
  const up = new Packet();
  up.header.id = sent.readUInt16BE(0);
  up.header.qr = 1;
  up.header.rd = 1;
  up.header.ra = 1;
  up.header.rcode = 0;
  up.questions.push({ name: pq.name, type: pq.qtype, class: 1 } as Question);
  for (let i = 0; i < 20; i++) up.answers.push({ name: pq.name, type: T.TXT, class: 1, ttl: 60, data: [`record ${i} `.padEnd(120, 'x')] } as unknown as Resource);
  up.additionals.push({ ...Packet.Resource.EDNS([Packet.Resource.EDNS.EDE(3, 'stale')], { udpPayloadSize: 4096 }), name: '' } as unknown as Resource);
  const stored = storeResponse(up.toBuffer(), pq.qEnd, 0)!;
  return replay(stored, q, pq, 0);
}

describe('truncatedReply', () => {
  it('cuts a large answer to header and question with TC=1 for a client without EDNS', () => {
    const { q, pq } = query('Big.Example.com', T.TXT, { cd: true });
    const full = bigReplay(q, pq);
    expect(full.length).toBeGreaterThan(2000);
    const out = truncatedReply(full, pq);
    const p = decodeExact(out);
    expect(out.length).toBe(pq.qEnd);
    expect(p.header).toMatchObject({ id: ID, qr: 1, tc: 1, rd: 1, cd: 1, ra: 1, rcode: 0, qdcount: 1, ancount: 0, nscount: 0, arcount: 0 });
    expect(out.subarray(12)).toEqual(q.subarray(12, pq.qEnd));
  });

  const doCases = [true, false];
  for (const dnssecOk of doCases) {
    it(`keeps an OPT (DO=${dnssecOk ? 1 : 0} echoed, no EDE) for an EDNS client`, () => {
      const { q, pq } = query('big.example.com', T.TXT, { edns: { udpSize: 512, do: dnssecOk } });
      const full = bigReplay(q, pq);
      expect(edeOf(decode(full))).toEqual([{ infoCode: 3, text: 'stale' }]);
      const out = truncatedReply(full, pq);
      const p = decodeExact(out);
      expect(out.length).toBe(pq.qEnd + 11);
      expect(p.header).toMatchObject({ tc: 1, qdcount: 1, ancount: 0, nscount: 0, arcount: 1 });
      expect(opt(p)).toMatchObject({ name: '', class: 1232, version: 0, doFlag: dnssecOk, rdata: [] });
      expect(p.questions[0]!.name).toBe('big.example.com');
    });
  }

  it('keeps the rcode of the answer it truncates', () => {
    const { q, pq } = query('gone.sbmsa.wiki', T.TXT, { edns: {} });
    const full = synthesize(q, pq, { rcode: 3, answers: [], soaLabels: 2, ttl: 42, ede: BLOCKED });
    const p = decodeExact(truncatedReply(full, pq));
    expect(p.header).toMatchObject({ tc: 1, rcode: 3, ancount: 0, nscount: 0, arcount: 1 });
  });
});
