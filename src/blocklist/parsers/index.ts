// The format registry: adding a format is one parser file and one line here (plus a rule in
// detectFormat if it can be recognised).
import { parseAdblock } from './adblock.js';
import { parseCsv } from './csv.js';
import { parseHosts } from './hosts.js';
import { parseIocText } from './ioc-text.js';
import { parseMisp } from './misp.js';
import { parsePlain } from './plain.js';
import { parseRpz } from './rpz.js';
import { parseStix } from './stix.js';
import type { Parser } from './types.js';
import { parseWildcard } from './wildcard.js';

export type { Parser } from './types.js';

export const LIST_FORMATS = ['plain', 'hosts', 'wildcard', 'adblock', 'rpz', 'csv', 'stix', 'misp', 'ioc-text'] as const;
export type ListFormat = (typeof LIST_FORMATS)[number];

export const PARSERS: Record<ListFormat, Parser> = {
  plain: parsePlain,
  hosts: parseHosts,
  wildcard: parseWildcard,
  adblock: parseAdblock,
  rpz: parseRpz,
  csv: parseCsv,
  stix: parseStix,
  misp: parseMisp,
  'ioc-text': parseIocText,
};

/**
 * Guesses the format from the content: JSON objects (STIX or MISP), zone files, adblock rules,
 * CSV with a header, defanged report text, wildcard lists, hosts files; otherwise plain.
 * Configure `format` explicitly for anything that matters: a guess can be wrong.
 */
export function detectFormat(text: string): ListFormat {
  const head = text.slice(0, 256 * 1024).replace(/^\ufeff/, '');
  const trimmed = head.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    if (/"type"\s*:\s*"(bundle|indicator)"/.test(head)) return 'stix';
    if (/"Event"\s*:|"Attribute"\s*:/.test(head)) return 'misp';
  }
  const lines = head.split(/\r\n|\n|\r/).slice(0, 400);
  const count = { hosts: 0, plain: 0, adblock: 0, rpz: 0, wildcard: 0, defanged: 0, csv: 0 };
  let meaningful = 0;
  for (const raw of lines) {
    const l = raw.trim();
    if (l === '') continue;
    if (/^\$(ORIGIN|TTL)\b/i.test(l) || /\sIN\s+SOA\s|\sCNAME\s+(\.|\*\.|rpz-[a-z-]+\.)\s*(;.*)?$/i.test(` ${l}`)) count.rpz++;
    if (l.startsWith('!') || l.startsWith('[Adblock')) {
      count.adblock++;
      continue;
    }
    if (l.startsWith('#') || l.startsWith(';')) continue;
    meaningful++;
    if (/^(@@)?\|\|?[^\s]+\^/.test(l)) count.adblock++;
    else if (/\[\.\]|\(\.\)|\[dot\]|hxxps?:\/\//i.test(l)) count.defanged++;
    else if (/^\*\.[^\s]+$/.test(l)) count.wildcard++;
    else if (/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f:.]*)\s+\S/i.test(l)) count.hosts++;
    else count.plain++;
    if (l.includes(',')) count.csv++;
    if (meaningful >= 200) break;
  }
  if (count.rpz >= 2) return 'rpz';
  if (count.adblock > 0 && count.adblock >= count.hosts && count.adblock >= count.plain / 2) return 'adblock';
  // CSV: a header row of column names (ThreatFox comments it out) and commas on most lines.
  const header = lines.find((l) => l.trim() !== '' && (!l.startsWith('#') || /^#\s*"\w+",/.test(l))) ?? '';
  if (/^(#\s*)?\ufeff?"?[A-Za-z_][\w ]*"?(\s*,\s*"?[A-Za-z_][\w ]*"?)+\s*$/.test(header.trim()) && count.csv >= meaningful / 2) return 'csv';
  if (count.defanged > 0) return 'ioc-text';
  if (count.wildcard > 0 && count.wildcard >= count.plain) return 'wildcard';
  return count.hosts > count.plain ? 'hosts' : 'plain';
}
