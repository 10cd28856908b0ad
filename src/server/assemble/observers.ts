// What watches answered queries and the resolver's own troubles: the query log, the quarantine
// store, the metrics, and the log lines and health problems the resolver's parts report. Every
// failure that breaks a promise (the query log, saved quarantines) becomes an OperationalHealth
// problem, so /readyz says so.
import type { Config } from '../../config/schema.js';
import type { FeedManager } from '../../feeds/manager.js';
import type { Fleet } from '../../fleet/fleet.js';
import type { HistoryRecorder } from '../../history/recorder.js';
import type { OperationalHealth } from '../../observe/health.js';
import { Metrics } from '../../observe/metrics.js';
import type { OpLogger } from '../../observe/oplog.js';
import { QueryLog } from '../../observe/querylog.js';
import { QuarantineStore } from '../../quarantine/store.js';
import type { Alerting } from '../../respond/alerting.js';
import type { Listeners } from './listeners.js';
import type { ResolverParts } from './resolver.js';
import type { EventParts } from './soc.js';

export function createQueryLog(cfg: Config, health: OperationalHealth): QueryLog {
  return new QueryLog(cfg.log.queries, cfg.log.destination, (err) => {
    const where = cfg.log.destination === 'stdout' ? 'standard output' : cfg.log.destination;
    if (err === null) health.ok('query log');
    else health.fail('query log', `cannot write to ${where}: ${err.message} (queries are answered but not logged)`, err);
  });
}

/** The fleet's shared store, or this instance's own; saving failures are a health problem. */
export function createQuarantineStore(cfg: Config, fleet: Fleet | null, oplog: OpLogger, health: OperationalHealth): QuarantineStore {
  const store = fleet?.quarantine ?? new QuarantineStore(cfg.state.dir!);
  if (store.damaged) oplog.error({ file: `${cfg.state.dir}/quarantine.json` }, 'quarantine state was damaged and could not be read');
  store.maxClients = cfg.quarantine.maxClients;
  store.onWrite = (err) => {
    if (err === null) health.ok('quarantine store');
    else health.fail('quarantine store', `cannot save quarantine.json in ${cfg.state.dir}: ${err.message} (quarantines apply, but a restart would lose the unsaved ones)`, err);
  };
  return store;
}

/** Connects the resolver's reports to the log and the events: rate-limit episodes, quarantines, refused encrypted upstreams. */
export function wireResolverReports(r: ResolverParts, soc: EventParts, oplog: OpLogger): void {
  if (r.rateLimit !== null) {
    r.rateLimit.onEpisode = (e) => {
      if (e.phase === 'start') oplog.warn({ client: e.client, proven: e.proven }, 'rate limiting a client: over rateLimit.qps');
      else oplog.warn({ client: e.client, proven: e.proven, seconds: e.seconds, dropped: e.dropped, slipped: e.slipped, refused: e.refused }, 'rate limiting of a client ended');
    };
  }
  if (r.quarantine !== null) r.quarantine.onQuarantine = soc.quarantined;
  // A DoT/DoH upstream that refuses the connection (certificate, pin, handshake) says why, once per new reason.
  for (const u of r.forward.upstreams) {
    if (u.transport === null) continue;
    let last = '';
    u.transport.onError = (err) => {
      if (err.message !== last) oplog.error({ upstream: u.label, err: err.message }, 'encrypted upstream connection failed');
      last = err.message;
    };
  }
}

export interface MetricsParts {
  feeds: FeedManager;
  r: ResolverParts;
  quarantineStore: QuarantineStore;
  history: HistoryRecorder | null;
  alerting: Alerting | null;
  fleet: Fleet | null;
  /** Bound later: the listeners' defence counters are read at scrape time. */
  listeners: () => Listeners | null;
  processMetrics: boolean;
}

export function createMetrics(p: MetricsParts): Metrics {
  const { r } = p;
  const metrics = new Metrics({
    feeds: p.feeds,
    // The forwarding rules' upstreams too, each labelled with its rule. Read at each scrape: a
    // config reload may change the default upstreams.
    get upstreams() {
      return r.conditional === null ? r.forward.upstreams : [...r.forward.upstreams, ...r.conditional.upstreamViews()];
    },
    cache: r.cache,
    dispatchCounters: () => r.dispatcher.counters,
    quarantinedClients: () => p.quarantineStore.list().length,
    clientOptions: () => r.clients?.counters ?? null,
    upstreamHealth: () => r.upstreamHealth.status(),
    rateLimit: () => r.rateLimit?.counters ?? null,
    shed: () => r.forward.shed,
    allDown: () => r.forward.allDown,
    upstreamCookies: () => ({ ...r.forward.cookies.stats }),
    tcpDefences: () => tcpDefenceTotals(p.listeners()),
    history: () => p.history?.stats() ?? null,
    cookies: () => ({ ...r.edns.counters }),
    processMetrics: p.processMetrics,
    ...(p.alerting !== null ? { alerts: alertStats(p.alerting) } : {}),
  });
  p.fleet?.registerMetrics(metrics.registry);
  return metrics;
}

/** Connections the TCP and DoT listeners closed or refused to protect themselves, by reason, summed. */
function tcpDefenceTotals(listeners: Listeners | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of [...(listeners?.tcp ?? []), ...(listeners?.dot ?? [])]) for (const [k, n] of Object.entries(l.defences)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function alertStats(alerting: Alerting): () => { sink: string; sent: number; failed: number; dropped: number; queued: number }[] {
  return () => alerting.stats().map((x) => ({ sink: x.sink, sent: x.sent, failed: x.failedAttempts, dropped: x.droppedOverflow, queued: x.queued }));
}
