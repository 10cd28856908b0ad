// `workers: auto | N`: one c2dns per core with node:cluster. Workers share the UDP socket (the
// primary binds it and hands every worker the same handle; the kernel gives each datagram to
// one reader) and TCP connections are distributed by the primary. Each worker has its own cache
// and its own copy of the lists; only worker 1 fetches and verifies feed updates, and after it
// stores a new last good copy the others reload it from the state directory.
// SIGHUP goes to the primary, which passes it to every worker: each reloads the configuration
// (its own chain, listeners and lists), then worker 1 refreshes the lists, then each reloads its
// DoT/DoH certificate. POST /api/reload reaches worker 1 (it serves the admin API): the primary
// relays it to the others, which read the same file; the API's answer is worker 1's.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { OpLogger } from '../observe/oplog.js';
import { isAlertMessage } from '../respond/cluster.js';

type Message = { type: 'lists-changed' } | { type: 'hangup' } | { type: 'reload-config' };

export function workerCount(setting: 'auto' | number): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export function isPrimaryOfMany(n: number): boolean {
  return n > 1 && cluster.isPrimary;
}

/** True in the single-process mode and in worker 1: the process that refreshes feeds. */
export function ownsRefresh(): boolean {
  return !cluster.isWorker || cluster.worker?.id === 1;
}

/** Worker side: tell the others (through the primary) that a new last good copy is on disk. */
export function announceListsChanged(): void {
  if (cluster.isWorker) process.send?.({ type: 'lists-changed' } satisfies Message);
}

/** Worker side: tell the others (through the primary) to reload the configuration, as this one did (POST /api/reload). */
export function announceConfigReload(): void {
  if (cluster.isWorker) process.send?.({ type: 'reload-config' } satisfies Message);
}

/**
 * Worker side: `reload` when another worker stored new lists, `hangup` (what SIGHUP does in a
 * single process) when the primary got SIGHUP, `reloadConfig` when another worker reloaded it.
 */
export function onClusterMessages(reload: () => void, hangup: () => void, reloadConfig: () => void = () => {}): void {
  if (!cluster.isWorker) return;
  process.on('message', (m: Message) => {
    if (m?.type === 'lists-changed') reload();
    else if (m?.type === 'hangup') hangup();
    else if (m?.type === 'reload-config') reloadConfig();
  });
}

/** Primary: start `n` workers, keep them running, relay messages, stop them on SIGINT/SIGTERM. */
export function runPrimary(n: number, log: OpLogger): Promise<number> {
  let stopping = false;
  const fork = (): void => {
    cluster.fork();
  };
  cluster.on('message', (from, m: Message) => {
    // Security events of the other workers go to worker 1, which owns alert delivery.
    if (isAlertMessage(m)) {
      cluster.workers?.[1]?.send(m);
      return;
    }
    if (m?.type !== 'lists-changed' && m?.type !== 'reload-config') return;
    for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined && w.id !== from.id) w.send(m);
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.id, code, signal }, 'worker died: starting a new one in 1 s');
    setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < n; i++) fork();
  log.info({ workers: n }, 'c2dns primary: workers started');
  process.on('SIGHUP', () => {
    // Every worker has its own chain, listeners and certificate: each does what SIGHUP does.
    for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'hangup' } satisfies Message);
  });
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      stopping = true;
      log.info({ signal }, 'c2dns primary: stopping workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          resolve(0);
        }
      }, 50);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
