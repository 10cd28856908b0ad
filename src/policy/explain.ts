// What c2dns would decide for a name or an IP address, and why: the Decision the stages would
// make, from the same snapshot and the same rules, for `c2dns check` and /api/check.
import { isIP } from 'node:net';
import { normalizeDomain } from '../blocklist/domain.js';
import type { BlockAction, RuleMatch } from '../blocklist/rule.js';
import { decisionJson, reasonText, ruleDecision, type Decision, type Trigger } from './decision.js';
import type { PolicySnapshot } from './snapshot.js';

/** A list entry a guard refused, or one DNS cannot enforce: reported next to the decision. */
export interface RefusedNote {
  list: string;
  entry: string;
  line: number;
  reason: string;
  fromUrl?: string;
}

export interface CheckResult {
  /** The name (normalised) or the address asked about. */
  name: string;
  /** The policy group whose lists and action were used (config `groups`; "default" = everyone else). */
  group?: string;
  input: 'name' | 'ip' | 'invalid';
  decision: 'blocked' | 'local data' | 'allowed' | 'monitored' | 'not listed' | 'invalid';
  /** The Decision as every other output renders it (null when nothing decides). */
  detail: Record<string, unknown> | null;
  list?: string;
  rule?: string;
  ruleKind?: 'block' | 'allow';
  match?: string;
  line?: number;
  ref?: string | null;
  tags?: readonly string[];
  firstSeen?: string;
  expires?: string | null;
  /** The answer the client would get. */
  action?: string;
  trigger?: Trigger;
  /** For an IP: the rule acting on answers that carry it, and on queries from it. */
  ipRules?: { answer: Record<string, unknown> | null; client: Record<string, unknown> | null };
  /** A watch list also lists the name (answered as decided, and reported). */
  watch?: { list: string; rule: string } | null;
  guard: RefusedNote[];
  reason?: string;
}

/**
 * Decides for `raw` against `snap`, with the tables of `group` (its lists) and `defaultAction`
 * (the group's action, else blocking.action). `refused` lists guard/not-enforceable notes for a name.
 */
export function explain(raw: string, snap: PolicySnapshot, defaultAction: BlockAction, refused: (name: string) => RefusedNote[] = () => [], group?: string): CheckResult {
  if (group !== undefined) return { ...explain(raw, { ...snap, tables: snap.tablesFor(group) }, defaultAction, refused), group };
  const t = snap.tables;
  const ip = raw.trim().replace(/^\[|\]$/g, '');
  if (isIP(ip) !== 0) {
    const answer = t.responseIps.lookupText(ip);
    const client = t.clientIps.lookupText(ip);
    const ans = answer === null ? null : ruleDecision(answer.rule, 'answer-ip', [ip]);
    const cli = client === null ? null : ruleDecision(client.rule, 'client-ip', [ip]);
    // The answer-side rule is the headline (an IP in a C2 feed is about where clients connect).
    const main = ans ?? cli;
    return { ...fromDecision(ip, 'ip', main, defaultAction), ipRules: { answer: decisionJson(ans), client: decisionJson(cli) }, guard: [] };
  }
  const n = normalizeDomain(raw);
  if (!n.ok) return { name: raw, input: 'invalid', decision: 'invalid', detail: null, reason: n.reason, guard: [] };
  const name = n.name;
  const m = t.names.match(name);
  const w = t.watch.size > 0 ? t.watch.match(name) : null;
  const watch = w !== null && w.kind === 'block' ? { list: w.list, rule: w.rule } : null;
  const d = m !== null ? ruleDecision(m, 'qname', [name]) : watch !== null ? ruleDecision(w!, 'qname', [name], true) : null;
  return { ...fromDecision(name, 'name', d, defaultAction), watch, guard: refused(name) };
}

function fromDecision(name: string, input: 'name' | 'ip', d: Decision | null, defaultAction: BlockAction): CheckResult {
  if (d === null || d.rule === null) return { name, input, decision: 'not listed', detail: null, guard: [] };
  const m: RuleMatch = d.rule;
  const decision = d.verdict === 'block' ? 'blocked' : d.verdict === 'local-data' ? 'local data' : d.verdict === 'monitor' ? 'monitored' : 'allowed';
  const action = d.verdict === 'block' ? String(m.action ?? defaultAction) : d.verdict === 'local-data' ? 'local data' : 'forward';
  return {
    name,
    input,
    decision,
    detail: decisionJson(d),
    list: m.list,
    rule: m.rule,
    ruleKind: m.kind,
    match: m.match,
    line: m.line,
    ref: m.ref,
    tags: m.tags,
    firstSeen: new Date(m.firstSeen).toISOString(),
    expires: m.expiresAt === 0 ? null : new Date(m.expiresAt).toISOString(),
    action,
    trigger: d.trigger,
    reason: reasonText(d),
    guard: [],
  };
}
