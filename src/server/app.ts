// Assembles c2dns from a validated Config, in the order things must exist: preflight checks →
// policy and feeds → SOC observers → the stage chain and its dispatcher → admin API → listeners.
// Each part is built by its own assembler in ./assemble; this file only orders them, logs the
// start and stops them (also when start-up fails half-way: nothing is left running).
import { rmSync } from 'node:fs';
import { adminListen, adminToken } from '../admin/config.js';
import type { UpstreamHealth } from '../admin/readiness.js';
import { AdminServer } from '../admin/server.js';
import type { Config } from '../config/schema.js';
import type { EmergencyStore } from '../feeds/emergency.js';
import type { FeedManager } from '../feeds/manager.js';
import type { Fleet } from '../fleet/fleet.js';
import type { HistoryRecorder } from '../history/recorder.js';
import type { RetroHunter } from '../history/retro.js';
import { ObserverFanOut } from '../observe/fan-out.js';
import { OperationalHealth } from '../observe/health.js';
import type { Metrics } from '../observe/metrics.js';
import type { OpLogger } from '../observe/oplog.js';
import type { QueryObserver } from '../observe/query-event.js';
import type { QueryLog } from '../observe/querylog.js';
import { PolicyHolder } from '../policy/snapshot.js';
import type { ClientMarks } from '../quarantine/marks.js';
import type { QuarantineStore } from '../quarantine/store.js';
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
import { createMetrics, createQuarantineStore, createQueryLog, wireResolverReports } from './assemble/observers.js';
import { createResolver, type ResolverParts } from './assemble/resolver.js';
import { connectHunts, createEvents, createHistory, type EventParts } from './assemble/soc.js';
import { placeState } from './assemble/state.js';
import type { Dispatcher } from './dispatch.js';
import { Reloader, type ReloadTarget } from './reload.js';
import { announceConfigReload } from './cluster.js';
import type { ConfigReload, UdpStatus } from '../admin/context.js';
import { formatListen } from '../config/encrypted.js';
import { pairWarnings, type TlsReloadResult } from './tls-material.js';
import { reloadUpstreamCa } from '../upstream/encrypted.js';

export interface RunningServer {
  /** Bound addresses (ports resolved when 0 was asked for). */
  readonly udp: HostPort[];
  /** Which UDP implementation serves (server.udpBatch) and the native one's counters; null without UDP listeners. */
  udpStatus(): UdpStatus | null;
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
   * Reads tls.certFile/keyFile again (SIGHUP) for the DoT/DoH listeners' new connections, and
   * upstream.caFile for new DoT/DoH upstream connections; a file that cannot be read keeps the
   * old one. Logged either way; returns the listeners' result, null without such listeners.
   */
  reloadTls(): TlsReloadResult | null;
  /**
   * Reads the configuration again (StartOptions.reloadFrom) and applies it (server/reload.ts);
   * an invalid file keeps the running one. Logged and counted either way.
   */
  reloadConfig(via: string): Promise<ConfigReload>;
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
  /** How the configuration is read again on reload (the same file and command-line overrides); without it, reloads are refused. */
  reloadFrom?: () => Config;
}

