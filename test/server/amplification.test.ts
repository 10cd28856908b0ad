// Reflection amplification (issue 10 item 14): what c2dns sends back to a UDP source it cannot
// verify, for the answers it writes itself, measured against the query that caused it. Refusals
// and errors are at most the query plus one EDE code (dispatch ERROR_REPLY_GROWTH); blocked
// answers at most the query plus the compact SOA and one EDE code (BLOCKED_REPLY_GROWTH, 64): the
// EDE text goes along only where it fits, and over TCP. The factors are printed as tables.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendTcp, sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { option, optionIn, queryWith } from '../helpers/edns-options.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, edeOf, T, type QueryOptions } from '../helpers/wire.js';
import { BLOCKED_REPLY_GROWTH, COOKIE_REPLY_GROWTH, ERROR_REPLY_GROWTH } from '../../src/server/dispatch.js';

let up: Upstream;
let dead: Upstream;
let c2: TestServer;
let offAcl: TestServer;
let noUpstream: TestServer;
let withNsid: TestServer;
const NSID = 'resolver-'.padEnd(60, 'x');
const rows: { case: string; query: number; reply: number; factor: string }[] = [];

beforeAll(async () => {
  // cloak.example: a CNAME chain through six long names into the listed sbmsa.wiki.
  const hops = ['cloak.example', ...Array.from({ length: 6 }, (_, i) => `${String(i).repeat(60)}.cloak.example`), 'sbmsa.wiki'];
  up = await startUpstream((q) =>
    q.name === 'cloak.example'
      ? { answers: [...hops.slice(1).map((to, i) => ({ name: hops[i]!, type: T.CNAME, domain: to })), { name: 'sbmsa.wiki', type: T.A, address: '192.0.2.66' }] }
      : { answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }] },
  );
  dead = await startUpstream(() => ({ drop: true }));
  const lists = [
    { name: 'c2', path: 'c2.txt' },
    { name: 'nx', path: 'nx.txt', action: 'nxdomain' },
  ];
  const files = { 'c2.txt': 'sbmsa.wiki\nakamaicontainer.com\n', 'nx.txt': 'nx.example\n' };
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, lists }, files);
  offAcl = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], access: { allow: ['10.0.0.0/8'] } });
  noUpstream = await startC2dns({ upstreams: [`127.0.0.1:${dead.port}`], upstream: { timeoutMs: 100 }, cache: { maxEntries: 0 } });
  // A 60-byte NSID: larger than what either cap leaves over, so it must give way.
  withNsid = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], server: { nsid: NSID }, lists: [{ name: 'c2', path: 'c2.txt' }] }, { 'c2.txt': 'sbmsa.wiki\n' });
});
afterAll(async () => {
  console.info(`amplification factors (UDP, reply bytes / query bytes):\n${rows.map((r) => `  ${r.case.padEnd(58)} ${String(r.query).padStart(4)} → ${String(r.reply).padStart(4)}  ${r.factor}×`).join('\n')}`);
  for (const s of [c2, offAcl, noUpstream, withNsid]) await s?.close();
  await up?.close();
  await dead?.close();
});

async function measure(label: string, server: TestServer, msg: Buffer): Promise<{ query: number; reply: Buffer }> {
  const reply = await sendUdp(server.port, msg);
  rows.push({ case: label, query: msg.length, reply: reply.length, factor: (reply.length / msg.length).toFixed(2) });
  return { query: msg.length, reply };
}


