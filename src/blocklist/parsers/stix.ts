// STIX 2.0/2.1 bundles. Only indicator objects are read, and of their patterns only the parts a
// resolver can enforce exactly: positive equality on domain names, URL hosts and addresses.
// The pattern is parsed with the STIX patterning grammar (STIXPattern.g4), not matched with a
// regex, so a quoted value can never be mistaken for syntax and vice versa.
import { classifyToken, pushIp, pushName, type EntryExtras } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import type { ParseReport } from './report.js';
import type { ParseOptions, Parser } from './types.js';
import { parseJsonFeed } from './json.js';

// ---- Patterning grammar: lexer ---------------------------------------------------------------

type TokKind = 'kw' | 'id' | 'str' | 'num' | 'ts' | 'bin' | 'hex' | 'bool' | 'op' | 'punct' | 'eof';
interface Tok {
  kind: TokKind;
  text: string;
  pos: number;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'FOLLOWEDBY', 'LIKE', 'MATCHES', 'ISSUPERSET', 'ISSUBSET', 'EXISTS', 'LAST', 'IN', 'START', 'STOP', 'SECONDS', 'WITHIN', 'REPEATS', 'TIMES']);

export class PatternError extends Error {}

function quoted(src: string, i: number): { value: string; end: number } {
  // Opening quote at i. Only \' and \\ are escapes in the grammar.
  let v = '';
  let k = i + 1;
  while (k < src.length) {
    const c = src[k]!;
    if (c === "'") return { value: v, end: k + 1 };
    if (c === '\\') {
      const e = src[k + 1];
      if (e !== "'" && e !== '\\') throw new PatternError(`invalid escape \\${e ?? ''} at ${k} (only \\' and \\\\ are allowed)`);
      v += e;
      k += 2;
      continue;
    }
    v += c;
    k++;
  }
  throw new PatternError(`unterminated string starting at ${i}`);
}

