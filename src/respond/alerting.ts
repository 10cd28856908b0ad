// Wires security events to their sinks: SecurityEvents → one Spool per sink → the sink. Each
// sink has its own spool, so a dead webhook neither delays nor loses the syslog copy.
import { readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isAbsolute, join, resolve } from 'node:path';
import { storeName } from '../feeds/store.js';
import { sinkNameOf, type AlertsConfig, type SinkConfig } from './config.js';
import { SecurityEvents, type SecurityEvent } from './security-events.js';
import { FileSink } from './sinks/file.js';
import { SyslogSink } from './sinks/syslog.js';
import type { AlertLog, AlertSink } from './sinks/types.js';
import { WebhookSink } from './sinks/webhook.js';
import { Spool, type SpoolStats } from './spool.js';

export interface Alerting {
  readonly events: SecurityEvents;
  /** One spool per configured sink, in configuration order (spool.sink is the sink). */
  readonly sinks: readonly Spool[];
  /** Delivery counters per sink (for metrics and the admin API). */
  stats(): SpoolStats[];
  /**
   * Config reload: the sinks of `sinks`. A sink configured as before keeps its spool; a removed
   * one is flushed (a few seconds) and closed, what it could not deliver stays on disk; new ones
   * get their spool. Events raised from now on go to the new set.
   */
  setSinks(sinks: readonly SinkConfig[]): Promise<{ added: string[]; removed: string[] }>;
  /**
   * Shutdown: closes open windows (their summaries are queued), waits up to `timeoutMs` for the
   * spools to drain, then closes them. Whatever is undelivered stays on disk for the next start.
   * Resolves true when everything was delivered.
   */
  close(timeoutMs?: number): Promise<boolean>;
}

export interface AlertingOptions {
  /** Clock for SecurityEvents (tests). */
  now?: () => number;
  /** Window sweep interval; 0 = none (tests call events.sweep()). */
  sweepIntervalMs?: number;
  /** Builds a sink from its config; tests substitute their own. */
  makeSink?: (cfg: SinkConfig, name: string) => AlertSink;
  /** A sink's spool cannot write to disk (the error), or can again (null). */
  onSpoolTrouble?: (sink: string, err: unknown) => void;
}

export function makeSink(s: SinkConfig, name: string): AlertSink {
  switch (s.type) {
    case 'webhook':
      return new WebhookSink({ name, url: s.url, format: s.format, headers: s.headers, timeoutMs: s.timeoutMs });
    case 'syslog':
      return new SyslogSink({ name, host: s.host, port: s.port, protocol: s.protocol, facility: s.facility, appName: s.appName, cef: s.cef, timeoutMs: s.timeoutMs });
    case 'file':
      return new FileSink({ name, path: resolve(s.path) });
  }
}

/** The spool root: alerts.spool.dir (relative to the state directory), default STATE_DIR/alerts. */
export function spoolRoot(cfg: AlertsConfig, stateDir: string): string {
  const d = cfg.spool.dir;
  return d === undefined ? join(stateDir, 'alerts') : isAbsolute(d) ? d : resolve(stateDir, d);
}

