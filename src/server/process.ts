// The serving process's life: how it stops and how it dies. A signal stops it gracefully but
// always within SHUTDOWN_GRACE_MS, whatever still holds the event loop (a stuck upstream
// exchange, a sink that never answers); a second signal stops it at once. An uncaught exception
// or an unhandled promise rejection ends it with a message and exit code 1: after one, nothing
// about its state can be trusted, and a supervisor (systemd, Docker, Kubernetes) restarts it
// clean rather than letting it limp.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { mallocTuningAddon, type MallocTuningAddon } from '../native/malloc-tuning.js';
import type { OpLogger } from '../observe/oplog.js';

/** From the signal to the exit, at most. */
export const SHUTDOWN_GRACE_MS = 5000;
/** What the graceful stop itself may take (answers in flight, sinks draining); the rest is margin. */
export const CLOSE_GRACE_MS = SHUTDOWN_GRACE_MS - 1000;

/** How far V8 lets the heap grow past what a full collection left alive, in percent. */
export const HEAP_GROWING_PERCENT = 50;

/**
 * A resolver's heap churns steadily (cache entries replaced, history names, answers in flight),
 * and on a large machine V8 lets it grow to 3-4x the live data before a full collection: in the
 * soak (issue 10) RSS swung between ~150 MB live and 430+ MB of heap. Growing by at most 50 %
 * keeps RSS near what is alive, at the cost of more frequent (incremental) full collections.
 * Set at run time because Node refuses the flag in NODE_OPTIONS; an explicit
 * `node --heap-growing-percent=N` (0 = V8's own policy) wins.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

/**
 * V8 collections whose phases are split into tasks for helper threads at every collection:
 * the young-generation scavenge (several times a second under load), compaction and pointer
 * updates of a full collection, and the sweeping after one.
 */
export const MAIN_THREAD_GC_FLAGS = ['--no-parallel-scavenge', '--no-parallel-compaction', '--no-parallel-pointer-update', '--no-concurrent-sweeping'] as const;

/** Flags with which the operator chose V8's GC threading themselves. */
const GC_THREADING_FLAG = /^--(no-)?(single[-_]threaded[-_]gc|parallel[-_]scavenge|parallel[-_]compaction|parallel[-_]pointer[-_]update|concurrent[-_]sweeping)(=|$)/;

/**
 * CPUs this process may use: its affinity (taskset, cpusets: what os.availableParallelism()
 * counts) and, if lower, a cgroup v2 CPU quota rounded up (`docker run --cpus=1` leaves the
 * affinity alone and limits the quota).
 */
export function cpuBudget(readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): number {
  const affinity = availableParallelism();
  let quota = Infinity;
  try {
    const path = /^0::(\/.*)$/m.exec(readFile('/proc/self/cgroup'))?.[1];
    if (path !== undefined) quota = cpuMaxCpus(readFile(`/sys/fs/cgroup${path === '/' ? '' : path}/cpu.max`));
  } catch {
    // No cgroup v2 (or no quota file): the affinity is the budget.
  }
  return Math.max(1, Math.min(affinity, quota));
}

/** `cpu.max` ("QUOTA PERIOD" or "max PERIOD") as whole CPUs, rounded up; Infinity without a quota. */
export function cpuMaxCpus(text: string): number {
  const [quota, period] = text.trim().split(/\s+/);
  const q = Number(quota), p = Number(period);
  if (quota === 'max' || !(q > 0) || !(p > 0)) return Infinity;
  return Math.ceil(q / p);
}

/**
 * With one CPU, V8's helper threads can only run by taking it from the main thread, which is
 * the one answering: measured on one pinned core at 80 % load (1M list, defaults), they took
 * 10 % of the core and event-loop pauses were mostly the main thread waiting for it (p99 60-75 ms);
 * with these phases on the main thread, p99 4-7 ms in the same seconds. Concurrent marking
 * stays: V8 refuses a marking change at run time. Set at run time, like the heap bound above;
 * any GC threading flag on node's command line wins.
 */
export function gcForCpuBudget(
  cpus: number = cpuBudget(),
  execArgv: readonly string[] = process.execArgv,
  setFlags: (flags: string) => void = setFlagsFromString,
): 'main-thread' | 'parallel' | 'command-line' {
  if (execArgv.some((a) => GC_THREADING_FLAG.test(a))) return 'command-line';
  if (cpus > 1) return 'parallel';
  setFlags(MAIN_THREAD_GC_FLAGS.join(' '));
  return 'main-thread';
}

/** Allocations from this size on are mmapped by glibc, and given back to the kernel when freed. */
export const MMAP_THRESHOLD_BYTES = 1024 * 1024;

/**
 * glibc's mmap threshold fixed at MMAP_THRESHOLD_BYTES (native/malloc_tuning.c says why: a list
 * update's tables otherwise come from malloc arenas that keep them after a reload has replaced
 * them; with 1M names RSS stayed ~150 MB above what was alive). Explicit glibc settings in the
 * environment win, as `--heap-growing-percent` does above. Returns what was done, for the log.
 */
export function boundMallocRetention(
  env: NodeJS.ProcessEnv = process.env,
  addon: MallocTuningAddon | null = mallocTuningAddon(),
): 'set' | 'environment' | 'unavailable' {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || /mmap_threshold/.test(env.GLIBC_TUNABLES ?? '')) return 'environment';
  return addon !== null && addon.setMmapThreshold(MMAP_THRESHOLD_BYTES) ? 'set' : 'unavailable';
}

/**
 * Uncaught exception, or a promise rejection nobody handles (the same thing, later: a failure
 * whose code path is gone) → logged as fatal, `flush` (the query log) given a chance, exit 1.
 */
export function exitOnUncaughtException(oplog: OpLogger, flush: () => void = () => {}, exit: (code: number) => void = (c) => process.exit(c)): void {
  const die = (what: string, err: unknown): void => {
    try {
      oplog.fatal({ err }, `${what}: exiting (exit code 1; a supervisor restarts c2dns)`);
    } catch {
      process.stderr.write(`c2dns: ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nc2dns: exiting\n`);
    }
    try {
      flush();
    } catch {
      // Exiting anyway.
    }
    exit(1);
  };
  process.on('uncaughtException', (err) => die('uncaught exception', err));
  process.on('unhandledRejection', (reason) => die('unhandled promise rejection', reason));
}

/**
 * Resolves once SIGINT or SIGTERM arrived and `close(CLOSE_GRACE_MS)` finished. Past
 * SHUTDOWN_GRACE_MS, or on a second signal, the process exits at once (code 1).
 */
export function stopOnSignals(oplog: OpLogger, close: (graceMs: number) => Promise<void>): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      oplog.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight queries');
      const deadline = setTimeout(() => {
        oplog.error({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'shutdown did not finish within the grace period: exiting now');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      const again = (second: NodeJS.Signals): void => {
        oplog.warn({ signal: second }, 'second signal during shutdown: exiting now');
        process.exit(1);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      const done = (): void => {
        clearTimeout(deadline);
        resolve(signal);
      };
      close(CLOSE_GRACE_MS).then(done, (err: unknown) => {
        oplog.error({ err }, 'error while shutting down');
        done();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * After a clean stop the event loop should be empty; if something still holds it (a timer or
 * socket a component failed to release), the process exits anyway shortly after.
 */
export function exitSoon(code: number, afterMs = 500): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), afterMs).unref();
}
