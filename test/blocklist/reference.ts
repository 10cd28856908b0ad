// The implementations this project had before the compact lookup structure and the fast list
// scanners (git history: src/blocklist/{domain,trie,guard}.ts, parsers/{lines,plain,hosts}.ts),
// kept as reference models: the property tests check that the new code decides exactly as these
// did. Not used by the product.
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { getPublicSuffix } from 'tldts';
import { classifyToken, takeClassified } from '../../src/blocklist/ioc.js';
import type { ParseReport } from '../../src/blocklist/parsers/report.js';
import { makeRule, type EntryAction, type IpEntry, type ListEntry, type RuleMatch } from '../../src/blocklist/rule.js';
import type { ListConfig } from '../../src/config/schema.js';
import { detectFormat, PARSERS, type ListFormat } from '../../src/blocklist/parsers/index.js';
import { ParseReport as Report } from '../../src/blocklist/parsers/report.js';

// ---- domain.ts ----
type Normalized = { ok: true; name: string } | { ok: false; reason: string };

const LDH = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

// Unicode format characters (category Cf: LRM U+200E, ZWSP U+200B, WJ U+2060, BOM U+FEFF…):
// invisible, copied in from web pages and vendor CSVs.
const FORMAT_CHAR = /\p{Cf}/u;

export function refNormalizeDomain(raw: string): Normalized {
  // At the edges they are copy-paste debris and are removed; inside a name they hide a different name.
  let s = raw.trim().replace(/^\p{Cf}+|\p{Cf}+$/gu, '').trim();
  if (FORMAT_CHAR.test(s)) return { ok: false, reason: 'invisible format character (e.g. U+200B) inside the name' };
  if (s.includes('\0')) return { ok: false, reason: 'NUL byte in the name' };
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '') return { ok: false, reason: 'empty name' };
  if (isIP(s) !== 0 || isIP(s.replace(/^\[|\]$/g, '')) !== 0) return { ok: false, reason: 'an IP address, not a name' };
  s = s.toLowerCase();
  // inet_aton shorthand (2130706433, 0x7f.1, 1.2.3): an address to a resolver's OS, never a name.
  if (/^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+))*$/.test(s)) return { ok: false, reason: 'a numeric address form, not a name' };
  if (/[^\x00-\x7f]/.test(s)) {
    const ascii = domainToASCII(s);
    if (ascii === '') return { ok: false, reason: 'not a valid internationalised name' };
    s = ascii;
  }
  else if (/(^|\.)xn--/.test(s) && domainToASCII(s) === '') return { ok: false, reason: 'invalid punycode (xn--) label' };
  if (s.length > 253) return { ok: false, reason: 'name longer than 253 characters' };
  const labels = s.split('.');
  if (labels.length < 2) return { ok: false, reason: 'a single label (would block a whole TLD)' };
  for (const l of labels) {
    if (l.length === 0) return { ok: false, reason: 'empty label' };
    if (l.length > 63) return { ok: false, reason: 'label longer than 63 characters' };
    if (!LDH.test(l)) return { ok: false, reason: `label "${l}" has characters outside letters, digits, '-' and '_'` };
  }
  return { ok: true, name: s };
}

// ---- trie.ts ----
class Node {
  children: Map<string, Node> | null = null;
  blockSelf: RuleMatch | null = null;
  blockBelow: RuleMatch | null = null;
  allowSelf: RuleMatch | null = null;
  allowBelow: RuleMatch | null = null;
}

type Slot = 'blockSelf' | 'blockBelow' | 'allowSelf' | 'allowBelow';

export class RefTrie {
  private readonly root = new Node();
  private count = 0;

  /** Distinct rules stored (a duplicate of an existing rule does not count). */
  get size(): number {
    return this.count;
  }

