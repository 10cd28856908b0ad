// Normalising and validating a domain taken from a list. Anything that is not a plausible
// host name is rejected with a reason, never guessed at.
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';

export type Normalized = { ok: true; name: string } | { ok: false; reason: string };

const LDH = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

// Unicode format characters (category Cf: LRM U+200E, ZWSP U+200B, WJ U+2060, BOM U+FEFF…):
// invisible, copied in from web pages and vendor CSVs.
const FORMAT_CHAR = /\p{Cf}/u;

export function normalizeDomain(raw: string): Normalized {
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
