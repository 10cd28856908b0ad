// Quarantine stage (DNS-level posture isolation), between client rules and name policy: a client
// that queried a C2-tagged name is answered with the null address for every name except those on
// the remediation allowlist (update servers, EDR, the helpdesk), until it is released or its
// quarantine expires. The trigger is an observer: a blocked query whose rule carries one of the
// configured tags (or a watch list with `quarantine: true`) puts its client in quarantine.
// Policy groups with quarantine off (groups[].quarantine: false, or quarantine.enabled false for
// groups that say nothing) are neither put in quarantine nor answered as quarantined.
import { makeRule } from '../blocklist/rule.js';
import { normalizeDomain } from '../blocklist/domain.js';
import { DEFAULT_GROUP, quarantineGroups } from '../config/lan.js';
import { DomainTrie } from '../blocklist/trie.js';
import type { Decision } from '../policy/decision.js';
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import type { QuarantineEntry, QuarantineStore } from '../quarantine/store.js';
import { labelCount, type BlockAnswers } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface QuarantineOptions {
  durationMs: number;
  /** Rule tags that trigger quarantine (default ["c2"]). */
  tags: readonly string[];
  /** Watch lists whose hits quarantine the client (`quarantine: true`). */
  watchLists: readonly string[];
  /** Policy groups whose clients are never quarantined (default: none). */
  exemptGroups?: ReadonlySet<string>;
}

const TAGS = ['quarantine'];
const DECISION_MEMO_LIMIT = 65536;

export class QuarantineStage implements Stage, QueryObserver {
  /** Called when a client enters quarantine (security event). */
  onQuarantine: (e: QuarantineEntry, trigger: QueryEvent) => void = () => {};
  private readonly decisions = new Map<string, { since: number; d: Decision }>();
  private readonly exempt: ReadonlySet<string>;

  constructor(
    private readonly store: QuarantineStore,
    private readonly remediation: DomainTrie,
    private readonly answers: BlockAnswers,
    private readonly opts: QuarantineOptions,
    private readonly next: Stage,
  ) {
    this.exempt = opts.exemptGroups ?? new Set();
  }

  resolve(q: Query): Answer | Promise<Answer> {
    if (this.store.size === 0) return this.next.resolve(q);
    // By MAC when a trusted forwarder gave one (quarantined by MAC), then by the real address.
    const id = q.identity;
    if (this.exempt.size > 0 && this.exempt.has(id.group)) return this.next.resolve(q);
    const e = (id.mac !== null ? this.store.get(id.mac) : undefined) ?? this.store.get(id.address);
    if (e === undefined) return this.next.resolve(q);
    const allowed = this.remediation.match(q.pq.name);
    if (allowed !== null && allowed.kind === 'allow') return this.next.resolve(q);
    const d = this.decisionFor(e);
    q.decision = d;
    return this.answers.answer(q, d, labelCount(q.pq.name), 'null')!;
  }

  /** A blocked query on a rule with a trigger tag, or a quarantining watch list, quarantines its client. */
  onQuery(ev: QueryEvent): void {
    const d = ev.decision;
    if (d === null || d.rule === null) return;
    if (this.exempt.size > 0 && this.exempt.has(ev.group ?? DEFAULT_GROUP)) return;
    const m = d.rule;
    const trigger = d.verdict === 'monitor' ? this.opts.watchLists.includes(m.list) : ev.action === 'blocked' && m.kind === 'block' && m.tags.some((t) => this.opts.tags.includes(t));
    if (!trigger) return;
    // Keyed by MAC when known, else the real client's address: one host behind a router, not the router.
    const reason = `queried ${ev.qname} (${d.verdict === 'monitor' ? 'watch list' : 'list'} ${m.list}, rule ${m.rule})`;
    const { entry, created } = this.store.add(ev.mac ?? ev.client, reason, this.opts.durationMs, { address: ev.client, mac: ev.mac, name: ev.clientName, via: ev.via });
    if (created) this.onQuarantine(entry, ev);
  }

  private decisionFor(e: QuarantineEntry): Decision {
    let c = this.decisions.get(e.client);
    if (c === undefined || c.since !== e.since) {
      const note = `client quarantined since ${new Date(e.since).toISOString()} (${e.reason})`;
      c = { since: e.since, d: { by: 'quarantine', verdict: 'block', trigger: 'client-ip', rule: null, chain: [e.client], note, tags: TAGS } };
      if (this.decisions.size >= DECISION_MEMO_LIMIT) this.decisions.clear(); // released and evicted clients leave theirs behind
      this.decisions.set(e.client, c);
    }
    return c.d;
  }
}

/** The remediation allowlist as a table of allow rules. */
function remediationList(names: readonly string[]): DomainTrie {
  const trie = new DomainTrie();
  names.forEach((raw, i) => {
    const n = normalizeDomain(raw);
    if (n.ok) trie.add(makeRule({ name: n.name, match: 'subtree', line: i + 1, kind: 'allow' }, { list: 'quarantine-allow', kind: 'allow', match: 'subtree', action: null, tags: [], firstSeen: 0 }));
  });
  return trie;
}

export const quarantineStage: StageModule<QuarantineStage> = {
  name: 'quarantine',
  // On when quarantine.enabled, or when some group turns it on for its clients.
  enabled: (d) => quarantineGroups(d.cfg).any,
  create: (d, next) =>
    new QuarantineStage(
      d.quarantine,
      remediationList(d.cfg.quarantine.allow),
      d.answers,
      {
        durationMs: d.cfg.quarantine.durationMinutes * 60_000,
        tags: d.cfg.quarantine.tags,
        watchLists: d.cfg.lists.filter((l) => l.action === 'monitor' && l.quarantine).map((l) => l.name),
        exemptGroups: quarantineGroups(d.cfg).exempt,
      },
      requireNext('quarantine', next),
    ),
};
