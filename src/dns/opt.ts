// The OPT pseudo-record (RFC 6891) c2dns writes into its answers, and EDE options (RFC 8914).
import { EDNS_OPTION_EDE, EDNS_UDP_SIZE, HEADER_LEN, RType } from './constants.js';
import { skipName } from './names.js';

export const OPT_FIXED_LEN = 11;

/** Writes an OPT RR at `off`; returns the offset after it. `options` is raw option bytes. */
export function writeOpt(
  buf: Buffer,
  off: number,
  extRcode: number,
  dnssecOk: boolean,
  options: Buffer | null,
): number {
  // Byte stores: Buffer#writeUInt16BE checks its arguments on every call (every EDNS answer and upstream query).
  buf[off] = 0; // root owner
  buf[off + 1] = RType.OPT >>> 8;
  buf[off + 2] = RType.OPT & 0xff;
  buf[off + 3] = EDNS_UDP_SIZE >>> 8;
  buf[off + 4] = EDNS_UDP_SIZE & 0xff;
  buf[off + 5] = extRcode & 0xff;
  buf[off + 6] = 0; // version
  buf[off + 7] = dnssecOk ? 0x80 : 0;
  buf[off + 8] = 0;
  const olen = options === null ? 0 : options.length;
  buf[off + 9] = olen >>> 8;
  buf[off + 10] = olen & 0xff;
  if (options !== null) buf.set(options, off + OPT_FIXED_LEN);
  return off + OPT_FIXED_LEN + olen;
}

/** One EDE option: code, info code, UTF-8 text (truncated so the option stays small). */
export function edeOption(infoCode: number, text: string): Buffer {
  const t = Buffer.from(text.slice(0, 200), 'utf8');
  const b = Buffer.allocUnsafe(6 + t.length);
  b.writeUInt16BE(EDNS_OPTION_EDE, 0);
  b.writeUInt16BE(2 + t.length, 2);
  b.writeUInt16BE(infoCode, 4);
  t.copy(b, 6);
  return b;
}

/** The EDE options inside an OPT RDATA (other options are hop-by-hop and are not relayed). */
export function pickEdeOptions(rdata: Buffer): Buffer | null {
  let kept: Buffer[] | null = null;
  for (let off = 0; off + 4 <= rdata.length; ) {
    const code = rdata.readUInt16BE(off);
    const len = rdata.readUInt16BE(off + 2);
    if (off + 4 + len > rdata.length) break;
    if (code === EDNS_OPTION_EDE) (kept ??= []).push(rdata.subarray(off, off + 4 + len));
    off += 4 + len;
  }
  return kept === null ? null : Buffer.concat(kept);
}

/** What a message's OPT record says (RFC 6891 §6.1.3). */
export interface OptInfo {
  /** Offset of the OPT record (its owner name byte). */
  start: number;
  udpSize: number;
  extRcode: number;
  version: number;
  dnssecOk: boolean;
}

/**
 * The message's OPT record, found by a bounded walk over every section (names skipped, never
 * followed). Null when there is none, or when the message cannot be walked to its end or holds
 * an OPT that breaks RFC 6891 §6.1.1 (not in additional, owner not root, more than one): such
 * an OPT cannot be trusted to say anything.
 */
export function findOpt(msg: Buffer): OptInfo | null {
  const start = optStart(msg);
  if (start < 0) return null;
  const off = start + 1; // the owner is the root: one byte
  return { start, udpSize: u16(msg, off + 2), extRcode: msg[off + 4]!, version: msg[off + 5]!, dnssecOk: (msg[off + 6]! & 0x80) !== 0 };
}

/**
 * Offset of the message's OPT record (its owner byte) as findOpt finds it, or -1 when findOpt
 * gives null. No object made and fields read as bytes (Buffer#readUInt16BE checks its arguments
 * on every call): every EDNS answer's rcode and every upstream reply's cookie are looked up here.
 */
export function optStart(msg: Uint8Array): number {
  const len = msg.length;
  if (len < HEADER_LEN) return -1;
  const ar = u16(msg, 10);
  if (ar === 0) return -1;
  const qd = u16(msg, 4);
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    off = skipName(msg, off);
    if (off < 0 || off + 4 > len) return -1;
    off += 4;
  }
  let found = -1;
  const before = u16(msg, 6) + u16(msg, 8);
  const total = before + ar;
  for (let i = 0; i < total; i++) {
    const start = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > len) return -1;
    const next = off + 10 + u16(msg, off + 8);
    if (next > len) return -1;
    if (u16(msg, off) === RType.OPT) {
      if (i < before || found >= 0 || msg[start] !== 0) return -1;
      found = start;
    }
    off = next;
  }
  return found;
}

function u16(msg: Uint8Array, off: number): number {
  return (msg[off]! << 8) | msg[off + 1]!;
}

/** The full RCODE of a message: the header's 4 bits and, when it has an OPT, its upper 8 bits. */
export function messageRcode(msg: Buffer): number {
  const low = msg[3]! & 0x0f;
  if (msg[10] === 0 && msg[11] === 0) return low;
  const start = optStart(msg);
  return start < 0 ? low : (msg[start + 5]! << 4) | low;
}
