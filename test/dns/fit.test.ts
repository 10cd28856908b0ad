// Fitting an answer into the client's UDP limit (issue 10 item 2, RFC 2181 §9): extra records go
// before TC=1 does. Answers are built by dns2 as an upstream would send them, replayed the way
// the relay does, and decoded by dns2.
import { describe, expect, it } from 'vitest';
import { capReply, fitReply } from '../../src/dns/fit.js';
import { edeOption } from '../../src/dns/opt.js';
import { errorReply } from '../../src/dns/synth.js';
import { parseQuery, type ParsedQuery } from '../../src/dns/query.js';
import { replay, storeResponse } from '../../src/dns/relay.js';
import { buildUpstreamQuery } from '../../src/upstream/message.js';
import { buildQuery, decode, edeOf, Packet, T, type QueryOptions, type Rr } from '../helpers/wire.js';

const MX = Array.from({ length: 12 }, (_, i) => ({ name: 'mail.example.org', type: T.MX, priority: 10 + i, exchange: `mx${i}.example.org` }));
const GLUE = Array.from({ length: 37 }, (_, i) => ({ name: `mx${i % 12}.example.org`, type: T.A, address: `192.0.2.${i + 1}` }));
const NS = [
  { name: 'example.org', type: T.NS, ns: 'ns1.example.org' },
  { name: 'example.org', type: T.NS, ns: 'ns2.example.org' },
];
const SOA = { name: 'example.org', type: T.SOA, primary: 'ns1.example.org', admin: 'hostmaster.example.org', serial: 1, refresh: 3600, retry: 600, expiration: 86400, minimum: 300 };

/** The reply a client gets for this upstream answer (as relay.replay writes it). */
function relayed(qname: string, qtype: number, o: QueryOptions, sections: { rcode?: number; answers?: Rr[]; authorities?: Rr[]; additionals?: Rr[] }): { reply: Buffer; pq: ParsedQuery } {
  const client = buildQuery(qname, qtype, { id: 7, ...o });
  const pq = parseQuery(client);
  const sent = buildUpstreamQuery(client, pq);
  const p = new Packet();
  p.header.id = 0;
  p.header.qr = 1;
  p.header.rd = 1;
  p.header.ra = 1;
  p.header.rcode = sections.rcode ?? 0;
  p.questions.push(...Packet.parse(sent).questions);
  const fill = (r: Rr) => new Packet.Resource({ class: 1, ttl: 300, ...r });
  p.answers.push(...(sections.answers ?? []).map(fill));
  p.authorities.push(...(sections.authorities ?? []).map(fill));
  p.additionals.push(...(sections.additionals ?? []).map(fill));
  const s = storeResponse(p.toBuffer(), pq.qEnd, 0);
  if (s === null) throw new Error('malformed test answer');
  return { reply: replay(s, client, pq, 0), pq };
}

