// Readiness: is this c2dns worth sending queries to? Two conditions, both required:
// - lists loaded: every configured source has a usable copy (fresh or the last good one from
//   disk). A stale list still blocks with its last good rules, so staleness is reported but does
//   not make c2dns unready: taking the resolver out of service because a feed is down would leave
//   clients worse off.
// - at least one upstream healthy. An upstream is unhealthy while ForwardStage has it down (it
//   timed out or failed, and neither a query nor a probe got a reply from it since: see
//   upstream/health.ts), or when it timed out within the last window and gave no reply in that
//   window. One that has not been asked anything yet counts as healthy: nothing says otherwise,
//   and a fresh start must be able to become ready.
import type { SourceState } from '../feeds/manager.js';
import type { FleetReadiness } from '../fleet/types.js';
import type { UpstreamCounters } from '../upstream/counters.js';
import type { UpstreamHealthState } from '../upstream/health.js';

/** An upstream as ForwardStage keeps it. */
export interface UpstreamHealthView {
  readonly label: string;
  readonly counters: Readonly<UpstreamCounters>;
  /** performance.now() until which ForwardStage tries it last. */
  readonly penalisedUntil: number;
  /** Why it is down, its probes and latency (ForwardStage keeps them). */
  readonly health?: Readonly<UpstreamHealthState>;
}

export interface UpstreamStatus {
  upstream: string;
  healthy: boolean;
  /** Why it is unhealthy; null when healthy. */
  reason: string | null;
  /** Milliseconds of penalty left; 0 when not penalised. */
  penalisedForMs: number;
  /** ISO 8601 times the counters were seen to move (sampled every second), or null. */
  lastResponse: string | null;
  lastTimeout: string | null;
  requests: number;
  responses: number;
  timeouts: number;
  errors: number;
  /** Average time an exchange took (ms, exponentially weighted); null until measured. */
  latencyMs: number | null;
  /** ISO 8601 time it went down (and stayed down since); null while up. */
  downSince: string | null;
  /** Probes sent while it was down, and how many brought it back or failed. */
  probes: { sent: number; ok: number; failed: number };
  /** ISO 8601 time of the last probe's outcome, and whether it succeeded; null before any. */
  lastProbe: string | null;
  lastProbeOk: boolean | null;
}

/** What the staleness checker (another component) reports for a list older than its threshold. */
export interface StaleList {
  list: string;
  /** Epoch ms of the last successful refresh, or null if there never was one. */
  lastSuccess: number | null;
  thresholdSeconds: number;
}

export interface ListStatus {
  list: string;
  loaded: boolean;
  entries: number;
  /** ISO 8601, or null. */
  lastSuccess: string | null;
  fromLastGood: boolean;
  stale: boolean;
  staleThresholdSeconds: number | null;
  lastFailure: { at: string; reason: string; message: string } | null;
  /** The rules served are newer than the disk copy, which could not be saved: since when and why; null when it is current. */
  diskCopyStale: { since: string; problem: string } | null;
}

export interface ReadinessReport {
  ready: boolean;
  /** One line per reason for not being ready; empty when ready. */
  problems: string[];
  /**
   * Ready, with a promise kept only in part: one line each (a list whose disk copy could not be
   * saved, a state directory that could not be used, query history records lost). Never a
   * reason to be unready: answering and blocking are not affected.
   */
  degraded: string[];
  lists: ListStatus[];
  upstreams: UpstreamStatus[];
  /** In a fleet (config `cluster`): the link to Redis. Degraded, never unready: answering does not depend on it. */
  fleet?: FleetReadiness;
}

interface Track {
  responses: number;
  timeouts: number;
  lastResponse: { mono: number; wall: number } | null;
  lastTimeout: { mono: number; wall: number } | null;
}

export interface UpstreamHealthOptions {
  windowMs: number;
  /** Same clock as penalisedUntil; injectable for tests. */
  monotonic?: () => number;
  wall?: () => number;
}

/**
 * Follows the upstream counters to learn when each upstream last replied and last timed out.
 * ForwardStage keeps counts, not times, so they are sampled (start() every second, and on every
 * status() call); times are accurate to the sampling interval.
 */
