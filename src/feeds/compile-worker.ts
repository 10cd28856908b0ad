// Compiling a list off the main thread (issue 11: reloading a 1M-name list stalled answering for
// seconds). Decode, parse, guard and intern run in a worker thread. The main thread copies the
// source's bytes and first-seen table a few MiB per event-loop turn and transfers the copies; the
// packed columns come back transferred, wrapped without a copy.
//
// The worker compiles into a copy of the first-seen table: the live rules keep reading the
// original, a rejected update just drops the copy, and an accepted one makes the copy (now with
// the new names) the source's table. This module is also what the worker runs, loaded by WORKER_BOOT.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Guard } from '../blocklist/guard.js';
import { HASH_B, NameTable, type NameTableParts } from '../blocklist/names.js';
import type { ListFormat } from '../blocklist/parsers/index.js';
import { ParseReport } from '../blocklist/parsers/report.js';
import { RuleSet, type RuleSetParts } from '../blocklist/ruleset.js';
import type { ListConfig } from '../config/schema.js';
import { compileSource, compileSourceAsync, type CompiledSource, type RefusedEntry } from './compile.js';
import { decodeFeed, type DecodeOptions } from './decode.js';
import { FeedError, isFeedFailure } from './errors.js';
import { readFirstSeen } from './firstseen-read.js';

/**
 * A source's first-seen table not read yet (a restart): the file it is in, read where the compile
 * runs. In a worker that keeps its ~0.35 s of CPU at 1M names (and the copy for the transfer)
 * off the serving thread.
 */
export interface TableFile {
  file: string;
}

export interface CompileJob {
  /** The source's bytes as acquired; decoded by the compiler. */
  body: Buffer;
  decode: DecodeOptions;
  config: ListConfig;
  guard: Guard;
  /**
   * The source's first-seen table. Left as it is: the result's rules use a copy with the new
   * names. Or the file it is still in: the result's table is then the one read from it.
   */
  table: NameTable | TableFile;
  now: number;
  /**
   * An update compiled while queries are answered: it takes only the CPU answering leaves. The
   * first load, with nothing to answer yet, runs at full priority (a busy machine would slow it).
   */
  background: boolean;
}

/**
 * Compiles a job; the result's `rules.dict` is the table to keep when the result is accepted.
 * `prepare`, where there is one, starts what updates will run in (a thread) ahead of the first.
 */
export type Compiler = ((job: CompileJob) => Promise<CompiledSource>) & { prepare?: () => void };

interface JobMessage {
  body: Uint8Array;
  decode: DecodeOptions;
  config: ListConfig;
  protect: readonly string[];
  table: NameTableParts | TableFile;
  now: number;
}

type ResultMessage =
  | {
      ok: true;
      name: string;
      format: ListFormat;
      rules: RuleSetParts;
      table: NameTableParts;
      report: ParseReport;
      guarded: RefusedEntry[];
      notEnforceable: RefusedEntry[];
    }
  | { ok: false; reason: string | null; message: string };

/** What a worker is started with: the hash seed its tables must share with ours, its priority, the module to run. */
interface StartData {
  c2dnsCompile: true;
  hashB: number;
  /** A thread for updates, compiled while queries are answered: nice 19. */
  background: boolean;
  script: string;
}

/**
 * The worker's first code, before any module of ours is loaded. An update takes what CPU answering
 * leaves: on a core the process shares with it (pinned, or a busy machine), a thread of equal
 * priority would take half the core from the main thread. So the thread goes to nice 19 first and
 * only then loads the compiler: loading it (the parsers, the guard's tables) is ~100-150 ms of CPU,
 * which a nice set in the module's own body ran at full priority. Linux applies
 * setpriority(PRIO_PROCESS, 0) to the calling thread (elsewhere it would renice the whole process,
 * so it is left there); not allowed (a seccomp profile): the compile runs at normal priority.
 */
