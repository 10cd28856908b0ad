// The local stage alone: localRecords, the locally served zones (RFC 6761, 6303, 8375) and which
// names it leaves to the stages after it (forwarding rules, everything else).
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { LocalNames, LocalStage, reverseName } from '../../src/resolve/local.js';
import type { Answer } from '../../src/resolve/types.js';
import { query, StubNext } from '../helpers/stage.js';
import { parseMessage, presentRecord, T } from '../helpers/wire.js';

const RCODE = { NOERROR: 0, NXDOMAIN: 3 } as const;

function stage(config: Record<string, unknown> = {}): { s: LocalStage; next: StubNext } {
  const cfg = configSchema.parse(config);
  const next = new StubNext(() => ({ action: 'allowed', reply: null, stored: null, upstream: '127.0.0.1:53' }));
  return { s: new LocalStage(new LocalNames(cfg.localRecords, cfg.forwarding.map((f) => f.domain)), next), next };
}

interface Shown {
  rcode: number;
  aa: boolean;
  answer: string[];
  authority: string[];
}

function ask(s: LocalStage, name: string, type: number, o: { edns?: boolean } = {}): Shown | null {
  const a = s.resolve(query(name, type, o.edns ? { edns: {} } : {})) as Answer;
  if (a.action !== 'local') return null;
  const m = parseMessage(a.reply!);
  expect(m.questions[0]!.name.toLowerCase()).toBe(name.toLowerCase());
  return { rcode: m.rcode, aa: (m.flags & 0x0400) !== 0, answer: m.answers.map((r) => presentRecord(a.reply!, r)), authority: m.authorities.map((r) => presentRecord(a.reply!, r)) };
}

const RECORDS = {
  localRecords: [
    { name: 'nas.home.arpa', type: 'A', value: '192.168.1.5' },
    { name: 'nas.home.arpa', type: 'AAAA', value: 'fd00::5' },
    { name: 'printer.lan', type: 'A', value: '192.168.1.20', ttl: 60 },
    { name: 'files.home.arpa', type: 'CNAME', value: 'nas.home.arpa' },
    { name: 'wiki.lan', type: 'CNAME', value: 'wiki.example.com' },
    { name: 'nas.home.arpa', type: 'TXT', value: 'rack 2' },
    { name: 'b.a.home.arpa', type: 'A', value: '192.168.1.7' },
    { name: '20.1.168.192.in-addr.arpa', type: 'PTR', value: 'printer.office.lan' },
  ],
};

describe('local stage: localRecords', () => {
  const { s, next } = stage(RECORDS);

  it('answers A, AAAA and TXT records with AA set and their TTL', () => {
    expect(ask(s, 'nas.home.arpa', T.A)).toEqual({ rcode: RCODE.NOERROR, aa: true, answer: ['nas.home.arpa 300 A 192.168.1.5'], authority: [] });
    expect(ask(s, 'NAS.Home.Arpa', T.AAAA)?.answer).toEqual(['NAS.Home.Arpa 300 AAAA fd00::5']);
    expect(ask(s, 'nas.home.arpa', T.TXT)?.answer).toEqual(['nas.home.arpa 300 TXT "rack 2"']);
    expect(ask(s, 'printer.lan', T.A, { edns: true })?.answer).toEqual(['printer.lan 60 A 192.168.1.20']);
  });

  it('owns the names it has records for: another type is NODATA with a SOA, never forwarded', () => {
    expect(ask(s, 'printer.lan', T.AAAA)).toEqual({ rcode: RCODE.NOERROR, aa: true, answer: [], authority: ['printer.lan 300 SOA'] });
    expect(ask(s, 'nas.home.arpa', T.MX)).toEqual({ rcode: RCODE.NOERROR, aa: true, answer: [], authority: ['home.arpa 300 SOA'] });
  });

  it('answers the PTR of every A/AAAA record, unless a PTR record is configured for the address', () => {
    expect(reverseName('192.168.1.5')).toBe('5.1.168.192.in-addr.arpa');
    expect(ask(s, '5.1.168.192.in-addr.arpa', T.PTR)?.answer).toEqual(['5.1.168.192.in-addr.arpa 300 PTR nas.home.arpa']);
    expect(ask(s, reverseName('fd00::5'), T.PTR)?.answer).toEqual([`${reverseName('fd00::5')} 300 PTR nas.home.arpa`]);
    expect(ask(s, '20.1.168.192.in-addr.arpa', T.PTR)?.answer).toEqual(['20.1.168.192.in-addr.arpa 300 PTR printer.office.lan']);
  });

  it('follows a CNAME within localRecords and leaves an outside target to the client', () => {
    expect(ask(s, 'files.home.arpa', T.A)?.answer).toEqual(['files.home.arpa 300 CNAME nas.home.arpa', 'nas.home.arpa 300 A 192.168.1.5']);
    expect(ask(s, 'files.home.arpa', T.CNAME)?.answer).toEqual(['files.home.arpa 300 CNAME nas.home.arpa']);
    expect(ask(s, 'wiki.lan', T.A)?.answer).toEqual(['wiki.lan 300 CNAME wiki.example.com']);
  });

  it('leaves other names under the same domain to the next stages (lan is no local zone)', () => {
    const before = next.seen.length;
    expect(ask(s, 'other.lan', T.A)).toBeNull();
    expect(ask(s, 'x.printer.lan', T.A)).toBeNull();
    expect(next.seen.length).toBe(before + 2);
  });
});

