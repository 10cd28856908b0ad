// The policy every stage, command and API reads: one immutable snapshot of the compiled tables,
// published whole by the feed manager and replaced in one assignment, so a query sees the old
// policy or the new one, never a mix. Listeners (retro-hunt, cluster announcements) hear about
// each new snapshot instead of riding a swap callback.
import type { EntryAction, IpEntry, RuleMatch } from '../blocklist/rule.js';
import { IpPrefixTable } from '../blocklist/prefix-table.js';
import type { RuleSet } from '../blocklist/ruleset.js';
import { DomainTrie } from '../blocklist/trie.js';

/** The compiled tables of one policy. Per-client groups will each have their own. */
export interface PolicyTables {
  /** Block and allow rules of every enforcing list, emergency blocks first. */
  readonly names: DomainTrie;
  /** Rules of watch lists (`action: monitor`): answered normally, reported. */
  readonly watch: DomainTrie;
  /** Addresses an answer must not carry (A/AAAA in the answer section). */
  readonly responseIps: IpPrefixTable<RuleMatch>;
  /** Clients whose queries get a rule's action (RPZ rpz-client-ip). */
  readonly clientIps: IpPrefixTable<RuleMatch>;
}

export interface PolicySnapshot {
  /** Increases with every publish; answers checked against an older version are checked again. */
  readonly version: number;
  /** Epoch ms of the publish. */
  readonly publishedAt: number;
  readonly tables: PolicyTables;
}

/** One compiled source as the snapshot builder needs it (feeds/ passes its CompiledSource parts). */
export interface PolicySource {
  readonly list: string;
  readonly kind: 'block' | 'allow';
  /** A watch list: its names go to the watch table, its IPs are not enforced. */
  readonly watch: boolean;
  readonly action: EntryAction | null;
  readonly tags: readonly string[];
  readonly rules: RuleSet;
  readonly ips: readonly IpEntry[];
  readonly firstSeen: number;
}

/** Rules added per turn of the event loop while building: queries keep being answered. */
const BUILD_CHUNK = 20_000;

const EMPTY_TABLES: PolicyTables = {
  names: new DomainTrie(),
  watch: new DomainTrie(),
  responseIps: new IpPrefixTable<RuleMatch>(),
  clientIps: new IpPrefixTable<RuleMatch>(),
};

/** Builds the tables beside the live ones, yielding between chunks. */
export async function buildTables(sources: readonly PolicySource[], yieldTurn: () => Promise<void>): Promise<PolicyTables> {
  const build = async (sets: RuleSet[]): Promise<DomainTrie> => {
    const b = DomainTrie.builder(sets);
    while (!b.step(BUILD_CHUNK)) await yieldTurn();
    return b.finish();
  };
  const names = await build(sources.filter((s) => !s.watch).map((s) => s.rules));
  const watch = await build(sources.filter((s) => s.watch).map((s) => s.rules));
  const responseIps = new IpPrefixTable<RuleMatch>();
  const clientIps = new IpPrefixTable<RuleMatch>();
  for (const s of sources) {
    if (s.watch) continue;
    for (const e of s.ips) (e.trigger === 'client-ip' ? clientIps : responseIps).add(e.cidr, ipRule(s, e));
  }
  return { names, watch, responseIps, clientIps };
}

/** An IP indicator as a rule: the same shape as a name rule, so every renderer treats them alike. */
function ipRule(s: PolicySource, e: IpEntry): RuleMatch {
  return {
    kind: s.kind === 'allow' ? 'allow' : e.kind,
    list: s.list,
    rule: e.cidr,
    match: 'exact',
    line: e.line,
    action: e.action ?? s.action,
    important: false,
    labels: 0,
    ref: e.ref ?? null,
    tags: s.tags,
    expiresAt: 0,
    firstSeen: s.firstSeen,
  };
}

export type SnapshotListener = (s: PolicySnapshot) => void;

export class PolicyHolder {
  private snap: PolicySnapshot;
  private readonly listeners: SnapshotListener[] = [];

  constructor(
    private readonly onListenerError: (err: unknown) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.snap = { version: 0, publishedAt: now(), tables: EMPTY_TABLES };
  }

  get current(): PolicySnapshot {
    return this.snap;
  }

  /** Replaces the live policy in one assignment, then tells the listeners. */
  publish(tables: PolicyTables): PolicySnapshot {
    const s: PolicySnapshot = { version: this.snap.version + 1, publishedAt: this.now(), tables };
    this.snap = s;
    for (const l of this.listeners) {
      try {
        l(s);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return s;
  }

  subscribe(l: SnapshotListener): void {
    this.listeners.push(l);
  }
}
