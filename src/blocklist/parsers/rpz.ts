// RPZ (DNS Response Policy Zone) files: RFC 1035 §5.1 master-file syntax, read as policy
// (draft-vixie-dnsop-dns-rpz-00, FORMATS.md §5). The trigger is the owner name minus the zone
// apex; the action is the record data. `x` and `*.x` are separate triggers (the name itself,
// names below it), as RPZ defines; a feed that means both writes both.
import { isIP } from 'node:net';
import { normalizeDomain } from '../domain.js';
import type { EntryAction, IpEntry, ListEntry, LocalRecord } from '../rule.js';
import type { ParseReport } from './report.js';
import type { Parser } from './types.js';

interface Token {
  text: string;
  /** A "quoted string": only meaningful as TXT data. */
  quoted: boolean;
}

/** One resource record or directive, possibly spread over lines by parentheses. */
interface Entry {
  line: number;
  raw: string;
  /** The line starts with a blank: the owner is the previous record's. */
  blankOwner: boolean;
  tokens: Token[];
}

/** A domain name as labels (lower case, escapes decoded); absolute = ends in the root. */
interface Name {
  labels: string[];
  absolute: boolean;
}

type Special = 'nxdomain' | 'nodata' | 'drop' | 'tcp-only' | 'passthru';
type Action =
  | { t: 'special'; v: Special }
  | { t: 'local'; rec: LocalRecord }
  | { t: 'unsupported'; reason: string }
  | { t: 'reject'; reason: string };

/** The records met so far at one trigger, to merge local data and catch conflicts. */
interface Group {
  line: number;
  special: Special | null;
  /** The entry's own local-data list (shared with the entry), or null. */
  local: LocalRecord[] | null;
}

const CLASS = /^(IN|CH|HS|CS|NONE|ANY|CLASS\d+)$/;
const TTL = /^(\d+|(\d+[SMHDW])+)$/;
/** Zone structure and DNSSEC data: "not policy" per the draft. */
const NON_POLICY = new Set(['DNAME', 'RRSIG', 'NSEC', 'NSEC3', 'NSEC3PARAM', 'DNSKEY', 'DS', 'CDS', 'CDNSKEY', 'KEY', 'SIG', 'NXT', 'ZONEMD']);
/** Record types that would be local data, but that c2dns cannot answer with. */
const OTHER_TYPES = new Set([
  'MX', 'SRV', 'PTR', 'NAPTR', 'HINFO', 'CAA', 'SSHFP', 'TLSA', 'SMIMEA', 'SVCB', 'HTTPS', 'LOC', 'RP', 'SPF',
  'URI', 'AFSDB', 'CERT', 'DHCID', 'OPENPGPKEY', 'MINFO', 'MB', 'MG', 'MR', 'WKS', 'X25', 'ISDN', 'RT', 'NULL',
]);

