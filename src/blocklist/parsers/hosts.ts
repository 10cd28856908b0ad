// hosts(5) format: "ADDRESS NAME [NAME...]". The address is the list author's sinkhole and is
// ignored (our answer is configured); the names block themselves and their subdomains.
//
// A line whose names are all in normalised form is handled by one scan of its characters (the
// names handed over as ranges of the text); any other line takes the general path.
import { isIP } from 'node:net';
import { isCanonicalName, normalizeDomain, scanName, scanned } from '../domain.js';
import type { ListEntry } from '../rule.js';
import { eachLineRange, isBlank, type LineCursor, type NameSink } from './lines.js';
import type { ParseReport } from './report.js';

/** Names every hosts file carries for the machine itself; never list entries. */
const BOILERPLATE = new Set([
  'localhost',
  'localhost.localdomain',
  'local',
  'broadcasthost',
  'ip6-localhost',
  'ip6-loopback',
  'ip6-localnet',
  'ip6-mcastprefix',
  'ip6-allnodes',
  'ip6-allrouters',
  'ip6-allhosts',
  '0.0.0.0',
]);
/** The boilerplate names that are also in normalised form (the fast path must skip them too). */
const CANONICAL_BOILERPLATE = [...BOILERPLATE].filter((b) => isCanonicalName(b, 0, b.length));
/** Sinkhole addresses of nearly every hosts list, compared before asking isIP. */
const COMMON_ADDRESSES = ['0.0.0.0', '127.0.0.1', '::', '::1'];

function isAddress(text: string, start: number, end: number): boolean {
  for (const a of COMMON_ADDRESSES) if (end - start === a.length && text.startsWith(a, start)) return true;
  return isIP(text.slice(start, end)) !== 0;
}

function isBoilerplate(text: string, start: number, end: number): boolean {
  for (const b of CANONICAL_BOILERPLATE) if (end - start === b.length && text.startsWith(b, start)) return true;
  return false;
}

/** Scans from `from` (the start when null) for at most `maxLines` lines; returns where to resume, or null when done. */
export function scanHosts(text: string, report: ParseReport, sink: NameSink, from: LineCursor | null = null, maxLines = Infinity): LineCursor | null {
  const found: number[] = [];
  return eachLineRange(
    text,
    (start, end, line) => {
      let i = start;
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      if (i === end || text.charCodeAt(i) === 35) return;
      found.length = 0;
      let fast = false;
      const a = i;
      while (i < end && !isBlank(text.charCodeAt(i)) && text.charCodeAt(i) !== 35) i++;
      if (i < end && isBlank(text.charCodeAt(i)) && isAddress(text, a, i)) {
        fast = true;
        for (;;) {
          while (i < end && isBlank(text.charCodeAt(i))) i++;
          if (i === end || text.charCodeAt(i) === 35) break;
          const t = i;
          i = scanName(text, i, end);
          if ((i < end && !isBlank(text.charCodeAt(i)) && text.charCodeAt(i) !== 35) || !scanned.canonical) {
            fast = false;
            break;
          }
          found.push(t, i);
        }
      }
      if (fast && found.length > 0) {
        for (let k = 0; k < found.length; k += 2) {
          if (isBoilerplate(text, found[k]!, found[k + 1]!)) continue;
          report.accepted++;
          scanName(text, found[k]!, found[k + 1]!); // `scanned` describes the name handed over
          sink.name(found[k]!, found[k + 1]!, line, scanned.hash);
        }
        return;
      }
      const raw = text.slice(start, end);
      const hash = raw.indexOf('#');
      const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
      if (content !== '') slowLine(content, line, raw, report, sink);
    },
    from,
    maxLines,
  );
}

function slowLine(content: string, line: number, raw: string, report: ParseReport, sink: NameSink): void {
  const fields = content.split(/\s+/);
  if (fields.length < 2 || isIP(fields[0]!) === 0) {
    report.reject(line, raw, 'not "ADDRESS NAME [NAME...]"');
    return;
  }
  for (let i = 1; i < fields.length; i++) {
    const f = fields[i]!;
    if (BOILERPLATE.has(f.toLowerCase())) continue;
    const n = normalizeDomain(f);
    if (!n.ok) {
      report.reject(line, raw, `${f}: ${n.reason}`);
      continue;
    }
    report.accepted++;
    sink.entry({ name: n.name, match: null, line });
  }
}

export function parseHosts(text: string, report: ParseReport): ListEntry[] {
  const out: ListEntry[] = [];
  scanHosts(text, report, { name: (start, end, line) => out.push({ name: text.slice(start, end), match: null, line }), entry: (e) => out.push(e) });
  return out;
}
