// Who may talk to the admin listener, checked before anything else on every request:
// - the caller's address must be in `admin.allow` (CIDRs; 403 otherwise);
// - the Host header must name this listener (421 otherwise), which defeats DNS rebinding: a web
//   page on evil.example whose name is re-pointed at 127.0.0.1 makes the browser send
//   "Host: evil.example", and that name is neither an IP literal, nor localhost, nor in admin.hosts;
// - when the listener is not bound to loopback, reading /api needs the bearer token too (see
//   server.ts), because client IPs and the C2 names they asked for are sensitive.
import { BlockList, isIP, isIPv4 } from 'node:net';

export interface Network {
  address: string;
  bits: number;
  family: 4 | 6;
}

/** "10.0.0.0/8", "::1/128", or a bare address (/32, /128); an error string otherwise. */
export function parseNetwork(s: string): Network | string {
  const [addr = '', bitsText, extra] = s.trim().split('/');
  const fam = isIP(addr);
  if (fam === 0 || extra !== undefined) return 'expected an IP network such as 10.0.0.0/8, 192.168.1.0/24 or fd00::/8';
  const family = fam as 4 | 6;
  const max = family === 4 ? 32 : 128;
  if (bitsText !== undefined && !(/^\d{1,3}$/.test(bitsText) && Number(bitsText) <= max)) return `expected a prefix length from 0 to ${max} after "/"`;
  const bits = bitsText === undefined ? max : Number(bitsText);
  const net: Network = { address: family === 6 ? canonicalV6(addr) : addr, bits, family };
  const base = networkAddress(net);
  if (base !== net.address) return `host bits are set: the network is ${base}/${bits} (a typo in the prefix would otherwise open or close more than meant)`;
  return net;
}

function canonicalV6(a: string): string {
  return new URL(`http://[${a}]/`).hostname.slice(1, -1);
}

/** The address with every bit past the prefix cleared, in canonical text form. */
function networkAddress(n: Network): string {
  if (n.family === 4) {
    const v = n.address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const mask = n.bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - n.bits);
    const m = Number(BigInt(v) & BigInt(mask));
    return [24, 16, 8, 0].map((s) => Math.floor(m / 2 ** s) % 256).join('.');
  }
  const groups = expandV6(n.address);
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  const mask = n.bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - n.bits)) - 1n);
  v &= mask;
  const out: string[] = [];
  for (let i = 7; i >= 0; i--) out.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return canonicalV6(out.join(':'));
}

/** Eight 16-bit groups of a valid IPv6 address (embedded IPv4 tails included). */
function expandV6(a: string): number[] {
  let text = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const o = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}

/** An address as the socket layer may report it → plain IPv4 or IPv6 (zone index and IPv4-mapping removed). */
export function plainAddress(address: string): string {
  const pct = address.indexOf('%');
  const a = pct >= 0 ? address.slice(0, pct) : address;
  const lower = a.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  return lower;
}

/** 127.0.0.0/8, ::1 (and IPv4-mapped 127.x). */
export function isLoopback(address: string): boolean {
  const a = plainAddress(address);
  if (isIPv4(a)) return a.startsWith('127.');
  return isIP(a) === 6 && canonicalV6(a) === '::1';
}

/** A list of networks an address is checked against (admin.allow). */
export class NetworkList {
  private readonly list = new BlockList();

  /** `networks`: CIDR strings; throws on an invalid one (the config schema has validated them). */
  constructor(readonly networks: readonly string[]) {
    for (const s of networks) {
      const n = parseNetwork(s);
      if (typeof n === 'string') throw new Error(`admin.allow: "${s}": ${n}`);
      this.list.addSubnet(n.address, n.bits, n.family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  has(address: string): boolean {
    const a = plainAddress(address);
    const fam = isIP(a);
    if (fam === 0) return false;
    return this.list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
  }
}

/** "localhost", or "c2dns.example.org": letters, digits, "-" and "_" in dot-separated labels. */
export const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** The host part of a Host header value ("name:port", "[v6]:port", "v4"), lower case, no trailing dot; null if unparseable. */
export function hostOfHeader(value: string): string | null {
  const v = value.trim().toLowerCase();
  let host: string;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return null;
    host = v.slice(1, end);
    const rest = v.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return isIP(host) === 6 ? host : null;
  }
  const colon = v.indexOf(':');
  if (colon >= 0) {
    if (!/^:\d{1,5}$/.test(v.slice(colon))) return null;
    host = v.slice(0, colon);
  } else host = v;
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' ? null : host;
}

/**
 * The names a Host header may carry (admin.hosts, lower case, no trailing dot) besides what is
 * always accepted: `localhost` and any IP address literal. An IP literal cannot be rebound (a page
 * whose origin is an IP address is served from that address), and accepting every one keeps
 * port mappings and load-balancer addresses (Docker -p, a Kubernetes Service IP) working.
 */
export class HostNames {
  private readonly names: Set<string>;

  constructor(names: readonly string[]) {
    this.names = new Set(names.map((n) => n.toLowerCase().replace(/\.$/, '')));
  }

  /** null when accepted; otherwise why not. An absent header (HTTP/1.0 tools, not browsers) is accepted. */
  check(header: string | undefined): string | null {
    if (header === undefined) return null;
    const host = hostOfHeader(header);
    if (host === null) return `the Host header "${header}" is not a host name or address with an optional port`;
    if (host === 'localhost' || isIP(host) !== 0 || this.names.has(host)) return null;
    return (
      `the Host header names "${host}", which is not an address of this admin listener, "localhost", or a name in admin.hosts` +
      (this.names.size > 0 ? ` (${[...this.names].join(', ')})` : '') +
      `: c2dns refuses it so that a web page cannot reach the API through DNS rebinding. If you reach c2dns by that name, add it to admin.hosts`
    );
  }
}