export class UpstreamHealth {
  private readonly tracks: Track[];
  private readonly mono: () => number;
  private readonly wall: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly upstreams: readonly UpstreamHealthView[],
    private readonly opts: UpstreamHealthOptions,
  ) {
    this.mono = opts.monotonic ?? (() => performance.now());
    this.wall = opts.wall ?? Date.now;
    this.tracks = upstreams.map((u) => ({ responses: u.counters.responses, timeouts: u.counters.timeouts, lastResponse: null, lastTimeout: null }));
  }

  start(intervalMs = 1000): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref(); // never what keeps the process alive
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    const at = { mono: this.mono(), wall: this.wall() };
    this.upstreams.forEach((u, i) => {
      const t = this.tracks[i]!;
      if (u.counters.responses !== t.responses) t.lastResponse = at;
      if (u.counters.timeouts !== t.timeouts) t.lastTimeout = at;
      t.responses = u.counters.responses;
      t.timeouts = u.counters.timeouts;
    });
  }

  status(): UpstreamStatus[] {
    this.sample();
    const now = this.mono();
    const w = this.opts.windowMs;
    return this.upstreams.map((u, i) => {
      const t = this.tracks[i]!;
      const penalisedForMs = Math.max(0, Math.ceil(u.penalisedUntil - now));
      let reason: string | null = null;
      const hs = u.health;
      if (penalisedForMs > 0) reason = `${hs?.downReason ?? 'timed out recently'}: tried last for another ${penalisedForMs} ms`;
      else if (t.lastTimeout !== null && now - t.lastTimeout.mono <= w && (t.lastResponse === null || now - t.lastResponse.mono > w)) {
        reason = `timed out within the last ${Math.round(w / 1000)} s and did not reply in that time`;
      }
      const c = u.counters;
      return {
        upstream: u.label,
        healthy: reason === null,
        reason,
        penalisedForMs,
        lastResponse: t.lastResponse === null ? null : new Date(t.lastResponse.wall).toISOString(),
        lastTimeout: t.lastTimeout === null ? null : new Date(t.lastTimeout.wall).toISOString(),
        requests: c.requests,
        responses: c.responses,
        timeouts: c.timeouts,
        errors: c.errors,
        latencyMs: hs === undefined || hs.samples === 0 ? null : Math.round(hs.latencyMs * 10) / 10,
        downSince: hs?.downSince == null ? null : this.wallOf(hs.downSince, now),
        probes: hs === undefined ? { sent: 0, ok: 0, failed: 0 } : { ...hs.probes },
        lastProbe: hs?.lastProbeAt == null ? null : this.wallOf(hs.lastProbeAt, now),
        lastProbeOk: hs?.lastProbeOk ?? null,
      };
    });
  }

  /** A time on the monotonic clock as ISO 8601 wall time. */
  private wallOf(mono: number, nowMono: number): string {
    return new Date(this.wall() - (nowMono - mono)).toISOString();
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function listStatus(sources: readonly SourceState[], stale: readonly StaleList[]): ListStatus[] {
  const staleBy = new Map(stale.map((s) => [s.list, s]));
  return sources.map((s) => {
    const st = staleBy.get(s.config.name);
    const f = s.lastFailure;
    return {
      list: s.config.name,
      loaded: s.compiled !== null,
      entries: s.compiled?.rules.length ?? 0,
      lastSuccess: iso(s.lastSuccess),
      fromLastGood: s.fromLastGood,
      stale: st !== undefined,
      staleThresholdSeconds: st?.thresholdSeconds ?? null,
      lastFailure: f === null ? null : { at: iso(f.at)!, reason: f.reason, message: f.message },
      diskCopyStale: s.diskStale == null ? null : { since: iso(s.diskStale.at)!, problem: s.diskStale.message },
    };
  });
}

export function readinessReport(feeds: { readonly sources: readonly SourceState[] }, health: UpstreamHealth, staleLists: () => readonly StaleList[], degradedBy: () => readonly string[] = () => []): ReadinessReport {
  const lists = listStatus(feeds.sources, staleLists());
  const upstreams = health.status();
  const problems: string[] = [];
  const degraded: string[] = [];
  for (const l of lists) {
    if (l.diskCopyStale !== null) degraded.push(`list "${l.list}": serving an update whose last good copy could not be saved since ${l.diskCopyStale.since} (${l.diskCopyStale.problem}); a restart would start from the older disk copy`);
  }
  degraded.push(...degradedBy());
  for (const l of lists) {
    if (!l.loaded) problems.push(`list "${l.list}" has no usable copy${l.lastFailure ? ` (last failure: ${l.lastFailure.reason}: ${l.lastFailure.message})` : ''}`);
  }
  if (!upstreams.some((u) => u.healthy)) problems.push(`no healthy upstream: ${upstreams.map((u) => `${u.upstream} ${u.reason ?? ''}`.trim()).join('; ')}`);
  return { ready: problems.length === 0, problems, degraded, lists, upstreams };
}
