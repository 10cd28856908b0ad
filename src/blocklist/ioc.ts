// Shared helpers for threat-intel formats: undo defanging, decide what kind of indicator a token
// is (by its shape, never by a label alone), and hand names and addresses to the parser's output.
import { isIP } from 'node:net';
import { normalizeDomain } from './domain.js';
import type { ListEntry } from './rule.js';
import type { ParseReport } from './parsers/report.js';

// Every notation refang handles needs one of these; most values have none and skip the rewrites.
const DEFANG_HINT = /[[({\\`*+]|h[x*]{2}p|hxtp|htxp|fxp/i;

/**
 * Undoes the usual defanging and strips Markdown/AsciiDoc inline wrappers. Only the notations
 * below are rewritten; anything else is left for validation to reject (a leftover `[` is never a
 * name character). Idempotent.
 */
export function refang(text: string): string {
  if (!DEFANG_HINT.test(text)) return text;
  return (
    text
      // Scheme first: `h**p` contains the `**` that the Markdown rule below removes.
      .replace(/\b(?:h[x*]{2}p|hxtp|htxp|http)(s|\[s\])?(?=\[?:|\[:\/\/\]|\(:\))/gi, (_m, s?: string) => (s ? 'https' : 'http'))
      .replace(/\bfxp(?=\[?:|\[:\/\/\])/gi, 'ftp')
      .replace(/\[:\/\/\]/g, '://')
      .replace(/\[:\]|\(:\)|\{:\}/g, ':')
      .replace(/\[\/\]/g, '/')
      .replace(/\s*[[({]\s*(?:\.|dot)\s*[\])}]\s*/gi, '.')
      .replace(/\\\./g, '.')
      .replace(/[[({](?:@|at)[\])}]/gi, '@')
      // Markdown code/bold and AsciiDoc passthrough (`+…+`): markup, never part of an indicator.
      .replace(/`/g, '')
      .replace(/\*\*/g, '')
      .replace(/(^|[\s|(,;])\+([^\s+][^\s]*?)\+(?=$|[\s|),;.])/g, '$1$2')
  );
}

export type HashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

export type TokenClass =
  | { kind: 'hostname'; host: string }
  | { kind: 'ip'; ip: string }
  | { kind: 'ip-port'; ip: string; port: number }
  | { kind: 'cidr'; cidr: string }
  /** host: without port or brackets; ip: the host when it is an address literal, else null. */
  | { kind: 'url' | 'host-path'; host: string; ip: string | null; url: string }
  | { kind: 'email' }
  | { kind: 'hash'; algorithm: HashAlgorithm }
  | { kind: 'other' };

const HASH_BY_LENGTH: Record<number, HashAlgorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512' };

// Labels of letters/digits/marks plus `_` and `-`, separated by ASCII or the dots UTS-46 maps to
// '.'; format characters are let through so that validation can reject them with a reason.
const LABEL = String.raw`[\p{L}\p{N}\p{M}\p{Cf}_-]+`;
const DOT = String.raw`[.\u3002\uff0e\uff61]`;
const HOSTNAME = new RegExp(`^${LABEL}(?:${DOT}${LABEL})+${DOT}?$`, 'u');
// The last label must have a letter: `18.12.407` is a version number, `1.2.3` an address form.
const TLD_HAS_LETTER = /\p{L}[^.\u3002\uff0e\uff61]*[.\u3002\uff0e\uff61]?$/u;
const SPECIAL_SCHEMES = new Set(['http:', 'https:', 'ftp:', 'ws:', 'wss:']);

/** Address or prefix → canonical CIDR text ("192.0.2.1/32", "2001:db8::/32"), or null. */
export function toCidr(text: string): string | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  let addr = (slash >= 0 ? t.slice(0, slash) : t).replace(/^\[|\]$/g, '');
  // A zone id (fe80::1%eth0) names an interface on the feed author's machine.
  addr = addr.replace(/%.*$/, '');
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return null;
    prefix = Number(p);
  }
  if (family === 6) addr = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  return `${addr}/${prefix}`;
}

function hostOfAuthority(token: string): string {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)/i.exec(token);
  let auth = m?.[1] ?? '';
  const at = auth.lastIndexOf('@');
  if (at >= 0) auth = auth.slice(at + 1);
  if (auth.startsWith('[')) return auth.slice(1, auth.indexOf(']') >= 0 ? auth.indexOf(']') : undefined);
  return auth.replace(/:\d*$/, '');
}

function fromUrl(url: URL, raw: string, kind: 'url' | 'host-path'): TokenClass {
  let host = url.hostname;
  if (host === '') return { kind: 'other' };
  if (host.startsWith('[')) host = host.slice(1, -1);
  // The URL parser silently drops some invisible characters (U+200B) while mapping the host; a
  // name that hides one must reach validation as written, to be rejected.
  const rawHost = hostOfAuthority(raw);
  if (/\p{Cf}/u.test(rawHost)) host = rawHost;
  const ip = isIP(host) !== 0 ? host : null;
  return { kind, host, ip, url: raw };
}

/**
 * What an indicator token is, by its shape. The token should already be refanged; surrounding
 * whitespace and invisible format characters at its edges are ignored. URLs go through the
 * WHATWG parser (IDNA mapping, IPv4 shorthand, ports); e-mail addresses are never split.
 */