export function lexPattern(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const e = src.indexOf('*/', i + 2);
      if (e < 0) throw new PatternError(`unterminated comment at ${i}`);
      i = e + 2;
      continue;
    }
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === "'") {
      const q = quoted(src, i);
      toks.push({ kind: 'str', text: q.value, pos: i });
      i = q.end;
      continue;
    }
    const prefixed = /^([tbh])'/.exec(src.slice(i, i + 2));
    if (prefixed !== null) {
      const q = quoted(src, i + 1);
      toks.push({ kind: prefixed[1] === 't' ? 'ts' : prefixed[1] === 'b' ? 'bin' : 'hex', text: q.value, pos: i });
      i = q.end;
      continue;
    }
    const op = /^(==|!=|<>|<=|>=|=|<|>)/.exec(src.slice(i, i + 2));
    if (op !== null) {
      toks.push({ kind: 'op', text: op[1]!, pos: i });
      i += op[1]!.length;
      continue;
    }
    const num = /^[-+]?(?:\d+\.\d+|\.\d+|\d+)/.exec(src.slice(i));
    if (num !== null && (/\d/.test(c) || /[-+.]/.test(c))) {
      toks.push({ kind: 'num', text: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
    if (id !== null) {
      const w = id[0];
      const kind: TokKind = KEYWORDS.has(w) ? 'kw' : /^(true|false)$/i.test(w) ? 'bool' : 'id';
      toks.push({ kind, text: w, pos: i });
      i += w.length;
      continue;
    }
    if ('[]():.,*'.includes(c)) {
      toks.push({ kind: 'punct', text: c, pos: i });
      i++;
      continue;
    }
    throw new PatternError(`unexpected character ${JSON.stringify(c)} at ${i}`);
  }
  toks.push({ kind: 'eof', text: '', pos: src.length });
  return toks;
}

// ---- Patterning grammar: parser --------------------------------------------------------------

interface Literal {
  kind: 'str' | 'num' | 'ts' | 'bin' | 'hex' | 'bool';
  value: string;
}
export interface Test {
  t: 'test';
  /** Object type, e.g. "domain-name". */
  object: string;
  /** Property path after the colon, e.g. "value", "dst_ref.value", "hashes.SHA-256". */
  path: string;
  /** '=', '!=', '<', 'IN', 'LIKE', 'MATCHES', 'ISSUBSET', 'ISSUPERSET', 'EXISTS'… ('==' → '=', '<>' → '!='). */
  op: string;
  negated: boolean;
  values: Literal[];
}
export type Cmp = Test | { t: 'and' | 'or'; items: Cmp[] };
export type Qualifier = { q: 'within'; seconds: number } | { q: 'repeats'; times: number } | { q: 'startstop'; start: string; stop: string };
export type Obs = { t: 'obs'; cmp: Cmp; qualifiers: Qualifier[] } | { t: 'and' | 'or' | 'followedby'; items: Obs[]; qualifiers: Qualifier[] };

class PatternParser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok {
    return this.toks[this.i]!;
  }
  private next(): Tok {
    return this.toks[this.i++]!;
  }
  private is(kind: TokKind, text?: string): boolean {
    const t = this.peek();
    return t.kind === kind && (text === undefined || t.text === text);
  }
  private expect(kind: TokKind, text?: string): Tok {
    const t = this.peek();
    if (!this.is(kind, text)) throw new PatternError(`expected ${text ?? kind} at ${t.pos}, found ${t.kind === 'eof' ? 'end of pattern' : JSON.stringify(t.text)}`);
    return this.next();
  }

  parse(): Obs {
    const o = this.observations();
    this.expect('eof');
    return o;
  }

  // Precedence, loosest first: FOLLOWEDBY, OR, AND (observation level).
  private observations(): Obs {
    return this.chain('FOLLOWEDBY', 'followedby', () => this.chain('OR', 'or', () => this.chain('AND', 'and', () => this.observation())));
  }

  private chain(kw: string, t: 'and' | 'or' | 'followedby', sub: () => Obs): Obs {
    const items = [sub()];
    while (this.is('kw', kw)) {
      this.next();
      items.push(sub());
    }
    return items.length === 1 ? items[0]! : { t, items, qualifiers: [] };
  }

  private observation(): Obs {
    let o: Obs;
    if (this.is('punct', '[')) {
      this.next();
      const cmp = this.comparisonOr();
      this.expect('punct', ']');
      o = { t: 'obs', cmp, qualifiers: [] };
    } else if (this.is('punct', '(')) {
      this.next();
      o = this.observations();
      this.expect('punct', ')');
    } else {
      const t = this.peek();
      throw new PatternError(`expected '[' or '(' at ${t.pos}, found ${t.kind === 'eof' ? 'end of pattern' : JSON.stringify(t.text)}`);
    }
    for (;;) {
      if (this.is('kw', 'WITHIN')) {
        this.next();
        const n = this.expect('num');
        this.expect('kw', 'SECONDS');
        o.qualifiers.push({ q: 'within', seconds: Number(n.text) });
      } else if (this.is('kw', 'REPEATS')) {
        this.next();
        const n = this.expect('num');
        this.expect('kw', 'TIMES');
        o.qualifiers.push({ q: 'repeats', times: Number(n.text) });
      } else if (this.is('kw', 'START')) {
        this.next();
        const start = this.expect('ts').text;
        this.expect('kw', 'STOP');
        const stop = this.expect('ts').text;
        o.qualifiers.push({ q: 'startstop', start, stop });
      } else return o;
    }
  }

  private comparisonOr(): Cmp {
    const items = [this.comparisonAnd()];
    while (this.is('kw', 'OR')) {
      this.next();
      items.push(this.comparisonAnd());
    }
    return items.length === 1 ? items[0]! : { t: 'or', items };
  }

  private comparisonAnd(): Cmp {
    const items = [this.propTest()];
    while (this.is('kw', 'AND')) {
      this.next();
      items.push(this.propTest());
    }
    return items.length === 1 ? items[0]! : { t: 'and', items };
  }

  private propTest(): Cmp {
    if (this.is('punct', '(')) {
      this.next();
      const c = this.comparisonOr();
      this.expect('punct', ')');
      return c;
    }
    if (this.is('kw', 'EXISTS')) {
      this.next();
      const p = this.objectPath();
      return { t: 'test', ...p, op: 'EXISTS', negated: false, values: [] };
    }
    // Not in the grammar, but written by some producers: a leading NOT negates the test.
    let negated = false;
    if (this.is('kw', 'NOT')) {
      this.next();
      negated = true;
    }
    const p = this.objectPath();
    if (this.is('kw', 'NOT')) {
      this.next();
      negated = !negated;
    }
    const t = this.next();
    if (t.kind === 'op') {
      const op = t.text === '==' ? '=' : t.text === '<>' ? '!=' : t.text;
      return { t: 'test', ...p, op, negated, values: [this.literal()] };
    }
    if (t.kind === 'kw' && t.text === 'IN') {
      this.expect('punct', '(');
      const values: Literal[] = [];
      if (!this.is('punct', ')')) {
        values.push(this.literal());
        while (this.is('punct', ',')) {
          this.next();
          values.push(this.literal());
        }
      }
      this.expect('punct', ')');
      return { t: 'test', ...p, op: 'IN', negated, values };
    }
    if (t.kind === 'kw' && ['LIKE', 'MATCHES', 'ISSUBSET', 'ISSUPERSET'].includes(t.text)) {
      const s = this.expect('str');
      return { t: 'test', ...p, op: t.text, negated, values: [{ kind: 'str', value: s.text }] };
    }
    throw new PatternError(`expected a comparison operator at ${t.pos}, found ${t.kind === 'eof' ? 'end of pattern' : JSON.stringify(t.text)}`);
  }

  private literal(): Literal {
    const t = this.next();
    if (t.kind === 'str' || t.kind === 'num' || t.kind === 'ts' || t.kind === 'bin' || t.kind === 'hex' || t.kind === 'bool') return { kind: t.kind, value: t.text };
    throw new PatternError(`expected a literal at ${t.pos}, found ${t.kind === 'eof' ? 'end of pattern' : JSON.stringify(t.text)}`);
  }

  private objectPath(): { object: string; path: string } {
    const type = this.expect('id');
    this.expect('punct', ':');
    const first = this.next();
    if (first.kind !== 'id' && first.kind !== 'str' && first.kind !== 'kw') throw new PatternError(`expected a property name at ${first.pos}`);
    let path = first.text;
    for (;;) {
      if (this.is('punct', '.')) {
        this.next();
        const c = this.next();
        if (c.kind !== 'id' && c.kind !== 'str' && c.kind !== 'kw') throw new PatternError(`expected a property name at ${c.pos}`);
        path += `.${c.text}`;
      } else if (this.is('punct', '[')) {
        this.next();
        const c = this.next();
        if (!(c.kind === 'punct' && c.text === '*') && !(c.kind === 'num' && /^[-+]?\d+$/.test(c.text))) throw new PatternError(`expected an index or * at ${c.pos}`);
        this.expect('punct', ']');
        path += `[${c.text}]`;
      } else return { object: type.text, path };
    }
  }
}