export function createAlerting(cfg: AlertsConfig, stateDir: string, log: AlertLog, o: AlertingOptions = {}): Alerting {
  const events = new SecurityEvents({
    c2Tags: cfg.c2Tags,
    windowSeconds: cfg.windowSeconds,
    maxTracked: cfg.maxTracked,
    recentEvents: cfg.recentEvents,
    staleFeedSeconds: cfg.staleFeedSeconds,
    staleFeedOverrides: cfg.staleFeedOverrides,
    ...(o.now !== undefined ? { now: o.now } : {}),
    ...(o.sweepIntervalMs !== undefined ? { sweepIntervalMs: o.sweepIntervalMs } : {}),
  });
  const root = spoolRoot(cfg, stateDir);
  const build = o.makeSink ?? makeSink;
  const spoolOf = (s: SinkConfig): Spool => {
    const name = sinkNameOf(s);
    return new Spool(build(s, name), {
      dir: join(root, storeName(name)),
      maxEvents: cfg.spool.maxEvents,
      maxBytes: cfg.spool.maxBytes,
      retryBaseMs: cfg.spool.retryBaseMs,
      retryMaxMs: cfg.spool.retryMaxMs,
      log,
      ...(o.onSpoolTrouble !== undefined ? { onDiskTrouble: (err: unknown) => o.onSpoolTrouble!(name, err) } : {}),
    });
  };
  // Replaced as a whole by setSinks (config reload); the one subscription reads the current set.
  let spools: Spool[] = [];
  let configs: SinkConfig[] = [];
  try {
    for (const s of cfg.sinks) spools.push(spoolOf(s));
  } catch (err) {
    // Release what was opened (locks), then fail start-up loudly: a spool in use is a setup error.
    events.stop();
    for (const sp of spools) void sp.close();
    throw err;
  }
  configs = [...cfg.sinks];
  warnOrphans(root, new Set(spools.map((s) => storeName(s.sink.name))), log);
  // Subscribed only while there are sinks: with no listener SecurityEvents makes no event object
  // for a c2-hit (its recent ring keeps the window's slot), and most setups have no sink.
  let unsubscribe: (() => void) | null = null;
  const deliver = (e: SecurityEvent): void => {
    for (const sp of spools) sp.enqueue(e);
  };
  const listen = (): void => {
    if (spools.length > 0) unsubscribe ??= events.subscribe(deliver);
    else if (unsubscribe !== null) {
      unsubscribe();
      unsubscribe = null;
    }
  };
  listen();

  let closing: Promise<boolean> | null = null;
  return {
    events,
    get sinks() {
      return spools;
    },
    stats: () => spools.map((s) => s.stats()),
    async setSinks(sinks) {
      const oldOf = sinks.map((s) => {
        const i = configs.findIndex((c) => isDeepStrictEqual(c, s));
        return i < 0 ? null : spools[i]!;
      });
      const gone = spools.filter((sp) => !oldOf.includes(sp));
      // Removed (or changed) sinks first: a changed sink's new spool uses the same directory and lock.
      spools = oldOf.filter((sp) => sp !== null);
      configs = sinks.filter((_s, i) => oldOf[i] !== null);
      await Promise.all(
        gone.map(async (sp) => {
          await sp.flush(3000);
          await sp.close();
        }),
      );
      const next = sinks.map((s, i) => oldOf[i] ?? spoolOf(s)); // a locked spool directory throws: the kept sinks go on
      const added = next.filter((sp) => !oldOf.includes(sp)).map((sp) => sp.sink.name);
      spools = next;
      configs = [...sinks];
      listen();
      return { added, removed: gone.map((sp) => sp.sink.name) };
    },
    close(timeoutMs = 5000) {
      closing ??= (async () => {
        events.stop();
        const drained = await Promise.all(spools.map((s) => s.flush(timeoutMs)));
        await Promise.all(spools.map((s) => s.close()));
        const left = spools.filter((s) => s.queued > 0).map((s) => ({ sink: s.sink.name, pending: s.queued }));
        if (left.length > 0) log.warn({ sinks: left }, 'alerts not yet delivered stay spooled for the next start');
        return drained.every(Boolean);
      })();
      return closing;
    },
  };
}

/** A spool left by a sink that is no longer configured holds undelivered events: say so once. */
function warnOrphans(root: string, live: ReadonlySet<string>, log: AlertLog): void {
  let dirs: string[];
  try {
    dirs = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return;
  }
  const orphans = dirs.filter((d) => !live.has(d));
  if (orphans.length > 0) log.warn({ dir: root, spools: orphans }, 'alert spools of sinks no longer configured: their undelivered events are not sent (remove the directories once checked)');
}
