// EDNS options for tests, byte by byte: Client Subnet (RFC 7871), a MAC as dnsmasq sends it
// (binary, text or base64), a CPE-ID; appended to a query built by wire.ts, and read back from a
// message the scripted upstream received.
import { isIPv4 } from 'node:net';
import { parseQuery } from '../../src/dns/query.js';
import { buildQuery, ipBytes, parseMessage, T, type QueryOptions } from './wire.js';

export function option(code: number, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(code, 0);
  head.writeUInt16BE(data.length, 2);
  return Buffer.concat([head, data]);
}

/** ECS as a well-behaved forwarder writes it: only the prefix's octets, bits past it zero. */
export function ecs(address: string, sourcePrefix: number, scope = 0): Buffer {
  const v4 = isIPv4(address);
  const bytes = ipBytes(address).subarray(0, (sourcePrefix + 7) >> 3);
  const data = Buffer.alloc(4 + bytes.length);
  data.writeUInt16BE(v4 ? 1 : 2, 0);
  data[2] = sourcePrefix;
  data[3] = scope;
  bytes.copy(data, 4);
  return option(8, data);
}

export type MacForm = 'binary' | 'text' | 'base64';

/** dnsmasq 2.90: --add-mac → 65001 with 6 bytes; --add-mac=text|base64 → 65073. */
export function mac(text: string, form: MacForm = 'binary', code = form === 'binary' ? 65001 : 65073): Buffer {
  const raw = Buffer.from(text.split(/[:-]/).map((h) => parseInt(h, 16)));
  const data = form === 'binary' ? raw : form === 'text' ? Buffer.from(text, 'latin1') : Buffer.from(raw.toString('base64'), 'latin1');
  return option(code, data);
}

export function cpeId(text: string): Buffer {
  return option(65074, Buffer.from(text, 'latin1'));
}

/** A query with an OPT record carrying these options. */
export function queryWith(name: string, type: number, options: Buffer[], o: QueryOptions = {}): Buffer {
  const q = buildQuery(name, type, { ...o, edns: o.edns ?? {} });
  const opts = Buffer.concat(options);
  const out = Buffer.concat([q, opts]);
  out.writeUInt16BE(opts.length, q.length - 2); // the OPT's RDLENGTH, its last fixed field
  return out;
}

/** The EDNS options of a message (a query c2dns sent upstream), code and data. */
export function optionsOf(msg: Buffer): { code: number; data: Buffer }[] {
  const pq = parseQuery(msg);
  const out: { code: number; data: Buffer }[] = [];
  for (let off = pq.ednsOptions, end = off + pq.ednsOptionsLen; off >= 0 && off + 4 <= end; ) {
    const len = msg.readUInt16BE(off + 2);
    out.push({ code: msg.readUInt16BE(off), data: msg.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return out;
}

/** The data of the first option with this code in any message's OPT (a query or a reply), or null. */
export function optionIn(msg: Buffer, code: number): Buffer | null {
  const opt = parseMessage(msg).additionals.find((r) => r.type === T.OPT);
  for (let off = 0, d = opt?.rdata ?? Buffer.alloc(0); off + 4 <= d.length; off += 4 + d.readUInt16BE(off + 2)) {
    if (d.readUInt16BE(off) === code) return d.subarray(off + 4, off + 4 + d.readUInt16BE(off + 2));
  }
  return null;
}
