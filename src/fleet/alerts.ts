// Alert de-duplication across the fleet. The c2-hit window of a (client identity, rule) is one
// for the whole fleet: the first instance to open it claims it in Redis (SET NX with the
// window's length as expiry) and raises the c2-hit, after cluster.alertGatherMs, naming every
// instance that saw the client in the meantime (`instances`); the others add themselves to the
// window's set, stay silent, end their local window with the fleet's and report their hits,
// which the owner's c2-hit-summary counts. Retro-hunt findings are claimed the same way per
// (client, indicator). When Redis cannot be asked, an instance raises its own events: a
// duplicate is better than a missed alert.
import type { OpLogger } from '../observe/oplog.js';
import type { C2HitEvent, NewSecurityEvent, SharedWindows } from '../respond/security-events.js';
import { results } from './shared-hash.js';
import type { FleetKeys, FleetLink } from './link.js';

/** Retro-hunt findings are claimed for a day: instances fetch their lists at different times. */
export const RETRO_CLAIM_SECONDS = 86_400;
/** Repeats on instances that do not own a window are reported this often. */
const REPORT_MS = 1000;
/** The owner reads the others' counts this long after its window ended (their last report). */
const SUMMARY_GRACE_MS = 1500;
/** A claim Redis has not answered within this long is given up: the c2-hit is raised here. */
const CLAIM_TIMEOUT_MS = 2000;

interface WindowState {
  /** Raised here (as owner, or alone because Redis could not be asked). */
  owner: boolean;
  /** Without the fleet (Redis could not be asked): events as a single instance raises them. */
  local: boolean;
  keys: { claim: string; seen: string; counts: string };
  /** Epoch ms the fleet's window ends. */
  endsAt: number;
  /** Hits here in this window (the opening one included), and how many were reported to the owner. */
  hits: number;
  reported: number;
}

export interface FleetAlertsOptions {
  link: FleetLink;
  keys: FleetKeys;
  instance: string;
  gatherMs: number;
  log: OpLogger;
  now?: () => number;
}

export class FleetAlerts implements SharedWindows {
  private readonly windows = new Map<string, WindowState>();
  private reportTimer: NodeJS.Timeout | null = null;
  /** Delayed raises and summaries: done at once on stop(), never dropped. */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly now: () => number;
  private stopping = false;
  /** Windows opened here whose c2-hit another instance raised. */
  suppressed = 0;

  constructor(private readonly o: FleetAlertsOptions) {
    this.now = o.now ?? Date.now;
  }

  opened(key: string, hit: C2HitEvent, windowMs: number, to: { raise(extra: Record<string, unknown>): void; align(openedAt: number): void }): void {
    const keys = this.o.keys.hit(key);
    const st: WindowState = { owner: true, local: true, keys, endsAt: this.now() + windowMs, hits: 1, reported: 0 };
    this.windows.set(key, st);
    const me = this.o.instance;
    let decided = false;
    const alone = (): void => {
      if (decided) return;
      decided = true;
      to.raise({ instance: me, instances: [me] });
    };
    if (!this.o.link.connected) return alone();
    const slow = setTimeout(() => {
      if (decided) return;
      this.o.log.warn({ key }, 'fleet: Redis did not answer the c2-hit claim in time: raised here');
      alone();
    }, CLAIM_TIMEOUT_MS);
    slow.unref();
    this.o.link.cmd
      .multi()
      .set(keys.claim, me, 'PX', windowMs, 'NX')
      .sadd(keys.seen, me)
      .pexpire(keys.seen, windowMs + 60_000)
      .pttl(keys.claim)
      .get(keys.claim)
      .exec()
      .then((res) => {
        clearTimeout(slow);
        if (decided) return;
        decided = true;
        const [claimed, , , ttl, owner] = results(res, 5);
        st.local = false;
        if (claimed === 'OK') {
          // Ours: wait a moment for the other instances' sightings, then raise with all of them.
          this.later(this.o.gatherMs, () => {
            if (this.stopping) return to.raise({ instance: me, instances: [me] });
            this.o.link.cmd.smembers(keys.seen).then(
              (seen) => to.raise({ instance: me, instances: [...new Set([me, ...seen])].sort() }),
              () => to.raise({ instance: me, instances: [me] }),
            );
          });
          return;
        }
        st.owner = false;
        this.suppressed++;
        this.scheduleReport(); // this instance's hits so far count in the owner's summary
        const left = Number(ttl);
        if (left > 0) {
          st.endsAt = this.now() + left;
          to.align(st.endsAt - windowMs);
        }
        this.o.log.debug({ key, owner, hit: hit.id }, 'fleet: c2-hit window owned by another instance');
      })
      .catch((err: unknown) => {
        clearTimeout(slow);
        if (decided) return;
        this.o.log.warn({ err: (err as Error).message }, 'fleet: c2-hit window not shared (Redis): raised here');
        alone();
      });
  }

