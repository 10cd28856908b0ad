// Security events: what a SOC wants to be paged about, kept apart from the query log (which
// records everything). A blocked query for a C2-tagged rule raises `c2-hit` at once; repeats from
// the same client for the same rule within the window are only counted, and one
// `c2-hit-summary` reports them when the window closes, so an infected host beaconing every
// second produces two events per window, not thousands. Feeds that stop updating raise
// `stale-feed` once per episode. Other producers (retro-hunt, quarantine…) call emit().
// Every event goes to the subscribers (the spools, one per sink) and to a small in-memory ring
// for the admin API.
import { randomFillSync } from 'node:crypto';
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import { IsoSeconds } from '../observe/iso-time.js';
import { typeName } from '../dns/constants.js';
import { WindowTable, type WindowRule } from './c2-windows.js';

/** Random UUIDs made per batch of random bytes. */
const UUID_BATCH = 256;
let uuidPool: Buffer | null = null;
let uuidNext = UUID_BATCH;
const uuidText = Buffer.allocUnsafe(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A random (version 4) UUID as one flat string. crypto.randomUUID() builds its text from about
 * twenty concatenated pieces, which the event then keeps: about 1 µs per c2-hit with a 1M-name
 * list's heap (bench/observer-cost.mjs). The bytes come from the same CSPRNG, in batches as there.
 */
export function newId(): string {
  const o = takeIdBytes(); // first: it makes the pool
  return idText(uuidPool!, o);
}

/** Writes a new UUID's 16 bytes at `dst[at]`: a window keeps its c2-hit's id so (idText makes the text). */
export function newIdInto(dst: Uint8Array, at: number): void {
  const o = takeIdBytes();
  const r = uuidPool!;
  for (let i = 0; i < 16; i++) dst[at + i] = r[o + i]!;
}

/** The offset in `uuidPool` of 16 fresh random bytes with the version and variant bits set. */
function takeIdBytes(): number {
  if (uuidNext === UUID_BATCH) {
    uuidPool = randomFillSync(uuidPool ?? Buffer.allocUnsafe(16 * UUID_BATCH));
    uuidNext = 0;
  }
  const r = uuidPool!;
  const o = uuidNext++ * 16;
  r[o + 6] = (r[o + 6]! & 0x0f) | 0x40; // version 4
  r[o + 8] = (r[o + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  return o;
}

/** The UUID text of the 16 bytes at `b[o]`. */
export function idText(b: Uint8Array, o: number): string {
  let p = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[p++] = 0x2d;
    const v = b[o + i]!;
    uuidText[p++] = HEX[v >> 4]!;
    uuidText[p++] = HEX[v & 15]!;
  }
  return uuidText.toString('latin1', 0, 36);
}

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** Fields every event has; emit() fills id, time and severity when the producer leaves them out. */
export interface SecurityEventBase {
  /** UUID v4, unique per event: receivers deduplicate on it (delivery is at-least-once). */
  readonly id: string;
  readonly type: string;
  /** ISO 8601 UTC, when the event was raised. */
  readonly time: string;
  readonly severity: Severity;
}

interface C2HitFields extends SecurityEventBase {
  /** The real client: the address a trusted forwarder spoke for, else the socket peer. */
  readonly client: string;
  readonly clientPort: number;
  /** The strongest identity known beyond the address: the client's name (clients.names), else its MAC, else null. */
  readonly identity: string | null;
  /** The trusted forwarder (router) that spoke for the client, or null. */
  readonly via: string | null;
  readonly mac: string | null;
  readonly clientName: string | null;
  readonly transport: string;
  /** The first query of the window (lower case, no trailing dot). */
  readonly qname: string;
  readonly qtype: string;
  readonly list: string;
  readonly rule: string;
  /** What matched: the question's name, or a name or address its answer led to (the decision's trigger). */
  readonly trigger: string;
  /** The names from the question to the match, e.g. ["innocent.example", "cdn.msstorageazure.com"]. */
  readonly chain: readonly string[];
  readonly tags: readonly string[];
  /** The rule's source object (STIX indicator id, MISP attribute uuid…), or null. */
  readonly ref: string | null;
  /** 1-based line of the rule in its list (0 when the format has no lines). */
  readonly line: number;
  /** ISO times of the first and latest hit in this window (not the rule's own first-seen). */
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Hits in the window so far. */
  readonly count: number;
  readonly windowSeconds: number;
}

/** Raised on the first blocked C2 query of a (client, rule) window. */
export interface C2HitEvent extends C2HitFields {
  readonly type: 'c2-hit';
}

/** Raised when a window with more than one hit closes; `count` includes the first hit. */
export interface C2HitSummaryEvent extends C2HitFields {
  readonly type: 'c2-hit-summary';
  /** The id of the c2-hit event this summarises. */
  readonly summaryOf: string;
  /** Distinct names asked in the window, first few only (DNS tunnelling shows as many). */
  readonly qnames: readonly string[];
  /** Why it closed early: the window ended, the tracking table was full, or c2dns stopped. */
  readonly closedBy: 'window' | 'evicted' | 'shutdown';
}

export interface FeedFailureInfo {
  readonly at: string;
  readonly reason: string;
  readonly message: string;
}

/** A list has not been updated successfully for longer than its threshold. */
export interface StaleFeedEvent extends SecurityEventBase {
  readonly type: 'stale-feed';
  readonly list: string;
  /** ISO time of the last successful update, or null if there was none since c2dns started. */
  readonly lastSuccess: string | null;
  readonly thresholdSeconds: number;
  readonly ageSeconds: number;
  readonly lastFailure: FeedFailureInfo | null;
}

/** A stale list updated again: closes the episode a stale-feed event opened. */
export interface StaleFeedResolvedEvent extends SecurityEventBase {
  readonly type: 'stale-feed-resolved';
  readonly list: string;
  readonly lastSuccess: string;
  /** ISO time the episode began (the stale-feed event). */
  readonly staleSince: string;
}

/** Any other producer's event: open on purpose, so new types need no change here. */
export interface OtherSecurityEvent extends SecurityEventBase {
  readonly [field: string]: unknown;
}

export type KnownSecurityEvent = C2HitEvent | C2HitSummaryEvent | StaleFeedEvent | StaleFeedResolvedEvent;
export type SecurityEvent = KnownSecurityEvent | OtherSecurityEvent;

/** What a producer hands to emit(): its own type and fields; id/time/severity are optional. */
export interface NewSecurityEvent {
  type: string;
  id?: string;
  time?: string;
  severity?: Severity;
  [field: string]: unknown;
}

export function isC2Hit(e: SecurityEvent): e is C2HitEvent {
  return e.type === 'c2-hit';
}
export function isC2HitSummary(e: SecurityEvent): e is C2HitSummaryEvent {
  return e.type === 'c2-hit-summary';
}
export function isStaleFeed(e: SecurityEvent): e is StaleFeedEvent {
  return e.type === 'stale-feed';
}

/** What a C2 hit needs from the query and its rule (small and plain: it crosses process boundaries in cluster mode). */
export interface C2HitInput {
  client: string;
  clientPort: number;
  via: string | null;
  mac: string | null;
  clientName: string | null;
  transport: string;
  qname: string;
  /** Numeric type; the event carries its mnemonic. */
  qtype: number;
  list: string;
  rule: string;
  trigger: string;
  chain: readonly string[];
  tags: readonly string[];
  ref: string | null;
  line: number;
}

/** One of `tags` is among `wanted` (a loop: no closure per blocked query). */
function hasTag(tags: readonly string[], wanted: ReadonlySet<string>): boolean {
  for (let i = 0; i < tags.length; i++) if (wanted.has(tags[i]!)) return true;
  return false;
}

/** The c2-hit of a blocked query whose rule carries one of `c2Tags`, else null. */
export function c2HitOf(e: QueryEvent, c2Tags: ReadonlySet<string>): C2HitInput | null {
  const d = e.decision;
  if (e.action !== 'blocked' || d === null) return null;
  const m = d.rule;
  if (m === null || m.kind !== 'block' || !hasTag(m.tags, c2Tags)) return null;
  return { client: e.client, clientPort: e.clientPort, via: e.via, mac: e.mac, clientName: e.clientName, transport: e.transport, qname: e.qname, qtype: e.qtype, list: m.list, rule: m.rule, trigger: d.trigger, chain: d.chain, tags: m.tags, ref: m.ref, line: m.line };
}

/** The query's side of a c2-hit, as open() reads it: a QueryEvent fits, and so does a C2HitInput. */
type HitQuery = Pick<C2HitInput, 'client' | 'clientPort' | 'via' | 'mac' | 'clientName' | 'transport' | 'qname' | 'qtype'>;

/** The parts of FeedManager.sources the staleness check reads (SourceState fits). */
export interface FeedHealth {
  readonly config: { readonly name: string };
  readonly lastSuccess: number | null;
  readonly lastFailure?: { readonly at: number; readonly reason: string; readonly message: string } | null;
}

export interface StaleList {
  list: string;
  /** Epoch ms of the last success, or null. */
  lastSuccess: number | null;
  thresholdSeconds: number;
  /** Epoch ms the episode was detected. */
  since: number;
}

export interface SecurityEventsOptions {
  /** A block raises c2-hit when its rule carries one of these tags. Default ['c2']. */
  c2Tags?: readonly string[];
  /** Aggregation window per (client, rule). Default 600. */
  windowSeconds?: number;
  /** Open windows kept at most; the oldest is closed early beyond that. Default 10 000. */
  maxTracked?: number;
  /** Events kept for since(). Default 1000. */
  recentEvents?: number;
  /** Default staleness threshold; 0 = never stale. Default 6 h. */
  staleFeedSeconds?: number;
  /** Per-list thresholds (seconds; 0 = never stale). */
  staleFeedOverrides?: Readonly<Record<string, number>>;
  /** Clock (epoch ms); tests drive it. */
  now?: () => number;
  /** How often windows are checked for closing; 0 = no timer (call sweep()). Default 1000. */
  sweepIntervalMs?: number;
}

export interface SecurityEventCounters {
  /** Events emitted, all types. */
  emitted: number;
  c2Hits: number;
  /** Hits counted into an open window instead of raising an event. */
  aggregated: number;
  summaries: number;
  /** Windows closed early because the tracking table was full. */
  evicted: number;
  staleFeeds: number;
  /** A subscriber threw (it must not; counted so it shows). */
  subscriberErrors: number;
}

export type SecurityEventListener = (e: SecurityEvent) => void;

/**
 * Fleet mode (src/fleet/alerts.ts): every (client, rule) window is shared by the instances through
 * Redis, so the fleet raises one c2-hit per window, by the instance that opened it first.
 */
export interface SharedWindows {
  /**
   * A window opened here. The fleet calls `raise(extra)` when this instance owns the fleet's
   * window (the c2-hit is published with `extra`, e.g. the instances that saw it), or `align(openedAt)`
   * when another instance does (this one stays silent and ends its window with the fleet's).
   */
  opened(key: string, hit: C2HitEvent, windowMs: number, to: { raise(extra: Record<string, unknown>): void; align(openedAt: number): void }): void;
  /** Another hit counted into the window opened here. */
  repeated(key: string): void;
  /**
   * The window closed here with `count` hits. `publish(count, extra)` raises its summary (only
   * the owner's fleet side calls it, with the fleet's count); without a fleet a count of 1 raises none.
   */
  closed(key: string, count: number, publish: (count: number, extra: Record<string, unknown>) => void): void;
}

/** The window's key as the fleet knows it (only fleet mode builds it). */
const keyOf = (host: string, rule: string): string => `${host} ${rule}`;

/** What a fleet summary of a closed window needs: taken at close, as the fleet may publish it later. */
interface ClosedWindow {
  readonly hit: C2HitEvent;
  readonly lastSeen: number;
  readonly qnames: readonly string[] | null;
}

const MAX_QNAMES = 8;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class SecurityEvents implements QueryObserver {
  readonly counters: SecurityEventCounters = { emitted: 0, c2Hits: 0, aggregated: 0, summaries: 0, evicted: 0, staleFeeds: 0, subscriberErrors: 0 };
  private readonly c2Tags: ReadonlySet<string>;
  private readonly windowMs: number;
  private readonly windowSeconds: number;
  private readonly maxTracked: number;
  private readonly maxRecent: number;
  private readonly staleDefault: number;
  private readonly staleOverrides: Readonly<Record<string, number>>;
  private readonly now: () => number;
  /** The open (host, rule) windows, one slot each (c2-windows.ts: no object per window). */
  private readonly table: WindowTable;
  /**
   * Ring of recent events and their epoch ms, oldest at `recentHead`. A c2-hit raised alone (not
   * in a fleet) is kept as its window's slot (null here, 1 + the slot in `recentSlot`) and made
   * from the table's columns when since() asks, or when its window closes: with a 1M-name list
   * every block raises one, and 1,000 event objects (each with its id and qname strings) held
   * here lived past a scavenge or two and were promoted (~31 B a query, issue 11).
   */
  private readonly recent: (SecurityEvent | null)[] = [];
  private readonly recentAt: number[] = [];
  private readonly recentSlot: Int32Array;
  private recentHead = 0;
  private readonly listeners: SecurityEventListener[] = [];
  private readonly stale = new Map<string, StaleList>();
  private readonly startedAt: number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private feedTimer: NodeJS.Timeout | null = null;
  /** The ISO text of the last millisecond an event was raised in (hits come in bursts). */
  private isoMs = -1;
  private iso = '';
  private readonly clock = new IsoSeconds();
  /** Fleet mode: windows shared through Redis (set before traffic by src/fleet); null for a single instance. */
  shared: SharedWindows | null = null;

  constructor(o: SecurityEventsOptions = {}) {
    this.c2Tags = new Set(o.c2Tags ?? ['c2']);
    this.windowSeconds = o.windowSeconds ?? 600;
    this.windowMs = this.windowSeconds * 1000;
    this.maxTracked = Math.max(1, o.maxTracked ?? 10_000);
    this.table = new WindowTable(this.maxTracked);
    this.maxRecent = Math.max(0, o.recentEvents ?? 1000);
    this.recentSlot = new Int32Array(this.maxRecent);
    this.staleDefault = o.staleFeedSeconds ?? 6 * 3600;
    this.staleOverrides = o.staleFeedOverrides ?? {};
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    const every = o.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), every);
      this.sweepTimer.unref();
    }
  }

  /** Open (client, rule) windows right now. */
  get tracked(): number {
    return this.table.live;
  }

  onQuery(e: QueryEvent): void {
    // The hot path: every answered query comes through here, almost none are blocks.
    if (e.action !== 'blocked') return;
    const d = e.decision;
    if (d === null) return;
    const m = d.rule;
    if (m === null || m.kind !== 'block' || !hasTag(m.tags, this.c2Tags)) return;
    // A repeat of an open window's hit is only counted: no C2HitInput is made for it.
    const host = e.mac ?? e.client;
    const now = this.now();
    const s = this.table.find(host, m.rule);
    if (s >= 0 && this.counted(s, e.qname, now)) return;
    // The window refers to the list's own RuleMatch (long-lived); the query's fields are read from the event itself.
    this.open(e, d.chain, d.trigger, m, host, now, s);
  }

  /** Counts a hit into its window; false when that window has ended. */
  private counted(s: number, qname: string, now: number): boolean {
    const t = this.table;
    if (now >= t.openedAt[s]! + this.windowMs) return false;
    t.count[s]!++;
    t.lastSeen[s] = now;
    this.counters.aggregated++;
    if (!this.isFirstQname(s, qname)) {
      const q = t.qnames[s];
      if (q === null) t.qnames[s] = [qname];
      else if (q.length < MAX_QNAMES && !q.includes(qname)) q.push(qname);
    }
    if (this.shared !== null) this.shared.repeated(keyOf(t.hostOf[s]!.host, t.ruleOf[s]!.rule));
    return true;
  }

  private firstQname(s: number): string {
    return this.table.qname.get(s) ?? this.table.ruleOf[s]!.rule;
  }

  /** firstQname(s) === qname, without making the kept name's string (a repeat's check). */
  private isFirstQname(s: number, qname: string): boolean {
    const first = this.table.qname;
    return first.is(s, null) ? qname === this.table.ruleOf[s]!.rule : first.is(s, qname);
  }

  /**
   * One blocked query for a C2 rule: opens a window (raising c2-hit) or counts into the open one.
   * onQuery calls it; in cluster mode the owning process calls it for hits other workers forward.
   */
  recordHit(h: C2HitInput): void {
    const host = h.mac ?? h.client; // one window per host: behind a router without ECS, hosts differ by MAC
    const now = this.now();
    const s = this.table.find(host, h.rule);
    if (s < 0 || !this.counted(s, h.qname, now)) this.open(h, h.chain, h.trigger, h, host, now, s);
  }

  /**
   * Opens the (host, rule) window of a hit, raising c2-hit; `ended` is that window's last slot, if
   * still tracked (else -1). `h` is the query's side: the QueryEvent itself, or a worker's C2HitInput.
   */
  private open(h: HitQuery, chain: readonly string[], trigger: string, rule: WindowRule, host: string, now: number, ended: number): void {
    const t = this.table;
    if (ended >= 0) {
      // The window ended but the sweep has not run yet: close it here, then open a new one.
      this.close(ended, 'window');
    }
    if (t.live >= this.maxTracked) {
      const oldest = t.oldest();
      if (oldest >= 0) {
        this.counters.evicted++;
        this.close(oldest, 'evicted');
      }
    }
    const s = t.add(host, rule);
    const hostText = t.hostOf[s]!.host;
    t.openedAt[s] = now;
    t.lastSeen[s] = now;
    t.count[s] = 1;
    t.clientPort[s] = h.clientPort;
    t.qtype[s] = h.qtype;
    // Left null when derivable, so a window keeps no string or array made for this query.
    t.client[s] = h.client === hostText ? null : h.client;
    if (h.qname === rule.rule) t.qname.keep(s, null);
    else t.qname.copy(s, h.qname);
    t.chain[s] = chain.length === 1 && chain[0] === h.qname ? null : chain;
    t.trigger[s] = trigger;
    // `?? null`: a hit forwarded by a worker of an older version has no identity fields.
    t.via[s] = h.via ?? null;
    t.mac[s] = h.mac ?? null;
    t.clientName[s] = h.clientName ?? null;
    t.transport[s] = h.transport;
    newIdInto(t.ids, s * 16);
    if (this.shared === null) {
      this.counters.c2Hits++;
      this.keep(null, s, now);
      // The event is made for listeners only (alerting listens while it has sinks); the ring has the slot.
      // It is the one hitAt() makes again for since() and a summary, with its chain the query's own.
      if (this.listeners.length > 0) this.tell(Object.freeze(this.hitAt(s, chain)));
      return;
    }
    const hit = this.hitAt(s, chain);
    t.hit[s] = hit;
    const gen = t.gen[s]!;
    this.shared.opened(keyOf(hostText, rule.rule), hit, this.windowMs, {
      raise: (extra) => {
        const raised: C2HitEvent = { ...hit, ...extra, id: hit.id };
        if (t.gen[s] === gen) t.hit[s] = raised; // still that window
        this.counters.c2Hits++;
        this.publish(raised, this.now());
      },
      align: (openedAt) => {
        if (t.gen[s] === gen) t.openedAt[s] = openedAt;
      },
    });
  }

  /** The c2-hit of a window as raised (fleet mode keeps it; alone it is made again from the columns). */
  private hitAt(s: number, chain: readonly string[] | null = null): C2HitEvent {
    const t = this.table;
    const kept = t.hit[s];
    if (kept !== null && kept !== undefined) return kept;
    const r = t.ruleOf[s]!;
    const qname = this.firstQname(s);
    const mac = t.mac[s] ?? null;
    const clientName = t.clientName[s] ?? null;
    const iso = this.isoOf(t.openedAt[s]!);
    return {
      id: idText(t.ids, s * 16),
      type: 'c2-hit',
      time: iso,
      severity: 'high',
      client: t.client[s] ?? t.hostOf[s]!.host,
      clientPort: t.clientPort[s]!,
      identity: clientName ?? mac ?? null,
      via: t.via[s] ?? null,
      mac,
      clientName,
      transport: t.transport[s]!,
      qname,
      qtype: typeName(t.qtype[s]!),
      list: r.list,
      rule: r.rule,
      trigger: t.trigger[s]!,
      // The decision's own arrays, not copies: both are read-only (Decision, RuleMatch) and made
      // for this query or shared by the rule's whole list, so the event keeps nothing new.
      chain: chain ?? t.chain[s] ?? [qname],
      tags: r.tags,
      ref: r.ref,
      line: r.line,
      firstSeen: iso,
      lastSeen: iso,
      count: 1,
      windowSeconds: this.windowSeconds,
    };
  }

  private isoOf(ms: number): string {
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = this.clock.text(ms);
    }
    return this.iso;
  }

  /** Closes every window that has ended; the timer calls this, tests call it directly. */
  sweep(now: number = this.now()): void {
    const t = this.table;
    for (let s = t.oldest(); s >= 0; ) {
      const next = t.after(s);
      // Opening order: the rest are younger (in a fleet a window may be aligned to an earlier start, so all are looked at).
      if (now < t.openedAt[s]! + this.windowMs) {
        if (this.shared === null) break;
      } else {
        this.close(s, 'window');
      }
      s = next;
    }
  }

  /** Stops the timers and closes every open window (summaries for those with repeats). */
  stop(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    if (this.feedTimer !== null) clearInterval(this.feedTimer);
    this.sweepTimer = null;
    this.feedTimer = null;
    for (let s = this.table.oldest(); s >= 0; s = this.table.oldest()) this.close(s, 'shutdown');
  }

  /**
   * Raises stale-feed for each list whose last success is older than its threshold, once per
   * episode, and stale-feed-resolved when it updates again. A list that never succeeded is
   * measured from when c2dns started. Returns the events raised by this check.
   */
  checkStaleFeeds(sources: readonly FeedHealth[], now: number = this.now()): SecurityEvent[] {
    const out: SecurityEvent[] = [];
    const seen = new Set<string>();
    for (const s of sources) {
      const list = s.config.name;
      seen.add(list);
      // hasOwn: a list may well be called "constructor".
      const threshold = Object.hasOwn(this.staleOverrides, list) ? this.staleOverrides[list]! : this.staleDefault;
      const episode = this.stale.get(list);
      const age = now - (s.lastSuccess ?? this.startedAt);
      if (threshold > 0 && age > threshold * 1000) {
        if (episode !== undefined) continue;
        this.stale.set(list, { list, lastSuccess: s.lastSuccess, thresholdSeconds: threshold, since: now });
        const f = s.lastFailure ?? null;
        const ev: StaleFeedEvent = {
          id: newId(),
          type: 'stale-feed',
          time: new Date(now).toISOString(),
          severity: 'medium',
          list,
          lastSuccess: s.lastSuccess === null ? null : new Date(s.lastSuccess).toISOString(),
          thresholdSeconds: threshold,
          ageSeconds: Math.floor(age / 1000),
          lastFailure: f === null ? null : { at: new Date(f.at).toISOString(), reason: f.reason, message: f.message },
        };
        this.counters.staleFeeds++;
        this.publish(ev, now);
        out.push(ev);
      } else if (episode !== undefined) {
        this.stale.delete(list);
        // Disabled (threshold 0) closes the episode silently; an update closes it with an event.
        if (threshold > 0 && s.lastSuccess !== null) {
          const ev: StaleFeedResolvedEvent = {
            id: newId(),
            type: 'stale-feed-resolved',
            time: new Date(now).toISOString(),
            severity: 'info',
            list,
            lastSuccess: new Date(s.lastSuccess).toISOString(),
            staleSince: new Date(episode.since).toISOString(),
          };
          this.publish(ev, now);
          out.push(ev);
        }
      }
    }
    for (const list of this.stale.keys()) if (!seen.has(list)) this.stale.delete(list); // removed from the config
    return out;
  }

  /** Runs checkStaleFeeds on a timer (unref'd) until stop(). */
  watchFeeds(sources: () => readonly FeedHealth[], intervalMs = 60_000): void {
    if (this.feedTimer !== null) clearInterval(this.feedTimer);
    this.feedTimer = setInterval(() => this.checkStaleFeeds(sources()), intervalMs);
    this.feedTimer.unref();
  }

  /** Lists currently in a staleness episode, as of the last check. */
  staleLists(): StaleList[] {
    return [...this.stale.values()].map((s) => ({ ...s }));
  }

  /** Raises an event from any producer; returns it completed (id, time, severity filled in). */
  emit(input: NewSecurityEvent): SecurityEvent {
    const now = this.now();
    const e: OtherSecurityEvent = {
      ...input,
      id: input.id ?? newId(),
      type: input.type,
      time: input.time ?? new Date(now).toISOString(),
      severity: input.severity ?? 'medium',
    };
    this.publish(e, now);
    return e;
  }

  /** Recent events (up to `recentEvents` of them) raised at or after `epochMs`, oldest first. */
  since(epochMs: number): SecurityEvent[] {
    const n = this.recent.length;
    const out: SecurityEvent[] = [];
    for (let i = 0; i < n; i++) {
      const k = (this.recentHead + i) % n;
      if (this.recentAt[k]! >= epochMs) out.push(this.recent[k] ?? Object.freeze(this.hitAt(this.recentSlot[k]! - 1)));
    }
    return out;
  }

  /** Called with every event, in order. Listeners must not throw (errors are counted). */
  subscribe(fn: SecurityEventListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Raises the window's summary if it has one, and frees its slot. */
  private close(s: number, closedBy: C2HitSummaryEvent['closedBy']): void {
    const t = this.table;
    const count = t.count[s]!;
    const inRing = t.ringAt[s]!;
    if (inRing !== 0) {
      // The ring's c2-hit of this window is made now, before the slot's columns are freed.
      this.recent[inRing - 1] = Object.freeze(this.hitAt(s));
      this.recentSlot[inRing - 1] = 0;
      t.ringAt[s] = 0;
    }
    if (this.shared !== null) {
      // The fleet may publish after the slot is reused: what the summary needs is taken now.
      const w: ClosedWindow = { hit: this.hitAt(s), lastSeen: t.lastSeen[s]!, qnames: t.qnames[s] ?? null };
      const key = keyOf(t.hostOf[s]!.host, t.ruleOf[s]!.rule);
      t.remove(s);
      this.shared.closed(key, count, (n, extra) => this.summarise(w, closedBy, n, extra));
      return;
    }
    // No closure and no event per close: with a 1M-name list nearly every block evicts a one-hit window.
    if (count > 1) this.summariseAlone(s, closedBy, count);
    t.remove(s);
  }

  /**
   * A window closed without a fleet: the c2-hit hitAt() makes is no one else's, so it becomes the
   * summary itself, not a copy spread into a new object (those copies were what the scavenges
   * promoted with a 1M-name list).
   */
  private summariseAlone(s: number, closedBy: C2HitSummaryEvent['closedBy'], count: number): void {
    const t = this.table;
    this.publishSummary(this.hitAt(s) as unknown as Mutable<C2HitSummaryEvent>, t.lastSeen[s]!, t.qnames[s] ?? null, count, closedBy);
  }

  /** A fleet window's summary: its hit is shared with the fleet, so the summary is a copy with the fleet's fields. */
  private summarise(w: ClosedWindow, closedBy: C2HitSummaryEvent['closedBy'], count: number, extra: Record<string, unknown>): void {
    this.publishSummary({ ...w.hit, ...extra } as unknown as Mutable<C2HitSummaryEvent>, w.lastSeen, w.qnames, count, closedBy);
  }

  /**
   * Turns `e`, a c2-hit's fields, into its window's summary in place (the hit's keys keep their
   * order, the summary's own follow) and publishes it.
   */
  private publishSummary(e: Mutable<C2HitSummaryEvent>, lastSeen: number, more: readonly string[] | null, count: number, closedBy: C2HitSummaryEvent['closedBy']): void {
    const now = this.now();
    const hitId = e.id;
    e.id = newId();
    e.type = 'c2-hit-summary';
    e.time = new Date(now).toISOString();
    e.lastSeen = new Date(lastSeen).toISOString();
    e.count = count;
    e.summaryOf = hitId;
    e.qnames = more === null ? [e.qname] : [e.qname, ...more];
    e.closedBy = closedBy;
    this.counters.summaries++;
    this.publish(e, now);
  }

  private publish(e: SecurityEvent, at: number): void {
    Object.freeze(e); // shared by the ring, every spool and the caller: nobody may change it
    this.keep(e, -1, at);
    this.tell(e);
  }

  /** Counts an event and puts it in the ring: `e`, or (e null) the c2-hit of window slot `slot`. */
  private keep(e: SecurityEvent | null, slot: number, at: number): void {
    this.counters.emitted++;
    if (this.maxRecent === 0) return;
    let k = this.recent.length;
    if (k < this.maxRecent) {
      this.recent.push(e);
      this.recentAt.push(at);
    } else {
      k = this.recentHead;
      const old = this.recentSlot[k]!;
      if (old !== 0) this.table.ringAt[old - 1] = 0; // that window's c2-hit leaves the ring
      this.recent[k] = e;
      this.recentAt[k] = at;
      this.recentHead = (k + 1) % this.maxRecent;
    }
    this.recentSlot[k] = e === null ? slot + 1 : 0;
    if (e === null) this.table.ringAt[slot] = k + 1;
  }

  /** Hands an event to every listener, in order. */
  private tell(e: SecurityEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        this.counters.subscriberErrors++;
      }
    }
  }
}
