// Upstream answers are relayed as bytes, never re-encoded: we validate and index them once with
// a bounded walk (names are skipped, never followed), then replay them to each client by patching
// the ID, RD/CD flags, the question's letter case and the TTLs. EDNS is hop-by-hop (RFC 6891), so
// the upstream OPT is removed and c2dns writes its own, keeping only upstream EDE options. c2dns
// is a recursive service, not the authority: AA is cleared and RA set in every relayed answer,
// and AD reaches only clients that asked for it with AD or DO (RFC 6840 §5.7-5.8).
import { Ede, Flag, HEADER_LEN, RType } from './constants.js';
import { copyBytes, sameBytes } from './bytes.js';
import { skipName, sameQuestion } from './names.js';
import { edeOption, OPT_FIXED_LEN, pickEdeOptions, writeOpt } from './opt.js';
import type { ParsedQuery } from './query.js';

export interface StoredAnswer {
  /**
   * Upstream message without its OPT record, in an allocation of its own. Every record in it has
   * a TTL field (the OPT was the only one without): replay finds them by walking the records
   * (findTtls) instead of keeping their offsets, a view and an array more per cached answer.
   */
  wire: Buffer;
  /** Full rcode (upstream OPT extended bits merged). */
  rcode: number;
  answerCount: number;
  /** Smallest TTL over answer and authority records; -1 when there are none. */
  minTtl: number;
  /** RFC 2308 negative TTL: min(SOA TTL, SOA MINIMUM) of an authority SOA; -1 when absent. */
  negativeTtl: number;
  /** Upstream EDE options to relay, or null. */
  ede: Buffer | null;
  /** performance.now() when received; replay subtracts the whole seconds elapsed since. */
  storedAt: number;
  /**
   * Kept with the answer for the response-policy stage above the cache (resolve/response.ts),
   * which alone reads and writes it (opaque here): its verdict under the last policy tables that
   * checked the answer. A field, not a WeakMap keyed by the answer: a WeakMap entry per upstream
   * miss, and the ephemeron work each costs the GC, were the largest JavaScript cost left on the
   * miss path.
   */
  verdict: unknown;
}

export enum ResponseCheck {
  Ok = 0,
  /** Not a well-formed answer to the query we sent: ignore it and keep waiting. */
  Mismatch = 1,
  /** TC=1: retry the same upstream over TCP. */
  Truncated = 2,
  /** An error answer without a question (FORMERR/SERVFAIL/NOTIMP/REFUSED): try the next upstream now. */
  Failed = 3,
  /**
   * ID and question match except for letter case, when the exact case was asked for (0x20
   * randomisation, draft-vixie-dnsext-dns0x20): forged, or an upstream that does not echo case.
   */
  CaseMismatch = 4,
}

/**
 * Is `resp` an answer to `sent` (ID, QR, opcode, question compared case-insensitively)? With
 * `exactCase`, a question that differs only in letter case is reported as CaseMismatch.
 * The source address and port are the transport's business.
 */
export function checkResponse(resp: Buffer, sent: Buffer, sentQEnd: number, exactCase = false): ResponseCheck {
  if (resp.length < 12) return ResponseCheck.Mismatch;
  if (resp[0] !== sent[0] || resp[1] !== sent[1]) return ResponseCheck.Mismatch;
  const flags = (resp[2]! << 8) | resp[3]!;
  if ((flags & Flag.QR) === 0 || ((flags >>> 11) & 0xf) !== 0) return ResponseCheck.Mismatch;
  const qd = (resp[4]! << 8) | resp[5]!;
  if (qd === 0) {
    // RFC 1035 lets a server that could not parse the query answer without echoing it.
    const rc = flags & 0x0f;
    return rc === 1 || rc === 2 || rc === 4 || rc === 5 ? ResponseCheck.Failed : ResponseCheck.Mismatch;
  }
  if (qd !== 1) return ResponseCheck.Mismatch;
  if (resp.length < sentQEnd || !sameQuestion(resp, HEADER_LEN, sent, HEADER_LEN, sentQEnd - HEADER_LEN)) return ResponseCheck.Mismatch;
  if (exactCase && !sameBytes(resp, HEADER_LEN, sent, HEADER_LEN, sentQEnd - HEADER_LEN)) return ResponseCheck.CaseMismatch;
  return flags & Flag.TC ? ResponseCheck.Truncated : ResponseCheck.Ok;
}

// TTL offsets of the message being stored or replayed (a record takes at least 11 bytes of a 64 KiB message).
const ttls = new Uint16Array(65536 / 11);

/**
 * Indexes a checked response (fields read as bytes: Buffer#readUInt* checks its arguments on
 * every call). Returns null when its records are malformed. The wire is an allocation of its own
 * (not a slice of Node's pool, which a cached answer would keep alive whole): what the cache
 * keeps, made once (resolve/cache.ts).
 */
