// A Decision is the one value that says why a query was answered the way it was: who decided
// (a list, a watch list, an emergency block, quarantine, access control), which rule, what in
// the query or its answer triggered it, and the chain of names that led there. The EDE text, the
// query log, metrics, security events, history, `c2dns check` and /api/check all render this
// value through the functions below; nothing re-derives it.
import type { EntryAction, RuleMatch } from '../blocklist/rule.js';

/** What matched: the question's name, a name or address the answer led to, or the client. */
export type Trigger = 'qname' | 'cname' | 'dname' | 'svcb-target' | 'answer-ip' | 'client-ip';

export type DecidedBy = 'list' | 'watch' | 'emergency' | 'quarantine' | 'access';

/**
 * block: answered with the rule's action; local-data: answered with the rule's own records (RPZ
 * walled garden); allow: an allowlist entry let it through; monitor: a watch list saw it and it
 * was answered normally; refuse: access control.
 */
export type Verdict = 'block' | 'local-data' | 'allow' | 'monitor' | 'refuse';

export interface Decision {
  readonly by: DecidedBy;
  readonly verdict: Verdict;
  readonly trigger: Trigger;
  /** The list rule (a name or an IP prefix) that decided; null for quarantine and access control. */
  readonly rule: RuleMatch | null;
  /**
   * How the trigger was reached: [qname] for a qname rule, [qname, …, matched name] through
   * CNAME/DNAME/SVCB targets, [qname, address] for an answer IP, [client address] for a client IP.
   */
  readonly chain: readonly string[];
  /** Text for decisions without a rule (quarantine: since when and why). */
  readonly note: string | null;
  readonly tags: readonly string[];
}

/** A decision made by a list rule. Emergency blocks are a list of their own and say so. */
export function ruleDecision(rule: RuleMatch, trigger: Trigger, chain: readonly string[], watch = false): Decision {
  return { by: ruleDecider(rule, watch), verdict: ruleVerdict(rule, watch), trigger, rule, chain, note: null, tags: rule.tags };
}

function ruleDecider(rule: RuleMatch, watch: boolean): DecidedBy {
  return watch ? 'watch' : rule.list === EMERGENCY_LIST ? 'emergency' : 'list';
}

function ruleVerdict(rule: RuleMatch, watch: boolean): Verdict {
  return watch ? 'monitor' : rule.kind === 'allow' ? 'allow' : isLocalData(rule.action) ? 'local-data' : 'block';
}

/**
 * True when `d` is what ruleDecision(d.rule, 'qname', [qname], d.by === 'watch') makes, field for
 * field: a holder that keeps decisions (the console's query ring) can then keep only the rule,
 * long-lived, and make the decision again when read (ruleDecision), instead of keeping an object
 * and an array made for this query until they are promoted.
 */
export function isQnameRuleDecision(d: Decision, qname: string): boolean {
  const r = d.rule;
  if (r === null || d.trigger !== 'qname' || d.note !== null || d.tags !== r.tags || d.chain.length !== 1 || d.chain[0] !== qname) return false;
  const watch = d.by === 'watch';
  return d.by === ruleDecider(r, watch) && d.verdict === ruleVerdict(r, watch);
}

/** The name of the source emergency blocks are compiled into. */
export const EMERGENCY_LIST = 'emergency';

export function isLocalData(a: EntryAction | null): a is { local: import('../blocklist/rule.js').LocalRecord[] } {
  return a !== null && typeof a === 'object';
}

/**
 * The one text form of a decision's reason, `key=value` pairs so a SOC can parse it:
 * `list=3cx rule=msstorageazure.com` for a qname rule,
 * `list=3cx rule=msstorageazure.com trigger=cname chain=innocent.example>cdn.msstorageazure.com`
 * when the answer led there, `… trigger=client-ip client=10.0.0.5` for a client rule.
 */
export function reasonText(d: Decision): string {
  const r = d.rule;
  if (r === null) return d.note ?? d.by;
  const base = `list=${r.list} rule=${r.rule}`;
  if (d.trigger === 'qname') return base;
  if (d.trigger === 'client-ip') return `${base} trigger=client-ip client=${d.chain[0] ?? ''}`;
  return `${base} trigger=${d.trigger} chain=${d.chain.join('>')}`;
}

/** The RFC 8914 EDE text carried by the answer. */
export function edeText(d: Decision): string {
  switch (d.verdict) {
    case 'block':
    case 'local-data':
      return d.rule === null ? `c2dns: ${reasonText(d)}` : `blocked by c2dns: ${reasonText(d)}`;
    default:
      return `c2dns: ${reasonText(d)}`;
  }
}

/** The answer action a block decision takes: the rule's own, else the configured default. */
export function actionOf(d: Decision, defaultAction: EntryAction): EntryAction {
  return d.rule?.action ?? defaultAction;
}

/** A plain object for JSON APIs and `c2dns check --json`. */
export function decisionJson(d: Decision | null): Record<string, unknown> | null {
  if (d === null) return null;
  const r = d.rule;
  return {
    decidedBy: d.by,
    verdict: d.verdict,
    trigger: d.trigger,
    chain: d.chain,
    reason: reasonText(d),
    list: r?.list ?? null,
    rule: r?.rule ?? null,
    ruleKind: r?.kind ?? null,
    tags: d.tags,
  };
}