describe('fitReply', () => {
  it('12 MX with 37 glue records, no EDNS (the issue\'s case): the answer without the glue, no TC', () => {
    const { reply, pq } = relayed('mail.example.org', T.MX, {}, { answers: MX, authorities: NS, additionals: GLUE });
    expect(reply.length).toBeGreaterThan(512);
    const out = fitReply(reply, 512, pq.dnssecOk)!;
    expect(out).not.toBeNull();
    expect(out.length).toBeLessThanOrEqual(512);
    const p = decode(out);
    expect(p.header).toMatchObject({ tc: 0, ancount: 12, nscount: 2, arcount: 0, id: 7 });
    expect(p.answers.map((a) => a.exchange)).toEqual(MX.map((m) => m.exchange));
    expect(p.authorities.map((a) => a.ns)).toEqual(['ns1.example.org', 'ns2.example.org']);
  });

  it('with EDNS the OPT stays (and the DO bit in it)', () => {
    const { reply, pq } = relayed('mail.example.org', T.MX, { edns: { udpSize: 512, do: true } }, { answers: MX, additionals: GLUE });
    const out = fitReply(reply, 512, pq.dnssecOk)!;
    const p = decode(out);
    expect(p.header).toMatchObject({ tc: 0, ancount: 12, arcount: 1 });
    const opt = p.additionals[0] as unknown as { type: number; doFlag: boolean };
    expect(opt).toMatchObject({ type: T.OPT, doFlag: true });
    expect(out.subarray(out.length - 11).readUInt16BE(1)).toBe(T.OPT);
  });

  it('a positive answer to a non-DNSSEC client also loses its authority section when that is what it takes', () => {
    const manyNs = Array.from({ length: 20 }, (_, i) => ({ name: 'example.org', type: T.NS, ns: `ns${i}.provider-with-a-long-name.example.net` }));
    const { reply, pq } = relayed('mail.example.org', T.MX, {}, { answers: MX, authorities: manyNs, additionals: GLUE });
    const p = decode(fitReply(reply, 512, pq.dnssecOk)!);
    expect(p.header).toMatchObject({ tc: 0, ancount: 12, nscount: 0, arcount: 0 });
  });

  it('a DO client keeps the authority section: TC instead (its proofs may be there)', () => {
    const manyNs = Array.from({ length: 20 }, (_, i) => ({ name: 'example.org', type: T.NS, ns: `ns${i}.provider-with-a-long-name.example.net` }));
    const { reply, pq } = relayed('mail.example.org', T.MX, { edns: { udpSize: 512, do: true } }, { answers: MX, authorities: manyNs });
    expect(fitReply(reply, 512, pq.dnssecOk)).toBeNull();
  });

  it('a negative answer keeps its SOA: dropping additional records is all it may lose', () => {
    const { reply, pq } = relayed('nope.example.org', T.A, {}, { rcode: 3, authorities: [SOA], additionals: GLUE });
    const p = decode(fitReply(reply, 512, pq.dnssecOk)!);
    expect(p.header).toMatchObject({ rcode: 3, ancount: 0, nscount: 1, arcount: 0, tc: 0 });
    const big = Array.from({ length: 40 }, (_, i) => ({ name: 'example.org', type: T.NS, ns: `ns${i}.provider-with-a-long-name.example.net` }));
    const neg = relayed('nope.example.org', T.A, {}, { rcode: 3, authorities: [SOA, ...big] });
    expect(fitReply(neg.reply, 512, false)).toBeNull();
  });

  it('an answer section that does not fit by itself: null (the caller sends TC=1)', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ name: 'big.example.org', type: T.A, address: `192.0.2.${i + 1}` }));
    const { reply, pq } = relayed('big.example.org', T.A, {}, { answers: many });
    expect(fitReply(reply, 512, pq.dnssecOk)).toBeNull();
  });

  it('a reply that fits is returned as it is', () => {
    const { reply, pq } = relayed('mail.example.org', T.MX, {}, { answers: MX.slice(0, 2) });
    expect(fitReply(reply, 512, pq.dnssecOk)).toBe(reply);
  });

  it('a message that cannot be walked: null', () => {
    const { reply } = relayed('mail.example.org', T.MX, {}, { answers: MX, additionals: GLUE });
    expect(fitReply(reply.subarray(0, 600), 512, false)).toBeNull();
  });
});

describe('capReply (item 14)', () => {
  it('first drops EDE texts, keeping the info codes and other options', () => {
    const msg = buildQuery('www.example.org', T.A, { edns: {} });
    const pq = parseQuery(msg);
    const ede = Buffer.concat([edeOption(18, 'c2dns: client not in an allowed network'), edeOption(22, 'x'.repeat(40))]);
    const full = errorReply(msg, pq, 5, ede);
    const out = capReply(full, msg.length + 12);
    expect(out.length).toBe(msg.length + 12);
    const p = decode(out);
    expect(p.header).toMatchObject({ rcode: 5, qdcount: 1, arcount: 1 });
    expect(edeOf(p)).toEqual([{ infoCode: 18, text: '' }, { infoCode: 22, text: '' }]);
    expect(capReply(full, full.length)).toBe(full);
  });

  it('then drops the authority section, keeping the answers (a blocked answer loses its SOA before anything else)', () => {
    const { reply } = relayed('mail.example.org', T.MX, { edns: {} }, { answers: MX.slice(0, 1), authorities: [SOA], additionals: GLUE.slice(0, 1) });
    const noText = capReply(reply, reply.length - 1);
    const p = decode(noText);
    expect(p.header).toMatchObject({ ancount: 1, nscount: 0, arcount: 1, tc: 0 });
    expect(p.additionals.map((r) => r.type)).toEqual([T.OPT]);
  });

  it('then keeps only header, question and OPT (a relayed SERVFAIL with records)', () => {
    const { reply } = relayed('mail.example.org', T.MX, { edns: {} }, { rcode: 2, answers: MX, additionals: GLUE });
    const out = capReply(reply, 60);
    const p = decode(out);
    expect(p.header).toMatchObject({ rcode: 2, qdcount: 1, ancount: 0, nscount: 0, arcount: 1 });
    expect(p.questions[0]!.name).toBe('mail.example.org');
  });
});
