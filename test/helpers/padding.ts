// Reading EDNS(0) Padding (RFC 7830) back from real messages in tests: the options of a message's
// OPT record (query or response), walked from the wire with wire.ts's independent parser.
import { parseMessage } from './wire.js';

/** The EDNS options of a message's OPT record, in order; null when it has no OPT. */
export function ednsOptions(msg: Buffer): { code: number; data: Buffer }[] | null {
  const opt = parseMessage(msg).additionals.find((r) => r.type === 41);
  if (opt === undefined) return null;
  const out: { code: number; data: Buffer }[] = [];
  for (let off = 0; off + 4 <= opt.rdata.length; ) {
    const len = opt.rdata.readUInt16BE(off + 2);
    out.push({ code: opt.rdata.readUInt16BE(off), data: opt.rdata.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return out;
}

/** The Padding option (code 12) of a message, or null. */
export function paddingOf(msg: Buffer): Buffer | null {
  return ednsOptions(msg)?.find((o) => o.code === 12)?.data ?? null;
}