export const parseRpz: Parser = (text, report) => {
  const out: ListEntry[] = [];
  const groups = new Map<string, Group>();
  // No $ORIGIN: names are relative to the zone the server loads the file as, name unknown here.
  let origin: Name = { labels: [], absolute: false };
  let apex: Name | null = null;
  let prevOwner: Name | null = null;

  for (const rec of entries(text, report)) {
    const t = rec.tokens;
    const reject = (reason: string) => report.reject(rec.line, rec.raw, reason);

    if (!rec.blankOwner && !t[0]!.quoted && t[0]!.text.startsWith('$')) {
      const d = t[0]!.text.toUpperCase();
      if (d === '$ORIGIN') {
        if (t.length !== 2) reject('$ORIGIN takes one domain name');
        else {
          const r = resolveName(t[1]!, origin);
          if ('error' in r) reject(`$ORIGIN: ${r.error}`);
          else origin = r;
        }
      } else if (d === '$TTL') {
        if (t.length !== 2 || !TTL.test(t[1]!.text.toUpperCase())) reject('$TTL takes one TTL (seconds, or BIND units such as 2h or 1w2d)');
      } else if (d === '$INCLUDE') {
        reject('$INCLUDE refused: a feed is parsed as one file and never makes c2dns read others');
      } else if (d === '$GENERATE') {
        report.unsupportedRule(rec.line, rec.raw, '$GENERATE (a BIND extension) is not expanded');
      } else {
        reject(`unknown directive ${t[0]!.text}`);
      }
      continue;
    }

    let owner: Name;
    let k: number;
    if (rec.blankOwner) {
      if (prevOwner === null) {
        reject('blank owner, but no valid owner before it');
        continue;
      }
      owner = prevOwner;
      k = 0;
    } else {
      const r = resolveName(t[0]!, origin);
      if ('error' in r) {
        prevOwner = null;
        reject(r.error);
        continue;
      }
      owner = prevOwner = r;
      k = 1;
    }

    // [TTL] [class] type, TTL and class in either order.
    let cls = 'IN';
    for (let n = 0; n < 2 && k < t.length && !t[k]!.quoted; n++) {
      const w = t[k]!.text.toUpperCase();
      if (TTL.test(w)) k++;
      else if (CLASS.test(w)) {
        cls = w;
        k++;
      } else break;
    }
    if (k >= t.length || t[k]!.quoted) {
      reject('no record type');
      continue;
    }
    const type = t[k]!.text.toUpperCase();
    const rdata = t.slice(k + 1);
    if (cls !== 'IN') {
      reject(`class ${cls}: policy records are class IN`);
      continue;
    }

    apex ??= type === 'SOA' ? owner : origin;
    const rel = relativeTo(owner, apex);
    if (typeof rel === 'string') {
      reject(rel);
      continue;
    }
    const atApex = rel.length === 0;
    if (type === 'SOA' || type === 'NS') {
      // The apex SOA and NS make the file a zone; they say nothing about any name.
      if (!atApex) report.ignore('non-policy-record');
      else if (type === 'SOA' && rdata.length !== 7) reject('SOA needs 7 fields: mname rname serial refresh retry expire minimum');
      continue;
    }
    if (NON_POLICY.has(type) || atApex) {
      report.ignore('non-policy-record');
      continue;
    }

    const last = rel[rel.length - 1]!;
    if (last === 'rpz-nsdname' || last === 'rpz-nsip') {
      const what = last === 'rpz-nsdname' ? 'NSDNAME' : 'NSIP';
      report.unsupportedRule(rec.line, rec.raw, `${what} trigger: c2dns does not look at the name servers behind an answer`);
      continue;
    }

    const action = actionOf(type, rdata, origin);
    if (action.t === 'reject') {
      reject(action.reason);
      continue;
    }
    if (action.t === 'unsupported') {
      report.unsupportedRule(rec.line, rec.raw, action.reason);
      continue;
    }

    if (last === 'rpz-ip' || last === 'rpz-client-ip') {
      const ip = decodeIpTrigger(rel.slice(0, -1));
      if (typeof ip === 'string') {
        reject(ip);
        continue;
      }
      const kind = action.t === 'special' && action.v === 'passthru' ? 'allow' : 'block';
      if (ip.len === 0 && kind === 'block') {
        reject('a /0 prefix matches every address');
        continue;
      }
      const key = `${last} ${ip.cidr}`;
      const g = groups.get(key);
      if (g !== undefined) {
        const conflict = merge(g, action);
        if (conflict !== null) reject(conflict);
        continue;
      }
      const group = newGroup(rec.line, action);
      groups.set(key, group);
      const entry: IpEntry = { cidr: ip.cidr, line: rec.line, trigger: last === 'rpz-ip' ? 'response-ip' : 'client-ip', kind };
      // The policy of an IP trigger is its own, as for QNAME triggers; local data shares the
      // group's record list, so records merged later for the same trigger are included.
      if (group.special !== null && group.special !== 'passthru') entry.action = group.special;
      else if (group.local !== null) entry.action = { local: group.local };
      report.ips.push(entry);
      continue;
    }

    // QNAME trigger.
    const below = rel[0] === '*';
    const labels = below ? rel.slice(1) : rel;
    if (labels.length === 0) {
      reject('a wildcard at the zone apex would match every name');
      continue;
    }
    if (labels.includes('*')) {
      reject("'*' is only a wildcard as the whole leftmost label");
      continue;
    }
    if (labels.some((l) => l.includes('.'))) {
      reject('escaped dot inside a label: no query name can match it');
      continue;
    }
    const n = normalizeDomain(labels.join('.'));
    if (!n.ok) {
      reject(n.reason);
      continue;
    }
    const key = `${below ? '*.' : ''}${n.name}`;
    const g = groups.get(key);
    if (g !== undefined) {
      const conflict = merge(g, action);
      if (conflict !== null) reject(conflict);
      continue;
    }
    const group = newGroup(rec.line, action);
    groups.set(key, group);
    const entry: ListEntry = { name: n.name, match: below ? 'below' : 'exact', line: rec.line };
    if (group.special === 'passthru') entry.kind = 'allow';
    else if (group.special !== null) entry.action = group.special satisfies EntryAction;
    else if (group.local !== null) entry.action = { local: group.local };
    report.accepted++;
    out.push(entry);
  }
  return out;
};

