// Policy groups: which group a client is in (CIDR, MAC, name; the most specific selector wins),
// one compiled table per distinct list set in the snapshot, the group's lists and action in the
// stages, quarantine off per group, and `check --group`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Guard } from '../../src/blocklist/guard.js';
import { configSchema, listAction, listConfig, type Config } from '../../src/config/schema.js';
import { compileSource } from '../../src/feeds/compile.js';
import { explain } from '../../src/policy/explain.js';
import { check, formatCheck, UnknownGroupError } from '../../src/commands/check.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { createOpLog } from '../../src/observe/oplog.js';
import { buildGroupTables, PolicyHolder, type PolicySource } from '../../src/policy/snapshot.js';
import { QuarantineStore } from '../../src/quarantine/store.js';
import { BlockAnswers } from '../../src/resolve/block-answer.js';
import { ClientsStage } from '../../src/resolve/clients.js';
import { ClientGroups } from '../../src/resolve/groups.js';
import { PolicyStage } from '../../src/resolve/policy.js';
import { QuarantineStage } from '../../src/resolve/quarantine.js';
import { DomainTrie } from '../../src/blocklist/trie.js';
import { peerIdentity, type Answer, type ClientIdentity, type Query } from '../../src/resolve/types.js';
import { parseQuery } from '../../src/dns/query.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { mac, queryWith } from '../helpers/edns-options.js';
import { StubNext } from '../helpers/stage.js';
import { buildQuery, parseMessage, presentRecord, T } from '../helpers/wire.js';

const ROUTER = '192.168.1.1';
const LAPTOP_MAC = '3c:22:fb:41:7a:09';

const LISTS = [
  { name: 'c2', path: 'c2.txt', tags: ['c2'] },
  { name: 'ads', path: 'ads.txt', tags: ['ads'] },
  { name: 'adult', path: 'adult.txt', action: 'refused' },
];
const TEXT: Record<string, string> = { c2: 'akamaicontainer.com\n', ads: 'ads.example\n', adult: 'adult.example\n' };

function config(groups: unknown[], extra: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    lists: LISTS,
    clients: { trustedForwarders: [`${ROUTER}/32`], names: { '192.168.1.20': 'printer', [LAPTOP_MAC]: 'alice-laptop', '10.9.0.0/16': 'lab' } },
    groups,
    ...extra,
  });
}

function sources(cfg: Config, emergency: string[] = []): PolicySource[] {
  const now = Date.now();
  const compile = (c: ReturnType<typeof listConfig>, text: string, everyGroup = false): PolicySource => {
    const s = compileSource(text, c, new Guard([]), new Map(), now);
    return { list: c.name, kind: c.kind, watch: c.action === 'monitor', action: listAction(c), tags: c.tags, rules: s.rules, ips: s.ips, firstSeen: now, everyGroup };
  };
  const out = cfg.lists.map((l) => compile(l, TEXT[l.name]!));
  if (emergency.length > 0) out.unshift(compile(listConfig({ name: 'emergency', path: '-', format: 'plain', tags: ['emergency', 'c2'] }), emergency.join('\n') + '\n', true));
  return out;
}

async function holderFor(cfg: Config, emergency: string[] = []): Promise<PolicyHolder> {
  const h = new PolicyHolder();
  h.publish(await buildGroupTables(sources(cfg, emergency), cfg.groups.map((g) => ({ name: g.name, lists: g.lists ?? null })), () => Promise.resolve()));
  return h;
}

const id = (address: string, o: Partial<ClientIdentity> = {}): ClientIdentity => ({ ...peerIdentity(address), ...o });

