// Configuration reload (SIGHUP, POST /api/reload): the file the server was started with is read
// again (with the same command-line overrides), validated like at start-up (schema, then the
// preflight checks that do not bind) and applied part by part to the running server, without
// dropping a query:
//   - lists and groups' lists: FeedManager.reconfigure (new and changed lists loaded before
//     anything is published, then one policy swap);
//   - upstreams and upstream.*: ForwardStage.reconfigure (kept upstreams keep their health);
//   - access, rateLimit, clients, groups, localRecords, blocking, quarantine: the stage chain is
//     composed again from the new configuration and the dispatcher's head swapped in one step;
//     the stateful stages are carried over: forward, conditional and cache as they are, the rate
//     limiter relinked when its settings did not change (its buckets go on). Queries already in
//     the old chain finish there;
//   - alerts.sinks: Alerting.setSinks; log.level: the operational logger's level;
//   - listen: new entries bound first, then the removed ones closed; unchanged ones kept.
// Every other key (state.dir, workers, cluster, history, admin, cache, tcp, tls, …) cannot change
// under a running server: when it changed, the answer and the log name it as "needs restart",
// and the server keeps running with the value it started with.
import { isDeepStrictEqual } from 'node:util';
import { UpstreamHealth } from '../admin/readiness.js';
import type { ConfigReload } from '../admin/context.js';
import type { Config } from '../config/schema.js';
import { SourceLoadError, type FeedManager, type ListChanges } from '../feeds/manager.js';
import type { ObserverFanOut } from '../observe/fan-out.js';
import type { Metrics } from '../observe/metrics.js';
import type { OpLogger } from '../observe/oplog.js';
import type { PolicyHolder } from '../policy/snapshot.js';
import type { QuarantineStore } from '../quarantine/store.js';
import type { Alerting } from '../respond/alerting.js';
import { BlockAnswers } from '../resolve/block-answer.js';
import { cacheStage } from '../resolve/cache.js';
import { CHAIN, composeChain } from '../resolve/chain.js';
import { clientsStage } from '../resolve/clients.js';
import { conditionalStage } from '../resolve/conditional.js';
import { forwardOptions, forwardStage } from '../resolve/forward.js';
import type { StageModule } from '../resolve/module.js';
import { quarantineStage } from '../resolve/quarantine.js';
import { rateLimitStage, type RateLimitStage } from '../resolve/ratelimit.js';
import type { Stage } from '../resolve/types.js';
import { bindListeners, listenerSet, type Listeners } from './assemble/listeners.js';
import { wireResolverReports } from './assemble/observers.js';
import { assertPreflight } from './assemble/preflight.js';
import type { ResolverParts } from './assemble/resolver.js';
import type { EventParts } from './assemble/soc.js';

/** Who applies a changed key. */
export type Part = 'listen' | 'lists' | 'upstreams' | 'chain' | 'alerts' | 'log' | 'restart';

type Rule = Part | readonly Part[];
/** Per section: a rule per sub-key, '*' for the others. */
type SectionRules = { readonly '*': Rule } & Readonly<Record<string, Rule>>;

/** Every top-level key, classified (the compiler insists on each). */
export const PARTS: { readonly [K in keyof Config]-?: Rule | SectionRules } = {
  workers: 'restart',
  listen: 'listen',
  upstreams: 'upstreams',
  upstream: 'upstreams',
  tls: 'restart', // the certificate itself is read again on SIGHUP (reloadTls)
  access: 'chain',
  rateLimit: 'chain',
  clients: 'chain',
  groups: ['chain', 'lists'],
  forwarding: 'restart', // its upstreams' connections and health live in the cache's next stage
  localRecords: 'chain',
  blocking: 'chain',
  lists: ['lists', 'chain'], // the quarantine stage reads which watch lists quarantine
  guard: 'restart',
  quarantine: 'chain',
  admin: 'restart',
  history: 'restart',
  alerts: { sinks: 'alerts', '*': 'restart' },
  cluster: 'restart',
  state: 'restart',
  cache: 'restart',
  tcp: 'restart',
  server: 'restart',
  log: { level: 'log', '*': 'restart' },
};

