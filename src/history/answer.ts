// Finds the first A or AAAA record in a reply, for the history's "answer received" column.
// Runs once per answered query, so it is a bounded walk over the raw bytes: no decoding, no
// allocation, at most MAX_RRS records looked at; anything malformed just means "no address".
import { HEADER_LEN, RType } from '../dns/constants.js';
import { skipName } from '../dns/names.js';

const MAX_QUESTIONS = 4;
const MAX_RRS = 32;
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
