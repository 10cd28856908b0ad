// First stage: only clients from allowed networks are served; others get REFUSED (EDE 18).
// Decisions are remembered per address (bounded) because BlockList.check is not free.
import { BlockList, isIPv4 } from 'node:net';
import { Ede, Rcode } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { errorReply } from '../dns/synth.js';
import type { Answer, Query, Stage } from './types.js';

/** Loopback, RFC 1918, RFC 4193 and link-local: where a LAN resolver's clients live. */
export const DEFAULT_ALLOWED_NETWORKS = [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
];

const PROHIBITED = edeOption(Ede.PROHIBITED, 'c2dns: client not in an allowed network');
const MEMO_LIMIT = 65536;

export class AccessStage implements Stage {
  private readonly list = new BlockList();
  private readonly memo = new Map<string, boolean>();

  /** `networks` are CIDR strings already validated by the config layer. */
  constructor(
    networks: readonly string[],
    private readonly next: Stage,
  ) {
    for (const n of networks) {
      const [addr, bits] = n.split('/') as [string, string | undefined];
      const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
      this.list.addSubnet(addr, bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits), type);
    }
  }

  allows(address: string): boolean {
    let ok = this.memo.get(address);
    if (ok === undefined) {
      const pct = address.indexOf('%'); // zone index of a link-local client
      if (pct >= 0) return this.allows(address.slice(0, pct));
      // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
      const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : null;
      ok = v4 !== null ? this.list.check(v4, 'ipv4') : this.list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(address, ok);
    }
    return ok;
  }

  resolve(q: Query): Answer | Promise<Answer> {
    if (this.allows(q.clientAddress)) return this.next.resolve(q);
    return { action: 'refused', reply: errorReply(q.msg, q.pq, Rcode.REFUSED, PROHIBITED), stored: null, upstream: null };
  }
}