export function storeResponse(resp: Buffer, qEnd: number, now: number): StoredAnswer | null {
  const len = resp.length;
  const an = (resp[6]! << 8) | resp[7]!;
  const ns = (resp[8]! << 8) | resp[9]!;
  const ar = (resp[10]! << 8) | resp[11]!;
  const total = an + ns + ar;
  let nTtls = 0;
  let off = qEnd;
  let minTtl = -1;
  let negativeTtl = -1;
  let optStart = -1;
  let optIndex = -1;
  let extRcode = 0;
  let ede: Buffer | null = null;
  for (let i = 0; i < total; i++) {
    const start = off;
    off = skipName(resp, off);
    if (off < 0 || off + 10 > len) return null;
    const type = (resp[off]! << 8) | resp[off + 1]!;
    const rdlen = (resp[off + 8]! << 8) | resp[off + 9]!;
    const rdata = off + 10;
    const next = rdata + rdlen;
    if (next > len) return null;
    if (type === RType.OPT) {
      if (optStart >= 0 || i < an + ns) return null;
      optStart = start;
      optIndex = i;
      extRcode = resp[off + 4]!;
      ede = pickEdeOptions(resp.subarray(rdata, next));
    } else {
      const raw = resp[off + 4]! * 0x1000000 + ((resp[off + 5]! << 16) | (resp[off + 6]! << 8) | resp[off + 7]!);
      const ttl = raw > 0x7fffffff ? 0 : raw; // RFC 2181 §8: a TTL with the top bit set means zero
      ttls[nTtls++] = off + 4;
      if (i < an + ns && (minTtl < 0 || ttl < minTtl)) minTtl = ttl;
      if (type === RType.SOA && i >= an && i < an + ns && rdlen >= 22) {
        const minimum = resp[next - 4]! * 0x1000000 + ((resp[next - 3]! << 16) | (resp[next - 2]! << 8) | resp[next - 1]!);
        const neg = Math.min(ttl, minimum);
        if (negativeTtl < 0 || neg < negativeTtl) negativeTtl = neg;
      }
    }
    off = next;
  }
  // Keep the message up to the OPT record, or up to the last record (trailing garbage is
  // dropped). Additional records after a mid-section OPT go with it: their compression pointers
  // may point past the OPT, and closing the gap would make them name the wrong owners.
  const end = optStart < 0 ? off : optStart;
  if (end > 0xffff) return null;
  const wire = Buffer.allocUnsafeSlow(end);
  copyBytes(resp, 0, end, wire, 0);
  if (optStart >= 0) {
    const count = optIndex - an - ns;
    wire[10] = count >>> 8;
    wire[11] = count & 0xff;
  }
  for (let i = 0; i < nTtls; i++) {
    const o = ttls[i]!;
    if (o >= end) break;
    if (wire[o]! > 0x7f) wire[o] = wire[o + 1] = wire[o + 2] = wire[o + 3] = 0;
  }
  return {
    wire,
    rcode: (extRcode << 4) | (resp[3]! & 0x0f),
    answerCount: an,
    minTtl,
    negativeTtl,
    ede,
    storedAt: now,
    verdict: null,
  };
}

/** Records in a stored answer (its header's counts: storeResponse leaves no OPT to leave out). */
function recordCount(wire: Uint8Array): number {
  return ((wire[6]! << 8) | wire[7]!) + ((wire[8]! << 8) | wire[9]!) + ((wire[10]! << 8) | wire[11]!);
}

/**
 * The offset of the TTL field of the record at `off` in a stored answer (checked by
 * storeResponse: no bounds to check), or a negative number for a malformed owner. Walking the
 * records at each replay costs a few instructions a record (an owner is mostly a compression
 * pointer, stepped over here), where keeping their offsets cost every cached answer two objects.
 */
function ttlField(wire: Uint8Array, off: number): number {
  return ((wire[off]! & 0xc0) === 0xc0 ? off + 2 : skipName(wire, off)) + 4;
}

/** The offset just past the record whose TTL field is at `ttl`. */
function recordEnd(wire: Uint8Array, ttl: number): number {
  return ttl + 6 + ((wire[ttl + 4]! << 8) | wire[ttl + 5]!);
}

/** Puts the TTL fields' offsets of a stored answer, whose question ends at `qEnd`, in `ttls`; returns how many. */
function findTtls(wire: Uint8Array, qEnd: number): number {
  const n = recordCount(wire);
  for (let i = 0, off = qEnd; i < n; i++) {
    const t = ttlField(wire, off);
    if (t < 4) return i; // not storeResponse's: no further records to find
    ttls[i] = t;
    off = recordEnd(wire, t);
  }
  return n;
}

