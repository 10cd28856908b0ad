// Reads a client query without trusting it: the question is read literally (a compression
// pointer there is a FORMERR, never followed) and the only other thing we look for is the OPT record.
import { HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, RType } from './constants.js';
import { escapedName, skipName } from './names.js';

export enum ParseStatus {
  Ok = 0,
  /** Not even a header: nothing can be answered. */
  Drop = 1,
  /** QR=1: a response, never answer it (reflection loops). */
  Ignore = 2,
  FormErr = 3,
  NotImp = 4,
  BadVers = 5,
}

export interface ParsedQuery {
  status: ParseStatus;
  id: number;
  flags: number;
  /** Lower-cased presentation name without the trailing dot ("" for the root). */
  name: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question; bytes 12..qEnd are echoed verbatim in every answer. */
  qEnd: number;
  edns: boolean;
  udpSize: number;
  dnssecOk: boolean;
  /** Offset of the OPT record's RDATA (its EDNS options) in the message; -1 without OPT. */
  ednsOptions: number;
  /** Length of that RDATA; 0 when there are no options. */
  ednsOptionsLen: number;
}

// Scratch space for building the name: one string allocation per query, nothing else.
const scratch = Buffer.allocUnsafe(MAX_NAME_LEN * 4);

export function parseQuery(msg: Buffer): ParsedQuery {
  const out: ParsedQuery = {
    status: ParseStatus.Ok,
    id: 0,
    flags: 0,
    name: '',
    qtype: 0,
    qclass: 0,
    qEnd: 0,
    edns: false,
    udpSize: 0,
    dnssecOk: false,
    ednsOptions: -1,
    ednsOptionsLen: 0,
  };
  const len = msg.length;
  if (len < HEADER_LEN) {
    out.status = ParseStatus.Drop;
    return out;
  }
  out.id = u16(msg, 0);
  const flags = u16(msg, 2);
  out.flags = flags;
  if (flags & 0x8000) {
    out.status = ParseStatus.Ignore;
    return out;
  }
  if (((flags >>> 11) & 0xf) !== 0) {
    out.status = ParseStatus.NotImp;
    return out;
  }
  const qd = u16(msg, 4);
  if (qd !== 1) {
    out.status = ParseStatus.FormErr;
    return out;
  }

  // Question name: literal labels only.
  let off = HEADER_LEN;
  let n = 0; // bytes written to scratch
  let wire = 1; // wire length of the name so far (the root byte)
  let plain = true;
  for (;;) {
    if (off >= len) return formErr(out);
    const l = msg[off]!;
    if (l === 0) {
      off++;
      break;
    }
    if (l > MAX_LABEL_LEN) return formErr(out); // pointer (0xC0) or reserved label type
    wire += l + 1;
    if (wire > MAX_NAME_LEN || off + 1 + l > len) return formErr(out);
    if (n > 0) scratch[n++] = 0x2e;
    for (let i = off + 1, end = off + 1 + l; i < end; i++) {
      let b = msg[i]!;
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      else if (b <= 0x20 || b >= 0x7f || b === 0x2e || b === 0x5c) plain = false;
      scratch[n++] = b;
    }
    off += 1 + l;
  }
  out.name = plain ? scratch.toString('latin1', 0, n) : escapedName(msg, HEADER_LEN);
  if (off + 4 > len) return formErr(out);
  out.qtype = u16(msg, off);
  out.qclass = u16(msg, off + 2);
  off += 4;
  out.qEnd = off;

  // Look for OPT among the remaining records (a query normally has only AR=1, the OPT).
  const an = u16(msg, 6);
  const ns = u16(msg, 8);
  const ar = u16(msg, 10);
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const nameStart = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > len) return formErr(out);
    const type = u16(msg, off);
    const rdlen = u16(msg, off + 8);
    const next = off + 10 + rdlen;
    if (next > len) return formErr(out);
    if (type === RType.OPT) {
      // RFC 6891 §6.1.1: OPT only in the additional section, owner root, at most one.
      if (i < an + ns || out.edns || msg[nameStart] !== 0) return formErr(out);
      out.edns = true;
      out.udpSize = u16(msg, off + 2);
      const version = msg[off + 5]!;
      out.dnssecOk = (msg[off + 6]! & 0x80) !== 0;
      out.ednsOptions = off + 10;
      out.ednsOptionsLen = rdlen;
      if (version !== 0) out.status = ParseStatus.BadVers;
    }
    off = next;
  }
  return out;
}

/** A big-endian u16 at `off`, known to be in bounds (Buffer#readUInt16BE checks its argument on every call). */
function u16(msg: Buffer, off: number): number {
  return (msg[off]! << 8) | msg[off + 1]!;
}

function formErr(out: ParsedQuery): ParsedQuery {
  out.status = ParseStatus.FormErr;
  return out;
}
