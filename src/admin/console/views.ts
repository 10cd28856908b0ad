// The JSON the console's pages are drawn from: one call per page section, composed from the
// admin context (lists, upstreams, quarantine, security events) and the console feed (per-minute
// counters, the live ring, the query history).
import { normalizeMac } from '../../dns/client-options.js';
import { summarizeHistory, type TimelineRow } from '../../history/summary.js';
import type { AdminContext, QuarantineEntry } from '../context.js';
import { badRequest, canonicalIp, notFound } from '../http.js';
import type { ListStatus, UpstreamStatus } from '../readiness.js';
import type { ConsoleFeed } from './feed.js';
import type { MinuteSeries } from './minutes.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The sparkline's drawing box (SVG user units); the page scales it to its width. */
export const SPARK_WIDTH = 600;
export const SPARK_HEIGHT = 80;

export interface C2HitView {
  /** ISO 8601 of the first hit of the (client, rule) window. */
  time: string;
  lastSeen: string;
  client: string | null;
  /** Name (clients.names) or MAC when known. */
  identity: string | null;
  name: string;
  list: string;
  rule: string;
  trigger: string;
  chain: string[];
  count: number;
}

export interface Overview {
  now: string;
  version: string;
  ready: boolean;
  problems: string[];
  traffic: {
    /** Per minute, oldest first, the last one in progress. */
    series: MinuteSeries;
    /** SVG polyline points in a SPARK_WIDTH × SPARK_HEIGHT box (y down), queries and blocked on one scale. */
    sparkline: { width: number; height: number; max: number; queries: string; blocked: string };
    lastHour: { queries: number; blocked: number; blockedPercent: number; perSecond: number };
    /** The last 60 seconds (estimated from the per-minute counts). */
    lastMinute: { queries: number; perSecond: number };
    sinceStart: { queries: number; blocked: number };
  };
  c2Hits: C2HitView[];
  quarantine: QuarantineEntry[];
  lists: (ListStatus & { kind: string })[];
  upstreams: UpstreamStatus[];
}

export async function overview(ctx: AdminContext, feed: ConsoleFeed, now = Date.now()): Promise<Overview> {
  const r = ctx.readiness();
  const m = ctx.metrics.summary();
  const series = feed.minutes.series(now);
  // The last hour: the 60 most recent minutes, the one in progress included.
  const hourQueries = series.queries.slice(1).reduce((a, b) => a + b, 0);
  const hourBlocked = series.blocked.slice(1).reduce((a, b) => a + b, 0);
  // The last 60 seconds, estimated from the minute in progress and the share of the one before it still inside them.
  const n = series.queries.length;
  const inMinute = (now % 60_000) / 60_000;
  const last = Math.round(series.queries[n - 1]! + series.queries[n - 2]! * (1 - inMinute));
  const [quarantine, events] = await Promise.all([ctx.quarantine.list(), ctx.events.since(now - DAY_MS)]);
  const kinds = new Map(ctx.feeds.sources.map((s) => [s.config.name, s.config.kind]));
  return {
    now: new Date(now).toISOString(),
    version: ctx.metrics.version,
    ready: r.ready,
    problems: r.problems,
    traffic: {
      series,
      sparkline: sparkline(series),
      lastHour: {
        queries: hourQueries,
        blocked: hourBlocked,
        blockedPercent: hourQueries === 0 ? 0 : Math.round((hourBlocked / hourQueries) * 1000) / 10,
        perSecond: Math.round((hourQueries / 3600) * 100) / 100,
      },
      lastMinute: { queries: last, perSecond: Math.round((last / 60) * 100) / 100 },
      sinceStart: { queries: m.queries, blocked: m.blocked + (m.byAction['local-data'] ?? 0) },
    },
    c2Hits: c2Hits(events),
    quarantine,
    lists: r.lists.map((l) => ({ ...l, kind: kinds.get(l.list) ?? 'block' })),
    upstreams: r.upstreams,
  };
}