  /**
   * Adds a rule. When a slot is taken the first rule stays, unless the new one is $important
   * and the old one is not, or the old one expires and the new one does not.
   */
  add(rule: RuleMatch): void {
    let node = this.root;
    if (rule.rule !== '') {
      const labels = rule.rule.split('.');
      for (let i = labels.length - 1; i >= 0; i--) {
        const label = labels[i]!;
        node.children ??= new Map();
        let child = node.children.get(label);
        if (child === undefined) {
          child = new Node();
          node.children.set(label, child);
        }
        node = child;
      }
    }
    const block = rule.kind === 'block';
    let stored = false;
    if (rule.match !== 'below') stored = put(node, block ? 'blockSelf' : 'allowSelf', rule) || stored;
    if (rule.match !== 'exact') stored = put(node, block ? 'blockBelow' : 'allowBelow', rule) || stored;
    if (stored) this.count++;
  }

  /** The rule deciding `name` (lower case, no trailing dot), or null when none applies. */
  match(name: string, now: number = Date.now()): RuleMatch | null {
    let node = this.root;
    let best: RuleMatch | null = null;
    let importantBlock: RuleMatch | null = null;
    let end = name.length;
    for (;;) {
      const exact = end === 0; // the whole name is consumed: this node is the name itself
      const allow = live(exact ? node.allowSelf : node.allowBelow, now);
      if (allow !== null && allow.important) return allow;
      const block = live(exact ? node.blockSelf : node.blockBelow, now);
      if (allow !== null) best = allow;
      else if (block !== null) best = block;
      if (block !== null && block.important) importantBlock = block;
      if (end === 0) break;
      const children = node.children;
      if (children === null) break;
      const dot = name.lastIndexOf('.', end - 1);
      const child = children.get(name.substring(dot + 1, end));
      if (child === undefined) break;
      node = child;
      end = dot < 0 ? 0 : dot;
    }
    return importantBlock ?? best;
  }
}

function put(node: Node, slot: Slot, rule: RuleMatch): boolean {
  const old = node[slot];
  if (old === null) {
    node[slot] = rule;
    return true;
  }
  if ((rule.important && !old.important) || (old.expiresAt !== 0 && rule.expiresAt === 0)) node[slot] = rule;
  return false;
}

function live(r: RuleMatch | null, now: number): RuleMatch | null {
  return r !== null && (r.expiresAt === 0 || r.expiresAt > now) ? r : null;
}

// ---- guard.ts ----
interface GuardRefusal {
  kind: 'public-suffix' | 'protected';
  /** For 'protected': the protected name that the entry equals, contains or falls under. */
  protectedName?: string;
  reason: string;
}

export class RefGuard {
  private readonly exact = new Set<string>();
  /** Proper parents of protected names, mapped to the protected name (O(1) per entry). */
  private readonly parents = new Map<string, string>();

  constructor(protectedNames: readonly string[]) {
    for (const raw of protectedNames) {
      const n = raw.toLowerCase().replace(/\.$/, '');
      this.exact.add(n);
      for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.', i + 1)) {
        const parent = n.slice(i + 1);
        if (!this.parents.has(parent)) this.parents.set(parent, n);
      }
    }
  }

  /** Why `name` must not be blocked, or null when blocking it is fine. */
  check(name: string): GuardRefusal | null {
    if (getPublicSuffix(name, { allowPrivateDomains: true }) === name) {
      return { kind: 'public-suffix', reason: `"${name}" is a public suffix: blocking it would block every domain registered under it` };
    }
    // The name itself or one of its parents is protected: it is that platform or inside it.
    for (let n = name; ; ) {
      if (this.exact.has(n)) {
        return {
          kind: 'protected',
          protectedName: n,
          reason: n === name ? `"${name}" is protected shared infrastructure` : `"${name}" is under protected shared infrastructure "${n}"`,
        };
      }
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
    // A parent of a protected name: blocking it as a subtree would block the platform.
    const p = this.parents.get(name);
    if (p !== undefined) return { kind: 'protected', protectedName: p, reason: `blocking "${name}" would block protected shared infrastructure "${p}"` };
    return null;
  }
}

// ---- parsers/lines.ts ----
function refForEachLine(text: string, fn: (content: string, lineNo: number, raw: string) => void): void {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content !== '') fn(content, i + 1, raw);
  }
}

