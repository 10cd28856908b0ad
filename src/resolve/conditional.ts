// Conditional forwarding (config `forwarding`): names at and under a rule's domain are asked of
// that rule's upstreams, never of the default ones; the most specific domain wins. Each rule is a
// ForwardStage of its own (the same code as the default upstreams: random IDs and ports, failover,
// EDNS fallback, health with probes, counters), probed with "DOMAIN SOA".
//
// The stage sits between the cache and the default forward stage: a forwarded answer is cached
// like any other (the cache key is the name, and a name always takes the same route, so a rule's
// answers are only ever replayed for that rule's names), serve-stale, prefetch and coalescing
// refresh through this stage again, and the response stage above the cache inspects these
// answers as it does every upstream answer.
import type { Config } from '../config/schema.js';
import { parseHostPort, type HostPort } from '../upstream/address.js';
import type { UpstreamView } from '../observe/metrics.js';
import { ForwardStage, forwardSettings } from './forward.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

/** Domains matched as suffixes at label boundaries; `match` gives the most specific one. */
export class DomainSuffixes<V> {
  private readonly map = new Map<string, V>();
  /**
   * Last labels of the domains, by length: most names are rejected by one lookup and a comparison
   * in place (a substring of the name's last label would be an allocation per query).
   */
  private readonly tlds = new Map<number, string[]>();

  constructor(entries: Iterable<readonly [string, V]>) {
    for (const [d, v] of entries) {
      this.map.set(d, v);
      const tld = d.slice(d.lastIndexOf('.') + 1);
      const same = this.tlds.get(tld.length);
      if (same === undefined) this.tlds.set(tld.length, [tld]);
      else if (!same.includes(tld)) same.push(tld);
    }
  }

  /** `name`'s last label is one of the domains'. */
  private underTld(name: string): boolean {
    const start = name.lastIndexOf('.') + 1;
    const same = this.tlds.get(name.length - start);
    if (same === undefined) return false;
    for (let i = 0; i < same.length; i++) if (name.startsWith(same[i]!, start)) return true;
    return false;
  }

  get size(): number {
    return this.map.size;
  }

  /** The value of the most specific domain `name` is at or under (lower case, no trailing dot), or undefined. */
  match(name: string): V | undefined {
    if (this.map.size === 0 || !this.underTld(name)) return undefined;
    for (let i = 0; ; ) {
      const v = this.map.get(i === 0 ? name : name.slice(i));
      if (v !== undefined) return v;
      const dot = name.indexOf('.', i);
      if (dot < 0) return undefined;
      i = dot + 1;
    }
  }
}

export interface ForwardingRuleStage {
  readonly domain: string;
  readonly forward: ForwardStage;
}

export class ConditionalStage implements Stage {
  readonly rules: readonly ForwardingRuleStage[];
  private readonly routes: DomainSuffixes<ForwardStage>;

  constructor(
    rules: readonly { domain: string; upstreams: readonly HostPort[] }[],
    make: (domain: string, upstreams: readonly HostPort[]) => ForwardStage,
    private readonly next: Stage,
  ) {
    this.rules = rules.map((r) => ({ domain: r.domain, forward: make(r.domain, r.upstreams) }));
    this.routes = new DomainSuffixes(this.rules.map((r) => [r.domain, r.forward] as const));
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const f = this.routes.match(q.pq.name);
    return f === undefined ? this.next.resolve(q) : f.resolve(q);
  }

  /** Every rule's upstreams for the metrics, labelled "ADDR:PORT (forwarding DOMAIN)" so they never share a series with a default upstream. */
  upstreamViews(): UpstreamView[] {
    return this.rules.flatMap((r) => r.forward.upstreams.map((u) => ({ label: `${u.label} (forwarding ${r.domain})`, counters: u.counters, health: u.health })));
  }

  /** Stops the rules' probes (shutdown). */
  close(): void {
    for (const r of this.rules) r.forward.close();
  }
}

/** A rule's upstream entries as the ForwardStage takes them (validated by the schema). */
export function ruleUpstreams(entries: readonly string[]): HostPort[] {
  return entries.map((e) => {
    const hp = parseHostPort(e, 53);
    if (typeof hp === 'string') throw new Error(`forwarding upstream "${e}": ${hp}`);
    return hp;
  });
}

/** One ForwardStage per rule, configured as the default upstreams are (upstream.*), probed with "DOMAIN SOA". */
export function ruleForwarder(cfg: Config): (domain: string, upstreams: readonly HostPort[]) => ForwardStage {
  const settings = forwardSettings(cfg);
  return (domain, upstreams) => new ForwardStage({ ...settings, upstreams, probeName: domain, probeType: 'SOA' });
}

export const conditionalStage: StageModule<ConditionalStage> = {
  name: 'conditional',
  enabled: (d) => (d.cfg.forwarding ?? []).length > 0,
  create: (d, next) =>
    new ConditionalStage(
      d.cfg.forwarding.map((f) => ({ domain: f.domain, upstreams: ruleUpstreams(f.upstreams) })),
      ruleForwarder(d.cfg),
      requireNext('conditional', next),
    ),
};
