// One JSON line per answered query: who asked what, over which transport, what was decided and
// why, the rcode and the latency. Field names are documented in README.md ("Query log") and
// must stay stable: SOC pipelines parse them. The line has a fixed shape, so it is built by hand
// (pino's generic serialisation cost as much CPU as answering the query); pino's asynchronous
// destination (sonic-boom) does the writing, so logging never blocks answering.
import pino from 'pino';
import { rcodeName, typeName } from '../dns/constants.js';
import { reasonText, type DecidedBy, type Decision, type Trigger } from '../policy/decision.js';
import type { Action, Transport } from '../resolve/types.js';
import type { RuleMatch } from '../blocklist/rule.js';
import { IsoSeconds } from './iso-time.js';
import type { QueryEvent, QueryObserver } from './query-event.js';

export type QueryLogMode = 'all' | 'blocked' | 'none';

/** sonic-boom in contentMode 'buffer' (pino's types only describe its string mode). */
interface Destination {
  write(chunk: Buffer): boolean;
  flushSync(): void;
  on(event: 'error', fn: (err: Error) => void): unknown;
  on(event: 'write', fn: (n: number) => void): unknown;
  on(event: 'drop', fn: () => void): unknown;
}

/** Lines are handed to the destination in chunks this large: a write costs the same few tens of µs at 64 KiB as at 256 KiB here, so fewer, larger ones. */
const CHUNK = 256 * 1024;
/** Bytes the destination holds while it cannot write (disk full…); beyond, new lines are dropped. */
const MAX_PENDING = 16 * 1024 * 1024;
/** Written chunks kept for reuse: one being filled while one is written needs two. */
const SPARE_CHUNKS = 2;

export class QueryLog implements QueryObserver {
  private readonly dest: Destination | null;
  private readonly clock = new IsoSeconds();
  /**
   * The current second's time text (IsoSeconds.secondOf), and the line's start up to the client's
   * address as bytes with the millisecond's three digits at `MS_AT`, set per line: one copy.
   * `headClient` goes on to the clientPort's value for the first client of the second (`headFor`):
   * one client asks most, and its lines then write no address text.
   */
  private second = '';
  private head: Buffer = Buffer.alloc(0);
  private headFor = '';
  private headClient: Buffer = Buffer.alloc(0);
  /** The rendered text of the last decision's list and tags (a list's rules share both). */
  private readonly text = new DecisionText();
  private timer: NodeJS.Timeout | null = null;
  // Each line is written byte by byte straight into the chunk (LineWriter), and the chunk is
  // handed to the destination whole: one write per ~800 lines, no string built per line.
  private readonly w: LineWriter;
  /** line(): its own writer, so a line asked for never mixes with the chunk. */
  private scratch: LineWriter | null = null;
  /** The last write failed (and none worked since). */
  private failing = false;
  private readonly chunks = new ChunkPool(CHUNK, SPARE_CHUNKS);
  /** The destination dropped what hand() gave it (set by its 'drop' event, during the write). */
  private dropped = false;

  /**
   * `destination`: "stdout" or a file path (appended to). `onTrouble` hears a write that failed
   * (the error) and the first one that works again after that (null); the log never throws.
   */
  constructor(
    private readonly mode: QueryLogMode,
    destination: string,
    onTrouble: (err: Error | null) => void = () => {},
  ) {
    this.w = new LineWriter(CHUNK, (full, length) => this.hand(full, length), () => this.chunks.take());
    this.dest =
      mode === 'none'
        ? null
        : (pino.destination({ dest: destination === 'stdout' ? 1 : destination, sync: false, mkdir: true, contentMode: 'buffer', maxLength: MAX_PENDING }) as unknown as Destination);
    if (this.dest !== null) {
      this.dest.on('error', (err) => {
        this.failing = true;
        onTrouble(err);
      });
      this.dest.on('drop', () => {
        this.dropped = true;
      });
      this.dest.on('write', (n) => {
        this.chunks.wrote(n);
        if (!this.failing) return;
        this.failing = false;
        onTrouble(null);
      });
      // At low traffic a partial chunk goes out within a quarter second, so `tail -f` stays live.
      this.timer = setInterval(() => this.push(), 250);
      this.timer.unref();
    }
  }