function newGroup(line: number, a: { t: 'special'; v: Special } | { t: 'local'; rec: LocalRecord }): Group {
  return a.t === 'special' ? { line, special: a.v, local: null } : { line, special: null, local: [a.rec] };
}

/** Adds a record to a trigger seen before; returns why it cannot be added, or null. */
function merge(g: Group, a: { t: 'special'; v: Special } | { t: 'local'; rec: LocalRecord }): string | null {
  if (g.special !== null) {
    if (a.t === 'special' && a.v === g.special) return null; // the same policy twice
    return `conflicts with the policy for the same trigger at line ${g.line}`;
  }
  const local = g.local!;
  if (a.t === 'special') return `conflicts with the local data for the same trigger at line ${g.line}`;
  if (local.some((r) => r.type === a.rec.type && r.value === a.rec.value)) return null;
  if (a.rec.type === 'CNAME' || local.some((r) => r.type === 'CNAME')) {
    return `a CNAME cannot share its owner with other records (line ${g.line})`;
  }
  local.push(a.rec);
  return null;
}

/** The policy one record expresses (draft §3: the CNAME encodings, else local data). */
function actionOf(type: string, rdata: Token[], origin: Name): Action {
  const one = rdata.length === 1 && !rdata[0]!.quoted ? rdata[0]!.text : null;
  switch (type) {
    case 'CNAME': {
      if (one === null) return { t: 'reject', reason: 'CNAME takes one target name' };
      if (one === '.') return { t: 'special', v: 'nxdomain' };
      if (one === '*.') return { t: 'special', v: 'nodata' };
      const r = decodeName(one);
      if ('error' in r) return { t: 'reject', reason: `CNAME target: ${r.error}` };
      let labels = r.labels;
      if (!r.absolute) {
        // RFC 1035 makes it relative to the origin; an action name written that way is a typo.
        if (labels[0]!.startsWith('rpz-')) return { t: 'reject', reason: `relative target "${one}": RPZ actions are absolute ("${one}.")` };
        if (!origin.absolute) return { t: 'reject', reason: 'relative CNAME target in a file without $ORIGIN: its name is unknown' };
        labels = [...labels, ...origin.labels];
      }
      const tld = labels[labels.length - 1] ?? '';
      if (tld.startsWith('rpz-')) {
        if (labels.length === 1 && tld === 'rpz-passthru') return { t: 'special', v: 'passthru' };
        if (labels.length === 1 && tld === 'rpz-drop') return { t: 'special', v: 'drop' };
        if (labels.length === 1 && tld === 'rpz-tcp-only') return { t: 'special', v: 'tcp-only' };
        // rpz-skipzone. and the like: reserved for policy, never local data (draft §3).
        return { t: 'unsupported', reason: `RPZ action ${labels.join('.')}. is not one c2dns enforces` };
      }
      if (labels[0] === '*') {
        return { t: 'unsupported', reason: 'CNAME to a wildcard target: the answer is the query name prepended to it, which c2dns does not synthesise' };
      }
      if (labels.some((l) => l.includes('.'))) return { t: 'reject', reason: 'CNAME target has an escaped dot inside a label' };
      const n = normalizeDomain(labels.join('.'));
      if (!n.ok) return { t: 'reject', reason: `CNAME target: ${n.reason}` };
      return { t: 'local', rec: { type: 'CNAME', value: n.name } };
    }
    case 'A':
      if (one === null || isIP(one) !== 4) return { t: 'reject', reason: 'A record needs one IPv4 address' };
      return { t: 'local', rec: { type: 'A', value: one } };
    case 'AAAA':
      if (one === null || isIP(one) !== 6 || one.includes('%')) return { t: 'reject', reason: 'AAAA record needs one IPv6 address' };
      return { t: 'local', rec: { type: 'AAAA', value: one.toLowerCase() } };
    case 'TXT':
      if (rdata.length === 0) return { t: 'reject', reason: 'TXT record without text' };
      // Several character-strings are one text to the reader (SPF does the same).
      return { t: 'local', rec: { type: 'TXT', value: rdata.map((d) => (d.quoted ? d.text : decodeText(d.text))).join('') } };
    default:
      if (OTHER_TYPES.has(type) || /^TYPE\d+$/.test(type)) {
        return { t: 'unsupported', reason: `local data of type ${type}: c2dns answers with A, AAAA, CNAME and TXT only` };
      }
      return { t: 'reject', reason: `unknown record type "${type}"` };
  }
}

