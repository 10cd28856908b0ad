// What a list entry turns into once loaded: one shared object per rule, so a lookup allocates nothing.

export type BlockAction = 'null' | 'nxdomain' | 'nodata' | 'refused' | 'sinkhole';

export interface ListEntry {
  /** Normalised name: lower case, no trailing dot. */
  name: string;
  /** true: the name and all its subdomains; false: this exact name only. */
  subtree: boolean;
  /** 1-based line in the source, for explanations. */
  line: number;
}

export interface RuleMatch {
  readonly kind: 'block' | 'allow';
  readonly list: string;
  /** The rule as the list wrote it after normalisation (e.g. "msstorageazure.com"). */
  readonly rule: string;
  readonly subtree: boolean;
  readonly line: number;
  /** The list's own sinkhole action, or null for the configured default. */
  readonly action: BlockAction | null;
  /** Label count of `rule`: the synthetic SOA of a blocked answer is owned by the rule's name. */
  readonly labels: number;
}

export function makeRule(kind: 'block' | 'allow', list: string, e: ListEntry, action: BlockAction | null): RuleMatch {
  return {
    kind,
    list,
    rule: e.name,
    subtree: e.subtree,
    line: e.line,
    action,
    labels: e.name === '' ? 0 : e.name.split('.').length,
  };
}
