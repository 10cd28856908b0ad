// AdGuard DNS filtering syntax (the DNS subset of Adblock Plus rules, FORMATS.md §4):
//   rule = ["@@"] pattern ["$" modifiers]
// c2dns matches whole names and name suffixes, so only patterns that mean exactly that become
// entries: `||d^` (d and below), `|d^|` and bare `d` (d only), `||*.d^` (below d only). Patterns
// that need substring or regex matching are reported as unsupported, never approximated wider.
import { isIP } from 'node:net';
import { normalizeDomain } from '../domain.js';
import { toCidr } from '../ioc.js';
import type { IpEntry, ListEntry, MatchMode } from '../rule.js';
import type { ParseReport } from './report.js';
import type { Parser } from './types.js';

/** Modifiers c2dns enforces. */
const SUPPORTED = new Set(['important', 'badfilter']);
/** Documented DNS modifiers c2dns does not enforce yet: the rule is known, shown as unsupported. */
const KNOWN_DNS = new Set(['client', 'dnstype', 'dnsrewrite', 'denyallow', 'ctag', 'respgeo']);

// Cosmetic and HTML-filtering separators (`##`, `#@#`, `#$#`, `#?#`, `#@$?#`, `#%#`, `$$`, `$@$`):
// rules for a browser page, never for DNS, even though they start with a host name.
const COSMETIC = /#@?(?:\$\??|\?|%)?#|\$@?\$/;
const COSMETIC_AT_START = /^#@?(?:\$\??|\?|%)?#/;

/** What one rule line turned into, held back until every $badfilter is known (they may come later). */
type Outcome =
  | { t: 'entry'; entry: ListEntry }
  | { t: 'ip'; ip: IpEntry }
  | { t: 'reject'; reason: string }
  | { t: 'unsupported'; reason: string }
  | { t: 'ignore'; category: string };

interface Pending {
  line: number;
  raw: string;
  /** Rule text in canonical form, to compare with $badfilter rules. */
  key: string;
  outcome: Outcome;
}

export const parseAdblock: Parser = (text, report) => {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  const pending: Pending[] = [];
  const disabled = new Set<string>();

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = i + 1;
    const s = raw.trim();
    if (s === '') continue;
    // `!#if`, `!#include`: conditions are not evaluated (c2dns has no platform to test) and
    // includes are never fetched; the rules between directives are read like any other.
    if (s.startsWith('!#') || /^\[[^\]]*\]$/.test(s)) {
      report.ignore('preprocessor');
      continue;
    }
    if (s.startsWith('!')) continue;
    if (s.startsWith('#') && !COSMETIC_AT_START.test(s)) continue;
    if (COSMETIC.test(s)) {
      report.ignore('cosmetic');
      continue;
    }

    const rule = parseRule(s);
    if (rule.badfilterOf !== null) {
      disabled.add(rule.badfilterOf);
      report.ignore('badfilter');
      continue;
    }
    pending.push({ line, raw, key: rule.key, outcome: rule.outcome });
  }

  const out: ListEntry[] = [];
  for (const p of pending) {
    if (disabled.has(p.key)) {
      report.ignore('disabled-by-badfilter');
      continue;
    }
    emit(p, report, out);
  }
  return out;
};

function emit(p: Pending, report: ParseReport, out: ListEntry[]): void {
  const o = p.outcome;
  switch (o.t) {
    case 'entry':
      o.entry.line = p.line;
      report.accepted++;
      out.push(o.entry);
      return;
    case 'ip':
      o.ip.line = p.line;
      report.ips.push(o.ip);
      return;
    case 'reject':
      report.reject(p.line, p.raw, o.reason);
      return;
    case 'unsupported':
      report.unsupportedRule(p.line, p.raw, o.reason);
      return;
    case 'ignore':
      report.ignore(o.category);
      return;
  }
}

interface ParsedRule {
  key: string;
  outcome: Outcome;
  /** For a $badfilter rule: the key of the rule it disables; otherwise null. */
  badfilterOf: string | null;
}

function parseRule(s: string): ParsedRule {
  const allow = s.startsWith('@@');
  const rest = allow ? s.slice(2) : s;
  const split = splitModifiers(rest);
  const pattern = split.pattern;
  const key = (mods: readonly string[]) =>
    `${allow ? '@@' : ''}${pattern.toLowerCase()}${mods.length > 0 ? `$${[...mods].sort().join(',')}` : ''}`;
  const done = (outcome: Outcome): ParsedRule => ({ key: key(split.ok ? split.modifiers : []), outcome, badfilterOf: null });

  if (!split.ok) return done({ t: 'reject', reason: split.reason });
  const names = split.modifiers.map(modifierName);
  if (names.some((n) => n === '')) return done({ t: 'reject', reason: 'empty modifier' });
  // AdGuard: "If a rule contains a modifier not listed in this document, the whole rule must be ignored."
  const unknown = names.find((n) => !SUPPORTED.has(n) && !KNOWN_DNS.has(n));
  if (unknown !== undefined) return done({ t: 'ignore', category: 'unsupported-modifier' });
  for (const m of split.modifiers) {
    if (SUPPORTED.has(modifierName(m)) && m.includes('=')) return done({ t: 'reject', reason: `$${modifierName(m)} takes no value` });
  }
  if (names.includes('badfilter')) {
    return { key: '', outcome: { t: 'ignore', category: 'badfilter' }, badfilterOf: key(split.modifiers.filter((m) => m !== 'badfilter')) };
  }
  const dns = names.find((n) => KNOWN_DNS.has(n));
  if (dns !== undefined) return done({ t: 'unsupported', reason: `$${dns} is a DNS modifier c2dns does not enforce yet` });
  const important = names.includes('important');
  return done(classify(pattern, allow, important));
}