export interface ConfigChanges {
  /** Changed keys, by the part that applies them ("lists", "blocking.action" is reported as "blocking"). */
  readonly byPart: ReadonlyMap<Part, readonly string[]>;
  /** Changed keys that only a restart applies. */
  readonly needsRestart: readonly string[];
  readonly listen: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

/** What changed between the running configuration and a new one, and who applies each change. */
export function configChanges(running: Config, next: Config): ConfigChanges {
  const byPart = new Map<Part, string[]>();
  const note = (rule: Rule, key: string): void => {
    for (const p of typeof rule === 'string' ? [rule] : rule) byPart.set(p, [...(byPart.get(p) ?? []), key]);
  };
  for (const k of Object.keys(PARTS) as (keyof Config)[]) {
    const a: unknown = running[k];
    const b: unknown = next[k];
    if (isDeepStrictEqual(a, b)) continue;
    const rule = PARTS[k];
    if (typeof rule === 'string' || Array.isArray(rule)) {
      note(rule as Rule, k);
      continue;
    }
    const section = rule as SectionRules;
    const sa = (a ?? {}) as Record<string, unknown>;
    const sb = (b ?? {}) as Record<string, unknown>;
    for (const sub of new Set([...Object.keys(sa), ...Object.keys(sb)])) {
      if (!isDeepStrictEqual(sa[sub], sb[sub])) note(section[sub] ?? section['*'], `${k}.${sub}`);
    }
  }
  // The forwarding rules' upstreams are made with upstream.* once: they keep it until a restart.
  if (running.forwarding.length > 0 && !isDeepStrictEqual(running.upstream, next.upstream)) {
    note('restart', 'upstream (for the forwarding rules)');
  }
  return {
    byPart,
    needsRestart: byPart.get('restart') ?? [],
    listen: { added: next.listen.filter((l) => !running.listen.includes(l)), removed: running.listen.filter((l) => !next.listen.includes(l)) },
  };
}

/**
 * The configuration to run: the new values of the keys a reload applies, the running values of
 * those that need a restart (so nothing half-applies them).
 */
export function effectiveConfig(running: Config, next: Config): Config {
  const out: Record<string, unknown> = { ...next };
  for (const k of Object.keys(PARTS) as (keyof Config)[]) {
    const rule = PARTS[k];
    if (rule === 'restart') out[k] = running[k];
    else if (typeof rule !== 'string' && !Array.isArray(rule)) {
      const section = rule as SectionRules;
      const merged: Record<string, unknown> = { ...(next[k] as object) };
      const old = (running[k] ?? {}) as Record<string, unknown>;
      for (const sub of new Set([...Object.keys(old), ...Object.keys(merged)])) if ((section[sub] ?? section['*']) === 'restart') merged[sub] = old[sub];
      out[k] = merged;
    }
  }
  return out as Config;
}

/** What a reload works on: the running server's parts (mutated in place) and how the file is read. */
export interface ReloadTarget {
  /** Reads the configuration as the server was started (same file, same command-line overrides); throws ConfigError. */
  load: () => Config;
  /** The running configuration as loaded, and as used (state.dir may be a temporary one); listeners as bound. */
  live: { loaded: Config; cfg: Config; listeners: Listeners | null };
  /** This process runs the admin API and delivers alerts (not a forwarding cluster worker). */
  owner: boolean;
  /** This process fetches URL lists (single process, or cluster worker 1). */
  refresh: boolean;
  oplog: OpLogger;
  metrics: Metrics;
  feeds: FeedManager;
  policy: PolicyHolder;
  quarantineStore: QuarantineStore;
  alerting: Alerting | null;
  soc: EventParts;
  r: ResolverParts;
  observers: ObserverFanOut;
}

/** How long removed listeners keep answering what they already received. */
const LISTENER_GRACE_MS = 2000;

export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly t: ReloadTarget) {}

  /** One reload at a time; `via` ("SIGHUP", "api 127.0.0.1") is logged. */
  reload(via: string): Promise<ConfigReload> {
    const p = this.queue.then(() => this.run(via));
    this.queue = p.catch(() => {});
    return p;
  }

  private async run(via: string): Promise<ConfigReload> {
    const { t } = this;
    const started = performance.now();
    let next: Config;
    try {
      next = t.load();
      await assertPreflight(next, t.oplog, { create: false, ports: false, owner: t.owner });
    } catch (err) {
      return this.refused(via, (err as Error).message);
    }
    const changes = configChanges(t.live.loaded, next);
    const eff = effectiveConfig(t.live.loaded, next);
    // state.dir cannot change; the running one may be a temporary directory (assemble/state.ts).
    const cfg: Config = { ...eff, state: t.live.cfg.state };
    const report: ConfigReload = { result: 'ok', problem: null, applied: [], needsRestart: [...changes.needsRestart], listen: { added: [], removed: [] }, lists: null };
    const has = (p: Part): boolean => changes.byPart.has(p);
    const applied = (p: Part): void => void report.applied.push(...(changes.byPart.get(p) ?? []));
    try {
      // Lists first: a new list that cannot be loaded refuses the whole file, nothing applied yet.
      if (has('lists')) {
        try {
          report.lists = await t.feeds.reconfigure(cfg, { network: t.refresh });
        } catch (err) {
          if (err instanceof SourceLoadError) return this.refused(via, err.message);
          throw err;
        }
        setWatchMarks(t.soc.watchMarks, cfg);
        applied('lists');
      }
      if (has('upstreams')) {
        this.applyUpstreams(cfg);
        applied('upstreams');
      }
      if (has('chain')) {
        this.applyChain(cfg);
        applied('chain');
      }
      if (has('alerts') && t.alerting !== null) {
        await t.alerting.setSinks(cfg.alerts.sinks);
        applied('alerts');
      }
      if (has('log')) {
        t.oplog.level = cfg.log.level;
        applied('log');
      }
      // The running configuration is the new one from here. A listen entry that cannot be
      // bound is reported and left out, so the next reload tries it again.
      t.live.loaded = eff;
      t.live.cfg = cfg;
      if (has('listen')) {
        const listen = t.live.listeners!.entries.map((e) => e.listen);
        try {
          report.listen = await this.rebind(cfg, changes.listen);
        } catch (err) {
          t.live.loaded = { ...eff, listen };
          t.live.cfg = { ...cfg, listen };
          throw err;
        }
        applied('listen');
      }
    } catch (err) {
      report.result = 'failed';
      report.problem = (err as Error).message;
    }
    report.applied = [...new Set(report.applied)];
    t.metrics.recordReload(report.result);
    this.logOutcome(via, report, Math.round(performance.now() - started));
    return report;
  }

  private refused(via: string, why: string): ConfigReload {
    this.t.metrics.recordReload('invalid');
    this.t.oplog.error({ via, problem: why }, 'configuration reload refused: the running configuration stays');
    return { result: 'invalid', problem: why, applied: [], needsRestart: [], listen: { added: [], removed: [] }, lists: null };
  }

  private logOutcome(via: string, r: ConfigReload, ms: number): void {
    const { oplog } = this.t;
    const fields = { via, ms, applied: r.applied, lists: r.lists, listen: r.listen };
    if (r.result === 'failed') oplog.error({ ...fields, problem: r.problem }, 'configuration reload failed part-way: the parts listed as applied are running');
    else oplog.info(fields, r.applied.length === 0 ? 'configuration reloaded: nothing to apply' : 'configuration reloaded');
    if (r.needsRestart.length > 0) oplog.warn({ via, needsRestart: r.needsRestart }, 'configuration reload: these keys changed but only take effect after a restart');
  }

  /** New upstream targets and settings; the health view follows the new list. */
  private applyUpstreams(cfg: Config): void {
    const { r } = this.t;
    r.forward.reconfigure(forwardOptions(cfg));
    r.upstreamHealth.stop();
    r.upstreamHealth = new UpstreamHealth(r.forward.upstreams, { windowMs: cfg.admin.upstreamWindowSeconds * 1000 });
    r.upstreamHealth.start();
    wireResolverReports(r, this.t.soc, this.t.oplog);
  }

  /**
   * The chain composed again from `cfg`, its stateful stages carried over, and swapped in at once.
   * Composing is synchronous: no query sees a half-built chain.
   */
  private applyChain(cfg: Config): void {
    const { t } = this;
    const { r } = t;
    const carried = new Map<StageModule, Stage>([[forwardStage, r.forward]]);
    if (r.conditional !== null) carried.set(conditionalStage, r.conditional);
    if (r.cache !== null) carried.set(cacheStage, r.cache);
    let limiter: { stage: RateLimitStage; next: Stage | null } | null = null;
    const sameLimits = r.rateLimit !== null && cfg.rateLimit.enabled && isDeepStrictEqual(rateLimitInputs(t.live.cfg), rateLimitInputs(cfg));
    const modules = CHAIN.map((m): StageModule => {
      const kept = carried.get(m);
      if (kept !== undefined) return { name: m.name, enabled: m.enabled, create: () => kept };
      if (m === rateLimitStage && sameLimits) {
        const stage = r.rateLimit!;
        return { name: m.name, enabled: m.enabled, create: (_d, next) => ((limiter = { stage, next }), stage) };
      }
      return m;
    });
    const chain = composeChain({ cfg, policy: t.policy, answers: BlockAnswers.fromConfig(cfg.blocking, cfg.groups), quarantine: t.quarantineStore }, modules);
    const kept = limiter as { stage: RateLimitStage; next: Stage | null } | null;
    if (kept !== null && kept.next !== null) kept.stage.relink(kept.next);
    r.dispatcher.setChain(chain.head);

    const oldLimiter = r.rateLimit;
    const oldQuarantine = r.quarantine;
    r.chain = chain;
    r.quarantine = chain.instance(quarantineStage);
    r.clients = chain.instance(clientsStage);
    r.rateLimit = chain.instance(rateLimitStage);
    if (oldLimiter !== null && oldLimiter !== r.rateLimit) oldLimiter.close();
    // The quarantine stage also watches answered queries: the new one takes the old one's place (a
    // new one goes after the query log, as at start-up).
    t.observers.replace(oldQuarantine, r.quarantine, 1);
    t.quarantineStore.maxClients = cfg.quarantine.maxClients;
    wireResolverReports(r, t.soc, t.oplog);
  }

  /** New listen entries bound before the removed ones close; the others keep their sockets. */
  private async rebind(cfg: Config, change: ConfigChanges['listen']): Promise<{ added: string[]; removed: string[] }> {
    const { t } = this;
    const current = t.live.listeners!;
    const encrypted = change.added.filter((l) => /^(tls|https):\/\//.test(l));
    if (encrypted.length > 0 && current.tls === null && (cfg.tls.certFile === undefined || cfg.tls.keyFile === undefined)) {
      throw new Error(`listen ${encrypted.join(', ')}: needs tls.certFile and tls.keyFile, which only a restart applies`);
    }
    const fresh = await bindListeners(cfg, t.r.dispatcher, (err) => t.oplog.warn({ err }, 'socket error'), { only: change.added, material: current.tls });
    const byEntry = new Map([...current.entries, ...fresh.entries].map((e) => [e.listen, e]));
    const entries = cfg.listen.map((l) => byEntry.get(l)).filter((e) => e !== undefined);
    const gone = current.entries.filter((e) => !cfg.listen.includes(e.listen));
    t.live.listeners = listenerSet(entries, current.tls ?? fresh.tls);
    // UDP stops reading at once and closes after the grace, so answers to what it already read
    // still go out through it; TCP, DoT and DoH connections get the grace to finish.
    for (const e of gone) e.udp?.stopAccepting();
    for (const e of gone) for (const l of [e.tcp, e.dot, e.doh]) if (l !== null) void l.close(LISTENER_GRACE_MS);
    setTimeout(() => {
      for (const e of gone) void e.udp?.close();
    }, LISTENER_GRACE_MS).unref();
    return { added: fresh.bound, removed: gone.map((e) => e.bound) };
  }
}

/** Marks of the watch lists (action: monitor), replaced in place: the watch observer holds the map. */
function setWatchMarks(marks: Map<string, string>, cfg: Config): void {
  marks.clear();
  for (const l of cfg.lists) if (l.action === 'monitor') marks.set(l.name, l.mark ?? `watch:${l.name}`);
}

/** What the rate limiter is made from (its exempt list includes the trusted forwarders). */
function rateLimitInputs(cfg: Config): unknown {
  return { limits: cfg.rateLimit, trusted: cfg.clients.trustedForwarders };
}

export type { ListChanges };
