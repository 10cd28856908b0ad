// EDNS(0) Padding on the listeners (RFC 7830 §4, the block-length policy of RFC 8467 §4.1), with
// real packets over real sockets: a DoT or DoH query carrying the Padding option gets an answer
// padded to a multiple of 468 octets (blocked and forwarded, with other options beside it); a DoT
// query without the option gets none; UDP and TCP never pad, asked or not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { sendTcp, sendUdp } from '../helpers/client.js';
import { option, queryWith } from '../helpers/edns-options.js';
import { dotConnect, H2Client } from '../helpers/encrypted.js';
import { ednsOptions, paddingOf } from '../helpers/padding.js';
import { makeCa, makeLeaf, type TestCa } from '../helpers/tls.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, edeOf, T } from '../helpers/wire.js';

const ZONE = { 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }] };
/** A query asking for a padded answer: the Padding option with a few zeros (as kdig sends it). */
const padded = (name: string, id = 1): Buffer => queryWith(name, T.A, [option(12, Buffer.alloc(8))], { id });
const NSID = option(3, Buffer.alloc(0));

let ca: TestCa;
let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  ca = makeCa();
  const leaf = makeLeaf(ca);
  up = await startUpstream(zoneScript(ZONE));
  c2 = await startC2dns(
    {
      listen: ['127.0.0.1:0', 'tls://127.0.0.1:0', 'https://127.0.0.1:0/dns-query'],
      tls: { certFile: leaf.certFile, keyFile: leaf.keyFile },
      upstreams: [`127.0.0.1:${up.port}`],
      lists: [{ name: 'c2', path: 'list.txt', format: 'plain' }],
      server: { nsid: 'c2dns-test' },
    },
    { 'list.txt': 'blocked.example\n' },
  );
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

/** The answer is padded: a multiple of 468 octets, a Padding option of zeros, the answer itself intact. */
function expectPadded(raw: Buffer): void {
  expect(raw.length % 468).toBe(0);
  const pad = paddingOf(raw);
  expect(pad).not.toBeNull();
  expect(pad!.every((b) => b === 0)).toBe(true);
  expect(ednsOptions(raw)!.at(-1)!.code).toBe(12); // added last, after every other option
}

describe('EDNS Padding over DoT', () => {
  it('pads forwarded and blocked answers to 468-octet blocks when the query carries the option, pipelined on one connection', async () => {
    const s = await dotConnect(c2.server.dot[0]!.port, ca.certPem);
    try {
      s.send(padded('example.org', 1), padded('blocked.example', 2), queryWith('example.org', T.A, [option(12, Buffer.alloc(0)), NSID], { id: 3 }));
      const answers = await s.answers(3);
      for (const raw of answers) expectPadded(raw);
      const byId = new Map(answers.map((a) => [a.readUInt16BE(0), decode(a)]));
      expect(byId.get(1)!.answers[0]).toMatchObject({ address: '192.0.2.10' });
      expect(byId.get(2)!.answers[0]).toMatchObject({ address: '0.0.0.0' });
      expect(edeOf(byId.get(2)!).map((e) => e.infoCode)).toEqual([15]);
      // NSID answered, padding still last.
      const withNsid = answers.find((a) => a.readUInt16BE(0) === 3)!;
      expect(ednsOptions(withNsid)!.map((o) => o.code)).toEqual([3, 12]);
    } finally {
      s.close();
    }
  });

  it('does not pad when the query has no Padding option', async () => {
    const s = await dotConnect(c2.server.dot[0]!.port, ca.certPem);
    try {
      s.send(buildQuery('example.org', T.A, { edns: {} }));
      const [raw] = await s.answers(1);
      expect(paddingOf(raw!)).toBeNull();
      expect(raw!.length % 468).not.toBe(0);
    } finally {
      s.close();
    }
  });
});

describe('EDNS Padding over DoH', () => {
  it('pads POST and GET answers of a padded query; Content-Length is the padded size', async () => {
    const h2 = await H2Client.connect(c2.server.doh[0]!.address.port, ca.certPem);
    try {
      const post = await h2.request({ method: 'POST', path: '/dns-query', body: padded('example.org'), headers: { 'content-type': 'application/dns-message' } });
      expect(post.status).toBe(200);
      expectPadded(post.body);
      expect(Number(post.headers['content-length'])).toBe(post.body.length);
      const get = await h2.request({ path: `/dns-query?dns=${padded('blocked.example', 0).toString('base64url')}` });
      expectPadded(get.body);
      const plain = await h2.request({ path: `/dns-query?dns=${buildQuery('example.org', T.A, { id: 0, edns: {} }).toString('base64url')}` });
      expect(paddingOf(plain.body)).toBeNull();
    } finally {
      h2.close();
    }
  });
});

describe('no padding over plain UDP and TCP', () => {
  it('a query with the Padding option over UDP or TCP gets an answer without it', async () => {
    for (const raw of [await sendUdp(c2.port, padded('example.org')), await sendTcp(c2.port, padded('example.org'))]) {
      expect(decode(raw).answers[0]).toMatchObject({ address: '192.0.2.10' });
      expect(ednsOptions(raw)).not.toBeNull(); // EDNS answered…
      expect(paddingOf(raw)).toBeNull(); // …but never padded in the clear
    }
  });
});