  onQuery(r: QueryEvent): void {
    if (this.dest === null) return;
    // "blocked": every query a rule or quarantine acted on, watch-list hits included.
    if (this.mode === 'blocked' && r.action !== 'blocked' && r.action !== 'local-data' && r.decision?.verdict !== 'monitor') return;
    const w = this.w;
    w.start = w.pos;
    this.write(w, r);
    w.start = w.pos;
  }

  /** Hands the lines written so far to the destination (which keeps them) and starts a new chunk. */
  private push(): void {
    const w = this.w;
    if (w.pos === 0 || this.dest === null) return;
    if (this.hand(w.buf, w.pos)) w.reset(this.chunks.take());
  }

  /**
   * Hands `chunk`'s first `length` bytes (whole lines) to the destination, which writes them
   * later from the chunk itself. False when the destination cannot take them yet (not open in the
   * first milliseconds, or closed): the lines stay with the writer.
   */
  private hand(chunk: Buffer, length: number): boolean {
    if (this.dest === null) return false;
    this.dropped = false;
    try {
      this.dest.write(chunk.subarray(0, length));
    } catch {
      return false;
    }
    // Asynchronous writes: no 'write' event can come before this, so the order of bytes holds.
    if (!this.dropped) this.chunks.handed(chunk, length);
    return true;
  }

  /** The JSON line for one query (exported shape: see README). */
  line(r: QueryEvent): string {
    const w = (this.scratch ??= new LineWriter(4096, null, null));
    w.reset(w.buf);
    this.write(w, r);
    return w.buf.toString('latin1', 0, w.pos);
  }

  /** Writes the line for `r` (the bytes of its latin1 text, as line() returns it). */
  private write(w: LineWriter, r: QueryEvent): void {
    // Fixed text goes in as pre-encoded bytes (one memmove each): written a character at a time,
    // the ~250 fixed bytes of a line cost more than everything else in it.
    const second = this.clock.secondOf(r.time);
    if (second === null) {
      w.bytes(K_TIME);
      w.ascii(new Date(r.time).toISOString());
      w.bytes(K_TIME_END);
      this.clientFields(w, r);
    } else {
      if (second !== this.second) this.newSecond(second, r.client);
      const withClient = r.client === this.headFor;
      const h = withClient ? this.headClient : this.head;
      const ms = r.time - Math.floor(r.time / 1000) * 1000;
      const tens = (ms / 10) | 0;
      h[MS_AT] = 0x30 + ((ms / 100) | 0);
      h[MS_AT + 1] = 0x30 + tens - ((tens / 10) | 0) * 10;
      h[MS_AT + 2] = 0x30 + ms - tens * 10;
      w.bytes(h);
      if (withClient) w.uint(r.clientPort);
      else this.clientFields(w, r);
    }
    if (r.via === null && r.mac === null && r.clientName === null && (r.group === undefined || r.group === 'default')) {
      // Nobody spoke for the client and it has no name: the common case, one fixed text per transport.
      w.bytes(PLAIN_IDENTITY_QNAME[r.transport]);
    } else {
      w.ascii(',"via":');
      w.jsonOrNull(r.via);
      w.ascii(',"mac":');
      w.jsonOrNull(r.mac);
      w.ascii(',"clientName":');
      w.jsonOrNull(r.clientName);
      w.ascii(',"group":');
      w.json(r.group ?? 'default');
      w.ascii(',"transport":"');
      w.ascii(r.transport);
      w.ascii('",');
      w.bytes(K_QNAME);
    }
    const qname = w.mark() - 1; // from its opening quote
    w.jsonInner(r.qname);
    const qnameEnd = w.mark() + 1; // to its closing quote, the first byte of K_QTYPE
    const ta = typeAndAction(r.qtype, r.action);
    const d = r.decision;
    // NOERROR, the common rcode, comes with the text before it as one piece.
    const noError = r.rcode === 0;
    if (d === null) w.bytes(noError ? ta.noDecisionNoError : ta.noDecision);
    else this.decisionFields(w, d, ta, r.qname, qname, qnameEnd, noError);
    if (!noError) w.bytes(r.rcode < 0 ? K_RCODE_NULL : rcodeBytes(r.rcode));
    latency(w, r.latencyMs);
    if (r.upstream === null) w.bytes(r.truncated ? K_NULL_END_TRUNCATED : K_NULL_END);
    else {
      w.bytes(K_UPSTREAM);
      w.jsonInner(r.upstream);
      w.bytes(r.truncated ? K_QUOTE_END_TRUNCATED : K_QUOTE_END);
    }
  }

