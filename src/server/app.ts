// Assembles c2dns from a validated Config, in the order things must exist: preflight checks →
// policy and feeds → SOC observers → the stage chain and its dispatcher → admin API → listeners.
// Each part is built by its own assembler in ./assemble; this file only orders them, logs the
// start and stops them (also when start-up fails half-way: nothing is left running).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminListen, adminToken } from '../admin/config.js';
import type { UpstreamHealth } from '../admin/readiness.js';
import { AdminServer } from '../admin/server.js';
import type { Config } from '../config/schema.js';
import type { EmergencyStore } from '../feeds/emergency.js';
import type { FeedManager } from '../feeds/manager.js';
import type { Fleet } from '../fleet/fleet.js';
import type { HistoryRecorder } from '../history/recorder.js';
import type { RetroHunter } from '../history/retro.js';
import { OperationalHealth } from '../observe/health.js';
import { Metrics } from '../observe/metrics.js';
import type { OpLogger } from '../observe/oplog.js';
import type { QueryObserver } from '../observe/query-event.js';
import { QueryLog } from '../observe/querylog.js';
import { PolicyHolder } from '../policy/snapshot.js';
import type { ClientMarks } from '../quarantine/marks.js';
import { QuarantineStore } from '../quarantine/store.js';
import type { CacheStage } from '../resolve/cache.js';
import type { ForwardStage } from '../resolve/forward.js';
import type { QuarantineStage } from '../resolve/quarantine.js';
import type { Alerting } from '../respond/alerting.js';
import type { HostPort } from '../upstream/address.js';
import { createConsoleFeed } from '../admin/console/feed.js';
import { adminContext } from './admin-context.js';
import { loadFeeds } from './assemble/feeds.js';
import { bindListeners, type Listeners } from './assemble/listeners.js';
import { assertPreflight } from './assemble/preflight.js';
import { createResolver } from './assemble/resolver.js';
import { createEvents, createHistory } from './assemble/soc.js';
import type { Dispatcher } from './dispatch.js';
import { formatListen } from '../config/encrypted.js';
import { pairWarnings, type TlsReloadResult } from './tls-material.js';

export interface RunningServer {
  /** Bound addresses (ports resolved when 0 was asked for). */
  readonly udp: HostPort[];
  readonly tcp: HostPort[];
  /** DNS over TLS listeners (tls://). */
  readonly dot: HostPort[];
  /** DNS over HTTPS listeners (https://), with their URL. */
  readonly doh: { address: HostPort; url: string }[];
  readonly feeds: FeedManager;
  readonly policy: PolicyHolder;
  /** The stages in the order a query meets them, as logged at start-up. */
  readonly chain: readonly string[];
  readonly dispatcher: Dispatcher;
  readonly forward: ForwardStage;
  /** null when the cache is disabled (cache.maxEntries: 0). */
  readonly cache: CacheStage | null;
  readonly quarantine: QuarantineStage | null;
  readonly quarantineStore: QuarantineStore;
  readonly marks: ClientMarks;
  /** Observers called per answered query (others may be added before traffic matters). */
  readonly observers: QueryObserver[];
  readonly metrics: Metrics;
  /** The query log (reopened on SIGUSR1 for logrotate). */
  readonly queryLog: QueryLog;
  /** Security events and their sinks; null in a cluster worker that forwards them. */
  readonly alerting: Alerting | null;
  readonly admin: AdminServer | null;
  readonly upstreamHealth: UpstreamHealth;
  readonly history: HistoryRecorder | null;
  readonly emergency: EmergencyStore;
  readonly retro: RetroHunter | null;
  /** The fleet membership (config `cluster`); null for a single instance. */
  readonly fleet: Fleet | null;
  /** Promises broken after start-up (query log, history, alert spool), for /readyz. */
  readonly health: OperationalHealth;
  /**
   * Reads tls.certFile/keyFile again (SIGHUP) for the DoT/DoH listeners' new connections; a pair
   * that cannot be read keeps the old one. Logged either way; null without such listeners.
   */
  reloadTls(): TlsReloadResult | null;
  /** Graceful stop: no new queries, in-flight answers sent, log flushed. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** This process refreshes feeds (single process, or cluster worker 1). */
  refresh: boolean;
  /** 'own': this process delivers alerts and serves the admin API; 'forward': a cluster worker that sends its C2 hits to the owner. */
  role?: 'own' | 'forward';
  /** prom-client's process_* metrics (once per process: the CLI). */
  processMetrics?: boolean;
  /** Try the listen and admin addresses before starting (default true; a cluster's primary checks them for its workers). */
  checkPorts?: boolean;
}