describe('groups: which group a client is in', () => {
  const groups = config([
    { name: 'lab', clients: ['10.0.0.0/8'] },
    { name: 'lab-servers', clients: ['10.9.8.0/24'] },
    { name: 'pinned', clients: ['10.9.8.7'] },
    { name: 'laptops', clients: [LAPTOP_MAC.toUpperCase()] },
    { name: 'printers', clients: ['printer'] },
    { name: 'v6', clients: ['fd00:1::/64'] },
  ]).groups;
  const g = new ClientGroups(groups);

  it.each([
    ['an address in one network', id('10.1.2.3'), 'lab'],
    ['the longest network wins', id('10.9.8.20'), 'lab-servers'],
    ['an exact address beats every network', id('10.9.8.7'), 'pinned'],
    ['an IPv4-mapped socket address', id('::ffff:10.9.8.7'), 'pinned'],
    ['a MAC beats the exact address', id('10.9.8.7', { mac: LAPTOP_MAC }), 'laptops'],
    ['a MAC beats a network', id('10.1.1.1', { mac: LAPTOP_MAC }), 'laptops'],
    ['a client name', id('192.168.1.20', { name: 'printer' }), 'printers'],
    ['an IPv6 network', id('fd00:1::abc'), 'v6'],
    ['nobody selects it: default', id('192.168.1.99'), 'default'],
    ['an unknown MAC and no address match: default', id('192.168.1.99', { mac: 'aa:aa:aa:aa:aa:aa' }), 'default'],
  ])('%s', (_n, who, want) => {
    expect(g.groupOf(who)).toBe(want);
    expect(g.groupOf(who)).toBe(want); // memoised
  });

  it('an exact address and a client name are equally specific: the group listed first wins', () => {
    const byName = new ClientGroups(config([{ name: 'named', clients: ['printer'] }, { name: 'addressed', clients: ['192.168.1.20'] }]).groups);
    const byAddress = new ClientGroups(config([{ name: 'addressed', clients: ['192.168.1.20'] }, { name: 'named', clients: ['printer'] }]).groups);
    expect(byName.groupOf(id('192.168.1.20', { name: 'printer' }))).toBe('named');
    expect(byAddress.groupOf(id('192.168.1.20', { name: 'printer' }))).toBe('addressed');
    // A name beats a network (it was given to this client).
    const overNetwork = new ClientGroups(config([{ name: 'net', clients: ['192.168.1.0/24'] }, { name: 'named', clients: ['printer'] }]).groups);
    expect(overNetwork.groupOf(id('192.168.1.20', { name: 'printer' }))).toBe('named');
  });

  it('the clients stage sets the group from the identity a trusted router gave (MAC, then its name)', () => {
    const cfg = config([{ name: 'laptops', clients: ['alice-laptop'] }, { name: 'lan', clients: ['192.168.1.0/24'] }]);
    const next = new StubNext(() => ({ action: 'allowed', reply: null, stored: null, upstream: null }));
    const s = new ClientsStage(cfg.clients, next, cfg.groups);
    const fromRouter = (opts: Buffer[]): Query => {
      const msg = queryWith('example.org', T.A, opts);
      return { msg, pq: parseQuery(msg), clientAddress: ROUTER, clientPort: 5353, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity(ROUTER), forwardOptions: null };
    };
    void s.resolve(fromRouter([mac(LAPTOP_MAC)]));
    void s.resolve(fromRouter([]));
    const direct = buildQuery('example.org', T.A);
    void s.resolve({ msg: direct, pq: parseQuery(direct), clientAddress: '172.16.0.9', clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity('172.16.0.9'), forwardOptions: null });
    expect(next.seen.map((q) => [q.identity.name, q.identity.group])).toEqual([
      ['alice-laptop', 'laptops'],
      [null, 'lan'],
      [null, 'default'],
    ]);
  });
});

