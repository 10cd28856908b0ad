// Keeps every answered query in compact segment files (format: ./format.ts) so a name that is
// blocked later can be searched for in the past ("who resolved it before we knew?").
//
// onQuery runs on the answering path, so it only copies a few numbers into a preallocated batch:
// table lookups for the name, client, answer and action, sixteen byte stores. Batches go to disk
// asynchronously (one write in flight at a time, on a timer or when a batch fills). The memory
// waiting for the disk is bounded by maxBufferedRecords: when the disk is slow or failing, new
// records are dropped and counted, and answering never waits.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import { queryName } from '../observe/name-slots.js';
import { firstAddress } from './answer.js';
import {
  closedSegmentName,
  encodeHeader,
  FRAME_RECORDS,
  FRAME_STRINGS,
  KIND_ACTION,
  KIND_ANSWER,
  KIND_CLIENT,
  KIND_NAME,
  MAX_ACTIONS,
  MAX_ANSWERS,
  MAX_CLIENTS,
  MAX_NAMES,
  openSegmentName,
  parseSegmentNames,
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

export interface HistoryRecorderOptions {
  dir: string;
  retentionDays?: number;
  segmentMinutes?: number;
  maxBufferedRecords?: number;
  /** Disk trouble (write, compression, retention); reported at most once a minute. */
  onError?: (err: unknown, what: string) => void;
  /** Clock for retention and idle rotation (tests, the benchmark's synthetic time). */
  now?: () => number;
  /** How often the pending batch is written out. */
  flushMs?: number;
  /** Records per batch (one write). */
  batchRecords?: number;
  /** gzip segments when they close (default true). */
  compress?: boolean;
  /** Rotate a segment after this many records even inside its time slot (bounds a hunt's memory per segment). */
  maxSegmentRecords?: number;
  /**
   * …or this many distinct names (default 100,000): the name table is the recorder's main memory
   * (a name's bytes plus ~24 bytes of index), ~5 MiB at most. It grows through a segment and is
   * freed only when the segment closes, so a stream of new names (the soak) would otherwise make
   * memory climb for the segment's whole hour.
   */
  maxSegmentNames?: number;
}

export interface HistoryStats {
  /** Records written to disk. */
  recorded: number;
  /** Records lost: buffer full, or their segment's write failed. */
  dropped: number;
  /** Records waiting for the disk. */
  buffered: number;
  writeErrors: number;
}

interface Segment {
  readonly start: number;
  readonly slotEnd: number;
  readonly tag: string;
  readonly path: string;
  readonly names: NameTable;
  readonly clients: Map<string, number>;
  /**
   * The last client looked up and its id: queries come in runs from one client, and the address
   * text is a new string per query, so a Map lookup hashes it (~300 instructions) when no one
   * has yet; comparing with the last one's text is ~40.
   */
  lastClient: string | null;
  lastClientId: number;
  /** IPv4 as a signed 32-bit number (a small integer to V8: no allocation), IPv6 as 16 latin1 characters: no per-query formatting. */
  readonly answers: Map<number | string, number>;
  readonly actions: Map<string, number>;
  /**
   * The last action and answer looked up, and their ids: runs of one action (the same constant
   * string) and one answer (a blocked name's 0.0.0.0) are the rule; a Map lookup is ~80 instructions.
   */
  lastAction: string | null;
  lastActionId: number;
  lastAnswer: number | string | null;
  lastAnswerId: number;
  records: number;
  lastTime: number;
  appendedSinceTick: number;
  fh: FileHandle | null;
  failed: boolean;
}

interface Batch {
  readonly seg: Segment;
  /** RECORD_LEN planes of `cap` bytes (see format.ts). */
  readonly planes: Buffer;
  readonly cap: number;
  n: number;
  /** Names first seen in this batch: ids [namesFrom, namesTo) of the segment's table. */
  readonly namesFrom: number;
  namesTo: number;
  readonly newClients: string[];
  readonly newAnswers: Uint8Array[];
  readonly newActions: string[];
  /** The segment ends with this batch: close the file and compress it. */
  closeAfter: boolean;
}

const DAY_MS = 86_400_000;
const SWEEP_EVERY_MS = 3_600_000;
const ERROR_REPORT_MS = 60_000;
/**
 * gzip level of closed segments. Compressing runs on the resolver's core: at level 6 it was ~4,400
 * instructions a record when every query asks a new name (a 1M-name list: the name text is most
 * of a segment), more than recording it; level 1 takes about a third of that, for ~8.5 % more
 * bytes on disk with bench/hunt.mjs's traffic (13.4 -> 14.5 bytes a query; ~35 % when every name is new).
 */
const GZIP_LEVEL = 1;
let tagCounter = 0;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export class HistoryRecorder implements QueryObserver {
  readonly dir: string;
  private readonly retentionMs: number;
  private readonly slotMs: number;
  private readonly maxBuffered: number;
  private readonly batchRecords: number;
  private readonly maxSegmentRecords: number;
  private readonly maxSegmentNames: number;
  private readonly compressClosed: boolean;
  private readonly now: () => number;
  private readonly onError: (err: unknown, what: string) => void;
  private readonly tagBase = randomBytes(3).toString('hex');

  private seg: Segment | null = null;
  private batch: Batch | null = null;
  private readonly queue: Batch[] = [];
  private draining: Promise<void> | null = null;
  private readonly background = new Set<Promise<void>>();
  private readonly compressing = new Set<string>();
  private sweeping = false;
  private lastSweep = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Per kind of error ("write", "retention"…): when it was last reported, and how many since were not. */
  private readonly errorReports = new Map<string, { at: number; suppressed: number }>();

  private recorded = 0;
  private dropped = 0;
  private buffered = 0;
  private writeErrors = 0;

  constructor(o: HistoryRecorderOptions) {
    this.dir = o.dir;
    this.retentionMs = (o.retentionDays ?? 30) * DAY_MS;
    this.slotMs = (o.segmentMinutes ?? 60) * 60_000;
    this.maxBuffered = o.maxBufferedRecords ?? 100_000;
    this.batchRecords = Math.max(1, Math.min(o.batchRecords ?? 4096, this.maxBuffered));
    this.maxSegmentRecords = o.maxSegmentRecords ?? 4_000_000;
    this.maxSegmentNames = Math.min(o.maxSegmentNames ?? 100_000, MAX_NAMES);
    this.compressClosed = o.compress ?? true;
    this.now = o.now ?? Date.now;
    this.onError = o.onError ?? (() => {});
    this.timer = setInterval(() => this.tick(), o.flushMs ?? 1000);
    this.timer.unref();
    this.runSweep(); // leftovers of a previous run: compress them, apply retention
  }

  stats(): HistoryStats {
    return { recorded: this.recorded, dropped: this.dropped, buffered: this.buffered, writeErrors: this.writeErrors };
  }

  onQuery(e: QueryEvent): void {
    if (this.closed) return;
    try {
      const reply = e.reply;
      const at = reply !== null && e.rcode === 0 ? firstAddress(reply) : -1;
      if (at < 0) this.append(e.time, e.client, e.qname, e.qtype, e.action, e.rcode, null, 0, 0);
      else this.append(e.time, e.client, e.qname, e.qtype, e.action, e.rcode, reply, at >>> 5, at & 31);
    } catch (err) {
      // Never let history break answering; a record lost is counted.
      this.dropped++;
      this.report(err, 'record');
    }
  }

  /**
   * One record without a DNS message (the benchmark, tests, imports): `answer` is the raw 4- or
   * 16-byte first address, or null. Returns false when the record was dropped (buffer full, closed).
   */
  record(time: number, client: string, qname: string, qtype: number, action: string, rcode: number, answer: Uint8Array | null): boolean {
    if (this.closed) return false;
    const len = answer !== null && (answer.length === 4 || answer.length === 16) ? answer.length : 0;
    return this.append(time, client, qname, qtype, action, rcode, len === 0 ? null : answer, 0, len);
  }

  /** Writes out everything recorded so far (the open segment stays open). */
  async flush(): Promise<void> {
    this.seal(false);
    await this.idle();
  }

  /** Flushes, closes and compresses the open segment, waits for background work. Later queries are ignored. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      this.endSegment();
      await this.idle();
      while (this.background.size > 0) await Promise.all([...this.background]);
    })();
    return this.closing;
  }

  private append(time: number, client: string, qname: string, qtype: number, action: string, rcode: number, src: Uint8Array | null, aoff: number, alen: number): boolean {
    if (this.buffered >= this.maxBuffered) {
      this.dropped++;
      return false;
    }
    const t = Number.isFinite(time) ? Math.floor(time) : Math.floor(this.now());
    let seg = this.seg;
    if (
      seg === null ||
      seg.failed ||
      t < seg.start || // the clock stepped back: a new segment for the earlier slot
      t >= seg.slotEnd ||
      seg.records >= this.maxSegmentRecords ||
      seg.names.size >= this.maxSegmentNames ||
      seg.clients.size >= MAX_CLIENTS ||
      seg.answers.size >= MAX_ANSWERS ||
      seg.actions.size >= MAX_ACTIONS
    ) {
      seg = this.startSegment(t);
    }
    let b = this.batch;
    if (b === null) b = this.batch = this.newBatch(seg);

    const nameId = seg.names.id(qname);
    if (nameId >= b.namesTo) b.namesTo = nameId + 1;
    let clientId = client === seg.lastClient ? seg.lastClientId : seg.clients.get(client);
    if (clientId === undefined) {
      clientId = seg.clients.size;
      seg.clients.set(client, clientId);
      b.newClients.push(client);
    }
    seg.lastClient = client;
    seg.lastClientId = clientId;
    let actionId = action === seg.lastAction ? seg.lastActionId : seg.actions.get(action);
    if (actionId === undefined) {
      actionId = seg.actions.size;
      seg.actions.set(action, actionId);
      b.newActions.push(action);
    }
    seg.lastAction = action;
    seg.lastActionId = actionId;
    let answer = 0;
    if (src !== null && alen !== 0) {
      const key: number | string =
        alen === 4 ? (src[aoff]! << 24) | (src[aoff + 1]! << 16) | (src[aoff + 2]! << 8) | src[aoff + 3]! : asBuffer(src).toString('latin1', aoff, aoff + 16);
      let id = key === seg.lastAnswer ? seg.lastAnswerId : seg.answers.get(key);
      if (id === undefined) {
        id = seg.answers.size;
        seg.answers.set(key, id);
        b.newAnswers.push(Uint8Array.prototype.slice.call(src, aoff, aoff + alen));
      }
      seg.lastAnswer = key;
      seg.lastAnswerId = id;
      answer = id + 1;
    }

    const p = b.planes;
    const c = b.cap;
    const i = b.n++;
    const dt = t - seg.start;
    p[P_TIME * c + i] = dt;
    p[(P_TIME + 1) * c + i] = dt >>> 8;
    p[(P_TIME + 2) * c + i] = dt >>> 16;
    p[(P_TIME + 3) * c + i] = dt >>> 24;
    p[P_NAME * c + i] = nameId;
    p[(P_NAME + 1) * c + i] = nameId >>> 8;
    p[(P_NAME + 2) * c + i] = nameId >>> 16;
    p[P_CLIENT * c + i] = clientId;
    p[(P_CLIENT + 1) * c + i] = clientId >>> 8;
    p[P_ANSWER * c + i] = answer;
    p[(P_ANSWER + 1) * c + i] = answer >>> 8;
    p[(P_ANSWER + 2) * c + i] = answer >>> 16;
    p[P_QTYPE * c + i] = qtype;
    p[(P_QTYPE + 1) * c + i] = qtype >>> 8;
    p[P_RCODE * c + i] = rcode < 0 || rcode >= RCODE_NONE ? RCODE_NONE : rcode;
    p[P_ACTION * c + i] = actionId;

    seg.records++;
    seg.appendedSinceTick++;
    if (t > seg.lastTime) seg.lastTime = t;
    this.buffered++;
    if (b.n === b.cap) this.seal(false);
    return true;
  }

  private newBatch(seg: Segment): Batch {
    const cap = this.batchRecords;
    const n = seg.names.size;
    return { seg, planes: Buffer.allocUnsafe(cap * RECORD_LEN), cap, n: 0, namesFrom: n, namesTo: n, newClients: [], newAnswers: [], newActions: [], closeAfter: false };
  }

  private startSegment(t: number): Segment {
    this.endSegment();
    const start = Math.floor(t / this.slotMs) * this.slotMs;
    const tag = `${this.tagBase}${(tagCounter++).toString(36)}`;
    const seg: Segment = {
      start,
      slotEnd: start + this.slotMs,
      tag,
      path: join(this.dir, openSegmentName(start, tag)),
      names: new NameTable(),
      clients: new Map(),
      lastClient: null,
      lastClientId: 0,
      answers: new Map(),
      actions: new Map(),
      lastAction: null,
      lastActionId: 0,
      lastAnswer: null,
      lastAnswerId: 0,
      records: 0,
      lastTime: start,
      appendedSinceTick: 0,
      fh: null,
      failed: false,
    };
    this.seg = seg;
    if (this.lastSweep !== 0) this.runSweep(); // retention follows rotation (skipped if one is running)
    return seg;
  }

  /** Queues the open segment's last batch with the instruction to close it. */
  private endSegment(): void {
    const seg = this.seg;
    if (seg === null) return;
    this.seg = null;
    const b = this.batch !== null && this.batch.seg === seg ? this.batch : this.newBatch(seg);
    this.batch = null;
    b.closeAfter = true;
    this.queue.push(b);
    this.kick();
  }

  /** Queues the pending batch for writing. */
  private seal(closeAfter: boolean): void {
    const b = this.batch;
    if (b === null) return;
    if (b.n === 0 && !closeAfter) return;
    this.batch = null;
    b.closeAfter = closeAfter;
    this.queue.push(b);
    this.kick();
  }

  private tick(): void {
    const seg = this.seg;
    // A segment whose slot is over and that saw no query since the last tick is closed now, so
    // a quiet resolver does not leave its last segment open (and uncompressed) for hours.
    if (seg !== null && seg.appendedSinceTick === 0 && this.now() >= seg.slotEnd) this.endSegment();
    else this.seal(false);
    if (seg !== null) seg.appendedSinceTick = 0;
    if (this.now() - this.lastSweep >= SWEEP_EVERY_MS) this.runSweep();
  }

  private kick(): void {
    if (this.draining !== null) return;
    this.draining = this.drain()
      .catch((err: unknown) => this.report(err, 'write'))
      .finally(() => {
        this.draining = null;
        if (this.queue.length > 0) this.kick();
      });
  }

  private async idle(): Promise<void> {
    while (this.draining !== null || this.queue.length > 0) {
      if (this.draining === null) this.kick();
      await this.draining;
    }
  }

  private async drain(): Promise<void> {
    for (let b = this.queue.shift(); b !== undefined; b = this.queue.shift()) {
      await this.write(b);
      this.buffered -= b.n;
      if (b.closeAfter) await this.finish(b.seg);
    }
  }

  private async write(b: Batch): Promise<void> {
    const seg = b.seg;
    if (seg.failed) {
      this.dropped += b.n; // its string ids may refer to a frame that never made it to disk
      return;
    }
    if (b.n === 0 && seg.fh === null) return; // nothing was ever written: no empty file
    try {
      const bufs: Buffer[] = [];
      if (seg.fh === null) {
        await mkdir(this.dir, { recursive: true });
        seg.fh = await open(seg.path, 'a');
        bufs.push(encodeHeader(seg.start));
      }
      if (b.namesTo > b.namesFrom) bufs.push(seg.names.frame(KIND_NAME, b.namesFrom, b.namesTo));
      if (b.newClients.length > 0) bufs.push(stringsFrame(KIND_CLIENT, b.newClients));
      if (b.newActions.length > 0) bufs.push(stringsFrame(KIND_ACTION, b.newActions));
      if (b.newAnswers.length > 0) bufs.push(bytesFrame(KIND_ANSWER, b.newAnswers));
      if (b.n > 0) {
        const head = Buffer.allocUnsafe(9);
        head[0] = FRAME_RECORDS;
        head.writeUInt32LE(4 + b.n * RECORD_LEN, 1);
        head.writeUInt32LE(b.n, 5);
        bufs.push(head);
        for (let k = 0; k < RECORD_LEN; k++) bufs.push(b.planes.subarray(k * b.cap, k * b.cap + b.n));
      }
      let total = 0;
      for (const x of bufs) total += x.length;
      const { bytesWritten } = await seg.fh.writev(bufs);
      if (bytesWritten !== total) throw new Error(`short write to ${seg.path}: ${bytesWritten} of ${total} bytes`);
      this.recorded += b.n;
    } catch (err) {
      seg.failed = true;
      this.writeErrors++;
      this.dropped += b.n;
      this.report(err, 'write');
    }
  }

  private async finish(seg: Segment): Promise<void> {
    const fh = seg.fh;
    if (fh === null) return;
    seg.fh = null;
    try {
      await fh.close();
    } catch (err) {
      this.report(err, 'close');
    }
    if (seg.lastTime < this.now() - this.retentionMs) {
      // Already past retention (old records imported, a clock far off): not worth compressing.
      await unlink(seg.path).catch((err: unknown) => this.report(err, 'retention'));
      return;
    }
    // A failed segment stays raw (readable up to its last good frame); the sweep retries later.
    if (!seg.failed && this.compressClosed) this.track(this.compress(seg.path, seg.start, seg.tag, seg.lastTime));
  }

  private track(work: Promise<void>): void {
    const p = work.catch((err: unknown) => this.report(err, 'background'));
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private async compress(path: string, start: number, tag: string, end: number): Promise<void> {
    if (this.compressing.has(path)) return;
    this.compressing.add(path);
    const final = join(this.dir, closedSegmentName(start, tag, end));
    const tmp = `${final}.tmp`;
    try {
      await pipeline(createReadStream(path), createGzip({ level: GZIP_LEVEL }), createWriteStream(tmp));
      await rename(tmp, final);
      await unlink(path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      this.report(err, 'compress');
    } finally {
      this.compressing.delete(path);
    }
  }

  private runSweep(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    this.lastSweep = this.now();
    this.track(
      this.sweep().finally(() => {
        this.sweeping = false;
      }),
    );
  }

  /**
   * Retention (segments whose last record is older than retentionDays) and leftovers: raw
   * segments no writer is using any more (a crash, a failed write) are compressed once their slot
   * is well over; temporary files of an interrupted compression are removed.
   */
  private async sweep(): Promise<void> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.report(err, 'retention');
      return;
    }
    const now = this.now();
    const cutoff = now - this.retentionMs;
    const current = this.seg?.path;
    for (const s of parseSegmentNames(files)) {
      const path = join(this.dir, s.file);
      try {
        if (s.closed) {
          if (s.end < cutoff) await unlink(path);
          continue;
        }
        if (path === current || this.compressing.has(path) || this.queue.some((b) => b.seg.path === path)) continue;
        const mtime = (await stat(path)).mtimeMs;
        if (mtime < cutoff) await unlink(path);
        else if (this.compressClosed && now >= s.start + this.slotMs + 5 * 60_000 && Date.now() - mtime > 5 * 60_000) {
          await this.compress(path, s.start, s.tag, Math.max(s.start, Math.floor(mtime)));
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.report(err, 'retention');
      }
    }
    for (const f of files) {
      if (!f.endsWith('.c2h.gz.tmp')) continue;
      const path = join(this.dir, f);
      if (this.compressing.has(path.slice(0, -'.tmp'.length))) continue;
      try {
        if (Date.now() - (await stat(path)).mtimeMs > 3_600_000) await unlink(path);
      } catch {
        // Gone already.
      }
    }
  }

  /** At most one report per kind of error a minute, so a housekeeping error never hides a write error. */
  private report(err: unknown, what: string): void {
    const t = Date.now();
    const last = this.errorReports.get(what);
    if (last !== undefined && t - last.at < ERROR_REPORT_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.errorReports.set(what, { at: t, suppressed: 0 });
    try {
      this.onError(err, suppressed > 0 ? `${what} (${suppressed} similar errors not reported in the last minute)` : what);
    } catch {
      // The reporter itself failed: nothing more to do.
    }
  }
}

/** DNS names are far shorter; the cap only keeps a length that fits in u16 whatever comes in. */
const MAX_STRING = 16_000;

/**
 * A segment's query names, interned with no JS object per name: each name as the strings frame
 * writes it (a u16 length, then its UTF-8 bytes, capped at MAX_STRING) in one buffer, so a
 * frame of new names is one copy of that buffer's tail, not a Buffer#copy per name (id + frame
 * of 200k new names, both versions in turns in one process: ~640 -> ~380 ns a name); found again through an
 * open-addressing table of 32-bit hashes. With a Map, every new name kept its string and a Map
 * entry, and a 1M-name list blocked name by name cost ~2 µs a query in the growing Map and the
 * GC (bench/observer-cost.mjs). Names with a character beyond ASCII, or longer than
 * MAX_ASCII_NAME (neither occurs in DNS names as the parser gives them), go through a Map instead.
 */
export class NameTable {
  size = 0;
  /** Per slot: id + 1, 0 when empty; a power of two, at most half full. */
  private slots: Int32Array = new Int32Array(1024);
  /** Per id: the name's hash, and where its bytes start (after its length; ends[id] where they end). */
  private hashes: Int32Array = new Int32Array(512);
  private starts: Int32Array = new Int32Array(512);
  private ends: Int32Array = new Int32Array(512);
  private bytes = Buffer.allocUnsafe(16 * 1024);
  /** `bytes` for reading four at a time (equals). */
  private view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
  private used = 0;
  private other: Map<string, number> | null = null;

  /** The name's id: the one it has, or the next one (== size before the call) when it is new. */
  id(s: string): number {
    const n = queryName.load(s); // its bytes and hash, read once for every observer of the query
    if (n < 0) return this.otherId(s);
    const h = queryName.hash;
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = slots.length - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const v = slots[k]!;
      if (v === 0) {
        const id = this.add(s, h, n);
        this.slots[this.slotOf(h)] = id + 1; // slotOf: the table may have grown in add()
        return id;
      }
      if (hashes[v - 1] === h && this.equals(v - 1, n)) return v - 1;
    }
  }

  /** The strings frame of names [from, to), as stringsFrame would write them: the names' bytes are laid out as the frame's. */
  frame(kind: number, from: number, to: number): Buffer {
    const a = from < to ? this.starts[from]! - 2 : 0;
    const z = from < to ? this.ends[to - 1]! : 0;
    const out = Buffer.allocUnsafe(10 + z - a);
    out[0] = FRAME_STRINGS;
    out.writeUInt32LE(out.length - 5, 1);
    out[5] = kind;
    out.writeUInt32LE(to - from, 6);
    this.bytes.copy(out, 10, a, z);
    return out;
  }

  /** Whether name `id` is the n bytes queryName holds: four bytes at a time, then the last few. */
  private equals(id: number, n: number): boolean {
    const a = this.starts[id]!;
    if (this.ends[id]! - a !== n) return false;
    const v = this.view;
    const qv = queryName.view;
    const w = n & ~3;
    for (let i = 0; i < w; i += 4) if (v.getInt32(a + i, true) !== qv.getInt32(i, true)) return false;
    const b = this.bytes;
    const q = queryName.bytes;
    for (let i = w; i < n; i++) if (b[a + i] !== q[i]) return false;
    return true;
  }

  private otherId(s: string): number {
    const m = (this.other ??= new Map());
    const id = m.get(s);
    if (id !== undefined) return id;
    const next = this.add(s, 0, -1);
    m.set(s, next);
    return next;
  }

  /** Appends the name's bytes (`ascii` its length when it is plain ASCII and its bytes are queryName's, else -1). */
  private add(s: string, h: number, ascii: number): number {
    const id = this.size;
    if (id === this.hashes.length) {
      this.hashes = grown(this.hashes);
      this.starts = grown(this.starts);
      this.ends = grown(this.ends);
    }
    const text = ascii < 0 && s.length > MAX_STRING ? s.slice(0, MAX_STRING) : s;
    const max = 2 + (ascii < 0 ? text.length * 3 : ascii);
    if (this.used + max > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + max));
      this.bytes.copy(next, 0, 0, this.used);
      this.bytes = next;
      this.view = new DataView(next.buffer, next.byteOffset, next.length);
    }
    const b = this.bytes;
    const start = this.used + 2;
    let p = start;
    if (ascii >= 0) {
      const q = queryName.bytes;
      for (let i = 0; i < ascii; i++) b[p++] = q[i]!;
    }
    else p += b.write(text, p, 'utf8');
    b[start - 2] = p - start; // the frame's u16 length, little-endian
    b[start - 1] = (p - start) >>> 8;
    this.hashes[id] = h;
    this.starts[id] = start;
    this.ends[id] = p;
    this.used = p;
    this.size = id + 1;
    if (ascii >= 0 && this.size * 2 > this.slots.length) this.rehash();
    return id;
  }

  /** The empty slot a hash goes to. */
  private slotOf(h: number): number {
    const mask = this.slots.length - 1;
    let k = h & mask;
    while (this.slots[k] !== 0) k = (k + 1) & mask;
    return k;
  }

  private rehash(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    for (let k = 0; k < old.length; k++) {
      const v = old[k]!;
      if (v !== 0) this.slots[this.slotOf(this.hashes[v - 1]!)] = v;
    }
  }
}

