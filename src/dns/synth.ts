// Answers c2dns writes itself: errors, sinkholes, NODATA/NXDOMAIN with a synthetic SOA, and the
// TC=1 stub. Hand templates: these are on the blocked path, and dns2's encoder costs ~16 µs each.
import { copyBytes } from './bytes.js';
import { CLASS_IN, Flag, HEADER_LEN, RType } from './constants.js';
import { encodeName, suffixOffset } from './names.js';
import { findOpt, OPT_FIXED_LEN, writeOpt } from './opt.js';
import { ParseStatus, type ParsedQuery } from './query.js';

// SOA RDATA: MNAME sinkhole.c2dns.invalid, RNAME a pointer to it (mailbox sinkhole@c2dns.invalid),
// SERIAL, REFRESH, RETRY, EXPIRE, then MINIMUM written per answer. Kept small on purpose: every
// NODATA/NXDOMAIN block carries it, and a blocked answer should not be a reflection amplifier
// (issue 10 item 14): 58 bytes, where two written-out names made 82.
const SOA_MNAME = encodeName('sinkhole.c2dns.invalid');
const SOA_RDATA_LEN = SOA_MNAME.length + 2 + 20;
const SOA_TIMERS = [1, 3600, 600, 86400];

/** One answer record owned by the question name. */
export interface SynthRecord {
  type: number;
  rdata: Buffer;
}

export interface SynthOptions {
  rcode: number;
  /** Answer records, all owned by the question name (may be empty). */
  answers: readonly SynthRecord[];
  /** Add a SOA in authority whose owner is the last `soaLabels` labels of the question name. */
  soaLabels: number;
  ttl: number;
  /** EDE option bytes (already encoded), sent only when the client used EDNS. */
  ede: Buffer | null;
}

/** A complete reply to `query` built from the options; question echoed byte for byte. */
export function synthesize(query: Buffer, pq: ParsedQuery, o: SynthOptions): Buffer {
  const qLen = pq.qEnd - HEADER_LEN;
  let ansLen = 0;
  for (const r of o.answers) ansLen += 12 + r.rdata.length;
  const soaLen = o.soaLabels >= 0 ? 12 + SOA_RDATA_LEN : 0;
  const optLen = pq.edns ? OPT_FIXED_LEN + (o.ede === null ? 0 : o.ede.length) : 0;
  const out = Buffer.allocUnsafe(HEADER_LEN + qLen + ansLen + soaLen + optLen);
  copyQuestion(out, query, pq.qEnd);
  writeHeader(out, pq, o.rcode, o.answers.length, soaLen > 0 ? 1 : 0, pq.edns ? 1 : 0);
  let off = pq.qEnd;
  for (const r of o.answers) {
    u16(out, off, 0xc00c); // pointer to the question name
    u16(out, off + 2, r.type);
    u16(out, off + 4, CLASS_IN);
    u32(out, off + 6, o.ttl);
    u16(out, off + 10, r.rdata.length);
    out.set(r.rdata, off + 12);
    off += 12 + r.rdata.length;
  }
  if (soaLen > 0) {
    let owner = suffixOffset(query, HEADER_LEN, o.soaLabels);
    if (owner < 0) owner = HEADER_LEN;
    u16(out, off, 0xc000 | owner);
    u16(out, off + 2, RType.SOA);
    u16(out, off + 4, CLASS_IN);
    u32(out, off + 6, o.ttl);
    u16(out, off + 10, SOA_RDATA_LEN);
    off += 12;
    const mname = off;
    out.set(SOA_MNAME, off);
    off += SOA_MNAME.length;
    u16(out, off, 0xc000 | mname);
    off += 2;
    for (const t of SOA_TIMERS) {
      u32(out, off, t);
      off += 4;
    }
    u32(out, off, o.ttl);
    off += 4;
  }
  if (pq.edns) writeOpt(out, off, o.rcode >>> 4, pq.dnssecOk, o.ede);
  return out;
}

