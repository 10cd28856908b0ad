// The policy every stage, command and API reads: one immutable snapshot of the compiled tables,
// published whole by the feed manager and replaced in one assignment, so a query sees the old
// policy or the new one, never a mix. Listeners (retro-hunt, cluster announcements) hear about
// each new snapshot instead of riding a swap callback.
import { performance } from 'node:perf_hooks';
import type { EntryAction, IpEntry, RuleMatch } from '../blocklist/rule.js';
import { IpPrefixTable } from '../blocklist/prefix-table.js';
import type { RuleSet } from '../blocklist/ruleset.js';
import { DomainTrie } from '../blocklist/trie.js';
import { DEFAULT_GROUP } from '../config/lan.js';

export { DEFAULT_GROUP };

/**
 * The compiled tables of one policy: one list set. Per-client groups (config `groups`) that use
 * the same lists share one PolicyTables; a distinct list set has its own.
 */
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
  /** The default group's tables (everyone no group selects): what readers without a group use. */
  readonly tables: PolicyTables;
  /** Every configured group's tables by group name ("default" included); groups with the same lists share one object. */
  readonly groups: ReadonlyMap<string, PolicyTables>;
  /** The tables a group's queries are decided with: its own, the default's for an unknown group. */
  tablesFor(group: string): PolicyTables;
}

/** Which lists a group uses, for the builder; null = every list. */
export interface GroupLists {
  readonly name: string;
  readonly lists: readonly string[] | null;
}

/** What the builder publishes: the default group's tables and every group's. */
export interface GroupTables {
  readonly tables: PolicyTables;
  readonly groups: ReadonlyMap<string, PolicyTables>;
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
  /** In every group's tables whatever lists the group names (emergency blocks). */
  readonly everyGroup?: boolean;
}

/** Rules added between two reads of the clock while building. */
const BUILD_ROWS = 2_048;
/**
 * Main-thread time one turn of a build may take before queries get the event loop back. A budget
 * of time, not of rules: a fixed 20,000 rules took 12-16 ms in a process's first build (before the
 * optimising compiler has the loop) and 0.5 ms later, so a count is either long or many turns.
 */
export const BUILD_SLICE_MS = 4;

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
    for (;;) {
      const until = performance.now() + BUILD_SLICE_MS;
      let done = b.step(BUILD_ROWS);
      while (!done && performance.now() < until) done = b.step(BUILD_ROWS);
      if (done) return b.finish();
      await yieldTurn();
    }
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

/**
 * Tables for every group: one build per distinct list set, shared by the groups that use it (ten
 * groups over the same lists cost one table). The default group is "default" in `groups`, or every
 * list when it is not there.
 */
export async function buildGroupTables(sources: readonly PolicySource[], groups: readonly GroupLists[], yieldTurn: () => Promise<void>): Promise<GroupTables> {
  const byKey = new Map<string, PolicyTables>();
  const tablesOf = async (lists: readonly string[] | null): Promise<PolicyTables> => {
    const wanted = lists === null ? null : new Set(lists);
    const picked = sources.filter((s) => wanted === null || s.everyGroup === true || wanted.has(s.list));
    const key = picked
      .map((s) => s.list)
      .sort()
      .join('\n');
    let t = byKey.get(key);
    if (t === undefined) {
      t = await buildTables(picked, yieldTurn);
      byKey.set(key, t);
    }
    return t;
  };
  const out = new Map<string, PolicyTables>();
  for (const g of groups) out.set(g.name, await tablesOf(g.lists));
  let tables = out.get(DEFAULT_GROUP);
  if (tables === undefined) {
    tables = await tablesOf(null);
    out.set(DEFAULT_GROUP, tables);
  }
  return { tables, groups: out };
}

function snapshotOf(version: number, publishedAt: number, tables: PolicyTables, groups: ReadonlyMap<string, PolicyTables>): PolicySnapshot {
  return { version, publishedAt, tables, groups, tablesFor: (group) => groups.get(group) ?? tables };
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
    this.snap = snapshotOf(0, now(), EMPTY_TABLES, new Map([[DEFAULT_GROUP, EMPTY_TABLES]]));
  }

  get current(): PolicySnapshot {
    return this.snap;
  }

  /**
   * Replaces the live policy in one assignment, then tells the listeners. Plain PolicyTables are
   * every group's (no groups configured); GroupTables come from buildGroupTables.
   */
  publish(built: PolicyTables | GroupTables): PolicySnapshot {
    const g: GroupTables = 'groups' in built ? built : { tables: built, groups: new Map([[DEFAULT_GROUP, built]]) };
    const s = snapshotOf(this.snap.version + 1, this.now(), g.tables, g.groups);
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