describe('refusals and errors: at most the query plus one EDE code', () => {
  const cases: { name: string; server: () => TestServer; msg: () => Buffer; rcode: number }[] = [
    { name: 'REFUSED to a client outside access.allow (EDE 18)', server: () => offAcl, msg: () => buildQuery('example.org', T.A, { edns: {} }), rcode: 5 },
    { name: 'REFUSED to a client outside access.allow, no EDNS', server: () => offAcl, msg: () => buildQuery('example.org', T.A), rcode: 5 },
    { name: 'REFUSED for version.bind CH TXT (EDE 21)', server: () => c2, msg: () => buildQuery('version.bind', T.TXT, { qclass: 3, edns: {} }), rcode: 5 },
    { name: 'SERVFAIL when no upstream answers (EDE 22)', server: () => noUpstream, msg: () => buildQuery('example.org', T.A, { edns: {} }), rcode: 2 },
    { name: 'NOTIMP for opcode 15 with EDNS', server: () => c2, msg: () => buildQuery('example.org', T.A, { edns: {}, opcode: 15 }), rcode: 4 },
    { name: 'BADVERS for EDNS version 1', server: () => c2, msg: () => buildQuery('example.org', T.A, { edns: { version: 1 } }), rcode: 16 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { query, reply } = await measure(c.name, c.server(), c.msg());
      expect(decode(reply).header.rcode).toBe(c.rcode);
      expect(reply.length).toBeLessThanOrEqual(query + ERROR_REPLY_GROWTH);
    });
  }

  it('the EDE info code survives without its text; over TCP the text is there', async () => {
    const msg = buildQuery('example.org', T.A, { edns: {} });
    const udp = decode(await sendUdp(offAcl.port, msg));
    expect(edeOf(udp)).toEqual([{ infoCode: 18, text: '' }]);
    const tcp = decode(await sendTcp(offAcl.port, msg));
    expect(edeOf(tcp)).toEqual([{ infoCode: 18, text: 'c2dns: client not in an allowed network' }]);
  });

  it('a query padded with its own bytes (an EDNS option) pays for the EDE text', async () => {
    const msg = buildQuery('example.org', T.A, { edns: {} });
    const pad = Buffer.alloc(4 + 60); // RFC 7830 padding option, 60 zero bytes
    pad.writeUInt16BE(12, 0);
    pad.writeUInt16BE(60, 2);
    const padded = Buffer.concat([msg, pad]);
    padded.writeUInt16BE(msg.readUInt16BE(msg.length - 2) + pad.length, msg.length - 2);
    expect(edeOf(decode(await sendUdp(offAcl.port, padded)))[0]!.text).toBe('c2dns: client not in an allowed network');
  });
});

describe('blocked answers: at most the query plus a compact SOA and one EDE code', () => {
  const cases: { name: string; qname: string; qtype: number; o: QueryOptions; record: number; rcode: number }[] = [
    { name: 'blocked A (0.0.0.0), EDNS', qname: 'sbmsa.wiki', qtype: T.A, o: { edns: {} }, record: 16, rcode: 0 },
    { name: 'blocked A (0.0.0.0), no EDNS', qname: 'sbmsa.wiki', qtype: T.A, o: {}, record: 16, rcode: 0 },
    { name: 'blocked AAAA (::), EDNS', qname: 'sbmsa.wiki', qtype: T.AAAA, o: { edns: {} }, record: 28, rcode: 0 },
    { name: 'blocked TXT (NODATA + SOA), EDNS', qname: 'sbmsa.wiki', qtype: T.TXT, o: { edns: {} }, record: 58, rcode: 0 },
    { name: 'blocked TXT (NODATA + SOA), no EDNS', qname: 'sbmsa.wiki', qtype: T.TXT, o: {}, record: 58, rcode: 0 },
    { name: 'blocked subdomain TXT (NODATA + SOA), EDNS', qname: 'cdn.akamaicontainer.com', qtype: T.TXT, o: { edns: {} }, record: 58, rcode: 0 },
    { name: 'blocked A on an nxdomain list (NXDOMAIN + SOA), EDNS', qname: 'nx.example', qtype: T.A, o: { edns: {} }, record: 58, rcode: 3 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { query, reply } = await measure(c.name, c2, buildQuery(c.qname, c.qtype, c.o));
      expect(decode(reply).header.rcode).toBe(c.rcode);
      expect(reply.length).toBeLessThanOrEqual(query + BLOCKED_REPLY_GROWTH);
      // What is there is all there would be uncapped, less the EDE text at most.
      expect(reply.length).toBeGreaterThanOrEqual(query - (c.o.edns ? 11 : 0) + c.record + (c.o.edns ? 17 : 0));
    });
  }
});