/** Points for two polylines on one scale (the larger of the two is the queries line). */
export function sparkline(s: MinuteSeries): Overview['traffic']['sparkline'] {
  const max = Math.max(1, ...s.queries);
  const n = s.queries.length;
  const pts = (values: number[]): string =>
    values
      .map((v, i) => {
        const x = n <= 1 ? 0 : (i / (n - 1)) * SPARK_WIDTH;
        const y = SPARK_HEIGHT - 2 - (v / max) * (SPARK_HEIGHT - 4);
        return `${round1(x)},${round1(y)}`;
      })
      .join(' ');
  return { width: SPARK_WIDTH, height: SPARK_HEIGHT, max, queries: pts(s.queries), blocked: pts(s.blocked) };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

type EventLike = Awaited<ReturnType<AdminContext['events']['since']>>[number];

/** c2-hit events, newest first, with the counts of their summaries (c2-hit-summary) folded in. */
export function c2Hits(events: readonly EventLike[], max = 200): C2HitView[] {
  const byId = new Map<string, C2HitView>();
  const out: C2HitView[] = [];
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  for (const e of events) {
    const d = e.details;
    if (e.kind === 'c2-hit') {
      const hit: C2HitView = {
        time: e.time,
        lastSeen: str(d.lastSeen) ?? e.time,
        client: e.client,
        identity: str(d.identity),
        name: str(d.qname) ?? '',
        list: str(d.list) ?? '',
        rule: str(d.rule) ?? '',
        trigger: str(d.trigger) ?? 'qname',
        chain: Array.isArray(d.chain) ? [...(d.chain as readonly string[])] : [],
        count: typeof d.count === 'number' ? d.count : 1,
      };
      out.push(hit);
      const id = str(d.id);
      if (id !== null) byId.set(id, hit);
    } else if (e.kind === 'c2-hit-summary') {
      const of = str(d.summaryOf);
      const hit = of === null ? undefined : byId.get(of);
      if (hit !== undefined) {
        if (typeof d.count === 'number') hit.count = Math.max(hit.count, d.count);
        hit.lastSeen = str(d.lastSeen) ?? hit.lastSeen;
      }
    }
  }
  return out.reverse().slice(0, max);
}

/** The windows the Clients page offers. */
export const WINDOWS: Readonly<Record<string, number>> = { '15m': 15 * 60_000, '1h': HOUR_MS, '6h': 6 * HOUR_MS, '24h': DAY_MS, '7d': 7 * DAY_MS };
export const DEFAULT_WINDOW = '1h';

export function parseWindow(raw: string | null): { window: string; ms: number } {
  const w = raw ?? DEFAULT_WINDOW;
  const ms = WINDOWS[w];
  if (ms === undefined) throw badRequest(`window: expected one of ${Object.keys(WINDOWS).join(', ')}, got "${w}"`);
  return { window: w, ms };
}

export interface ClientsView {
  window: string;
  since: string;
  until: string;
  /** history: the query history on disk (every query in the window); memory: the console's ring of recent queries. */
  source: 'history' | 'memory';
  /** What the numbers cover, for humans. */
  note: string;
  records: number;
  clients: number;
  topClients: { client: string; queries: number; blocked: number; mac: string | null; clientName: string | null }[];
  topBlocked: { name: string; queries: number; clients: number }[];
}

export interface TimelineView {
  client: string;
  window: string;
  source: 'history' | 'memory';
  note: string;
  identity: { mac: string | null; clientName: string | null; via: string | null; firstSeen: string; lastSeen: string; queries: number; blocked: number } | null;
  quarantine: QuarantineEntry | null;
  marks: { mark: string; list: string; name: string; since: string; lastSeen: string; count: number }[];
  /** Newest first. Rows from the history carry the answer's first address; rows from memory the decision's reason. */
  timeline: (Omit<TimelineRow, 'time'> & { time: string; reason: string | null })[];
}

const TOP = 20;
const TIMELINE_ROWS = 200;

/**
 * History summaries read every segment of the window: a second request for the same window
 * within this time gets the same answer, and requests that arrive while one is running wait for it.
 */
const SUMMARY_CACHE_MS = 2000;

export class ConsoleViews {
  private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly ctx: AdminContext,
    private readonly feed: ConsoleFeed,
    private readonly now: () => number = Date.now,
  ) {}

  overview(): Promise<Overview> {
    return overview(this.ctx, this.feed, this.now());
  }

  async clients(rawWindow: string | null): Promise<ClientsView> {
    const { window, ms } = parseWindow(rawWindow);
    const until = this.now();
    const since = until - ms;
    const base = { window, since: new Date(since).toISOString(), until: new Date(until).toISOString() };
    const tail = this.feed.tail;
    const ident = (client: string): { mac: string | null; clientName: string | null } => {
      const i = tail.identity(client);
      return { mac: i?.mac ?? null, clientName: i?.clientName ?? null };
    };
    const dir = this.feed.historyDir;
    if (dir !== null) {
      const s = await this.cached(`clients|${window}`, () => summarizeHistory(dir, { since, until, top: TOP }));
      return {
        ...base,
        source: 'history',
        note: `every query in the last ${window} from the query history (${s.records} queries in ${s.segments} segment files${s.unreadable > 0 ? `, ${s.unreadable} unreadable` : ''})`,
        records: s.records,
        clients: s.clients,
        topClients: s.topClients.map((c) => ({ ...c, ...ident(c.client) })),
        topBlocked: s.topBlocked,
      };
    }
    const clients = new Map<string, { queries: number; blocked: number }>();
    const blocked = new Map<string, { queries: number; clients: Set<string> }>();
    let records = 0;
    for (const q of tail.since(since)) {
      records++;
      const isBlocked = q.action === 'blocked' || q.action === 'local-data';
      const c = clients.get(q.client) ?? { queries: 0, blocked: 0 };
      c.queries++;
      if (isBlocked) c.blocked++;
      clients.set(q.client, c);
      if (isBlocked) {
        const b = blocked.get(q.qname) ?? { queries: 0, clients: new Set<string>() };
        b.queries++;
        b.clients.add(q.client);
        blocked.set(q.qname, b);
      }
    }
    const oldest = tail.oldest();
    return {
      ...base,
      source: 'memory',
      note:
        `the query history is off (history.enabled: false): from the last ${tail.capacity} queries kept in memory` +
        (oldest !== null && oldest > since ? `, which reach back only to ${new Date(oldest).toISOString()}` : ''),
      records,
      clients: clients.size,
      topClients: [...clients]
        .map(([client, v]) => ({ client, ...v, ...ident(client) }))
        .sort((a, b) => b.queries - a.queries || b.blocked - a.blocked)
        .slice(0, TOP),
      topBlocked: [...blocked]
        .map(([name, v]) => ({ name, queries: v.queries, clients: v.clients.size }))
        .sort((a, b) => b.queries - a.queries)
        .slice(0, TOP),
    };
  }

  async timeline(rawClient: string, rawWindow: string | null): Promise<TimelineView> {
    const { window, ms } = parseWindow(rawWindow);
    const client = this.resolveClient(rawClient);
    const until = this.now();
    const since = until - ms;
    const id = this.feed.tail.identity(client);
    const [quarantined, marks] = await Promise.all([this.ctx.quarantine.list(), this.ctx.marks.list()]);
    const base = {
      client,
      window,
      identity:
        id === null
          ? null
          : { mac: id.mac, clientName: id.clientName, via: id.via, firstSeen: new Date(id.firstSeen).toISOString(), lastSeen: new Date(id.lastSeen).toISOString(), queries: id.queries, blocked: id.blocked },
      quarantine: quarantined.find((q) => q.client === client || q.address === client || (id?.mac != null && q.mac === id.mac)) ?? null,
      marks: marks.filter((m) => m.client === client).map(({ client: _c, ...rest }) => rest),
    };
    const dir = this.feed.historyDir;
    if (dir !== null) {
      const s = await this.cached(`timeline|${window}|${client}`, () => summarizeHistory(dir, { since, until, top: 0, client, timelineLimit: TIMELINE_ROWS }));
      return {
        ...base,
        source: 'history',
        note: `the newest ${TIMELINE_ROWS} of its queries in the last ${window}, from the query history`,
        timeline: (s.timeline ?? []).map((r) => ({ ...r, time: new Date(r.time).toISOString(), reason: null })),
      };
    }
    const rows: TimelineView['timeline'] = [];
    for (const q of this.feed.tail.since(since)) {
      if (q.client !== client) continue;
      const e = q.entry();
      rows.push({ time: e.time, name: e.qname, qtype: e.qtype, action: e.action, rcode: e.rcode, answer: null, reason: e.reason });
    }
    return {
      ...base,
      source: 'memory',
      note: `the query history is off: its queries among the last ${this.feed.tail.capacity} kept in memory`,
      timeline: rows.reverse().slice(0, TIMELINE_ROWS),
    };
  }

  /** An IP address as the history keys clients, or the address last seen with this MAC or name. */
  private resolveClient(raw: string): string {
    const ip = canonicalIp(raw.trim());
    if (ip !== null) return ip;
    const mac = normalizeMac(raw);
    const name = raw.trim().toLowerCase();
    if (name === '') throw badRequest('expected a client IP address, MAC address or name');
    const known = this.feed.tail
      .knownClients()
      .filter((c) => (mac !== null && c.mac === mac) || (c.clientName !== null && c.clientName.toLowerCase() === name))
      .sort((a, b) => b.lastSeen - a.lastSeen);
    if (known.length === 0) throw notFound(`no client with the MAC address or name "${raw}" has asked anything since c2dns started; give its IP address`);
    return known[0]!.client;
  }

  private cached<T>(key: string, run: () => Promise<T>): Promise<T> {
    const t = this.now();
    for (const [k, v] of this.cache) if (t - v.at > SUMMARY_CACHE_MS) this.cache.delete(k);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit.value as Promise<T>;
    const value = run();
    this.cache.set(key, { at: t, value });
    value.catch(() => this.cache.delete(key));
    return value;
  }
}
