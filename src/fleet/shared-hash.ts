// One piece of fleet state as Redis holds it: a hash of entries (JSON by key), a hash of
// tombstones (removed keys, so an instance that was away does not bring them back), a version
// counter raised by every change and a channel announcing it. Emergency blocks and quarantine are
// two of these; `mergeWithRedis` is the read → merge → write-the-difference → announce step
// both run, differing only in the keys and the entry type.
import type { Redis } from 'ioredis';
import type { OpLogger } from '../observe/oplog.js';
import { hasWrites, parseHash, parseTombstone, type MergePlan, type MergeSide, type Tombstone } from './merge.js';

export interface SharedHash<T> {
  entries: string;
  tombs: string;
  version: string;
  changes: string;
  /** What the entries are, for log lines ("emergency blocks"). */
  what: string;
  /** The entry's field in the hash (a block's name, a quarantined client). */
  key(e: T): string;
  parse(key: string, text: string): T | null;
  json(e: T): string;
  merge(s: MergeSide<T>): MergePlan<T>;
}

export interface MergeResult<T> {
  plan: MergePlan<T>;
  /** The fleet's version after the merge (raised when this merge wrote a change). */
  version: number;
  /** This merge changed Redis and announced the new version. */
  wrote: boolean;
}

/** Merges this instance's entries and removals with Redis's, writes the difference and announces it. */
export async function mergeWithRedis<T>(
  cmd: Redis,
  h: SharedHash<T>,
  mine: { local: ReadonlyMap<string, T>; removals: ReadonlyMap<string, Tombstone>; instance: string; now: number },
  log: OpLogger,
): Promise<MergeResult<T>> {
  const [entriesRes, tombsRes, versionRes] = results(await cmd.multi().hgetall(h.entries).hgetall(h.tombs).get(h.version).exec(), 3);
  const remote = parseHash(entriesRes as Record<string, string>, h.parse);
  const tombs = parseHash(tombsRes as Record<string, string>, (_k, t) => parseTombstone(t));
  if (remote.bad > 0) log.warn({ key: h.entries, malformed: remote.bad }, `fleet: malformed ${h.what} in Redis ignored`);
  let version = Number(versionRes ?? 0);
  const plan = h.merge({ local: mine.local, localRemovals: mine.removals, remote: remote.map, tombs: tombs.map, now: mine.now });
  const wrote = hasWrites(plan);
  if (wrote || plan.pruneEntries.length > 0 || plan.pruneTombs.length > 0) {
    const m = cmd.multi();
    for (const e of plan.set) m.hset(h.entries, h.key(e), h.json(e)).hdel(h.tombs, h.key(e));
    for (const [key, t] of [...plan.del, ...plan.tomb]) m.hdel(h.entries, key).hset(h.tombs, key, JSON.stringify(t));
    for (const key of plan.pruneEntries) m.hdel(h.entries, key);
    for (const key of plan.pruneTombs) m.hdel(h.tombs, key);
    if (wrote) m.incr(h.version);
    const w = results(await m.exec(), -1);
    if (wrote) {
      version = Number(w[w.length - 1]);
      await cmd.publish(h.changes, JSON.stringify({ version, instance: mine.instance }));
    }
  }
  return { plan, version, wrote };
}

/** The replies of a MULTI, throwing the first error; `n` = expected count (-1: any). */
export function results(res: [Error | null, unknown][] | null, n: number): unknown[] {
  if (res === null) throw new Error('Redis transaction aborted');
  if (n >= 0 && res.length !== n) throw new Error(`Redis transaction: ${res.length} replies, expected ${n}`);
  return res.map(([err, v]) => {
    if (err !== null) throw err;
    return v;
  });
}
