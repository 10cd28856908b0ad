// Test-side DNS messages: queries built by hand (so tests control every bit), answers decoded
// by dns2 as the reference decoder.
import { isIPv4, isIPv6 } from 'node:net';
import dns2 from 'dns2';

export const { Packet } = dns2;
export type DecodedPacket = InstanceType<typeof dns2.Packet>;
export type Resource = dns2.Packet.Resource;
export type Rr = Partial<Resource> & { name: string; type: number; ttl?: number };

export const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, DNAME: 39, OPT: 41, SVCB: 64, HTTPS: 65, ANY: 255 } as const;

export interface QueryOptions {
  id?: number;
  qclass?: number;
  rd?: boolean;
  cd?: boolean;
  /** Add an OPT record; omit for a plain RFC 1035 query. */
  edns?: { udpSize?: number; do?: boolean; version?: number };
  opcode?: number;
}

export function encodeName(name: string): Buffer {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const l of n.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function buildQuery(name: string, type: number, o: QueryOptions = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(o.id ?? Math.floor(Math.random() * 65536), 0);
  let flags = (o.rd ?? true) ? 0x0100 : 0;
  if (o.cd) flags |= 0x0010;
  flags |= ((o.opcode ?? 0) & 0xf) << 11;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(o.edns ? 1 : 0, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(o.qclass ?? 1, 2);
  const parts = [header, encodeName(name), q];
  if (o.edns) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(o.edns.udpSize ?? 1232, 3);
    opt[6] = o.edns.version ?? 0;
    opt[7] = o.edns.do ? 0x80 : 0;
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

export function decode(buf: Buffer): DecodedPacket {
  const p = Packet.parse(buf);
  if (p.errors.length > 0) throw new Error(`dns2 could not decode the answer: ${p.errors.map((e) => e.message).join('; ')}`);
  return p;
}

export function rcodeOf(buf: Buffer): number {
  return buf[3]! & 0x0f;
}

/** The EDE options (code 15) in a decoded answer's OPT. */
export function edeOf(p: DecodedPacket): { infoCode: number; text: string }[] {
  const opt = p.additionals.find((r) => r.type === T.OPT);
  const isEde = (o: dns2.Packet.EdnsOption): o is Partial<dns2.Packet.EdeOption> & dns2.Packet.EdnsOption => o.ednsCode === 15;
  return (opt?.rdata ?? []).filter(isEde).map((o) => ({ infoCode: o.infoCode ?? -1, text: o.extraText ?? '' }));
}

// Presentation format: "name ttl TYPE rdata", as in a zone file. parseRr turns it into a record
// for the scripted upstream (rdata dns2 has no codec for, such as DNAME, SVCB and HTTPS, is
// encoded here); parseMessage and presentRecord read an answer straight from the wire, following
// compression pointers, so every type is shown the same way whoever encoded it.

/** The mnemonic of a type code (`TYPEnnn` for codes T does not name). */
export function typeMnemonic(code: number): string {
  for (const [k, v] of Object.entries(T)) if (v === code) return k;
  return `TYPE${code}`;
}

/** A type mnemonic (or `TYPEnnn`) → its code; throws on one it does not know. */
export function typeCode(mnemonic: string): number {
  const m = mnemonic.toUpperCase();
  if (Object.hasOwn(T, m)) return T[m as keyof typeof T];
  const n = /^TYPE(\d{1,5})$/.exec(m);
  if (n !== null && Number(n[1]) <= 0xffff) return Number(n[1]);
  throw new Error(`unknown record type "${mnemonic}"`);
}

/** Whitespace-separated fields; a "quoted string" is one field (\" and \\ escapes undone). */
function presentationFields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        v += text[i++];
      }
      if (i >= text.length) throw new Error(`unclosed quote in "${text}"`);
      i++;
      out.push(v);
    } else {
      const start = i;
      while (i < text.length && text[i] !== ' ' && text[i] !== '\t') i++;
      out.push(text.slice(start, i));
    }
  }
  return out;
}

