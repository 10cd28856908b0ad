// `c2dns lists` and `c2dns lists update [NAME]`: every source with its format, counts, and the
// last success and failure (from the state directory the server writes).
import { isEmptyBlockList, type FeedManager, type RefreshOutcome } from '../feeds/manager.js';
import { sourceRef } from '../feeds/store.js';

export interface ListRow {
  name: string;
  origin: string;
  kind: string;
  format: string | null;
  entries: number;
  rejectedLines: number;
  ignored: Record<string, number>;
  unsupported: number;
  /** The first few rules parsed but not enforced (RPZ NSDNAME/NSIP…), with why. */
  unsupportedExamples: { line: number; text: string; reason: string }[];
  guarded: number;
  notEnforceable: { name: string; fromUrl?: string; reason: string }[];
  ips: number;
  fromDiskCopy: boolean;
  lastSuccess: string | null;
  lastFailure: { at: string; reason: string; message: string } | null;
  /** Things an operator should look at (e.g. a block list with nothing in it). */
  warnings: string[];
}

export function listRows(feeds: FeedManager): ListRow[] {
  return feeds.sources.map((s) => {
    const c = s.compiled;
    const st = feeds.store.loadStatus(sourceRef(s.config));
    const success = Math.max(s.lastSuccess ?? 0, st?.lastSuccess ?? 0);
    const failure = [s.lastFailure, st?.lastFailure ?? null].filter((f) => f !== null).sort((a, b) => b!.at - a!.at)[0] ?? null;
    return {
      name: s.config.name,
      origin: s.config.url ?? s.config.path ?? '',
      kind: s.config.kind,
      format: c?.format ?? null,
      entries: c?.rules.length ?? 0,
      rejectedLines: c?.report.rejected ?? 0,
      ignored: c?.report.ignored ?? {},
      unsupported: c?.report.unsupported ?? 0,
      unsupportedExamples: (c?.report.unsupportedExamples ?? []).map((x) => ({ line: x.line, text: x.text, reason: x.reason })),
      guarded: c?.guarded.length ?? 0,
      notEnforceable: (c?.notEnforceable ?? []).map((r) => ({ name: r.name, reason: r.reason, ...(r.fromUrl !== undefined ? { fromUrl: r.fromUrl } : {}) })),
      ips: c?.ips.length ?? 0,
      fromDiskCopy: s.fromLastGood,
      lastSuccess: success > 0 ? new Date(success).toISOString() : null,
      lastFailure: failure === null ? null : { at: new Date(failure.at).toISOString(), reason: failure.reason, message: failure.message },
      warnings: isEmptyBlockList(s) ? ['empty block list: it blocks nothing (wrong file?)'] : [],
    };
  });
}

export function formatRows(rows: ListRow[]): string {
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.name} (${r.kind}, ${r.format ?? 'not loaded'}) ${r.origin}`);
    out.push(`  entries ${r.entries}, rejected lines ${r.rejectedLines}, guarded ${r.guarded}, not enforceable by DNS ${r.notEnforceable.length}, IPs ${r.ips}, unsupported rules ${r.unsupported}`);
    const ign = Object.entries(r.ignored);
    if (ign.length > 0) out.push(`  ignored: ${ign.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const n of r.notEnforceable.slice(0, 5)) out.push(`  not enforceable: ${n.fromUrl ?? n.name}: ${n.reason}`);
    for (const u of r.unsupportedExamples.slice(0, 5)) out.push(`  not enforced: line ${u.line} "${u.text}": ${u.reason}`);
    out.push(`  last success: ${r.lastSuccess ?? 'never'}${r.fromDiskCopy ? ' (serving the disk copy)' : ''}`);
    if (r.lastFailure) out.push(`  last failure: ${r.lastFailure.at} ${r.lastFailure.reason}: ${r.lastFailure.message}`);
    for (const w of r.warnings) out.push(`  warning: ${w}`);
  }
  return out.join('\n') + '\n';
}

export function formatOutcomes(o: Map<string, RefreshOutcome>, feeds: FeedManager): string {
  return (
    [...o]
      .map(([name, outcome]) => {
        const s = feeds.sources.find((x) => x.config.name === name)!;
        const why = outcome === 'failed' && s.lastFailure ? ` (${s.lastFailure.reason}: ${s.lastFailure.message}; the last good copy stays)` : '';
        return `${name}: ${outcome}${why}, ${s.compiled?.rules.length ?? 0} entries`;
      })
      .join('\n') + '\n'
  );
}
