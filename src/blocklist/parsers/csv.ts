// CSV indicator exports (Sophos, Volexity, abuse.ch ThreatFox and URLhaus, or any layout the
// source maps with csvColumns). Columns are found by header name, never by position, because
// vendors add and reorder columns over time (ThreatFox grew is_compromised).
import { classifyToken, refang, takeClassified, type EntryExtras } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import type { ParseReport } from './report.js';
import type { ParseOptions, Parser } from './types.js';

export type CsvItem =
  | { kind: 'comment'; text: string; line: number }
  | { kind: 'record'; fields: string[]; line: number; raw: string; error?: string };

function countNewlines(chunk: string): number {
  // CRLF, LF and lone CR each end one line.
  return chunk.match(/\r\n|\n|\r/g)?.length ?? 0;
}

/**
 * RFC 4180 reader, lenient where real exports are: fields may be quoted with doubled quotes
 * inside; spaces before a field are skipped (ThreatFox writes `", "`); CRLF, LF and lone CR end a
 * record; the last one may lack a newline; a line starting with '#' is a comment.
 */
export function readCsv(text: string): CsvItem[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const items: CsvItem[] = [];
  let i = 0;
  let line = 1;
  const n = s.length;
  const atEol = (k: number) => k >= n || s[k] === '\n' || s[k] === '\r';
  const skipEol = () => {
    if (s[i] === '\r' && s[i + 1] === '\n') i += 2;
    else if (i < n) i++;
    line++;
  };
  while (i < n) {
    const start = i;
    const startLine = line;
    if (atEol(i)) {
      skipEol();
      continue;
    }
    if (s[i] === '#') {
      while (!atEol(i)) i++;
      items.push({ kind: 'comment', text: s.slice(start + 1, i), line: startLine });
      skipEol();
      continue;
    }
    const fields: string[] = [];
    let error: string | undefined;
    for (;;) {
      while (s[i] === ' ' || s[i] === '\t') i++;
      let field = '';
      if (s[i] === '"') {
        i++;
        let closed = false;
        // Copy runs between quotes in one slice: exports run to hundreds of MB.
        while (i < n) {
          const q = s.indexOf('"', i);
          const chunk = s.slice(i, q < 0 ? n : q);
          if (chunk.includes('\n') || chunk.includes('\r')) line += countNewlines(chunk);
          field += chunk;
          if (q < 0) {
            i = n;
            break;
          }
          if (s[q + 1] === '"') {
            field += '"';
            i = q + 2;
            continue;
          }
          i = q + 1;
          closed = true;
          break;
        }
        if (!closed) error ??= 'unterminated quoted field';
        while (s[i] === ' ' || s[i] === '\t') i++;
        if (!atEol(i) && s[i] !== ',') {
          error ??= 'text after a closing quote';
          while (!atEol(i) && s[i] !== ',') field += s[i++];
        }
      } else {
        const from = i;
        while (!atEol(i) && s[i] !== ',') i++;
        field = s.slice(from, i);
      }
      fields.push(field);
      if (s[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    const raw = s.slice(start, i);
    items.push(error === undefined ? { kind: 'record', fields, line: startLine, raw } : { kind: 'record', fields, line: startLine, raw, error });
    if (i < n) skipEol();
  }
  return items;
}

/** Where a layout keeps each thing, as lower-case header names. */
interface Layout {
  name: string;
  value: string;
  type?: string;
  id?: string;
  tags?: string;
  compromised?: string;
  confidence?: string;
  /** Every value is a URL indicator (URLhaus): hosts carry fromUrl. */
  urlIoc?: boolean;
}

/** Recognised by the presence of all `needs` columns. Order matters: most specific first. */
const KNOWN: { needs: string[]; layout: Layout }[] = [
  {
    needs: ['ioc_value', 'ioc_type'],
    layout: { name: 'ThreatFox', value: 'ioc_value', type: 'ioc_type', id: 'ioc_id', tags: 'tags', compromised: 'is_compromised', confidence: 'confidence_level' },
  },
  { needs: ['url', 'urlhaus_link'], layout: { name: 'URLhaus', value: 'url', id: 'id', tags: 'tags', urlIoc: true } },
  { needs: ['url', 'url_status'], layout: { name: 'URLhaus', value: 'url', id: 'id', tags: 'tags', urlIoc: true } },
  { needs: ['indicator', 'data'], layout: { name: 'Sophos', value: 'data', type: 'indicator' } },
  { needs: ['value', 'entity_type'], layout: { name: 'Volexity', value: 'value', type: 'entity_type' } },
  // Volexity's github_summary.csv: the C2 domain decoded from each IconStorages icon file.
  { needs: ['file', 'domain', 'last modified'], layout: { name: 'Volexity github_summary', value: 'domain', id: 'file' } },
];

const headerKey = (h: string) => h.replace(/^\p{Cf}+|\p{Cf}+$/gu, '').trim().toLowerCase();

function layoutFor(header: string[], opts: ParseOptions): { layout: Layout } | { error: string } {
  const cols = new Set(header.map(headerKey));
  const found = header.map((h) => JSON.stringify(h.trim())).join(', ');
  if (opts.csvColumns !== undefined) {
    const c = opts.csvColumns;
    const layout: Layout = { name: 'csvColumns', value: headerKey(c.value) };
    for (const k of ['type', 'id', 'tags', 'compromised', 'confidence'] as const) {
      const v = c[k];
      if (v !== undefined) layout[k] = headerKey(v);
    }
    const missing = (['value', 'type', 'id', 'tags', 'compromised', 'confidence'] as const)
      .map((k) => layout[k])
      .filter((v): v is string => v !== undefined && !cols.has(v));
    if (missing.length > 0) return { error: `csvColumns names ${missing.map((m) => JSON.stringify(m)).join(', ')}, not in the header; columns found: ${found}` };
    return { layout };
  }
  for (const k of KNOWN) if (k.needs.every((c) => cols.has(c))) return { layout: k.layout };
  return {
    error: `unknown CSV layout; columns found: ${found}. Known: ThreatFox (ioc_value, ioc_type), URLhaus (url, urlhaus_link), Sophos (Indicator, Data), Volexity (value, entity_type); set csvColumns for others`,
  };
}

/** A commented line that is the real header (ThreatFox, URLhaus write `# "first_seen_utc",…`). */
function commentedHeader(text: string, opts: ParseOptions): string[] | null {
  const rec = readCsv(text.trim())[0];
  if (rec === undefined || rec.kind !== 'record' || rec.error !== undefined || rec.fields.length < 2) return null;
  return 'layout' in layoutFor(rec.fields, opts) ? rec.fields : null;
}

// Type labels that say a row holds a network indicator. Anything else that is labelled (file,
// SHA256, emailwhois, Description) is skipped whatever its value looks like: Sophos's
// "Description" row holds the URL of the vendor's own article.
const NETWORK_WORDS = new Set(['domain', 'domains', 'hostname', 'hostnames', 'host', 'fqdn', 'dns', 'url', 'urls', 'uri', 'ip', 'ipv4', 'ipv6', 'cidr']);

function isNetworkLabel(label: string): boolean {
  return label
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((w) => NETWORK_WORDS.has(w));
}

const isNull = (v: string | undefined): boolean => v === undefined || v.trim() === '' || v.trim() === 'None';
const TRUE = new Set(['true', '1', 'yes', 't', 'y']);

export const parseCsv: Parser = (text, report, opts) => {
  const out: ListEntry[] = [];
  const items = readCsv(text);
  let layout: Layout | null = null;
  let index: Map<string, number> = new Map();
  let width = 0;
  let need = 0;
  let pendingHeader: string[] | null = null;

  for (const item of items) {
    if (item.kind === 'comment') {
      if (layout === null) pendingHeader = commentedHeader(item.text, opts) ?? pendingHeader;
      continue;
    }
    if (layout === null) {
      // A plain first record is the header unless a commented header already named the layout.
      const header = pendingHeader ?? item.fields;
      const found = layoutFor(header, opts);
      if ('error' in found) {
        report.reject(item.line, item.raw, found.error);
        return out;
      }
      layout = found.layout;
      index = new Map(header.map((h, k) => [headerKey(h), k]));
      width = header.length;
      need = Math.max(...[layout.value, layout.type].map((c) => (c === undefined ? -1 : (index.get(c) ?? -1))));
      if (pendingHeader === null) continue;
    }
    if (item.error !== undefined) {
      report.reject(item.line, item.raw, item.error);
      continue;
    }
    if (item.fields.length === 1 && item.fields[0]!.trim() === '') continue;
    const get = (col: string | undefined): string | undefined => (col === undefined ? undefined : item.fields[index.get(col) ?? -1]);
    if (item.fields.length <= need) {
      report.reject(item.line, item.raw, `row has ${item.fields.length} fields; the header has ${width}`);
      continue;
    }
    takeRow(layout, get, item.line, item.raw, out, report, opts);
  }
  return out;
};

function takeRow(
  layout: Layout,
  get: (col: string | undefined) => string | undefined,
  line: number,
  raw: string,
  out: ListEntry[],
  report: ParseReport,
  opts: ParseOptions,
): void {
  const rawValue = get(layout.value);
  if (isNull(rawValue)) {
    report.ignore('empty');
    return;
  }
  const compromised = get(layout.compromised);
  if (!isNull(compromised) && TRUE.has(compromised!.trim().toLowerCase())) {
    report.ignore('compromised');
    return;
  }
  const confidence = get(layout.confidence);
  const min = opts.minConfidence ?? 0;
  if (!isNull(confidence) && min > 0) {
    const c = Number(confidence!.trim());
    if (Number.isFinite(c) && c < min) {
      report.ignore('low-confidence');
      return;
    }
  }
  const value = refang(rawValue!).trim();
  const c = classifyToken(value);
  const label = get(layout.type);
  if (!isNull(label) && !isNetworkLabel(label!)) {
    if (c.kind === 'hash') report.ignore(c.algorithm);
    else if (c.kind === 'email') report.ignore('email');
    else report.ignore(label!.trim().toLowerCase().replace(/\s+/g, '-'));
    return;
  }
  const extras: EntryExtras = {};
  const id = get(layout.id);
  if (!isNull(id)) extras.ref = id!.trim();
  const tags = get(layout.tags);
  if (!isNull(tags)) {
    const list = tags!
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '' && t !== 'None');
    if (list.length > 0) extras.tags = list;
  }
  takeClassified(c, value, out, report, line, raw, extras, layout.urlIoc === true);
}