export function classifyToken(token: string): TokenClass {
  const t = token.trim().replace(/^\p{Cf}+|\p{Cf}+$/gu, '').trim();
  if (t === '') return { kind: 'other' };
  if (/^mailto:/i.test(t)) return { kind: 'email' };

  if (/^[0-9a-f]+$/i.test(t)) {
    const algorithm = HASH_BY_LENGTH[t.length];
    if (algorithm !== undefined) return { kind: 'hash', algorithm };
  }

  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(t);
  if (scheme !== null) {
    let url: URL;
    try {
      url = new URL(t);
      // Non-special schemes (tcp://, udp://) keep an opaque, percent-encoded host; parse the same
      // authority as http to get the real host processing.
      if (!SPECIAL_SCHEMES.has(url.protocol)) url = new URL(`http${t.slice(scheme[1]!.length)}`);
    } catch {
      return { kind: 'other' };
    }
    return fromUrl(url, t, 'url');
  }

  const at = t.indexOf('@');
  const slash = t.indexOf('/');
  if (at >= 0 && (slash < 0 || at < slash)) {
    return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(t) ? { kind: 'email' } : { kind: 'other' };
  }

  const bare = t.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return { kind: 'ip', ip: bare };
  const ipPort = /^(?:\[([^\]]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(t);
  if (ipPort !== null) {
    const ip = ipPort[1] ?? ipPort[2]!;
    const port = Number(ipPort[3]);
    if (isIP(ip) !== 0 && port <= 65535) return { kind: 'ip-port', ip, port };
  }
  if (slash >= 0) {
    const cidr = toCidr(t);
    if (cidr !== null) return { kind: 'cidr', cidr };
    const head = hostOfAuthority(t);
    if (head === '' || !(isIP(head) !== 0 || isHostShape(head))) return { kind: 'other' };
    try {
      return fromUrl(new URL(`http://${t}`), t, 'host-path');
    } catch {
      return { kind: 'other' };
    }
  }

  const hostPort = /^(.*):(\d{1,5})$/.exec(t);
  const host = hostPort !== null && Number(hostPort[2]) <= 65535 ? hostPort[1]! : t;
  if (isHostShape(host)) return { kind: 'hostname', host };
  return { kind: 'other' };
}

function isHostShape(s: string): boolean {
  return HOSTNAME.test(s) && TLD_HAS_LETTER.test(s);
}

/** Provenance carried onto an entry. */
export interface EntryExtras {
  ref?: string;
  fromUrl?: string;
  tags?: string[];
  expiresAt?: number;
}

/**
 * Normalises `raw` and appends it as an entry, or rejects it with the normaliser's reason.
 * `shown` is the text quoted in the rejection (the line, or the indicator and value).
 */
export function pushName(out: ListEntry[], report: ParseReport, raw: string, line: number, shown: string, extras: EntryExtras = {}): boolean {
  const n = normalizeDomain(raw);
  if (!n.ok) {
    report.reject(line, shown, `${raw.trim()}: ${n.reason}`);
    return false;
  }
  report.accepted++;
  const e: ListEntry = { name: n.name, match: null, line };
  if (extras.ref !== undefined) e.ref = extras.ref;
  if (extras.fromUrl !== undefined) e.fromUrl = extras.fromUrl;
  if (extras.tags !== undefined && extras.tags.length > 0) e.tags = extras.tags;
  if (extras.expiresAt !== undefined) e.expiresAt = extras.expiresAt;
  out.push(e);
  return true;
}

/** Records an address or prefix for the response-IP stage, or rejects it. */
export function pushIp(report: ParseReport, raw: string, line: number, shown: string, ref?: string): boolean {
  const cidr = toCidr(raw);
  if (cidr === null) {
    report.reject(line, shown, `${raw.trim()}: not an IP address or prefix`);
    return false;
  }
  report.ips.push({ cidr, line, trigger: 'response-ip', kind: 'block', ...(ref !== undefined ? { ref } : {}) });
  return true;
}

/**
 * The common end of every IOC path: a classified token becomes a name entry, an IP entry, an
 * ignore by category, or a rejection. `urlIoc` marks bare host names that the source says are
 * URL indicators (URLhaus), so they carry fromUrl as well.
 */
export function takeClassified(
  c: TokenClass,
  value: string,
  out: ListEntry[],
  report: ParseReport,
  line: number,
  shown: string,
  extras: EntryExtras,
  urlIoc = false,
): void {
  switch (c.kind) {
    case 'hostname':
      pushName(out, report, c.host, line, shown, urlIoc ? { ...extras, fromUrl: value } : extras);
      return;
    case 'url':
    case 'host-path':
      if (c.ip !== null) pushIp(report, c.ip, line, shown, extras.ref);
      else pushName(out, report, c.host, line, shown, { ...extras, fromUrl: c.url });
      return;
    case 'ip':
    case 'ip-port':
      pushIp(report, c.ip, line, shown, extras.ref);
      return;
    case 'cidr':
      pushIp(report, c.cidr, line, shown, extras.ref);
      return;
    case 'email':
      report.ignore('email');
      return;
    case 'hash':
      report.ignore(c.algorithm);
      return;
    case 'other': {
      const n = normalizeDomain(value);
      report.reject(line, shown, `${value.trim()}: ${n.ok ? 'not a host name, URL or IP address' : n.reason}`);
      return;
    }
  }
}
