// parseQuery: what c2dns reads from a client's message, and which messages it refuses to read.
// Every case is a real packet, built byte by byte so the test controls what a sloppy client or
// an attacker would send.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuery, ParseStatus, type ParsedQuery } from '../../src/dns/query.js';
import { buildQuery } from '../helpers/wire.js';

// ---- packet building blocks -------------------------------------------------------------

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};

interface Hdr {
  id?: number;
  flags?: number;
  qd?: number;
  an?: number;
  ns?: number;
  ar?: number;
}

function header(h: Hdr = {}): Buffer {
  return Buffer.concat([u16(h.id ?? 0xbeef), u16(h.flags ?? 0x0100), u16(h.qd ?? 1), u16(h.an ?? 0), u16(h.ns ?? 0), u16(h.ar ?? 0)]);
}

/** A literal wire name from raw labels (strings are taken byte for byte, latin1). */
function wireName(...labels: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = typeof l === 'string' ? Buffer.from(l, 'latin1') : l;
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function question(name: Buffer, qtype = 1, qclass = 1): Buffer {
  return Buffer.concat([name, u16(qtype), u16(qclass)]);
}

interface OptSpec {
  owner?: Buffer;
  udpSize?: number;
  extRcode?: number;
  version?: number;
  dnssecOk?: boolean;
  rdata?: Buffer;
}

function opt(o: OptSpec = {}): Buffer {
  const rdata = o.rdata ?? Buffer.alloc(0);
  return Buffer.concat([
    o.owner ?? Buffer.from([0]),
    u16(41),
    u16(o.udpSize ?? 1232),
    Buffer.from([o.extRcode ?? 0, o.version ?? 0, o.dnssecOk ? 0x80 : 0, 0]),
    u16(rdata.length),
    rdata,
  ]);
}

/** An ordinary resource record (TTL 60). */
function rr(owner: Buffer, type: number, rdata: Buffer): Buffer {
  return Buffer.concat([owner, u16(type), u16(1), Buffer.from([0, 0, 0, 60]), u16(rdata.length), rdata]);
}

const msg = (h: Hdr, ...parts: Buffer[]): Buffer => Buffer.concat([header(h), ...parts]);

const EXAMPLE = question(wireName('www', 'example', 'com'));
const EXAMPLE_QEND = 12 + EXAMPLE.length; // 12 + 17 + 4 = 33

// ---- well-formed queries -----------------------------------------------------------------

interface OkCase {
  name: string;
  msg: Buffer;
  want: Partial<ParsedQuery>;
}

const okCases: OkCase[] = [
  {
    name: 'a plain query: name lower-cased without trailing dot, type, class, end of question',
    msg: msg({ id: 0x1234 }, question(wireName('WwW', 'ExAmPlE', 'CoM'), 28, 1)),
    want: { status: ParseStatus.Ok, id: 0x1234, flags: 0x0100, name: 'www.example.com', qtype: 28, qclass: 1, qEnd: EXAMPLE_QEND, edns: false, udpSize: 0, dnssecOk: false },
  },
  {
    name: 'the root name is the empty string',
    msg: msg({}, question(wireName(), 2)),
    want: { status: ParseStatus.Ok, name: '', qtype: 2, qEnd: 12 + 1 + 4 },
  },
  {
    name: 'class and flags are reported as sent (CH class, RD=0, CD=1)',
    msg: msg({ flags: 0x0010 }, question(wireName('version', 'bind'), 16, 3)),
    want: { status: ParseStatus.Ok, flags: 0x0010, name: 'version.bind', qtype: 16, qclass: 3 },
  },
  {
    name: 'EDNS: advertised UDP size and DO bit',
    msg: msg({ ar: 1 }, EXAMPLE, opt({ udpSize: 4096, dnssecOk: true })),
    want: { status: ParseStatus.Ok, edns: true, udpSize: 4096, dnssecOk: true, qEnd: EXAMPLE_QEND },
  },
  {
    name: 'EDNS without DO, with a tiny UDP size reported as sent (the transport clamps it)',
    msg: msg({ ar: 1 }, EXAMPLE, opt({ udpSize: 100 })),
    want: { status: ParseStatus.Ok, edns: true, udpSize: 100, dnssecOk: false },
  },
  {
    name: 'EDNS options in the OPT RDATA are skipped (a COOKIE)',
    msg: msg({ ar: 1 }, EXAMPLE, opt({ rdata: Buffer.concat([u16(10), u16(8), Buffer.alloc(8, 0xab)]) })),
    want: { status: ParseStatus.Ok, edns: true, udpSize: 1232 },
  },
  {
    name: 'EDNS version 1 is BADVERS, with the question and the OPT still read',
    msg: msg({ ar: 1 }, EXAMPLE, opt({ version: 1, dnssecOk: true })),
    want: { status: ParseStatus.BadVers, edns: true, dnssecOk: true, name: 'www.example.com', qEnd: EXAMPLE_QEND },
  },
  {
    name: 'EDNS version 255 is BADVERS',
    msg: msg({ ar: 1 }, EXAMPLE, opt({ version: 255 })),
    want: { status: ParseStatus.BadVers, edns: true },
  },
  {
    name: 'a non-OPT additional record (e.g. a TSIG-like record) is skipped and the OPT after it found',
    msg: msg({ ar: 2 }, EXAMPLE, rr(wireName('key'), 250, Buffer.alloc(5)), opt({ udpSize: 1400 })),
    want: { status: ParseStatus.Ok, edns: true, udpSize: 1400 },
  },
  {
    name: 'a compressed owner name in a non-OPT additional record is skipped, not followed',
    msg: msg({ ar: 2 }, EXAMPLE, rr(Buffer.from([0xc0, 0x0c]), 1, Buffer.alloc(4)), opt()),
    want: { status: ParseStatus.Ok, edns: true },
  },
  {
    name: 'bytes after the counted records are ignored',
    msg: msg({}, EXAMPLE, Buffer.from('trailing junk')),
    want: { status: ParseStatus.Ok, name: 'www.example.com', qEnd: EXAMPLE_QEND, edns: false },
  },
  {
    name: 'a name of exactly 255 octets is accepted',
    msg: msg({}, question(wireName('a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)))),
    want: { status: ParseStatus.Ok, name: ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.'), qEnd: 12 + 255 + 4 },
  },
  {
    name: 'a label of exactly 63 octets is accepted',
    msg: msg({}, question(wireName('x'.repeat(63), 'com'))),
    want: { status: ParseStatus.Ok, name: `${'x'.repeat(63)}.com` },
  },
];

describe('parseQuery: well-formed queries', () => {
  for (const c of okCases) {
    it(c.name, () => {
      expect(parseQuery(c.msg)).toMatchObject(c.want);
    });
  }

  it('agrees with the test client builder on every field', () => {
    const q = buildQuery('Mail.Example.NET', 15, { id: 77, cd: true, edns: { udpSize: 1232, do: true } });
    expect(parseQuery(q)).toEqual({
      status: ParseStatus.Ok,
      id: 77,
      flags: 0x0110,
      name: 'mail.example.net',
      qtype: 15,
      qclass: 1,
      qEnd: 12 + 18 + 4,
      edns: true,
      udpSize: 1232,
      dnssecOk: true,
      ednsOptions: 12 + 18 + 4 + 11,
      ednsOptionsLen: 0,
    });
  });

  it('does not modify the message it reads', () => {
    const q = msg({ ar: 1 }, question(wireName('UPPER', 'Case')), opt());
    const copy = Buffer.from(q);
    parseQuery(q);
    expect(q).toEqual(copy);
  });
});

// ---- refused messages -------------------------------------------------------------------

interface BadCase {
  name: string;
  msg: Buffer;
  status: ParseStatus;
  /** What must still be known for the error reply (qEnd > 0 means the question is echoed). */
  want?: Partial<ParsedQuery>;
}

const selfPointer = msg({}, Buffer.from([0xc0, 0x0c]), u16(1), u16(1));

const badCases: BadCase[] = [
  { name: 'empty datagram → Drop', msg: Buffer.alloc(0), status: ParseStatus.Drop },
  { name: '1 byte → Drop', msg: Buffer.from([0x12]), status: ParseStatus.Drop },
  { name: '11 bytes (a header minus one) → Drop', msg: header().subarray(0, 11), status: ParseStatus.Drop },
  { name: 'QR=1 (a response) → Ignore, whatever follows', msg: msg({ flags: 0x8180 }, EXAMPLE), status: ParseStatus.Ignore },
  { name: 'QR=1 with an unreadable body → Ignore', msg: msg({ flags: 0x8000, qd: 0 }), status: ParseStatus.Ignore },
  { name: 'opcode 1 (IQUERY) → NotImp', msg: msg({ flags: 1 << 11 }, EXAMPLE), status: ParseStatus.NotImp, want: { id: 0xbeef, flags: 1 << 11, qEnd: 0 } },
  { name: 'opcode 2 (STATUS) → NotImp', msg: msg({ flags: 2 << 11 }, EXAMPLE), status: ParseStatus.NotImp },
  { name: 'opcode 4 (NOTIFY) → NotImp', msg: msg({ flags: 4 << 11 }, EXAMPLE), status: ParseStatus.NotImp },
  { name: 'opcode 5 (UPDATE) → NotImp', msg: msg({ flags: 5 << 11 }, EXAMPLE), status: ParseStatus.NotImp },
  { name: 'opcode 15 → NotImp', msg: msg({ flags: 15 << 11 }, EXAMPLE), status: ParseStatus.NotImp },
  { name: 'QDCOUNT 0 → FormErr, no question to echo', msg: msg({ qd: 0 }), status: ParseStatus.FormErr, want: { qEnd: 0 } },
  { name: 'QDCOUNT 2 → FormErr', msg: msg({ qd: 2 }, EXAMPLE, EXAMPLE), status: ParseStatus.FormErr, want: { qEnd: 0 } },
  { name: 'QDCOUNT 65535 → FormErr', msg: msg({ qd: 0xffff }, EXAMPLE), status: ParseStatus.FormErr },
  { name: 'header only, QDCOUNT 1 → FormErr', msg: header(), status: ParseStatus.FormErr, want: { qEnd: 0 } },
  { name: 'question name is a compression pointer to itself → FormErr', msg: selfPointer, status: ParseStatus.FormErr, want: { qEnd: 0 } },
  {
    name: 'a pointer after a literal label, to a valid name elsewhere → FormErr (never followed)',
    msg: msg({}, Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 20]), u16(1), u16(1), wireName('example', 'com')),
    status: ParseStatus.FormErr,
  },
  { name: 'label length 64 → FormErr', msg: msg({}, question(wireName('x'.repeat(64)))), status: ParseStatus.FormErr },
  ...[0x40, 0x41, 0x7f, 0x80, 0xbf].map((l) => ({
    name: `label type byte 0x${l.toString(16)} (reserved 01/10 label types) → FormErr`,
    msg: msg({}, Buffer.from([l]), Buffer.alloc(Math.min(l, 200), 0x61), Buffer.from([0]), u16(1), u16(1)),
    status: ParseStatus.FormErr,
  })),
  {
    name: 'name of 257 octets (four 63-octet labels) → FormErr',
    msg: msg({}, question(wireName('a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(63)))),
    status: ParseStatus.FormErr,
  },
  {
    name: 'name of 256 octets → FormErr',
    msg: msg({}, question(wireName('a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(62)))),
    status: ParseStatus.FormErr,
  },
  { name: 'name without its root byte (message ends) → FormErr', msg: msg({}, Buffer.from([3, 0x63, 0x6f, 0x6d])), status: ParseStatus.FormErr },
  { name: 'label longer than the bytes left → FormErr', msg: msg({}, Buffer.from([10, 0x61, 0x62])), status: ParseStatus.FormErr },
  { name: 'QTYPE/QCLASS missing → FormErr', msg: msg({}, wireName('example', 'com')), status: ParseStatus.FormErr, want: { qEnd: 0 } },
  { name: 'QCLASS cut short → FormErr', msg: msg({}, wireName('example', 'com'), u16(1), Buffer.from([0])), status: ParseStatus.FormErr },
  {
    name: 'two OPT records → FormErr, EDNS known so the reply carries an OPT',
    msg: msg({ ar: 2 }, EXAMPLE, opt(), opt()),
    status: ParseStatus.FormErr,
    want: { edns: true, qEnd: EXAMPLE_QEND },
  },
  { name: 'OPT in the answer section → FormErr', msg: msg({ an: 1 }, EXAMPLE, opt()), status: ParseStatus.FormErr, want: { qEnd: EXAMPLE_QEND } },
  { name: 'OPT in the authority section → FormErr', msg: msg({ ns: 1 }, EXAMPLE, opt()), status: ParseStatus.FormErr },
  { name: 'OPT with a non-root owner → FormErr', msg: msg({ ar: 1 }, EXAMPLE, opt({ owner: wireName('example', 'com') })), status: ParseStatus.FormErr },
  { name: 'OPT whose owner is a pointer to the question name → FormErr', msg: msg({ ar: 1 }, EXAMPLE, opt({ owner: Buffer.from([0xc0, 0x0c]) })), status: ParseStatus.FormErr },
  { name: 'BADVERS OPT followed by a second OPT → FormErr wins', msg: msg({ ar: 2 }, EXAMPLE, opt({ version: 1 }), opt()), status: ParseStatus.FormErr },
  { name: 'ARCOUNT 1 with nothing after the question → FormErr', msg: msg({ ar: 1 }, EXAMPLE), status: ParseStatus.FormErr, want: { qEnd: EXAMPLE_QEND } },
  { name: 'OPT cut inside its fixed part → FormErr', msg: msg({ ar: 1 }, EXAMPLE, opt().subarray(0, 8)), status: ParseStatus.FormErr },
  { name: 'OPT RDLENGTH past the end → FormErr', msg: msg({ ar: 1 }, EXAMPLE, opt({ rdata: Buffer.alloc(8) }).subarray(0, 15)), status: ParseStatus.FormErr },
  { name: 'an additional record with a reserved label type in its owner → FormErr', msg: msg({ ar: 1 }, EXAMPLE, rr(Buffer.from([0x80, 0]), 1, Buffer.alloc(4))), status: ParseStatus.FormErr },
  { name: 'ANCOUNT 65535 in a short query → FormErr, quickly', msg: msg({ an: 0xffff, ns: 0xffff, ar: 0xffff }, EXAMPLE), status: ParseStatus.FormErr },
];

describe('parseQuery: messages it will not answer normally', () => {
  for (const c of badCases) {
    it(c.name, () => {
      const pq = parseQuery(c.msg);
      expect(pq.status).toBe(c.status);
      if (c.want) expect(pq).toMatchObject(c.want);
    });
  }

  it('reads the ID of a message it cannot parse further, so the error reply can carry it', () => {
    expect(parseQuery(msg({ id: 0x4242, qd: 0 }))).toMatchObject({ status: ParseStatus.FormErr, id: 0x4242 });
    expect(parseQuery(msg({ id: 0x4343, flags: 5 << 11 }, EXAMPLE))).toMatchObject({ status: ParseStatus.NotImp, id: 0x4343 });
  });
});

// ---- names that are not plain host names ------------------------------------------------

interface NameCase {
  name: string;
  labels: (string | Buffer)[];
  /** The presentation form with RFC 1035 §5.1 escapes. */
  want: string;
  /** A listed-style name that this query must not be mistaken for. */
  notEqual?: string;
}

const nameCases: NameCase[] = [
  { name: "a '.' inside the only label", labels: ['akamaicontainer.com'], want: 'akamaicontainer\\.com', notEqual: 'akamaicontainer.com' },
  { name: "a '.' inside an upper-case label is escaped and lower-cased", labels: ['AkamaiContainer.COM'], want: 'akamaicontainer\\.com', notEqual: 'akamaicontainer.com' },
  { name: "a '.' inside the first of two labels", labels: ['evil.akamaicontainer', 'com'], want: 'evil\\.akamaicontainer.com', notEqual: 'evil.akamaicontainer.com' },
  { name: 'a backslash', labels: ['a\\b', 'com'], want: 'a\\\\b.com' },
  { name: 'a space', labels: ['a b', 'com'], want: 'a\\032b.com', notEqual: 'a b.com' },
  { name: 'a NUL byte', labels: [Buffer.from([0x61, 0x00]), 'com'], want: 'a\\000.com', notEqual: 'a.com' },
  { name: 'DEL and a high byte', labels: [Buffer.from([0x7f, 0xff])], want: '\\127\\255' },
  { name: 'a control character', labels: [Buffer.from([0x0a]), 'example'], want: '\\010.example' },
  { name: 'an escape sequence spelled literally stays distinct from the byte it spells', labels: ['a\\032b', 'com'], want: 'a\\\\032b.com', notEqual: 'a\\032b.com' },
];

describe('parseQuery: names with bytes that are not plain host-name characters', () => {
  for (const c of nameCases) {
    it(`${c.name} → ${c.want}`, () => {
      const pq = parseQuery(msg({}, question(wireName(...c.labels))));
      expect(pq.status).toBe(ParseStatus.Ok);
      expect(pq.name).toBe(c.want);
      if (c.notEqual !== undefined) expect(pq.name).not.toBe(c.notEqual);
    });
  }

  it('plain names with hyphens, underscores and digits are not escaped', () => {
    expect(parseQuery(msg({}, question(wireName('_dmarc', 'x-1', '3cx', 'com')))).name).toBe('_dmarc.x-1.3cx.com');
  });
});

// ---- properties -------------------------------------------------------------------------

const label = fc.uint8Array({ minLength: 1, maxLength: 63 }).map((a) => Buffer.from(a));
const labels = fc.array(label, { minLength: 0, maxLength: 6 }).filter((ls) => ls.reduce((n, l) => n + l.length + 1, 1) <= 255);
const foldCase = (b: Buffer): string => Buffer.from(b.map((x) => (x >= 0x41 && x <= 0x5a ? x | 0x20 : x))).toString('latin1');

describe('parseQuery: properties', () => {
  it('never throws, and any status it returns is consistent with the message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
        const m = Buffer.from(bytes);
        const pq = parseQuery(m);
        expect(Object.values(ParseStatus)).toContain(pq.status);
        if (m.length < 12) expect(pq.status).toBe(ParseStatus.Drop);
        if (pq.status === ParseStatus.Ok || pq.status === ParseStatus.BadVers) {
          expect(pq.qEnd).toBeGreaterThanOrEqual(12 + 1 + 4);
          expect(pq.qEnd).toBeLessThanOrEqual(m.length);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on bit-flipped valid queries', () => {
    const base = buildQuery('www.example.com', 1, { id: 1, edns: { do: true } });
    fc.assert(
      fc.property(fc.array(fc.nat({ max: base.length * 8 - 1 }), { minLength: 1, maxLength: 8 }), (bits) => {
        const m = Buffer.from(base);
        for (const bit of bits) m[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        const pq = parseQuery(m);
        if (pq.status === ParseStatus.Ok) expect(pq.qEnd).toBeLessThanOrEqual(m.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads any literal name of valid length, and the question ends right after QTYPE/QCLASS', () => {
    fc.assert(
      fc.property(labels, fc.integer({ min: 0, max: 0xffff }), (ls, qtype) => {
        const name = wireName(...ls);
        const pq = parseQuery(msg({}, question(name, qtype)));
        expect(pq.status).toBe(ParseStatus.Ok);
        expect(pq.qtype).toBe(qtype);
        expect(pq.qEnd).toBe(12 + name.length + 4);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives two names the same presentation form only when they are the same name ignoring ASCII case', () => {
    fc.assert(
      fc.property(labels, labels, (a, b) => {
        const sameName = a.length === b.length && a.every((l, i) => foldCase(l) === foldCase(b[i]!));
        const na = parseQuery(msg({}, question(wireName(...a)))).name;
        const nb = parseQuery(msg({}, question(wireName(...b)))).name;
        expect(na === nb).toBe(sameName);
      }),
      { numRuns: 2000 },
    );
  });

  it('the presentation form of a one-label name never equals a multi-label plain name', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { minLength: 2, maxLength: 4 }), (parts) => {
        const plain = parts.join('.');
        const oneLabel = parseQuery(msg({}, question(wireName(plain)))).name;
        expect(oneLabel).not.toBe(plain);
        expect(parseQuery(msg({}, question(wireName(...parts)))).name).toBe(plain);
      }),
      { numRuns: 500 },
    );
  });
});
