// Who asked the most, and what was blocked, over a time window of the query history: the web
// console's Clients page (top clients, top blocked names, one client's timeline). Reads the same
// segments as the hunt (format.ts), every record in the window rather than those of a few names,
// so it keeps per-segment counters in typed arrays indexed by the segment's own ids and turns
// ids into text only for clients, for blocked names and for the timeline's rows.
import { addressText } from '../dns/address.js';
import { rcodeName, typeName } from '../dns/constants.js';
import {
  FRAME_HEADER_LEN,
  FRAME_RECORDS,
  FRAME_STRINGS,
  HEADER_LEN,
  KIND_ACTION,
  KIND_ANSWER,
  KIND_CLIENT,
  KIND_NAME,
  MAGIC,
  P_ACTION,
  P_ANSWER,
  P_CLIENT,
  P_NAME,
  P_QTYPE,
  P_RCODE,
  P_TIME,
  RCODE_NONE,
  RECORD_LEN,
} from './format.js';
import { listSegments, loadSegment } from './hunt.js';

export interface ClientCount {
  client: string;
  queries: number;
  /** Answered blocked or with a list's local data. */
  blocked: number;
}

export interface BlockedName {
  name: string;
  queries: number;
  /** Distinct clients that asked for it. */
  clients: number;
}

export interface TimelineRow {
  /** Epoch ms. */
  time: number;
  name: string;
  qtype: string;
  action: string;
  /** "none" when nothing was sent. */
  rcode: string;
  /** First A/AAAA address of the answer, or null. */
  answer: string | null;
}

export interface HistorySummaryOptions {
  /** Epoch ms, inclusive. */
  since: number;
  /** Epoch ms, exclusive; default: no bound. */
  until?: number;
  /** Entries of topClients and topBlocked (default 20). */
  top?: number;
  /** Also collect this client's queries (its address as the history stores it). */
  client?: string | null;
  /** The newest rows of the client's timeline kept (default 200). */
  timelineLimit?: number;
  /** Give the event loop a turn every this many records (default 500,000). */
  yieldEvery?: number;
  onWarning?: (file: string, err: Error) => void;
}

export interface HistorySummary {
  segments: number;
  /** Records in the window. */
  records: number;
  unreadable: number;
  /** Distinct clients in the window. */
  clients: number;
  topClients: ClientCount[];
  topBlocked: BlockedName[];
  /** Newest first; null when no client was asked for. */
  timeline: TimelineRow[] | null;
}

const BLOCKED_ACTIONS = new Set(['blocked', 'local-data']);

class Totals {
  readonly clients = new Map<string, ClientCount>();
  readonly blocked = new Map<string, { queries: number; clients: Set<string> }>();
  timeline: TimelineRow[] = [];
  records = 0;
}

export async function summarizeHistory(dir: string, o: HistorySummaryOptions): Promise<HistorySummary> {
  const until = o.until ?? Infinity;
  const top = o.top ?? 20;
  const limit = o.timelineLimit ?? 200;
  const yieldEvery = o.yieldEvery ?? 500_000;
  const segs = (await listSegments(dir)).filter((s) => s.end >= o.since && s.start < until);
  const totals = new Totals();
  let unreadable = 0;
  let sinceYield = 0;
  for (const s of segs) {
    let buf: Buffer;
    try {
      buf = await loadSegment(dir, s);
      if (buf.length < HEADER_LEN || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error('not a c2dns history segment');
    } catch (err) {
      unreadable++;
      o.onWarning?.(s.file, err instanceof Error ? err : new Error(String(err)));
      continue;
    }
    const scan = new SegmentSummary(buf, o.since, until, o.client ?? null);
    let off = HEADER_LEN;
    while (off + FRAME_HEADER_LEN <= buf.length) {
      const type = buf[off]!;
      const len = buf.readUInt32LE(off + 1);
      const body = off + FRAME_HEADER_LEN;
      const end = body + len;
      if (end > buf.length) break; // torn tail of the segment being written
      if (type === FRAME_STRINGS && len >= 5) scan.strings(body, end);
      else if (type === FRAME_RECORDS && len >= 4) {
        const n = buf.readUInt32LE(body);
        if (4 + n * RECORD_LEN > len) break;
        scan.records(body + 4, n);
        sinceYield += n;
        if (sinceYield >= yieldEvery) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r));
        }
      }
      off = end;
    }
    scan.addTo(totals, limit);
  }
  const topClients = [...totals.clients.values()].sort((a, b) => b.queries - a.queries || b.blocked - a.blocked || cmp(a.client, b.client)).slice(0, top);
  const topBlocked = [...totals.blocked]
    .map(([name, v]) => ({ name, queries: v.queries, clients: v.clients.size }))
    .sort((a, b) => b.queries - a.queries || cmp(a.name, b.name))
    .slice(0, top);
  const timeline = o.client === undefined || o.client === null ? null : totals.timeline.sort((a, b) => b.time - a.time).slice(0, limit);
  return { segments: segs.length, records: totals.records, unreadable, clients: totals.clients.size, topClients, topBlocked, timeline };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** One segment's tables and counters, by the segment's own ids. */