/** The owner's labels below the apex, or why the owner is not in the zone. */
function relativeTo(owner: Name, apex: Name): string[] | string {
  if (owner.absolute && !apex.absolute) {
    return 'absolute owner name in a file without $ORIGIN: the zone name is unknown, so it may be out of zone';
  }
  const n = owner.labels.length - apex.labels.length;
  if (owner.absolute === apex.absolute && n >= 0 && apex.labels.every((l, i) => owner.labels[n + i] === l)) {
    return owner.labels.slice(0, n);
  }
  // BIND refuses such data; silently rewriting it would turn "evil.com." into another trigger.
  return `out-of-zone owner ${fmt(owner)}: not under the zone apex ${fmt(apex)}`;
}

function fmt(n: Name): string {
  const s = n.labels.join('.');
  return n.absolute ? `${s}.` : s === '' ? '@' : s;
}

function resolveName(tok: Token, origin: Name): Name | { error: string } {
  if (tok.quoted) return { error: 'a quoted string where a domain name belongs' };
  if (tok.text === '@') return origin;
  const r = decodeName(tok.text);
  if ('error' in r || r.absolute) return r;
  return { labels: [...r.labels, ...origin.labels], absolute: origin.absolute };
}

/**
 * A master-file name: unescaped dots separate labels, `\.` is a dot inside a label, `\DDD` a byte.
 * Labels are lower-cased (names compare case-insensitively, RFC 4343).
 */
function decodeName(s: string): Name | { error: string } {
  if (s === '.') return { labels: [], absolute: true };
  const labels: string[] = [];
  let cur = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      const e = escapeAt(s, i);
      if (e === null) return { error: `bad escape in "${s}"` };
      // A byte above 127 in a label is not text: normalising it would invent an IDN.
      if (e.char.charCodeAt(0) > 0x7f) return { error: `non-ASCII byte \\${e.char.charCodeAt(0)} in "${s}"` };
      cur += e.char;
      i = e.next;
    } else if (c === '.') {
      if (cur === '') return { error: `empty label in "${s}"` };
      labels.push(cur.toLowerCase());
      cur = '';
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  if (cur === '') return labels.length > 0 ? { labels, absolute: true } : { error: 'empty name' };
  labels.push(cur.toLowerCase());
  return { labels, absolute: false };
}

/** `\DDD` (decimal byte) or `\X` (X literally) at s[i]. */
function escapeAt(s: string, i: number): { char: string; next: number } | null {
  const ddd = /^\d{3}/.exec(s.slice(i + 1, i + 4));
  if (ddd !== null) {
    const v = Number(ddd[0]);
    return v > 255 ? null : { char: String.fromCharCode(v), next: i + 4 };
  }
  return i + 1 < s.length ? { char: s[i + 1]!, next: i + 2 } : null;
}

function decodeText(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    const e = s[i] === '\\' ? escapeAt(s, i) : null;
    if (e !== null) {
      out += e.char;
      i = e.next;
    } else out += s[i++];
  }
  return out;
}

/**
 * rpz-ip / rpz-client-ip owner labels: prefix length, then the address parts in reverse order;
 * IPv6 groups are hex and `zz` stands for "::" (e.g. 128.3.zz.db8.2001 = 2001:db8::3/128).
 */