/** Address text → its 4 or 16 bytes; throws when it is not one. */
export function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('.')) throw new Error(`not an IP address: "${address}"`);
  const [head = '', tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, k) => out.writeUInt16BE(parseInt(g, 16), k * 2));
  return out;
}

const SVC_KEYS: Record<string, number> = { mandatory: 0, alpn: 1, 'no-default-alpn': 2, port: 3, ipv4hint: 4, ech: 5, ipv6hint: 6 };

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** SVCB/HTTPS RDATA (RFC 9460): priority, TargetName (never compressed), then key=value params. */
export function svcbRdata(priority: number, target: string, params: readonly string[] = []): Buffer {
  const encoded = params.map((p): [number, Buffer] => {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    const code = SVC_KEYS[key];
    if (code === undefined) throw new Error(`SvcParam "${key}" is not one the test encoder knows (${Object.keys(SVC_KEYS).join(', ')})`);
    const list = value === '' ? [] : value.split(',');
    switch (key) {
      case 'mandatory':
        return [
          code,
          Buffer.concat(
            list.map((k) => {
              const c = SVC_KEYS[k];
              if (c === undefined) throw new Error(`mandatory: unknown SvcParam "${k}"`);
              return u16(c);
            }),
          ),
        ];
      case 'alpn':
        return [code, Buffer.concat(list.map((a) => Buffer.concat([Buffer.from([a.length]), Buffer.from(a, 'latin1')])))];
      case 'port':
        return [code, u16(Number(value))];
      case 'ipv4hint':
      case 'ipv6hint':
        return [code, Buffer.concat(list.map(ipBytes))];
      case 'ech':
        return [code, Buffer.from(value, 'base64')];
      default:
        return [code, Buffer.alloc(0)];
    }
  });
  encoded.sort((a, b) => a[0] - b[0]);
  return Buffer.concat([u16(priority), encodeName(target), ...encoded.flatMap(([k, v]) => [u16(k), u16(v.length), v])]);
}

/**
 * "name ttl TYPE rdata…" → a record the scripted upstream encodes. Known rdata: A, AAAA (address),
 * CNAME, PTR, NS, DNAME (target), MX (preference exchange), TXT (one or more strings, quoted or
 * not), SRV (priority weight port target), SVCB/HTTPS (priority target [key=value…]), SOA (none:
 * fixed timers with MINIMUM 60, or all seven fields).
 */
export function parseRr(text: string): Rr {
  const f = presentationFields(text.trim());
  if (f.length < 3) throw new Error(`"${text}": expected "name ttl TYPE rdata"`);
  const [name, ttlText, typeText, ...data] = f as [string, string, string, ...string[]];
  if (!/^\d+$/.test(ttlText)) throw new Error(`"${text}": TTL "${ttlText}" is not a number of seconds`);
  const type = typeCode(typeText);
  const base = { name, ttl: Number(ttlText), type };
  const need = (n: number): string[] => {
    if (data.length !== n) throw new Error(`"${text}": ${typeMnemonic(type)} takes ${n} rdata field(s), got ${data.length}`);
    return data;
  };
  switch (type) {
    case T.A: {
      const [address] = need(1) as [string];
      if (!isIPv4(address)) throw new Error(`"${text}": not an IPv4 address`);
      return { ...base, address };
    }
    case T.AAAA: {
      const [address] = need(1) as [string];
      if (!isIPv6(address)) throw new Error(`"${text}": not an IPv6 address`);
      return { ...base, address };
    }
    case T.CNAME:
    case T.PTR:
      return { ...base, domain: need(1)[0]! };
    case T.NS:
      return { ...base, ns: need(1)[0]! };
    case T.DNAME:
      return { ...base, data: encodeName(need(1)[0]!) };
    case T.MX: {
      const [pref, exchange] = need(2) as [string, string];
      return { ...base, priority: Number(pref), exchange };
    }
    case T.TXT:
      if (data.length === 0) throw new Error(`"${text}": TXT needs at least one string`);
      return { ...base, data };
    case T.SRV: {
      const [priority, weight, port, target] = need(4) as [string, string, string, string];
      return { ...base, priority: Number(priority), weight: Number(weight), port: Number(port), target };
    }
    case T.SVCB:
    case T.HTTPS: {
      if (data.length < 2) throw new Error(`"${text}": ${typeMnemonic(type)} takes priority, target and optional key=value params`);
      const [priority, target, ...params] = data as [string, string, ...string[]];
      return { ...base, data: svcbRdata(Number(priority), target, params) };
    }
    case T.SOA: {
      if (data.length === 0) return { ...base, primary: 'ns.example', admin: 'hostmaster.example', serial: 1, refresh: 3600, retry: 600, expiration: 86400, minimum: 60 };
      const [primary, admin, ...timers] = need(7) as [string, string, ...string[]];
      const [serial, refresh, retry, expiration, minimum] = timers.map(Number) as [number, number, number, number, number];
      return { ...base, primary, admin, serial, refresh, retry, expiration, minimum };
    }
    default:
      throw new Error(`"${text}": the test encoder has no rdata format for ${typeMnemonic(type)}`);
  }
}