export async function startServer(config: Config, oplog: OpLogger, options: StartOptions = { refresh: true }): Promise<RunningServer> {
  const owner = options.role !== 'forward';
  const pre = await assertPreflight(config, oplog, { create: true, ports: options.checkPorts ?? true, owner });
  const { cfg, fallback: stateFallback } = placeState(config, pre, oplog);
  const token = owner && cfg.admin.enabled ? adminToken(cfg.admin) : null;
  const health = new OperationalHealth(oplog);
  const policy = new PolicyHolder((err) => oplog.error({ err }, 'a policy listener failed'));
  const hist = createHistory(cfg, oplog, owner, health);
  const { history, retro } = hist;
  const { feeds, emergency, fleet } = await loadFeeds(cfg, oplog, policy, options.refresh, owner).catch(async (err: unknown) => {
    await history?.close();
    throw err;
  });
  const soc = createEvents(cfg, oplog, owner, health);
  connectHunts({ soc, history: hist, fleet, policy, feeds });
  const quarantineStore = createQuarantineStore(cfg, fleet, oplog, health);

  // Observers in the order they see each answered query: log, quarantine, events, watch lists, history, metrics, console.
  // The dispatcher calls the fan-out, which calls each from a call site of its own.
  const qlog = createQueryLog(cfg, health);
  const observers: QueryObserver[] = [qlog];
  const fanOut = new ObserverFanOut(observers, (err) => oplog.error({ err }, 'internal error while answering a query'));
  const r = createResolver(cfg, oplog, policy, quarantineStore, [fanOut]);
  wireResolverReports(r, soc, oplog);
  if (r.quarantine !== null) observers.push(r.quarantine);
  observers.push(soc.alerting?.events ?? soc.forwarder!, soc.watch);
  if (history !== null) observers.push(history);
  soc.alerting?.events.watchFeeds(() => feeds.sources);
  // What a configuration reload replaces: the configuration and the listeners.
  const live: ReloadTarget['live'] = { loaded: config, cfg, listeners: null };
  const metrics = createMetrics({ feeds, r, quarantineStore, history, alerting: soc.alerting, fleet, listeners: () => live.listeners, processMetrics: options.processMetrics === true });
  // Metrics are only read through the admin listener: without it, they cost nothing per query.
  if (cfg.admin.enabled) observers.push(metrics);
  // The web console's live query ring and per-minute counters, where the admin listener runs.
  const consoleFeed = owner && cfg.admin.enabled ? createConsoleFeed(history?.dir ?? null) : null;
  if (consoleFeed !== null) observers.push(consoleFeed.tail, consoleFeed.minutes);
  fanOut.refresh();
  r.upstreamHealth.start();
  const load = options.reloadFrom ?? ((): Config => { throw new Error('this server was started without a configuration file to read again'); });
  const reloader = new Reloader({ load, live, owner, refresh: options.refresh, oplog, metrics, feeds, policy, quarantineStore, alerting: soc.alerting, soc, r, observers: fanOut });

  let admin: AdminServer | null = null;
  let closing: Promise<void> | null = null;
  const close = (graceMs = 5000): Promise<void> =>
    (closing ??= stopAll({ graceMs, feeds, r, admin, listeners: live.listeners, qlog, history, soc, quarantineStore, fleet, stateDir: stateFallback === null ? null : cfg.state.dir! }));

  // The admin listener first: when DNS is announced, /readyz and the API answer; when the admin
  // address cannot be had, no DNS socket was ever bound.
  try {
    if (owner && cfg.admin.enabled) {
      admin = await AdminServer.start({
        listen: adminListen(cfg.admin),
        allow: cfg.admin.allow,
        hosts: cfg.admin.hosts,
        consoleAuth: cfg.admin.consoleAuth,
        context: adminContext({
          get cfg() {
            return live.cfg;
          },
          get chain() {
            return r.chain.names;
          },
          udp: () => live.listeners?.udpStatus() ?? null,
          get upstreamHealth() {
            return r.upstreamHealth;
          },
          ...{ feeds, emergency, retro, quarantineStore, marks: soc.marks, alerting: soc.alerting, metrics, health, token, queryLog: qlog, oplog, emit: soc.emit, console: consoleFeed, fleet },
          degraded: () => degradedBy(stateFallback, history),
          // In a cluster the other workers read the same file too (cluster.ts).
          reload: async (actor) => {
            const res = await reloader.reload(actor);
            if (res.result !== 'invalid') announceConfigReload();
            return res;
          },
        }),
        onError: (err) => oplog.error({ err }, 'admin API request failed'),
      });
    }
    live.listeners = await bindListeners(cfg, r.dispatcher, (err) => oplog.warn({ err }, 'socket error'));
  } catch (err) {
    await close(0);
    throw err;
  }
  if (options.refresh) feeds.schedule();
  logServing(oplog, live.listeners, admin, r);
  return liveView(live, r, {
    feeds,
    policy,
    dispatcher: r.dispatcher,
    forward: r.forward,
    cache: r.cache,
    quarantineStore,
    marks: soc.marks,
    observers,
    metrics,
    queryLog: qlog,
    alerting: soc.alerting,
    admin,
    health,
    history,
    retro,
    emergency,
    fleet,
    reloadTls: () => reloadTls(live.listeners!, live.cfg, oplog, r.forward),
    reloadConfig: (via) => reloader.reload(via),
    close,
  });
}

/** What a configuration reload replaces, read at each access: the listeners and the chain's parts. */
function liveView(live: ReloadTarget['live'], r: ResolverParts, fixed: Omit<RunningServer, 'udp' | 'udpStatus' | 'tcp' | 'dot' | 'doh' | 'chain' | 'quarantine' | 'upstreamHealth'>): RunningServer {
  const bound = (): Listeners => live.listeners!;
  return {
    ...fixed,
    get udp() {
      return bound().udp.map((u) => u.address);
    },
    udpStatus: () => bound().udpStatus(),
    get tcp() {
      return bound().tcp.map((t) => t.address);
    },
    get dot() {
      return bound().dot.map((t) => t.address);
    },
    get doh() {
      return bound().doh.map((d) => ({ address: d.address, url: formatListen({ kind: 'doh', addr: d.address, path: d.path }) }));
    },
    get chain() {
      return r.chain.names;
    },
    get quarantine() {
      return r.quarantine;
    },
    get upstreamHealth() {
      return r.upstreamHealth;
    },
  };
}

