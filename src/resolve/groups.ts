// Which policy group a client is in (config `groups`): selectors by MAC, IP address, network or
// client name, the most specific one over all groups winning: an exact MAC, then an exact IP
// address or a client name (the group listed first when both match), then the longest network.
// Clients no selector matches are in "default". The clients stage asks once per identity; the
// answer is memoised (bounded), so a query costs one map lookup.
import { IpPrefixTable, type PrefixRule } from '../blocklist/prefix-table.js';
import { DEFAULT_GROUP, parseSelector, type GroupConfig } from '../config/lan.js';
import { plainAddress } from './client-ip.js';
import type { ClientIdentity } from './types.js';

const MEMO_LIMIT = 65536;

interface GroupRule extends PrefixRule {
  readonly kind: 'block';
  readonly group: string;
  /** The group's place in the configuration: among equally specific selectors, the first group wins. */
  readonly order: number;
}

export class ClientGroups {
  private readonly macs = new Map<string, string>();
  private readonly names = new Map<string, { group: string; order: number }>();
  private readonly ips = new IpPrefixTable<GroupRule>();
  private memo = new Map<string, string>();
  /** No group selects anyone: every client is in "default". */
  readonly empty: boolean;

  constructor(groups: readonly GroupConfig[]) {
    groups.forEach((g, order) => {
      if (g.name === DEFAULT_GROUP) return;
      for (const raw of g.clients) {
        const s = parseSelector(raw);
        if (s.kind === 'mac') {
          if (!this.macs.has(s.mac)) this.macs.set(s.mac, g.name);
        } else if (s.kind === 'name') {
          if (!this.names.has(s.name)) this.names.set(s.name, { group: g.name, order });
        } else this.ips.add(s.cidr, { kind: 'block', group: g.name, order });
      }
    });
    this.empty = this.macs.size === 0 && this.names.size === 0 && this.ips.empty;
  }

  /** The group of a client whose identity the clients stage has filled (address, MAC, name). */
  groupOf(id: ClientIdentity): string {
    if (this.empty) return DEFAULT_GROUP;
    const key = id.mac === null ? id.address : `${id.mac}|${id.address}`;
    let g = this.memo.get(key);
    if (g === undefined) {
      g = this.select(id);
      if (this.memo.size >= MEMO_LIMIT) this.memo = new Map();
      this.memo.set(key, g);
    }
    return g;
  }

  private select(id: ClientIdentity): string {
    if (id.mac !== null) {
      const g = this.macs.get(id.mac);
      if (g !== undefined) return g;
    }
    const m = this.ips.empty ? null : this.ips.lookupText(plainAddress(id.address));
    const named = id.name === null ? undefined : this.names.get(id.name);
    if (m !== null && isHost(m.prefix)) {
      // An exact address and a client name are equally specific: the group listed first wins.
      return named !== undefined && named.order < m.rule.order ? named.group : m.rule.group;
    }
    if (named !== undefined) return named.group;
    return m?.rule.group ?? DEFAULT_GROUP;
  }
}

/** "a.b.c.d/32" or "…/128": a selector for one address. */
function isHost(prefix: string): boolean {
  return prefix.endsWith('/32') ? !prefix.includes(':') : prefix.endsWith('/128');
}