describe('groups: one table per distinct list set', () => {
  it('groups over the same lists share one tables object; a different set has its own; emergency blocks are in all', async () => {
    const cfg = config([
      { name: 'a', clients: ['10.1.0.0/16'] },
      { name: 'b', clients: ['10.2.0.0/16'], lists: ['ads', 'c2', 'adult'] }, // all, in another order
      { name: 'c2-only', clients: ['10.3.0.0/16'], lists: ['c2'] },
      { name: 'c2-too', clients: ['10.4.0.0/16'], lists: ['c2'] },
    ]);
    const snap = (await holderFor(cfg, ['emergency.example'])).current;
    expect(snap.tablesFor('a')).toBe(snap.tables);
    expect(snap.tablesFor('b')).toBe(snap.tables);
    expect(snap.tablesFor('default')).toBe(snap.tables);
    expect(snap.tablesFor('c2-only')).toBe(snap.tablesFor('c2-too'));
    expect(snap.tablesFor('c2-only')).not.toBe(snap.tables);
    expect(new Set(snap.groups.values()).size).toBe(2);
    expect(snap.tablesFor('no-such-group')).toBe(snap.tables);
    const only = snap.tablesFor('c2-only');
    expect(only.names.match('ads.example')).toBeNull();
    expect(only.names.match('x.akamaicontainer.com')?.list).toBe('c2');
    expect(only.names.match('emergency.example')?.list).toBe('emergency');
    expect(snap.tables.names.match('ads.example')?.list).toBe('ads');
  });

  it('a "default" group without clients chooses the lists of everyone else', async () => {
    const snap = (await holderFor(config([{ name: 'default', lists: ['c2'] }, { name: 'all', clients: ['10.0.0.0/8'], lists: ['c2', 'ads', 'adult'] }]))).current;
    expect(snap.tables.names.match('ads.example')).toBeNull();
    expect(snap.tablesFor('all').names.match('ads.example')?.list).toBe('ads');
  });
});

describe('groups: the policy stage answers with the group\'s lists and action', () => {
  it('CIDR, MAC and name groups get their own lists and block answers', async () => {
    const cfg = config(
      [
        { name: 'servers', clients: ['10.0.0.0/24', 'printer'], lists: ['c2'], action: 'nxdomain' },
        { name: 'kids', clients: [LAPTOP_MAC], action: 'sinkhole' },
      ],
      { blocking: { sinkhole: { ipv4: '192.0.2.99' } } },
    );
    const holder = await holderFor(cfg);
    const next = new StubNext(() => ({ action: 'allowed', reply: null, stored: null, upstream: '127.0.0.1:53' }));
    const chain = new ClientsStage(cfg.clients, new PolicyStage(holder, BlockAnswers.fromConfig(cfg.blocking, cfg.groups), next), cfg.groups);
    const ask = (name: string, peer: string, opts: Buffer[] = []): { action: string; answer: string[]; rcode: number } => {
      const msg = opts.length > 0 ? queryWith(name, T.A, opts) : buildQuery(name, T.A);
      const a = chain.resolve({ msg, pq: parseQuery(msg), clientAddress: peer, clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity(peer), forwardOptions: null }) as Answer;
      if (a.reply === null) return { action: a.action, answer: [], rcode: -1 };
      const m = parseMessage(a.reply);
      return { action: a.action, answer: m.answers.map((r) => presentRecord(a.reply!, r)), rcode: m.rcode };
    };
    // CIDR group: only c2 applies, its action nxdomain.
    expect(ask('akamaicontainer.com', '10.0.0.5')).toMatchObject({ action: 'blocked', rcode: 3 });
    expect(ask('ads.example', '10.0.0.5')).toMatchObject({ action: 'allowed' });
    // Name group (the printer at 192.168.1.20): the same.
    expect(ask('akamaicontainer.com', '192.168.1.20')).toMatchObject({ action: 'blocked', rcode: 3 });
    expect(ask('ads.example', '192.168.1.20').action).toBe('allowed');
    // MAC group behind the router: every list, sinkhole; a list with its own action keeps it.
    expect(ask('akamaicontainer.com', ROUTER, [mac(LAPTOP_MAC)])).toMatchObject({ action: 'blocked', answer: ['akamaicontainer.com 300 A 192.0.2.99'] });
    expect(ask('adult.example', ROUTER, [mac(LAPTOP_MAC)])).toMatchObject({ action: 'blocked', rcode: 5 });
    // Everyone else: every list, blocking.action (null).
    expect(ask('ads.example', '172.16.1.1')).toMatchObject({ action: 'blocked', answer: ['ads.example 300 A 0.0.0.0'] });
  });

  it('explain (check --group) decides with the group\'s tables and action', async () => {
    const cfg = config([{ name: 'servers', clients: ['10.0.0.0/24'], lists: ['c2'], action: 'nxdomain' }]);
    const snap = (await holderFor(cfg)).current;
    expect(explain('ads.example', snap, 'null', () => [], 'servers')).toMatchObject({ group: 'servers', decision: 'not listed' });
    expect(explain('akamaicontainer.com', snap, 'nxdomain', () => [], 'servers')).toMatchObject({ group: 'servers', decision: 'blocked', action: 'nxdomain' });
    expect(explain('ads.example', snap, 'null')).toMatchObject({ decision: 'blocked', action: 'null' });
  });
});