  /** The client's address and the clientPort field, up to its value's end. */
  private clientFields(w: LineWriter, r: QueryEvent): void {
    w.jsonInner(r.client);
    w.bytes(K_CLIENT_PORT);
    w.uint(r.clientPort);
  }

  private newSecond(second: string, client: string): void {
    this.second = second;
    this.head = latin1(`{"level":30,"time":"${second}000Z","client":"`);
    this.headFor = client;
    this.headClient = Buffer.concat([this.head, latin1(JSON.stringify(client).slice(1, -1)), K_CLIENT_PORT]);
  }

  /**
   * list, rule, ruleKind and the decision beyond them: who, what triggered it, through which
   * names, the reason and the tags. The list's and the tags' text is rendered once per list
   * (DecisionText: the last one only, nothing kept per rule: a 1M-name list has 1M rules, and a
   * per-rule cache of their text grew with each one and made every major GC walk it); the rule's
   * own text is written field by field.
   */
  private decisionFields(w: LineWriter, d: Decision, ta: TypeAction, qname: string, qnameFrom: number, qnameTo: number, noError: boolean): void {
    const m = d.rule;
    const t = this.text;
    // Where the rule's text went: the reason repeats it, copied from there.
    let rule = 0;
    let ruleEnd = 0;
    if (m === null) {
      w.bytes(ta.text);
      w.bytes(K_NO_RULE);
    } else {
      w.bytes(t.list(ta, m.list));
      rule = w.mark();
      w.jsonInner(m.rule);
      ruleEnd = w.mark();
    }
    w.bytes(t.byAndTrigger(m === null ? null : m.kind, d.by, d.trigger));
    // A qname decision's chain is the question's name (the very string): the qname field's bytes again.
    if (d.chain.length === 1 && d.chain[0] === qname) w.repeat(qnameFrom, qnameTo);
    else w.strings(d.chain);
    const tags = t.tags(d.tags);
    if (m !== null && d.trigger === 'qname') {
      // reasonText()'s qname form, written in place: list=LIST rule=RULE
      w.bytes(t.reasonHead);
      w.repeat(rule, ruleEnd);
      if (tags !== null) w.bytes(noError ? tags.afterStringNoError : tags.afterString);
      else {
        w.bytes(K_TAGS_AFTER_REASON);
        w.strings(d.tags);
        w.bytes(noError ? K_DECISION_END_NOERROR : K_DECISION_END);
      }
    } else {
      w.bytes(K_REASON);
      w.json(reasonText(d));
      if (tags !== null) w.bytes(noError ? tags.afterValueNoError : tags.afterValue);
      else {
        w.bytes(K_TAGS);
        w.strings(d.tags);
        w.bytes(noError ? K_DECISION_END_NOERROR : K_DECISION_END);
      }
    }
  }

  /**
   * Reopens the log file at its path, after logrotate moved it away (SIGUSR1, POST
   * /api/log/reopen): lines written so far stay in the moved file, later ones go to a new file.
   * Resolves false when the log goes to stdout or is off (nothing to reopen); rejects when the
   * new file cannot be opened, and lines then keep going to the moved file.
   */
  async reopen(timeoutMs = 5000): Promise<boolean> {
    // sonic-boom: `file` is the path (null for a descriptor such as stdout), `fd` -1 until opened.
    const dest = this.dest as SonicBoomLike | null;
    if (dest === null || (dest.file === null && dest.fd >= 0)) return false;
    // Still opening the first time: sonic-boom would defer the reopen to after its first 'ready',
    // which would then answer for the wrong open.
    if (dest.fd < 0) await nextOpen(dest, timeoutMs, () => {});
    this.push();
    // sonic-boom's reopen leaves a once('ready') that closes the previous descriptor; when the open
    // fails, that listener stays and the next successful reopen would close the same number twice,
    // the second time closing whatever socket or file got it in between. It is removed on failure.
    const before = new Set(dest.listeners('ready'));
    try {
      await nextOpen(dest, timeoutMs, () => dest.reopen());
    } catch (err) {
      for (const l of dest.listeners('ready')) if (!before.has(l)) dest.off('ready', l as () => void);
      throw err;
    }
    return true;
  }

