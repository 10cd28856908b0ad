// The SOC side: query history and retro-hunt, security events and their sinks (or, in a cluster
// worker, the forwarder to the process that owns them), quarantine notices and watch-list marks.
// Everything here observes answered queries; nothing here is on the answering path.
import type { Config } from '../../config/schema.js';
import type { FeedManager } from '../../feeds/manager.js';
import type { Fleet } from '../../fleet/fleet.js';
import type { PolicyHolder } from '../../policy/snapshot.js';
import { resolveHistoryConfig } from '../../history/config.js';
import { HistoryRecorder } from '../../history/recorder.js';
import { RetroHunter, type RetroHuntEvent } from '../../history/retro.js';
import type { OperationalHealth } from '../../observe/health.js';
import type { OpLogger } from '../../observe/oplog.js';
import { ClientMarks } from '../../quarantine/marks.js';
import type { QuarantineEntry } from '../../quarantine/store.js';
import { createAlerting, type Alerting } from '../../respond/alerting.js';
import { AlertForwarder } from '../../respond/cluster.js';
import type { NewSecurityEvent } from '../../respond/security-events.js';
import { WatchObserver } from '../../respond/watch.js';

export interface HistoryParts {
  history: HistoryRecorder | null;
  /** Created before the feeds load: its watermark decides which names are new since the last run. */
  retro: RetroHunter | null;
  /** Connects the retro-hunt's findings to the event stream once it exists. */
  raiseTo(emit: (e: NewSecurityEvent) => void): void;
}

export function createHistory(cfg: Config, oplog: OpLogger, owner: boolean, health: OperationalHealth): HistoryParts {
  const h = resolveHistoryConfig(cfg);
  if (!h.enabled) return { history: null, retro: null, raiseTo: () => {} };
  const history: HistoryRecorder = new HistoryRecorder({
    dir: h.dir,
    retentionDays: h.retentionDays,
    segmentMinutes: h.segmentMinutes,
    maxBufferedRecords: h.maxBufferedRecords,
    onError: (err, what) => {
      oplog.error({ err, what, dir: h.dir }, 'query history: disk trouble (answering goes on; history records are dropped)');
      // Records lost (not housekeeping such as retention or compression): the history no longer
      // holds every query until a later write works and none failed since.
      if (!/^(write|record)\b/.test(what)) return;
      const at = history.stats();
      health.fail('query history', `cannot record queries in ${h.dir}: ${(err as Error).message}`, err, () => {
        const now = history.stats();
        return now.recorded > at.recorded && now.writeErrors === at.writeErrors;
      });
    },
  });
  let raise: ((e: RetroHuntEvent) => void) | null = null;
  const retro = owner ? new RetroHunter(h.dir, (e) => raise?.(e), { beforeHunt: () => history.flush(), onError: (err) => oplog.error({ err }, 'retro-hunt failed') }) : null;
  return {
    history,
    retro,
    raiseTo: (emit) => {
      raise = (e) => {
        oplog.warn({ client: e.client, name: e.name, indicator: e.matchedIndicator, count: e.count }, 'retro-hunt: a client asked for a name before it was blocked');
        emit(retroHuntEvent(e));
      };
    },
  };
}

function retroHuntEvent(e: RetroHuntEvent): NewSecurityEvent {
  return {
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
  };
}

export interface EventParts {
  /** Security events and their sinks; null in a cluster worker that forwards them. */
  alerting: Alerting | null;
  forwarder: AlertForwarder | null;
  emit(e: NewSecurityEvent): void;
  marks: ClientMarks;
  watch: WatchObserver;
  /** Watch list name → the mark it gives (a config reload replaces the entries in place). */
  watchMarks: Map<string, string>;
  /** Logs and raises a client's quarantine. */
  quarantined(e: QuarantineEntry): void;
}

export function createEvents(cfg: Config, oplog: OpLogger, owner: boolean, health: OperationalHealth): EventParts {
  const onSpoolTrouble = (sink: string, err: unknown): void => {
    if (err === null) health.ok(`alert spool "${sink}"`);
    else health.fail(`alert spool "${sink}"`, `cannot write security events to disk: ${(err as Error).message} (delivered from memory only; lost on a restart)`, err);
  };
  const alerting = owner ? createAlerting(cfg.alerts, cfg.state.dir!, oplog, { onSpoolTrouble }) : null;
  const forwarder = alerting === null ? new AlertForwarder(cfg.alerts.c2Tags) : null;
  const emit = (ev: NewSecurityEvent): void => {
    if (alerting !== null) alerting.events.emit(ev);
    else forwarder!.emit(ev);
  };
  const marks = new ClientMarks(cfg.state.dir!, (err) => oplog.error({ err }, 'client marks could not be saved'));
  if (marks.damaged) oplog.error({ file: `${cfg.state.dir}/marks.json` }, 'client marks file was damaged and could not be read');
  const watchMarks: Map<string, string> = new Map(cfg.lists.filter((l) => l.action === 'monitor').map((l) => [l.name, l.mark ?? `watch:${l.name}`] as const));
  const watch = new WatchObserver(marks, emit, { marks: watchMarks, windowMs: cfg.alerts.windowSeconds * 1000 });
  return {
    alerting,
    forwarder,
    emit,
    marks,
    watch,
    watchMarks,
    quarantined: (e) => {
      // `client` is the address, as in every event; a client quarantined by MAC also has `mac`.
      oplog.warn({ client: e.address, mac: e.mac, clientName: e.name, via: e.via, reason: e.reason, until: new Date(e.until).toISOString() }, 'client quarantined');
      emit({ type: 'client-quarantined', severity: 'high', client: e.address, mac: e.mac, clientName: e.name, via: e.via, reason: e.reason, until: new Date(e.until).toISOString() });
    },
  };
}

export interface HuntLinks {
  soc: EventParts;
  history: HistoryParts;
  fleet: Fleet | null;
  policy: PolicyHolder;
  feeds: FeedManager;
}

/**
 * Who asked for a name before it was listed? The retro-hunt runs once for names added since the
 * last run, then per published policy, and raises through the events (in a fleet: once for the
 * whole fleet, names blocked on other instances hunted here too, one c2-hit per shared window).
 */
export function connectHunts({ soc, history, fleet, policy, feeds }: HuntLinks): void {
  const retro = history.retro;
  history.raiseTo(fleet !== null ? fleet.alerts.retroGate(soc.emit) : soc.emit);
  if (fleet !== null) {
    if (soc.alerting !== null) soc.alerting.events.shared = fleet.alerts;
    if (retro !== null) fleet.onBlockedByFleet = (names) => void retro.huntNames(names, Date.now());
    fleet.emit = soc.emit;
  }
  if (retro !== null) {
    policy.subscribe(() => void retro.onRulesPublished(feeds.sources));
    void retro.onRulesPublished(feeds.sources);
  }
}