describe('local stage: locally served zones', () => {
  const { s, next } = stage(RECORDS);

  it('localhost and every name under it is the loopback address (RFC 6761)', () => {
    expect(ask(s, 'localhost', T.A)?.answer).toEqual(['localhost 300 A 127.0.0.1']);
    expect(ask(s, 'localhost', T.AAAA)?.answer).toEqual(['localhost 300 AAAA ::1']);
    expect(ask(s, 'app.localhost', T.A)?.answer).toEqual(['app.localhost 300 A 127.0.0.1']);
    expect(ask(s, 'localhost', T.MX)).toEqual({ rcode: RCODE.NOERROR, aa: true, answer: [], authority: ['localhost 300 SOA'] });
  });

  it.each([
    ['x.home.arpa', 'home.arpa'],
    ['anything.invalid', 'invalid'],
    ['printer.local', 'local'],
    ['1.1.168.192.in-addr.arpa', '168.192.in-addr.arpa'],
    ['4.3.2.10.in-addr.arpa', '10.in-addr.arpa'],
    ['1.0.16.172.in-addr.arpa', '16.172.in-addr.arpa'],
    ['9.9.31.172.in-addr.arpa', '31.172.in-addr.arpa'],
    ['1.1.64.100.in-addr.arpa', '64.100.in-addr.arpa'],
    ['1.1.127.100.in-addr.arpa', '127.100.in-addr.arpa'],
    ['7.7.254.169.in-addr.arpa', '254.169.in-addr.arpa'],
    [reverseName('fe80::1'), '8.e.f.ip6.arpa'],
    [reverseName('febf::1'), 'b.e.f.ip6.arpa'],
    [reverseName('fd12:3456::1'), 'd.f.ip6.arpa'],
  ])('%s is NXDOMAIN with the SOA of %s', (name, zone) => {
    expect(ask(s, name, T.PTR)).toEqual({ rcode: RCODE.NXDOMAIN, aa: true, answer: [], authority: [`${zone} 300 SOA`] });
  });

  it('the apex and names above local records exist (NODATA), the apex has its SOA', () => {
    expect(ask(s, 'home.arpa', T.A)).toEqual({ rcode: RCODE.NOERROR, aa: true, answer: [], authority: ['home.arpa 300 SOA'] });
    expect(ask(s, 'home.arpa', T.SOA)?.answer).toEqual(['home.arpa 300 SOA']);
    expect(ask(s, 'a.home.arpa', T.A)?.rcode).toBe(RCODE.NOERROR);
    expect(ask(s, '1.168.192.in-addr.arpa', T.PTR)?.rcode).toBe(RCODE.NOERROR); // above 5.1.168.192 and 20.1.168.192
  });

  it('public names and public reverse zones go on', () => {
    const before = next.seen.length;
    for (const [n, t] of [
      ['example.org', T.A],
      ['8.8.8.8.in-addr.arpa', T.PTR],
      ['1.0.15.172.in-addr.arpa', T.PTR], // 172.15/16 is not RFC 1918
      ['1.1.128.100.in-addr.arpa', T.PTR], // nor is 100.128/16 RFC 6598
      ['arpa', T.SOA],
      ['home', T.A],
    ] as const)
      expect(ask(s, n, t), n).toBeNull();
    expect(next.seen.length).toBe(before + 6);
  });

  it('a forwarding rule that covers a name in a local zone sends it on; local records still answer first', () => {
    const f = stage({ ...RECORDS, forwarding: [{ domain: '168.192.in-addr.arpa', upstreams: ['192.168.1.1'] }, { domain: 'corp.local', upstreams: ['10.0.0.53'] }] });
    expect(ask(f.s, '1.1.168.192.in-addr.arpa', T.PTR)).toBeNull();
    expect(ask(f.s, 'dc1.corp.local', T.A)).toBeNull();
    expect(ask(f.s, 'printer.local', T.A)?.rcode).toBe(RCODE.NXDOMAIN);
    expect(ask(f.s, '5.1.168.192.in-addr.arpa', T.PTR)?.answer).toEqual(['5.1.168.192.in-addr.arpa 300 PTR nas.home.arpa']);
    expect(f.next.seen.map((q) => q.pq.name)).toEqual(['1.1.168.192.in-addr.arpa', 'dc1.corp.local']);
  });

  it('questions in another class go on (the chaos stage answered CH before)', () => {
    const { s: st, next: n } = stage();
    const q = query('x.home.arpa', T.A);
    q.msg.writeUInt16BE(254, q.pq.qEnd - 2);
    const a = st.resolve({ ...q, pq: { ...q.pq, qclass: 254 } }) as Answer;
    expect(a.action).toBe('allowed');
    expect(n.seen.length).toBe(1);
  });
});

