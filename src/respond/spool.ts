// At-least-once delivery to one sink. Every event is appended to an on-disk spool before it is
// delivered, then delivered strictly in order, one at a time; a failure is retried with capped
// exponential backoff and jitter, for ever. The only way an event leaves the spool undelivered
// is overflow (more than maxEvents or maxBytes pending): then the oldest go, counted and logged.
//
// Layout of the sink's directory:
//   seg-<first seq, 16 digits>.jsonl  {"seq":N,"event":{...}} per line, appended, fsynced per batch
//   cursor.json                       {"format":"c2dns-spool/1","next":N}: everything below N is done
//   lock                              pid of the process using the spool: a second one is refused
// Restart: segments are read back, records below the cursor skipped, the rest delivered. The
// cursor is renamed into place without fsync: if a crash loses its latest value, events are
// delivered twice, never lost (receivers deduplicate on the event id). A process always starts
// a new segment, so a torn last line of an old one (crash mid-write) is only skipped and counted.
// File I/O on the delivery path is asynchronous: an alert must never stall query answering.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { writeFileAtomicAsync } from '../storage/atomic.js';
import { join, resolve } from 'node:path';
import type { SecurityEvent } from './security-events.js';
import type { AlertLog, AlertSink } from './sinks/types.js';

export interface SpoolOptions {
  /** This sink's own directory (created 0700). */
  dir: string;
  /** Pending events kept at most; beyond, the oldest are dropped. Default 10 000. */
  maxEvents?: number;
  /** Pending bytes (serialised events) kept at most. Default 16 MiB. */
  maxBytes?: number;
  /** A new segment file is started past this size. Default 256 KiB. */
  segmentBytes?: number;
  /** First retry delay; doubles per failed attempt up to retryMaxMs, with jitter. Default 1 s. */
  retryBaseMs?: number;
  /** Default 5 min. */
  retryMaxMs?: number;
  log?: AlertLog;
  /** A write to the spool failed (the error), or worked again after failing (null). */
  onDiskTrouble?: (err: unknown) => void;
}

export interface SpoolStats {
  sink: string;
  /** Events delivered. */
  sent: number;
  /** Delivery attempts that failed (each retry counts). */
  failedAttempts: number;
  /** Events dropped, oldest first, because the spool was full. */
  droppedOverflow: number;
  /** Pending events and their bytes. */
  queued: number;
  queuedBytes: number;
  /** Unusable records found on disk at start (torn or damaged lines). */
  corrupt: number;
  /** Spool writes that failed: those events were still delivered, but only from memory. */
  writeErrors: number;
  /** The last delivery error, or null after a success. */
  lastError: string | null;
}

interface Rec {
  readonly seq: number;
  /** The event as JSON; parsed again only when sent, so pending events cost their text only. */
  readonly line: string;
  readonly bytes: number;
  /** Written (or the write failed and memory is all there is): may be delivered. */
  ready: boolean;
}

interface Segment {
  readonly file: string;
  /** Highest seq in it; -1 while empty. */
  last: number;
}

const CURSOR_FORMAT = 'c2dns-spool/1';
const SEGMENT = /^seg-(\d{16})\.jsonl$/;
const LOG_EVERY_MS = 60_000;

/** Another live process is using this spool (two c2dns on one state directory, or cluster workers). */
export class SpoolLockedError extends Error {}

/** Spool directories open in this process (the lock file's pid check cannot tell them apart). */
const openHere = new Set<string>();

const silent: AlertLog = { info() {}, warn() {}, error() {} };

function segmentName(seq: number): string {
  return `seg-${String(seq).padStart(16, '0')}.jsonl`;
}

function isEventLike(v: unknown): v is SecurityEvent {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.id === 'string' && typeof o.type === 'string' && typeof o.time === 'string';
}

export class Spool {
  readonly sink: AlertSink;
  readonly dir: string;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly log: AlertLog;
  private readonly onDiskTrouble: (err: unknown) => void;
  private diskFailing = false;