  repeated(key: string): void {
    const st = this.windows.get(key);
    if (st === undefined) return;
    st.hits++;
    if (!st.owner) this.scheduleReport();
  }

  private scheduleReport(): void {
    if (this.reportTimer !== null) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      this.report();
    }, REPORT_MS);
    this.reportTimer.unref();
  }

  closed(key: string, count: number, publish: (count: number, extra: Record<string, unknown>) => void): void {
    const st = this.windows.get(key);
    this.windows.delete(key);
    const me = this.o.instance;
    if (st === undefined || st.local || this.stopping) {
      if (count > 1) publish(count, { instance: me, instances: [me] });
      return;
    }
    if (!st.owner) {
      this.flush(st);
      return;
    }
    const early = this.now() < st.endsAt - 1000; // shutdown or eviction: no time to wait for the others
    const summarise = (): void => {
      if (!this.o.link.connected) {
        if (count > 1) publish(count, { instance: me, instances: [me] });
        return;
      }
      this.o.link.cmd
        .multi()
        .smembers(st.keys.seen)
        .hgetall(st.keys.counts)
        .exec()
        .then((res) => {
          const [seen, counts] = results(res, 2) as [string[], Record<string, string>];
          const others = Object.values(counts).reduce((n, c) => n + (Number(c) || 0), 0);
          const total = count + others;
          if (total > 1) publish(total, { instance: me, instances: [...new Set([me, ...seen])].sort() });
        })
        .catch(() => {
          if (count > 1) publish(count, { instance: me, instances: [me] });
        });
    };
    if (early) summarise();
    else this.later(SUMMARY_GRACE_MS, summarise);
  }

  /**
   * Wraps the retro-hunt's emit: a finding for a (client, indicator) is raised by the first
   * instance that claims it within RETRO_CLAIM_SECONDS, with `instance`.
   */
  retroGate(emit: (e: NewSecurityEvent) => void): (e: NewSecurityEvent) => void {
    return (e) => {
      const me = this.o.instance;
      if (!this.o.link.connected) return emit({ ...e, instance: me });
      const key = this.o.keys.retro(`${String(e.client)} ${String(e.indicator ?? e.name)}`);
      this.o.link.cmd.set(key, me, 'EX', RETRO_CLAIM_SECONDS, 'NX').then(
        (ok) => {
          if (ok === 'OK') emit({ ...e, instance: me });
          else this.o.log.debug({ client: e.client, indicator: e.indicator }, 'fleet: retro-hunt finding already raised by another instance');
        },
        () => emit({ ...e, instance: me }),
      );
    };
  }

  /** Shutdown: pending c2-hits are raised at once and windows closed from now on summarised here, without waiting for Redis. */
  stop(): void {
    this.stopping = true;
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    const pending = [...this.timers];
    this.timers.clear();
    for (const [t, fn] of pending) {
      clearTimeout(t);
      fn();
    }
    this.report();
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.set(t, fn);
  }

  private report(): void {
    for (const st of this.windows.values()) if (!st.owner && st.hits > st.reported) this.flush(st);
  }

  private flush(st: WindowState): void {
    const n = st.hits - st.reported;
    if (n <= 0 || !this.o.link.connected) return;
    st.reported = st.hits;
    const ttl = Math.max(1000, st.endsAt - this.now() + 60_000);
    this.o.link.cmd
      .multi()
      .hincrby(st.keys.counts, this.o.instance, n)
      .pexpire(st.keys.counts, ttl)
      .exec()
      .catch(() => undefined); // the owner's summary counts less; nothing else depends on it
  }
}
