// Last stage: ask the upstreams in turn. Each attempt has a fresh random ID and source port; a
// timeout, network error, malformed reply, SERVFAIL or REFUSED moves on to the next upstream.
// When all fail, the client gets SERVFAIL with EDE 22.
//
// Which upstream first (upstream.strategy, upstream/health.ts): `failover` asks them in the
// configured order; `fastest` draws the first by measured latency; `parallel` asks the first two
// at once and takes the first good answer, then the others in turn (one more each time one of
// those in flight fails). In every strategy an upstream that timed out or failed is down: asked
// last for penaltyMs, and probed (probeName, probeType) every probeIntervalMs until it answers,
// when it is up again.
// Every upstream down (upstream.allDownScoutMs, like Unbound once its servers' timeouts reach the
// top): one question per allDownScoutMs is still asked (a scout: its answer, any reply at all, marks
// its upstream up and ends the outage for everyone within that interval); the others are answered
// SERVFAIL with EDE 22 at once, so the cache stage serves them stale at once (RFC 8767) instead of
// each waiting upstream.timeoutMs. Without it, an outage of every upstream at 5,000 q/s kept
// upstream.maxPending questions pending for seconds, shed the rest, and grew the heap by 40 MB that
// V8 kept for good (the soak, issue 10). Probes go on as before.
// Stalls (upstream/health.ts): an upstream on which two or more questions have waited its stall
// time with no reply is marked down at that moment, not at the first timeout, and the questions
// waiting on it are asked of the next upstream at once (hedged): the first good answer wins, the
// stalled upstream's own attempt goes on and its late reply or timeout counts only in its health
// and counters. So a silent or garbage-sending first upstream costs its clients about 200 ms,
// not upstream.timeoutMs, and does not fill upstream.maxPending. One timer serves every upstream.
//
// Per upstream, two fallbacks are learnt and remembered for a while:
// - EDNS (RFC 6891 §7): FORMERR or NOTIMP to a query with an OPT means the upstream may not speak
//   EDNS; the query is re-sent without one, and when that one is answered the upstream is asked
//   without EDNS for `ednsRetryMs`, then EDNS is tried again.
// - 0x20 (dns/case.ts): with caseRandomization the question goes out in random letter case and an
//   answer must echo it. A mismatch is a forgery or an upstream that folds case: the same upstream
//   is asked again with new case, ID and port; a second mismatch means the upstream folds case,
//   and it is asked in the client's case for `caseRetryMs` (two forged replies in a row would
//   need two ID and port guesses, the odds of plain random IDs and ports).
// Upstream rcodes are hop-by-hop: NOERROR and NXDOMAIN are answers; SERVFAIL and REFUSED move on
// and the last is relayed when no upstream answers; FORMERR, NOTIMP (after the EDNS fallback) and
// every other rcode (YXDOMAIN…, extended ones such as BADVERS or BADCOOKIE) are failures that are
// never relayed: the client did nothing wrong.
// The module's binding: the global `performance` is an accessor that each read calls.
import { performance } from 'node:perf_hooks';
import { Ede, HEADER_LEN, Rcode } from '../dns/constants.js';
import { randomizeCase, restoreCase } from '../dns/case.js';
import { edeOption } from '../dns/opt.js';
import { replay, storeResponse, checkResponse, ResponseCheck, type StoredAnswer } from '../dns/relay.js';
import { errorReply } from '../dns/synth.js';
import { formatHostPort, type HostPort } from '../upstream/address.js';
import { newCounters, newFallbackCounters, type FallbackCounters, type UpstreamCounters } from '../upstream/counters.js';
import { buildUpstreamQuery, random16 } from '../upstream/message.js';
import { tcpExchange } from '../upstream/tcp.js';
import { UdpPool, UpstreamTimeout, udpAsk, type UdpAsker, type UdpReply } from '../upstream/udp.js';
import { UpstreamCookies } from '../upstream/cookies.js';
import { isDown, markDown, markUp, newHealthState, orderUpstreams, PROBE_TYPE_CODES, recordLatency, stallAt, STALL_MIN_WAITING, type ProbeType, type UpstreamHealthState, type UpstreamStrategy } from '../upstream/health.js';
import { parseQuery } from '../dns/query.js';
import { encodeName } from '../dns/names.js';
import { upstreamTargets, type TransportUpstream } from '../upstream/encrypted.js';
import type { UpstreamTransport } from '../upstream/transport.js';
import type { Config } from '../config/schema.js';
import type { StageModule } from './module.js';
import { peerIdentity, type Answer, type Query, type Stage } from './types.js';

