// Plain domain list: one name per line, '#' comments. Each name blocks itself and its subdomains.
import { normalizeDomain } from '../domain.js';
import type { ListEntry } from '../rule.js';
import { forEachLine } from './lines.js';
import type { ParseReport } from './report.js';

export function parsePlain(text: string, report: ParseReport): ListEntry[] {
  const out: ListEntry[] = [];
  forEachLine(text, (content, line, raw) => {
    if (/\s/.test(content)) {
      report.reject(line, raw, 'more than one field on a line of a plain domain list');
      return;
    }
    const n = normalizeDomain(content);
    if (!n.ok) {
      report.reject(line, raw, n.reason);
      return;
    }
    report.accepted++;
    out.push({ name: n.name, match: null, line });
  });
  return out;
}
