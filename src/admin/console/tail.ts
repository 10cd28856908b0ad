// The console's live view of queries: a QueryObserver that keeps the last `capacity` answered
// queries in a ring, remembers each client's identity (MAC, name, forwarder) and pushes every
// query to subscribers (the server-sent event streams of open Queries pages).
//
// Per query it stores the query's fields in columns (typed arrays and arrays of references, made
// once), with the query's own (immutable) Decision: no object is made per query, and a record is
// built, and the reason text rendered, only when one is read or sent to a browser, never on the
// answering path. What the ring holds lives 10,000 queries, long enough for V8 to copy it twice
// and promote it, so it holds long-lived values where it can: a qname rule's decision as its rule
// (the list's, kept anyway; the Decision and its chain are made again when read), the rule's name
// for a qname equal to it, the client table's string for the client, and any other qname as its
// bytes (NameSlots: the name string a query brings was most of what scavenges copied with the full
// configuration, beyond the lean one's). The ring, the client table and the
// subscriber count are bounded, so a busy resolver costs the same memory as an idle one.
import { rcodeName, typeName } from '../../dns/constants.js';
import { NameSlots } from '../../observe/name-slots.js';
import type { QueryEvent, QueryObserver } from '../../observe/query-event.js';
import { isQnameRuleDecision, reasonText, ruleDecision, type Decision } from '../../policy/decision.js';
import type { RuleMatch } from '../../blocklist/rule.js';
import type { Action, Transport } from '../../resolve/types.js';

export const TAIL_DEFAULT_CAPACITY = 10_000;
export const CLIENTS_DEFAULT_CAPACITY = 10_000;

interface TailRecord {
  readonly id: number;
  readonly time: number;
  readonly client: string;
  readonly mac: string | null;
  readonly clientName: string | null;
  readonly via: string | null;
  readonly transport: Transport;
  readonly qname: string;
  readonly qtype: number;
  readonly action: Action;
  readonly rcode: number;
  readonly latencyMs: number;
  readonly upstream: string | null;
  readonly decision: Decision | null;
}

/** One query as the console shows it (JSON). */
export interface TailEntry {
  /** Increases by one per query: `after` a known id asks for what came later. */
  id: number;
  /** ISO 8601. */
  time: string;
  client: string;
  mac: string | null;
  clientName: string | null;
  via: string | null;
  transport: Transport;
  qname: string;
  qtype: string;
  action: Action;
  /** "none" when nothing was sent (RPZ DROP). */
  rcode: string;
  latencyMs: number;
  upstream: string | null;
  /** The Decision: who decided, its verdict, trigger, list, rule, chain and reasonText(); null when nothing decided. */
  decidedBy: string | null;
  verdict: string | null;
  trigger: string | null;
  list: string | null;
  rule: string | null;
  chain: readonly string[];
  reason: string | null;
}

export interface ClientIdentity {
  client: string;
  mac: string | null;
  clientName: string | null;
  via: string | null;
  /** Epoch ms of its first and latest query since c2dns started (or since it was last evicted). */
  firstSeen: number;
  lastSeen: number;
  queries: number;
  blocked: number;
}

/** Which queries a subscriber or a listing wants; every field optional, all must hold. */
export interface TailFilter {
  /** Substring of the client address, MAC or name (case-insensitive). */
  client?: string;
  /** Substring of the query name (case-insensitive). */
  name?: string;
  action?: string;
  /** The deciding rule's list (emergency blocks: "emergency"). */
  list?: string;
}

type Listener = (e: TailRecord) => void;

export class QueryTail implements QueryObserver {
  // The ring, a column per field; slot i is empty while ids[i] is 0.
  private readonly ids: Float64Array;
  private readonly times: Float64Array;
  private readonly latencies: Float64Array;
  private readonly qtypes: Uint16Array;
  private readonly rcodes: Int16Array;
  private readonly clientsCol: string[];
  private readonly macs: (string | null)[];
  private readonly names: (string | null)[];
  private readonly vias: (string | null)[];
  private readonly transports: Transport[];
  private readonly qnames: NameSlots;
  private readonly actions: Action[];
  private readonly upstreams: (string | null)[];
  private readonly decisions: (Decision | null)[];
  /** Set instead of `decisions` for a qname rule's decision (isQnameRuleDecision); `watched` 1: a watch list's. */
  private readonly rules: (RuleMatch | null)[];
  private readonly watched: Uint8Array;
  private head = 0;
  private seq = 0;
  private readonly clients = new Map<string, ClientIdentity>();
  private evictFrom: MapIterator<string> = this.clients.keys();
  /** The last client counted (queries come in runs from one client): no Map lookup, which would hash the query's new address string. */
  private lastClient: ClientIdentity | null = null;
  private readonly listeners = new Set<Listener>();
  /** Listener calls that threw (a bug in a stream; never allowed to reach the answering path). */
  listenerErrors = 0;