  // Pending records, oldest at qHead (an array with a moving head: shift() is O(n)).
  private q: (Rec | undefined)[] = [];
  private qHead = 0;
  private bytes = 0;
  private nextSeq = 0;
  private readonly counters = { sent: 0, failedAttempts: 0, droppedOverflow: 0, corrupt: 0, writeErrors: 0 };
  private lastError: string | null = null;

  private segments: Segment[] = [];
  private current: { seg: Segment; fh: FileHandle; bytes: number } | null = null;
  private unwritten: Rec[] = [];
  private writing: Promise<void> | null = null;

  private persistedCursor: number;
  private cursorWriting: Promise<void> | null = null;

  private sending: Rec | null = null;
  private inflight: Promise<void> | null = null;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private failingSince = 0;
  private lastFailLog = 0;
  private dropsUnlogged = 0;
  private lastDropLog = 0;
  private dropLogTimer: NodeJS.Timeout | null = null;
  private closed = false;

  /** Opens (or creates) the spool in `o.dir` and starts delivering what a previous run left. */
  constructor(sink: AlertSink, o: SpoolOptions) {
    this.sink = sink;
    this.dir = o.dir;
    this.maxEvents = Math.max(1, o.maxEvents ?? 10_000);
    this.maxBytes = Math.max(1, o.maxBytes ?? 16 * 1024 * 1024);
    this.segmentBytes = Math.max(1, o.segmentBytes ?? 256 * 1024);
    this.retryBaseMs = Math.max(1, o.retryBaseMs ?? 1000);
    this.retryMaxMs = Math.max(this.retryBaseMs, o.retryMaxMs ?? 300_000);
    this.log = o.log ?? silent;
    this.onDiskTrouble = o.onDiskTrouble ?? (() => {});
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const key = resolve(this.dir);
    if (openHere.has(key)) throw new SpoolLockedError(`alert spool ${this.dir} is already open in this process`);
    lock(this.dir);
    openHere.add(key);
    this.persistedCursor = this.load();
    this.enforceBound();
    if (this.queued > 0) this.log.info({ sink: sink.name, pending: this.queued }, 'alert spool: delivering events left by the previous run');
    this.pump();
  }

  get queued(): number {
    return this.q.length - this.qHead;
  }

  stats(): SpoolStats {
    return { sink: this.sink.name, ...this.counters, queued: this.queued, queuedBytes: this.bytes, lastError: this.lastError };
  }

  /** Queues one event: on disk within a moment, delivered after everything before it. */
  enqueue(e: SecurityEvent): void {
    if (this.closed) {
      this.log.error({ sink: this.sink.name, id: e.id, type: e.type }, 'alert spool is closed: event not queued');
      return;
    }
    const line = JSON.stringify(e);
    const bytes = Buffer.byteLength(line);
    if (bytes > this.maxBytes) {
      this.counters.droppedOverflow++;
      this.log.error({ sink: this.sink.name, id: e.id, type: e.type, bytes, maxBytes: this.maxBytes }, 'alert spool: event larger than the whole spool, dropped');
      return;
    }
    const r: Rec = { seq: this.nextSeq++, line, bytes, ready: false };
    this.q.push(r);
    this.bytes += bytes;
    this.unwritten.push(r);
    this.enforceBound();
    this.writing ??= this.writeLoop();
  }

