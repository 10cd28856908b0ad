// One c2dns instance's membership of a fleet: the Redis link, the emergency-block and quarantine
// syncs, the shared alert windows, the heartbeat, acknowledgements and the fleet view. Loaded
// (with ioredis) only when the configuration has a `cluster` section: src/server/assemble/feeds.ts
// imports it dynamically. Redis is a coordination point, never a condition for answering: when
// it is unreachable the instance serves its last known state and reconciles when it is back.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../config/paths.js';
import type { EmergencyBlock, EmergencyStore } from '../feeds/emergency.js';
import type { FeedManager } from '../feeds/manager.js';
import type { OpLogger } from '../observe/oplog.js';
import type { NewSecurityEvent } from '../respond/security-events.js';
import { Gauge, type Registry } from 'prom-client';
import { FleetAlerts } from './alerts.js';
import { instanceName, type ClusterConfig } from './config.js';
import { EmergencySync, parseAck, type AckMessage } from './emergency-sync.js';
import { results } from './shared-hash.js';
import { FleetKeys, FleetLink } from './link.js';
import { QuarantineSync, SharedQuarantineStore } from './quarantine-sync.js';
import type { AckView, FleetAdmin, FleetReadiness, FleetView, Propagation } from './types.js';
import { fleetView, parseHeartbeat, type HeartbeatRecord } from './view.js';

/** Heartbeat records of instances silent for longer than this are removed from the view. */
const FORGET_AFTER_MS = 86_400_000;
const LIST_SEEN_TTL_SECONDS = 30 * 86_400;

export interface FleetOptions {
  cluster: ClusterConfig;
  stateDir: string;
  oplog: OpLogger;
  feeds: FeedManager;
  emergency: EmergencyStore;
  /** Publishes emergency blocks (setEmergency, and tells the other workers); resolves when live. */
  apply(blocks: EmergencyBlock[]): Promise<void>;
  /** Resolves when the latest publish of the emergency blocks is live. */
  settled(): Promise<void>;
  now?: () => number;
}

/** An acknowledgement with when it arrived here (this clock: instances' clocks may differ). */
interface Ack {
  ack: AckMessage;
  receivedAt: number;
}

interface AckWaiter {
  version: number;
  acks: Map<string, Ack>;
  wake(): void;
}

export class Fleet implements FleetAdmin {
  readonly instance: string;
  readonly runId = randomUUID();
  readonly keys: FleetKeys;
  readonly link: FleetLink;
  readonly quarantine: SharedQuarantineStore;
  readonly alerts: FleetAlerts;
  readonly emergencySync: EmergencySync;
  readonly quarantineSync: QuarantineSync;
  /** Names another instance blocked, once live here (the app starts a retro-hunt for them). */
  onBlockedByFleet: (names: string[]) => void = () => {};
  /** Raises security events (fleet-drift); the app connects it to the event stream. */
  emit: (e: NewSecurityEvent) => void = () => {};
  /** Lists this instance serves an older version of than another live instance, with since when (epoch ms). */
  private readonly behindSince = new Map<string, number>();
  private readonly driftRaised = new Set<string>();
  private readonly startedAt: number;
  private readonly version: string;
  private readonly now: () => number;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly latestAcks = new Map<string, Ack>();
  private readonly waiters = new Set<AckWaiter>();
  private clashWarned = false;
  private closed = false;

  private constructor(private readonly o: FleetOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    this.version = packageVersion();
    this.instance = instanceName(o.cluster);
    this.keys = new FleetKeys(o.cluster.keyPrefix);
    const log = o.oplog;
    this.link = new FleetLink(o.cluster.redis, [this.keys.changes, this.keys.quarantineChanges, this.keys.acks], log, {
      onReady: () => this.reconnected(),
      onMessage: (channel, message) => this.message(channel, message),
    });
    this.emergencySync = new EmergencySync({
      link: this.link,
      keys: this.keys,
      instance: this.instance,
      store: o.emergency,
      apply: o.apply,
      settled: o.settled,
      policyVersion: () => o.feeds.policy.current.version,
      log,
      onBlockedByFleet: (names) => this.onBlockedByFleet(names),
      now: this.now,
    });
    o.emergency.onEdit = (edit) => this.emergencySync.edited(edit);
    this.quarantine = new SharedQuarantineStore(o.stateDir, this.now);
    this.quarantineSync = new QuarantineSync({ link: this.link, keys: this.keys, instance: this.instance, store: this.quarantine, log, now: this.now });
    this.alerts = new FleetAlerts({ link: this.link, keys: this.keys, instance: this.instance, gatherMs: o.cluster.alertGatherMs, log, now: this.now });
  }

