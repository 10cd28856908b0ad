// The admin API's view of a running c2dns: adapters from the live components (feeds, emergency
// blocks, quarantine, security events, metrics, readiness) to the narrow interfaces of
// src/admin/context.ts. Kept out of app.ts so assembly stays a list of parts.
import type { ConsoleFeed } from '../admin/console/feed.js';
import type { AdminContext, ConfigReload, LogReopenResult, UdpStatus } from '../admin/context.js';
import { AdminInputError } from '../admin/context.js';
import { readinessReport, type UpstreamHealth } from '../admin/readiness.js';
import { explain } from '../policy/explain.js';
import { check, UnknownGroupError } from '../commands/check.js';
import type { Config } from '../config/schema.js';
import { EmergencyInputError, type EmergencyBlock, type EmergencyStore } from '../feeds/emergency.js';
import type { FeedManager } from '../feeds/manager.js';
import type { Fleet } from '../fleet/fleet.js';
import type { RetroHunter } from '../history/retro.js';
import type { OperationalHealth } from '../observe/health.js';
import type { Metrics } from '../observe/metrics.js';
import type { OpLogger } from '../observe/oplog.js';
import type { QueryLog } from '../observe/querylog.js';
import type { ClientMarks } from '../quarantine/marks.js';
import type { QuarantineStore } from '../quarantine/store.js';
import type { Alerting } from '../respond/alerting.js';
import type { NewSecurityEvent } from '../respond/security-events.js';
import { toEventView } from '../respond/view.js';

/** Read at each call: a configuration reload replaces cfg, chain and upstreamHealth (give getters). */
export interface AdminParts {
  cfg: Config;
  feeds: FeedManager;
  emergency: EmergencyStore;
  retro: RetroHunter | null;
  quarantineStore: QuarantineStore;
  marks: ClientMarks;
  /** The stage chain's names, in order. */
  chain: readonly string[];
  /** /api/status `udp`: the UDP path serving and its counters (the listeners are replaced by a reload: read at each call). */
  udp?: () => UdpStatus | null;
  alerting: Alerting | null;
  metrics: Metrics;
  upstreamHealth: UpstreamHealth;
  /** Promises broken after start-up (query log, history, alert spool): each makes /readyz unready. */
  health: OperationalHealth;
  token: string | null;
  queryLog: QueryLog;
  oplog: OpLogger;
  emit: (e: NewSecurityEvent) => void;
  /** The web console's query feed; null where no console is served. */
  console?: ConsoleFeed | null;
  /** The fleet membership (config `cluster`); null or absent for a single instance. */
  fleet?: Fleet | null;
  /** /readyz `degraded` lines besides the lists' (state directory, query history losses). */
  degraded?: () => readonly string[];
  /** POST /api/reload (server/reload.ts). */
  reload?: (actor: string) => Promise<ConfigReload>;
}

/** /api/check?group=: an unknown group is the caller's mistake (400). */
function checkGroup(input: string, feeds: FeedManager, cfg: Config, group: string): ReturnType<AdminContext['check']> {
  try {
    return check(input, feeds, cfg, group);
  } catch (err) {
    if (err instanceof UnknownGroupError) throw new AdminInputError(err.message);
    throw err;
  }
}

