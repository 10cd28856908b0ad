// Name policy: the question's name against the live lists. A blocked name is answered here with
// its rule's action (the entry's, else its list's, else the configured default); an allowlisted
// or unlisted name goes on. A watch list's name goes on too, with a `monitor` decision the
// observers act on. The decision is recorded on the query for the log, the EDE and the events.
import { ruleDecision } from '../policy/decision.js';
import type { PolicyHolder } from '../policy/snapshot.js';
import type { BlockAnswers } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export class PolicyStage implements Stage {
  constructor(
    private readonly policy: PolicyHolder,
    private readonly answers: BlockAnswers,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    const t = this.policy.current.tablesFor(q.identity.group);
    const name = q.pq.name;
    const m = t.names.match(name);
    if (m !== null) {
      const d = ruleDecision(m, 'qname', [name]);
      q.decision = d;
      if (m.kind === 'block') {
        const a = this.answers.answer(q, d, m.labels);
        if (a !== null) return a;
      }
    }
    if (t.watch.size > 0 && (m === null || m.kind === 'allow')) {
      const w = t.watch.match(name);
      if (w !== null && w.kind === 'block') q.decision = ruleDecision(w, 'qname', [name], true);
    }
    return this.next.resolve(q);
  }
}

export const policyStage: StageModule<PolicyStage> = {
  name: 'policy',
  enabled: () => true,
  create: (d, next) => new PolicyStage(d.policy, d.answers, requireNext('policy', next)),
};
