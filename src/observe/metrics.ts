// Prometheus metrics, in c2dns's own prom-client Registry (every name prefixed `c2dns_`).
//
// Two kinds of numbers, kept apart so answering a query stays cheap:
// - per query (onQuery): counted into typed arrays and small cells on the hot path, copied into
//   prom-client metrics only when scraped. prom-client's own inc()/observe() hash the label set
//   and allocate on every call (≈250 ns each here, see bench/metrics-cost.mjs), which would cost
//   more than answering a cached query.
// - state other objects already keep (upstream counters, cache, lists, dispatcher counters, alert
//   sinks, quarantine): read in collect() callbacks at scrape time, never on the hot path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Aggregator, type Metric } from 'prom-client';
import type { RuleMatch } from '../blocklist/rule.js';
import type { DecidedBy, Trigger, Verdict } from '../policy/decision.js';
import { packageRoot } from '../config/paths.js';
import { rcodeName, RType, typeName } from '../dns/constants.js';
import { FEED_FAILURES } from '../feeds/errors.js';
import type { SourceState } from '../feeds/manager.js';
import type { Action } from '../resolve/types.js';
import type { DispatchCounters } from '../server/dispatch.js';
import type { UpstreamCounters } from '../upstream/counters.js';
import type { UpstreamHealthState } from '../upstream/health.js';
import type { QueryEvent, QueryObserver } from './query-event.js';

export const METRIC_PREFIX = 'c2dns_';

/** Seconds. Blocked and cached answers take 50–500 µs, forwarded ones 1 ms to the 2 s timeout. */
export const DURATION_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

/** An upstream as ForwardStage keeps it (structural, so tests and other stages can pass their own). */
export interface UpstreamView {
  readonly label: string;
  readonly counters: Readonly<UpstreamCounters>;
  /** Latency average and probes (ForwardStage's upstreams have them). */
  readonly health?: Readonly<Pick<UpstreamHealthState, 'latencyMs' | 'samples' | 'probes' | 'stalls' | 'hedged'>>;
}

export interface AlertSinkCounts {
  sink: string;
  /** Events delivered. */
  sent: number;
  /** Failed delivery attempts (each retry counts). */
  failed: number;
  /** Events given up on (e.g. spool overflow). */
  dropped?: number;
  /** Events waiting for delivery now. */
  queued?: number;
}

export interface MetricsSources {
  feeds: { readonly sources: readonly SourceState[] };
  /** ForwardStage.upstreams. */
  upstreams: readonly UpstreamView[];
  /** null when the cache is disabled. The resilience counts are CacheStage's (absent: 0). */
  cache: {
    readonly size: number;
    readonly hits: number;
    readonly misses: number;
    readonly bytes?: number;
    readonly staleServed?: number;
    readonly coalesced?: number;
    readonly prefetches?: number;
  } | null;
  /** A function because the Dispatcher is built after its observers (this is one of them). */
  dispatchCounters: () => Readonly<DispatchCounters>;
  /** Per alert sink, monotonically increasing counts (the alerting component owns them). Also settable later: provide(). */
  alerts?: () => readonly AlertSinkCounts[];
  /** Clients quarantined right now. */
  quarantinedClients?: () => number;
  /** Client-identity options (ECS, MAC, CPE-ID): ignored from untrusted sources, unreadable from trusted ones (resolve/clients.ts). */
  clientOptions?: () => Readonly<{ ignored: number; malformed: number }> | null;
  /** Upstream health as /readyz judges it (admin/readiness.ts). */
  upstreamHealth?: () => readonly { upstream: string; healthy: boolean }[];
  /** The query history's counts (history/recorder.ts stats()); null or absent when it is off. */
  history?: () => Readonly<{ recorded: number; dropped: number; writeErrors: number }> | null;
  /** DNS Cookies towards clients (server/edns-server.ts); null or absent when off. */
  cookies?: () => Readonly<Record<string, number>> | null;
  /** Rate limiting (resolve/ratelimit.ts); null or absent when it is off. */
  rateLimit?: () => Readonly<{ dropped: number; slipped: number; refused: number }> | null;
  /** DNS Cookies towards the default plain upstreams (upstream/cookies.ts stats), by outcome. */
  upstreamCookies?: () => Readonly<Record<string, number>>;
  /** Questions shed by the upstream pending bound (upstream.maxPending). */
  shed?: () => number;
  /** Questions answered SERVFAIL at once because every upstream was down (upstream.allDownScoutMs). */
  allDown?: () => number;
  /** TCP and DoT connections closed or refused to protect the listener, by reason (server/tcp.ts). */
  tcpDefences?: () => Readonly<Record<string, number>>;
  /** Default: package.json's version. */
  version?: string;
  /** Also export prom-client's process_* and nodejs_* metrics (event-loop lag, heap, GC). Once per process. */
  processMetrics?: boolean;
  /** Epoch ms; for list ages in tests. */
  now?: () => number;
}