// Per question type, with and without EDNS, on the blocked name sbmsa.wiki (blocking.action null:
// A 0.0.0.0, AAAA ::, every other type NODATA with the compact SOA). "before" is what the same
// packets got at 44b42c5, when blocked answers were not capped: the EDE text always went along.
const BEFORE: Record<string, number> = {
  'A/true': 102, 'A/false': 44, 'AAAA/true': 114, 'AAAA/false': 56,
  'TXT/true': 144, 'TXT/false': 86, 'MX/true': 144, 'MX/false': 86,
  'ANY/true': 144, 'ANY/false': 86, 'HTTPS/true': 144, 'HTTPS/false': 86,
};
const qtypeRows: { qtype: string; edns: boolean; query: number; before: number | undefined; after: number }[] = [];

describe('blocked answers over UDP: never more than the query plus BLOCKED_REPLY_GROWTH', () => {
  afterAll(() => {
    const f = (n: number | undefined, q: number): string => (n === undefined ? '    -' : (n / q).toFixed(2).padStart(5));
    console.info(
      `blocked sbmsa.wiki over UDP, reply bytes / query bytes (cap: query + ${BLOCKED_REPLY_GROWTH}):\n` +
        `  qtype  EDNS  query  before  after   factor before → after\n` +
        qtypeRows
          .map((r) => `  ${r.qtype.padEnd(6)} ${(r.edns ? 'yes' : 'no').padEnd(4)} ${String(r.query).padStart(5)}  ${String(r.before ?? '-').padStart(6)}  ${String(r.after).padStart(5)}   ${f(r.before, r.query)} → ${f(r.after, r.query)}`)
          .join('\n'),
    );
  });
  for (const qtype of ['A', 'AAAA', 'TXT', 'MX', 'ANY', 'HTTPS'] as const) {
    for (const edns of [true, false]) {
      it(`${qtype}, ${edns ? 'EDNS' : 'no EDNS'}: capped, TC=0, the EDE info code kept`, async () => {
        const msg = buildQuery('sbmsa.wiki', T[qtype], edns ? { edns: {} } : {});
        const reply = await sendUdp(c2.port, msg);
        qtypeRows.push({ qtype, edns, query: msg.length, before: BEFORE[`${qtype}/${edns}`], after: reply.length });
        const p = decode(reply);
        expect(p.header.rcode).toBe(0);
        expect(p.header.tc).toBe(0);
        expect(reply.length).toBeLessThanOrEqual(msg.length + BLOCKED_REPLY_GROWTH);
        expect(edeOf(p).map((e) => e.infoCode)).toEqual(edns ? [15] : []);
        if (qtype === 'A' || qtype === 'AAAA') expect(p.answers.map((a) => a.address)).toEqual([qtype === 'A' ? '0.0.0.0' : '::']);
        else expect(p.authorities.map((a) => a.type)).toEqual([T.SOA]); // the SOA fits: negative caching keeps working
      });
    }
  }

  it('a blocked CNAME chain through long names: the info code without the long text (200 bytes over TCP), TC=0', async () => {
    const msg = buildQuery('cloak.example', T.A, { edns: { udpSize: 512 } });
    const reply = await sendUdp(c2.port, msg);
    const p = decode(reply);
    expect(reply.length).toBeLessThanOrEqual(msg.length + BLOCKED_REPLY_GROWTH);
    expect(p.header.tc).toBe(0);
    expect(p.answers.map((a) => a.address)).toEqual(['0.0.0.0']);
    expect(edeOf(p)).toEqual([{ infoCode: 15, text: '' }]);
    const tcp = decode(await sendTcp(c2.port, buildQuery('cloak.example', T.A, { edns: { udpSize: 512 } })));
    expect(edeOf(tcp)[0]!.text).toContain('trigger=cname chain=cloak.example>');
  });

  it('a valid DNS server cookie proves the address as TCP does: the blocked answer is not capped', async () => {
    const first = await sendUdp(c2.port, queryWith('sbmsa.wiki', T.TXT, [option(10, Buffer.from('clientck'))]));
    const cookie = optionIn(first, 10)!;
    expect(cookie).toHaveLength(24); // the client cookie and our server cookie
    expect(edeOf(decode(first))).toEqual([{ infoCode: 15, text: '' }]); // a client cookie alone proves nothing
    const msg = queryWith('sbmsa.wiki', T.TXT, [option(10, cookie)]);
    const reply = await sendUdp(c2.port, msg);
    expect(edeOf(decode(reply))).toEqual([{ infoCode: 15, text: expect.stringContaining('sbmsa.wiki') as string }]);
    expect(reply.length).toBeGreaterThan(msg.length + BLOCKED_REPLY_GROWTH);
  });

  it('over TCP the same blocked answer is not capped: the EDE text goes along', async () => {
    const p = decode(await sendTcp(c2.port, buildQuery('sbmsa.wiki', T.TXT, { edns: {} })));
    expect(edeOf(p)).toEqual([{ infoCode: 15, text: expect.stringContaining('sbmsa.wiki') as string }]);
    expect(p.authorities.map((a) => a.type)).toEqual([T.SOA]);
  });
});