/** Parses a STIX pattern; throws PatternError with a position on malformed input. */
export function parsePattern(src: string): Obs {
  return new PatternParser(lexPattern(src)).parse();
}

// ---- Harvest: what of a pattern a resolver may enforce ---------------------------------------

interface Harvest {
  names: { value: string; fromUrl?: string; stop?: number }[];
  ips: string[];
  /** Values that should have been a name or an address but are not. */
  bad: { value: string; reason: string }[];
  unsupported: string[];
  /** Non-DNS tests, by category (sha256, file, process…). */
  ignored: string[];
  expired: boolean;
}

const NAME_PATHS = new Set(['domain-name:value', 'url:value', 'ipv4-addr:value', 'ipv6-addr:value', 'network-traffic:dst_ref.value', 'network-traffic:dst_ref.type']);

function category(t: Test): string {
  if (t.object === 'file' && t.path.startsWith('hashes.')) return t.path.slice(7).toLowerCase().replace(/-/g, '');
  if (t.object === 'email-addr' || t.object === 'email-message') return 'email';
  return `stix:${t.object}`;
}

const positiveEq = (t: Test) => !t.negated && (t.op === '=' || t.op === 'IN') && t.values.length > 0 && t.values.every((v) => v.kind === 'str');

function showTest(t: Test): string {
  return `${t.object}:${t.path} ${t.negated ? 'NOT ' : ''}${t.op}${t.values.length > 0 ? ` ${t.values.map((v) => `'${v.value}'`).join(', ')}` : ''}`;
}

function takeValue(h: Harvest, object: string, value: string, stop: number | undefined): void {
  if (object === 'ipv4-addr' || object === 'ipv6-addr') {
    h.ips.push(value);
    return;
  }
  if (object === 'url') {
    const c = classifyToken(value);
    if (c.kind !== 'url') h.bad.push({ value, reason: 'url:value is not a URL' });
    else if (c.ip !== null) h.ips.push(c.ip);
    else h.names.push({ value: c.host, fromUrl: value, ...(stop !== undefined ? { stop } : {}) });
    return;
  }
  h.names.push({ value, ...(stop !== undefined ? { stop } : {}) });
}

