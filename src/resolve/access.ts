// First stage: only clients from allowed networks are served; others get REFUSED (EDE 18).
// Decisions are remembered per address (bounded) because BlockList.check is not free.
import { BlockList, isIPv4 } from 'node:net';
import { Ede, Rcode } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { errorReply } from '../dns/synth.js';
import type { Decision } from '../policy/decision.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';


const NOTE = 'client not in an allowed network';
const PROHIBITED = edeOption(Ede.PROHIBITED, `c2dns: ${NOTE}`);
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
    q.decision = refusal(q.clientAddress);
    return { action: 'refused', reply: errorReply(q.msg, q.pq, Rcode.REFUSED, PROHIBITED), stored: null, upstream: null };
  }
}

function refusal(client: string): Decision {
  return { by: 'access', verdict: 'refuse', trigger: 'client-ip', rule: null, chain: [client], note: NOTE, tags: [] };
}

export const accessStage: StageModule<AccessStage> = {
  name: 'access',
  enabled: () => true,
  create: (d, next) => new AccessStage(d.cfg.access.allow, requireNext('access', next)),
};
