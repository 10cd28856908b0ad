// EDNS(0) Padding (RFC 7830) with the Block-Length policy of RFC 8467 §4.1: over an encrypted
// transport, message sizes tell an observer what was asked; padding every query to a multiple of
// 128 octets and every response to a multiple of 468 hides most of it. A responder pads only when
// the query carried the option (RFC 7830 §4), and never over an unencrypted transport, where the
// bytes are wasted (§6). The option needs an OPT record: a message without EDNS is left as it is.
import { findOpt, OPT_FIXED_LEN } from './opt.js';

export const EDNS_OPTION_PADDING = 12;
/** RFC 8467 §4.1 block sizes. */
export const QUERY_PADDING_BLOCK = 128;
export const RESPONSE_PADDING_BLOCK = 468;

const OPTION_HEADER = 4;

/** Whether the message's OPT record carries a Padding option (of any length). */
export function hasPaddingOption(msg: Buffer): boolean {
  if (msg.length < 12 || msg.readUInt16BE(10) === 0) return false;
  const opt = findOpt(msg);
  if (opt === null) return false;
  const start = opt.start + OPT_FIXED_LEN;
  const end = start + msg.readUInt16BE(opt.start + 9);
  for (let off = start; off + OPTION_HEADER <= end; ) {
    if (msg.readUInt16BE(off) === EDNS_OPTION_PADDING) return true;
    off += OPTION_HEADER + msg.readUInt16BE(off + 2);
  }
  return false;
}

/**
 * `msg` with a Padding option (zero octets, RFC 7830 §3) making its length a multiple of `block`,
 * any Padding option it had replaced. Never longer than `max`: when the next multiple does not
 * fit, padded up to `max`; unchanged when even the option's own 4 octets do not fit, or the
 * message has no OPT record (or one that cannot be walked).
 */
export function padMessage(msg: Buffer, block: number, max = 0xffff): Buffer {
  const opt = findOpt(msg);
  if (opt === null) return msg;
  const rdlenAt = opt.start + 9;
  const rdStart = opt.start + OPT_FIXED_LEN;
  const rdEnd = rdStart + msg.readUInt16BE(rdlenAt);
  // The options but Padding, which this call writes afresh.
  const kept: Buffer[] = [];
  let keptLen = 0;
  for (let off = rdStart; off + OPTION_HEADER <= rdEnd; ) {
    const next = off + OPTION_HEADER + msg.readUInt16BE(off + 2);
    if (next > rdEnd) return msg;
    if (msg.readUInt16BE(off) !== EDNS_OPTION_PADDING) {
      kept.push(msg.subarray(off, next));
      keptLen += next - off;
    }
    off = next;
  }
  const bare = msg.length - (rdEnd - rdStart) + keptLen;
  const withOption = bare + OPTION_HEADER;
  if (withOption > max || keptLen + OPTION_HEADER > 0xffff) return msg;
  const target = Math.min(Math.ceil(withOption / block) * block, max, bare + 0xffff - keptLen); // RDLENGTH is 16 bits
  const padLen = target - withOption;
  const out = Buffer.alloc(target); // the padding octets are zeros (RFC 7830 §3)
  msg.copy(out, 0, 0, rdStart);
  let at = rdStart;
  for (const k of kept) at += k.copy(out, at);
  out.writeUInt16BE(EDNS_OPTION_PADDING, at);
  out.writeUInt16BE(padLen, at + 2);
  at += OPTION_HEADER + padLen;
  msg.copy(out, at, rdEnd);
  out.writeUInt16BE(keptLen + OPTION_HEADER + padLen, rdlenAt);
  return out;
}