  /**
   * Graceful stop: waits (at most `timeoutMs`) until the destination has written every byte it
   * was handed, then flush(). sonic-boom's flushSync, called while a write it issued still waits
   * in the thread pool (a busy pool, or a core shared with the main thread), writes the queued
   * lines at once and the waiting ones land after them: up to a chunk of lines out of order.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.push();
    const end = performance.now() + timeoutMs;
    while (this.dest !== null && !this.failing && this.chunks.unwritten > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
    this.flush();
  }

  /** Writes out everything buffered at once (exit after a fatal error; drain() when there is time). */
  flush(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.push();
    // sonic-boom's flushSync retries a failing write for ever (every 100 ms, blocking the process),
    // and pino calls it again when the process exits: a destination known to fail is not flushed
    // (its pending lines are lost) and is told to stop flushing, as pino does itself on EPIPE.
    if (this.failing) {
      if (this.dest !== null) Object.assign(this.dest, { flushSync: () => {}, flush: () => {} });
      return;
    }
    try {
      this.dest?.flushSync();
    } catch {
      // Nothing buffered yet, or the destination is not ready: nothing to lose.
    }
  }
}

/** What reopen() uses of sonic-boom, pino's destination. */
type SonicBoomLike = Destination & NodeJS.EventEmitter & { fd: number; file: string | null; reopen(): void };

/** Runs `start` and settles on the destination's next 'ready' (resolves) or 'error' (rejects). */
function nextOpen(dest: SonicBoomLike, timeoutMs: number, start: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      dest.off('ready', ready);
      dest.off('error', failed);
      if (err === null) resolve();
      else reject(err);
    };
    const ready = (): void => done(null);
    const failed = (err: Error): void => done(err);
    const timer = setTimeout(() => done(new Error(`the log file did not open within ${timeoutMs} ms`)), timeoutMs);
    dest.once('ready', ready);
    dest.once('error', failed);
    try {
      start();
    } catch (err) {
      done(err as Error);
    }
  });
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
// The line's fixed text, in order. A string value's quotes belong to the fixed text around it.
const K_TIME = latin1('{"level":30,"time":"');
const K_TIME_END = latin1('","client":"');
/** Where the millisecond's digits are in QueryLog's line head: after `{"level":30,"time":"` and "YYYY-MM-DDTHH:MM:SS.". */
const MS_AT = '{"level":30,"time":"'.length + 20;
const K_CLIENT_PORT = latin1('","clientPort":');
const K_QNAME = latin1('"qname":"');
/** `","qtype":"A","action":"blocked",`, alone and with the no-decision fields after it (one copy for an undecided line). */
interface TypeAction {
  readonly text: Buffer;
  readonly noDecision: Buffer;
  readonly noDecisionNoError: Buffer;
}
/** TypeAction per type (below 256: the common ones, made when first seen) and action. */
const TYPE_ACTION: (Partial<Record<Action, TypeAction>> | undefined)[] = new Array<undefined>(256).fill(undefined);
function typeAndAction(qtype: number, action: Action): TypeAction {
  const known = qtype < 256 ? TYPE_ACTION[qtype] : undefined;
  const b = known?.[action];
  if (b !== undefined) return b;
  const text = latin1(`","qtype":"${typeName(qtype)}","action":"${action}",`);
  const made = { text, noDecision: Buffer.concat([text, NO_DECISION]), noDecisionNoError: Buffer.concat([text, NO_DECISION_NOERROR]) };
  if (qtype < 256) (TYPE_ACTION[qtype] ??= {})[action] = made;
  return made;
}
/** `"rcode":"NOERROR","latencyMs":` per rcode (all 4,096 extended ones are at most 4,096 small pieces, made when first seen). */
const RCODE_BYTES: (Buffer | undefined)[] = new Array<undefined>(4096).fill(undefined);
function rcodeBytes(rcode: number): Buffer {
  const b = RCODE_BYTES[rcode];
  if (b !== undefined) return b;
  const made = latin1(`"rcode":"${rcodeName(rcode)}","latencyMs":`);
  if (rcode < 4096) RCODE_BYTES[rcode] = made;
  return made;
}
/**
 * `","ruleKind":"block","decidedBy":"list","trigger":"qname","chain":[` per rule kind (null: no rule,
 * the text after K_NO_RULE's `"decidedBy":"`), decider and trigger: a few dozen at most.
 */
