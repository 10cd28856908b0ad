// Groups, conditional forwarding and local names end to end, over real sockets: clients on the
// loopback aliases 127.0.0.2 and 127.0.0.3 land in different groups; a second scripted upstream
// serves a forwarding rule's names while the default upstream records that it never saw them;
// private reverse lookups and home.arpa names are answered locally.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { parseMessage, presentRecord, T } from '../helpers/wire.js';

let up: Upstream; // the default upstream
let lanUp: Upstream; // the router: the forwarding rules' upstream
let c2: TestServer;

const FILES = { 'c2.txt': 'akamaicontainer.com\n', 'ads.txt': 'ads.example\n' };

beforeAll(async () => {
  up = await startUpstream(
    zoneScript({
      'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }],
      'ads.example 1': [{ name: 'ads.example', type: T.A, address: '192.0.2.11' }],
    }),
  );
  lanUp = await startUpstream(
    zoneScript({
      'printer.lan 1': [{ name: 'printer.lan', type: T.A, address: '192.168.1.20' }],
      'dc1.corp.lan 1': [{ name: 'dc1.corp.lan', type: T.A, address: '192.168.7.1' }],
      'tracker.lan 1': [
        { name: 'tracker.lan', type: T.CNAME, domain: 'cdn.akamaicontainer.com' },
        { name: 'cdn.akamaicontainer.com', type: T.A, address: '203.0.113.66' },
      ],
      '20.1.168.192.in-addr.arpa 12': [{ name: '20.1.168.192.in-addr.arpa', type: T.PTR, domain: 'printer.lan' }],
    }),
  );
  c2 = await startC2dns(
    {
      upstreams: [`127.0.0.1:${up.port}`],
      lists: [
        { name: 'c2', path: 'c2.txt', tags: ['c2'] },
        { name: 'ads', path: 'ads.txt', tags: ['ads'] },
      ],
      clients: { names: { '127.0.0.3': 'kiosk' } },
      groups: [
        { name: 'servers', clients: ['127.0.0.2'], lists: ['c2'], action: 'nxdomain' },
        { name: 'kiosks', clients: ['kiosk'], action: 'refused' },
      ],
      forwarding: [
        { domain: 'lan', upstreams: [`127.0.0.1:${lanUp.port}`] },
        { domain: '168.192.in-addr.arpa', upstreams: [`127.0.0.1:${lanUp.port}`] },
      ],
      localRecords: [
        { name: 'nas.home.arpa', type: 'A', value: '192.168.1.5' },
        { name: 'nas.lan', type: 'A', value: '192.168.1.5' },
      ],
    },
    FILES,
  );
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
  await lanUp?.close();
});

async function query(name: string, type: number, from = '127.0.0.1'): Promise<{ rcode: number; answer: string[]; authority: string[] }> {
  const { raw } = await ask(c2.port, name, type, { from });
  const m = parseMessage(raw);
  return { rcode: m.rcode, answer: m.answers.map((r) => presentRecord(raw, r)), authority: m.authorities.map((r) => presentRecord(raw, r)) };
}

const seenBy = (u: Upstream, name: string): number => u.received.filter((q) => q.name.toLowerCase() === name).length;