function logServing(oplog: OpLogger, listeners: Listeners, admin: AdminServer | null, r: ResolverParts): void {
  oplog.info(
    {
      listen: listeners.bound,
      // server.udpBatch: "batch" = the native recvmmsg/sendmmsg addon, "js" = node:dgram.
      udp: listeners.udpPath,
      admin: admin === null ? null : admin.url,
      upstreams: r.forward.upstreams.map((u) => u.label),
      ...(r.conditional !== null ? { forwarding: r.conditional.rules.map((f) => `${f.domain} → ${f.forward.upstreams.map((u) => u.label).join(', ')}`) } : {}),
      chain: r.chain.names.join(' → '),
    },
    'c2dns serving',
  );
}

/** SIGHUP: the DoT/DoH certificate pair and upstream.caFile again, for new connections; logged either way. */
function reloadTls(listeners: Listeners, cfg: Config, oplog: OpLogger, forward: ForwardStage): TlsReloadResult | null {
  const ca = reloadUpstreamCa(forward.upstreams.map((u) => u.transport));
  if (ca?.ok === true) oplog.info({ caFile: ca.file, certificates: ca.certificates }, 'upstream CA bundle reloaded for new DoT/DoH upstream connections');
  else if (ca?.ok === false) oplog.error({ caFile: ca.file, problem: ca.error }, 'upstream CA bundle not reloaded: keeping the previous one');
  const res = listeners.reloadTls();
  if (res === null) return null;
  if (res.ok) {
    oplog.info({ certFile: cfg.tls.certFile, notAfter: res.notAfter, names: res.names, fingerprint: res.fingerprint }, 'TLS certificate reloaded for new DoT/DoH connections');
    for (const w of pairWarnings(listeners.tls!.current, cfg.tls.certFile!)) oplog.warn({ problem: w }, 'TLS certificate');
  } else oplog.error({ problem: res.error }, 'TLS certificate not reloaded: keeping the previous one');
  return res;
}

interface Running {
  graceMs: number;
  feeds: FeedManager;
  r: ResolverParts;
  admin: AdminServer | null;
  listeners: Listeners | null;
  qlog: QueryLog;
  history: HistoryRecorder | null;
  soc: EventParts;
  quarantineStore: QuarantineStore;
  fleet: Fleet | null;
  /** A temporary state directory to remove, or null. */
  stateDir: string | null;
}

/** Graceful stop, also of a start-up that failed half-way: no new queries, in-flight answers sent, everything flushed. */
async function stopAll(p: Running): Promise<void> {
  const { graceMs, r, listeners } = p;
  p.feeds.stop();
  r.upstreamHealth.stop();
  const adminClosed = p.admin?.close(Math.min(graceMs, 1000));
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
  await p.qlog.drain(Math.max(0, deadline - performance.now()));
  await p.history?.close();
  await p.soc.marks.flush();
  await p.quarantineStore.flush();
  // A list's disk copy and first-seen table are written after its publish: let that write finish
  // (within the grace), so the next start loads the copy instead of compiling the file again.
  await Promise.race([p.feeds.idle(), new Promise((res) => setTimeout(res, Math.max(0, deadline - performance.now())).unref())]);
  // The first-seen tables as images, read at the next start instead of parsed (~0.5 s at 1M names).
  p.feeds.saveTableImages();
  p.fleet?.alerts.stop();
  p.soc.alerting?.events.stop();
  await p.soc.alerting?.close(Math.min(graceMs, 3000));
  if (p.stateDir !== null) rmSync(p.stateDir, { recursive: true, force: true });
  await p.fleet?.close();
}

/** /readyz `degraded` lines besides the lists': the state directory, query history records lost. */
function degradedBy(stateFallback: string | null, history: HistoryRecorder | null): string[] {
  const out: string[] = [];
  if (stateFallback !== null) out.push(stateFallback);
  const h = history?.stats();
  if (h !== undefined && h.dropped > 0) out.push(`query history: ${h.dropped} records lost since start (${h.writeErrors} failed writes; c2dns_history_records_total{outcome="dropped"})`);
  return out;
}
