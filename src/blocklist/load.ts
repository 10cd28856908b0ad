// Reads the configured list files and builds one trie from them. A list that cannot be read
// stops startup with the file named: silently starting without a blocklist is not an option.
import { readFile } from 'node:fs/promises';
import { detectFormat, PARSERS, type ListFormat } from './parsers/index.js';
import { ParseReport, type RejectedLine } from './parsers/report.js';
import { makeRule, type BlockAction, type MatchMode } from './rule.js';
import { DomainTrie } from './trie.js';

export interface ListSource {
  name: string;
  path: string;
  format: ListFormat | 'auto';
  kind: 'block' | 'allow';
  action: BlockAction | null;
  /** How bare names (formats without their own match syntax) match. */
  match?: MatchMode;
  tags?: string[];
}

export interface ListStatus {
  name: string;
  path: string;
  kind: 'block' | 'allow';
  format: ListFormat;
  entries: number;
  rejected: number;
  rejectedExamples: RejectedLine[];
}

export class ListLoadError extends Error {}

export async function loadLists(sources: readonly ListSource[]): Promise<{ trie: DomainTrie; status: ListStatus[] }> {
  const trie = new DomainTrie();
  const status: ListStatus[] = [];
  for (const src of sources) {
    let text: string;
    try {
      text = await readFile(src.path, 'utf8');
    } catch (err) {
      throw new ListLoadError(`list "${src.name}": cannot read ${src.path}: ${(err as Error).message}`);
    }
    const format = src.format === 'auto' ? detectFormat(text) : src.format;
    const report = new ParseReport();
    const entries = PARSERS[format](text, report);
    const defaults = { list: src.name, kind: src.kind, match: src.match ?? 'subtree', action: src.action, tags: src.tags ?? [], firstSeen: Date.now() };
    for (const e of entries) trie.add(makeRule(e, defaults));
    status.push({
      name: src.name,
      path: src.path,
      kind: src.kind,
      format,
      entries: entries.length,
      rejected: report.rejected,
      rejectedExamples: report.examples,
    });
  }
  return { trie, status };
}