export interface ForwardOptions {
  /** Plain DNS servers, and tls:// / https:// upstreams with their transport (upstream/encrypted.ts). */
  upstreams: readonly (HostPort | TransportUpstream)[];
  timeoutMs: number;
  /** How long an upstream that timed out is moved to the back of the order. */
  penaltyMs: number;
  /** 0x20: random letter case in the question sent upstream; answers must echo it. Default false. */
  caseRandomization?: boolean;
  /** DNS Cookies (RFC 7873) with plain UDP upstreams (upstream/cookies.ts). Default false. */
  cookies?: boolean;
  /** How long an upstream that failed EDNS is asked without it. Default 15 minutes. */
  ednsRetryMs?: number;
  /** How long an upstream that did not echo the letter case is asked in the client's case. Default 1 hour. */
  caseRetryMs?: number;
  /** Default failover. */
  strategy?: UpstreamStrategy;
  /** What a down upstream is asked (default ". NS"), and how often (default 5 s; 0 = never). */
  probeName?: string;
  probeType?: ProbeType;
  probeIntervalMs?: number;
  /** For the `fastest` draw; tests pass their own. */
  random?: () => number;
  /** Load shedding: questions asked upstream at once, at most (default unbounded); beyond it new ones get `overload`. */
  maxPending?: number;
  /** While every upstream is down, one question per this many ms is asked and the others get SERVFAIL at once; 0 or absent: every question is asked. */
  allDownScoutMs?: number;
  /** A shed question: REFUSED (default) or no answer. */
  overload?: 'refuse' | 'drop';
}

export const EDNS_RETRY_MS = 15 * 60_000;
export const CASE_RETRY_MS = 60 * 60_000;

export interface Upstream {
  addr: HostPort;
  label: string;
  /** tls:// and https://: the connection it is asked through; null for plain DNS (UDP, then TCP). */
  transport: UpstreamTransport | null;
  /** Plain DNS: the UDP sockets it is asked through; null for tls:// and https://. */
  udp: UdpPool | null;
  /** What the transport was made with (TransportUpstream.settings); '' for plain DNS. */
  settings: string;
  counters: UpstreamCounters;
  fallbacks: FallbackCounters;
  penalisedUntil: number;
  /** performance.now() until which queries to it go without EDNS (0: with EDNS). */
  noEdnsUntil: number;
  /** performance.now() until which queries to it keep the client's letter case (0: 0x20 on). */
  noCaseUntil: number;
  /** Up or down, why, probes, latency average (upstream/health.ts). Down = penalisedUntil in the future. */
  health: UpstreamHealthState;
  /** Questions waiting on it that have not counted towards a stall yet, oldest first (insertion order). */
  waiting: Set<Waiter>;
}

/** A question waiting on an upstream (an Exchange): when it was sent, and what to do if the upstream stalls. */
interface Waiter {
  sentAt: number;
  onStall(): void;
}

function* sentTimes(ws: Iterable<Waiter>): Iterable<number> {
  for (const w of ws) yield w.sentAt;
}

/** What one upstream made of the question: an answer, a relayable failure, or nothing usable. */
type Outcome = { ok: true; stored: StoredAnswer } | { ok: false; stored: StoredAnswer | null };

