// Quarantine stage (DNS-level posture isolation), between access control and policy: a client
// that queried a C2-tagged name is answered with the sinkhole for every name except those on
// the remediation allowlist (update servers, EDR, the helpdesk), until it is released or its
// quarantine expires. The trigger is an observer: a blocked query whose rule carries one of the
// configured tags puts its client in quarantine.
import { CLASS_IN, Ede, Rcode, RType } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { synthesize, type SynthRecord } from '../dns/synth.js';
import type { RuleMatch } from '../blocklist/rule.js';
import type { DomainTrie } from '../blocklist/trie.js';
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import type { QuarantineEntry, QuarantineStore } from '../quarantine/store.js';
import type { Answer, Query, Stage } from './types.js';

export interface QuarantineOptions {
  durationMs: number;
  /** Rule tags that trigger quarantine (default ["c2"]). */
  tags: readonly string[];
  ttl: number;
}

const ZERO_A: readonly SynthRecord[] = [{ type: RType.A, rdata: Buffer.alloc(4) }];
const ZERO_AAAA: readonly SynthRecord[] = [{ type: RType.AAAA, rdata: Buffer.alloc(16) }];
const NONE: readonly SynthRecord[] = [];

export class QuarantineStage implements Stage, QueryObserver {
  /** Called when a client enters quarantine (security event). */
  onQuarantine: (e: QuarantineEntry, trigger: QueryEvent) => void = () => {};
  private readonly rules = new Map<string, RuleMatch>();

  constructor(
    private readonly store: QuarantineStore,
    private readonly remediation: DomainTrie,
    private readonly opts: QuarantineOptions,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    if (this.store.size === 0) return this.next.resolve(q);
    const e = this.store.get(q.clientAddress);
    if (e === undefined) return this.next.resolve(q);
    const allowed = this.remediation.match(q.pq.name);
    if (allowed !== null && allowed.kind === 'allow') return this.next.resolve(q);
    q.match = this.ruleFor(e);
    const pq = q.pq;
    const answers = pq.qclass !== CLASS_IN ? NONE : pq.qtype === RType.A ? ZERO_A : pq.qtype === RType.AAAA ? ZERO_AAAA : NONE;
    const reply = synthesize(q.msg, pq, {
      rcode: Rcode.NOERROR,
      answers,
      soaLabels: answers.length === 0 ? labelCount(pq.name) : -1,
      ttl: this.opts.ttl,
      ede: edeOption(Ede.BLOCKED, `c2dns: client quarantined since ${new Date(e.since).toISOString()} (${e.reason})`),
    });
    return { action: 'blocked', reply, stored: null, upstream: null };
  }

  /** A blocked query on a rule with a trigger tag quarantines its client. */
  onQuery(ev: QueryEvent): void {
    if (ev.action !== 'blocked') return;
    const m = ev.match;
    if (m === null || m.kind !== 'block' || m.list === 'quarantine') return;
    if (!m.tags.some((t) => this.opts.tags.includes(t))) return;
    const { entry, created } = this.store.add(ev.client, `queried ${ev.qname} (list ${m.list}, rule ${m.rule})`, this.opts.durationMs);
    if (created) this.onQuarantine(entry, ev);
  }

  /** A pseudo-rule naming the quarantine, so the log and metrics say why. */
  private ruleFor(e: QuarantineEntry): RuleMatch {
    let r = this.rules.get(e.client);
    if (r === undefined || r.line !== e.since) {
      r = { kind: 'block', list: 'quarantine', rule: e.client, match: 'exact', line: e.since, action: 'null', important: true, labels: 0, ref: null, tags: ['quarantine'], expiresAt: e.until, firstSeen: e.since };
      this.rules.set(e.client, r);
    }
    return r;
  }
}

function labelCount(name: string): number {
  if (name === '') return 0;
  let n = 1;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 0x2e) n++;
  return n;
}
