// Fitting an answer into a UDP limit without TC where the RFCs allow it. RFC 2181 §9: "The TC bit
// should not be set merely because some extra information could have been included in a response
// but was not"; the additional section is such information (glue, RRSIGs of glue: RFC 4035 §3.1.1
// forbids TC for those), and so is the authority section of a positive answer to a client that
// does not validate (NS records). What a client needs — the answer section, the SOA and NSEC
// records of a negative answer, the authority proofs a DO client checks — is never dropped: when
// that does not fit, the caller sends the TC=1 stub and the client retries over TCP.
import { HEADER_LEN, RType } from './constants.js';
import { skipName } from './names.js';

/**
 * `reply` cut to at most `limit` bytes by dropping whole sections from the end: first every
 * additional record except the OPT, then (positive answers, `dnssecOk` false) the authority
 * section. Null when even that does not fit, or the message cannot be walked.
 */
export function fitReply(reply: Buffer, limit: number, dnssecOk: boolean): Buffer | null {
  const len = reply.length;
  if (len <= limit) return reply;
  if (len < HEADER_LEN) return null;
  const qd = reply.readUInt16BE(4);
  const an = reply.readUInt16BE(6);
  const ns = reply.readUInt16BE(8);
  const ar = reply.readUInt16BE(10);
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    off = skipName(reply, off);
    if (off < 0 || off + 4 > len) return null;
    off += 4;
  }
  let answerEnd = off;
  let authorityEnd = off;
  let optStart = -1;
  let optEnd = -1;
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const start = off;
    off = skipName(reply, off);
    if (off < 0 || off + 10 > len) return null;
    const next = off + 10 + reply.readUInt16BE(off + 8);
    if (next > len) return null;
    if (i >= an + ns && reply.readUInt16BE(off) === RType.OPT && reply[start] === 0) {
      optStart = start;
      optEnd = next;
    }
    off = next;
    if (i === an - 1) answerEnd = off;
    if (i === an + ns - 1) authorityEnd = off;
  }
  const optLen = optStart < 0 ? 0 : optEnd - optStart;
  let keepTo = authorityEnd;
  let keepNs = ns;
  if (keepTo + optLen > limit) {
    if (an === 0 || dnssecOk || answerEnd + optLen > limit) return null;
    keepTo = answerEnd;
    keepNs = 0;
  }
  const out = Buffer.allocUnsafe(keepTo + optLen);
  reply.copy(out, 0, 0, keepTo);
  if (optLen > 0) reply.copy(out, keepTo, optStart, optEnd);
  out.writeUInt16BE(keepNs, 8);
  out.writeUInt16BE(optLen > 0 ? 1 : 0, 10);
  return out;
}
