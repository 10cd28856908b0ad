// The open c2-hit windows of SecurityEvents as a column table: a slot per window, its numbers in
// typed arrays and its references in arrays made once, so an open window is no JS object of its
// own. With a 1M-name list nearly every block opens a window that lives until 10,000 later ones
// have opened (maxTracked), long enough to be promoted: a Window object, its 26-field c2-hit and
// a Map entry per block made scavenges copy and promote ~4.6 MB each (issue 11). What a window
// refers to instead already lives elsewhere (the rule's fields, the host's record) or is left
// out when it can be derived (the qname when it is the rule's name, the chain when it is [qname]);
// a qname below the rule's name is kept as bytes (NameSlots), not as the string the query brought,
// which lived as long as the window.
// bench/observer-cost.mjs --workloads blocked-1M --observers SecurityEvents: ~3.1 -> ~1.8 µs an event.
import { NameSlots } from '../observe/name-slots.js';
import type { C2HitEvent } from './security-events.js';

/** A rule's fields a window's events carry: the list's RuleMatch (shared, long-lived) fits. */
export interface WindowRule {
  readonly list: string;
  readonly rule: string;
  readonly tags: readonly string[];
  readonly ref: string | null;
  readonly line: number;
}

/** A host's open windows by rule; its `host` text is the one every window of the host refers to. */
export interface HostWindows {
  readonly host: string;
  readonly slots: Map<string, number>;
}

const NONE = -1;
const FIRST_SLOTS = 1024;

export class WindowTable {
  /** Open windows. */
  live = 0;
  private cap = 0;
  openedAt = new Float64Array(0);
  lastSeen = new Float64Array(0);
  count = new Uint32Array(0);
  clientPort = new Uint16Array(0);
  qtype = new Uint16Array(0);
  /** Bumped when a slot is freed: a late fleet callback for its old window then leaves it alone. */
  gen = new Uint32Array(0);
  /** The c2-hit's UUID bytes, 16 a slot: its text is made again for the summary. */
  ids = new Uint8Array(0);
  /**
   * 1 + the position in SecurityEvents' recent-events ring that holds this window's c2-hit as
   * this slot (not as an object), or 0: the event is made from the columns when asked for, or
   * before the slot is freed.
   */
  ringAt = new Int32Array(0);
  /** Opening order (a doubly linked list: a window closes out of turn in O(1)); free slots chain through `next`. */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = NONE;
  private tail = NONE;
  private free = NONE;
  readonly hostOf: (HostWindows | null)[] = [];
  readonly ruleOf: (WindowRule | null)[] = [];
  /** null: the client is the host's text. */
  readonly client: (string | null)[] = [];
  /** null: the first qname is the rule's name. */
  readonly qname = new NameSlots();
  /** null: the chain is [qname]. */
  readonly chain: (readonly string[] | null)[] = [];
  readonly trigger: (string | null)[] = [];
  readonly via: (string | null)[] = [];
  readonly mac: (string | null)[] = [];
  readonly clientName: (string | null)[] = [];
  readonly transport: (string | null)[] = [];
  /** Distinct qnames after the first, capped; null until a repeat asks another name. */
  readonly qnames: (string[] | null)[] = [];
  /** Fleet mode only: the c2-hit as raised (it may carry the fleet's fields). */
  readonly hit: (C2HitEvent | null)[] = [];
  private readonly byHost = new Map<string, HostWindows>();

  constructor(private readonly maxSlots: number) {}

  /** The open window of (host, rule), or -1. */
  find(host: string, rule: string): number {
    return this.byHost.get(host)?.slots.get(rule) ?? NONE;
  }

  /** A new slot, last in opening order and indexed by (host, rule); the caller fills its columns. */
  add(host: string, rule: WindowRule): number {
    if (this.free === NONE) this.grow();
    const s = this.free;
    this.free = this.next[s]!;
    this.prev[s] = this.tail;
    this.next[s] = NONE;
    if (this.tail === NONE) this.head = s;
    else this.next[this.tail] = s;
    this.tail = s;
    let h = this.byHost.get(host);
    if (h === undefined) this.byHost.set(host, (h = { host, slots: new Map() }));
    h.slots.set(rule.rule, s);
    this.hostOf[s] = h;
    this.ruleOf[s] = rule;
    this.live++;
    return s;
  }

  /** Frees a slot: out of the order and the index, its references dropped. */
  remove(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    const h = this.hostOf[s]!;
    h.slots.delete(this.ruleOf[s]!.rule);
    if (h.slots.size === 0) this.byHost.delete(h.host);
    this.hostOf[s] = this.ruleOf[s] = null;
    this.qname.keep(s, null);
    this.client[s] = this.via[s] = this.mac[s] = this.clientName[s] = null;
    this.chain[s] = this.qnames[s] = this.hit[s] = null;
    this.gen[s]!++;
    this.next[s] = this.free;
    this.free = s;
    this.live--;
  }

  /** The oldest open window, or -1. */
  oldest(): number {
    return this.head;
  }

  /** The window opened after `s`, or -1. */
  after(s: number): number {
    return this.next[s]!;
  }

  /** Slots in the table's columns double up to maxTracked (a table that never fills stays small). */
  private grow(): void {
    const cap = Math.min(this.maxSlots, Math.max(FIRST_SLOTS, this.cap * 2));
    if (cap <= this.cap) throw new Error('c2 window table full'); // the caller evicts first
    const grown = <T extends Float64Array | Uint32Array | Uint16Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.openedAt = grown(this.openedAt, (n) => new Float64Array(n));
    this.lastSeen = grown(this.lastSeen, (n) => new Float64Array(n));
    this.count = grown(this.count, (n) => new Uint32Array(n));
    this.clientPort = grown(this.clientPort, (n) => new Uint16Array(n));
    this.qtype = grown(this.qtype, (n) => new Uint16Array(n));
    this.gen = grown(this.gen, (n) => new Uint32Array(n));
    this.ids = grown(this.ids, (n) => new Uint8Array(n), 16);
    this.ringAt = grown(this.ringAt, (n) => new Int32Array(n));
    this.prev = grown(this.prev, (n) => new Int32Array(n));
    this.next = grown(this.next, (n) => new Int32Array(n));
    for (let s = cap - 1; s >= this.cap; s--) {
      this.next[s] = this.free;
      this.free = s;
    }
    this.qname.grow(cap);
    for (const col of [this.hostOf, this.ruleOf, this.client, this.chain, this.trigger, this.via, this.mac, this.clientName, this.transport, this.qnames, this.hit] as unknown[][]) {
      for (let s = this.cap; s < cap; s++) col.push(null);
    }
    this.cap = cap;
  }
}
