// IP address text → the bytes of an A or AAAA RDATA (sinkhole addresses, RPZ local data).
import { isIP } from 'node:net';

/** 4 bytes for IPv4, 16 for IPv6; the text must already be a valid address. */
export function addressBytes(s: string): Buffer {
  const family = isIP(s);
  if (family === 4) return Buffer.from(s.split('.').map(Number));
  if (family !== 6) throw new Error(`not an IP address: ${s}`);
  const u = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = u.includes('::') ? u.split('::') : [u, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