  constructor(
    readonly capacity = TAIL_DEFAULT_CAPACITY,
    private readonly clientCapacity = CLIENTS_DEFAULT_CAPACITY,
  ) {
    this.ids = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.latencies = new Float64Array(capacity);
    this.qtypes = new Uint16Array(capacity);
    this.rcodes = new Int16Array(capacity);
    this.clientsCol = new Array<string>(capacity).fill('');
    this.macs = new Array<string | null>(capacity).fill(null);
    this.names = new Array<string | null>(capacity).fill(null);
    this.vias = new Array<string | null>(capacity).fill(null);
    this.transports = new Array<Transport>(capacity).fill('udp');
    this.qnames = new NameSlots(capacity);
    this.actions = new Array<Action>(capacity).fill('allowed');
    this.upstreams = new Array<string | null>(capacity).fill(null);
    this.decisions = new Array<Decision | null>(capacity).fill(null);
    this.rules = new Array<RuleMatch | null>(capacity).fill(null);
    this.watched = new Uint8Array(capacity);
  }

  onQuery(e: QueryEvent): void {
    const i = this.head;
    this.ids[i] = ++this.seq;
    this.times[i] = e.time;
    this.latencies[i] = e.latencyMs;
    this.qtypes[i] = e.qtype;
    this.rcodes[i] = e.rcode;
    this.clientsCol[i] = this.remember(e);
    this.macs[i] = e.mac;
    this.names[i] = e.clientName;
    this.vias[i] = e.via;
    this.transports[i] = e.transport;
    this.actions[i] = e.action;
    this.upstreams[i] = e.upstream;
    const d = e.decision;
    const q = e.qname;
    if (d !== null && isQnameRuleDecision(d, q)) {
      const r = d.rule!;
      this.rules[i] = r;
      this.watched[i] = d.by === 'watch' ? 1 : 0;
      this.decisions[i] = null;
      if (r.rule === q) this.qnames.keep(i, r.rule);
      else this.qnames.copy(i, q);
    } else {
      this.rules[i] = null;
      this.decisions[i] = d;
      this.qnames.copy(i, q);
    }
    this.head = i + 1 === this.capacity ? 0 : i + 1;
    if (this.listeners.size === 0) return;
    const r = this.record(i)!;
    for (const fn of this.listeners) {
      try {
        fn(r);
      } catch {
        this.listenerErrors++;
      }
    }
  }

  /** The id of the latest query (0 before the first). */
  get lastId(): number {
    return this.seq;
  }

  /** Queries in the ring, newest first, matching `filter`, with an id above `afterId`; at most `limit`. */
  recent(filter: TailFilter = {}, limit = 100, afterId = 0): TailEntry[] {
    const match = compileFilter(filter);
    const out: TailEntry[] = [];
    for (let k = 1; k <= this.capacity && out.length < limit; k++) {
      const r = this.record((this.head - k + this.capacity) % this.capacity);
      if (r === null || r.id <= afterId) break;
      if (match(r)) out.push(toEntry(r));
    }
    return out;
  }

  /** Queries in the ring at or after `since` (epoch ms), oldest first; for summaries without a history. */
  *since(since: number): Generator<{ time: number; client: string; qname: string; qtype: number; action: Action; rcode: number; entry: () => TailEntry }> {
    let start = -1;
    for (let k = this.capacity; k >= 1; k--) {
      const i = (this.head - k + this.capacity) % this.capacity;
      if (this.ids[i] !== 0 && this.times[i]! >= since) {
        start = i;
        break;
      }
    }
    if (start < 0) return;
    for (let i = start; ; i = (i + 1) % this.capacity) {
      const r = this.record(i)!;
      yield { time: r.time, client: r.client, qname: r.qname, qtype: r.qtype, action: r.action, rcode: r.rcode, entry: () => toEntry(r) };
      if ((i + 1) % this.capacity === this.head) return;
    }
  }

  /** Epoch ms of the oldest query the ring still holds, or null when empty. */
  oldest(): number | null {
    const i = this.ids[this.head] !== 0 ? this.head : 0;
    return this.ids[i] === 0 ? null : this.times[i]!;
  }

