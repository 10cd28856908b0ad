// Assembles c2dns from a validated Config: lists → stage chain → dispatcher → listeners.
// The chain reads left to right like the request flows:
//   access control → policy (block/allow) → cache → upstream forwarding
import type { Config } from '../config/schema.js';
import { FeedManager, SourceLoadError } from '../feeds/manager.js';
import type { OpLogger } from '../observe/oplog.js';
import { QueryLog } from '../observe/querylog.js';
import { AccessStage } from '../resolve/access.js';
import { CacheStage } from '../resolve/cache.js';
import { ForwardStage } from '../resolve/forward.js';
import { PolicyStage } from '../resolve/policy.js';
import { addressBytes } from '../dns/address.js';
import { QuarantineStage } from '../resolve/quarantine.js';
import { QuarantineStore } from '../quarantine/store.js';
import { DomainTrie } from '../blocklist/trie.js';
import { makeRule } from '../blocklist/rule.js';
import { normalizeDomain } from '../blocklist/domain.js';
import type { QueryObserver } from '../observe/query-event.js';
import { adminListen, adminToken } from '../admin/config.js';
import { UpstreamHealth } from '../admin/readiness.js';
import { AdminServer } from '../admin/server.js';
import { Metrics } from '../observe/metrics.js';
import { createAlerting, type Alerting } from '../respond/alerting.js';
import { AlertForwarder } from '../respond/cluster.js';
import type { NewSecurityEvent } from '../respond/security-events.js';
import { resolveHistoryConfig } from '../history/config.js';
import { HistoryRecorder } from '../history/recorder.js';
import { RetroHunter, type RetroHuntEvent } from '../history/retro.js';
import { EmergencyStore } from '../feeds/emergency.js';
import { adminContext } from './admin-context.js';
import { announceListsChanged } from './cluster.js';
import type { Stage } from '../resolve/types.js';
import { formatHostPort, parseHostPort, type HostPort } from '../upstream/address.js';
import { Dispatcher } from './dispatch.js';
import { TcpListener } from './tcp.js';
import { UdpListener } from './udp.js';

export interface RunningServer {
  /** Bound addresses (ports resolved when 0 was asked for). */
  readonly udp: HostPort[];
  readonly tcp: HostPort[];
  readonly feeds: FeedManager;
  readonly dispatcher: Dispatcher;
  readonly forward: ForwardStage;
  /** null when the cache is disabled (cache.maxEntries: 0). */
  readonly cache: CacheStage | null;
  readonly policy: PolicyStage;
  readonly quarantine: QuarantineStage | null;
  readonly quarantineStore: QuarantineStore;
  /** Observers called per answered query (others may be added before traffic matters). */
  readonly observers: QueryObserver[];
  readonly metrics: Metrics;
  /** Security events and their sinks; null in a cluster worker that forwards them. */
  readonly alerting: Alerting | null;
  readonly admin: AdminServer | null;
  readonly upstreamHealth: UpstreamHealth;
  readonly history: HistoryRecorder | null;
  readonly emergency: EmergencyStore;
  readonly retro: RetroHunter | null;
  /** Graceful stop: no new queries, in-flight answers sent, log flushed. */
  close(graceMs?: number): Promise<void>;
}

function hp(s: string): HostPort {
  const r = parseHostPort(s, 53, true);
  if (typeof r === 'string') throw new Error(r); // unreachable: validated by the schema
  return r;
}

/** The quarantine's remediation allowlist as a trie of allow rules. */
function remediationList(names: readonly string[]): DomainTrie {
  const trie = new DomainTrie();
  names.forEach((raw, i) => {
    const n = normalizeDomain(raw);
    if (n.ok) trie.add(makeRule({ name: n.name, match: 'subtree', line: i + 1, kind: 'allow' }, { list: 'quarantine-allow', kind: 'allow', match: 'subtree', action: null, tags: [], firstSeen: 0 }));
  });
  return trie;
}

function ipBytes(s: string | undefined): Buffer | null {
  if (s === undefined) return null;
  return addressBytes(s);
}

export interface StartOptions {
  /** This process refreshes feeds (single process, or cluster worker 1). */
  refresh: boolean;
  /** 'own': this process delivers alerts and serves the admin API; 'forward': a cluster worker that sends its C2 hits to the owner. */
  role?: 'own' | 'forward';
  /** prom-client's process_* metrics (once per process: the CLI). */
  processMetrics?: boolean;
}

