// Compiling a list off the main thread (issue 11: reloading a 1M-name list stalled answering for
// seconds). Decode, parse, guard and intern run in a worker thread, one per compile. The main
// thread copies the source's bytes and first-seen table a few MiB per event-loop turn and
// transfers the copies; the packed columns come back transferred, wrapped without a copy.
//
// The worker compiles into a copy of the first-seen table: the live rules keep reading the
// original, a rejected update just drops the copy, and an accepted one makes the copy (now with
// the new names) the source's table. This module is also what the worker runs, loaded by WORKER_BOOT.
import v8 from 'node:v8';
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

/** Compiles a job; the result's `rules.dict` is the table to keep when the result is accepted. */
export type Compiler = (job: CompileJob) => Promise<CompiledSource>;

interface JobMessage {
  body: Uint8Array;
  decode: DecodeOptions;
  config: ListConfig;
  protect: readonly string[];
  table: NameTableParts | TableFile;
  now: number;
  background: boolean;
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

/** What a worker is started with: the job, the hash seed its tables must share with ours, the module to run. */
interface StartData {
  c2dnsCompile: true;
  hashB: number;
  job: JobMessage;
  script: string;
}

/**
 * The worker's first code, before any module of ours is loaded. An update takes what CPU answering
 * leaves: on a core the process shares with it (pinned, or a busy machine), a thread of equal
 * priority would take half the core from the main thread. So the thread goes to nice 19 first and
 * only then loads the compiler: loading it (the parsers, the guard's tables) is ~100-150 ms of CPU,
 * which a nice set in the module's own body ran at full priority, right after each SIGHUP. Linux
 * applies setpriority(PRIO_PROCESS, 0) to the calling thread (elsewhere it would renice the whole
 * process, so it is left there); not allowed (a seccomp profile): the compile runs at normal priority.
 */
export const WORKER_BOOT = `'use strict';
const { workerData } = require('node:worker_threads');
if (workerData.job.background && process.platform === 'linux') {
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

/** A compiler that runs each job in a new worker thread started from `script` (this module, built). */
export function workerCompiler(script: URL): Compiler {
  return async (job) => {
    // Copies, moved to the worker: the live rules keep reading the originals. A body in shared
    // memory (a local list: readLocalFeed) is read there as it is; nothing writes to it.
    const view = new Uint8Array(job.body.buffer, job.body.byteOffset, job.body.length);
    const shared = view.buffer instanceof SharedArrayBuffer;
    const body = shared ? view : await copyByTurns(view, view.length);
    const table = job.table instanceof NameTable ? await tableCopy(job.table) : job.table;
    const data: StartData = {
      c2dnsCompile: true,
      hashB: HASH_B,
      job: { body, decode: job.decode, config: job.config, protect: job.guard.protectedNames, table, now: job.now, background: job.background },
      script: script.href,
    };
    const transferList = [...(shared ? [] : [body.buffer as ArrayBuffer]), ...('file' in table ? [] : NameTable.transferables(table))];
    return new Promise<CompiledSource>((resolve, reject) => {
      let settled = false;
      const started = workerStarting();
      let w: Worker;
      try {
        w = new Worker(WORKER_BOOT, { eval: true, workerData: data, transferList, stdout: false, stderr: false });
      } catch (err) {
        started();
        throw err;
      }
      w.once('online', started);
      w.once('message', (m: ResultMessage) => {
        settled = true;
        void w.terminate();
        if (!m.ok) {
          reject(m.reason !== null && isFeedFailure(m.reason) ? new FeedError(m.reason, m.message) : new Error(m.message));
          return;
        }
        const dict = NameTable.fromParts(m.table);
        const report = Object.assign(new ParseReport(), m.report);
        resolve({ name: m.name, format: m.format, rules: RuleSet.fromParts(dict, m.rules), ips: report.ips, report, guarded: m.guarded, notEnforceable: m.notEnforceable });
      });
      w.once('error', (err) => {
        started();
        if (settled) return;
        settled = true;
        reject(err);
      });
      w.once('exit', (code) => {
        started();
        if (settled) return;
        settled = true;
        reject(new Error(`the list compile worker exited with code ${code} before answering`));
      });
    });
  };
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
  return (job) => (job.body.length < WORKER_MIN_BYTES || !job.background ? inThreadCompiler(job) : worker(job));
}

function runJob(j: JobMessage): { message: ResultMessage; transfer: ArrayBuffer[] } {
  try {
    const body = Buffer.from(j.body.buffer, j.body.byteOffset, j.body.byteLength);
    const dict = 'file' in j.table ? readFirstSeen(j.table.file) : NameTable.fromParts(j.table);
    const c = compileSource(decodeFeed(body, j.decode), j.config, new Guard(j.protect), dict, j.now);
    const rules = c.rules.toParts();
    const table = c.rules.dict.toParts();
    const message: ResultMessage = { ok: true, name: c.name, format: c.format, rules, table, report: c.report, guarded: c.guarded, notEnforceable: c.notEnforceable };
    return { message, transfer: [...RuleSet.transferables(rules), ...NameTable.transferables(table)] };
  } catch (err) {
    const e = err as Error;
    return { message: { ok: false, reason: err instanceof FeedError ? err.reason : null, message: e.message ?? String(err) }, transfer: [] };
  }
}

// In a worker WORKER_BOOT started (and reniced) for a job: run it.
if (!isMainThread && parentPort !== null && (workerData as Partial<StartData> | null)?.c2dnsCompile === true) {
  const { message, transfer } = runJob((workerData as StartData).job);
  parentPort.postMessage(message, transfer);
}