export function adminContext(p: AdminParts): AdminContext {
  const staleLists = () => p.alerting?.events.staleLists() ?? [];
  return {
    feeds: p.feeds,
    check: (input, group) =>
      group === undefined
        ? explain(input, p.feeds.policy.current, p.cfg.blocking.action, (name) => p.feeds.refusedNotes(name))
        : checkGroup(input, p.feeds, p.cfg, group),
    emergency: {
      list: () => p.emergency.list().map(emergencyView),
      add: (names, reason, expiresAt, actor) => {
        let added: EmergencyBlock[];
        try {
          added = p.emergency.add(names, reason, expiresAt, actor);
        } catch (err) {
          if (err instanceof EmergencyInputError) throw new AdminInputError(err.message);
          throw err;
        }
        // Who resolved these names before they were blocked?
        void p.retro?.huntNames(
          added.map((b) => b.name),
          Date.now(),
        );
        return added.map(emergencyView);
      },
      remove: (name, actor) => p.emergency.remove(name, actor),
    },
    quarantine: {
      list: () =>
        p.quarantineStore.list().map((e) => ({
          client: e.client,
          reason: e.reason,
          since: new Date(e.since).toISOString(),
          until: new Date(e.until).toISOString(),
          address: e.address,
          mac: e.mac,
          name: e.name,
          via: e.via,
        })),
      release: (who, actor) => {
        // An IP, a MAC or a name: entries keyed, addressed, or named so, and the MACs and
        // addresses clients.names gives that name (a client named after it was quarantined).
        const released = p.quarantineStore.releaseMatching(who);
        for (const [key, name] of Object.entries(p.cfg.clients.names)) if (name === who) released.push(...p.quarantineStore.releaseMatching(key));
        for (const e of released) {
          p.oplog.warn({ client: e.address, mac: e.mac, clientName: e.name, actor }, 'client released from quarantine');
          p.emit({ type: 'client-released', severity: 'info', client: e.address, mac: e.mac, clientName: e.name, actor });
        }
        return released.length > 0;
      },
    },
    marks: { list: () => p.marks.list().map((m) => ({ client: m.client, mark: m.mark, list: m.list, name: m.name, since: new Date(m.since).toISOString(), lastSeen: new Date(m.lastSeen).toISOString(), count: m.count })) },
    get chain() {
      return p.chain;
    },
    udp: () => p.udp?.() ?? null,
    events: { since: (ms) => p.alerting?.events.since(ms).map(toEventView) ?? [] },
    metrics: p.metrics,
    readiness: () => {
      const r = readinessReport(p.feeds, p.upstreamHealth, staleLists, p.degraded);
      const broken = p.health.problems();
      // The fleet link is reported, never a reason to be unready: DNS answers do not depend on Redis.
      const withFleet = p.fleet != null ? { ...r, fleet: p.fleet.readiness() } : r;
      return broken.length === 0 ? withFleet : { ...withFleet, ready: false, problems: [...r.problems, ...broken] };
    },
    staleLists,
    reopenLog: () => reopenQueryLog(p.queryLog, p.cfg.log, p.oplog, 'api'),
    token: p.token,
    ...(p.reload !== undefined ? { reload: p.reload } : {}),
    ...(p.console != null ? { console: p.console } : {}),
    ...(p.fleet != null ? { fleet: p.fleet } : {}),
  };
}

/**
 * Reopens the query log (logrotate's postrotate: SIGUSR1 or POST /api/log/reopen) and says so in
 * the operational log. Rejects, after logging the error, when the new file cannot be opened.
 */
export async function reopenQueryLog(log: QueryLog, cfg: Config['log'], oplog: OpLogger, via: string): Promise<LogReopenResult> {
  const destination = cfg.destination;
  try {
    if (await log.reopen()) {
      oplog.info({ destination, via }, 'query log reopened');
      return { reopened: true, destination, detail: `reopened ${destination}` };
    }
  } catch (err) {
    oplog.error({ err, destination, via }, 'the query log could not be reopened: lines keep going to the previous file');
    throw err;
  }
  const detail = cfg.queries === 'none' ? 'the query log is off (log.queries: none): nothing to reopen' : 'the query log goes to stdout: nothing to reopen';
  oplog.info({ destination, via }, detail);
  return { reopened: false, destination, detail };
}

function emergencyView(b: EmergencyBlock): { name: string; reason: string; addedAt: string; expiresAt: string | null; actor: string } {
  return { name: b.name, reason: b.reason, addedAt: new Date(b.addedAt).toISOString(), expiresAt: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString(), actor: b.actor };
}