/** One record as it sits in a message: rdata still raw, with its offset for names inside it. */
export interface WireRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
  rdataOffset: number;
}

export interface WireMessage {
  id: number;
  flags: number;
  rcode: number;
  questions: { name: string; type: number; class: number }[];
  answers: WireRecord[];
  authorities: WireRecord[];
  additionals: WireRecord[];
}

/** A name at `offset` (pointers followed), as presentation text without the trailing dot ("." for the root). */
export function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let off = offset;
  let next = -1;
  for (let jumps = 0; ; ) {
    if (off >= msg.length) throw new Error(`name at ${offset} runs past the end of the message`);
    const len = msg[off]!;
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= msg.length || ++jumps > 64) throw new Error(`bad compression pointer in the name at ${offset}`);
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | msg[off + 1]!;
      continue;
    }
    if (len > 63 || off + 1 + len > msg.length) throw new Error(`bad label in the name at ${offset}`);
    let label = '';
    for (const b of msg.subarray(off + 1, off + 1 + len)) {
      if (b === 0x2e || b === 0x5c) label += `\\${String.fromCharCode(b)}`;
      else if (b > 0x20 && b < 0x7f) label += String.fromCharCode(b);
      else label += `\\${String(b).padStart(3, '0')}`;
    }
    labels.push(label);
    off += 1 + len;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), next };
}

/** The header, question and records of a message, without interpreting any rdata. */
export function parseMessage(msg: Buffer): WireMessage {
  if (msg.length < 12) throw new Error(`a DNS message is at least 12 bytes, got ${msg.length}`);
  const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o)) as [number, number, number, number];
  const flags = msg.readUInt16BE(2);
  let off = 12;
  const questions: WireMessage['questions'] = [];
  for (let k = 0; k < counts[0]; k++) {
    const n = readName(msg, off);
    questions.push({ name: n.name, type: msg.readUInt16BE(n.next), class: msg.readUInt16BE(n.next + 2) });
    off = n.next + 4;
  }
  const section = (count: number): WireRecord[] => {
    const out: WireRecord[] = [];
    for (let k = 0; k < count; k++) {
      const n = readName(msg, off);
      if (n.next + 10 > msg.length) throw new Error(`record header at ${off} runs past the end of the message`);
      const rdlength = msg.readUInt16BE(n.next + 8);
      const rdataOffset = n.next + 10;
      if (rdataOffset + rdlength > msg.length) throw new Error(`rdata at ${rdataOffset} runs past the end of the message`);
      out.push({ name: n.name, type: msg.readUInt16BE(n.next), class: msg.readUInt16BE(n.next + 2), ttl: msg.readUInt32BE(n.next + 4), rdata: msg.subarray(rdataOffset, rdataOffset + rdlength), rdataOffset });
      off = rdataOffset + rdlength;
    }
    return out;
  };
  const answers = section(counts[1]);
  const authorities = section(counts[2]);
  const additionals = section(counts[3]);
  return { id: msg.readUInt16BE(0), flags, rcode: flags & 0x0f, questions, answers, authorities, additionals };
}

