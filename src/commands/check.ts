// `c2dns check NAME|IP`: what c2dns would do, and why, from the configured lists as they are on
// disk (local files, last good copies and emergency blocks; no network). The decision comes from
// policy/explain.ts, the same one /api/check gives.
import type { Config } from '../config/schema.js';
import { groupAction, knownGroup } from '../config/lan.js';
import type { FeedManager } from '../feeds/manager.js';
import { explain, type CheckResult } from '../policy/explain.js';

export type { CheckResult } from '../policy/explain.js';

/** A group the configuration does not have (`c2dns check --group`, /api/check?group=). */
export class UnknownGroupError extends Error {}

/** `group`: decide with that policy group's lists and action (config `groups`); absent = the default group. */
export function check(raw: string, feeds: FeedManager, cfg: Config, group?: string): CheckResult {
  if (group === undefined) return explain(raw, feeds.policy.current, cfg.blocking.action, (name) => feeds.refusedNotes(name));
  if (!knownGroup(cfg, group)) {
    const names = ['default', ...cfg.groups.map((g) => g.name).filter((n) => n !== 'default')];
    throw new UnknownGroupError(`no group named "${group}" in the configuration (groups: ${names.join(', ')})`);
  }
  return explain(raw, feeds.policy.current, groupAction(cfg, group), (name) => feeds.refusedNotes(name), group);
}

export function formatCheck(r: CheckResult): string {
  const lines: string[] = [];
  if (r.group !== undefined) lines.push(`group: ${r.group}`);
  if (r.decision === 'invalid') lines.push(`${r.name}: not a valid name or IP address (${r.reason})`);
  else if (r.decision === 'not listed') lines.push(`${r.name}: not listed: ${r.input === 'ip' ? 'no IP rule acts on it' : 'forwarded to the upstreams'}`);
  else {
    lines.push(`${r.name}: ${r.decision.toUpperCase()} by list "${r.list}", rule "${r.rule}" (${r.ruleKind}, ${r.match}${r.line ? `, line ${r.line}` : ''}${r.ref ? `, object ${r.ref}` : ''})`);
    lines.push(`  trigger: ${r.trigger}  reason: ${r.reason}`);
    lines.push(`  answer: ${r.action}`);
    if (r.tags && r.tags.length > 0) lines.push(`  tags: ${r.tags.join(', ')}`);
    lines.push(`  first seen: ${r.firstSeen}${r.expires ? `, expires: ${r.expires}` : ''}`);
  }
  if (r.ipRules !== undefined) {
    lines.push(`  in answers: ${r.ipRules.answer === null ? 'no rule' : String(r.ipRules.answer.reason)}`);
    lines.push(`  as a client: ${r.ipRules.client === null ? 'no rule' : String(r.ipRules.client.reason)}`);
  }
  if (r.watch) lines.push(`  watch list "${r.watch.list}" (rule "${r.watch.rule}"): answered normally, reported and the client marked`);
  for (const g of r.guard) {
    // '(guard)' is the guard's own verdict on the name (no list asked to block it): not a list.
    if (g.list === '(guard)') lines.push(`  guard: "${g.entry}" is never blocked: ${g.reason}`);
    else lines.push(`  guard: list "${g.list}" entry "${g.entry}"${g.line ? ` (line ${g.line})` : ''} refused: ${g.reason}${g.fromUrl ? ` [URL ${g.fromUrl}]` : ''}`);
  }
  return lines.join('\n') + '\n';
}
