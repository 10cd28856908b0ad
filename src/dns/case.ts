// 0x20 bit encoding (draft-vixie-dnsext-dns0x20): the letters of the question name sent upstream
// get a random case, and an answer must echo it exactly. A forger who knows the port and guesses
// the ID must now also guess one bit per letter. Names are compared case-insensitively everywhere
// else, so the random case changes nothing but the odds.
import { HEADER_LEN } from './constants.js';
import { skipName } from './names.js';

/**
 * Gives every ASCII letter of the literal name at [start, end) a random case, drawing bits from
 * `random16`. Returns how many letters there were (the bits of protection added).
 */
export function randomizeCase(msg: Buffer, start: number, end: number, random16: () => number): number {
  let letters = 0;
  let bits = 0;
  let left = 0;
  for (let off = start; off < end; ) {
    const l = msg[off]!;
    if (l === 0 || l > 63) break;
    for (let i = off + 1; i <= off + l && i < end; i++) {
      const b = msg[i]! | 0x20;
      if (b < 0x61 || b > 0x7a) continue;
      if (left === 0) {
        bits = random16();
        left = 16;
      }
      msg[i] = bits & 1 ? b & ~0x20 : b;
      bits >>>= 1;
      left--;
      letters++;
    }
    off += l + 1;
  }
  return letters;
}

/**
 * An upstream echoes the question's random case, and a server that does not compress writes the
 * name out again in owner names, case and all. Every owner name (answer, authority, additional)
 * that ends in a literal copy of the sent name or one of its suffixes gets the client's letters
 * back (`original` is the client's query; both questions start at the header's end and have the
 * same length). Only owners written out in full are touched: RDATA is never rewritten.
 */
export function restoreCase(resp: Buffer, qEnd: number, sent: Buffer, original: Buffer): void {
  const nameEnd = qEnd - 4;
  if (resp.length < qEnd || sent.compare(original, HEADER_LEN, nameEnd, HEADER_LEN, nameEnd) === 0) return;
  const total = resp.readUInt16BE(6) + resp.readUInt16BE(8) + resp.readUInt16BE(10);
  let off = qEnd;
  for (let i = 0; i < total; i++) {
    const start = off;
    off = skipName(resp, off);
    if (off < 0 || off + 10 > resp.length) return;
    if (resp[off - 1] === 0) restoreOwner(resp, start, off, sent, original, nameEnd);
    off += 10 + resp.readUInt16BE(off + 8);
  }
}

/** The owner at [start, end) is all literal labels: find the sent-name suffix it ends with. */
function restoreOwner(resp: Buffer, start: number, end: number, sent: Buffer, original: Buffer, nameEnd: number): void {
  for (let p = start; p < end - 1; p += resp[p]! + 1) {
    const len = end - p;
    const at = nameEnd - len; // where a suffix of this length starts in the question name
    if (at < HEADER_LEN) continue;
    if (resp.compare(sent, at, nameEnd, p, end) === 0) {
      original.copy(resp, p, at, nameEnd);
      return;
    }
  }
}