const BY_TRIGGER = new Map<string, Buffer>();
function byAndTrigger(kind: RuleMatch['kind'] | null, by: DecidedBy, trigger: Trigger): Buffer {
  const key = `${kind ?? ''} ${by} ${trigger}`; // DecisionText asks only when the last one differs
  let b = BY_TRIGGER.get(key);
  if (b === undefined) BY_TRIGGER.set(key, (b = latin1(`${kind === null ? '' : `","ruleKind":"${kind}","decidedBy":"`}${by}","trigger":"${trigger}","chain":[`)));
  return b;
}
const K_NO_RULE = latin1('"list":null,"rule":null,"ruleKind":null,"decidedBy":"');
const K_TAGS_AFTER_REASON = latin1('","tags":[');
const K_REASON = latin1('],"reason":');
const K_TAGS = latin1(',"tags":[');
const K_DECISION_END = latin1('],');
const K_RCODE_NULL = latin1('"rcode":null,"latencyMs":');
const END = ',"msg":"query"}\n';
const K_NULL_END = latin1(`,"upstream":null,"truncated":false${END}`);
const K_NULL_END_TRUNCATED = latin1(`,"upstream":null,"truncated":true${END}`);
const K_UPSTREAM = latin1(',"upstream":"');
const K_QUOTE_END = latin1(`","truncated":false${END}`);
const K_QUOTE_END_TRUNCATED = latin1(`","truncated":true${END}`);

const NO_DECISION = Buffer.from('"list":null,"rule":null,"ruleKind":null,"decidedBy":null,"trigger":null,"chain":null,"reason":null,"tags":[],', 'latin1');
/** The pieces that end in `"tags":[…],`, followed by the NOERROR rcode's text (rcodeBytes(0)). */
const withNoError = (b: Buffer): Buffer => Buffer.concat([b, rcodeBytes(0)]);
const NO_DECISION_NOERROR = withNoError(NO_DECISION);
const K_DECISION_END_NOERROR = withNoError(K_DECISION_END);

const plainIdentity = (t: Transport): Buffer => latin1(`,"via":null,"mac":null,"clientName":null,"group":"default","transport":"${t}","qname":"`);
/** The identity nobody spoke for, per transport, and the text up to the query name. */
const PLAIN_IDENTITY_QNAME: Readonly<Record<Transport, Buffer>> = { udp: plainIdentity('udp'), tcp: plainIdentity('tcp'), dot: plainIdentity('dot'), doh: plainIdentity('doh') };

/**
 * Thousandths as JavaScript prints them with the decimal point (no trailing zeros): 5 → ".005",
 * 10 → ".01", 100 → ".1", 0 → nothing; 4 bytes each from the first, and their count.
 */
const THOUSANDTHS = new Uint8Array(4 * 1000);
const THOUSANDTHS_LENGTH = new Uint8Array(1000);
for (let f = 1; f < 1000; f++) THOUSANDTHS_LENGTH[f] = Buffer.from(THOUSANDTHS.buffer).write(`.${String(f).padStart(3, '0').replace(/0+$/, '')}`, 4 * f, 'latin1');

/**
 * The latency in ms rounded to µs, the text String(Math.round(ms * 1000) / 1000) gives, from
 * integers (a double's shortest decimal form is the costly part of that).
 */
function latency(w: LineWriter, ms: number): void {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us < 2 ** 31)) {
    w.ascii(String(us / 1000));
    return;
  }
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  w.uint(whole);
  w.table(THOUSANDTHS, frac * 4, THOUSANDTHS_LENGTH[frac]!);
}

/** The tags' text, after the reason: a string's (`","tags":["c2"],`) and a JSON value's (`,"tags":["c2"],`). */
interface TagsText {
  readonly afterString: Buffer;
  readonly afterValue: Buffer;
  /** The same, with the NOERROR rcode's text after them. */
  readonly afterStringNoError: Buffer;
  readonly afterValueNoError: Buffer;
}

