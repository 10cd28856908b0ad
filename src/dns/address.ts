// IP addresses between text and A/AAAA RDATA bytes: sinkhole addresses and RPZ local data one
// way; answer addresses (history, response decisions) and ECS addresses the other.
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

/** Text form of a 4- or 16-byte address (IPv6 per RFC 5952: lower case, longest zero run of two or more as ::); '' otherwise. */
export function addressText(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return '';
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 1; // a single zero word is not compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}
