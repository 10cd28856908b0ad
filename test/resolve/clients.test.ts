// The clients stage alone, with a stub next stage: what identity a query carries on, from which
// sources options are believed, what is counted, which name a client gets, and what would be
// sent upstream.
import { describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { parseQuery } from '../../src/dns/query.js';
import { ClientsStage } from '../../src/resolve/clients.js';
import { peerIdentity, type ClientIdentity, type Query } from '../../src/resolve/types.js';
import { cpeId, ecs, mac, option, queryWith } from '../helpers/edns-options.js';
import { StubNext } from '../helpers/stage.js';
import { buildQuery } from '../helpers/wire.js';

const ROUTER = '192.168.1.1';
const LAPTOP_MAC = '3c:22:fb:41:7a:09';

function clientsConfig(c: Record<string, unknown> = {}): Config['clients'] {
  return configSchema.parse({ clients: { trustedForwarders: [`${ROUTER}/32`, 'fd00:1::/64'], ...c } }).clients;
}

function stage(c: Record<string, unknown> = {}): { s: ClientsStage; next: StubNext } {
  const next = new StubNext(() => ({ action: 'allowed', reply: null, stored: null, upstream: null }));
  return { s: new ClientsStage(clientsConfig(c), next), next };
}

function queryFrom(peer: string, msg: Buffer): Query {
  return { msg, pq: parseQuery(msg), clientAddress: peer, clientPort: 40000, transport: 'udp', receivedAt: performance.now(), decision: null, identity: peerIdentity(peer), forwardOptions: null };
}

/** The identity the next stage saw, and what would go upstream. */
function run(s: ClientsStage, next: StubNext, peer: string, options: Buffer[] | null): { id: ClientIdentity; forward: Buffer | null } {
  const q = queryFrom(peer, options === null ? buildQuery('example.org', 1) : queryWith('example.org', 1, options));
  void s.resolve(q);
  const seen = next.seen.at(-1)!;
  expect(seen).toBe(q); // always handed on, never answered here
  return { id: { ...seen.identity }, forward: seen.forwardOptions };
}

const peerOnly = (address: string): ClientIdentity => peerIdentity(address);

describe('clients stage: whose options are believed', () => {
  const cases: { name: string; peer: string; options: Buffer[] | null; config?: Record<string, unknown>; want: Partial<ClientIdentity>; ignored?: number; malformed?: number }[] = [
    { name: 'a direct client without EDNS', peer: '192.168.1.20', options: null, want: peerOnly('192.168.1.20') },
    { name: 'a direct client with a cookie only (not counted)', peer: '192.168.1.20', options: [option(10, Buffer.alloc(8))], want: peerOnly('192.168.1.20'), ignored: 0 },
    {
      name: 'an untrusted source claiming another host and MAC: ignored and counted',
      peer: '192.168.1.66',
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC), cpeId('site-7')],
      want: peerOnly('192.168.1.66'),
      ignored: 1,
    },
    {
      name: 'the trusted router, ECS /32: the host is the client, the router is via',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32)],
      want: { address: '192.168.1.20', via: ROUTER, mac: null, network: null, group: 'default' },
    },
    {
      name: 'the trusted router, ECS /24: a network, the client stays the router',
      peer: ROUTER,
      options: [ecs('192.168.1.0', 24)],
      want: { address: ROUTER, via: ROUTER, network: '192.168.1.0/24' },
    },
    {
      name: 'the trusted router, MAC only: the MAC, the address stays the router',
      peer: ROUTER,
      options: [mac(LAPTOP_MAC, 'base64')],
      want: { address: ROUTER, via: ROUTER, mac: LAPTOP_MAC },
    },
    {
      name: 'the trusted router, all three',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC), cpeId('site-7')],
      want: { address: '192.168.1.20', via: ROUTER, mac: LAPTOP_MAC, cpeId: 'site-7' },
    },
    {
      name: 'a trusted IPv6 network of forwarders, ECS /128',
      peer: 'fd00:1::53',
      options: [ecs('fd00:2::20', 128)],
      want: { address: 'fd00:2::20', via: 'fd00:1::53' },
    },
    {
      name: 'the router over a dual-stack socket (::ffff:) is still trusted',
      peer: `::ffff:${ROUTER}`,
      options: [ecs('192.168.1.20', 32)],
      want: { address: '192.168.1.20', via: `::ffff:${ROUTER}` },
    },
    {
      name: 'identity [ecs]: the MAC is not read',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC)],
      config: { identity: ['ecs'] },
      want: { address: '192.168.1.20', via: ROUTER, mac: null },
    },
    {
      name: 'identity [mac]: the ECS is not read',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC)],
      config: { identity: ['mac'] },
      want: { address: ROUTER, via: ROUTER, mac: LAPTOP_MAC },
    },
    {
      name: 'identity []: nothing is read, via stays null',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC)],
      config: { identity: [] },
      want: peerOnly(ROUTER),
    },
    {
      name: 'a trusted router with a broken MAC: the ECS is used, the trouble counted',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), option(65001, Buffer.from([1, 2, 3]))],
      want: { address: '192.168.1.20', via: ROUTER, mac: null },
      malformed: 1,
    },
    {
      name: 'nobody trusted (the default): the router is the client',
      peer: ROUTER,
      options: [ecs('192.168.1.20', 32), mac(LAPTOP_MAC)],
      config: { trustedForwarders: [] },
      want: peerOnly(ROUTER),
      ignored: 1,
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const { s, next } = stage(c.config);
      const { id } = run(s, next, c.peer, c.options);
      expect(id).toMatchObject(c.want);
      expect(s.counters).toEqual({ ignored: c.ignored ?? 0, malformed: c.malformed ?? 0 });
    });
  }

  it('counts every ignored query', () => {
    const { s, next } = stage();
    for (let i = 0; i < 3; i++) run(s, next, '10.9.9.9', [mac(LAPTOP_MAC)]);
    run(s, next, '10.9.9.9', null);
    expect(s.counters.ignored).toBe(3);
  });
});