export const WORKER_BOOT = `'use strict';
const { workerData } = require('node:worker_threads');
if (workerData.background && process.platform === 'linux') {
  try {
    require('node:os').setPriority(19);
  } catch {}
}
import(workerData.script);
`;

/** Same compile, same thread: decode, then compile into a copy of the table between event-loop turns. */
export const inThreadCompiler: Compiler = async (job) => {
  const table = job.table instanceof NameTable ? NameTable.fromParts(structuredClone(job.table.toParts())) : readFirstSeen(job.table.file);
  return compileSourceAsync(decodeFeed(job.body, job.decode), job.config, job.guard, table, job.now);
};

/** Bytes copied per event-loop turn: well under a millisecond of memcpy on an idle core. */
const COPY_CHUNK = 512 << 10;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

type Column = Uint8Array | Uint16Array | Int32Array | Float64Array;

/**
 * A copy of a[0, length) in its own buffer of `capacity` elements, made a chunk per turn (a
 * structured clone copies all at once).
 */
async function copyByTurns<T extends Column>(a: T, length: number, capacity = length): Promise<T> {
  const out = new (a.constructor as new (n: number) => T)(capacity);
  const step = Math.max(1, Math.floor(COPY_CHUNK / a.BYTES_PER_ELEMENT));
  for (let i = 0; i < length; i += step) {
    out.set(a.subarray(i, Math.min(length, i + step)), i);
    if (i + step < length) await turn();
  }
  return out;
}

/**
 * The table's content copied by turns, for a transfer, with room for an update's new names
 * (1/32 more): an update that adds a few percent of names then does not regrow (copy) every
 * column in the worker, which held the old and the grown columns at once.
 */
async function tableCopy(t: NameTable): Promise<NameTableParts> {
  const p = t.toParts();
  const names = p.n + Math.max(1024, p.n >>> 5);
  return {
    ...p,
    values: p.values.slice(),
    buf: await copyByTurns(p.buf, p.used, p.used + Math.max(64 << 10, p.used >>> 5)),
    ends: await copyByTurns(p.ends, p.n, names),
    codes: p.codes === null ? null : await copyByTurns(p.codes, p.n, names),
    full: p.full === null ? null : await copyByTurns(p.full, p.n, names),
    index: p.index === null ? null : await copyByTurns(p.index, p.index.length),
  };
}

/**
 * Workers starting now, whose isolates are made without concurrent recompilation: V8 then runs
 * their optimising compiles on their own thread (at nice 19) instead of on its shared pool of
 * helper threads, which run at the process's priority on the core the main thread answers on.
 * Measured (node /tmp/h18/wk.mjs: one background compile of the 1M list, main idle, CPU per
 * thread): the pool's CPU 200-240 ms -> 20-40 ms a compile. An isolate reads the flag once, when
 * it is made: the main isolate's compiles stay concurrent (node --trace-opt: kConcurrent), so the
 * flag is set back once every worker started with it off is running.
 */
let starting = 0;

function workerStarting(): () => void {
  if (starting++ === 0) v8.setFlagsFromString('--no-concurrent-recompilation');
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--starting === 0) v8.setFlagsFromString('--concurrent-recompilation');
  };
}

/** A job as it is posted to a compile thread, and what goes with it by transfer. */
async function jobMessage(job: CompileJob): Promise<{ message: JobMessage; transfer: ArrayBuffer[] }> {
  // Copies, moved to the worker: the live rules keep reading the originals. A body in shared
  // memory (a local list: readLocalFeed) is read there as it is; nothing writes to it.
  const view = new Uint8Array(job.body.buffer, job.body.byteOffset, job.body.length);
  const shared = view.buffer instanceof SharedArrayBuffer;
  const body = shared ? view : await copyByTurns(view, view.length);
  const table = job.table instanceof NameTable ? await tableCopy(job.table) : job.table;
  return {
    message: { body, decode: job.decode, config: job.config, protect: job.guard.protectedNames, table, now: job.now },
    transfer: [...(shared ? [] : [body.buffer as ArrayBuffer]), ...('file' in table ? [] : NameTable.transferables(table))],
  };
}

