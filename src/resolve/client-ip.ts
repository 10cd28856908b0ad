// Client-IP rules (RPZ rpz-client-ip): queries from a listed client or network get the rule's
// action whatever they ask, ahead of every name rule, as in RPZ's trigger precedence. An allow
// rule (PASSTHRU) inside a listed network exempts its clients.
import { isIPv4 } from 'node:net';
import type { RuleMatch } from '../blocklist/rule.js';
import type { IpPrefixTable } from '../blocklist/prefix-table.js';
import { ruleDecision } from '../policy/decision.js';
import type { PolicyHolder } from '../policy/snapshot.js';
import { labelCount, type BlockAnswers } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

const MEMO_LIMIT = 65536;

export class ClientIpStage implements Stage {
  /** Client address → its rule (or null), for the table it was looked up in. */
  private memo = new Map<string, RuleMatch | null>();
  private memoTable: IpPrefixTable<RuleMatch> | null = null;

  constructor(
    private readonly policy: PolicyHolder,
    private readonly answers: BlockAnswers,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    const table = this.policy.current.tablesFor(q.identity.group).clientIps;
    if (table.empty) return this.next.resolve(q);
    const client = q.identity.address; // the real client: behind a router, the one a trusted forwarder named
    const rule = this.ruleFor(table, client);
    if (rule === null || rule.kind === 'allow') return this.next.resolve(q);
    const d = ruleDecision(rule, 'client-ip', [client]);
    q.decision = d;
    return this.answers.answer(q, d, labelCount(q.pq.name)) ?? this.next.resolve(q);
  }

  private ruleFor(table: IpPrefixTable<RuleMatch>, client: string): RuleMatch | null {
    if (this.memoTable !== table || this.memo.size >= MEMO_LIMIT) {
      this.memo = new Map();
      this.memoTable = table;
    }
    let r = this.memo.get(client);
    if (r === undefined) {
      r = table.lookupText(plainAddress(client))?.rule ?? null;
      this.memo.set(client, r);
    }
    return r;
  }
}

/** A client address as a prefix table reads it: no zone index, IPv4 unmapped. */
export function plainAddress(a: string): string {
  const pct = a.indexOf('%');
  const s = pct >= 0 ? a.slice(0, pct) : a;
  return s.startsWith('::ffff:') && isIPv4(s.slice(7)) ? s.slice(7) : s;
}

export const clientIpStage: StageModule<ClientIpStage> = {
  name: 'client-ip',
  enabled: () => true,
  create: (d, next) => new ClientIpStage(d.policy, d.answers, requireNext('client-ip', next)),
};
