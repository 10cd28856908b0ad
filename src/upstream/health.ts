// Upstream health and the order upstreams are asked in (resolve/forward.ts does the asking).
//
// Passive health: an exchange that times out or fails at the network level marks the upstream
// down for upstream.penaltyMs; any reply (whatever its rcode) marks it up again. A down upstream
// is asked last, never skipped; when every upstream is down, resolve/forward.ts lets one question
// per upstream.allDownScoutMs through and answers the others at once.
// Stalls: waiting for the first timeout is too slow under load (at 5,000 q/s, 1.5 s of questions
// to a silent upstream is 7,500 pending, far past upstream.maxPending, so answerable questions
// were shed). An upstream is *stalled* when at least STALL_MIN_WAITING questions have each waited
// stallMs() since they left (our own backlog is not its stall) and no usable reply came from it
// meanwhile; it is then marked down ("no reply for N
// ms while M questions waited") and the questions waiting on it are also asked of the next
// upstream (resolve/forward.ts). stallMs = max(STALL_FLOOR_MS, STALL_LATENCY_FACTOR × its latency
// average), never above upstream.timeoutMs: no new setting. A slow-but-healthy upstream (a
// recursive resolver whose cold names take 300+ ms) is judged by its own average, and a single
// slow question is never a stall (two must wait). Under pressure (half of upstream.maxPending
// questions pending) it is STALL_FLOOR_MS whatever the average, which may be inflated by a burst
// of slow replies: shedding answerable questions costs more than a false stall. A false stall costs little: it only reorders
// (and asks the next upstream the waiting questions too); the stalled upstream's next reply, late
// or not, marks it up, and the slow replies raise its average and so its stallMs. Each question
// counts towards one stall at most, so a slow upstream cannot flap faster than its questions come.
// Active health: while an upstream is down it is asked upstream.probeName/probeType every
// probeIntervalMs; a reply other than SERVFAIL (NOERROR, NXDOMAIN, or REFUSED from a server
// that does not serve that name) brings it back at once, a timeout or SERVFAIL keeps it down for
// another penaltyMs.
// Latency: an exponentially weighted moving average of the time each exchange took (a timeout
// counts as the timeout), for the `fastest` strategy and the operator (/readyz, metrics).
import { RType } from '../dns/constants.js';

export const UPSTREAM_STRATEGIES = ['failover', 'fastest', 'parallel'] as const;
export type UpstreamStrategy = (typeof UPSTREAM_STRATEGIES)[number];

/** Question types a probe may use. */
export const PROBE_TYPES = ['NS', 'A', 'AAAA', 'SOA'] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];
export const PROBE_TYPE_CODES: Record<ProbeType, number> = { NS: RType.NS, A: RType.A, AAAA: RType.AAAA, SOA: RType.SOA };

/** Weight of a new latency sample in the average. */
export const LATENCY_ALPHA = 0.3;

export interface UpstreamHealthState {
  /** Latency average in ms over exchanges (timeouts count as the timeout); 0 until measured. */
  latencyMs: number;
  /** Exchanges measured. */
  samples: number;
  /** performance.now() when it was last marked down and not up since; null while up. */
  downSince: number | null;
  /** Why it was last marked down ("timed out", the error, "probe answered SERVFAIL"); null while up. */
  downReason: string | null;
  probes: { sent: number; ok: number; failed: number };
  /** performance.now() of the last probe's outcome, and whether it brought the upstream back; null before any. */
  lastProbeAt: number | null;
  lastProbeOk: boolean | null;
  /** A probe is in flight. */
  probing: boolean;
  /** performance.now() of the last usable reply (to a question or a probe); 0 before any. */
  lastReplyAt: number;
  /** Times it was marked down for a stall, and questions then asked of the next upstream too. */
  stalls: number;
  hedged: number;
}

export function newHealthState(): UpstreamHealthState {
  return { latencyMs: 0, samples: 0, downSince: null, downReason: null, probes: { sent: 0, ok: 0, failed: 0 }, lastProbeAt: null, lastProbeOk: null, probing: false, lastReplyAt: 0, stalls: 0, hedged: 0 };
}