function compiled(m: ResultMessage): CompiledSource {
  if (!m.ok) throw m.reason !== null && isFeedFailure(m.reason) ? new FeedError(m.reason, m.message) : new Error(m.message);
  const dict = NameTable.fromParts(m.table);
  const report = Object.assign(new ParseReport(), m.report);
  return { name: m.name, format: m.format, rules: RuleSet.fromParts(dict, m.rules), ips: report.ips, report, guarded: m.guarded, notEnforceable: m.notEnforceable };
}

/**
 * A worker thread that compiles the jobs posted to it, one at a time. Starting one costs a new
 * isolate and Node environment (~30-50 ms of CPU before WORKER_BOOT runs, at the priority of the
 * thread that starts it) and then loading the compiler (parsers, guard tables: ~0.5 s at nice 19).
 * Paid at every SIGHUP that was the main thread's worst wait of a reload, so updates keep one
 * thread for the process's life. It holds no job's data between jobs; idle, it does not keep the
 * process alive.
 */
class CompileThread {
  private readonly worker: Worker;
  private waiting: { resolve: (c: CompiledSource) => void; reject: (err: unknown) => void } | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  /** Why the thread is gone (an error in it, or an exit); a gone thread takes no job. */
  gone: Error | null = null;

  constructor(script: URL, background: boolean) {
    const started = workerStarting();
    const data: StartData = { c2dnsCompile: true, hashB: HASH_B, background, script: script.href };
    try {
      this.worker = new Worker(WORKER_BOOT, { eval: true, workerData: data, stdout: false, stderr: false });
    } catch (err) {
      started();
      throw err;
    }
    this.worker.unref();
    this.worker.once('online', started);
    this.worker.on('message', (m: ResultMessage) => {
      const w = this.waiting;
      this.waiting = null;
      this.worker.unref();
      if (w === null) return;
      try {
        w.resolve(compiled(m));
      } catch (err) {
        w.reject(err);
      }
    });
    this.worker.once('error', (err) => {
      started();
      this.end(err);
    });
    this.worker.once('exit', (code) => {
      started();
      this.end(new Error(`the list compile worker exited with code ${code} before answering`));
    });
  }