function decodeIpTrigger(parts: string[]): { cidr: string; len: number } | string {
  const bad = `not an RPZ IP trigger (prefix length, then the address reversed): ${parts.join('.')}`;
  if (parts.length < 2 || !/^\d{1,3}$/.test(parts[0]!)) return bad;
  const len = Number(parts[0]);
  const addr = parts.slice(1).reverse();
  if (addr.length === 4 && addr.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    if (len > 32) return `prefix /${len} is longer than an IPv4 address`;
    const bytes = addr.map(Number);
    if (!hostBitsClear(bytes, 8, len)) return `address ${bytes.join('.')} has bits set beyond /${len}`;
    return { cidr: `${bytes.join('.')}/${len}`, len };
  }
  const zz = addr.indexOf('zz');
  if (zz !== addr.lastIndexOf('zz') || !addr.every((p) => p === 'zz' || /^[0-9a-f]{1,4}$/.test(p))) return bad;
  const head = zz < 0 ? addr : addr.slice(0, zz);
  const tail = zz < 0 ? [] : addr.slice(zz + 1);
  const fill = 8 - head.length - tail.length;
  if ((zz < 0 && fill !== 0) || (zz >= 0 && fill < 1)) return bad;
  if (len > 128) return `prefix /${len} is longer than an IPv6 address`;
  const groups = [...head, ...new Array<string>(zz < 0 ? 0 : fill).fill('0'), ...tail].map((g) => parseInt(g, 16));
  if (!hostBitsClear(groups, 16, len)) return `address has bits set beyond /${len}`;
  // The URL parser prints the canonical short form (RFC 5952: lower case, longest zero run as ::).
  const text = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
  return { cidr: `${text}/${len}`, len };
}

/** True when every bit after the first `len` of the address (units of `bits` each) is zero. */
function hostBitsClear(units: number[], bits: number, len: number): boolean {
  return units.every((u, i) => {
    const keep = Math.min(Math.max(len - i * bits, 0), bits);
    const mask = keep === bits ? 0 : (1 << (bits - keep)) - 1;
    return (u & mask) === 0;
  });
}

/**
 * Splits the text into records: `;` comments (not inside quotes or after a backslash), quoted
 * strings, and parentheses that continue a record over several lines. Names keep their escapes
 * (a `\.` must stay distinguishable from a label separator); quoted strings are decoded.
 */
function* entries(text: string, report: ParseReport): Generator<Entry> {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  let cur: Entry | null = null;
  let depth = 0;
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    cur ??= { line: n + 1, raw, blankOwner: /^[ \t]/.test(raw), tokens: [] };
    const error = tokenize(raw, cur.tokens, (d) => (depth += d) >= 0);
    if (error !== null) {
      report.reject(cur.line, cur.raw, error);
      cur = null;
      depth = 0;
      continue;
    }
    if (depth === 0) {
      if (cur.tokens.length > 0) yield cur;
      cur = null;
    }
  }
  if (cur !== null) report.reject(cur.line, cur.raw, 'parenthesis still open at the end of the file');
}

/** Appends the tokens of one line; `paren(±1)` tracks nesting and returns false when unbalanced. */
function tokenize(raw: string, tokens: Token[], paren: (delta: number) => boolean): string | null {
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === ' ' || c === '\t') i++;
    else if (c === ';') break;
    else if (c === '(' || c === ')') {
      if (!paren(c === '(' ? 1 : -1)) return "')' without '('";
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= raw.length) return 'quoted string not closed on its line';
        const d = raw[i]!;
        if (d === '"') break;
        if (d === '\\') {
          const e = escapeAt(raw, i);
          if (e === null) return 'bad escape in a quoted string';
          v += e.char;
          i = e.next;
        } else {
          v += d;
          i++;
        }
      }
      i++;
      tokens.push({ text: v, quoted: true });
    } else {
      const start = i;
      while (i < raw.length && !' \t;()"'.includes(raw[i]!)) {
        if (raw[i] === '\\') {
          if (i + 1 >= raw.length) return 'backslash at the end of a line';
          i += /^\d{3}/.test(raw.slice(i + 1, i + 4)) ? 4 : 2;
        } else i++;
      }
      tokens.push({ text: raw.slice(start, i), quoted: false });
    }
  }
  return null;
}