/**
 * The pieces of a decision's text that a list's rules share, for the last list, tags array and
 * kind/decider/trigger seen: a run of blocks from one list writes each as one copy. Nothing is
 * kept per rule. Tags are matched by identity (a list's rules share its array; a rule with tags of
 * its own has an array of its own): their text is made on the second line in a row with the same
 * array, so rules that each have their own make nothing per line.
 */
class DecisionText {
  private listKey: string | null = null;
  private listTa: TypeAction | null = null;
  private listHead: Buffer = K_NO_RULE;
  /** `],"reason":"list=LIST rule=` of the last list(). */
  reasonHead: Buffer = K_NO_RULE;
  private tagsKey: readonly string[] | null = null;
  private tagsSeen: readonly string[] | null = null;
  private tagsText: TagsText | null = null;
  private kind: RuleMatch['kind'] | null | undefined = undefined;
  private by: DecidedBy | null = null;
  private trigger: Trigger | null = null;
  private byTrigger: Buffer = K_NO_RULE;

  /** The type and action's text, then `"list":"LIST","rule":"`; and reasonHead for the same list. */
  list(ta: TypeAction, list: string): Buffer {
    if (list !== this.listKey || ta !== this.listTa) {
      const inner = JSON.stringify(list).slice(1, -1);
      this.listHead = Buffer.concat([ta.text, latin1(`"list":"${inner}","rule":"`)]);
      this.reasonHead = latin1(`],"reason":"list=${inner} rule=`);
      this.listKey = list;
      this.listTa = ta;
    }
    return this.listHead;
  }

  /** The tags' text, or null when the caller writes them (an array not seen on the line before). */
  tags(tags: readonly string[]): TagsText | null {
    if (tags === this.tagsKey) return this.tagsText;
    if (tags !== this.tagsSeen) {
      this.tagsSeen = tags;
      return null;
    }
    const inner = tags.map((t) => JSON.stringify(t)).join(',');
    const afterString = latin1(`","tags":[${inner}],`);
    const afterValue = latin1(`,"tags":[${inner}],`);
    this.tagsText = { afterString, afterValue, afterStringNoError: withNoError(afterString), afterValueNoError: withNoError(afterValue) };
    this.tagsKey = tags;
    return this.tagsText;
  }

  /** byAndTrigger() of the last kind, decider and trigger. */
  byAndTrigger(kind: RuleMatch['kind'] | null, by: DecidedBy, trigger: Trigger): Buffer {
    if (kind !== this.kind || by !== this.by || trigger !== this.trigger) {
      this.byTrigger = byAndTrigger(kind, by, trigger);
      this.kind = kind;
      this.by = by;
      this.trigger = trigger;
    }
    return this.byTrigger;
  }
}

/**
 * The chunks lines are written into, reused once the destination has written them: a new
 * 256 KiB chunk per ~1,000 lines is external memory that makes V8 collect early (1M lines to a
 * file: 14 scavenges for "external memory pressure" with a new chunk each time, none with
 * reuse). The destination writes what it is handed in
 * order and reports each write's byte count ('write' events), so a chunk is free when the bytes
 * reported reach the end of its bytes. Writes it never reports (flushSync at exit) only leave
 * chunks unreused: a chunk is never taken back before its bytes are written.
 */
class ChunkPool {
  private readonly spare: Buffer[] = [];
  /** Chunks handed and not yet written, oldest first, with the byte count handed up to each one's end. */
  private readonly pending: Buffer[] = [];
  private readonly ends: number[] = [];
  private handedBytes = 0;
  private writtenBytes = 0;

  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  /** Bytes handed to the destination that it has not reported written. */
  get unwritten(): number {
    return this.handedBytes - this.writtenBytes;
  }

  /** A chunk to write lines into: a written one again, or a new one. */
  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** The destination holds `chunk`'s first `length` bytes, after everything handed before. */
  handed(chunk: Buffer, length: number): void {
    this.handedBytes += length;
    this.pending.push(chunk);
    this.ends.push(this.handedBytes);
  }

  /** The destination wrote `n` more bytes. */
  wrote(n: number): void {
    this.writtenBytes += n;
    while (this.ends.length > 0 && this.ends[0]! <= this.writtenBytes) {
      this.ends.shift();
      const chunk = this.pending.shift()!;
      // A chunk grown for a line longer than it is not kept.
      if (chunk.length === this.size && this.spare.length < this.keep) this.spare.push(chunk);
    }
  }
}

