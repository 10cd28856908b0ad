// Response policy: what the upstream answered is checked before the client sees it. CNAME/DNAME
// targets and SVCB/HTTPS TargetNames in the answer section are checked against the name rules,
// every A/AAAA against the IP rules, with the same precedence as the question's name (the most
// specific rule wins, allow beats block). A hit answers the client's question with the rule's
// action; a blocked name in the additional section is removed and the rest delivered.
//
// The stage sits above the cache, so it sees fresh and cached answers alike: a cached answer is
// checked again whenever the policy changed since it was last checked, so a list update or an
// emergency block also applies to answers already in the cache. The verdict per stored answer is
// memoised on the answer for the tables it was made with (the client's group's: groups with the
// same lists share them), so a cache hit compares one number; a second group's verdicts for the
// same answer are kept in a WeakMap per tables. Nothing else is kept per answer: a clean verdict
// (nearly all) is the tables' number alone, and what the answer holds (inspectAnswer) is read
// again from the wire when another policy checks it. The cache holds tens of thousands of
// answers, and every object kept for each is one more for every Mark-Compact to visit (issue 11).
// The module's binding: the global `performance` is an accessor that each read calls.
import { performance } from 'node:perf_hooks';
import { addressText } from '../dns/address.js';
import { inspectAnswer, chainTo, withoutAdditional } from '../dns/inspect.js';
import { replay, replayStale, storeResponse, type StoredAnswer } from '../dns/relay.js';
import type { RuleMatch } from '../blocklist/rule.js';
import { ruleDecision, type Trigger } from '../policy/decision.js';
import type { PolicyHolder, PolicyTables } from '../policy/snapshot.js';
import { labelCount, type BlockAnswers } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

/** What the tables found in an answer: a rule it hit, or additional records to remove. */
interface Verdict {
  /** The tables it was made with, by number: a cached answer must not keep replaced tables alive. */
  readonly tablesId: number;
  /** The rule the answer hit, with its trigger and the chain from the question to it. */
  readonly hit: { rule: RuleMatch; trigger: Trigger; chain: readonly string[] } | null;
  /** The answer without its blocked additional records, or null when none were removed. */
  readonly stripped: StoredAnswer | null;
}

/**
 * A memoised verdict: the tables' number when they found nothing (a number is no object for the
 * GC to visit), or the Verdict.
 */
type Memo = number | Verdict;

const tablesOf = (m: Memo): number => (typeof m === 'number' ? m : m.tablesId);


export class ResponseStage implements Stage {
  /**
   * Verdicts of answers already holding another tables' verdict (s.verdict), per tables object,
   * then per stored answer: groups with different lists asking for the same cached answer each
   * keep theirs, and a published policy's new tables start empty (the old ones, and their
   * verdicts, are collected with them).
   */
  private readonly otherVerdicts = new WeakMap<PolicyTables, WeakMap<StoredAnswer, Memo>>();
  /** A number per tables object (weakly held), and the current snapshot's ones. */
  private readonly ids = new WeakMap<PolicyTables, number>();
  private nextId = 1;
  /** Of the snapshot last seen (by version: nothing here may keep replaced tables alive). */
  private version = -1;
  private currentIds = new Set<number>();
  private defaultId = 0;

  constructor(
    private readonly policy: PolicyHolder,
    private readonly answers: BlockAnswers,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    const res = this.next.resolve(q);
    return res instanceof Promise ? this.inspectLater(q, res) : this.inspect(q, res);
  }

  /** Not written inline in resolve(): a closure over q there costs a context allocation on every query. */
  private inspectLater(q: Query, res: Promise<Answer>): Promise<Answer> {
    return res.then((a) => this.inspect(q, a));
  }

  private inspect(q: Query, a: Answer): Answer {
    const s = a.stored;
    if (s === null) return a;
    // An allowlist entry for the question's own name vouches for everything its answer holds.
    const d0 = q.decision;
    if (d0 !== null && d0.verdict === 'allow' && d0.trigger === 'qname') return a;
    // The client's group's tables: a verdict memoised for one group's tables is not another's.
    const tables = this.policy.current.tablesFor(q.identity.group);
    const v = this.verdictOf(s, tables, q.pq.name, q.pq.qEnd);
    if (typeof v === 'number') return a;
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

  /**
   * The answer's verdict under `tables`. The answer's own slot holds one verdict: kept while its
   * tables are among the current policy's, replaced otherwise; a second group's verdicts for the
   * same answer go to otherVerdicts.
   */
  private verdictOf(s: StoredAnswer, tables: PolicyTables, qname: string, qEnd: number): Memo {
    const id = this.idOf(tables);
    const own = s.verdict as Memo | null;
    if (own !== null && tablesOf(own) === id) return own;
    if (own === null || !this.currentIds.has(tablesOf(own))) return (s.verdict = this.check(s, qname, qEnd, tables, id));
    let memo = this.otherVerdicts.get(tables);
    if (memo === undefined) this.otherVerdicts.set(tables, (memo = new WeakMap()));
    let v = memo.get(s);
    if (v === undefined) memo.set(s, (v = this.check(s, qname, qEnd, tables, id)));
    return v;
  }

  /** The tables' number; notes the current snapshot's numbers when a new policy is published. */
  private idOf(tables: PolicyTables): number {
    const snap = this.policy.current;
    if (snap.version !== this.version) {
      this.version = snap.version;
      this.defaultId = this.numberOf(snap.tables);
      this.currentIds = new Set([...snap.groups.values()].map((t) => this.numberOf(t)).concat(this.defaultId));
    }
    return tables === snap.tables ? this.defaultId : this.numberOf(tables);
  }

  private numberOf(tables: PolicyTables): number {
    let id = this.ids.get(tables);
    if (id === undefined) this.ids.set(tables, (id = this.nextId++));
    return id;
  }

  private check(s: StoredAnswer, qname: string, qEnd: number, tables: PolicyTables, tablesId: number): Memo {
    const facts = inspectAnswer(s.wire, qEnd, qname);
    if (facts === null || facts.empty) return tablesId;
    const now = Date.now();
    for (const n of facts.names) {
      const r = tables.names.match(n.name, now);
      if (r !== null && r.kind === 'block') return { tablesId, hit: { rule: r, trigger: n.via, chain: chainTo(facts, qname, n.name) }, stripped: null };
    }
    if (!tables.responseIps.empty) {
      for (const ad of facts.addresses) {
        const m = tables.responseIps.lookup(ad.bytes);
        if (m !== null && m.rule.kind === 'block') {
          const chain = ad.owner === qname ? [qname] : chainTo(facts, qname, ad.owner);
          return { tablesId, hit: { rule: m.rule, trigger: 'answer-ip', chain: [...chain, addressText(ad.bytes)] }, stripped: null };
        }
      }
    }
    let drop: Set<number> | null = null;
    for (const ad of facts.additional) {
      const r = tables.names.match(ad.name, now);
      if (r !== null && r.kind === 'block') (drop ??= new Set()).add(ad.index);
    }
    if (drop === null) return tablesId;
    const stripped = storeResponse(withoutAdditional(s.wire, qEnd, drop), qEnd, s.storedAt);
    // The stored wire has no OPT: the upstream's EDE options go with the answer, not the bytes.
    if (stripped !== null) stripped.ede = s.ede;
    return stripped === null ? tablesId : { tablesId, hit: null, stripped };
  }
}


export const responseStage: StageModule<ResponseStage> = {
  name: 'response',
  enabled: (d) => d.cfg.blocking.inspectResponses,
  create: (d, next) => new ResponseStage(d.policy, d.answers, requireNext('response', next)),
};