/** One observation's comparison tree. Leaves under OR are independent; an AND must be about one object. */
function harvestCmp(c: Cmp, h: Harvest, stop: number | undefined): void {
  if (c.t === 'or') {
    for (const x of c.items) harvestCmp(x, h, stop);
    return;
  }
  const leaves: Test[] = [];
  const flat = (x: Cmp): boolean => {
    if (x.t === 'test') leaves.push(x);
    else if (x.t === 'and') return x.items.every(flat);
    else return false;
    return true;
  };
  if (!flat(c)) {
    h.unsupported.push('OR nested inside AND: only top-level alternatives are taken');
    return;
  }
  const relevant = leaves.filter((l) => NAME_PATHS.has(`${l.object}:${l.path}`));
  if (relevant.length === 0) {
    h.ignored.push(category(leaves[0]!));
    return;
  }
  const objects = new Set(leaves.map((l) => l.object));
  if (objects.size > 1) {
    h.unsupported.push(`AND across different objects (${[...objects].join(', ')}): the name alone is not the indicator`);
    return;
  }
  const object = leaves[0]!.object;
  // Tests on the indicator's own value that are not positive equality (LIKE, MATCHES, !=, NOT):
  // pattern semantics a name list cannot express.
  for (const l of relevant) {
    if (!positiveEq(l) && !(object === 'network-traffic' && l.path === 'dst_ref.type')) h.unsupported.push(`${showTest(l)}: only positive equality is enforceable`);
  }
  if (object === 'network-traffic') {
    const values = relevant.filter((l) => l.path === 'dst_ref.value' && positiveEq(l));
    if (values.length === 0) return;
    const types = relevant.filter((l) => l.path === 'dst_ref.type' && positiveEq(l)).flatMap((l) => l.values.map((v) => v.value));
    if (types.length !== 1 || !['domain-name', 'ipv4-addr', 'ipv6-addr'].includes(types[0]!)) {
      h.unsupported.push('network-traffic:dst_ref.value without exactly one dst_ref.type of domain-name, ipv4-addr or ipv6-addr');
      return;
    }
    for (const l of values) for (const v of l.values) takeValue(h, types[0]!, v.value, stop);
    return;
  }
  const eq = relevant.filter(positiveEq);
  if (eq.length > 1) {
    h.unsupported.push(`AND of ${eq.length} equality tests on ${object}:value: no single value satisfies them`);
    return;
  }
  for (const l of eq) for (const v of l.values) takeValue(h, object, v.value, stop);
}

/** `stop`: the earliest STOP of the START/STOP qualifiers above this node, epoch ms. */
function harvestObs(o: Obs, h: Harvest, now: number, stopAbove?: number): void {
  let stop = stopAbove;
  for (const q of o.qualifiers) {
    if (q.q === 'startstop') {
      const end = Date.parse(q.stop);
      if (Number.isNaN(end)) {
        h.unsupported.push(`START/STOP with an unreadable STOP ${q.stop}`);
        return;
      }
      if (end <= now) {
        h.expired = true;
        return;
      }
      stop = Math.min(stop ?? end, end);
    } else {
      // WITHIN/REPEATS describe behaviour (beaconing, bursts), not a name that is hostile per se.
      h.unsupported.push(`${q.q.toUpperCase()} qualifier: the indicator describes behaviour, not a name`);
      return;
    }
  }
  if (o.t === 'obs') harvestCmp(o.cmp, h, stop);
  else if (o.t === 'or') for (const x of o.items) harvestObs(x, h, now, stop);
  else h.unsupported.push(`${o.t === 'and' ? 'AND' : 'FOLLOWEDBY'} of observations: only the combination is the indicator`);
}

// ---- Objects ---------------------------------------------------------------------------------

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function collectObjects(doc: unknown): Record<string, unknown>[] | null {
  if (Array.isArray(doc)) {
    const out: Record<string, unknown>[] = [];
    for (const x of doc) {
      if (isRecord(x) && x['type'] === 'bundle') out.push(...(collectObjects(x) ?? []));
      else if (isRecord(x) && typeof x['type'] === 'string') out.push(x);
    }
    return out;
  }
  if (!isRecord(doc) || typeof doc['type'] !== 'string') return null;
  if (doc['type'] === 'bundle') return Array.isArray(doc['objects']) ? doc['objects'].filter(isRecord) : [];
  return [doc];
}

