// Finds the first A or AAAA record in a reply, for the history's "answer received" column.
// Runs once per answered query, so it is a bounded walk over the raw bytes: no decoding, no
// allocation, at most MAX_RRS records looked at; anything malformed just means "no address".
import { HEADER_LEN, RType } from '../dns/constants.js';

const MAX_QUESTIONS = 4;
const MAX_RRS = 32;
const MAX_LABELS = 128;

/** Offset just past the name at `off`, or -1 when it runs off the end or is absurdly long. */
function skipName(b: Uint8Array, off: number): number {
  for (let n = 0; n < MAX_LABELS; n++) {
    if (off >= b.length) return -1;
    const len = b[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= b.length ? off + 2 : -1; // a pointer ends the name
    if ((len & 0xc0) !== 0) return -1;
    off += len + 1;
  }
  return -1;
}

/**
 * Where the first A/AAAA rdata of the answer section is: `offset * 32 + length` (length 4 or 16),
 * or -1 when there is none (non-NOERROR, NODATA, only CNAMEs, malformed). Packed into one number
 * so the per-query path allocates nothing.
 */
export function firstAddress(b: Uint8Array): number {
  if (b.length < HEADER_LEN || (b[3]! & 0x0f) !== 0) return -1;
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  if (an === 0 || qd > MAX_QUESTIONS) return -1;
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    off = skipName(b, off);
    if (off < 0) return -1;
    off += 4;
  }
  const rrs = an < MAX_RRS ? an : MAX_RRS;
  for (let i = 0; i < rrs; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 10 > b.length) return -1;
    const type = (b[off]! << 8) | b[off + 1]!;
    const rdlen = (b[off + 8]! << 8) | b[off + 9]!;
    off += 10;
    if (off + rdlen > b.length) return -1;
    if ((type === RType.A && rdlen === 4) || (type === RType.AAAA && rdlen === 16)) return off * 32 + rdlen;
    off += rdlen;
  }
  return -1;
}