const ALL_FAILED = edeOption(Ede.NO_REACHABLE_AUTHORITY, 'c2dns: no upstream answered');
const OVERLOADED = edeOption(Ede.OTHER, 'c2dns: overloaded');
const ALL_DOWN = edeOption(Ede.NO_REACHABLE_AUTHORITY, 'c2dns: every upstream is down');
const UNUSABLE: Outcome = { ok: false, stored: null };

export class ForwardStage implements Stage {
  // Not readonly: a config reload (reconfigure) replaces them; each query reads them once.
  upstreams: readonly Upstream[];
  caseRandomization!: boolean;
  private ednsRetryMs!: number;
  private caseRetryMs!: number;
  strategy!: UpstreamStrategy;
  private probeIntervalMs!: number;
  private probe!: Query;
  private random!: () => number;
  private probeTimer: NodeJS.Timeout | null = null;
  /** The next stall check (one for all upstreams), and when it is due (performance.now()). */
  private stallTimer: NodeJS.Timeout | null = null;
  private stallTimerAt = 0;
  private closed = false;
  /** Questions being asked upstream now (load shedding bounds it: maxPending). */
  pending = 0;
  /** Questions shed because `pending` was at maxPending. */
  shed = 0;
  /** Questions answered SERVFAIL at once because every upstream was down (allDownScoutMs). */
  allDown = 0;
  /** performance.now() from which the next question may scout while every upstream is down. */
  private nextScoutAt = 0;
  private allDownScoutMs!: number;
  /** Our client cookies and the plain upstreams' server cookies; used while opts.cookies is on. */
  readonly cookies = new UpstreamCookies();
  private maxPending!: number;
  /** `pending` from which stalls are judged by STALL_FLOOR_MS alone: half of maxPending. */
  private pressureAt!: number;

  constructor(private opts: ForwardOptions) {
    this.upstreams = opts.upstreams.map(newUpstream);
    this.tune(opts);
  }

  /**
   * Config reload: new targets and settings. An upstream still listed (same label) keeps its
   * health, counters and connection; a removed one is closed once the questions in flight to it
   * had their timeout to finish. Queries already started finish with the upstreams they had.
   */
  reconfigure(opts: ForwardOptions): void {
    const old = new Map(this.upstreams.map((u) => [u.label, u]));
    const next: Upstream[] = [];
    for (const x of opts.upstreams) {
      const fresh = newUpstream(x);
      const kept = old.get(fresh.label);
      // An encrypted upstream whose CA file, pins or timeouts changed gets its new transport.
      if (kept === undefined || kept.settings !== fresh.settings) next.push(fresh);
      else {
        fresh.transport?.close(); // made by upstreamTargets, never used
        fresh.udp?.close();
        old.delete(fresh.label);
        next.push(kept);
      }
    }
    this.upstreams = next;
    this.opts = opts;
    this.tune(opts);
    if (old.size > 0) setTimeout(() => { for (const u of old.values()) closeUpstream(u); }, opts.timeoutMs * 2).unref();
  }

  private tune(opts: ForwardOptions): void {
    this.strategy = opts.strategy ?? 'failover';
    this.probeIntervalMs = opts.probeIntervalMs ?? PROBE_INTERVAL_MS;
    this.probe = probeQuery(opts.probeName ?? '.', PROBE_TYPE_CODES[opts.probeType ?? 'NS']);
    this.random = opts.random ?? Math.random;
    this.caseRandomization = opts.caseRandomization ?? false;
    this.ednsRetryMs = opts.ednsRetryMs ?? EDNS_RETRY_MS;
    this.caseRetryMs = opts.caseRetryMs ?? CASE_RETRY_MS;
    this.maxPending = opts.maxPending ?? Infinity;
    this.pressureAt = Math.ceil(this.maxPending / 2);
    this.allDownScoutMs = opts.allDownScoutMs ?? 0;
  }