  /**
   * Connects (waiting at most the connect timeout) and catches up with the fleet's emergency
   * blocks and quarantine before returning, so a (re)started instance has them before its
   * listeners answer. With Redis unreachable it returns at once with the local state (logged;
   * /readyz reports the fleet link degraded) and keeps trying in the background.
   */
  static async start(o: FleetOptions): Promise<Fleet> {
    const f = new Fleet(o);
    const up = await f.link.start();
    if (up) {
      await Promise.all([f.emergencySync.sync(), f.quarantineSync.sync()]);
      await f.heartbeat().catch((err: unknown) => o.oplog.warn({ err: (err as Error).message }, 'fleet: first heartbeat failed'));
      o.oplog.info({ instance: f.instance, redis: f.link.url, emergencyVersion: f.emergencySync.applied, emergencyBlocks: o.emergency.list().length, quarantined: f.quarantine.list().length }, 'fleet: joined');
    } else {
      o.oplog.warn({ instance: f.instance, redis: f.link.url }, 'fleet: Redis unreachable at start: serving the local emergency blocks and quarantine; they are reconciled with the fleet when Redis is reachable');
    }
    f.heartbeatTimer = setInterval(() => {
      f.heartbeat()
        .then(() => f.checkDrift())
        .catch(() => undefined); // the link logs the outage
    }, o.cluster.heartbeatSeconds * 1000);
    f.heartbeatTimer.unref();
    return f;
  }

  readiness(): FleetReadiness {
    return {
      instance: this.instance,
      redis: this.link.url,
      connected: this.link.connected,
      since: new Date(this.link.since).toISOString(),
      problem: this.link.problem,
      emergencyVersion: this.emergencySync.applied,
      lastSync: this.link.lastSync === null ? null : new Date(this.link.lastSync).toISOString(),
    };
  }