export async function startServer(cfg: Config, oplog: OpLogger, options: StartOptions = { refresh: true }): Promise<RunningServer> {
  const owner = options.role !== 'forward';
  const pre = await assertPreflight(cfg, oplog, { create: true, ports: options.checkPorts ?? true, owner });
  // state.dir unusable (a file, read-only, a full disk): serve anyway, with the state in a
  // temporary directory that goes with the process; /readyz says so under `degraded`.
  let stateFallback: string | null = null;
  if (pre.stateDirUnusable !== null) {
    const tmp = mkdtempSync(join(tmpdir(), 'c2dns-state-'));
    stateFallback = `state.dir ${cfg.state.dir}: ${pre.stateDirUnusable}; state kept in ${tmp} until restart (no last good list copies to start from, quarantines and marks not kept across restarts)`;
    oplog.error({ stateDir: cfg.state.dir, problem: pre.stateDirUnusable, using: tmp }, 'state directory unusable: serving with a temporary one');
    cfg = { ...cfg, state: { ...cfg.state, dir: tmp } };
  }
  const token = owner && cfg.admin.enabled ? adminToken(cfg.admin) : null;
  const health = new OperationalHealth(oplog);
  const policy = new PolicyHolder((err) => oplog.error({ err }, 'a policy listener failed'));
  const { history, retro, raiseTo } = createHistory(cfg, oplog, owner, health);
  let loaded: Awaited<ReturnType<typeof loadFeeds>>;
  try {
    loaded = await loadFeeds(cfg, oplog, policy, options.refresh, owner);
  } catch (err) {
    await history?.close();
    throw err;
  }
  const { feeds, emergency, fleet } = loaded;

  const soc = createEvents(cfg, oplog, owner, health);
  raiseTo(fleet !== null ? fleet.alerts.retroGate(soc.emit) : soc.emit);
  if (fleet !== null) {
    // One c2-hit per (client, rule) window for the whole fleet; names blocked elsewhere are hunted here too.
    if (soc.alerting !== null) soc.alerting.events.shared = fleet.alerts;
    if (retro !== null) fleet.onBlockedByFleet = (names) => void retro.huntNames(names, Date.now());
    fleet.emit = soc.emit;
  }
  if (retro !== null) {
    // Who asked for a name before it was listed? Once for names added since the last run, then per publish.
    policy.subscribe(() => void retro.onRulesPublished(feeds.sources));
    void retro.onRulesPublished(feeds.sources);
  }
  const quarantineStore = fleet?.quarantine ?? new QuarantineStore(cfg.state.dir!);
  if (quarantineStore.damaged) oplog.error({ file: `${cfg.state.dir}/quarantine.json` }, 'quarantine state was damaged and could not be read');
  quarantineStore.maxClients = cfg.quarantine.maxClients;
  quarantineStore.onWrite = (err) => {
    if (err === null) health.ok('quarantine store');
    else health.fail('quarantine store', `cannot save quarantine.json in ${cfg.state.dir}: ${err.message} (quarantines apply, but a restart would lose the unsaved ones)`, err);
  };

  const qlog = new QueryLog(cfg.log.queries, cfg.log.destination, (err) => {
    const where = cfg.log.destination === 'stdout' ? 'standard output' : cfg.log.destination;
    if (err === null) health.ok('query log');
    else health.fail('query log', `cannot write to ${where}: ${err.message} (queries are answered but not logged)`, err);
  });
  const observers: QueryObserver[] = [qlog];
  const r = createResolver(cfg, oplog, policy, quarantineStore, observers);
  if (r.rateLimit !== null) {
    r.rateLimit.onEpisode = (e) => {
      if (e.phase === 'start') oplog.warn({ client: e.client, proven: e.proven }, 'rate limiting a client: over rateLimit.qps');
      else oplog.warn({ client: e.client, proven: e.proven, seconds: e.seconds, dropped: e.dropped, slipped: e.slipped, refused: e.refused }, 'rate limiting of a client ended');
    };
  }
  if (r.quarantine !== null) {
    r.quarantine.onQuarantine = soc.quarantined;
    observers.push(r.quarantine);
  }
  observers.push(soc.alerting?.events ?? soc.forwarder!, soc.watch);
  // A DoT/DoH upstream that refuses the connection (certificate, pin, handshake) says why, once per new reason.
  for (const u of r.forward.upstreams) {
    if (u.transport === null) continue;
    let last = '';
    u.transport.onError = (err) => {
      if (err.message !== last) oplog.error({ upstream: u.label, err: err.message }, 'encrypted upstream connection failed');
      last = err.message;
    };
  }
  if (history !== null) observers.push(history);
  soc.alerting?.events.watchFeeds(() => feeds.sources);
  const metrics = new Metrics({
    feeds,
    // The forwarding rules' upstreams too, each labelled with its rule.
    upstreams: r.conditional === null ? r.forward.upstreams : [...r.forward.upstreams, ...r.conditional.upstreamViews()],
    cache: r.cache,
    dispatchCounters: () => r.dispatcher.counters,
    quarantinedClients: () => quarantineStore.list().length,
    clientOptions: () => r.clients?.counters ?? null,
    upstreamHealth: () => r.upstreamHealth.status(),
    rateLimit: () => r.rateLimit?.counters ?? null,
    shed: () => r.forward.shed,
    tcpDefences: () => tcpDefenceTotals(listeners),
    history: () => history?.stats() ?? null,
    cookies: () => ({ ...r.edns.counters }),
    processMetrics: options.processMetrics === true,
    ...(soc.alerting !== null ? { alerts: alertStats(soc.alerting) } : {}),
  });
  fleet?.registerMetrics(metrics.registry);
  // Metrics are only read through the admin listener: without it, they cost nothing per query.
  if (cfg.admin.enabled) observers.push(metrics);
  // The web console's live query ring and per-minute counters, where the admin listener runs.
  const consoleFeed = owner && cfg.admin.enabled ? createConsoleFeed(history?.dir ?? null) : null;
  if (consoleFeed !== null) observers.push(consoleFeed.tail, consoleFeed.minutes);
  r.upstreamHealth.start();

  let admin: AdminServer | null = null;
  let listeners: Listeners | null = null;
  let closing: Promise<void> | null = null;
  const close = (graceMs = 5000): Promise<void> => {
    closing ??= (async () => {
      feeds.stop();
      r.upstreamHealth.stop();
      const adminClosed = admin?.close(Math.min(graceMs, 1000));
      for (const u of listeners?.udp ?? []) u.stopAccepting();
      const tcpClosed = Promise.all([...(listeners?.tcp ?? []), ...(listeners?.dot ?? []), ...(listeners?.doh ?? [])].map((t) => t.close(graceMs)));
      const deadline = performance.now() + graceMs;
      while (r.dispatcher.inflight > 0 && performance.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      await Promise.all((listeners?.udp ?? []).map((u) => u.close()));
      await tcpClosed;
      r.forward.close();
      r.conditional?.close();
      r.rateLimit?.close();
      await adminClosed;
      qlog.flush();
      await history?.close();
      await soc.marks.flush();
      await quarantineStore.flush();
      fleet?.alerts.stop();
      soc.alerting?.events.stop();
      await soc.alerting?.close(Math.min(graceMs, 3000));
      if (stateFallback !== null) rmSync(cfg.state.dir!, { recursive: true, force: true });
      await fleet?.close();
    })();
    return closing;
  };

  // The admin listener first: when DNS is announced, /readyz and the API answer; when the admin
  // address cannot be had, no DNS socket was ever bound.
  try {
    if (owner && cfg.admin.enabled) {
      admin = await AdminServer.start({
        listen: adminListen(cfg.admin),
        allow: cfg.admin.allow,
        hosts: cfg.admin.hosts,
        consoleAuth: cfg.admin.consoleAuth,
        context: adminContext({ cfg, feeds, emergency, retro, quarantineStore, marks: soc.marks, chain: r.chain.names, alerting: soc.alerting, metrics, upstreamHealth: r.upstreamHealth, health, token, queryLog: qlog, oplog, emit: soc.emit, console: consoleFeed, fleet, degraded: () => degradedBy(stateFallback, history) }),
        onError: (err) => oplog.error({ err }, 'admin API request failed'),
      });
    }
    listeners = await bindListeners(cfg, r.dispatcher, (err) => oplog.warn({ err }, 'socket error'));
  } catch (err) {
    await close(0);
    throw err;
  }
  if (options.refresh) feeds.schedule();
  oplog.info(
    {
      listen: listeners.bound,
      admin: admin === null ? null : admin.url,
      upstreams: r.forward.upstreams.map((u) => u.label),
      ...(r.conditional !== null ? { forwarding: r.conditional.rules.map((f) => `${f.domain} → ${f.forward.upstreams.map((u) => u.label).join(', ')}`) } : {}),
      chain: r.chain.names.join(' → '),
    },
    'c2dns serving',
  );

  return {
    udp: listeners.udp.map((u) => u.address),
    tcp: listeners.tcp.map((t) => t.address),
    dot: listeners.dot.map((t) => t.address),
    doh: listeners.doh.map((d) => ({ address: d.address, url: formatListen({ kind: 'doh', addr: d.address, path: d.path }) })),
    feeds,
    policy,
    chain: r.chain.names,
    dispatcher: r.dispatcher,
    forward: r.forward,
    cache: r.cache,
    quarantine: r.quarantine,
    quarantineStore,
    marks: soc.marks,
    observers,
    metrics,
    queryLog: qlog,
    alerting: soc.alerting,
    admin,
    upstreamHealth: r.upstreamHealth,
    health,
    history,
    retro,
    emergency,
    fleet,
    reloadTls: () => {
      const res = listeners?.reloadTls() ?? null;
      if (res === null) return null;
      if (res.ok) {
        oplog.info({ certFile: cfg.tls.certFile, notAfter: res.notAfter, names: res.names, fingerprint: res.fingerprint }, 'TLS certificate reloaded for new DoT/DoH connections');
        for (const w of pairWarnings(listeners!.tls!.current, cfg.tls.certFile!)) oplog.warn({ problem: w }, 'TLS certificate');
      } else oplog.error({ problem: res.error }, 'TLS certificate not reloaded: keeping the previous one');
      return res;
    },
    close,
  };
}

/** /readyz `degraded` lines besides the lists': the state directory, query history records lost. */
function degradedBy(stateFallback: string | null, history: HistoryRecorder | null): string[] {
  const out: string[] = [];
  if (stateFallback !== null) out.push(stateFallback);
  const h = history?.stats();
  if (h !== undefined && h.dropped > 0) out.push(`query history: ${h.dropped} records lost since start (${h.writeErrors} failed writes; c2dns_history_records_total{outcome="dropped"})`);
  return out;
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
