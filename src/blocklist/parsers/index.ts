// The format registry: adding a format is one parser file and one line here.
import type { ListEntry } from '../rule.js';
import { parseHosts } from './hosts.js';
import { parsePlain } from './plain.js';
import type { ParseReport } from './report.js';

export type Parser = (text: string, report: ParseReport) => ListEntry[];

export const PARSERS = {
  plain: parsePlain,
  hosts: parseHosts,
} satisfies Record<string, Parser>;

export type ListFormat = keyof typeof PARSERS;
export const LIST_FORMATS = Object.keys(PARSERS) as [ListFormat, ...ListFormat[]];

/** Guesses the format from the first meaningful lines: "IP name" → hosts, else plain. */
export function detectFormat(text: string): ListFormat {
  const sample = text.slice(0, 64 * 1024).split(/\r?\n/);
  let hosts = 0;
  let plain = 0;
  for (const raw of sample) {
    const l = raw.replace(/#.*/, '').trim();
    if (l === '') continue;
    if (/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+:[0-9a-f:.]*)\s+\S/i.test(l)) hosts++;
    else plain++;
    if (hosts + plain >= 50) break;
  }
  return hosts > plain ? 'hosts' : 'plain';
}
