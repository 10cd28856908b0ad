// Blocklist/allowlist stage: a blocked name is answered here with its rule's action (the
// entry's, else its list's, else the configured default); an allowlisted or unlisted name goes
// on. The match is recorded on the query so the log line and the EDE text name the same list
// and rule.
import { CLASS_IN, Ede, Rcode, RType } from '../dns/constants.js';
import { addressBytes } from '../dns/address.js';
import { encodeName } from '../dns/names.js';
import { edeOption } from '../dns/opt.js';
import { errorReply, synthesize, truncatedReply, type SynthRecord } from '../dns/synth.js';
import type { BlockAction, EntryAction, LocalRecord, RuleMatch } from '../blocklist/rule.js';
import type { DomainTrie } from '../blocklist/trie.js';
import type { Answer, Query, Stage } from './types.js';

export interface PolicyOptions {
  defaultAction: BlockAction;
  /** Addresses for the `sinkhole` action; null = answer NODATA for that family. */
  sinkholeIpv4: Buffer | null;
  sinkholeIpv6: Buffer | null;
  ttl: number;
}

const NONE: readonly SynthRecord[] = [];
const ZERO_A: readonly SynthRecord[] = [{ type: RType.A, rdata: Buffer.alloc(4) }];
const ZERO_AAAA: readonly SynthRecord[] = [{ type: RType.AAAA, rdata: Buffer.alloc(16) }];

export class PolicyStage implements Stage {
  private readonly edeByRule = new WeakMap<RuleMatch, Buffer>();
  private readonly localByRule = new WeakMap<RuleMatch, SynthRecord[]>();
  private readonly sinkA: readonly SynthRecord[];
  private readonly sinkAAAA: readonly SynthRecord[];

  constructor(
    private trie: DomainTrie,
    private readonly opts: PolicyOptions,
    private readonly next: Stage,
  ) {
    this.sinkA = opts.sinkholeIpv4 === null ? NONE : [{ type: RType.A, rdata: opts.sinkholeIpv4 }];
    this.sinkAAAA = opts.sinkholeIpv6 === null ? NONE : [{ type: RType.AAAA, rdata: opts.sinkholeIpv6 }];
  }

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
    const action: EntryAction = m.action ?? this.opts.defaultAction;
    if (action === 'tcp-only') {
      if (q.transport === 'tcp') return this.next.resolve(q);
      return { action: 'blocked', reply: truncatedReply(errorReply(q.msg, q.pq, Rcode.NOERROR), q.pq), stored: null, upstream: null };
    }
    if (action === 'drop') return { action: 'blocked', reply: null, stored: null, upstream: null };
    return { action: 'blocked', reply: this.blockedReply(q, m, action), stored: null, upstream: null };
  }

  private blockedReply(q: Query, m: RuleMatch, action: Exclude<EntryAction, 'drop' | 'tcp-only'>): Buffer {
    const pq = q.pq;
    let ede = this.edeByRule.get(m);
    if (ede === undefined) {
      ede = edeOption(Ede.BLOCKED, `blocked by c2dns: list=${m.list} rule=${m.rule}`);
      this.edeByRule.set(m, ede);
    }
    if (action === 'refused') return errorReply(q.msg, pq, Rcode.REFUSED, ede);
    let answers = NONE;
    if (pq.qclass === CLASS_IN) {
      if (typeof action === 'object') answers = this.localAnswers(m, action.local, pq.qtype);
      else if (action === 'null') answers = pq.qtype === RType.A ? ZERO_A : pq.qtype === RType.AAAA ? ZERO_AAAA : NONE;
      else if (action === 'sinkhole') answers = pq.qtype === RType.A ? this.sinkA : pq.qtype === RType.AAAA ? this.sinkAAAA : NONE;
    }
    return synthesize(q.msg, pq, {
      rcode: action === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR,
      answers,
      soaLabels: answers.length === 0 ? m.labels : -1,
      ttl: this.opts.ttl,
      ede,
    });
  }

  /** RPZ local data: a CNAME answers every type; otherwise the records of the asked type. */
  private localAnswers(m: RuleMatch, records: LocalRecord[], qtype: number): readonly SynthRecord[] {
    let all = this.localByRule.get(m);
    if (all === undefined) {
      all = records.map(localRecord);
      this.localByRule.set(m, all);
    }
    const cname = all.find((r) => r.type === RType.CNAME);
    if (cname !== undefined) return [cname];
    return qtype === RType.ANY ? all : all.filter((r) => r.type === qtype);
  }
}

function localRecord(r: LocalRecord): SynthRecord {
  switch (r.type) {
    case 'A':
      return { type: RType.A, rdata: addressBytes(r.value) };
    case 'AAAA':
      return { type: RType.AAAA, rdata: addressBytes(r.value) };
    case 'CNAME':
      return { type: RType.CNAME, rdata: encodeName(r.value) };
    case 'TXT': {
      const t = Buffer.from(r.value.slice(0, 255), 'utf8').subarray(0, 255);
      return { type: RType.TXT, rdata: Buffer.concat([Buffer.from([t.length]), t]) };
    }
  }
}
