// `c2dns check NAME`: what c2dns would do with a name, and why, from the configured lists as
// they are on disk (local files and last good copies; no network).
import { normalizeDomain } from '../blocklist/domain.js';
import type { Config } from '../config/schema.js';
import type { FeedManager } from '../feeds/manager.js';

export interface CheckResult {
  name: string;
  decision: 'blocked' | 'allowed' | 'not listed' | 'invalid';
  list?: string;
  rule?: string;
  ruleKind?: 'block' | 'allow';
  match?: string;
  line?: number;
  ref?: string | null;
  tags?: readonly string[];
  firstSeen?: string;
  expires?: string | null;
  action?: string;
  /** Guard refusals of this name or one of its parents, per list. */
  guard: { list: string; entry: string; line: number; reason: string; fromUrl?: string }[];
  reason?: string;
}

export function check(raw: string, feeds: FeedManager, cfg: Config): CheckResult {
  const n = normalizeDomain(raw);
  if (!n.ok) return { name: raw, decision: 'invalid', reason: n.reason, guard: [] };
  const name = n.name;
  const guard: CheckResult['guard'] = [];
  for (const s of feeds.sources) {
    for (const g of [...(s.compiled?.guarded ?? []), ...(s.compiled?.notEnforceable ?? [])]) {
      if (name === g.name || name.endsWith(`.${g.name}`)) guard.push({ list: s.config.name, entry: g.name, line: g.line, reason: g.reason, ...(g.fromUrl !== undefined ? { fromUrl: g.fromUrl } : {}) });
    }
  }
  const own = feeds.guard.check(name);
  if (own !== null) guard.push({ list: '(guard)', entry: name, line: 0, reason: own.reason });
  const m = feeds.live.match(name);
  if (m === null) return { name, decision: 'not listed', guard };
  return {
    name,
    decision: m.kind === 'block' ? 'blocked' : 'allowed',
    list: m.list,
    rule: m.rule,
    ruleKind: m.kind,
    match: m.match,
    line: m.line,
    ref: m.ref,
    tags: m.tags,
    firstSeen: new Date(m.firstSeen).toISOString(),
    expires: m.expiresAt === 0 ? null : new Date(m.expiresAt).toISOString(),
    action: m.kind === 'block' ? (typeof m.action === 'object' && m.action !== null ? 'local data' : (m.action ?? cfg.blocking.action)) : 'forward',
    guard,
  };
}

export function formatCheck(r: CheckResult): string {
  const lines: string[] = [];
  if (r.decision === 'invalid') lines.push(`${r.name}: not a valid name (${r.reason})`);
  else if (r.decision === 'not listed') lines.push(`${r.name}: not listed: forwarded to the upstreams`);
  else {
    lines.push(`${r.name}: ${r.decision.toUpperCase()} by list "${r.list}", rule "${r.rule}" (${r.ruleKind}, ${r.match}${r.line ? `, line ${r.line}` : ''}${r.ref ? `, object ${r.ref}` : ''})`);
    lines.push(`  answer: ${r.action}`);
    if (r.tags && r.tags.length > 0) lines.push(`  tags: ${r.tags.join(', ')}`);
    lines.push(`  first seen: ${r.firstSeen}${r.expires ? `, expires: ${r.expires}` : ''}`);
  }
  for (const g of r.guard) lines.push(`  guard: list "${g.list}" entry "${g.entry}"${g.line ? ` (line ${g.line})` : ''} refused: ${g.reason}${g.fromUrl ? ` [URL ${g.fromUrl}]` : ''}`);
  return lines.join('\n') + '\n';
}
