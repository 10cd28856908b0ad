// Normalising and validating a domain taken from a list. Anything that is not a plausible
// host name is rejected with a reason, never guessed at.
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { hashFinish, HASH_B } from './names.js';

export type Normalized = { ok: true; name: string } | { ok: false; reason: string };

const LDH = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

// Unicode format characters (category Cf: LRM U+200E, ZWSP U+200B, WJ U+2060, BOM U+FEFF…):
// invisible, copied in from web pages and vendor CSVs.
const FORMAT_CHAR = /\p{Cf}/u;

/** `^(0x[0-9a-f]*|\d+)$` for s[start, end): an inet_aton number form, never a name. */
function numericLabel(s: string, start: number, end: number): boolean {
  let i = start;
  if (end - start >= 2 && s.charCodeAt(start) === 48 && s.charCodeAt(start + 1) === 120) {
    for (i = start + 2; i < end; i++) {
      const c = s.charCodeAt(i);
      if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    }
    return true;
  }
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** What the last scanName call found (module scratch: no object per call). */
export const scanned = {
  /** The token scanned is a normalised name (see isCanonicalName). */
  canonical: false,
  /** Its last label has a letter (a-z). */
  tldLetter: false,
  /** Its hashRange (names.ts). */
  hash: 0,
  /** Its running hash before hashFinish. */
  raw: 0,
  /** Dots in it (at most 127 are recorded below). */
  dots: 0,
};
/** Per dot of the last token scanned, left to right: the offset just after it (from the token's start)… */
export const DOT_END = new Int32Array(128);
/** …and the running hash of the token up to that offset. */
export const DOT_HASH = new Int32Array(128);

// Character classes of a normalised name's characters (0: anything else).
const C_LETTER = 1;
const C_DIGIT = 2;
const C_HYPHEN = 4;
const C_UNDERSCORE = 8;
const C_DOT = 16;
const CLASS = new Uint8Array(128);
for (let c = 97; c <= 122; c++) CLASS[c] = C_LETTER;
for (let c = 48; c <= 57; c++) CLASS[c] = C_DIGIT;
CLASS[45] = C_HYPHEN;
CLASS[95] = C_UNDERSCORE;
CLASS[46] = C_DOT;

/** Whether the label s[label, end) breaks the normalised form (edge '-', length, xn--). */
function badLabel(s: string, label: number, end: number): boolean {
  const n = end - label;
  return (
    n === 0 ||
    n > 63 ||
    s.charCodeAt(label) === 45 ||
    s.charCodeAt(end - 1) === 45 ||
    (n >= 4 && s.charCodeAt(label) === 120 && s.charCodeAt(label + 1) === 110 && s.charCodeAt(label + 2) === 45 && s.charCodeAt(label + 3) === 45)
  );
}

/**
 * Scans the token of name characters (a-z 0-9 . - _) starting at s[start], up to `end` or the
 * first other character, and returns where it ends. In the same pass: whether the token is a
 * normalised name, whether its last label has a letter, and its hash (in `scanned`).
 */
export function scanName(s: string, start: number, end: number): number {
  let h = 0;
  let label = start;
  let labels = 0;
  let ok = true;
  let numeric = true;
  let seen = 0;
  let i = start;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : 0;
    if (k === 0) break;
    h = (Math.imul(h, HASH_B) + c) | 0;
    if (k !== C_DOT) seen |= k;
    else {
      if (labels < 128) {
        DOT_END[labels] = i + 1 - start;
        DOT_HASH[labels] = h;
      }
      if (badLabel(s, label, i)) ok = false;
      if (numeric && (seen !== C_DIGIT || i === label) && !numericLabel(s, label, i)) numeric = false;
      labels++;
      label = i + 1;
      seen = 0;
    }
  }
  if (badLabel(s, label, i)) ok = false;
  if (numeric && (seen !== C_DIGIT || i === label) && !numericLabel(s, label, i)) numeric = false;
  scanned.canonical = ok && labels >= 1 && !numeric && i - start <= 253;
  scanned.tldLetter = (seen & C_LETTER) !== 0;
  scanned.hash = hashFinish(h);
  scanned.raw = h;
  scanned.dots = labels;
  return i;
}

/**
 * Whether s[start, end) is already a normalised name, one that normalizeDomain returns unchanged:
 * two or more labels of lower-case letters, digits, '_' and '-' (not at a label's edge), 1–63
 * characters each, 253 in all, no trailing dot. A name with an xn-- label (its punycode must be
 * checked) or made only of numeric labels is not, and goes the long way. One pass, no allocation.
 */
export function isCanonicalName(s: string, start: number, end: number): boolean {
  return scanName(s, start, end) === end && scanned.canonical;
}

export function normalizeDomain(raw: string): Normalized {
  if (isCanonicalName(raw, 0, raw.length)) return { ok: true, name: raw };
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
