// Response policy: what the upstream answered is checked before the client sees it. CNAME/DNAME
// targets and SVCB/HTTPS TargetNames in the answer section are checked against the name rules,
// every A/AAAA against the IP rules, with the same precedence as the question's name (the most
// specific rule wins, allow beats block). A hit answers the client's question with the rule's
// action; a blocked name in the additional section is removed and the rest delivered.
//
// The stage sits above the cache, so it sees fresh and cached answers alike: a cached answer is
// checked again whenever the policy changed since it was last checked, so a list update or an
// emergency block also applies to answers already in the cache. The verdict per stored answer is
// memoised for the tables it was made with (the client's group's: groups with the same lists share
// them), so a cache hit costs two WeakMap lookups.
import { addressText } from '../dns/address.js';
import { inspectAnswer, chainTo, withoutAdditional, type AnswerFacts } from '../dns/inspect.js';
import { replay, replayStale, storeResponse, type StoredAnswer } from '../dns/relay.js';
import type { RuleMatch } from '../blocklist/rule.js';
import { ruleDecision, type Trigger } from '../policy/decision.js';
import type { PolicyHolder, PolicyTables } from '../policy/snapshot.js';
import { labelCount, type BlockAnswers } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

interface Verdict {
  readonly tables: PolicyTables;
  /** The rule the answer hit, with its trigger and the chain from the question to it. */
  readonly hit: { rule: RuleMatch; trigger: Trigger; chain: readonly string[] } | null;
  /** The answer without its blocked additional records, or null when none were removed. */
  readonly stripped: StoredAnswer | null;
}


export class ResponseStage implements Stage {
  /**
   * Verdicts per tables object, then per stored answer: groups with different lists asking for the
   * same cached answer each keep theirs, and a published policy's new tables start empty (the old
   * ones, and their verdicts, are collected with them).
   */
  private readonly verdicts = new WeakMap<PolicyTables, WeakMap<StoredAnswer, Verdict>>();
  private readonly facts = new WeakMap<StoredAnswer, AnswerFacts | null>();

  constructor(
    private readonly policy: PolicyHolder,
    private readonly answers: BlockAnswers,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    const res = this.next.resolve(q);
    if (res instanceof Promise) return res.then((a) => this.inspect(q, a));
    return this.inspect(q, res);
  }

  private inspect(q: Query, a: Answer): Answer {
    const s = a.stored;
    if (s === null) return a;
    // An allowlist entry for the question's own name vouches for everything its answer holds.
    const d0 = q.decision;
    if (d0 !== null && d0.verdict === 'allow' && d0.trigger === 'qname') return a;
    // The client's group's tables: a verdict memoised for one group's tables is not another's.
    const tables = this.policy.current.tablesFor(q.identity.group);
    let memo = this.verdicts.get(tables);
    if (memo === undefined) this.verdicts.set(tables, (memo = new WeakMap()));
    let v = memo.get(s);
    if (v === undefined || v.tables !== tables) {
      v = this.check(s, q.pq.name, q.pq.qEnd, tables);
      memo.set(s, v);
    }
    if (v.hit !== null) {
      const d = ruleDecision(v.hit.rule, v.hit.trigger, v.hit.chain);
      q.decision = d;
      const blocked = this.answers.answer(q, d, labelCount(q.pq.name));
      if (blocked !== null) {
        blocked.upstream = a.upstream;
        return blocked;
      }
      return a;
    }
    if (v.stripped !== null) a.reply = a.stale === true ? replayStale(v.stripped, q.msg, q.pq) : replay(v.stripped, q.msg, q.pq, performance.now());
    return a;
  }

  private check(s: StoredAnswer, qname: string, qEnd: number, tables: PolicyTables): Verdict {
    let facts = this.facts.get(s);
    if (facts === undefined) {
      facts = inspectAnswer(s.wire, qEnd);
      this.facts.set(s, facts);
    }
    if (facts === null || facts.empty) return { tables, hit: null, stripped: null };
    const now = Date.now();
    for (const n of facts.names) {
      const r = tables.names.match(n.name, now);
      if (r !== null && r.kind === 'block') return { tables, hit: { rule: r, trigger: n.via, chain: chainTo(facts, qname, n.name) }, stripped: null };
    }
    if (!tables.responseIps.empty) {
      for (const ad of facts.addresses) {
        const m = tables.responseIps.lookup(ad.bytes);
        if (m !== null && m.rule.kind === 'block') {
          const chain = ad.owner === qname ? [qname] : chainTo(facts, qname, ad.owner);
          return { tables, hit: { rule: m.rule, trigger: 'answer-ip', chain: [...chain, addressText(ad.bytes)] }, stripped: null };
        }
      }
    }
    let drop: Set<number> | null = null;
    for (const ad of facts.additional) {
      const r = tables.names.match(ad.name, now);
      if (r !== null && r.kind === 'block') (drop ??= new Set()).add(ad.index);
    }
    if (drop === null) return { tables, hit: null, stripped: null };
    const stripped = storeResponse(withoutAdditional(s.wire, qEnd, drop), qEnd, s.storedAt);
    // The stored wire has no OPT: the upstream's EDE options go with the answer, not the bytes.
    if (stripped !== null) stripped.ede = s.ede;
    return { tables, hit: null, stripped };
  }
}


export const responseStage: StageModule<ResponseStage> = {
  name: 'response',
  enabled: (d) => d.cfg.blocking.inspectResponses,
  create: (d, next) => new ResponseStage(d.policy, d.answers, requireNext('response', next)),
};