export async function startServer(cfg: Config, oplog: OpLogger, options: StartOptions = { refresh: true }): Promise<RunningServer> {
  const owner = options.role !== 'forward';
  const token = owner && cfg.admin.enabled ? adminToken(cfg.admin) : null; // a bad token stops start-up before anything binds
  let policy: PolicyStage | null = null;
  const hcfg = resolveHistoryConfig(cfg);
  const history = hcfg.enabled
    ? new HistoryRecorder({
        dir: hcfg.dir,
        retentionDays: hcfg.retentionDays,
        segmentMinutes: hcfg.segmentMinutes,
        maxBufferedRecords: hcfg.maxBufferedRecords,
        onError: (err, what) => oplog.error({ err, what, dir: hcfg.dir }, 'query history: disk trouble (answering goes on; history records are dropped)'),
      })
    : null;
  let raiseRetro: ((e: RetroHuntEvent) => void) | null = null; // set once `emit` exists
  // Created before the feeds load: its watermark decides which names are new since the last run.
  const retro =
    history !== null && owner ? new RetroHunter(hcfg.dir, (e) => raiseRetro?.(e), { beforeHunt: () => history.flush(), onError: (err) => oplog.error({ err }, 'retro-hunt failed') }) : null;
  const feeds = new FeedManager(cfg, oplog, (trie) => {
    policy?.swap(trie);
    if (raiseRetro !== null) void retro?.onRulesPublished(feeds.sources);
  });
  // In a cluster only the refreshing worker writes the state directory or fetches feeds at start;
  // the others read local files and the disk copies, and reload when told.
  feeds.persist = options.refresh;
  await feeds.loadInitial({ network: options.refresh });
  for (const s of feeds.sources) {
    const c = s.compiled;
    oplog.info(
      {
        list: s.config.name,
        origin: s.config.url ?? s.config.path,
        format: c?.format ?? null,
        entries: c?.rules.length ?? 0,
        fromDiskCopy: s.fromLastGood,
        rejected: c?.report.rejected ?? 0,
        guarded: c?.guarded.length ?? 0,
        notEnforceable: c?.notEnforceable.length ?? 0,
        ips: c?.ips.length ?? 0,
      },
      'list loaded',
    );
    if (c === null && s.config.path !== undefined) {
      // A local list that cannot be loaded is a configuration mistake: refuse to start rather
      // than run without it. (A URL feed that is down at first start is retried instead, so
      // the network keeps its DNS; the error is logged.)
      throw new SourceLoadError(`list "${s.config.name}": cannot load ${s.config.path}: ${s.lastFailure?.message ?? 'unknown error'}`);
    }
    if (c === null) oplog.error({ list: s.config.name, failure: s.lastFailure }, 'list has no good copy yet: it blocks nothing until an update succeeds');
  }

  const emergency = new EmergencyStore(cfg.state.dir!, feeds.guard, (what, detail) => oplog.warn(detail, what));
  await feeds.setEmergency(emergency.list());
  emergency.onChange = (blocks) => {
    void feeds.setEmergency(blocks);
    announceListsChanged(); // cluster: the other workers reload the file
  };

  const forward = new ForwardStage({ upstreams: cfg.upstreams.map(hp), timeoutMs: cfg.upstream.timeoutMs, penaltyMs: cfg.upstream.penaltyMs });
  const cache = cfg.cache.maxEntries > 0 ? new CacheStage(cfg.cache, forward) : null;
  const cached: Stage = cache ?? forward;
  policy = new PolicyStage(
    feeds.live,
    {
      defaultAction: cfg.blocking.action,
      sinkholeIpv4: ipBytes(cfg.blocking.sinkhole.ipv4),
      sinkholeIpv6: ipBytes(cfg.blocking.sinkhole.ipv6),
      ttl: cfg.blocking.ttl,
    },
    cached,
  );
  const quarantineStore = new QuarantineStore(cfg.state.dir!);
  if (quarantineStore.damaged) oplog.error({ file: `${cfg.state.dir}/quarantine.json` }, 'quarantine state was damaged and could not be read');
  const quarantine = cfg.quarantine.enabled
    ? new QuarantineStage(quarantineStore, remediationList(cfg.quarantine.allow), { durationMs: cfg.quarantine.durationMinutes * 60_000, tags: cfg.quarantine.tags, ttl: cfg.blocking.ttl }, policy)
    : null;
  const alerting = owner ? createAlerting(cfg.alerts, cfg.state.dir!, oplog) : null;
  const forwarder = alerting === null ? new AlertForwarder(cfg.alerts.c2Tags) : null;
  const emit = (ev: NewSecurityEvent): void => {
    if (alerting !== null) alerting.events.emit(ev);
    else forwarder!.emit(ev);
  };
  if (quarantine !== null) {
    quarantine.onQuarantine = (e) => {
      oplog.warn({ client: e.client, reason: e.reason, until: new Date(e.until).toISOString() }, 'client quarantined');
      emit({ type: 'client-quarantined', severity: 'high', client: e.client, reason: e.reason, until: new Date(e.until).toISOString() });
    };
  }
  const access = new AccessStage(cfg.access.allow, quarantine ?? policy);
  raiseRetro = (e) => {
    oplog.warn({ client: e.client, name: e.name, indicator: e.matchedIndicator, count: e.count }, 'retro-hunt: a client asked for a name before it was blocked');
    emit({
      type: 'retro-hunt',
      severity: e.resolved ? 'high' : 'medium',
      client: e.client,
      name: e.name,
      indicator: e.matchedIndicator,
      firstSeen: new Date(e.firstSeen).toISOString(),
      lastSeen: new Date(e.lastSeen).toISOString(),
      count: e.count,
      answers: e.answers,
      actions: e.actions,
      rcodes: e.rcodes,
      qtypes: e.qtypes,
      resolved: e.resolved,
      blockedAt: new Date(e.blockedAt).toISOString(),
    });
  };
  void retro?.onRulesPublished(feeds.sources); // names added since the last run

  const qlog = new QueryLog(cfg.log.queries, cfg.log.destination);
  const observers: QueryObserver[] = [qlog];
  if (quarantine !== null) observers.push(quarantine);
  observers.push(alerting?.events ?? forwarder!);
  if (history !== null) observers.push(history);
  alerting?.events.watchFeeds(() => feeds.sources);
  const dispatcher = new Dispatcher(access, observers, (err) => oplog.error({ err }, 'internal error while answering a query'));
  const upstreamHealth = new UpstreamHealth(forward.upstreams, { windowMs: cfg.admin.upstreamWindowSeconds * 1000 });
  upstreamHealth.start();
  const metrics = new Metrics({
    feeds,
    upstreams: forward.upstreams,
    cache,
    dispatchCounters: () => dispatcher.counters,
    quarantinedClients: () => quarantineStore.list().length,
    upstreamHealth: () => upstreamHealth.status(),
    processMetrics: options.processMetrics === true,
    ...(alerting !== null
      ? { alerts: () => alerting.stats().map((x) => ({ sink: x.sink, sent: x.sent, failed: x.failedAttempts, dropped: x.droppedOverflow, queued: x.queued })) }
      : {}),
  });
  // Metrics are only read through the admin listener: without it, they cost nothing per query.
  if (cfg.admin.enabled) observers.push(metrics);
  const onSocketError = (err: Error): void => oplog.warn({ err }, 'socket error');

  const udp: UdpListener[] = [];
  const tcp: TcpListener[] = [];
  try {
    for (const a of cfg.listen.map(hp)) {
      // Port 0 asks for an ephemeral port: TCP must get the one UDP got, which another socket may
      // hold for TCP; then try another.
      for (let attempt = 1; ; attempt++) {
        const u = await UdpListener.start(a, dispatcher, onSocketError);
        try {
          tcp.push(await TcpListener.start({ ...a, port: u.address.port }, dispatcher, cfg.tcp, onSocketError));
          udp.push(u);
          break;
        } catch (err) {
          await u.close();
          if (a.port !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
    }
  } catch (err) {
    await Promise.all([...udp.map((u) => u.close()), ...tcp.map((t) => t.close(0))]);
    throw err;
  }
  if (options.refresh) feeds.schedule();

  let admin: AdminServer | null = null;
  if (owner && cfg.admin.enabled) {
    try {
      admin = await AdminServer.start({
        listen: adminListen(cfg.admin),
        context: adminContext({ cfg, feeds, emergency, retro, quarantineStore, alerting, metrics, upstreamHealth, token, oplog, emit }),
        onError: (err) => oplog.error({ err }, 'admin API request failed'),
      });
    } catch (err) {
      await Promise.all([...udp.map((u) => u.close()), ...tcp.map((t) => t.close(0))]);
      throw err;
    }
  }
  oplog.info(
    {
      listen: udp.map((u) => formatHostPort(u.address)),
      admin: admin === null ? null : admin.url,
      upstreams: forward.upstreams.map((u) => u.label),
      chain: `access → ${quarantine !== null ? 'quarantine → ' : ''}policy → ${cache !== null ? 'cache → ' : ''}forward`,
    },
    'c2dns serving',
  );

  let closing: Promise<void> | null = null;
  const close = (graceMs = 5000): Promise<void> => {
    closing ??= (async () => {
      feeds.stop();
      upstreamHealth.stop();
      const adminClosed = admin?.close(Math.min(graceMs, 1000));
      for (const u of udp) u.stopAccepting();
      const tcpClosed = Promise.all(tcp.map((t) => t.close(graceMs)));
      const deadline = performance.now() + graceMs;
      while (dispatcher.inflight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await Promise.all(udp.map((u) => u.close()));
      await tcpClosed;
      await adminClosed;
      qlog.flush();
      await history?.close();
      alerting?.events.stop();
      await alerting?.close(Math.min(graceMs, 3000));
    })();
    return closing;
  };

  return {
    udp: udp.map((u) => u.address),
    tcp: tcp.map((t) => t.address),
    feeds,
    dispatcher,
    forward,
    cache,
    policy,
    quarantine,
    quarantineStore,
    observers,
    metrics,
    alerting,
    admin,
    upstreamHealth,
    history,
    retro,
    emergency,
    close,
  };
}