/**
 * Lines written straight into a buffer as latin1 bytes (the low byte of each UTF-16 unit, as
 * Buffer.write(s, 'latin1') does): no string concatenation, no allocation per line. `start` is
 * where the line being written began; when the buffer fills up in the middle of a line, the lines
 * before it are handed to `full` (if it takes them) and the partial line moves to a new buffer
 * (from `fresh` when one of the usual size does).
 */
class LineWriter {
  buf: Buffer;
  pos = 0;
  start = 0;

  constructor(
    private readonly size: number,
    private readonly full: ((buf: Buffer, length: number) => boolean) | null,
    private readonly fresh: (() => Buffer) | null,
  ) {
    this.buf = fresh === null ? Buffer.allocUnsafe(size) : fresh();
  }

  reset(buf: Buffer): void {
    this.buf = buf;
    this.pos = 0;
    this.start = 0;
  }

  /** Text known to need no JSON escaping. */
  ascii(s: string): void {
    const n = s.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** A non-negative integer below 2^31 as String(n) writes it; other numbers through String(). */
  uint(n: number): void {
    if (!(n >= 0 && n < 2 ** 31 && Number.isInteger(n))) {
      this.ascii(String(n));
      return;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    if (this.pos + digits > this.buf.length) this.grow(digits);
    const b = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    let x = n;
    do {
      const q = (x / 10) | 0;
      b[--p] = 0x30 + x - q * 10;
      x = q;
    } while (x !== 0);
  }

  /**
   * Pre-encoded text, by TypedArray#set (one memmove): callgrind, full, blocked, per query: 4,800
   * instructions this way against 6,600 copying short pieces byte by byte and ~9,000 writing
   * the fixed text as strings a character at a time.
   */
  bytes(src: Uint8Array): void {
    const n = src.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    this.buf.set(src, this.pos);
    this.pos += n;
  }

  /** `n` bytes of `table` from `at`, one at a time (a few: a builtin call costs more). */
  table(table: Uint8Array, at: number, n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = at, end = at + n; i < end; i++) b[p++] = table[i]!;
    this.pos = p;
  }

  /** Where the line being written is now: an offset from its start (repeat() takes two). */
  mark(): number {
    return this.pos - this.start;
  }

  /** Writes again the line's bytes [from, to) (marks): a text the line holds already. */
  repeat(from: number, to: number): void {
    const n = to - from;
    if (this.pos + n > this.buf.length) this.grow(n); // moves the line: marks stay valid
    this.buf.copyWithin(this.pos, this.start + from, this.start + to);
    this.pos += n;
  }

  /** A JSON string literal. */
  json(s: string): void {
    this.quote();
    this.jsonInner(s);
    this.quote();
  }

  /** A JSON string literal's inside; the common case (no quote, backslash, control or non-ASCII character) is copied as is. */
  jsonInner(s: string): void {
    const n = s.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
        const quoted = JSON.stringify(s);
        this.ascii(quoted.slice(1, quoted.length - 1));
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  private quote(): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = 0x22;
  }

  jsonOrNull(s: string | null): void {
    if (s === null) this.ascii('null');
    else this.json(s);
  }

  /** JSON strings separated by commas (an array's inside). */
  strings(a: readonly string[]): void {
    for (let i = 0; i < a.length; i++) {
      if (i > 0) this.ascii(',');
      this.json(a[i]!);
    }
  }

  private grow(n: number): void {
    const line = this.pos - this.start;
    const handed = this.start > 0 && this.full !== null && this.full(this.buf, this.start);
    // Bytes that leave: the handed lines, or, when the destination refuses them and MAX_PENDING
    // bytes wait already, the lines themselves (dropped, as the destination drops beyond it).
    const keep = handed || this.pos + n > MAX_PENDING ? this.start : 0;
    const need = (this.pos - keep + n) * 2;
    const next = need <= this.size && this.fresh !== null ? this.fresh() : Buffer.allocUnsafe(Math.max(this.size, need));
    this.buf.copy(next, 0, keep, this.pos);
    this.buf = next;
    this.start -= keep;
    this.pos = this.start + line;
  }
}
