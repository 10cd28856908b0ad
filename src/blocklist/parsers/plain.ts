// Plain domain list: one name per line, '#' comments. Real C2 lists (maltrail, signature-base)
// mix in IP:port, URLs, host/path entries and hashes: each token is classified, IPs go to the IP
// table, a URL contributes its host (marked as URL-derived so the guard can refuse shared hosts),
// hashes and e-mail addresses are ignored by category, and nothing is ever split at '@'.
//
// Most lines of a big list are one name already in normalised form: those are recognised by one
// scan of their characters and handed over as a range of the text. Every other line takes the
// general path (classification, URL parsing, IDN), with the same result as before.
import { scanName, scanned } from '../domain.js';
import { classifyToken, takeClassified } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import { eachLineRange, isBlank, type LineCursor, type NameSink } from './lines.js';
import type { ParseReport } from './report.js';
import type { Parser } from './types.js';

/** Scans from `from` (the start when null) for at most `maxLines` lines; returns where to resume, or null when done. */
export function scanPlain(text: string, report: ParseReport, sink: NameSink, from: LineCursor | null = null, maxLines = Infinity): LineCursor | null {
  const slow: ListEntry[] = [];
  return eachLineRange(
    text,
    (start, end, line) => {
      let i = start;
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      if (i === end || text.charCodeAt(i) === 35) return;
      const t = i;
      const te = (i = scanName(text, i, end));
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      // A bare host name's last label has a letter (classifyToken): `1.2.3` is not one.
      if ((i === end || text.charCodeAt(i) === 35) && scanned.canonical && scanned.tldLetter) {
        report.accepted++;
        sink.name(t, te, line, scanned.hash);
        return;
      }
      const raw = text.slice(start, end);
      const hash = raw.indexOf('#');
      const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
      if (content === '') return;
      if (/\s/.test(content)) {
        report.reject(line, raw, 'more than one field on a line of a plain domain list');
        return;
      }
      takeClassified(classifyToken(content), content, slow, report, line, raw, {});
      for (const e of slow) sink.entry(e);
      slow.length = 0;
    },
    from,
    maxLines,
  );
}

export const parsePlain: Parser = (text, report) => {
  const out: ListEntry[] = [];
  scanPlain(text, report, { name: (start, end, line) => out.push({ name: text.slice(start, end), match: null, line }), entry: (e) => out.push(e) });
  return out;
};
