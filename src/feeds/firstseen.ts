// When c2dns first saw each name of a source: provenance for `c2dns check`, and the clock for
// per-source maxAgeDays. One "name<TAB>epoch-ms" line per name, written atomically.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function file(dir: string, source: string): string {
  return join(dir, `${source.replace(/[^A-Za-z0-9._-]/g, '_')}.first-seen.tsv`);
}

export function loadFirstSeen(dir: string, source: string): Map<string, number> {
  const m = new Map<string, number>();
  const f = file(dir, source);
  if (!existsSync(f)) return m;
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) {
      const t = Number(line.slice(tab + 1));
      if (Number.isFinite(t)) m.set(line.slice(0, tab), t);
    }
  }
  return m;
}

export function saveFirstSeen(dir: string, source: string, m: Map<string, number>): void {
  const f = file(dir, source);
  const parts: string[] = [];
  for (const [name, t] of m) parts.push(`${name}\t${t}\n`);
  writeFileSync(`${f}.tmp`, parts.join(''));
  renameSync(`${f}.tmp`, f);
}