describe('config: forwarding and localRecords', () => {
  const bad = (c: Record<string, unknown>): string => {
    const r = configSchema.safeParse(c);
    expect(r.success).toBe(false);
    return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };

  it('refuses what cannot work, naming the key', () => {
    expect(bad({ localRecords: [{ name: 'nas.home.arpa', type: 'A', value: 'fd00::1' }] })).toMatch(/localRecords\.0\.value: expected an IPv4 address/);
    expect(bad({ localRecords: [{ name: 'nas.home.arpa', type: 'MX', value: 'x' }] })).toMatch(/localRecords\.0\.type/);
    expect(bad({ localRecords: [{ name: 'a.lan', type: 'CNAME', value: 'b.lan' }, { name: 'a.lan', type: 'A', value: '10.0.0.1' }] })).toMatch(/expected a CNAME to be the only record of "a\.lan"/);
    expect(bad({ forwarding: [{ domain: '.', upstreams: ['192.168.1.1'] }] })).toMatch(/forwarding\.0\.domain: expected a domain name/);
    expect(bad({ forwarding: [{ domain: 'lan', upstreams: ['router.lan'] }] })).toMatch(/forwarding\.0\.upstreams\.0: expected ADDR\[:PORT\]/);
    expect(bad({ forwarding: [{ domain: 'lan', upstreams: [] }] })).toMatch(/forwarding\.0\.upstreams/);
    expect(bad({ forwarding: [{ domain: 'LAN.', upstreams: ['192.168.1.1'] }, { domain: 'lan', upstreams: ['192.168.1.2'] }] })).toMatch(/forwarding\.1\.domain: expected one rule per domain/);
  });

  it('normalises names and domains', () => {
    const c = configSchema.parse({ forwarding: [{ domain: 'Corp.Example.', upstreams: ['10.0.0.53:5300'] }], localRecords: [{ name: 'NAS.lan.', type: 'PTR', value: 'Box.LAN.' }] });
    expect(c.forwarding[0]!.domain).toBe('corp.example');
    expect(c.localRecords[0]).toMatchObject({ name: 'nas.lan', value: 'box.lan', ttl: 300 });
  });
});