  /** The query in ring slot i as a record, or null when the slot is empty. */
  private record(i: number): TailRecord | null {
    if (this.ids[i] === 0) return null;
    const r = this.rules[i]!;
    const qname = this.qnames.get(i)!;
    return {
      id: this.ids[i]!,
      time: this.times[i]!,
      client: this.clientsCol[i]!,
      mac: this.macs[i]!,
      clientName: this.names[i]!,
      via: this.vias[i]!,
      transport: this.transports[i]!,
      qname,
      qtype: this.qtypes[i]!,
      action: this.actions[i]!,
      rcode: this.rcodes[i]!,
      latencyMs: this.latencies[i]!,
      upstream: this.upstreams[i]!,
      decision: r === null ? this.decisions[i]! : ruleDecision(r, 'qname', [qname], this.watched[i] === 1),
    };
  }

  /** What c2dns last saw of a client (by address); null when unknown. */
  identity(client: string): ClientIdentity | null {
    const c = this.clients.get(client);
    return c === undefined ? null : { ...c };
  }

  /** Every client seen (bounded), for summaries without a history. */
  knownClients(): ClientIdentity[] {
    return [...this.clients.values()].map((c) => ({ ...c }));
  }

  /**
   * Calls `fn` with every later query that matches `filter`, as a TailEntry; returns the
   * unsubscribe function. `fn` must not throw and must return quickly (it runs on the
   * answering path): a stream only writes to its socket.
   */
  subscribe(filter: TailFilter, fn: (e: TailEntry) => void): () => void {
    const match = compileFilter(filter);
    const listener: Listener = (r) => {
      if (match(r)) fn(toEntry(r));
    };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Counts the query for its client; returns the client's text as the table keeps it. */
  private remember(r: QueryEvent): string {
    const blocked = r.action === 'blocked' || r.action === 'local-data' ? 1 : 0;
    const last = this.lastClient;
    const c = last !== null && last.client === r.client ? last : this.clients.get(r.client);
    if (c !== undefined) {
      this.lastClient = c;
      c.lastSeen = r.time;
      c.queries++;
      c.blocked += blocked;
      if (r.mac !== null) c.mac = r.mac;
      if (r.clientName !== null) c.clientName = r.clientName;
      if (r.via !== null) c.via = r.via;
      return c.client;
    }
    if (this.clients.size >= this.clientCapacity) {
      // Full: forget the client inserted first (Map order), the one most likely long gone. One
      // iterator kept across evictions: a new one would walk every hole the evictions left in the
      // Map from its start (microseconds each with a full table); every entry before this one's
      // position has been evicted, so its next entry is the first inserted.
      let first = this.evictFrom.next();
      if (first.done === true) {
        this.evictFrom = this.clients.keys();
        first = this.evictFrom.next();
      }
      if (first.done !== true) this.clients.delete(first.value);
    }
    const made: ClientIdentity = { client: r.client, mac: r.mac, clientName: r.clientName, via: r.via, firstSeen: r.time, lastSeen: r.time, queries: 1, blocked };
    this.clients.set(r.client, made);
    this.lastClient = made; // never an evicted one: the one just made is the last
    return r.client;
  }
}

function toEntry(r: TailRecord): TailEntry {
  const d = r.decision;
  return {
    id: r.id,
    time: new Date(r.time).toISOString(),
    client: r.client,
    mac: r.mac,
    clientName: r.clientName,
    via: r.via,
    transport: r.transport,
    qname: r.qname,
    qtype: typeName(r.qtype),
    action: r.action,
    rcode: r.rcode < 0 ? 'none' : rcodeName(r.rcode),
    latencyMs: Math.round(r.latencyMs * 100) / 100,
    upstream: r.upstream,
    decidedBy: d?.by ?? null,
    verdict: d?.verdict ?? null,
    trigger: d?.trigger ?? null,
    list: d?.rule?.list ?? null,
    rule: d?.rule?.rule ?? null,
    chain: d?.chain ?? [],
    reason: d === null ? null : reasonText(d),
  };
}

function compileFilter(f: TailFilter): (r: TailRecord) => boolean {
  const client = f.client?.trim().toLowerCase() || null;
  const name = f.name?.trim().toLowerCase() || null;
  const action = f.action?.trim() || null;
  const list = f.list?.trim() || null;
  if (client === null && name === null && action === null && list === null) return () => true;
  return (r) =>
    (action === null || r.action === action) &&
    (list === null || r.decision?.rule?.list === list) &&
    (name === null || r.qname.includes(name)) &&
    (client === null || r.client.toLowerCase().includes(client) || (r.mac !== null && r.mac.includes(client)) || (r.clientName !== null && r.clientName.toLowerCase().includes(client)));
}