function indicatorTags(objects: Record<string, unknown>[]): Map<string, string[]> {
  // indicator --indicates--> malware / threat-actor / campaign: the target's name is the tag.
  const names = new Map<string, string>();
  for (const o of objects) {
    if (['malware', 'threat-actor', 'intrusion-set', 'campaign', 'tool'].includes(String(o['type'])) && typeof o['id'] === 'string' && typeof o['name'] === 'string') names.set(o['id'], o['name']);
  }
  const tags = new Map<string, string[]>();
  for (const o of objects) {
    if (o['type'] !== 'relationship' || o['relationship_type'] !== 'indicates') continue;
    const src = o['source_ref'];
    const name = typeof o['target_ref'] === 'string' ? names.get(o['target_ref']) : undefined;
    if (typeof src !== 'string' || name === undefined) continue;
    const list = tags.get(src) ?? [];
    if (!list.includes(name)) list.push(name);
    tags.set(src, list);
  }
  return tags;
}

export const parseStix: Parser = (text, report, opts) => {
  const out: ListEntry[] = [];
  const doc = parseJsonFeed(text, report);
  if (doc === undefined) return out;
  const objects = collectObjects(doc);
  if (objects === null) {
    report.reject(0, text.slice(0, 200), 'not a STIX bundle, object or array of objects');
    return out;
  }
  const tags = indicatorTags(objects);
  for (const o of objects) if (o['type'] === 'indicator') takeIndicator(o, out, report, opts, tags);
  return out;
};

function takeIndicator(o: Record<string, unknown>, out: ListEntry[], report: ParseReport, opts: ParseOptions, tagMap: Map<string, string[]>): void {
  const id = typeof o['id'] === 'string' ? o['id'] : undefined;
  const shown = (s: string) => `${id ?? 'indicator'}: ${s}`;
  const pattern = o['pattern'];
  if (typeof pattern !== 'string') {
    report.reject(0, shown(JSON.stringify(pattern) ?? 'no pattern'), 'indicator without a pattern');
    return;
  }
  // 2.0 has no pattern_type: its patterns are all STIX patterning.
  const ptype = o['pattern_type'];
  if (ptype !== undefined && String(ptype).toLowerCase() !== 'stix') {
    report.ignore(`pattern_type:${String(ptype)}`);
    return;
  }
  if (o['revoked'] === true) {
    report.ignore('revoked');
    return;
  }
  const labels = [...strings(o['indicator_types']), ...strings(o['labels'])];
  if (labels.some((l) => l.toLowerCase() === 'benign')) {
    report.ignore('benign');
    return;
  }
  // MISP-generated STIX carries the attribute's to_ids flag as a label; honour it like MISP does.
  if (labels.includes('misp:to_ids="False"') && opts.mispIncludeNonIds !== true) {
    report.ignore('not-to_ids');
    return;
  }
  let expiresAt: number | undefined;
  if (o['valid_until'] !== undefined) {
    const until = typeof o['valid_until'] === 'string' ? Date.parse(o['valid_until']) : NaN;
    if (Number.isNaN(until)) {
      report.reject(0, shown(String(o['valid_until'])), 'valid_until is not a timestamp');
      return;
    }
    if (until <= opts.now) {
      report.ignore('expired');
      return;
    }
    expiresAt = until;
  }

  let tree: Obs;
  try {
    tree = parsePattern(pattern);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    report.reject(0, shown(pattern), `invalid STIX pattern: ${e.message}`);
    return;
  }
  const h: Harvest = { names: [], ips: [], bad: [], unsupported: [], ignored: [], expired: false };
  harvestObs(tree, h, opts.now);
  if (h.expired && h.names.length === 0 && h.ips.length === 0) {
    report.ignore('expired');
    return;
  }
  for (const u of h.unsupported) report.unsupportedRule(0, shown(pattern), u);
  for (const c of h.ignored) report.ignore(c);
  for (const b of h.bad) report.reject(0, shown(b.value), b.reason);

  const extras: EntryExtras = {};
  if (id !== undefined) extras.ref = id;
  const tags = id !== undefined ? tagMap.get(id) : undefined;
  if (tags !== undefined) extras.tags = tags;
  if (expiresAt !== undefined) extras.expiresAt = expiresAt;
  for (const n of h.names) {
    const e: EntryExtras = { ...extras };
    if (n.fromUrl !== undefined) e.fromUrl = n.fromUrl;
    if (n.stop !== undefined) e.expiresAt = Math.min(expiresAt ?? n.stop, n.stop);
    pushName(out, report, n.value, 0, shown(n.value), e);
  }
  for (const ip of h.ips) pushIp(report, ip, 0, shown(ip), id);
}