// The options c2dns adds itself (NSID, the server cookie) count against the caps too: NSID goes
// only where it fits; the server cookie has a fixed allowance (COOKIE_REPLY_GROWTH) because a
// BADCOOKIE or first-contact answer exists to carry it.
describe('added options count against the caps', () => {
  const nsidAsk = option(3, Buffer.alloc(0));
  const clientCookie = option(10, Buffer.from('clientck'));

  it('a blocked TXT asking NSID: capped with the NSID left out; the same over TCP carries it', async () => {
    const msg = queryWith('sbmsa.wiki', T.TXT, [nsidAsk]);
    const { query, reply } = await measure('blocked TXT asking NSID (60-byte NSID set)', withNsid, msg);
    expect(reply.length).toBeLessThanOrEqual(query + BLOCKED_REPLY_GROWTH);
    expect(optionIn(reply, 3)).toBeNull();
    expect(edeOf(decode(reply)).map((e) => e.infoCode)).toEqual([15]);
    expect(optionIn(await sendTcp(withNsid.port, msg), 3)?.toString()).toBe(NSID);
  });

  it('an allowed answer asking NSID is not capped: it carries the NSID', async () => {
    const reply = await sendUdp(withNsid.port, queryWith('example.org', T.A, [nsidAsk]));
    expect(optionIn(reply, 3)?.toString()).toBe(NSID);
  });

  it('REFUSED (version.bind) asking NSID and sending a client cookie: the cookie comes back, NSID does not, within the cap', async () => {
    const msg = queryWith('version.bind', T.TXT, [nsidAsk, clientCookie], { qclass: 3 });
    const { query, reply } = await measure('REFUSED asking NSID, with a client cookie', withNsid, msg);
    expect(decode(reply).header.rcode).toBe(5);
    expect(reply.length).toBeLessThanOrEqual(query + ERROR_REPLY_GROWTH + COOKIE_REPLY_GROWTH);
    expect(optionIn(reply, 3)).toBeNull();
    expect(optionIn(reply, 10)).toHaveLength(24);
  });

  it('a blocked TXT with a client cookie: within the cap plus the cookie allowance, the cookie kept', async () => {
    const msg = queryWith('sbmsa.wiki', T.TXT, [clientCookie, nsidAsk]);
    const { query, reply } = await measure('blocked TXT with a client cookie, asking NSID', withNsid, msg);
    expect(reply.length).toBeLessThanOrEqual(query + BLOCKED_REPLY_GROWTH + COOKIE_REPLY_GROWTH);
    expect(optionIn(reply, 10)).toHaveLength(24);
  });
});
