// Report-style indicator text: defanged lists, Markdown/AsciiDoc tables, IOC sections pasted from
// vendor write-ups, mixed plain lists (maltrail). Every token is refanged and classified by shape;
// host names and URL hosts become entries, addresses go to the IP table, the rest is counted.
import { parse as parseHost } from 'tldts';
import { normalizeDomain } from '../domain.js';
import { classifyToken, refang, takeClassified } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import type { Parser } from './types.js';

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}', '<': '>', '"': '"', "'": "'", '“': '”', '‘': '’', '«': '»' };
const CLOSERS = new Set(Object.values(OPENERS));

/** Strips prose punctuation around a token: quotes, brackets, a sentence's final period or comma. */
export function trimToken(token: string): string {
  let t = token;
  for (;;) {
    const first = t[0];
    const last = t[t.length - 1];
    if (t.length === 0 || first === undefined || last === undefined) return t;
    const close = OPENERS[first];
    if (close !== undefined && last === close && t.length >= 2) t = t.slice(1, -1);
    else if (close !== undefined && !t.includes(close, 1)) t = t.slice(1);
    else if (CLOSERS.has(last) && !Object.keys(OPENERS).some((o) => OPENERS[o] === last && t.slice(0, -1).includes(o))) t = t.slice(0, -1);
    else if ('.,;:!?'.includes(last)) t = t.slice(0, -1);
    else return t;
  }
}

/**
 * A bare token is taken as a host name only when it ends in a real top-level domain: report
 * prose is full of file names (ffmpeg.dll, libffmpeg.dylib) and abbreviations (e.g.) that have
 * the shape of a name. URL hosts are explicit and skip this check.
 */
function hasIcannSuffix(name: string): boolean {
  return parseHost(name, { allowPrivateDomains: false }).isIcann === true;
}

export const parseIocText: Parser = (text, report) => {
  const out: ListEntry[] = [];
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const trimmed = raw.trim();
    // '#' starts a comment in IOC lists and a heading in Markdown: neither holds indicators, and
    // maltrail's "# Reference: https://www.3cx.com/…" lines must not become entries.
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    // An inline comment needs whitespace before '#', so URL fragments survive.
    const content = refang(trimmed.replace(/\s#.*$/, ''));
    // Markdown links, [text](url), hold two tokens.
    for (const piece of content.replace(/\]\(/g, '] (').split(/[\s|,]+/)) {
      const token = trimToken(piece);
      if (token === '' || /^[-:=*+_~]+$/.test(token)) continue;
      // NUL and other control bytes mean binary junk or a broken decode (A8): say so.
      if (/\p{Cc}/u.test(token)) {
        report.reject(lineNo, raw, `${JSON.stringify(token)}: control character in the token`);
        continue;
      }
      const c = classifyToken(token);
      if (c.kind === 'hostname') {
        // Names that fail validation fall through to be rejected with the reason.
        const n = normalizeDomain(c.host);
        if (n.ok && !hasIcannSuffix(n.name)) {
          report.ignore('unknown-tld');
          continue;
        }
      }
      if (c.kind === 'other') {
        report.ignore('other');
        continue;
      }
      takeClassified(c, token, out, report, lineNo, raw, {});
    }
  }
  return out;
};