/**
 * An error reply. Carries the question when it could be read (qEnd > 0), and an OPT when the
 * query had one (RFC 6891 §7: a responder that implements EDNS answers an OPT with an OPT, so the
 * client can tell a FORMERR about its query from a server without EDNS; BADVERS needs it for the
 * extended rcode).
 *
 * A query c2dns rejected unprocessed (FORMERR, NOTIMP, BADVERS: `pq.status` is not Ok) gets only
 * what describes the message itself: QR, the opcode and RD echoed, no RA, CD or AD, which speak
 * of a recursive answer that was never attempted. Its OPT is looked for even where parseQuery
 * stopped early (an unknown opcode, QDCOUNT ≠ 1), and used when the message walks cleanly.
 */
export function errorReply(query: Buffer, pq: ParsedQuery, rcode: number, ede: Buffer | null = null): Buffer {
  const rejected = pq.status !== ParseStatus.Ok;
  let edns = pq.edns;
  let dnssecOk = pq.dnssecOk;
  if (!edns && rejected) {
    const opt = findOpt(query);
    if (opt !== null) {
      edns = true;
      dnssecOk = opt.dnssecOk;
    }
  }
  const withQuestion = pq.qEnd > HEADER_LEN && pq.qEnd <= query.length;
  const qLen = withQuestion ? pq.qEnd - HEADER_LEN : 0;
  const optLen = edns ? OPT_FIXED_LEN + (ede === null ? 0 : ede.length) : 0;
  const out = Buffer.allocUnsafe(HEADER_LEN + qLen + optLen);
  if (withQuestion) copyQuestion(out, query, pq.qEnd);
  writeHeader(out, pq, rcode, 0, 0, edns ? 1 : 0, rejected);
  u16(out, 4, withQuestion ? 1 : 0);
  if (edns) writeOpt(out, HEADER_LEN + qLen, rcode >>> 4, dnssecOk, ede);
  return out;
}

/** RFC 2181 §9 / RFC 6891 §7: header + question (+ OPT) with TC=1, so the client retries on TCP. */
export function truncatedReply(reply: Buffer, pq: ParsedQuery): Buffer {
  const optLen = pq.edns ? OPT_FIXED_LEN : 0;
  const out = Buffer.allocUnsafe(pq.qEnd + optLen);
  reply.copy(out, 0, 0, pq.qEnd);
  u16(out, 2, out.readUInt16BE(2) | Flag.TC);
  u16(out, 6, 0);
  u16(out, 8, 0);
  u16(out, 10, pq.edns ? 1 : 0);
  if (pq.edns) writeOpt(out, pq.qEnd, 0, pq.dnssecOk, null);
  return out;
}

/**
 * Copies the query's header and question (bytes 0 to qEnd) to the start of `out`, whose header
 * writeHeader then writes. A query that ends with its question (no EDNS: dnsperf's, many stubs')
 * is copied whole with TypedArray#set; one with an OPT after it through copyBytes, as relay copies
 * a question. Buffer#copy of a part, as before, checked its arguments in JS and made a Uint8Array
 * view of the part (~400 instructions and an allocation).
 */
function copyQuestion(out: Buffer, query: Buffer, qEnd: number): void {
  if (qEnd === query.length) out.set(query, 0);
  else copyBytes(query, 0, qEnd, out, 0);
}

function writeHeader(out: Buffer, pq: ParsedQuery, rcode: number, an: number, ns: number, ar: number, rejected = false): void {
  u16(out, 0, pq.id);
  // QR, opcode echoed, RD and CD echoed, RA set: we recurse (via upstreams) for every client.
  // A rejected query only has QR, its opcode and RD echoed (see errorReply); a BADVERS answer is
  // to a well-formed query we would recurse for, so it keeps RA as Unbound's does (EDNS interop test).
  const flags = rejected
    ? Flag.QR | (pq.flags & 0x7800) | (pq.flags & Flag.RD) | (pq.status === ParseStatus.BadVers ? Flag.RA : 0) | (rcode & 0x0f)
    : Flag.QR | (pq.flags & 0x7800) | (pq.flags & (Flag.RD | Flag.CD)) | Flag.RA | (rcode & 0x0f);
  u16(out, 2, flags);
  u16(out, 4, 1);
  u16(out, 6, an);
  u16(out, 8, ns);
  u16(out, 10, ar);
}

// Big-endian stores without Buffer#writeUInt16BE/32BE's argument checks (~40 instructions a
// call, a dozen calls a blocked answer): offsets and values here are ours and in range.
function u16(b: Buffer, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

function u32(b: Buffer, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}