  async confirm(startedAt: number): Promise<Propagation> {
    const v = await this.emergencySync.lastChange();
    const elapsed = (): number => Math.max(0, Math.round(this.now() - startedAt));
    if (v === null) {
      const self: AckView = { instance: this.instance, acked: true, policyVersion: this.o.feeds.policy.current.version, ms: elapsed() };
      return {
        version: null,
        complete: false,
        expected: 1,
        applied: 1,
        elapsedMs: elapsed(),
        instances: [self],
        missing: [],
        summary: `not shared with the fleet: Redis is unreachable; applied on this instance (${this.instance}) only, and written to Redis when it is back`,
      };
    }
    const expected = new Set(await this.aliveInstances().catch(() => [] as string[]));
    expected.add(this.instance);
    const w: AckWaiter = { version: v, acks: new Map(), wake: () => {} };
    for (const a of this.latestAcks.values()) if (a.ack.version >= v) w.acks.set(a.ack.instance, a);
    const deadline = startedAt + this.o.cluster.ackTimeoutMs;
    const done = (): boolean => [...expected].every((i) => w.acks.has(i));
    this.waiters.add(w);
    try {
      while (!done() && this.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - this.now()));
          w.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    } finally {
      this.waiters.delete(w);
    }
    const all = [...new Set([...expected, ...w.acks.keys()])].sort();
    const instances: AckView[] = all.map((i) => {
      const a = w.acks.get(i);
      return { instance: i, acked: a !== undefined, policyVersion: a?.ack.policyVersion ?? null, ms: a === undefined ? null : Math.max(0, Math.round(a.receivedAt - startedAt)) };
    });
    const missing = instances.filter((i) => !i.acked).map((i) => i.instance);
    const applied = instances.length - missing.length;
    const took = missing.length === 0 ? Math.max(0, ...instances.map((i) => i.ms ?? 0)) : elapsed();
    const summary =
      `applied on ${applied}/${instances.length} instances in ${took} ms` +
      (missing.length === 0 ? '' : `; no acknowledgement within ${this.o.cluster.ackTimeoutMs} ms from ${missing.join(', ')} (down, partitioned or slow: it catches up from Redis when it can)`);
    return { version: v, complete: missing.length === 0, expected: instances.length, applied, elapsedMs: took, instances, missing, summary };
  }

  /** The fleet as Redis knows it; only this instance (connected false) when Redis cannot be asked. */
  async view(): Promise<FleetView> {
    const local = (): FleetView => {
      const { instances, drift } = fleetView({ records: [{ record: this.record(), alive: true }], firstSeen: new Map(), self: this.instance, now: this.now() });
      return { instance: this.instance, redis: this.link.url, connected: false, heartbeatSeconds: this.o.cluster.heartbeatSeconds, emergencyVersion: this.emergencySync.applied, instances, drift };
    };
    if (!this.link.connected) return local();
    try {
      return await this.fleetView();
    } catch (err) {
      this.o.oplog.warn({ err: (err as Error).message }, 'fleet: the fleet view could not be read from Redis');
      return local();
    }
  }

  private async fleetView(): Promise<FleetView> {
    const now = this.now();
    const base = { instance: this.instance, redis: this.link.url, connected: true, heartbeatSeconds: this.o.cluster.heartbeatSeconds };
    const { cmd } = this.link;
    const [hash, version] = results(await cmd.multi().hgetall(this.keys.instances).get(this.keys.version).exec(), 2) as [Record<string, string>, string | null];
    const records = Object.values(hash)
      .map(parseHeartbeat)
      .filter((r): r is HeartbeatRecord => r !== null);
    const stale = records.filter((r) => now - r.heartbeatAt > FORGET_AFTER_MS);
    if (stale.length > 0) await cmd.hdel(this.keys.instances, ...stale.map((r) => r.instance));
    const kept = records.filter((r) => now - r.heartbeatAt <= FORGET_AFTER_MS);
    const alive = kept.length === 0 ? [] : await cmd.mget(...kept.map((r) => this.keys.alive(r.instance)));
    const lists = [...new Set(kept.flatMap((r) => r.lists.map((l) => l.list)))];
    const seenRes = lists.length === 0 ? [] : results(await lists.reduce((m, l) => m.hgetall(this.keys.list(l)), cmd.multi()).exec(), lists.length);
    const firstSeen = new Map(lists.map((l, i) => [l, new Map(Object.entries(seenRes[i] as Record<string, string>).map(([sha, at]) => [sha, Number(at)] as const))] as const));
    const { instances, drift } = fleetView({ records: kept.map((r, i) => ({ record: r, alive: alive[i] !== null })), firstSeen, self: this.instance, now });
    return { ...base, emergencyVersion: Number(version ?? 0), instances, drift };
  }

  /** Stops the heartbeat, says this instance is gone (so changes stop waiting for it) and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.alerts.stop();
    // A Redis that stopped answering must not hold up the shutdown: a second at most.
    const bounded = (p: Promise<unknown>): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    await bounded(Promise.all([this.emergencySync.idle(), this.quarantineSync.idle()]));
    if (this.link.connected) {
      const alive = this.keys.alive(this.instance);
      // Gone from the fleet at once (else after 3 heartbeats): changes stop waiting for it.
      await bounded(this.link.cmd.get(alive).then((v) => (v === this.runId ? this.link.cmd.del(alive) : 0)));
    }
    for (const w of this.waiters) w.wake();
    await this.link.close();
  }

  /**
   * Whether this instance serves an older version of a list than another live instance; for
   * longer than cluster.driftSeconds raises fleet-drift (once per list and episode) and
   * fleet-drift-resolved when it caught up. Run after each heartbeat.
   */
  async checkDrift(): Promise<string[]> {
    if (!this.link.connected || this.closed) return [...this.behindSince.keys()];
    const v = await this.fleetView();
    const me = v.instances.find((i) => i.self);
    const behind = new Set(me?.behind ?? []);
    const now = this.now();
    const limit = this.o.cluster.driftSeconds * 1000;
    for (const list of behind) {
      const since = this.behindSince.get(list) ?? now;
      this.behindSince.set(list, since);
      if (limit > 0 && now - since >= limit && !this.driftRaised.has(list)) {
        this.driftRaised.add(list);
        const d = v.drift.find((x) => x.list === list);
        const serving = me?.lists.find((l) => l.list === list)?.sha256 ?? null;
        const newestOn = v.instances.filter((i) => i.alive && i.lists.some((l) => l.list === list && l.sha256 === d?.newest)).map((i) => i.instance);
        this.o.oplog.warn({ list, serving, newest: d?.newest, newestOn }, 'fleet: this instance serves an older version of a list than other instances');
        this.emit({ type: 'fleet-drift', severity: 'medium', instance: this.instance, list, serving, newest: d?.newest ?? null, newestOn, since: new Date(since).toISOString(), thresholdSeconds: this.o.cluster.driftSeconds });
      }
    }
    for (const [list, since] of [...this.behindSince]) {
      if (behind.has(list)) continue;
      this.behindSince.delete(list);
      if (this.driftRaised.delete(list)) this.emit({ type: 'fleet-drift-resolved', severity: 'info', instance: this.instance, list, since: new Date(since).toISOString() });
    }
    return [...behind];
  }

  /** c2dns_fleet_* gauges on the admin listener's registry, read at scrape time. */
  registerMetrics(registry: Registry): void {
    const self = this;
    const registers = [registry];
    new Gauge({
      name: 'c2dns_fleet_connected',
      help: 'Whether this instance is connected to the fleet\'s Redis (config cluster).',
      registers,
      collect() {
        this.set(self.link.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'c2dns_fleet_emergency_version',
      help: 'The fleet\'s emergency-block version this instance has applied.',
      registers,
      collect() {
        this.set(self.emergencySync.applied);
      },
    });
    new Gauge({
      name: 'c2dns_fleet_lists_behind',
      help: 'Lists this instance serves an older version of than another live instance (as of the last heartbeat).',
      registers,
      collect() {
        this.set(self.behindSince.size);
      },
    });
  }

  /** Live instances (heartbeat key present). */
  private async aliveInstances(): Promise<string[]> {
    const names = await this.link.cmd.hkeys(this.keys.instances);
    if (names.length === 0) return [];
    const alive = await this.link.cmd.mget(...names.map((n) => this.keys.alive(n)));
    return names.filter((_, i) => alive[i] !== null);
  }

  private record(): HeartbeatRecord {
    const f = this.o.feeds;
    return {
      instance: this.instance,
      runId: this.runId,
      host: hostname(),
      pid: process.pid,
      version: this.version,
      startedAt: this.startedAt,
      heartbeatAt: this.now(),
      policyVersion: f.policy.current.version,
      emergencyVersion: this.emergencySync.applied,
      quarantineVersion: this.quarantineSync.applied,
      emergencyBlocks: this.o.emergency.list().length,
      quarantined: this.quarantine.list().length,
      lists: f.sources.map((s) => ({ list: s.config.name, sha256: s.sha256, entries: s.compiled?.rules.length ?? 0, lastSuccess: s.lastSuccess })),
    };
  }

  /** Says this instance is alive with what it serves; catches up when it missed a change. */
  async heartbeat(): Promise<void> {
    if (!this.link.connected || this.closed) return;
    const r = this.record();
    const k = this.keys;
    const m = this.link.cmd.multi();
    for (const l of r.lists) if (l.sha256 !== null) m.hsetnx(k.list(l.list), l.sha256, String(r.heartbeatAt)).expire(k.list(l.list), LIST_SEEN_TTL_SECONDS);
    m.get(k.alive(r.instance))
      .set(k.alive(r.instance), this.runId, 'EX', this.o.cluster.heartbeatSeconds * 3)
      .hset(k.instances, r.instance, JSON.stringify(r))
      .get(k.version)
      .get(k.quarantineVersion);
    const res = results(await m.exec(), -1);
    this.link.synced();
    const [previous, , , ev, qv] = res.slice(-5) as [string | null, unknown, unknown, string | null, string | null];
    if (previous !== null && previous !== this.runId && !this.clashWarned) {
      this.clashWarned = true;
      this.o.oplog.error({ instance: r.instance }, 'fleet: another live c2dns uses this instance name (cluster.instance must be unique): acknowledgements and the fleet view mix them up');
    }
    if (Number(ev ?? 0) !== this.emergencySync.applied || this.emergencySync.unsent) void this.emergencySync.sync();
    if (Number(qv ?? 0) !== this.quarantineSync.applied || this.quarantineSync.unsent) void this.quarantineSync.sync();
  }

  private reconnected(): void {
    if (this.closed) return;
    this.latestAcks.clear(); // Redis may have restarted without its data: versions start again
    void this.emergencySync.sync();
    void this.quarantineSync.sync();
    void this.heartbeat().catch(() => undefined);
  }

  private message(channel: string, message: string): void {
    if (this.closed) return;
    const k = this.keys;
    if (channel === k.acks) {
      const parsed = parseAck(message);
      if (parsed === null) return;
      const a: Ack = { ack: parsed, receivedAt: this.now() };
      const known = this.latestAcks.get(parsed.instance);
      if (known === undefined || parsed.version >= known.ack.version) this.latestAcks.set(parsed.instance, a);
      for (const w of this.waiters) {
        if (parsed.version >= w.version && !w.acks.has(parsed.instance)) {
          w.acks.set(parsed.instance, a);
          w.wake();
        }
      }
      return;
    }
    let version: number | null = null;
    try {
      const v = (JSON.parse(message) as { version?: unknown }).version;
      version = typeof v === 'number' ? v : null;
    } catch {
      version = null;
    }
    if (channel === k.changes && version !== this.emergencySync.applied) void this.emergencySync.sync();
    else if (channel === k.quarantineChanges && version !== this.quarantineSync.applied) void this.quarantineSync.sync();
  }
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