describe('clients stage: what goes upstream', () => {
  it('nothing by default, whatever the router sent', () => {
    const { s, next } = stage();
    expect(run(s, next, ROUTER, [ecs('192.168.1.20', 32), mac(LAPTOP_MAC), cpeId('x')]).forward).toBeNull();
  });

  it('with forwardEcs, the ECS option exactly as received, never the MAC or CPE-ID', () => {
    const { s, next } = stage({ forwardEcs: true });
    const opt = ecs('192.168.1.0', 24);
    expect(run(s, next, ROUTER, [mac(LAPTOP_MAC), opt, cpeId('x')]).forward).toEqual(opt);
    expect(run(s, next, ROUTER, [mac(LAPTOP_MAC)]).forward).toBeNull();
  });

  it('with forwardEcs, nothing from an untrusted source, nothing malformed', () => {
    const { s, next } = stage({ forwardEcs: true });
    expect(run(s, next, '10.9.9.9', [ecs('192.168.1.0', 24)]).forward).toBeNull();
    expect(run(s, next, ROUTER, [ecs('192.168.1.20', 32, 8)]).forward).toBeNull();
  });
});

describe('clients stage: names', () => {
  const names = {
    'AA-BB-CC-DD-EE-01': 'alice-laptop',
    '192.168.1.20': 'printer',
    '192.168.1.0/24': 'office',
    '192.168.0.0/16': 'site',
    'fd00:2::/64': 'v6-office',
    [ROUTER]: 'router',
  };

  const nameOf = (peer: string, options: Buffer[] | null, config: Record<string, unknown> = {}): string | null => {
    const { s, next } = stage({ names, ...config });
    return run(s, next, peer, options).id.name;
  };

  it('an exact address beats its networks, the most specific network beats the wider', () => {
    expect(nameOf(ROUTER, [ecs('192.168.1.20', 32)])).toBe('printer');
    expect(nameOf(ROUTER, [ecs('192.168.1.21', 32)])).toBe('office');
    expect(nameOf(ROUTER, [ecs('192.168.7.3', 32)])).toBe('site');
    expect(nameOf(ROUTER, [ecs('fd00:2::9', 128)])).toBe('v6-office');
  });

  it('the MAC (written with "-" in the config) before the address by default; the address first when ecs comes first', () => {
    const both = [ecs('192.168.1.20', 32), mac('aa:bb:cc:dd:ee:01', 'text')];
    expect(nameOf(ROUTER, both)).toBe('alice-laptop');
    expect(nameOf(ROUTER, both, { identity: ['ecs', 'mac'] })).toBe('printer');
    expect(nameOf(ROUTER, [ecs('10.0.0.1', 32), mac('aa:bb:cc:dd:ee:01')], { identity: ['ecs', 'mac'] })).toBe('alice-laptop'); // no name for the address
  });

  it('direct clients and the router itself are named by their address (IPv4-mapped too)', () => {
    expect(nameOf('192.168.1.20', null)).toBe('printer');
    expect(nameOf('::ffff:192.168.1.20', null)).toBe('printer');
    expect(nameOf(ROUTER, null)).toBe('router');
    expect(nameOf('10.0.0.1', null)).toBeNull();
  });

  it('an untrusted source cannot borrow a name', () => {
    expect(nameOf('10.9.9.9', [mac('aa:bb:cc:dd:ee:01'), ecs('192.168.1.20', 32)])).toBeNull();
  });
});
