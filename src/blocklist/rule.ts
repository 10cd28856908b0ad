// What a list entry is, from any feed format, and what it turns into once loaded: one shared
// RuleMatch object per rule, so a lookup allocates nothing.

export type BlockAction = 'null' | 'nxdomain' | 'nodata' | 'refused' | 'sinkhole';

/**
 * subtree: the name and everything below it; exact: the name only; below: only names under it
 * (an RPZ or wildcard-list `*.name`).
 */
export type MatchMode = 'subtree' | 'exact' | 'below';

/** A record an RPZ "local data" policy answers with. */
export interface LocalRecord {
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT';
  /** Address, target name (no trailing dot) or text. */
  value: string;
}

/**
 * An entry's own answer, overriding the list's action: RPZ expresses these per trigger.
 * drop: no answer at all; tcp-only: TC=1 over UDP, answered normally over TCP.
 */
export type EntryAction = BlockAction | 'drop' | 'tcp-only' | { local: LocalRecord[] };

export interface ListEntry {
  /** Normalised name: lower case, A-labels, no trailing dot. */
  name: string;
  /** How the name matches; null = the source's configured default for bare names. */
  match: MatchMode | null;
  /** 1-based line in the source (0 when the format has no lines, e.g. JSON). */
  line: number;
  /** 'allow' for exceptions (adblock @@, RPZ PASSTHRU); default 'block'. An allow list makes every entry 'allow'. */
  kind?: 'block' | 'allow';
  /** Entry-level answer (RPZ); overrides the list action. */
  action?: EntryAction;
  /** adblock $important: beats exceptions that lack it. */
  important?: boolean;
  /** Identifier of the source object: STIX indicator id, MISP attribute uuid, CSV row id. */
  ref?: string;
  /** Epoch ms after which the entry stops matching (STIX valid_until). */
  expiresAt?: number;
  /** Set when the name is the host of a URL IOC: the URL, for reports. */
  fromUrl?: string;
  /** Entry-level tags (malware family…), added to the source's tags. */
  tags?: string[];
}

/** An IP or prefix a feed listed: kept apart from the name trie, for the response-IP stage. */
export interface IpEntry {
  /** CIDR text, e.g. "23.254.211.230/32". */
  cidr: string;
  line: number;
  /** What the feed meant: an address to refuse in answers (default), or an RPZ client-IP trigger. */
  trigger: 'response-ip' | 'client-ip';
  kind: 'block' | 'allow';
  /** The trigger's own answer (RPZ); absent = the list's action. */
  action?: EntryAction;
  ref?: string;
}

export interface RuleMatch {
  readonly kind: 'block' | 'allow';
  readonly list: string;
  /** The rule as the list wrote it after normalisation (e.g. "msstorageazure.com"). */
  readonly rule: string;
  readonly match: MatchMode;
  readonly line: number;
  /** The entry's or list's own action, or null for the configured default. */
  readonly action: EntryAction | null;
  readonly important: boolean;
  /** Label count of `rule`: the synthetic SOA of a blocked answer is owned by the rule's name. */
  readonly labels: number;
  readonly ref: string | null;
  readonly tags: readonly string[];
  /** Epoch ms; 0 = never expires. */
  readonly expiresAt: number;
  /** Epoch ms when c2dns first saw this rule in this list. */
  readonly firstSeen: number;
}

export interface RuleDefaults {
  list: string;
  kind: 'block' | 'allow';
  match: MatchMode;
  action: EntryAction | null;
  tags: readonly string[];
  firstSeen: number;
}

export function makeRule(e: ListEntry, d: RuleDefaults): RuleMatch {
  const tags = e.tags && e.tags.length > 0 ? [...d.tags, ...e.tags] : d.tags;
  return {
    kind: d.kind === 'allow' ? 'allow' : (e.kind ?? 'block'),
    list: d.list,
    rule: e.name,
    match: e.match ?? d.match,
    line: e.line,
    action: e.action ?? d.action,
    important: e.important === true,
    labels: e.name === '' ? 0 : e.name.split('.').length,
    ref: e.ref ?? null,
    tags,
    expiresAt: e.expiresAt ?? 0,
    firstSeen: d.firstSeen,
  };
}
