// Test-side DNS messages: queries built by hand (so tests control every bit), answers decoded
// by dns2 as the reference decoder.
import dns2 from 'dns2';

export const { Packet } = dns2;
export type DecodedPacket = InstanceType<typeof dns2.Packet>;
export type Resource = dns2.Packet.Resource;
export type Rr = Partial<Resource> & { name: string; type: number; ttl?: number };

export const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65 } as const;

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
