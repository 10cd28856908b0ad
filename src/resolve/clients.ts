// Who really asked. Behind a router every query comes from the router; a router that forwards
// with dnsmasq's --add-subnet / --add-mac / --add-cpe-id says which of its clients asked, in EDNS
// options. This stage, right after access control (which applies to the router itself), reads
// those options from trusted forwarders only (clients.trustedForwarders) and fills q.identity:
// the ECS host address becomes the client's address, the MAC and CPE-ID are kept, and the
// client's name comes from clients.names. From any other source the options are ignored (anyone
// could claim to be anyone) and counted. Last, the client's policy group (config `groups`,
// ./groups.ts) is chosen from that identity. Later stages, the log, events, history and
// quarantine all see q.identity; the policy stages read the group's tables.
import { BlockList, isIPv4 } from 'node:net';
import type { Config } from '../config/schema.js';
import { hasClientOptions, normalizeMac, readClientOptions } from '../dns/client-options.js';
import { IpPrefixTable } from '../blocklist/prefix-table.js';
import { plainAddress } from './client-ip.js';
import { ClientGroups } from './groups.js';
import { requireNext, type StageModule } from './module.js';
import { ownIdentity, type Answer, type ClientIdentity, type Query, type Stage } from './types.js';

const MEMO_LIMIT = 65536;

export interface ClientOptionCounters {
  /** Queries whose ECS/MAC/CPE-ID options were ignored because their source is not a trusted forwarder. */
  ignored: number;
  /** Queries from a trusted forwarder whose options were partly unreadable (what could be read was used). */
  malformed: number;
}

/** A set of networks with a bounded memo per address (BlockList.check is not free). */
class NetworkSet {
  private readonly list = new BlockList();
  private readonly memo = new Map<string, boolean>();
  readonly empty: boolean;

  constructor(networks: readonly string[]) {
    this.empty = networks.length === 0;
    for (const n of networks) {
      const [addr, bits] = n.split('/') as [string, string | undefined];
      const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
      this.list.addSubnet(addr, bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits), type);
    }
  }

  has(address: string): boolean {
    if (this.empty) return false;
    let ok = this.memo.get(address);
    if (ok === undefined) {
      const a = plainAddress(address);
      ok = this.list.check(a, isIPv4(a) ? 'ipv4' : 'ipv6');
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(address, ok);
    }
    return ok;
  }
}

interface NameRule {
  readonly kind: 'block';
  readonly name: string;
}

/** clients.names compiled: MACs in a map, addresses and networks in a prefix table (most specific wins). */
export class ClientNames {
  private readonly macs = new Map<string, string>();
  private readonly ips = new IpPrefixTable<NameRule>();
  private memo = new Map<string, string | null>();
  readonly empty: boolean;

  /** `names`: keys already canonical (the schema's clientKey). */
  constructor(names: Readonly<Record<string, string>>) {
    for (const [key, name] of Object.entries(names)) {
      if (normalizeMac(key) !== null) this.macs.set(key, name);
      else this.ips.add(key, { kind: 'block', name });
    }
    this.empty = this.macs.size === 0 && this.ips.empty;
  }

  ofMac(mac: string): string | null {
    return this.macs.get(mac) ?? null;
  }

  ofAddress(address: string): string | null {
    if (this.ips.empty) return null;
    let n = this.memo.get(address);
    if (n === undefined) {
      n = this.ips.lookupText(plainAddress(address))?.rule.name ?? null;
      if (this.memo.size >= MEMO_LIMIT) this.memo = new Map();
      this.memo.set(address, n);
    }
    return n;
  }
}

export type IdentitySource = Config['clients']['identity'][number];

export class ClientsStage implements Stage {
  readonly counters: ClientOptionCounters = { ignored: 0, malformed: 0 };
  private readonly trusted: NetworkSet;
  private readonly names: ClientNames;
  private readonly readMac: boolean;
  private readonly readEcs: boolean;
  private readonly readCpeId: boolean;
  /** The MAC's name goes before the address's (clients.identity lists mac before ecs). */
  private readonly macFirst: boolean;
  private readonly groups: ClientGroups;

  constructor(
    private readonly cfg: Config['clients'],
    private readonly next: Stage,
    groups: Config['groups'] = [],
  ) {
    this.groups = new ClientGroups(groups);
    this.trusted = new NetworkSet(cfg.trustedForwarders);
    this.names = new ClientNames(cfg.names);
    const pref = cfg.identity;
    this.readMac = pref.includes('mac');
    this.readEcs = pref.includes('ecs');
    this.readCpeId = pref.includes('cpe-id');
    this.macFirst = !this.readEcs || (this.readMac && pref.indexOf('mac') < pref.indexOf('ecs'));
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const pq = q.pq;
    if (pq.ednsOptionsLen > 0) this.readOptions(q, pq.ednsOptions, pq.ednsOptionsLen);
    // Changed only when it differs: a peer's queries share one identity until one needs its own.
    if (!this.names.empty) {
      const name = this.nameOf(q.identity);
      if (name !== q.identity.name) ownIdentity(q).name = name;
    }
    if (!this.groups.empty) {
      const group = this.groups.groupOf(q.identity);
      if (group !== q.identity.group) ownIdentity(q).group = group;
    }
    return this.next.resolve(q);
  }

  private readOptions(q: Query, start: number, len: number): void {
    if (!this.trusted.has(q.clientAddress)) {
      if (hasClientOptions(q.msg, start, len)) this.counters.ignored++;
      return;
    }
    const o = readClientOptions(q.msg, start, len);
    if (o.malformed) this.counters.malformed++;
    const id = ownIdentity(q);
    let used = false;
    const ecs = o.ecs;
    if (ecs !== null) {
      if (this.readEcs) {
        if (ecs.host) id.address = ecs.address;
        else id.network = ecs.cidr;
        used = true;
      }
      if (this.cfg.forwardEcs) q.forwardOptions = ecs.raw;
    }
    if (o.mac !== null && this.readMac) {
      id.mac = o.mac;
      used = true;
    }
    if (o.cpeId !== null && this.readCpeId) {
      id.cpeId = o.cpeId;
      used = true;
    }
    if (used) id.via = q.clientAddress;
  }

  /** By clients.identity's order: the MAC's name or the address's (exact, else the most specific network). */
  private nameOf(id: ClientIdentity): string | null {
    const n = this.names;
    if (id.mac !== null && this.macFirst) return n.ofMac(id.mac) ?? n.ofAddress(id.address);
    return n.ofAddress(id.address) ?? (id.mac === null ? null : n.ofMac(id.mac));
  }
}

export const clientsStage: StageModule<ClientsStage> = {
  name: 'clients',
  // Always on: options from untrusted sources are counted even when nothing is trusted.
  enabled: () => true,
  create: (d, next) => new ClientsStage(d.cfg.clients, requireNext('clients', next), d.cfg.groups),
};