describe('groups over loopback aliases', () => {
  it('127.0.0.2 (servers: c2 only, nxdomain), 127.0.0.3 (kiosks by name: every list, refused), 127.0.0.1 (default)', async () => {
    expect(await query('akamaicontainer.com', T.A, '127.0.0.2')).toMatchObject({ rcode: 3, answer: [] });
    expect(await query('ads.example', T.A, '127.0.0.2')).toMatchObject({ rcode: 0, answer: ['ads.example 300 A 192.0.2.11'] });
    expect(await query('akamaicontainer.com', T.A, '127.0.0.3')).toMatchObject({ rcode: 5 });
    expect(await query('ads.example', T.A, '127.0.0.3')).toMatchObject({ rcode: 5 });
    expect(await query('ads.example', T.A, '127.0.0.1')).toMatchObject({ rcode: 0, answer: ['ads.example 300 A 0.0.0.0'] });
    const lines = await c2.waitForQueries(['akamaicontainer.com', 'ads.example'], 2);
    expect(lines.filter((l) => l.qname === 'ads.example').map((l) => [l.client, l.group, l.action])).toEqual([
      ['127.0.0.2', 'servers', 'allowed'],
      ['127.0.0.3', 'kiosks', 'blocked'],
      ['127.0.0.1', 'default', 'blocked'],
    ]);
  });

  it('/api/check?group= explains with the group\'s lists and action; an unknown group is 400', async () => {
    const get = async (q: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${c2.server.admin!.url}/api/check?${q}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    expect(await get('name=ads.example&group=servers')).toMatchObject({ status: 200, body: { group: 'servers', decision: 'not listed' } });
    expect(await get('name=ads.example&group=kiosks')).toMatchObject({ status: 200, body: { group: 'kiosks', decision: 'blocked', action: 'refused' } });
    expect(await get('name=ads.example')).toMatchObject({ status: 200, body: { decision: 'blocked', action: 'null' } });
    expect((await get('name=ads.example&group=nope')).status).toBe(400);
  });
});

describe('conditional forwarding', () => {
  it('a rule\'s names go to its upstream only (fresh and cached); the default upstream never sees them', async () => {
    expect(await query('printer.lan', T.A)).toMatchObject({ rcode: 0, answer: ['printer.lan 300 A 192.168.1.20'] });
    expect(await query('printer.lan', T.A)).toMatchObject({ rcode: 0, answer: ['printer.lan 300 A 192.168.1.20'] }); // cached
    expect(await query('dc1.corp.lan', T.A)).toMatchObject({ answer: ['dc1.corp.lan 300 A 192.168.7.1'] });
    expect(await query('unknown.lan', T.AAAA)).toMatchObject({ rcode: 3 }); // the router's NXDOMAIN, relayed
    expect(seenBy(lanUp, 'printer.lan')).toBe(1);
    expect(seenBy(lanUp, 'unknown.lan')).toBe(1);
    for (const n of ['printer.lan', 'dc1.corp.lan', 'unknown.lan']) expect(seenBy(up, n), n).toBe(0);
    const lines = await c2.waitForQueries(['printer.lan'], 2);
    expect(lines.filter((l) => l.qname === 'printer.lan').map((l) => [l.action, l.upstream])).toEqual([
      ['allowed', `127.0.0.1:${lanUp.port}`],
      ['cached', null],
    ]);
    // Other names still go to the default upstream, not the router.
    expect(await query('example.org', T.A)).toMatchObject({ answer: ['example.org 300 A 192.0.2.10'] });
    expect(seenBy(lanUp, 'example.org')).toBe(0);
  });

  it('the answers of a rule\'s upstream pass response inspection', async () => {
    const r = await query('tracker.lan', T.A);
    expect(r.answer).toEqual(['tracker.lan 300 A 0.0.0.0']);
    expect(seenBy(up, 'tracker.lan')).toBe(0);
  });

  it('a private reverse zone with a rule goes to the router; local records answer first', async () => {
    expect(await query('20.1.168.192.in-addr.arpa', T.PTR)).toMatchObject({ answer: ['20.1.168.192.in-addr.arpa 300 PTR printer.lan'] });
    expect(await query('5.1.168.192.in-addr.arpa', T.PTR)).toMatchObject({ answer: ['5.1.168.192.in-addr.arpa 300 PTR nas.home.arpa'] });
    expect(await query('nas.lan', T.A)).toMatchObject({ answer: ['nas.lan 300 A 192.168.1.5'] });
    expect(seenBy(lanUp, '20.1.168.192.in-addr.arpa')).toBe(1);
    expect(seenBy(lanUp, '5.1.168.192.in-addr.arpa') + seenBy(lanUp, 'nas.lan')).toBe(0);
    expect(seenBy(up, '20.1.168.192.in-addr.arpa')).toBe(0);
  });

  it('the rule\'s upstream has its own counters in the metrics', async () => {
    const text = await (await fetch(`${c2.server.admin!.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`c2dns_upstream_\\w+\\{[^}]*upstream="127\\.0\\.0\\.1:${lanUp.port} \\(forwarding lan\\)"`));
  });
});

describe('local names', () => {
  it('home.arpa, private reverse zones and localhost are answered locally, never sent to the default upstream', async () => {
    expect(await query('x.home.arpa', T.A)).toMatchObject({ rcode: 3, answer: [], authority: ['home.arpa 300 SOA'] });
    expect(await query('nas.home.arpa', T.A)).toMatchObject({ rcode: 0, answer: ['nas.home.arpa 300 A 192.168.1.5'] });
    expect(await query('1.1.16.172.in-addr.arpa', T.PTR)).toMatchObject({ rcode: 3, authority: ['16.172.in-addr.arpa 300 SOA'] });
    expect(await query('1.1.1.10.in-addr.arpa', T.PTR)).toMatchObject({ rcode: 3 });
    expect(await query('localhost', T.A)).toMatchObject({ answer: ['localhost 300 A 127.0.0.1'] });
    for (const n of ['x.home.arpa', 'nas.home.arpa', '1.1.16.172.in-addr.arpa', '1.1.1.10.in-addr.arpa', 'localhost']) {
      expect(seenBy(up, n), n).toBe(0);
      expect(seenBy(lanUp, n), n).toBe(0);
    }
    const lines = await c2.waitForQueries(['x.home.arpa', 'nas.home.arpa']);
    expect(lines.find((l) => l.qname === 'nas.home.arpa')).toMatchObject({ action: 'local', rcode: 'NOERROR', upstream: null });
    expect(lines.find((l) => l.qname === 'x.home.arpa')).toMatchObject({ action: 'local', rcode: 'NXDOMAIN' });
  });
});

describe('a private reverse lookup without a forwarding rule', () => {
  it('1.1.168.192.in-addr.arpa PTR is NXDOMAIN from c2dns itself', async () => {
    const plain = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`] });
    try {
      const { raw } = await ask(plain.port, '1.1.168.192.in-addr.arpa', T.PTR);
      const m = parseMessage(raw);
      expect(m.rcode).toBe(3);
      expect(m.authorities.map((r) => presentRecord(raw, r))).toEqual(['168.192.in-addr.arpa 300 SOA']);
      expect(seenBy(up, '1.1.168.192.in-addr.arpa')).toBe(0);
    } finally {
      await plain.close();
    }
  });
});