function quoteText(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, '0')}`;
  }
  return `${s}"`;
}

function presentAddress(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let k = 0; k < 16; k += 2) groups.push(b.readUInt16BE(k).toString(16));
  // The URL parser prints the RFC 5952 form (longest zero run as ::).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function presentSvcParams(b: Buffer, from: number): string[] {
  const out: string[] = [];
  const names = Object.fromEntries(Object.entries(SVC_KEYS).map(([k, v]) => [v, k])) as Record<number, string>;
  let off = from;
  while (off + 4 <= b.length) {
    const key = b.readUInt16BE(off);
    const v = b.subarray(off + 4, off + 4 + b.readUInt16BE(off + 2));
    off += 4 + v.length;
    const name = names[key] ?? `key${key}`;
    const list: string[] = [];
    if (key === 0) for (let k = 0; k + 2 <= v.length; k += 2) list.push(names[v.readUInt16BE(k)] ?? `key${v.readUInt16BE(k)}`);
    else if (key === 1) for (let k = 0; k < v.length; k += 1 + v[k]!) list.push(v.subarray(k + 1, k + 1 + v[k]!).toString('latin1'));
    else if (key === 3 && v.length === 2) list.push(String(v.readUInt16BE(0)));
    else if (key === 4) for (let k = 0; k + 4 <= v.length; k += 4) list.push(presentAddress(v.subarray(k, k + 4)));
    else if (key === 6) for (let k = 0; k + 16 <= v.length; k += 16) list.push(presentAddress(v.subarray(k, k + 16)));
    else if (key === 5) list.push(v.toString('base64'));
    else if (v.length > 0) list.push(v.toString('hex'));
    out.push(list.length === 0 ? name : `${name}=${list.join(',')}`);
  }
  return out;
}

/**
 * A record of `msg` in presentation form, the inverse of parseRr. SOA is shown as "name ttl SOA"
 * only (its owner and TTL are what a test asserts; the timers are fixed); types without a known
 * format as RFC 3597 "\# length hex".
 */
export function presentRecord(msg: Buffer, r: WireRecord): string {
  const head = `${r.name} ${r.ttl} ${typeMnemonic(r.type)}`;
  const d = r.rdata;
  const name = (at: number): string => readName(msg, r.rdataOffset + at).name;
  switch (r.type) {
    case T.A:
    case T.AAAA:
      return `${head} ${presentAddress(d)}`;
    case T.CNAME:
    case T.PTR:
    case T.NS:
    case T.DNAME:
      return `${head} ${name(0)}`;
    case T.MX:
      return `${head} ${d.readUInt16BE(0)} ${name(2)}`;
    case T.SRV:
      return `${head} ${d.readUInt16BE(0)} ${d.readUInt16BE(2)} ${d.readUInt16BE(4)} ${name(6)}`;
    case T.TXT: {
      const strings: string[] = [];
      for (let k = 0; k < d.length; k += 1 + d[k]!) strings.push(quoteText(d.subarray(k + 1, k + 1 + d[k]!)));
      return `${head} ${strings.join(' ')}`;
    }
    case T.SVCB:
    case T.HTTPS: {
      const target = readName(msg, r.rdataOffset + 2);
      return [head, String(d.readUInt16BE(0)), target.name, ...presentSvcParams(d, target.next - r.rdataOffset)].join(' ');
    }
    case T.SOA:
      return head;
    default:
      return `${head} \\# ${d.length}${d.length > 0 ? ` ${d.toString('hex')}` : ''}`;
  }
}