  /**
   * Waits until everything queued is delivered (true) or `timeoutMs` passes (false: the rest stays
   * on disk for the next start). A pending retry is brought forward once.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.pump();
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.queued === 0 && this.writing === null) {
        await this.persistCursor();
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops delivering, finishes disk writes and records progress. Pending events stay on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.dropLogTimer !== null) clearTimeout(this.dropLogTimer);
    this.dropLogTimer = null;
    this.logDrops();
    // An attempt under way ends within the sink's own timeout; its outcome is worth recording.
    if (this.inflight !== null) await this.inflight;
    while (this.writing !== null) await this.writing;
    await this.persistCursor();
    if (this.current !== null) {
      await this.current.fh.close().catch(() => {});
      this.current = null;
    }
    await this.sink.close().catch((err: unknown) => this.log.warn({ sink: this.sink.name, err }, 'alert sink did not close cleanly'));
    rmSync(join(this.dir, 'lock'), { force: true });
    openHere.delete(resolve(this.dir));
  }

  // ---- disk ----

  /** Reads the cursor and the segments; fills the queue with what is still pending; returns the cursor. */
  private load(): number {
    const cursor = this.readCursor();
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch (err) {
      this.log.error({ sink: this.sink.name, dir: this.dir, err }, 'alert spool: cannot list its directory; starting empty');
      this.nextSeq = cursor;
      return cursor;
    }
    let lastSeq = -1;
    for (const f of files.filter((x) => SEGMENT.test(x)).sort()) {
      const seg: Segment = { file: f, last: -1 };
      this.segments.push(seg);
      let text: string;
      try {
        text = readFileSync(join(this.dir, f), 'utf8');
      } catch (err) {
        this.log.error({ sink: this.sink.name, file: f, err }, 'alert spool: cannot read a segment; its events are skipped');
        continue;
      }
      const lines = text.split('\n');
      const torn = lines.pop() !== ''; // the last piece follows the final newline: empty unless a write was cut
      let bad = 0;
      for (const l of lines) {
        if (l === '') continue;
        let rec: unknown;
        try {
          rec = JSON.parse(l);
        } catch {
          bad++;
          continue;
        }
        const o = rec as { seq?: unknown; event?: unknown };
        if (rec === null || typeof rec !== 'object' || typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq <= lastSeq || !isEventLike(o.event)) {
          bad++;
          continue;
        }
        lastSeq = o.seq;
        seg.last = o.seq;
        if (o.seq < cursor) continue; // delivered before the restart
        const line = JSON.stringify(o.event);
        const r: Rec = { seq: o.seq, line, bytes: Buffer.byteLength(line), ready: true };
        this.q.push(r);
        this.bytes += r.bytes;
      }
      if (torn) {
        this.counters.corrupt++;
        this.log.warn({ sink: this.sink.name, file: f }, 'alert spool: incomplete last line (interrupted write) skipped');
      }
      if (bad > 0) {
        this.counters.corrupt += bad;
        this.log.warn({ sink: this.sink.name, file: f, records: bad }, 'alert spool: damaged records skipped');
      }
    }
    this.nextSeq = Math.max(lastSeq + 1, cursor);
    // Temp files of cursor writes a crash interrupted.
    for (const f of files) if (f.startsWith('cursor.json.tmp-')) rmSync(join(this.dir, f), { force: true });
    this.sweepSegments(cursor, true);
    return cursor;
  }

