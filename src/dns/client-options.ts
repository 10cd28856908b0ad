// The EDNS options a forwarder (a router's dnsmasq, Pi-hole, Unbound…) adds to say which of its
// clients asked: Client Subnet (RFC 7871), the client's MAC address and a CPE identifier. c2dns
// reads them only from trusted forwarders (src/resolve/clients.ts decides that); this file only
// reads bytes. It is bounded by the OPT RDATA's length, never throws, and returns what it could
// read with a `malformed` flag for the rest.
//
// Option codes, as dnsmasq 2.90 sends them (checked against its wire output):
//   8      ECS: FAMILY(2) SOURCE-PREFIX(1) SCOPE-PREFIX(1) ADDRESS (--add-subnet)
//   65001  MAC, 6 raw bytes (--add-mac)
//   65073  MAC as text "aa:bb:cc:dd:ee:ff" (--add-mac=text) or base64 of the 6 bytes
//          (--add-mac=base64); dnsmasq calls it the Nominum device id. Either form is also
//          accepted under 65001, and 6 raw bytes under 65073.
//   65074  CPE-ID, text (--add-cpe-id)
import { addressText } from './address.js';

export const EDNS_OPTION_ECS = 8;
export const EDNS_OPTION_MAC = 65001;
export const EDNS_OPTION_DEVICE_ID = 65073;
export const EDNS_OPTION_CPE_ID = 65074;

/** Longest CPE-ID kept (dnsmasq limits it to 255 bytes; a log field should stay short). */
export const MAX_CPE_ID_LEN = 64;

export interface ClientSubnet {
  family: 4 | 6;
  sourcePrefix: number;
  /** The address as sent, bits beyond the prefix zero ("192.168.1.20", "2001:db8::"). */
  address: string;
  /** `${address}/${sourcePrefix}`. */
  cidr: string;
  /** True for /32 (IPv4) or /128 (IPv6): one host. */
  host: boolean;
  /** The whole option (code, length, data) as received, for copying upstream. */
  raw: Buffer;
}

export interface ClientOptions {
  /** null when absent, malformed, or a /0 prefix (RFC 7871 §7.1.2: do not use my address). */
  ecs: ClientSubnet | null;
  /** Lower-case "aa:bb:cc:dd:ee:ff", or null. */
  mac: string | null;
  /** Printable ASCII, at most MAX_CPE_ID_LEN characters, or null. */
  cpeId: string | null;
  /** Something was wrong: a truncated option list, a bad ECS, a MAC or CPE-ID that does not parse, repeats. */
  malformed: boolean;
}

/** True when the OPT RDATA at msg[start, start+len) carries an ECS, MAC, device-id or CPE-ID option. No allocation. */
export function hasClientOptions(msg: Buffer, start: number, len: number): boolean {
  const end = Math.min(start + len, msg.length);
  for (let off = start; off + 4 <= end; ) {
    const code = msg.readUInt16BE(off);
    if (isClientOption(code)) return true;
    off += 4 + msg.readUInt16BE(off + 2);
  }
  return false;
}

function isClientOption(code: number): boolean {
  return code === EDNS_OPTION_ECS || code === EDNS_OPTION_MAC || code === EDNS_OPTION_DEVICE_ID || code === EDNS_OPTION_CPE_ID;
}