/** The sources Metrics.provide() may supply after construction. */
type LateSource = 'alerts' | 'quarantinedClients' | 'upstreamHealth';

/** Totals for /api/status, from the same counts the metrics export. */
export interface MetricsSummary {
  queries: number;
  byAction: Record<string, number>;
  byRcode: Record<string, number>;
  blocked: number;
  truncated: number;
  malformed: number;
  dropped: number;
  internalErrors: number;
  cache: { entries: number; hits: number; misses: number } | null;
  upstreams: ({ upstream: string } & UpstreamCounters)[];
}

const ACTIONS: readonly Action[] = ['blocked', 'local-data', 'allowed', 'cached', 'refused', 'servfail', 'formerr', 'notimp', 'local'];
// Decisions by who decided, what triggered it and what it did: a flat array indexed by the three.
const BYS: readonly DecidedBy[] = ['list', 'watch', 'emergency', 'quarantine', 'access'];
const TRIGGERS: readonly Trigger[] = ['qname', 'cname', 'dname', 'svcb-target', 'answer-ip', 'client-ip'];
const VERDICTS: readonly Verdict[] = ['block', 'local-data', 'allow', 'monitor', 'refuse'];
const indexOf = <T extends string>(xs: readonly T[]): Record<T, number> => Object.fromEntries(xs.map((x, i) => [x, i])) as Record<T, number>;
const BY_INDEX = indexOf(BYS);
const TRIGGER_INDEX = indexOf(TRIGGERS);
const VERDICT_INDEX = indexOf(VERDICTS);

/** Slots per (qtype, transport); actions added later by other stages take free slots, then "other". */
const ACTION_SLOTS = 16;
const TRANSPORTS = ['udp', 'tcp', 'dot', 'doh'] as const;
const TRANSPORT_INDEX: Record<(typeof TRANSPORTS)[number], number> = { udp: 0, tcp: 1, dot: 2, doh: 3 };

// qtype label: the mnemonic for well-known types, "other" for the rest, so a client sending
// random qtypes cannot create 65,536 series per transport and action.
const QTYPE_LABELS: string[] = ['other'];
const QTYPE_SLOT = new Uint8Array(65536);
for (const t of Object.values(RType)) {
  if (t === RType.OPT) continue; // a pseudo-type, never a real question
  QTYPE_SLOT[t] = QTYPE_LABELS.length;
  QTYPE_LABELS.push(typeName(t));
}

/** Distinct tag values kept per list before further tags are counted as "other". */
const MAX_TAGS_PER_LIST = 256;

/** Bucket counts in milliseconds on the hot path; exported in seconds. */
const BOUNDS_MS = Float64Array.from(DURATION_BUCKETS, (s) => s * 1000);

class HistogramCell {
  readonly counts = new Float64Array(BOUNDS_MS.length + 1);
  sumMs = 0;
  count = 0;

  constructor(readonly labels: Readonly<Record<string, string>>) {}

  observe(ms: number): void {
    let i = 0;
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    this.counts[i]++;
    this.sumMs += ms;
    this.count++;
  }
}

interface ExposedValue {
  value: number;
  labels: Record<string, string>;
  metricName: string;
}

/**
 * A histogram the Registry can print, backed by HistogramCells. prom-client has no public way to
 * set bucket counts, so this implements the part of its metric contract the Registry reads
 * (name, help, type, get, reset) instead of calling observe() per query.
 */
class HistogramFamily {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly cells: HistogramCell[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  cell(labels: Record<string, string>): HistogramCell {
    const c = new HistogramCell(labels);
    this.cells.push(c);
    return c;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExposedValue[] }> {
    const values: ExposedValue[] = [];
    for (const c of this.cells) {
      let cumulative = 0;
      for (let i = 0; i < BOUNDS_MS.length; i++) {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: String(DURATION_BUCKETS[i]) }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: '+Inf' }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...c.labels }, value: c.sumMs / 1000 });
      values.push({ metricName: `${this.name}_count`, labels: { ...c.labels }, value: c.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const c of this.cells) {
      c.counts.fill(0);
      c.sumMs = 0;
      c.count = 0;
    }
  }
}