/** Where the question of a stored answer ends (for callers without the query's ParsedQuery). */
function questionEnd(wire: Uint8Array): number {
  return skipName(wire, HEADER_LEN) + 4;
}

/** The offsets of a stored answer's TTL fields, in record order (tests and diagnostics). */
export function ttlOffsets(stored: StoredAnswer): number[] {
  return Array.from(ttls.subarray(0, findTtls(stored.wire, questionEnd(stored.wire))));
}

/** Rewrites the stored TTLs into [min, max] (cache policy), in place; true if any changed. */
export function clampTtls(stored: StoredAnswer, min: number, max: number): boolean {
  const w = stored.wire;
  let changed = false;
  const n = findTtls(w, questionEnd(w));
  for (let i = 0; i < n; i++) {
    const off = ttls[i]!;
    const raw = w.readUInt32BE(off);
    const t = raw & 0x7fffffff;
    const c = t < min ? min : t > max ? max : t;
    if (c !== raw) {
      w.writeUInt32BE(c, off);
      changed = true;
    }
  }
  return changed;
}

// Header bits replay takes from the upstream: QR, opcode, TC (always 0 in a stored answer), rcode.
const UPSTREAM_FLAGS = ~(Flag.AA | Flag.RD | Flag.RA | Flag.AD | Flag.CD) & 0xffff;

/** The header flags of a relayed answer: see the file comment. */
export function relayedFlags(upstreamFlags: number, pq: ParsedQuery): number {
  let f = (upstreamFlags & UPSTREAM_FLAGS) | (pq.flags & (Flag.RD | Flag.CD)) | Flag.RA;
  if (upstreamFlags & Flag.AD && (pq.flags & Flag.AD || pq.dnssecOk)) f |= Flag.AD;
  return f;
}

/**
 * The client's answer: stored bytes with the client's ID, RD/CD bits and question case, AA
 * cleared, RA set, AD only if the client asked (AD or DO), TTLs reduced by the whole seconds
 * spent in cache, and our OPT if the client spoke EDNS.
 */
export function replay(stored: StoredAnswer, query: Buffer, pq: ParsedQuery, now: number): Buffer {
  const src = stored.wire;
  const optLen = pq.edns ? OPT_FIXED_LEN + (stored.ede === null ? 0 : stored.ede.length) : 0;
  const out = Buffer.allocUnsafe(src.length + optLen);
  out.set(src);
  // Fields stored as bytes: Buffer#readUInt*/writeUInt* check their arguments on every call
  // (~40 instructions each), and a cache hit made a few per record.
  const id = pq.id;
  out[0] = id >>> 8;
  out[1] = id;
  const flags = relayedFlags((src[2]! << 8) | src[3]!, pq);
  out[2] = flags >>> 8;
  out[3] = flags;
  copyBytes(query, HEADER_LEN, pq.qEnd - 4, out, HEADER_LEN); // the name only, for 0x20 case
  const elapsed = Math.floor((now - stored.storedAt) / 1000);
  if (elapsed > 0) {
    // The records walked here, not through findTtls: one pass, no offsets stored and read back.
    const n = recordCount(src);
    for (let i = 0, off = pq.qEnd; i < n; i++) { // the client's question is as long as the stored one
      const o = ttlField(src, off);
      if (o < 4) break;
      const t = (((src[o]! & 0x7f) << 24) | (src[o + 1]! << 16) | (src[o + 2]! << 8) | src[o + 3]!) - elapsed;
      const v = t > 0 ? t : 0;
      out[o] = v >>> 24;
      out[o + 1] = v >>> 16;
      out[o + 2] = v >>> 8;
      out[o + 3] = v;
      off = recordEnd(src, o);
    }
  }
  if (pq.edns) {
    const ar = ((out[10]! << 8) | out[11]!) + 1;
    out[10] = ar >>> 8;
    out[11] = ar;
    writeOpt(out, src.length, stored.rcode >>> 4, pq.dnssecOk, stored.ede);
  }
  return out;
}

/** RFC 8767 §4: the TTL of every record of an answer served stale. */
export const STALE_TTL = 30;
const STALE_EDE = edeOption(Ede.STALE_ANSWER, '');

/**
 * An expired answer served because no upstream answered in time (RFC 8767): replay's form with
 * every TTL set to 30 and, for an EDNS client, EDE 3 (Stale Answer, RFC 8914 §4.4) ahead of any
 * upstream EDE.
 */
export function replayStale(stored: StoredAnswer, query: Buffer, pq: ParsedQuery): Buffer {
  const ede = stored.ede === null ? STALE_EDE : Buffer.concat([STALE_EDE, stored.ede]);
  const out = replay({ ...stored, ede }, query, pq, stored.storedAt);
  const n = findTtls(stored.wire, pq.qEnd);
  for (let i = 0; i < n; i++) out.writeUInt32BE(STALE_TTL, ttls[i]!);
  return out;
}
