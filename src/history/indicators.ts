// Where hunt indicators come from: the configured lists (as loaded by the FeedManager) or a plain
// file of names. The one place that reads a compiled source's rules, so a change of their
// in-memory form touches only `sourceRules`.
import { readFile } from 'node:fs/promises';
import type { SourceState } from '../feeds/manager.js';
import { normaliseName } from './format.js';

export interface IndicatorRule {
  name: string;
  kind: 'block' | 'allow';
  /** Epoch ms when c2dns first saw the rule in its list. */
  firstSeen: number;
}

/** The rules of one source, in the form the history needs. */
export function sourceRules(s: SourceState): IndicatorRule[] {
  const rules = s.compiled?.rules ?? [];
  return rules.map((r) => ({ name: r.rule, kind: r.kind, firstSeen: r.firstSeen }));
}

/** Block names of the named lists (every block list when `lists` is empty). Unknown list names throw. */
export function listBlockNames(sources: readonly SourceState[], lists: readonly string[] = []): Set<string> {
  const unknown = lists.filter((l) => !sources.some((s) => s.config.name === l));
  if (unknown.length > 0) throw new Error(`no list named ${unknown.join(', ')} in the configuration`);
  const out = new Set<string>();
  for (const s of sources) {
    if (lists.length > 0 ? !lists.includes(s.config.name) : s.config.kind !== 'block') continue;
    for (const r of sourceRules(s)) if (r.kind === 'block' || lists.length > 0) out.add(r.name);
  }
  return out;
}

/** Per block name, the earliest time any list started blocking it. */
export function blockedSinceByName(sources: readonly SourceState[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of sources) {
    for (const r of sourceRules(s)) {
      if (r.kind !== 'block') continue;
      const prev = out.get(r.name);
      if (prev === undefined || r.firstSeen < prev) out.set(r.name, r.firstSeen);
    }
  }
  return out;
}

/** A plain list: one name per line, `#` comments (whole-line or inline), blank lines, CRLF, a trailing dot, IDN. */
export function parseNamesText(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const hash = line.indexOf('#');
    const s = normaliseName(hash >= 0 ? line.slice(0, hash) : line);
    if (s !== '') out.add(s);
  }
  return out;
}

export async function readNamesFile(path: string): Promise<Set<string>> {
  return parseNamesText(await readFile(path, 'utf8'));
}