// ---- parsers/plain.ts ----
export function refParsePlain(text: string, report: ParseReport): ListEntry[] {
  const out: ListEntry[] = [];
  refForEachLine(text, (content, line, raw) => {
    if (/\s/.test(content)) {
      report.reject(line, raw, 'more than one field on a line of a plain domain list');
      return;
    }
    takeClassified(classifyToken(content), content, out, report, line, raw, {});
  });
  return out;
}

// ---- parsers/hosts.ts ----
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

export function refParseHosts(text: string, report: ParseReport): ListEntry[] {
  const out: ListEntry[] = [];
  refForEachLine(text, (content, line, raw) => {
    const fields = content.split(/\s+/);
    if (fields.length < 2 || isIP(fields[0]!) === 0) {
      report.reject(line, raw, 'not "ADDRESS NAME [NAME...]"');
      return;
    }
    for (let i = 1; i < fields.length; i++) {
      const f = fields[i]!;
      if (BOILERPLATE.has(f.toLowerCase())) continue;
      const n = refNormalizeDomain(f);
      if (!n.ok) {
        report.reject(line, raw, `${f}: ${n.reason}`);
        continue;
      }
      report.accepted++;
      out.push({ name: n.name, match: null, line });
    }
  });
  return out;
}

// ---- feeds/compile.ts ----
interface RefusedEntry {
  name: string;
  line: number;
  reason: string;
  fromUrl?: string;
}

export interface RefCompiled {
  name: string;
  format: ListFormat;
  rules: RuleMatch[];
  ips: IpEntry[];
  report: Report;
  guarded: RefusedEntry[];
  notEnforceable: RefusedEntry[];
}

const MAX_REFUSED_KEPT = 200;

export function refCompile(text: string, cfg: ListConfig, guard: { check(name: string): { reason: string } | null }, firstSeen: Map<string, number>, now: number): RefCompiled {
  const format = (cfg.format === 'auto' ? detectFormat(text) : cfg.format) as ListFormat;
  const report = new Report();
  const entries = PARSERS[format](text, report, {
    now,
    csvColumns: cfg.csvColumns,
    minConfidence: cfg.minConfidence,
    mispIncludeNonIds: cfg.mispIncludeNonIds,
  });
  const rules: RuleMatch[] = [];
  const guarded: RefusedEntry[] = [];
  const notEnforceable: RefusedEntry[] = [];
  const maxAgeMs = cfg.maxAgeDays * 86_400_000;
  const listAction: EntryAction | null = cfg.action === undefined || cfg.action === 'monitor' ? null : cfg.action;
  for (const e of entries) {
    const kind = cfg.kind === 'allow' ? 'allow' : (e.kind ?? 'block');
    if (kind === 'block') {
      const refusal = guard.check(e.name);
      if (refusal !== null) {
        const target = e.fromUrl !== undefined ? notEnforceable : guarded;
        const reason = e.fromUrl !== undefined ? `not enforceable by DNS: ${refusal.reason}; block the URL at a proxy instead` : refusal.reason;
        if (target.length < MAX_REFUSED_KEPT) target.push({ name: e.name, line: e.line, reason, ...(e.fromUrl !== undefined ? { fromUrl: e.fromUrl } : {}) });
        continue;
      }
    }
    let seen = firstSeen.get(e.name);
    if (seen === undefined) {
      seen = now;
      firstSeen.set(e.name, now);
    }
    const ageExpiry = maxAgeMs > 0 ? seen + maxAgeMs : 0;
    const expiresAt = e.expiresAt !== undefined && (ageExpiry === 0 || e.expiresAt < ageExpiry) ? e.expiresAt : ageExpiry;
    rules.push(
      makeRule(
        { ...e, ...(expiresAt > 0 ? { expiresAt } : {}) },
        { list: cfg.name, kind: cfg.kind, match: cfg.match, action: listAction, tags: cfg.tags, firstSeen: seen },
      ),
    );
  }
  return { name: cfg.name, format, rules, ips: report.ips, report, guarded, notEnforceable };
}