/** Reads the client options in the OPT RDATA at msg[start, start+len). */
export function readClientOptions(msg: Buffer, start: number, len: number): ClientOptions {
  const out: ClientOptions = { ecs: null, mac: null, cpeId: null, malformed: false };
  if (start < 0 || len <= 0) return out;
  const end = Math.min(start + len, msg.length);
  if (end < start + len) out.malformed = true;
  let seenEcs = false;
  let seenCpe = false;
  let off = start;
  while (off < end) {
    if (off + 4 > end) {
      out.malformed = true; // a fragment of an option header
      break;
    }
    const code = msg.readUInt16BE(off);
    const olen = msg.readUInt16BE(off + 2);
    const data = off + 4;
    if (data + olen > end) {
      out.malformed = true; // the option runs past the RDATA
      break;
    }
    if (code === EDNS_OPTION_ECS) {
      // RFC 7871 §7.1.1: more than one ECS option is FORMERR; we use none of them.
      if (seenEcs) {
        out.ecs = null;
        out.malformed = true;
      } else {
        seenEcs = true;
        const ecs = readEcs(msg, off, data, olen);
        if (ecs === 'malformed') out.malformed = true;
        else out.ecs = ecs;
      }
    } else if (code === EDNS_OPTION_MAC || code === EDNS_OPTION_DEVICE_ID) {
      const mac = readMac(msg, data, olen);
      if (mac === null) out.malformed = true;
      else if (out.mac !== null && out.mac !== mac) {
        out.mac = null; // two different MACs: trust neither
        out.malformed = true;
      } else out.mac = mac;
    } else if (code === EDNS_OPTION_CPE_ID) {
      const id = seenCpe ? null : readCpeId(msg, data, olen);
      if (id === null) {
        out.cpeId = null;
        out.malformed = true;
      } else out.cpeId = id;
      seenCpe = true;
    }
    off = data + olen;
  }
  return out;
}

function readEcs(msg: Buffer, optStart: number, data: number, olen: number): ClientSubnet | null | 'malformed' {
  if (olen < 4) return 'malformed';
  const fam = msg.readUInt16BE(data);
  const source = msg[data + 2]!;
  const scope = msg[data + 3]!;
  const family = fam === 1 ? 4 : fam === 2 ? 6 : 0;
  if (family === 0) return 'malformed';
  const bits = family === 4 ? 32 : 128;
  const addrLen = olen - 4;
  // §6: ADDRESS is exactly ceil(SOURCE/8) octets; SCOPE is 0 in queries; bits past SOURCE are 0.
  if (source > bits || scope !== 0 || addrLen !== (source + 7) >> 3) return 'malformed';
  if (source === 0) return null;
  const bytes = new Uint8Array(bits / 8);
  for (let i = 0; i < addrLen; i++) bytes[i] = msg[data + 4 + i]!;
  const tailBits = source & 7;
  if (tailBits !== 0 && (bytes[addrLen - 1]! & (0xff >> tailBits)) !== 0) return 'malformed';
  const address = addressText(bytes);
  return { family, sourcePrefix: source, address, cidr: `${address}/${source}`, host: source === bits, raw: msg.subarray(optStart, data + olen) };
}


const HEX = '0123456789abcdef';

/** 6 bytes → "aa:bb:cc:dd:ee:ff". */
function macText(msg: Uint8Array, at: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = msg[at + i]!;
    s += (i === 0 ? '' : ':') + HEX[b >> 4] + HEX[b & 15];
  }
  return s;
}

const BASE64_MAC = /^[A-Za-z0-9+/]{8}$/;

function readMac(msg: Buffer, data: number, olen: number): string | null {
  if (olen === 6) return macText(msg, data);
  if (olen === 17) return normalizeMac(msg.toString('latin1', data, data + 17));
  if (olen === 8) {
    const s = msg.toString('latin1', data, data + 8);
    if (!BASE64_MAC.test(s)) return null;
    return macText(Buffer.from(s, 'base64'), 0);
  }
  return null;
}

function readCpeId(msg: Buffer, data: number, olen: number): string | null {
  if (olen === 0 || olen > MAX_CPE_ID_LEN) return null;
  for (let i = data; i < data + olen; i++) {
    const c = msg[i]!;
    if (c < 0x21 || c > 0x7e) return null; // printable ASCII, no spaces: it goes into logs as is
  }
  return msg.toString('latin1', data, data + olen);
}

const MAC_TEXT = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

/** "AA-BB-CC-DD-EE-FF" or "aa:bb:cc:dd:ee:ff" → "aa:bb:cc:dd:ee:ff"; null for anything else. */
export function normalizeMac(s: string): string | null {
  if (s.length !== 17 || !MAC_TEXT.test(s)) return null;
  return s.toLowerCase().replaceAll('-', ':');
}