  resolve(q: Query): Answer | Promise<Answer> {
    if (this.pending >= this.maxPending) {
      // Overloaded: answering now keeps memory bounded and the other clients' latency low.
      this.shed++;
      const reply = this.opts.overload === 'drop' ? null : errorReply(q.msg, q.pq, Rcode.REFUSED, OVERLOADED);
      return { action: 'refused', reply, stored: null, upstream: null, unlogged: true };
    }
    const now = performance.now();
    if (this.allDownScoutMs > 0 && this.everyUpstreamDown(now)) {
      if (now < this.nextScoutAt) {
        this.allDown++;
        return { action: 'servfail', reply: errorReply(q.msg, q.pq, Rcode.SERVFAIL, ALL_DOWN), stored: null, upstream: null };
      }
      this.nextScoutAt = now + this.allDownScoutMs;
    }
    // Crossing into pressure shortens every upstream's stall time (upstream/health.ts).
    if (++this.pending === this.pressureAt) for (const u of this.upstreams) this.watchStalls(u, true);
    return this.forward(q, now);
  }

  private everyUpstreamDown(now: number): boolean {
    for (const u of this.upstreams) if (!isDown(u, now)) return false;
    return true;
  }

  /** Closes the connections of tls:// and https:// upstreams (shutdown). */
  close(): void {
    this.closed = true;
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    for (const u of this.upstreams) closeUpstream(u);
  }

  /**
   * Asks the upstreams in order: the next one when the one before ended without a good answer or
   * stalled (it keeps going: the first good answer wins, a later one only counts in its
   * upstream's health). `parallel` starts with two in flight when both are up. The question
   * stops counting in `pending` when its answer is settled.
   */
  private forward(q: Query, now: number): Promise<Answer> {
    const order = orderUpstreams(this.upstreams, this.strategy, now, this.random);
    // Two at once only when both are up: a down one is asked last, as in failover.
    const width = this.strategy === 'parallel' && order.length >= 2 && !isDown(order[1]!, now) ? 2 : 1;
    return new Promise((resolve) => {
      const asked = new Asked(this, q, order, resolve);
      for (let i = 0; i < width; i++) asked.launch();
    });
  }

  /** Arms the stall check for the moment `u` would count as stalled, unless one is due earlier. */
  private watchStalls(u: Upstream, force = false): void {
    if (u.waiting.size < STALL_MIN_WAITING || this.closed) return;
    // Only the STALL_MIN_WAITING-th oldest question sets the moment: a later one changes nothing.
    if (!force && this.stallTimer !== null && u.waiting.size > STALL_MIN_WAITING) return;
    const at = stallAt(u.health, sentTimes(u.waiting), this.opts.timeoutMs, this.pending >= this.pressureAt);
    if (at === null || (this.stallTimer !== null && this.stallTimerAt <= at)) return;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimerAt = at;
    // Judged after the poll phase (setImmediate): when our own event loop ran late, the replies
    // waiting in the sockets are read first, so our lag is never taken for the upstream's stall.
    const timer = setTimeout(() => setImmediate(() => this.stallTimer === timer && this.checkStalls()), Math.max(0, at - performance.now()));
    timer.unref();
    this.stallTimer = timer;
  }

  /**
   * Marks each stalled upstream down (unless it is already) and has its waiting questions asked
   * of the next upstream too; then arms the next check. Each question counts towards one stall.
   */
  private checkStalls(): void {
    this.stallTimer = null;
    if (this.closed) return;
    const now = performance.now();
    for (const u of this.upstreams) {
      const at = stallAt(u.health, sentTimes(u.waiting), this.opts.timeoutMs, this.pending >= this.pressureAt);
      if (at === null || at > now) continue;
      const waiters = [...u.waiting];
      u.waiting.clear();
      u.health.stalls++;
      if (!isDown(u, now)) {
        const quiet = Math.round(now - Math.max(waiters[0]!.sentAt, u.health.lastReplyAt));
        markDown(u, now, this.opts.penaltyMs, `no reply for ${quiet} ms while ${waiters.length} questions waited`);
        this.scheduleProbes();
      }
      for (const w of waiters) w.onStall();
    }
    for (const u of this.upstreams) this.watchStalls(u);
  }