  private end(err: Error): void {
    this.gone ??= err;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  /** Compiles `job` after the jobs posted before it. */
  run(job: { message: JobMessage; transfer: ArrayBuffer[] }): Promise<CompiledSource> {
    const result = this.tail.then(
      () =>
        new Promise<CompiledSource>((resolve, reject) => {
          if (this.gone !== null) return reject(this.gone);
          this.waiting = { resolve, reject };
          this.worker.ref(); // a compile in progress keeps the process alive
          this.worker.postMessage(job.message, job.transfer);
        }),
    );
    this.tail = result.catch(() => undefined);
    return result;
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * A compiler that runs jobs in worker threads started from `script` (this module, built): updates
 * (`background`) in one thread kept at nice 19, started by `prepare` (the server calls it once it
 * answers) so no SIGHUP waits for it, and again if it dies; any other job in a thread of its
 * own at normal priority.
 */
export function workerCompiler(script: URL): Compiler {
  let updates: CompileThread | null = null;
  const updateThread = (): CompileThread => {
    if (updates === null || updates.gone !== null) updates = new CompileThread(script, true);
    return updates;
  };
  const compile = async (job: CompileJob): Promise<CompiledSource> => {
    const message = await jobMessage(job);
    if (job.background) return updateThread().run(message);
    const once = new CompileThread(script, false);
    try {
      return await once.run(message);
    } finally {
      void once.close();
    }
  };
  return Object.assign(compile, { prepare: () => void updateThread() });
}

/**
 * Below this many bytes a list is compiled in this thread: starting a worker (a new isolate loading
 * the parsers) costs more than the compile, which is a few slices of the event loop at most.
 */
export const WORKER_MIN_BYTES = 1 << 20;

/**
 * Worker threads for updates (`background`: compiled while queries are answered) of lists of
 * WORKER_MIN_BYTES or more when this module runs as built JavaScript. A start's load, fresh or
 * a restart with a first-seen table to read, compiles in this thread: nothing is answered yet,
 * and a worker only adds its own start (a new isolate loading the parsers, the guard's public-
 * suffix table built again: ~0.5 s of CPU at 1M names, on the one core c2dns is often pinned to).
 * Measured at 1M names, restart with state: CPU until it answers 2.41-2.58 s in a worker, 2.06-
 * 2.08 s here; RSS after ~40 MB more (166-169 -> 194-207 MB, a fresh start's 217 MB is the
 * higher). From the TypeScript sources (the test runner) a worker could not load this module:
 * every compile then runs in this thread.
 */
export function defaultCompiler(): Compiler {
  if (!import.meta.url.endsWith('.js')) return inThreadCompiler;
  const worker = workerCompiler(new URL(import.meta.url));
  const compile = (job: CompileJob): Promise<CompiledSource> => (job.body.length < WORKER_MIN_BYTES || !job.background ? inThreadCompiler(job) : worker(job));
  return Object.assign(compile, { prepare: worker.prepare });
}

/** The guard of the last job: a kept thread builds it again only when the protected names change. */
let lastGuard: { key: string; guard: Guard } | null = null;

function guardFor(protect: readonly string[]): Guard {
  const key = protect.join('\n');
  if (lastGuard?.key !== key) lastGuard = { key, guard: new Guard(protect) };
  return lastGuard.guard;
}

function runJob(j: JobMessage): { message: ResultMessage; transfer: ArrayBuffer[] } {
  try {
    const body = Buffer.from(j.body.buffer, j.body.byteOffset, j.body.byteLength);
    const dict = 'file' in j.table ? readFirstSeen(j.table.file) : NameTable.fromParts(j.table);
    const c = compileSource(decodeFeed(body, j.decode), j.config, guardFor(j.protect), dict, j.now);
    const rules = c.rules.toParts();
    const table = c.rules.dict.toParts();
    const message: ResultMessage = { ok: true, name: c.name, format: c.format, rules, table, report: c.report, guarded: c.guarded, notEnforceable: c.notEnforceable };
    return { message, transfer: [...RuleSet.transferables(rules), ...NameTable.transferables(table)] };
  } catch (err) {
    const e = err as Error;
    return { message: { ok: false, reason: err instanceof FeedError ? err.reason : null, message: e.message ?? String(err) }, transfer: [] };
  }
}

let fullGc: (() => void) | null = null;

/**
 * A kept thread's heap after a compile is mostly garbage (the decoded text, the parse's strings,
 * the tables before the transfer), and nothing allocates there until the next update, so V8 does
 * not collect it: measured at 1M names, the process's RSS stayed ~70 MB higher after each reload
 * (282 vs 211 MB after two) until a full collection here, once the result is posted, gave it
 * back (238). `gc` exists only in a context made while --expose-gc is set: set for that moment.
 */
function collectGarbage(): void {
  if (fullGc === null) {
    v8.setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
    v8.setFlagsFromString('--no-expose-gc');
  }
  fullGc();
}

// In a worker WORKER_BOOT started (and reniced): compile each job posted to it.
if (!isMainThread && parentPort !== null && (workerData as Partial<StartData> | null)?.c2dnsCompile === true) {
  const port = parentPort;
  port.on('message', (j: JobMessage) => {
    const { message, transfer } = runJob(j);
    port.postMessage(message, transfer);
    setImmediate(collectGarbage);
  });
}
