// The OPT record: written into our answers and upstream queries (writeOpt), and found in a message
// (findOpt, optStart, messageRcode) by a walk that trusts nothing. Messages are written byte by byte.
import { describe, expect, it } from 'vitest';
import { findOpt, messageRcode, optStart, writeOpt } from '../../src/dns/opt.js';

const QUESTION = [1, 0x71, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]; // q.example A IN
const A_RECORD = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1];

/** An OPT RR: owner, type 41, UDP size, extended rcode, version, DO flag, options. */
function opt(o: { owner?: number[]; udpSize?: number; extRcode?: number; version?: number; dnssecOk?: boolean; options?: number[] } = {}): number[] {
  const options = o.options ?? [];
  const size = o.udpSize ?? 1232;
  return [...(o.owner ?? [0]), 0, 41, size >>> 8, size & 0xff, o.extRcode ?? 0, o.version ?? 0, o.dnssecOk ? 0x80 : 0, 0, options.length >>> 8, options.length & 0xff, ...options];
}

/** A response with the given sections (each a list of records' bytes) and low rcode. */
function message(s: { an?: number[][]; ns?: number[][]; ar?: number[][]; rcode?: number }): Buffer {
  const an = s.an ?? [];
  const ns = s.ns ?? [];
  const ar = s.ar ?? [];
  const header = [0x12, 0x34, 0x81, 0x80 | (s.rcode ?? 0), 0, 1, 0, an.length, 0, ns.length, 0, ar.length];
  return Buffer.from([...header, ...QUESTION, ...an.flat(), ...ns.flat(), ...ar.flat()]);
}

const OFFSET_AFTER_ANSWER = 12 + QUESTION.length + A_RECORD.length;

describe('finding the OPT record', () => {
  const cases: { spec: string; msg: Buffer; start: number }[] = [
    { spec: 'no additional records', msg: message({ an: [A_RECORD] }), start: -1 },
    { spec: 'an OPT after the answer', msg: message({ an: [A_RECORD], ar: [opt({ dnssecOk: true, udpSize: 4096 })] }), start: OFFSET_AFTER_ANSWER },
    { spec: 'an OPT after an additional A record', msg: message({ ar: [A_RECORD, opt()] }), start: 12 + QUESTION.length + A_RECORD.length },
    { spec: 'an OPT in the answer section is not trusted', msg: message({ an: [opt()] }), start: -1 },
    { spec: 'an OPT in the authority section is not trusted', msg: message({ ns: [opt()], ar: [A_RECORD] }), start: -1 },
    { spec: 'two OPT records are not trusted', msg: message({ ar: [opt(), opt()] }), start: -1 },
    { spec: 'an OPT whose owner is not the root is not trusted', msg: message({ ar: [opt({ owner: [0xc0, 12] })] }), start: -1 },
    { spec: 'a message cut inside its OPT is not walked', msg: message({ ar: [opt({ options: [0, 10, 0, 2, 1, 2] })] }).subarray(0, -3), start: -1 },
    { spec: 'an RDLENGTH past the end is not walked', msg: message({ an: [[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 9, 1]], ar: [opt()] }), start: -1 },
    { spec: 'a header alone', msg: Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 1]), start: -1 },
    { spec: 'less than a header', msg: Buffer.from([0, 1, 0x81]), start: -1 },
  ];

  it.each(cases)('$spec', ({ msg, start }) => {
    expect(optStart(msg)).toBe(start);
    const info = findOpt(msg);
    if (start < 0) expect(info).toBeNull();
    else expect(info?.start).toBe(start);
  });

  it("findOpt reads the OPT's fields", () => {
    const msg = message({ an: [A_RECORD], ar: [opt({ udpSize: 4096, extRcode: 1, version: 2, dnssecOk: true })] });
    expect(findOpt(msg)).toEqual({ start: OFFSET_AFTER_ANSWER, udpSize: 4096, extRcode: 1, version: 2, dnssecOk: true });
  });
});

describe('messageRcode', () => {
  it('is the header rcode without an OPT', () => {
    expect(messageRcode(message({ an: [A_RECORD], rcode: 3 }))).toBe(3);
  });

  it("adds the OPT's upper eight bits: BADVERS (16) and BADCOOKIE (23)", () => {
    expect(messageRcode(message({ ar: [opt({ extRcode: 1 })], rcode: 0 }))).toBe(16);
    expect(messageRcode(message({ an: [A_RECORD], ar: [opt({ extRcode: 1 })], rcode: 7 }))).toBe(23);
  });

  it('ignores an OPT that cannot be trusted', () => {
    expect(messageRcode(message({ an: [opt({ extRcode: 1 })], rcode: 2 }))).toBe(2);
  });
});

describe('writeOpt', () => {
  it('writes the root owner, type 41, 1232, the extended rcode, the DO bit and the options, and returns the end', () => {
    const options = Buffer.from([0, 15, 0, 2, 0, 22]); // EDE 22 without text
    const buf = Buffer.alloc(3 + 11 + options.length, 0xee);
    expect(writeOpt(buf, 3, 1, true, options)).toBe(buf.length);
    expect([...buf]).toEqual([0xee, 0xee, 0xee, ...opt({ extRcode: 1, dnssecOk: true, options: [...options] })]);
  });

  it('without options: RDLENGTH 0 and nothing after', () => {
    const buf = Buffer.alloc(11 + 1, 0xee);
    expect(writeOpt(buf, 0, 0, false, null)).toBe(11);
    expect([...buf]).toEqual([...opt(), 0xee]);
  });
});