interface BlockCell {
  n: number;
  readonly list: string;
  readonly tag: string;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export class Metrics implements QueryObserver {
  readonly registry = new Registry();
  /** c2dns's version, as build_info reports it. */
  readonly version: string;

  // Hot-path state.
  private readonly queryCounts = new Float64Array(QTYPE_LABELS.length * TRANSPORTS.length * ACTION_SLOTS);
  private readonly actionSlot = new Map<string, number>(ACTIONS.map((a, i) => [a, i]));
  private readonly actionLabels: string[] = [...ACTIONS];
  /** Index rcode + 1: slot 0 counts "no answer sent" (rcode -1). */
  private readonly rcodeCounts = new Float64Array(17);
  private truncatedCount = 0;
  private readonly duration: HistogramCell;
  private readonly upstreamDuration = new Map<string, HistogramCell>();
  private readonly upstreamDurationFamily: HistogramFamily;
  /**
   * A block's cells by its rule's list, then its tags array: the rules of one source share both,
   * so this holds an entry per source (and per rule with tags of its own), not one per rule: a
   * 1M-name list blocked name by name grew a per-rule table by 1M entries that every major GC walked.
   */
  private readonly blockCellsByTags = new Map<string, WeakMap<readonly string[], BlockCell[]>>();
  private readonly blockCells = new Map<string, Map<string, BlockCell>>();
  /** The last action counted and its slot: runs of one action (a constant string) skip the Map lookup (~80 instructions). */
  private lastAction: string | null = null;
  private lastActionSlot = 0;
  /** The last block's list, tags and cells: blocks come in runs from one source, found without the two lookups. */
  private lastList = '';
  private lastTags: readonly string[] | null = null;
  private lastCells: BlockCell[] = [];
  private readonly unattributedBlock: BlockCell = { n: 0, list: '', tag: '' };
  /** Blocks by a decision without a list rule (quarantine), by who decided. */
  private readonly ruleCellsByDecider = new Map<string, BlockCell>();
  private readonly decisionCounts = new Float64Array(BYS.length * TRIGGERS.length * VERDICTS.length);

  // Feed failures are sampled from FeedManager's lastFailure (it keeps no count).
  private readonly failureCounts = new Map<string, Map<string, number>>();
  private readonly failureSeenAt = new Map<string, number>();

  private readonly now: () => number;
  private readonly reloads = { ok: 0, invalid: 0, failed: 0 };
  /** Epoch ms of the start (this object's creation) or of the last successful reload. */
  private lastConfigLoad: number;
  /** Callbacks into components that may be built after this (see provide()). */
  private readonly late: Pick<MetricsSources, LateSource>;

  constructor(private readonly src: MetricsSources) {
    this.now = src.now ?? Date.now;
    this.lastConfigLoad = this.now();
    this.late = { alerts: src.alerts, quarantinedClients: src.quarantinedClients, upstreamHealth: src.upstreamHealth };
    this.version = src.version ?? packageVersion();
    const reg = this.registry;
    const registers = [reg];
    const P = METRIC_PREFIX;
    // Gauges carry a cluster aggregator (prom-client AggregatorRegistry, one registry per worker):
    // state every worker shares is not summed. Counters and per-worker state (cache) are summed.
    // Closures below read `self` so the collect callbacks can use prom-client's `this` (the metric).
    const self = this;

    const durationFamily = new HistogramFamily(`${P}request_duration_seconds`, 'Time from receiving a query to sending its answer.');
    this.duration = durationFamily.cell({});
    this.upstreamDurationFamily = new HistogramFamily(
      `${P}upstream_duration_seconds`,
      'Time from receiving a query to sending the answer, for queries answered by this upstream (includes failover to it).',
    );
    for (const u of src.upstreams) this.upstreamDuration.set(u.label, this.upstreamDurationFamily.cell({ upstream: u.label }));
    // The only place the Registry gets something that is not a prom-client class (see HistogramFamily).
    reg.registerMetric(durationFamily as unknown as Metric);
    reg.registerMetric(this.upstreamDurationFamily as unknown as Metric);

    new Counter({
      name: `${P}queries_total`,
      help: 'Queries answered, by transport, query type (well-known types; "other" for the rest) and action.',
      labelNames: ['transport', 'qtype', 'action'] as const,
      registers,
      collect() {
        this.reset();
        const counts = self.queryCounts;
        for (let i = 0; i < counts.length; i++) {
          const n = counts[i]!;
          if (n === 0) continue;
          const a = i % ACTION_SLOTS;
          const rest = (i - a) / ACTION_SLOTS;
          const t = rest % TRANSPORTS.length;
          const q = (rest - t) / TRANSPORTS.length;
          this.inc({ transport: TRANSPORTS[t]!, qtype: QTYPE_LABELS[q]!, action: self.actionLabels[a] ?? 'other' }, n);
        }
      },
    });
    new Counter({
      name: `${P}blocks_total`,
      help: 'Blocked queries by list and tag of the matching rule: one increment per tag ("" when the rule has none).',
      labelNames: ['list', 'tag'] as const,
      registers,
      collect() {
        this.reset();
        for (const byTag of self.blockCells.values()) for (const c of byTag.values()) this.inc({ list: c.list, tag: c.tag }, c.n);
        if (self.unattributedBlock.n > 0) this.inc({ list: '', tag: '' }, self.unattributedBlock.n);
        for (const c of self.ruleCellsByDecider.values()) this.inc({ list: c.list, tag: c.tag }, c.n);
      },
    });
    new Counter({
      name: `${P}decisions_total`,
      help: 'Queries a rule, quarantine or access control decided, by who decided (list, watch, emergency, quarantine, access), what triggered it (qname, cname, dname, svcb-target, answer-ip, client-ip) and the verdict (block, local-data, allow, monitor, refuse).',
      labelNames: ['by', 'trigger', 'verdict'] as const,
      registers,
      collect() {
        this.reset();
        const counts = self.decisionCounts;
        for (let i = 0; i < counts.length; i++) {
          if (counts[i] === 0) continue;
          const v = i % VERDICTS.length;
          const t = ((i - v) / VERDICTS.length) % TRIGGERS.length;
          const b = Math.floor(i / (VERDICTS.length * TRIGGERS.length));
          this.inc({ by: BYS[b]!, trigger: TRIGGERS[t]!, verdict: VERDICTS[v]! }, counts[i]!);
        }
      },
    });
    new Counter({
      name: `${P}responses_total`,
      help: 'Answers sent, by response code ("none" when deliberately no answer was sent).',
      labelNames: ['rcode'] as const,
      registers,
      collect() {
        this.reset();
        const counts = self.rcodeCounts;
        for (let i = 0; i < counts.length; i++) if (counts[i]! > 0) this.inc({ rcode: i === 0 ? 'none' : rcodeName(i - 1) }, counts[i]!);
      },
    });
    new Counter({
      name: `${P}truncated_responses_total`,
      help: 'UDP answers replaced by TC=1 because they exceeded the client limit.',
      registers,
      collect() {
        this.reset();
        this.inc(self.truncatedCount);
      },
    });
    new Counter({
      name: `${P}refused_total`,
      help: 'Queries refused by access control (access.allow).',
      registers,
      collect() {
        this.reset();
        this.inc(self.slotTotal(self.actionSlot.get('refused')!));
      },
    });
    new Counter({
      name: `${P}rate_limited_total`,
      help: 'Queries over their client\'s rate (rateLimit), by what they got: "drop" (UDP, no answer), "slip" (UDP, TC=1), "refused" (TCP, DoT, DoH or a valid cookie).',
      labelNames: ['response'] as const,
      registers,
      collect() {
        this.reset();
        const c = src.rateLimit?.() ?? null;
        if (c === null) return;
        this.inc({ response: 'drop' }, c.dropped);
        this.inc({ response: 'slip' }, c.slipped);
        this.inc({ response: 'refused' }, c.refused);
      },
    });
    new Counter({
      name: `${P}dns_cookies_total`,
      help: 'Queries with a DNS COOKIE option (RFC 7873), by what it held: "client" (a client cookie only), "valid" or "invalid" server cookie, "malformed" (FORMERR); "badcookie": BADCOOKIE answers sent.',
      labelNames: ['verdict'] as const,
      registers,
      collect() {
        this.reset();
        for (const [verdict, n] of Object.entries(src.cookies?.() ?? {})) this.inc({ verdict }, n);
      },
    });
    new Counter({
      name: `${P}upstream_cookies_total`,
      help: 'DNS Cookies with the plain upstreams (upstream.cookies, RFC 7873), by outcome: "sent" (queries that carried ours), "echoed" (replies with our client cookie), "none" (replies without a cookie), "forged" (replies dropped: a cookie not ours or malformed), "badcookieRetries", "tcpFallbacks".',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(src.upstreamCookies?.() ?? {})) this.inc({ outcome }, n);
      },
    });
    new Counter({
      name: `${P}overload_shed_total`,
      help: 'Queries shed because upstream.maxPending questions were already being asked upstream (answered REFUSED, or not at all with upstream.overload: drop).',
      registers,
      collect() {
        this.reset();
        this.inc(src.shed?.() ?? 0);
      },
    });
    new Counter({
      name: `${P}upstream_all_down_total`,
      help: 'Queries answered SERVFAIL (EDE 22) at once because every upstream was down; one question per upstream.allDownScoutMs was still asked. Those the cache could answer stale are counted in c2dns_cache_stale_served_total instead of reaching the client as SERVFAIL.',
      registers,
      collect() {
        this.reset();
        this.inc(src.allDown?.() ?? 0);
      },
    });
    new Counter({
      name: `${P}tcp_defence_total`,
      help: 'TCP and DoT connections closed or refused to protect the listener, by reason: slow-message (tcp.messageTimeoutMs), slow-rate (tcp.minBytesPerSecond), evicted-idle (cap reached), per-client (tcp.maxConnectionsPerClient), refused (cap reached, nothing to evict).',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(src.tcpDefences?.() ?? {})) this.inc({ reason }, n);
      },
    });

    const upstreamCounter = (name: string, help: string, key: keyof UpstreamCounters): void => {
      new Counter({
        name: `${P}upstream_${name}`,
        help,
        labelNames: ['upstream'] as const,
        registers,
        collect() {
          this.reset();
          for (const u of src.upstreams) this.inc({ upstream: u.label }, u.counters[key]);
        },
      });
    };
    upstreamCounter('requests_total', 'Queries sent to the upstream (UDP attempts; a TCP retry after TC=1 is counted in truncated).', 'requests');
    upstreamCounter('responses_total', 'Replies accepted from the upstream (any rcode).', 'responses');
    upstreamCounter('timeouts_total', 'Queries to the upstream that timed out.', 'timeouts');
    upstreamCounter('errors_total', 'Network errors and unusable replies from the upstream.', 'errors');
    upstreamCounter('ignored_replies_total', 'Datagrams ignored: wrong source, ID or question (spoofing attempts or late replies).', 'ignoredReplies');
    upstreamCounter('truncated_total', 'Truncated UDP replies from the upstream, retried over TCP.', 'truncated');
    new Gauge({
      name: `${P}upstream_latency_seconds`,
      help: 'Average time an exchange with the upstream took (exponentially weighted; timeouts count as the timeout); absent until measured.',
      labelNames: ['upstream'] as const,
      registers,
      collect() {
        this.reset();
        for (const u of src.upstreams) if (u.health !== undefined && u.health.samples > 0) this.set({ upstream: u.label }, u.health.latencyMs / 1000);
      },
    });
    new Counter({
      name: `${P}upstream_probes_total`,
      help: 'Probes of a down upstream (upstream.probeName), by result: "ok" brought it back, "failed" kept it down.',
      labelNames: ['upstream', 'result'] as const,
      registers,
      collect() {
        this.reset();
        for (const u of src.upstreams) {
          if (u.health === undefined) continue;
          this.inc({ upstream: u.label, result: 'ok' }, u.health.probes.ok);
          this.inc({ upstream: u.label, result: 'failed' }, u.health.probes.failed);
        }
      },
    });
    new Counter({
      name: `${P}upstream_stalls_total`,
      help: 'Times the upstream was marked down for a stall: questions waited past its stall time (4x its latency average, 200 ms at least) with no usable reply.',
      labelNames: ['upstream'] as const,
      registers,
      collect() {
        this.reset();
        for (const u of src.upstreams) if (u.health !== undefined) this.inc({ upstream: u.label }, u.health.stalls);
      },
    });
    new Counter({
      name: `${P}upstream_hedged_total`,
      help: 'Questions re-asked of the next upstream at once because the upstream they waited on stalled.',
      labelNames: ['upstream'] as const,
      registers,
      collect() {
        this.reset();
        for (const u of src.upstreams) if (u.health !== undefined) this.inc({ upstream: u.label }, u.health.hedged);
      },
    });
    new Gauge({
      name: `${P}upstream_healthy`,
      help: '1 when the upstream counts as healthy for /readyz, else 0.',
      labelNames: ['upstream'] as const,
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        for (const h of self.late.upstreamHealth?.() ?? []) this.set({ upstream: h.upstream }, h.healthy ? 1 : 0);
      },
    });

    new Gauge({
      name: `${P}cache_entries`,
      help: 'Answers in the cache.',
      registers,
      collect() {
        this.set(src.cache?.size ?? 0);
      },
    });
    new Counter({
      name: `${P}cache_hits_total`,
      help: 'Queries answered from the cache.',
      registers,
      collect() {
        this.reset();
        this.inc(src.cache?.hits ?? 0);
      },
    });
    new Counter({
      name: `${P}cache_misses_total`,
      help: 'Cache lookups that found nothing fresh.',
      registers,
      collect() {
        this.reset();
        this.inc(src.cache?.misses ?? 0);
      },
    });
    const cacheCounter = (name: string, help: string, key: 'staleServed' | 'coalesced' | 'prefetches'): void => {
      new Counter({
        name: `${P}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(src.cache?.[key] ?? 0);
        },
      });
    };
    cacheCounter('cache_stale_served_total', 'Expired answers served because no upstream answered in time (RFC 8767 serve-stale; TTL 30, EDE 3).', 'staleServed');
    cacheCounter('cache_coalesced_total', 'Queries that waited for an identical question already asked upstream instead of asking their own.', 'coalesced');
    cacheCounter('cache_prefetches_total', 'Background refreshes of cached answers asked for in the last 10 % of their TTL.', 'prefetches');
    new Gauge({
      name: `${P}cache_bytes`,
      help: 'Size of the cached answers as counted against cache.maxBytes (answer bytes plus a fixed per-entry overhead).',
      registers,
      collect() {
        this.set(src.cache?.bytes ?? 0);
      },
    });

    const perList = (name: string, help: string, aggregator: Aggregator, value: (s: SourceState) => number | null): void => {
      new Gauge({
        name: `${P}${name}`,
        help,
        labelNames: ['list'] as const,
        registers,
        aggregator,
        collect() {
          this.reset();
          for (const s of src.feeds.sources) {
            const v = value(s);
            if (v !== null) this.set({ list: s.config.name }, v);
          }
        },
      });
    };
    perList('list_entries', 'Rules the list contributes now.', 'max', (s) => s.compiled?.rules.length ?? 0);
    perList('list_loaded', '1 when the list has a usable copy (fresh or from disk), else 0.', 'min', (s) => (s.compiled === null ? 0 : 1));
    perList('list_last_success_timestamp_seconds', 'When the list was last fetched or read successfully (absent until it has been).', 'max', (s) =>
      s.lastSuccess === null ? null : s.lastSuccess / 1000,
    );
    perList('list_age_seconds', 'Seconds since the list was last fetched or read successfully (absent until it has been).', 'min', (s) =>
      s.lastSuccess === null ? null : Math.max(0, (this.now() - s.lastSuccess) / 1000),
    );
    perList('feed_rejected_lines', 'Lines of the current copy of the list that could not be used.', 'max', (s) => s.compiled?.report.rejected ?? 0);
    perList('list_disk_copy_stale', '1 while the rules served are newer than the last good copy on disk, which could not be saved (a full disk), else 0.', 'max', (s) => (s.diskStale == null ? 0 : 1));
    new Counter({
      name: `${P}history_records_total`,
      help: 'Queries for the query history, by outcome: "recorded", or "dropped" (buffer full, or their segment could not be written: lost from the history).',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        this.reset();
        const h = src.history?.() ?? null;
        if (h === null) return;
        this.inc({ outcome: 'recorded' }, h.recorded);
        this.inc({ outcome: 'dropped' }, h.dropped);
      },
    });
    new Counter({
      name: `${P}history_write_errors_total`,
      help: 'Failed writes of query history segments (each loses the records it held).',
      registers,
      collect() {
        this.reset();
        this.inc(src.history?.()?.writeErrors ?? 0);
      },
    });
    for (const s of src.feeds.sources) this.failureCounts.set(s.config.name, new Map(FEED_FAILURES.map((r) => [r, 0])));
    new Counter({
      name: `${P}list_refresh_failures_total`,
      help: 'Rejected list updates by reason (sampled from the latest failure at each scrape and admin refresh).',
      labelNames: ['list', 'reason'] as const,
      registers,
      collect() {
        self.sampleFeeds();
        this.reset();
        for (const [list, byReason] of self.failureCounts) for (const [reason, n] of byReason) this.inc({ list, reason }, n);
      },
    });

    new Counter({
      name: `${P}malformed_packets_total`,
      help: 'Packets that were not a usable query: "dropped" unanswered (short, QR=1, unparseable), "answered" with FORMERR/NOTIMP/BADVERS.',
      labelNames: ['handling'] as const,
      registers,
      collect() {
        const d = src.dispatchCounters();
        this.reset();
        this.inc({ handling: 'dropped' }, d.dropped);
        this.inc({ handling: 'answered' }, d.malformed);
      },
    });
    new Counter({
      name: `${P}client_options_ignored_total`,
      help: 'Queries carrying ECS, MAC or CPE-ID options that were not used: "untrusted" (the source is not in clients.trustedForwarders), "malformed" (a trusted forwarder sent options that did not parse; what could be read was used).',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        const c = src.clientOptions?.() ?? null;
        this.reset();
        this.inc({ reason: 'untrusted' }, c?.ignored ?? 0);
        this.inc({ reason: 'malformed' }, c?.malformed ?? 0);
      },
    });
    new Counter({
      name: `${P}internal_errors_total`,
      help: 'Queries answered SERVFAIL because a stage failed unexpectedly (see the operational log).',
      registers,
      collect() {
        this.reset();
        this.inc(src.dispatchCounters().internalErrors);
      },
    });

    const alerts = (): readonly AlertSinkCounts[] => self.late.alerts?.() ?? [];
    const alertCounter = (name: string, help: string, key: 'sent' | 'failed' | 'dropped'): void => {
      new Counter({
        name: `${P}${name}`,
        help,
        labelNames: ['sink'] as const,
        registers,
        collect() {
          this.reset();
          for (const a of alerts()) if (a[key] !== undefined) this.inc({ sink: a.sink }, a[key]);
        },
      });
    };
    alertCounter('alerts_sent_total', 'Alerts delivered, per sink.', 'sent');
    alertCounter('alerts_failed_total', 'Failed alert delivery attempts, per sink (each retry counts).', 'failed');
    alertCounter('alerts_dropped_total', 'Alerts given up on, per sink (spool overflow).', 'dropped');
    new Gauge({
      name: `${P}alerts_queued`,
      help: 'Alerts waiting for delivery, per sink.',
      labelNames: ['sink'] as const,
      registers,
      collect() {
        this.reset();
        for (const a of alerts()) if (a.queued !== undefined) this.set({ sink: a.sink }, a.queued);
      },
    });
    new Gauge({
      name: `${P}quarantined_clients`,
      help: 'Clients quarantined now.',
      registers,
      aggregator: 'max',
      collect() {
        this.set(self.late.quarantinedClients?.() ?? 0);
      },
    });

    new Counter({
      name: `${P}config_reload_total`,
      help: 'Configuration reloads (SIGHUP, POST /api/reload): ok (applied), invalid (the file was refused; the running configuration stays), failed (valid, but a part could not be applied).',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        for (const [result, n] of Object.entries(self.reloads)) this.inc({ result }, n);
      },
    });
    new Gauge({
      name: `${P}config_last_reload_success_timestamp_seconds`,
      help: 'When the configuration was last loaded successfully (start-up or reload), Unix seconds.',
      registers,
      aggregator: 'max',
      collect() {
        this.set(self.lastConfigLoad / 1000);
      },
    });

    new Gauge({ name: `${P}build_info`, help: 'Always 1; labels carry the c2dns and Node.js versions.', labelNames: ['version', 'node'] as const, registers, aggregator: 'first' }).set(
      { version: this.version, node: process.version },
      1,
    );

    if (src.processMetrics === true) collectDefaultMetrics({ register: reg });
  }

  /** A configuration reload's outcome (server/reload.ts). */
  recordReload(result: 'ok' | 'invalid' | 'failed'): void {
    this.reloads[result]++;
    if (result === 'ok') this.lastConfigLoad = this.now();
  }

  /** Per answered query: array and cell increments only, no string building, no allocation once warm. */
  onQuery(e: QueryEvent): void {
    const qt = e.qtype;
    const q = qt < 65536 ? QTYPE_SLOT[qt]! : 0;
    const action = e.action;
    let a = action === this.lastAction ? this.lastActionSlot : this.actionSlot.get(action);
    if (a === undefined) a = this.newAction(action);
    this.lastAction = action;
    this.lastActionSlot = a;
    this.queryCounts[(q * TRANSPORTS.length + TRANSPORT_INDEX[e.transport]) * ACTION_SLOTS + a]++;

    const rc = e.rcode;
    if (rc >= -1 && rc < 16) this.rcodeCounts[rc + 1]++;
    if (e.truncated) this.truncatedCount++;
    const ms = e.latencyMs;
    this.duration.observe(ms);

    if (e.action === 'allowed') {
      const up = e.upstream;
      if (up !== null) {
        let h = this.upstreamDuration.get(up);
        if (h === undefined) h = this.newUpstream(up);
        h.observe(ms);
      }
    }
    const d = e.decision;
    if (d !== null) this.decisionCounts[(BY_INDEX[d.by] * TRIGGERS.length + TRIGGER_INDEX[d.trigger]) * VERDICTS.length + VERDICT_INDEX[d.verdict]]++;
    if (e.action === 'blocked' || e.action === 'local-data') {
      const m = d === null ? null : d.rule;
      if (m === null) {
        if (d === null) this.unattributedBlock.n++;
        else this.ruleless(d.by, d.tags).n++;
      } else {
        const cells = m.tags === this.lastTags && m.list === this.lastList ? this.lastCells : this.cellsOf(m);
        for (let i = 0; i < cells.length; i++) cells[i]!.n++;
      }
    }
  }

  /**
   * Supplies (or replaces) callbacks for components created after the Metrics, e.g. alerting
   * built once the server runs. Read at scrape time only.
   */
  provide(callbacks: Partial<Pick<MetricsSources, LateSource>>): void {
    Object.assign(this.late, callbacks);
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Counts list update failures not seen yet. FeedManager keeps only the latest failure, so a
   * failure is counted when its timestamp changes; two failures of one list between samples count
   * once (retries are ≥ 15 s apart; scrapes usually more often).
   */
  sampleFeeds(): void {
    for (const s of this.src.feeds.sources) {
      const f = s.lastFailure;
      const name = s.config.name;
      if (f === null || this.failureSeenAt.get(name) === f.at) continue;
      this.failureSeenAt.set(name, f.at);
      let byReason = this.failureCounts.get(name);
      if (byReason === undefined) this.failureCounts.set(name, (byReason = new Map()));
      byReason.set(f.reason, (byReason.get(f.reason) ?? 0) + 1);
    }
  }

  summary(): MetricsSummary {
    const byAction: Record<string, number> = {};
    this.actionLabels.forEach((label, slot) => (byAction[label] = this.slotTotal(slot)));
    const byRcode: Record<string, number> = {};
    this.rcodeCounts.forEach((n, i) => {
      if (n > 0) byRcode[i === 0 ? 'none' : rcodeName(i - 1)] = n;
    });
    const d = this.src.dispatchCounters();
    const c = this.src.cache;
    return {
      queries: Object.values(byAction).reduce((x, y) => x + y, 0),
      byAction,
      byRcode,
      blocked: byAction.blocked ?? 0,
      truncated: this.truncatedCount,
      malformed: d.malformed,
      dropped: d.dropped,
      internalErrors: d.internalErrors,
      cache: c === null ? null : { entries: c.size, hits: c.hits, misses: c.misses },
      upstreams: this.src.upstreams.map((u) => ({ upstream: u.label, ...u.counters })),
    };
  }

  private slotTotal(slot: number): number {
    let n = 0;
    for (let i = slot; i < this.queryCounts.length; i += ACTION_SLOTS) n += this.queryCounts[i]!;
    return n;
  }

  // Cold paths, out of onQuery so it stays small enough to inline.

  private newAction(action: string): number {
    const slot = this.actionLabels.length < ACTION_SLOTS - 1 ? this.actionLabels.push(action) - 1 : ACTION_SLOTS - 1;
    if (slot === ACTION_SLOTS - 1) this.actionLabels[slot] = 'other';
    this.actionSlot.set(action, slot);
    return slot;
  }

  private newUpstream(label: string): HistogramCell {
    const h = this.upstreamDurationFamily.cell({ upstream: label });
    this.upstreamDuration.set(label, h);
    return h;
  }

  private ruleless(by: string, tags: readonly string[]): BlockCell {
    let c = this.ruleCellsByDecider.get(by);
    if (c === undefined) this.ruleCellsByDecider.set(by, (c = { n: 0, list: by, tag: tags[0] ?? '' }));
    return c;
  }

  private cellsOf(m: RuleMatch): BlockCell[] {
    const cells = this.blockCellsByTags.get(m.list)?.get(m.tags) ?? this.newRule(m);
    this.lastList = m.list;
    this.lastTags = m.tags;
    this.lastCells = cells;
    return cells;
  }

  private newRule(m: RuleMatch): BlockCell[] {
    let byTag = this.blockCells.get(m.list);
    if (byTag === undefined) this.blockCells.set(m.list, (byTag = new Map()));
    const cells: BlockCell[] = [];
    for (const raw of m.tags.length === 0 ? [''] : new Set(m.tags)) {
      const tag = byTag.has(raw) || byTag.size < MAX_TAGS_PER_LIST ? raw : 'other';
      let c = byTag.get(tag);
      if (c === undefined) byTag.set(tag, (c = { n: 0, list: m.list, tag }));
      if (!cells.includes(c)) cells.push(c); // several overflow tags share the one "other" cell
    }
    // The same list and tags give the same cells (a tag once over the limit stays "other").
    let byTags = this.blockCellsByTags.get(m.list);
    if (byTags === undefined) this.blockCellsByTags.set(m.list, (byTags = new WeakMap()));
    byTags.set(m.tags, cells);
    return cells;
  }
}
