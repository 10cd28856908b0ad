// Blocklist/allowlist stage: a blocked name is answered here with the sinkhole answer of its
// list (or the default); an allowlisted or unlisted name goes on. The match is recorded on the
// query so the log line and the EDE text give the same list and rule.
import { CLASS_IN, Ede, Rcode, RType } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { errorReply, synthesize } from '../dns/synth.js';
import type { BlockAction, RuleMatch } from '../blocklist/rule.js';
import type { DomainTrie } from '../blocklist/trie.js';
import type { Answer, Query, Stage } from './types.js';

export interface PolicyOptions {
  defaultAction: BlockAction;
  /** Addresses for the `sinkhole` action; null = answer NODATA for that family. */
  sinkholeIpv4: Buffer | null;
  sinkholeIpv6: Buffer | null;
  ttl: number;
}

const ZERO4 = Buffer.alloc(4);
const ZERO6 = Buffer.alloc(16);

export class PolicyStage implements Stage {
  private readonly edeByRule = new WeakMap<RuleMatch, Buffer>();

  constructor(
    private trie: DomainTrie,
    private readonly opts: PolicyOptions,
    private readonly next: Stage,
  ) {}

  /** Replaces the live list in one assignment: a query sees the old trie or the new one. */
  swap(trie: DomainTrie): void {
    this.trie = trie;
  }

  get lists(): DomainTrie {
    return this.trie;
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const m = this.trie.match(q.pq.name);
    if (m === null) return this.next.resolve(q);
    q.match = m;
    if (m.kind === 'allow') return this.next.resolve(q);
    return { action: 'blocked', reply: this.blockedReply(q, m), stored: null, upstream: null };
  }

  private blockedReply(q: Query, m: RuleMatch): Buffer {
    const pq = q.pq;
    let ede = this.edeByRule.get(m);
    if (ede === undefined) {
      ede = edeOption(Ede.BLOCKED, `blocked by c2dns: list=${m.list} rule=${m.rule}`);
      this.edeByRule.set(m, ede);
    }
    const action = m.action ?? this.opts.defaultAction;
    if (action === 'refused') return errorReply(q.msg, pq, Rcode.REFUSED, ede);
    let address: Buffer | null = null;
    if (pq.qclass === CLASS_IN && (action === 'null' || action === 'sinkhole')) {
      const sink = action === 'sinkhole';
      if (pq.qtype === RType.A) address = sink ? this.opts.sinkholeIpv4 : ZERO4;
      else if (pq.qtype === RType.AAAA) address = sink ? this.opts.sinkholeIpv6 : ZERO6;
    }
    return synthesize(q.msg, pq, {
      rcode: action === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR,
      address,
      soaLabels: address === null ? m.labels : -1,
      ttl: this.opts.ttl,
      ede,
    });
  }
}
