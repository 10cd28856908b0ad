// Reflection amplification (issue 10 item 14): what c2dns sends back to a UDP source it cannot
// verify, for the answers it writes itself, measured against the query that caused it. Refusals
// and errors are at most the query plus one EDE code (dispatch ERROR_REPLY_GROWTH); blocked
// answers at most the query plus their record (A 16, AAAA 28, compact SOA 58), one EDE code and
// the EDE text. The factors are printed as a table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendTcp, sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, edeOf, T, type QueryOptions } from '../helpers/wire.js';
import { ERROR_REPLY_GROWTH } from '../../src/server/dispatch.js';

let up: Upstream;
let dead: Upstream;
let c2: TestServer;
let offAcl: TestServer;
let noUpstream: TestServer;
const rows: { case: string; query: number; reply: number; factor: string }[] = [];

beforeAll(async () => {
  up = await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }] }));
  dead = await startUpstream(() => ({ drop: true }));
  const lists = [
    { name: 'c2', path: 'c2.txt' },
    { name: 'nx', path: 'nx.txt', action: 'nxdomain' },
  ];
  const files = { 'c2.txt': 'sbmsa.wiki\nakamaicontainer.com\n', 'nx.txt': 'nx.example\n' };
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, lists }, files);
  offAcl = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], access: { allow: ['10.0.0.0/8'] } });
  noUpstream = await startC2dns({ upstreams: [`127.0.0.1:${dead.port}`], upstream: { timeoutMs: 100 }, cache: { maxEntries: 0 } });
});
afterAll(async () => {
  console.info(`amplification factors (UDP, reply bytes / query bytes):\n${rows.map((r) => `  ${r.case.padEnd(58)} ${String(r.query).padStart(4)} → ${String(r.reply).padStart(4)}  ${r.factor}×`).join('\n')}`);
  for (const s of [c2, offAcl, noUpstream]) await s?.close();
  await up?.close();
  await dead?.close();
});

async function measure(label: string, server: TestServer, msg: Buffer): Promise<{ query: number; reply: Buffer }> {
  const reply = await sendUdp(server.port, msg);
  rows.push({ case: label, query: msg.length, reply: reply.length, factor: (reply.length / msg.length).toFixed(2) });
  return { query: msg.length, reply };
}

const edeTextLen = (reply: Buffer): number => edeOf(decode(reply)).reduce((n, e) => n + Buffer.byteLength(e.text), 0);

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

describe('blocked answers: at most the query plus the record, one EDE code and its text', () => {
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
      const ede = c.o.edns ? 6 : 0;
      expect(reply.length).toBeLessThanOrEqual(query + c.record + ede + edeTextLen(reply));
    });
  }
});