  private readCursor(): number {
    let text: string;
    try {
      text = readFileSync(join(this.dir, 'cursor.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ sink: this.sink.name, err }, 'alert spool: cannot read cursor.json; redelivering everything on disk');
      return 0;
    }
    try {
      const c = JSON.parse(text) as { format?: unknown; next?: unknown };
      if (c.format === CURSOR_FORMAT && typeof c.next === 'number' && Number.isSafeInteger(c.next) && c.next >= 0) return c.next;
    } catch {
      // Reported below.
    }
    this.counters.corrupt++;
    this.log.warn({ sink: this.sink.name }, 'alert spool: cursor.json is damaged; redelivering everything on disk (duplicates, not losses)');
    return 0;
  }

  /** Appends what enqueue() gathered, one fsync per batch, until nothing is left. */
  private async writeLoop(): Promise<void> {
    // Let the current tick's events join the batch.
    await new Promise((r) => setImmediate(r));
    while (this.unwritten.length > 0) {
      const batch = this.unwritten;
      this.unwritten = [];
      try {
        await this.append(batch);
        if (this.diskFailing) {
          this.diskFailing = false;
          this.onDiskTrouble(null);
        }
      } catch (err) {
        this.diskFailing = true;
        this.onDiskTrouble(err);
        this.counters.writeErrors++;
        this.log.error({ sink: this.sink.name, dir: this.dir, err, events: batch.length }, 'alert spool: cannot write to disk; delivering these events from memory only');
        const cur = this.current;
        this.current = null; // the next batch starts a fresh segment rather than after a torn line
        if (cur !== null) await cur.fh.close().catch(() => {});
      }
      for (const r of batch) r.ready = true;
      this.pump();
    }
    this.writing = null;
  }

  private async append(batch: Rec[]): Promise<void> {
    if (this.current === null || this.current.bytes >= this.segmentBytes) {
      const old = this.current;
      this.current = null;
      if (old !== null) await old.fh.close();
      const seg: Segment = { file: segmentName(batch[0]!.seq), last: -1 };
      this.segments.push(seg);
      const fh = await open(join(this.dir, seg.file), 'a', 0o600);
      this.current = { seg, fh, bytes: 0 };
      await syncDir(this.dir);
    }
    const cur = this.current;
    const data = batch.map((r) => `{"seq":${r.seq},"event":${r.line}}\n`).join('');
    await cur.fh.appendFile(data);
    await cur.fh.datasync();
    cur.bytes += Buffer.byteLength(data);
    cur.seg.last = batch[batch.length - 1]!.seq;
  }

  private cursorValue(): number {
    return this.queued > 0 ? this.q[this.qHead]!.seq : this.nextSeq;
  }

  /** Records progress (coalesced: one write at a time, the latest value wins), then removes finished segments. */
  private persistCursor(): Promise<void> {
    if (this.cursorWriting !== null) return this.cursorWriting;
    if (this.cursorValue() === this.persistedCursor) return Promise.resolve();
    this.cursorWriting = (async () => {
      while (this.cursorValue() !== this.persistedCursor) {
        const next = this.cursorValue();
        const path = join(this.dir, 'cursor.json');
        try {
          // No fsync: a cursor lost in a crash means duplicate deliveries, never lost events.
          await writeFileAtomicAsync(path, `${JSON.stringify({ format: CURSOR_FORMAT, next })}\n`, false);
          this.persistedCursor = next;
        } catch (err) {
          this.log.error({ sink: this.sink.name, err }, 'alert spool: cannot record delivery progress; delivered events may be sent again after a restart');
          break;
        }
        this.sweepSegments(next, false);
      }
      this.cursorWriting = null;
    })();
    return this.cursorWriting;
  }

  /** Removes segments whose every record is below the cursor (never the one being appended to). */
  private sweepSegments(cursor: number, atLoad: boolean): void {
    this.segments = this.segments.filter((s) => {
      if (s === this.current?.seg || s.last >= cursor) return true;
      // An empty segment is only removable at load: at run time it may be about to receive its first batch.
      if (s.last === -1 && !atLoad) return true;
      try {
        rmSync(join(this.dir, s.file), { force: true });
        return false;
      } catch (err) {
        this.log.warn({ sink: this.sink.name, file: s.file, err }, 'alert spool: cannot remove a delivered segment');
        return true;
      }
    });
  }

  // ---- delivery ----

  private pump(): void {
    if (this.closed || this.sending !== null || this.retryTimer !== null) return;
    const r = this.q[this.qHead];
    if (r === undefined || !r.ready) return;
    let ev: SecurityEvent;
    try {
      ev = JSON.parse(r.line) as SecurityEvent;
    } catch {
      // Cannot happen for what enqueue() serialised; never let one record block the rest.
      this.counters.corrupt++;
      this.removeHead();
      this.pump();
      return;
    }
    this.sending = r;
    let p: Promise<void>;
    try {
      p = this.sink.send(ev);
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.inflight = p.then(
      () => this.delivered(r),
      (err: unknown) => this.failed(err),
    );
  }

  private delivered(r: Rec): void {
    this.sending = null;
    this.inflight = null;
    if (this.q[this.qHead] === r) this.removeHead(); // the head is never dropped while in flight
    this.counters.sent++;
    this.lastError = null;
    if (this.attempt > 0) {
      this.log.info({ sink: this.sink.name, failedAttempts: this.attempt, outageMs: Date.now() - this.failingSince, pending: this.queued }, 'alert sink reachable again: delivering');
    }
    this.attempt = 0;
    void this.persistCursor();
    this.pump();
  }

  private failed(err: unknown): void {
    this.sending = null;
    this.inflight = null;
    this.counters.failedAttempts++;
    this.attempt++;
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    const now = Date.now();
    if (this.attempt === 1) {
      this.failingSince = now;
      this.lastFailLog = now;
      this.log.warn({ sink: this.sink.name, err: message, pending: this.queued }, 'alert delivery failed: retrying with backoff');
    } else if (now - this.lastFailLog >= LOG_EVERY_MS) {
      this.lastFailLog = now;
      this.log.warn({ sink: this.sink.name, err: message, failedAttempts: this.attempt, pending: this.queued }, 'alert delivery still failing');
    }
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, this.backoff(this.attempt));
    this.retryTimer.unref();
  }

  /** Capped exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
  private backoff(attempt: number): number {
    const d = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(attempt - 1, 30));
    return d / 2 + Math.random() * (d / 2);
  }

  // ---- the bound ----

  private removeHead(): void {
    const r = this.q[this.qHead]!;
    this.q[this.qHead] = undefined;
    this.qHead++;
    this.bytes -= r.bytes;
    if (this.qHead > 1024 && this.qHead * 2 > this.q.length) {
      this.q = this.q.slice(this.qHead);
      this.qHead = 0;
    }
  }

  /** Drops the oldest pending events (except one in flight) until within both bounds. */
  private enforceBound(): void {
    let dropped = 0;
    while (this.queued > this.maxEvents || this.bytes > this.maxBytes) {
      const head = this.q[this.qHead]!;
      if (head !== this.sending) {
        this.removeHead();
      } else {
        if (this.queued < 2) break;
        const victim = this.q[this.qHead + 1]!;
        this.q.splice(this.qHead + 1, 1);
        this.bytes -= victim.bytes;
      }
      dropped++;
    }
    if (dropped === 0) return;
    this.counters.droppedOverflow += dropped;
    this.dropsUnlogged += dropped;
    void this.persistCursor();
    // Logged at once, then at most once a minute while it lasts, so a flood cannot flood the log.
    if (Date.now() - this.lastDropLog >= LOG_EVERY_MS) this.logDrops();
    else if (this.dropLogTimer === null) {
      this.dropLogTimer = setTimeout(() => {
        this.dropLogTimer = null;
        this.logDrops();
      }, LOG_EVERY_MS);
      this.dropLogTimer.unref();
    }
  }

  private logDrops(): void {
    if (this.dropsUnlogged === 0) return;
    this.log.error(
      { sink: this.sink.name, dropped: this.dropsUnlogged, droppedTotal: this.counters.droppedOverflow, maxEvents: this.maxEvents, maxBytes: this.maxBytes, lastError: this.lastError },
      'alert spool full: oldest undelivered events dropped',
    );
    this.dropsUnlogged = 0;
    this.lastDropLog = Date.now();
  }
}

/**
 * Takes the spool's lock file, or throws SpoolLockedError when a live process holds it. Interleaved
 * appends and cursor writes from two processes would deliver some events twice and skip others.
 * A lock left by a dead process (or by this pid in an earlier life, as in containers) is taken over.
 */
function lock(dir: string): void {
  const path = join(dir, 'lock');
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {
      // Unreadable: treated as stale below.
    }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new SpoolLockedError(`alert spool ${dir} is in use by process ${pid}; one process per spool (remove ${path} if that process is not c2dns)`);
    }
    rmSync(path, { force: true });
  }
  throw new SpoolLockedError(`alert spool ${dir}: cannot take the lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Makes a new file's directory entry durable; not possible everywhere (Windows), then skipped. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // EISDIR/EPERM on platforms that cannot fsync a directory.
  }
}
