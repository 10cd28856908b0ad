// The serving process's life: how it stops and how it dies. A signal stops it gracefully but
// always within SHUTDOWN_GRACE_MS, whatever still holds the event loop (a stuck upstream
// exchange, a sink that never answers); a second signal stops it at once. An uncaught exception
// or an unhandled promise rejection ends it with a message and exit code 1: after one, nothing
// about its state can be trusted, and a supervisor (systemd, Docker, Kubernetes) restarts it
// clean rather than letting it limp.
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