/** What the order needs to know of an upstream (ForwardStage's Upstream has more). */
export interface Ranked {
  /** performance.now() until which it counts as down. */
  penalisedUntil: number;
  readonly health: UpstreamHealthState;
}

export function isDown(u: Ranked, now: number): boolean {
  return u.penalisedUntil > now;
}

export function markDown(u: Ranked, now: number, penaltyMs: number, reason: string): void {
  u.penalisedUntil = now + penaltyMs;
  u.health.downSince ??= now;
  u.health.downReason = reason;
}

export function markUp(u: Ranked): void {
  u.penalisedUntil = 0;
  u.health.downSince = null;
  u.health.downReason = null;
}

/** A stall needs a reply missing for at least this long, whatever the latency average. */
export const STALL_FLOOR_MS = 200;
/** ...and this many times the upstream's latency average. */
export const STALL_LATENCY_FACTOR = 4;
/** Questions that must have waited stallMs each: one slow name is not a stall. */
export const STALL_MIN_WAITING = 2;

/** How long an upstream with questions waiting may go without a usable reply before it counts as stalled. */
export function stallMs(h: UpstreamHealthState, timeoutMs: number, pressed = false): number {
  return Math.min(timeoutMs, pressed ? STALL_FLOOR_MS : Math.max(STALL_FLOOR_MS, STALL_LATENCY_FACTOR * h.latencyMs));
}

/**
 * When the upstream counts as stalled, given the send times of the questions waiting on it, oldest
 * first: once the STALL_MIN_WAITING-th oldest has waited stallMs with no reply since. Null while
 * fewer are waiting. `pressed`: half of upstream.maxPending are pending.
 */
export function stallAt(h: UpstreamHealthState, sentAt: Iterable<number>, timeoutMs: number, pressed = false): number | null {
  let n = 0;
  for (const t of sentAt) if (++n === STALL_MIN_WAITING) return Math.max(t, h.lastReplyAt) + stallMs(h, timeoutMs, pressed);
  return null;
}

export function recordLatency(h: UpstreamHealthState, ms: number): void {
  h.latencyMs = h.samples === 0 ? ms : h.latencyMs + LATENCY_ALPHA * (ms - h.latencyMs);
  h.samples++;
}

/**
 * The upstreams in the order to ask them: those up first, then those down (each group in
 * configuration order, which is the whole story for `failover` and `parallel`). For `fastest`,
 * the first of those up is drawn with a probability proportional to 1/latency² (an upstream never
 * measured goes first, so each is measured; a 10× slower one still gets 1 % of the first tries,
 * so its average stays current), the others follow by average latency.
 */
export function orderUpstreams<U extends Ranked>(ups: readonly U[], strategy: UpstreamStrategy, now: number, random: () => number = Math.random): readonly U[] {
  // The usual case, every upstream up in failover or parallel: the configured order itself, no copy.
  if (strategy !== 'fastest' || ups.length < 2) {
    let allUp = true;
    for (const u of ups) if (isDown(u, now)) allUp = false;
    if (allUp) return ups;
  }
  const up: U[] = [];
  const down: U[] = [];
  for (const u of ups) (isDown(u, now) ? down : up).push(u);
  if (strategy === 'fastest' && up.length > 1) {
    const unmeasured = up.findIndex((u) => u.health.samples === 0);
    let first = unmeasured;
    if (first < 0) {
      const weights = up.map((u) => 1 / Math.max(u.health.latencyMs, 0.1) ** 2);
      let r = random() * weights.reduce((a, b) => a + b, 0);
      first = weights.length - 1;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i]!;
        if (r < 0) {
          first = i;
          break;
        }
      }
    }
    const head = up[first]!;
    const rest = up.filter((_, i) => i !== first).sort((a, b) => a.health.latencyMs - b.health.latencyMs);
    return down.length === 0 ? [head, ...rest] : [head, ...rest, ...down];
  }
  return down.length === 0 ? up : up.concat(down);
}
