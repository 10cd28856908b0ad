// Plain domain list: one name per line, '#' comments. Real C2 lists (maltrail, signature-base)
// mix in IP:port, URLs, host/path entries and hashes: each token is classified, IPs go to the IP
// table, a URL contributes its host (marked as URL-derived so the guard can refuse shared hosts),
// hashes and e-mail addresses are ignored by category, and nothing is ever split at '@'.
import { classifyToken, takeClassified } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import { forEachLine } from './lines.js';
import type { Parser } from './types.js';

export const parsePlain: Parser = (text, report) => {
  const out: ListEntry[] = [];
  forEachLine(text, (content, line, raw) => {
    if (/\s/.test(content)) {
      report.reject(line, raw, 'more than one field on a line of a plain domain list');
      return;
    }
    takeClassified(classifyToken(content), content, out, report, line, raw, {});
  });
  return out;
};