  /** Counts a timeout or network error and marks the upstream down. */
  private failed(u: Upstream, err: unknown, start: number, what: 'query' | 'probe'): void {
    const now = performance.now();
    if (err instanceof UpstreamTimeout) {
      u.counters.timeouts++;
      recordLatency(u.health, now - start);
      markDown(u, now, this.opts.penaltyMs, `${what} timed out`);
    } else {
      u.counters.errors++;
      markDown(u, now, this.opts.penaltyMs, `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.scheduleProbes();
  }

  /** While some upstream is down, a probe round every probeIntervalMs. */
  private scheduleProbes(): void {
    if (this.probeIntervalMs === 0 || this.probeTimer !== null || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      this.probeRound();
    }, this.probeIntervalMs);
    this.probeTimer.unref();
  }

  private probeRound(): void {
    const now = performance.now();
    let down = 0;
    for (const u of this.upstreams) {
      if (u.penalisedUntil <= now) continue;
      down++;
      if (!u.health.probing) void this.probeOne(u);
    }
    if (down > 0) this.scheduleProbes();
  }

  /** Asks a down upstream the probe question: any reply but SERVFAIL brings it back. */
  private probeOne(u: Upstream): void {
    const h = u.health;
    h.probing = true;
    h.probes.sent++;
    const start = performance.now();
    // A probe's exchange is not watched for stalls: the upstream is down already.
    const owner: ExchangeOwner = { stalled: () => undefined, exchanged: (_x, o, err) => {
      h.probing = false;
      const now = performance.now();
      h.lastProbeAt = now;
      if (o === null) {
        h.probes.failed++;
        h.lastProbeOk = false;
        this.failed(u, err, start, 'probe');
        return;
      }
      recordLatency(h, now - start);
      h.lastReplyAt = now;
      if (o.ok || (o.stored !== null && o.stored.rcode !== Rcode.SERVFAIL)) {
        h.probes.ok++;
        h.lastProbeOk = true;
        markUp(u);
      } else {
        h.probes.failed++;
        h.lastProbeOk = false;
        markDown(u, now, this.opts.penaltyMs, o.stored === null ? 'probe got an unusable reply' : 'probe answered SERVFAIL');
      }
    } };
    new Exchange(this, u, this.probe, owner, false).begin();
  }

  /**
   * An exchange (one upstream's try at a question) has its outcome: the latency and up/down of
   * the upstream are kept (any reply marks it up and is a latency sample; a timeout or network
   * error marks it down and starts the probes) before the question hears of it.
   */
  attempted(x: Exchange, o: Outcome | null, err: unknown): void {
    const u = x.u;
    if (x.sentAt !== 0) u.waiting.delete(x);
    if (o === null) {
      this.failed(u, err, x.start, 'query');
      return;
    }
    const now = performance.now();
    recordLatency(u.health, now - x.start);
    u.health.lastReplyAt = now;
    markUp(u);
  }

  /** A question's exchange left (each datagram calls it): from now on it counts towards a stall of its upstream. */
  sent(x: Exchange): void {
    if (x.sentAt !== 0) return;
    // It waits from when it left, not from when it was made: a backlog of our own (a socket not
    // bound yet, the first cookie's source lookup) is no upstream stall.
    x.sentAt = performance.now();
    x.u.waiting.add(x);
    this.watchStalls(x.u);
  }

  /**
   * The outcome of a reply to `x`, or null: ask again (at most four exchanges: two case
   * mismatches, then one EDNS fallback).
   */
  judge(x: Exchange, r: UdpReply): Outcome | null {
    const u = x.u;
    const c = u.counters;
    const resp = r.msg;
    const check = r.check;
    c.responses++;
    if (check === ResponseCheck.CaseMismatch) {
      u.fallbacks.caseMismatches++;
      if (++x.mismatches >= 2) {
        u.noCaseUntil = performance.now() + this.caseRetryMs;
        x.caps = false;
      }
      return null;
    }
    let stored: StoredAnswer | null = null;
    let rc: number;
    if (check === ResponseCheck.Failed) rc = resp[3]! & 0x0f; // an error answer without a question
    else {
      if (x.caps) restoreCase(resp, x.q.pq.qEnd, x.query, x.q.msg);
      // Whole milliseconds: a small integer field, where a fractional one is a HeapNumber of its
      // own per cached answer for the GC to promote and mark (1 ms sooner to age, at most).
      stored = storeResponse(resp, x.q.pq.qEnd, Math.floor(performance.now()));
      if (stored === null) {
        c.errors++;
        return UNUSABLE;
      }
      rc = stored.rcode;
    }
    if (x.edns && (rc === Rcode.FORMERR || rc === Rcode.NOTIMP)) {
      u.fallbacks.ednsFallbacks++;
      x.edns = false;
      x.ednsFallback = true;
      return null;
    }
    // A query without EDNS got a proper answer where the one with EDNS did not: remember.
    if (x.ednsFallback && rc !== Rcode.FORMERR && rc !== Rcode.NOTIMP) u.noEdnsUntil = performance.now() + this.ednsRetryMs;
    if (stored !== null && (rc === Rcode.NOERROR || rc === Rcode.NXDOMAIN)) return { ok: true, stored };
    if (rc === Rcode.SERVFAIL || rc === Rcode.REFUSED) return { ok: false, stored };
    u.fallbacks.badRcodes++;
    return UNUSABLE;
  }

  /** Sends `x`'s question (again): a new query with the exchange's EDNS and case, over the upstream's transport. */
  send(x: Exchange): void {
    const u = x.u;
    const q = x.q;
    const qEnd = q.pq.qEnd;
    let query: Buffer;
    try {
      query = buildUpstreamQuery(q.msg, q.pq, q.forwardOptions, x.edns);
      if (x.caps) randomizeCase(query, HEADER_LEN, qEnd - 4, random16);
      u.counters.requests++;
    } catch (e) {
      x.owner.exchanged(x, null, e);
      return;
    }
    x.query = query;
    if (u.transport !== null) this.viaTransport(u.transport, query, qEnd, x.caps, x).then((r) => x.done(r, null), (e: unknown) => x.done(null, e));
    else udpAsk(u.udp!, query, qEnd, this.opts.timeoutMs, x.caps, this.opts.cookies === true ? this.cookies : null, x);
  }

  /** A truncated reply to `x`: the question again over TCP, its reply taken as a UDP one would be. */
  retryOverTcp(x: Exchange): void {
    x.u.counters.truncated++;
    this.viaTcp(x.u, x.query, x.q.pq.qEnd, x.caps).then(
      (t) => x.settle(t, null),
      (e: unknown) => x.settle(null, e),
    );
  }

  /** DNS over TLS or HTTPS: one exchange on the upstream's own (reused) connection, no truncation. */
  private async viaTransport(t: UpstreamTransport, query: Buffer, qEnd: number, exactCase: boolean, asker: UdpAsker): Promise<UdpReply> {
    query.writeUInt16BE(random16(), 0);
    asker.sent(); // queued on the connection: as good as sent
    const msg = await t.exchange(query, qEnd, this.opts.timeoutMs, exactCase);
    return { msg, check: checkResponse(msg, query, qEnd, exactCase) };
  }

  /** The question again over TCP: the UDP answer was truncated. */
  private async viaTcp(u: Upstream, query: Buffer, qEnd: number, exactCase: boolean): Promise<UdpReply> {
    query.writeUInt16BE(random16(), 0);
    const msg = await tcpExchange(u.addr, query, qEnd, this.opts.timeoutMs, exactCase);
    return { msg, check: checkResponse(msg, query, qEnd, exactCase) };
  }
}

/** Who hears an exchange's outcome, and of its upstream stalling while it waits. */
interface ExchangeOwner {
  exchanged(x: Exchange, o: Outcome | null, err: unknown): void;
  stalled(x: Exchange): void;
}

/**
 * One client question across the upstreams (ForwardStage.forward): which is next in the order, how
 * many are being asked, the last relayable failure. An object per question, not closures: a
 * miss made a dozen functions and their contexts here before (issue 11: allocation per miss).
 */
class Asked implements ExchangeOwner {
  private next = 0;
  private running = 0;
  private done = false;
  private failed: { stored: StoredAnswer; label: string } | null = null;

  constructor(
    private readonly stage: ForwardStage,
    private readonly q: Query,
    private readonly order: readonly Upstream[],
    private readonly resolve: (a: Answer) => void,
  ) {}

  /** Asks the next upstream in the order, if any is left and no answer was had. */
  launch(): void {
    if (this.done || this.next >= this.order.length) return;
    const u = this.order[this.next++]!;
    this.running++;
    new Exchange(this.stage, u, this.q, this, true).begin();
  }

  /** Hedged: the upstream `x` waits on stalled, so the next one is asked too (once per exchange). */
  stalled(x: Exchange): void {
    if (x.movedOn || this.next >= this.order.length) return;
    x.u.health.hedged++;
    this.moveOn(x);
  }

  exchanged(x: Exchange, o: Outcome | null, err: unknown): void {
    this.stage.attempted(x, o, err);
    this.running--;
    if (this.done) return;
    if (o !== null && o.ok) {
      this.finish(answerFrom(this.q, o.stored, x.u));
      return;
    }
    if (o !== null && o.stored !== null) this.failed = { stored: o.stored, label: x.u.label };
    this.moveOn(x);
    if (this.running === 0 && this.next >= this.order.length) this.finish(allFailed(this.q, this.failed));
  }

  private moveOn(x: Exchange): void {
    if (x.movedOn) return;
    x.movedOn = true;
    this.launch();
  }

  private finish(a: Answer): void {
    this.done = true;
    this.stage.pending--;
    this.resolve(a);
  }
}

/**
 * One upstream's try at a question, through its EDNS and 0x20 fallbacks and TCP on truncation
 * (ForwardStage.send, judge): the state that closures held before; it is what the UDP pool tells
 * of sends and the reply (a UdpAsker). Callbacks, not awaits: the pool calls back with the reply
 * (upstream/udp.ts udpAsk), so a miss makes no promise between the reply and the stage's answer
 * (each await of one was a microtask hop, ~760 instructions, besides the promise).
 */
class Exchange implements Waiter, UdpAsker {
  /** When the question left (performance.now()); 0 until then: a waiter of the upstream from then. */
  sentAt = 0;
  /** The question moved on to the next upstream (after a stall or a failure); at most once. */
  movedOn = false;
  readonly start = performance.now();
  edns: boolean;
  caps: boolean;
  ednsFallback = false;
  mismatches = 0;
  /** The last query sent. */
  query: Buffer = NO_QUERY;

  constructor(
    private readonly stage: ForwardStage,
    readonly u: Upstream,
    readonly q: Query,
    readonly owner: ExchangeOwner,
    /** Counts towards its upstream's stalls once sent (probes do not). */
    private readonly watched: boolean,
  ) {
    this.edns = u.noEdnsUntil <= this.start;
    this.caps = stage.caseRandomization && u.noCaseUntil <= this.start;
  }

  begin(): void {
    this.stage.send(this);
  }

  onStall(): void {
    this.owner.stalled(this);
  }

  /** A datagram (or a transport's query) left. */
  sent(): void {
    if (this.watched) this.stage.sent(this);
  }

  /** A reply (or null and the error) from an exchange: truncated ones are asked again over TCP. */
  done(r: UdpReply | null, err: unknown): void {
    if (r === null || r.check !== ResponseCheck.Truncated) this.settle(r, err);
    else this.stage.retryOverTcp(this);
  }

  settle(r: UdpReply | null, err: unknown): void {
    if (r === null) return this.owner.exchanged(this, null, err);
    let o: Outcome | null;
    try {
      o = this.stage.judge(this, r);
    } catch (e) {
      return this.owner.exchanged(this, null, e);
    }
    if (o === null) this.stage.send(this);
    else this.owner.exchanged(this, o, null);
  }
}

const NO_QUERY = Buffer.alloc(0);

function newUpstream(x: HostPort | TransportUpstream): Upstream {
  const counters = newCounters();
  return {
    ...('transport' in x ? { addr: x.addr, label: x.label, transport: x.transport, settings: x.settings, udp: null } : { addr: x, label: formatHostPort(x), transport: null, settings: '', udp: new UdpPool(x, counters) }),
    counters,
    fallbacks: newFallbackCounters(),
    penalisedUntil: 0,
    noEdnsUntil: 0,
    noCaseUntil: 0,
    health: newHealthState(),
    waiting: new Set(),
  };
}

function closeUpstream(u: Upstream): void {
  u.transport?.close();
  u.udp?.close();
}

/** How often a down upstream is probed by default. */
export const PROBE_INTERVAL_MS = 5_000;

function answerFrom(q: Query, stored: StoredAnswer, u: Upstream): Answer {
  return { action: 'allowed', reply: replay(stored, q.msg, q.pq, stored.storedAt), stored, upstream: u.label };
}

/** Every upstream refused or failed: the last such answer relayed as it was (uncached), or SERVFAIL with EDE 22. */
function allFailed(q: Query, failed: { stored: StoredAnswer; label: string } | null): Answer {
  if (failed === null) return { action: 'servfail', reply: errorReply(q.msg, q.pq, Rcode.SERVFAIL, ALL_FAILED), stored: null, upstream: null };
  const reply = replay(failed.stored, q.msg, q.pq, failed.stored.storedAt);
  return { action: failed.stored.rcode === Rcode.REFUSED ? 'refused' : 'servfail', reply, stored: null, upstream: failed.label };
}

/** The probe question as a query from nobody: RD=1, no EDNS of its own (the upstream's EDNS state applies). */
function probeQuery(name: string, qtype: number): Query {
  const qname = encodeName(name);
  const msg = Buffer.alloc(HEADER_LEN + qname.length + 4);
  msg.writeUInt16BE(0x0100, 2); // RD
  msg.writeUInt16BE(1, 4);
  qname.copy(msg, HEADER_LEN);
  msg.writeUInt16BE(qtype, HEADER_LEN + qname.length);
  msg.writeUInt16BE(1, HEADER_LEN + qname.length + 2);
  return { msg, pq: parseQuery(msg), clientAddress: '', clientPort: 0, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity(''), forwardOptions: null };
}

export const forwardStage: StageModule<ForwardStage> = {
  name: 'forward',
  enabled: () => true,
  create: (d) => new ForwardStage(forwardOptions(d.cfg)),
};

/** The default upstreams' options from the configuration (start-up and config reload). */
export function forwardOptions(cfg: Config): ForwardOptions {
  return { upstreams: upstreamTargets(cfg.upstreams, cfg.upstream), ...forwardSettings(cfg) };
}

/** upstream.* as every ForwardStage takes it: the default upstreams' and each forwarding rule's. */
export function forwardSettings(cfg: Config): Omit<ForwardOptions, 'upstreams'> {
  const u = cfg.upstream;
  return {
    timeoutMs: u.timeoutMs,
    penaltyMs: u.penaltyMs,
    strategy: u.strategy,
    probeName: u.probeName,
    probeType: u.probeType,
    probeIntervalMs: u.probeIntervalMs,
    maxPending: u.maxPending,
    overload: u.overload,
    allDownScoutMs: u.allDownScoutMs,
    caseRandomization: u.caseRandomization,
    cookies: u.cookies,
  };
}
