// Fitting an answer into a UDP limit without TC where the RFCs allow it. RFC 2181 §9: "The TC bit
// should not be set merely because some extra information could have been included in a response
// but was not"; the additional section is such information (glue, RRSIGs of glue: RFC 4035 §3.1.1
// forbids TC for those), and so is the authority section of a positive answer to a client that
// does not validate (NS records). What a client needs — the answer section, the SOA and NSEC
// records of a negative answer, the authority proofs a DO client checks — is never dropped: when
// that does not fit, the caller sends the TC=1 stub and the client retries over TCP.
import { EDNS_OPTION_EDE, HEADER_LEN, RType } from './constants.js';
import { skipName } from './names.js';
import { findOpt, OPT_FIXED_LEN } from './opt.js';

/** Where a message's sections end, and its OPT record (start -1: none); null when it cannot be walked. */
interface Layout {
  questionEnd: number;
  answerEnd: number;
  authorityEnd: number;
  optStart: number;
  optEnd: number;
}

function layout(reply: Buffer): Layout | null {
  const len = reply.length;
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
  const l: Layout = { questionEnd: off, answerEnd: off, authorityEnd: off, optStart: -1, optEnd: -1 };
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const start = off;
    off = skipName(reply, off);
    if (off < 0 || off + 10 > len) return null;
    const next = off + 10 + reply.readUInt16BE(off + 8);
    if (next > len) return null;
    if (i >= an + ns && reply.readUInt16BE(off) === RType.OPT && reply[start] === 0) {
      l.optStart = start;
      l.optEnd = next;
    }
    off = next;
    if (i < an) l.answerEnd = off;
    if (i < an + ns) l.authorityEnd = off;
  }
  return l;
}

/** The message up to `keepTo` (header, question and the sections before it), then `opt` as its only additional record. */
function cut(reply: Buffer, keepTo: number, keepAn: number, keepNs: number, opt: Buffer | null): Buffer {
  const optLen = opt === null ? 0 : opt.length;
  const out = Buffer.allocUnsafe(keepTo + optLen);
  reply.copy(out, 0, 0, keepTo);
  if (opt !== null) opt.copy(out, keepTo);
  out.writeUInt16BE(keepAn, 6);
  out.writeUInt16BE(keepNs, 8);
  out.writeUInt16BE(optLen > 0 ? 1 : 0, 10);
  return out;
}

/**
 * `reply` cut to at most `limit` bytes by dropping whole sections from the end: first every
 * additional record except the OPT, then (positive answers, `dnssecOk` false) the authority
 * section. Null when even that does not fit, or the message cannot be walked.
 */
export function fitReply(reply: Buffer, limit: number, dnssecOk: boolean): Buffer | null {
  if (reply.length <= limit) return reply;
  const l = layout(reply);
  if (l === null) return null;
  const an = reply.readUInt16BE(6);
  const opt = l.optStart < 0 ? null : reply.subarray(l.optStart, l.optEnd);
  const optLen = opt === null ? 0 : opt.length;
  if (l.authorityEnd + optLen <= limit) return cut(reply, l.authorityEnd, an, reply.readUInt16BE(8), opt);
  if (an === 0 || dnssecOk || l.answerEnd + optLen > limit) return null;
  return cut(reply, l.answerEnd, an, 0, opt);
}

/**
 * `reply` cut to at most `max` bytes for a client that has not proven its address (UDP), where
 * an answer carries no data the client needs beyond its rcode and a few records: first every EDE
 * option loses its text (the info code stays, RFC 8914 §2: a text cut short would say something
 * else), then the additional records other than the OPT and the authority section go (a blocked
 * answer's SOA: the client only loses the negative-caching TTL), then the answer section (header,
 * question and OPT). Used on refusals, errors and blocked answers so c2dns is a poor reflector
 * (issue 10 item 14). Never sets TC: the client gets the same answer over TCP, no reason to ask again.
 * A message that cannot be walked is returned as far as it was cut.
 */
export function capReply(reply: Buffer, max: number): Buffer {
  if (reply.length <= max) return reply;
  const opt = findOpt(reply);
  let out = reply;
  let optBytes: Buffer | null = null;
  if (opt !== null) {
    const rdlenAt = opt.start + 9;
    const optEnd = opt.start + OPT_FIXED_LEN + reply.readUInt16BE(rdlenAt);
    optBytes = withoutEdeText(reply.subarray(opt.start, optEnd));
    out = Buffer.concat([reply.subarray(0, opt.start), optBytes, reply.subarray(optEnd)]);
    if (out.length <= max) return out;
  }
  const l = layout(out);
  if (l === null) return out;
  const optLen = optBytes === null ? 0 : optBytes.length;
  const an = out.readUInt16BE(6);
  if (l.answerEnd + optLen <= max) return cut(out, l.answerEnd, an, 0, optBytes);
  return cut(out, l.questionEnd, 0, 0, optBytes);
}

/** An OPT record (owner to end of RDATA) with every EDE option cut to its info code. */
function withoutEdeText(opt: Buffer): Buffer {
  const rdata = opt.subarray(OPT_FIXED_LEN);
  const parts: Buffer[] = [Buffer.from(opt.subarray(0, OPT_FIXED_LEN))];
  let len = 0;
  for (let off = 0; off + 4 <= rdata.length; ) {
    const code = rdata.readUInt16BE(off);
    const olen = rdata.readUInt16BE(off + 2);
    if (off + 4 + olen > rdata.length) break;
    let o = rdata.subarray(off, off + 4 + olen);
    if (code === EDNS_OPTION_EDE && olen > 2) {
      o = Buffer.from(o.subarray(0, 6));
      o.writeUInt16BE(2, 2);
    }
    parts.push(o);
    len += o.length;
    off += 4 + olen;
  }
  parts[0]!.writeUInt16BE(len, 9);
  return Buffer.concat(parts);
}