describe('groups: c2dns check --group', () => {
  it('decides with the group\'s lists and action, prints the group, and names the groups when one is unknown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-gcheck-'));
    for (const [name, text] of Object.entries(TEXT)) writeFileSync(join(dir, `${name}.txt`), text);
    const cfg = configSchema.parse({
      state: { dir: join(dir, 'state') },
      lists: LISTS.map((l) => ({ ...l, path: join(dir, l.path) })),
      groups: [{ name: 'servers', clients: ['10.0.0.0/24'], lists: ['c2'], action: 'nxdomain' }],
    });
    const feeds = new FeedManager(cfg, createOpLog('silent'));
    feeds.persist = false;
    await feeds.loadInitial({ network: false });
    expect(check('ads.example', feeds, cfg, 'servers')).toMatchObject({ group: 'servers', decision: 'not listed' });
    const r = check('akamaicontainer.com', feeds, cfg, 'servers');
    expect(r).toMatchObject({ decision: 'blocked', action: 'nxdomain' });
    expect(formatCheck(r)).toMatch(/^group: servers\nakamaicontainer\.com: BLOCKED by list "c2"/);
    expect(check('ads.example', feeds, cfg, 'default')).toMatchObject({ group: 'default', decision: 'blocked', action: 'null' });
    expect(check('ads.example', feeds, cfg).group).toBeUndefined();
    expect(() => check('ads.example', feeds, cfg, 'kids')).toThrow(new UnknownGroupError('no group named "kids" in the configuration (groups: default, servers)'));
  });
});

