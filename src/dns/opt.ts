// The OPT pseudo-record (RFC 6891) c2dns writes into its answers, and EDE options (RFC 8914).
import { EDNS_OPTION_EDE, EDNS_UDP_SIZE, RType } from './constants.js';

export const OPT_FIXED_LEN = 11;

/** Writes an OPT RR at `off`; returns the offset after it. `options` is raw option bytes. */
export function writeOpt(
  buf: Buffer,
  off: number,
  extRcode: number,
  dnssecOk: boolean,
  options: Buffer | null,
): number {
  buf[off] = 0; // root owner
  buf.writeUInt16BE(RType.OPT, off + 1);
  buf.writeUInt16BE(EDNS_UDP_SIZE, off + 3);
  buf[off + 5] = extRcode & 0xff;
  buf[off + 6] = 0; // version
  buf[off + 7] = dnssecOk ? 0x80 : 0;
  buf[off + 8] = 0;
  const olen = options === null ? 0 : options.length;
  buf.writeUInt16BE(olen, off + 9);
  if (options !== null) options.copy(buf, off + OPT_FIXED_LEN);
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