class SegmentSummary {
  private readonly start: number;
  private readonly clientText: string[] = [];
  /** Table entries as offset * 65536 + length into buf (decoded only when needed). */
  private readonly nameAt: number[] = [];
  private readonly answerAt: number[] = [];
  private readonly actionText: string[] = [];
  private readonly actionBlocked: boolean[] = [];
  private queries = new Uint32Array(256);
  private blocked = new Uint32Array(256);
  /** name id → (client id → queries), for blocked records only. */
  private readonly blockedNames = new Map<number, Map<number, number>>();
  private target = -1;
  private readonly rows: number[] = [];
  inWindow = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly since: number,
    private readonly until: number,
    private readonly client: string | null,
  ) {
    this.start = buf.readDoubleLE(8);
  }

  strings(body: number, end: number): void {
    const buf = this.buf;
    const kind = buf[body]!;
    const count = buf.readUInt32LE(body + 1);
    let p = body + 5;
    for (let k = 0; k < count && p + 2 <= end; k++) {
      const l = buf[p]! | (buf[p + 1]! << 8);
      const s = p + 2;
      p = s + l;
      if (p > end) break;
      if (kind === KIND_NAME) this.nameAt.push(s * 65536 + l);
      else if (kind === KIND_CLIENT) {
        const text = buf.toString('utf8', s, p);
        if (text === this.client) this.target = this.clientText.length;
        this.clientText.push(text);
      } else if (kind === KIND_ANSWER) this.answerAt.push(s * 65536 + l);
      else if (kind === KIND_ACTION) {
        const text = buf.toString('utf8', s, p);
        this.actionText.push(text);
        this.actionBlocked.push(BLOCKED_ACTIONS.has(text));
      }
    }
    if (this.clientText.length > this.queries.length) {
      let size = this.queries.length;
      while (size < this.clientText.length) size *= 2;
      const q = new Uint32Array(size);
      q.set(this.queries);
      this.queries = q;
      const b = new Uint32Array(size);
      b.set(this.blocked);
      this.blocked = b;
    }
  }

  /** The records of one frame: planes of n bytes from `base`. */
  records(base: number, n: number): void {
    const buf = this.buf;
    const t0 = base + P_TIME * n;
    const c0 = base + P_CLIENT * n;
    const a0 = base + P_ACTION * n;
    const clients = this.clientText.length;
    for (let i = 0; i < n; i++) {
      const t = this.start + (buf[t0 + i]! | (buf[t0 + n + i]! << 8) | (buf[t0 + 2 * n + i]! << 16)) + buf[t0 + 3 * n + i]! * 0x1000000;
      if (t < this.since || t >= this.until) continue;
      const cid = buf[c0 + i]! | (buf[c0 + n + i]! << 8);
      if (cid >= clients) continue; // an id its table never defined: damaged segment
      this.inWindow++;
      this.queries[cid]!++;
      if (this.actionBlocked[buf[a0 + i]!] === true) {
        this.blocked[cid]!++;
        const n0 = base + P_NAME * n + i;
        const nid = buf[n0]! | (buf[n0 + n]! << 8) | (buf[n0 + 2 * n]! << 16);
        let per = this.blockedNames.get(nid);
        if (per === undefined) this.blockedNames.set(nid, (per = new Map()));
        per.set(cid, (per.get(cid) ?? 0) + 1);
      }
      if (cid === this.target) this.rows.push(base, n, i, t);
    }
  }

  addTo(totals: Totals, limit: number): void {
    totals.records += this.inWindow;
    for (let cid = 0; cid < this.clientText.length; cid++) {
      const q = this.queries[cid]!;
      if (q === 0) continue;
      const client = this.clientText[cid]!;
      const c = totals.clients.get(client);
      if (c === undefined) totals.clients.set(client, { client, queries: q, blocked: this.blocked[cid]! });
      else {
        c.queries += q;
        c.blocked += this.blocked[cid]!;
      }
    }
    for (const [nid, per] of this.blockedNames) {
      const name = this.text(this.nameAt[nid]);
      if (name === null) continue;
      let b = totals.blocked.get(name);
      if (b === undefined) totals.blocked.set(name, (b = { queries: 0, clients: new Set() }));
      for (const [cid, count] of per) {
        b.queries += count;
        b.clients.add(this.clientText[cid]!);
      }
    }
    // The newest `limit` rows of this segment (records are in time order within a segment).
    const rows = this.rows;
    const from = Math.max(0, rows.length / 4 - limit);
    for (let k = from; k < rows.length / 4; k++) {
      const base = rows[4 * k]!;
      const n = rows[4 * k + 1]!;
      const i = rows[4 * k + 2]!;
      totals.timeline.push(this.row(base, n, i, rows[4 * k + 3]!));
    }
    if (totals.timeline.length > 4 * limit) totals.timeline = totals.timeline.sort((a, b) => b.time - a.time).slice(0, limit);
  }

  private row(base: number, n: number, i: number, time: number): TimelineRow {
    const buf = this.buf;
    const at = (plane: number, bytes: number): number => {
      let v = 0;
      for (let b = bytes - 1; b >= 0; b--) v = v * 256 + buf[base + (plane + b) * n + i]!;
      return v;
    };
    const aid = at(P_ANSWER, 3);
    const answerAt = aid === 0 ? undefined : this.answerAt[aid - 1];
    const rcode = buf[base + P_RCODE * n + i]!;
    return {
      time,
      name: this.text(this.nameAt[at(P_NAME, 3)]) ?? '?',
      qtype: typeName(at(P_QTYPE, 2)),
      action: this.actionText[buf[base + P_ACTION * n + i]!] ?? '?',
      rcode: rcode === RCODE_NONE ? 'none' : rcodeName(rcode),
      answer: answerAt === undefined ? null : addressText(this.buf.subarray(Math.floor(answerAt / 65536), Math.floor(answerAt / 65536) + (answerAt % 65536))),
    };
  }

  private text(at: number | undefined): string | null {
    if (at === undefined) return null;
    const s = Math.floor(at / 65536);
    return this.buf.toString('utf8', s, s + (at % 65536));
  }
}