describe('groups: quarantine per group', () => {
  const event = (client: string, group: string): QueryEvent => {
    return {
      time: Date.now(),
      client,
      clientPort: 1,
      via: null,
      mac: null,
      clientName: null,
      group,
      transport: 'udp',
      qname: 'akamaicontainer.com',
      qtype: T.A,
      action: 'blocked',
      decision: { by: 'list', verdict: 'block', trigger: 'qname', rule: { kind: 'block', list: 'c2', rule: 'akamaicontainer.com', match: 'subtree', line: 1, action: null, important: false, labels: 2, ref: null, tags: ['c2'], expiresAt: 0, firstSeen: 0 }, chain: ['akamaicontainer.com'], note: null, tags: ['c2'] },
      rcode: 0,
      latencyMs: 0,
      upstream: null,
      truncated: false,
      reply: null,
    } as QueryEvent;
  };

  it('a group with quarantine: false is never put in quarantine nor answered as quarantined', () => {
    const store = new QuarantineStore(mkdtempSync(join(tmpdir(), 'c2dns-gq-')));
    const next = new StubNext(() => ({ action: 'allowed', reply: null, stored: null, upstream: null }));
    const s = new QuarantineStage(store, new DomainTrie(), BlockAnswers.fromConfig(config([]).blocking), { durationMs: 60_000, tags: ['c2'], watchLists: [], exemptGroups: new Set(['servers']) }, next);
    s.onQuery(event('10.0.0.5', 'servers'));
    s.onQuery(event('192.168.1.50', 'default'));
    expect(store.list().map((e) => e.client)).toEqual(['192.168.1.50']);
    // Quarantined (e.g. by another instance) but in an exempt group: answered normally.
    store.add('10.0.0.6', 'test', 60_000, { address: '10.0.0.6', mac: null, name: null, via: null });
    const q = (addr: string, group: string): Query => {
      const msg = buildQuery('example.org', T.A);
      return { msg, pq: parseQuery(msg), clientAddress: addr, clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: { ...peerIdentity(addr), group }, forwardOptions: null };
    };
    expect((s.resolve(q('10.0.0.6', 'servers')) as Answer).action).toBe('allowed');
    expect((s.resolve(q('192.168.1.50', 'default')) as Answer).action).toBe('blocked');
  });

  it('quarantine is on for groups that ask for it, off for the rest, by default quarantine.enabled', async () => {
    const { quarantineGroups } = await import('../../src/config/lan.js');
    const off = config([{ name: 'kids', clients: ['10.0.0.0/8'], quarantine: true }, { name: 'servers', clients: ['10.1.0.0/16'] }]);
    expect(quarantineGroups(off)).toEqual({ any: true, exempt: new Set(['servers', 'default']) });
    const on = config([{ name: 'servers', clients: ['10.1.0.0/16'], quarantine: false }], { quarantine: { enabled: true } });
    expect(quarantineGroups(on)).toEqual({ any: true, exempt: new Set(['servers']) });
    expect(quarantineGroups(config([])).any).toBe(false);
  });
});

describe('groups: configuration errors name the key', () => {
  const issues = (groups: unknown[], extra: Record<string, unknown> = {}): string => {
    const r = configSchema.safeParse({ lists: LISTS, clients: { names: { '192.168.1.20': 'printer' } }, groups, ...extra });
    expect(r.success).toBe(false);
    return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };
  it.each([
    ['an unknown list', [{ name: 'g', clients: ['10.0.0.0/8'], lists: ['nope'] }], /groups\.0\.lists\.0: expected the name of a configured list/],
    ['an unknown client name', [{ name: 'g', clients: ['scanner'] }], /groups\.0\.clients\.0: .*client name from clients\.names \("printer"\), got "scanner"/],
    ['a client in two groups', [{ name: 'a', clients: ['10.0.0.0/8'] }, { name: 'b', clients: ['10.0.0.0/8'] }], /groups\.1\.clients\.0: expected each client in one group/],
    ['a MAC in two groups, written differently', [{ name: 'a', clients: ['AA-BB-CC-DD-EE-FF'] }, { name: 'b', clients: ['aa:bb:cc:dd:ee:ff'] }], /groups\.1\.clients\.0: expected each client in one group/],
    ['a group twice', [{ name: 'a', clients: ['10.0.0.0/8'] }, { name: 'a', clients: ['10.1.0.0/16'] }], /groups\.1\.name: expected a unique group name/],
    ['clients for default', [{ name: 'default', clients: ['10.0.0.0/8'] }], /groups\.0\.clients: expected no clients for the group "default"/],
    ['a group without clients', [{ name: 'g' }], /groups\.0\.clients: expected at least one client/],
    ['sinkhole without addresses', [{ name: 'g', clients: ['10.0.0.0/8'], action: 'sinkhole' }], /groups\.0\.action: expected blocking\.sinkhole/],
    ['an unknown action', [{ name: 'g', clients: ['10.0.0.0/8'], action: 'drop' }], /groups\.0\.action/],
  ])('%s', (_n, groups, re) => {
    expect(issues(groups)).toMatch(re);
  });
});
