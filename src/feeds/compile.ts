// Text of one source → the rules it contributes: parse with the source's format, refuse what
// the guard protects (and say why), attach provenance (list, line/object id, tags, first-seen,
// expiry). Pure: no I/O, so `c2dns check`/`convert` and the server compile the same way.
import type { ListConfig } from '../config/schema.js';
import type { Guard } from '../blocklist/guard.js';
import { detectFormat, PARSERS, type ListFormat } from '../blocklist/parsers/index.js';
import { ParseReport } from '../blocklist/parsers/report.js';
import { makeRule, type EntryAction, type IpEntry, type RuleMatch } from '../blocklist/rule.js';

export interface RefusedEntry {
  name: string;
  line: number;
  reason: string;
  /** The URL IOC this host came from, when it did. */
  fromUrl?: string;
}

export interface CompiledSource {
  name: string;
  format: ListFormat;
  rules: RuleMatch[];
  ips: IpEntry[];
  report: ParseReport;
  /** Block entries the guard refused (public suffix, protected platform). */
  guarded: RefusedEntry[];
  /** URL IOCs whose host is shared infrastructure: only a proxy could enforce them. */
  notEnforceable: RefusedEntry[];
}

const MAX_REFUSED_KEPT = 200;

export function compileSource(text: string, cfg: ListConfig, guard: Guard, firstSeen: Map<string, number>, now: number): CompiledSource {
  const format = (cfg.format === 'auto' ? detectFormat(text) : cfg.format) as ListFormat;
  const report = new ParseReport();
  const entries = PARSERS[format](text, report, {
    now,
    csvColumns: cfg.csvColumns,
    minConfidence: cfg.minConfidence,
    mispIncludeNonIds: cfg.mispIncludeNonIds,
  });
  const rules: RuleMatch[] = [];
  const guarded: RefusedEntry[] = [];
  const notEnforceable: RefusedEntry[] = [];
  const maxAgeMs = cfg.maxAgeDays * 86_400_000;
  const listAction: EntryAction | null = cfg.action ?? null;
  for (const e of entries) {
    const kind = cfg.kind === 'allow' ? 'allow' : (e.kind ?? 'block');
    if (kind === 'block') {
      const refusal = guard.check(e.name);
      if (refusal !== null) {
        const target = e.fromUrl !== undefined ? notEnforceable : guarded;
        const reason = e.fromUrl !== undefined ? `not enforceable by DNS: ${refusal.reason}; block the URL at a proxy instead` : refusal.reason;
        if (target.length < MAX_REFUSED_KEPT) target.push({ name: e.name, line: e.line, reason, ...(e.fromUrl !== undefined ? { fromUrl: e.fromUrl } : {}) });
        continue;
      }
    }
    let seen = firstSeen.get(e.name);
    if (seen === undefined) {
      seen = now;
      firstSeen.set(e.name, now);
    }
    const ageExpiry = maxAgeMs > 0 ? seen + maxAgeMs : 0;
    const expiresAt = e.expiresAt !== undefined && (ageExpiry === 0 || e.expiresAt < ageExpiry) ? e.expiresAt : ageExpiry;
    rules.push(
      makeRule(
        { ...e, ...(expiresAt > 0 ? { expiresAt } : {}) },
        { list: cfg.name, kind: cfg.kind, match: cfg.match, action: listAction, tags: cfg.tags, firstSeen: seen },
      ),
    );
  }
  return { name: cfg.name, format, rules, ips: report.ips, report, guarded, notEnforceable };
}
