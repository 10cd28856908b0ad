// Wildcard domain list: one name per line, '#' comments. `*.example.com` means the names below
// example.com and not example.com itself (DNS/RPZ wildcard semantics, FORMATS.md §3): a list that
// wants the apex too lists it on its own line. A bare name takes the source's default match.
import { normalizeDomain } from '../domain.js';
import type { ListEntry } from '../rule.js';
import { forEachLine } from './lines.js';
import type { Parser } from './types.js';

export const parseWildcard: Parser = (text, report) => {
  const out: ListEntry[] = [];
  forEachLine(text, (content, line, raw) => {
    if (/\s/.test(content)) {
      report.reject(line, raw, 'more than one field on a line of a wildcard list');
      return;
    }
    let name = content;
    let below = false;
    if (name.startsWith('*.')) {
      name = name.slice(2);
      below = true;
    }
    if (name === '' || name === '*' || name === '.') {
      report.reject(line, raw, 'a bare wildcard would match every name');
      return;
    }
    if (name.includes('*')) {
      // Anywhere else `*` is either a literal label (DNS) or a pattern (adblock): neither is a name.
      report.reject(line, raw, "'*' is only a wildcard as the whole leftmost label ('*.example.com')");
      return;
    }
    if (below && !name.replace(/\.$/, '').includes('.')) {
      report.reject(line, raw, 'a wildcard over a single label would block a whole top-level domain');
      return;
    }
    const n = normalizeDomain(name);
    if (!n.ok) {
      report.reject(line, raw, n.reason);
      return;
    }
    report.accepted++;
    out.push({ name: n.name, match: below ? 'below' : null, line });
  });
  return out;
};