/** Turns a pattern into an entry, an IP, or the reason it is not one. */
function classify(pattern: string, allow: boolean, important: boolean): Outcome {
  if (pattern === '') return { t: 'reject', reason: 'empty pattern' };
  if (/\s/.test(pattern)) return { t: 'reject', reason: 'whitespace inside a pattern (a hosts-style line in an adblock list?)' };
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    return { t: 'unsupported', reason: 'regular-expression rule: c2dns has no regex matching (names and suffixes only)' };
  }

  let body = pattern;
  let start: 'domain' | 'host' | 'none' = 'none';
  if (body.startsWith('||')) {
    start = 'domain';
    body = body.slice(2);
  } else if (body.startsWith('|')) {
    start = 'host';
    body = body.slice(1);
  }
  let endAnchored = false;
  if (body.endsWith('|')) {
    endAnchored = true;
    body = body.slice(0, -1);
  }
  if (body.endsWith('^')) {
    endAnchored = true;
    body = body.slice(0, -1);
  }

  if (body.includes('/') || body.includes('://')) {
    const cidr = asCidr(body);
    if (cidr !== null) return ipOutcome(cidr, allow);
    return { t: 'ignore', category: 'path-rule' };
  }
  if (/^[*.]*$/.test(body)) return { t: 'reject', reason: 'the pattern matches every name' };
  const ip = body.startsWith('[') && body.endsWith(']') ? body.slice(1, -1) : body;
  if (isIP(ip) !== 0) return ipOutcome(`${ip}/${isIP(ip) === 4 ? 32 : 128}`, allow);

  let match: MatchMode;
  // `.d^` without a start anchor matches any name ending in ".d": exactly the names below d.
  if (start === 'none' && body.startsWith('.')) body = `*${body}`;
  if (body.startsWith('*.') && !body.slice(2).includes('*')) {
    // `*` absorbs any prefix, so the start anchor no longer matters: names strictly below.
    match = 'below';
    body = body.slice(2);
  } else if (body.includes('*')) {
    return { t: 'unsupported', reason: "'*' inside a pattern: c2dns matches names and suffixes only" };
  } else if (start === 'none' && endAnchored) {
    // `x.com^` also matches "evilx.com": a character suffix, not a name suffix.
    return { t: 'unsupported', reason: 'pattern without a start anchor matches any name ending in this text: c2dns matches names and suffixes only' };
  } else {
    // A missing `^` is read as if present (AdGuard would also match longer names starting with
    // the text): narrower, never wider, than the list meant.
    match = start === 'domain' ? 'subtree' : 'exact';
  }

  const n = normalizeDomain(body);
  if (!n.ok) return { t: 'reject', reason: n.reason };
  const entry: ListEntry = { name: n.name, match, line: 0 };
  if (allow) entry.kind = 'allow';
  if (important) entry.important = true;
  return { t: 'entry', entry };
}

function ipOutcome(cidr: string, allow: boolean): Outcome {
  return { t: 'ip', ip: { cidr, line: 0, trigger: 'response-ip', kind: allow ? 'allow' : 'block' } };
}

/** "a.b.c.d/n" or "v6/n" with a valid prefix length, in canonical form, else null. */
function asCidr(s: string): string | null {
  return s.includes('/') ? toCidr(s) : null;
}

function modifierName(m: string): string {
  const eq = m.indexOf('=');
  return (eq >= 0 ? m.slice(0, eq) : m).trim();
}

type Split = { ok: true; pattern: string; modifiers: string[] } | { ok: false; pattern: string; reason: string };

/**
 * Splits "pattern$mod1,mod2=value". A regex pattern may itself contain `$`, so for `/…/` the
 * modifiers start after the closing slash. Commas inside quotes or after a backslash belong to
 * the value ($client='a\,b').
 */
function splitModifiers(rule: string): Split {
  let dollar: number;
  if (rule.startsWith('/')) {
    const m = /^\/.*\/(?=\$|$)/.exec(rule);
    dollar = m === null ? rule.indexOf('$') : m[0].length;
  } else {
    dollar = rule.indexOf('$');
  }
  if (dollar < 0 || dollar >= rule.length) return { ok: true, pattern: rule, modifiers: [] };
  const pattern = rule.slice(0, dollar);
  const text = rule.slice(dollar + 1);
  const modifiers: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      cur += c + text[++i]!;
    } else if (quote !== '') {
      if (c === quote) quote = '';
      cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (c === ',') {
      modifiers.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  if (quote !== '') return { ok: false, pattern, reason: 'unterminated quote in the modifiers' };
  modifiers.push(cur.trim());
  return { ok: true, pattern, modifiers };
}
