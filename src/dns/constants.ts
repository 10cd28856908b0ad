// DNS numbers used across c2dns (RFC 1035, 3596, 6891, 8914, IANA registries).

export const HEADER_LEN = 12;

export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
  BADCOOKIE: 23,
} as const;

export const RType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DS: 43,
  OPT: 41,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
  TLSA: 52,
  SVCB: 64,
  HTTPS: 65,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

export const CLASS_IN = 1;
/** CHAOS class (RFC 1035 §3.2.4): server identity queries such as version.bind. */
export const CLASS_CH = 3;
export const CLASS_HS = 4;

/** RFC 8914 Extended DNS Error info codes used here. */
export const Ede = {
  OTHER: 0,
  STALE_ANSWER: 3,
  BLOCKED: 15,
  PROHIBITED: 18,
  NOT_SUPPORTED: 21,
  NO_REACHABLE_AUTHORITY: 22,
  NETWORK_ERROR: 23,
} as const;

/** EDNS option code of Extended DNS Error (RFC 8914). */
export const EDNS_OPTION_EDE = 15;

/** The UDP payload size c2dns advertises and the cap it applies to clients (DNS Flag Day 2020). */
export const EDNS_UDP_SIZE = 1232;
export const MIN_UDP_SIZE = 512;
export const MAX_NAME_LEN = 255;
export const MAX_LABEL_LEN = 63;

const typeNames = new Map<number, string>(Object.entries(RType).map(([k, v]) => [v, k]));
const typeNameCache: string[] = [];

/** Mnemonic for a type number, or TYPEnnn (RFC 3597). Cached: the log calls this per query. */
export function typeName(t: number): string {
  let s = typeNameCache[t];
  if (s === undefined) {
    s = typeNames.get(t) ?? `TYPE${t}`;
    if (t < 65536) typeNameCache[t] = s;
  }
  return s;
}

// IANA "DNS RCODEs": the 4-bit header codes and the extended ones (OPT's high 8 bits, RFC 6891).
const rcodeNames: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  11: 'DSOTYPENI',
  16: 'BADVERS',
  17: 'BADKEY',
  18: 'BADTIME',
  19: 'BADMODE',
  20: 'BADNAME',
  21: 'BADALG',
  22: 'BADTRUNC',
  23: 'BADCOOKIE',
};

export function rcodeName(rc: number): string {
  return rcodeNames[rc] ?? `RCODE${rc}`;
}