function grown(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function stringsFrame(kind: number, items: readonly string[]): Buffer {
  let max = 10;
  for (const s of items) max += 2 + Math.min(s.length, MAX_STRING) * 3;
  const out = Buffer.allocUnsafe(max);
  out[0] = FRAME_STRINGS;
  out[5] = kind;
  out.writeUInt32LE(items.length, 6);
  let off = 10;
  for (const s of items) {
    // DNS names are far shorter; the cap only keeps a length that fits in u16 whatever comes in.
    const len = out.write(s.length > MAX_STRING ? s.slice(0, MAX_STRING) : s, off + 2, 'utf8');
    out.writeUInt16LE(len, off);
    off += 2 + len;
  }
  out.writeUInt32LE(off - 5, 1);
  return out.subarray(0, off);
}

function bytesFrame(kind: number, items: readonly Uint8Array[]): Buffer {
  let len = 10;
  for (const s of items) len += 2 + s.length;
  const out = Buffer.allocUnsafe(len);
  out[0] = FRAME_STRINGS;
  out.writeUInt32LE(len - 5, 1);
  out[5] = kind;
  out.writeUInt32LE(items.length, 6);
  let off = 10;
  for (const s of items) {
    out.writeUInt16LE(s.length, off);
    out.set(s, off + 2);
    off += 2 + s.length;
  }
  return out;
}
