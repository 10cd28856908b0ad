// How this instance's state and the fleet's state in Redis become one: per name (emergency
// blocks) or client (quarantine), the latest event wins — an addition newer than every removal
// stays, a removal newer than every addition removes. What exists on only one side and was never
// removed is kept (an instance that made a change while Redis was away, or a Redis that lost its
// data, brings it back): when in doubt the fleet blocks. Pure functions: the sync classes read
// Redis, call these, write the difference.
import { normalizeDomain } from '../blocklist/domain.js';
import type { EmergencyBlock } from '../feeds/emergency.js';
import type { QuarantineEntry } from '../quarantine/store.js';

/** A removal (emergency block) or release (quarantine), remembered so an instance that was away does not bring the entry back. */
export interface Tombstone {
  /** Epoch ms. */
  at: number;
  actor: string;
  instance: string;
}

/** Tombstones are forgotten after this long. */
export const TOMBSTONE_TTL_MS = 30 * 86_400_000;

export interface MergePlan<T> {
  /** The state both sides should have. */
  merged: Map<string, T>;
  /** Entries to write to Redis (new or different there). */
  set: T[];
  /** Keys to delete from Redis, each with the tombstone to record. */
  del: [string, Tombstone][];
  /** Tombstones to record for keys Redis does not have (removed here while Redis was away). */
  tomb: [string, Tombstone][];
  /** Keys to delete from Redis without a tombstone (expired), and tombstones past TOMBSTONE_TTL_MS. */
  pruneEntries: string[];
  pruneTombs: string[];
}

export function hasWrites(p: MergePlan<unknown>): boolean {
  return p.set.length > 0 || p.del.length > 0 || p.tomb.length > 0;
}

/** Both sides of a merge: this instance's entries and removals, Redis's entries and tombstones. */
export interface MergeSide<T> {
  local: ReadonlyMap<string, T>;
  /** Removals made here not yet written to Redis. */
  localRemovals: ReadonlyMap<string, Tombstone>;
  remote: ReadonlyMap<string, T>;
  tombs: ReadonlyMap<string, Tombstone>;
  now: number;
}

interface Rules<T> {
  /** When it was added (compared with removal times). */
  addedAt(e: T): number;
  live(e: T, now: number): boolean;
  /** The entry both sides should have, from the live ones added after the last removal (one or two). */
  pick(candidates: T[]): T;
  same(a: T, b: T): boolean;
}

function plan<T>(s: MergeSide<T>, rules: Rules<T>): MergePlan<T> {
  const out: MergePlan<T> = { merged: new Map(), set: [], del: [], tomb: [], pruneEntries: [], pruneTombs: [] };
  const keys = new Set([...s.local.keys(), ...s.remote.keys(), ...s.localRemovals.keys()]);
  for (const key of keys) {
    const l = s.local.get(key);
    const r = s.remote.get(key);
    const remoteTomb = s.tombs.get(key);
    const localTomb = s.localRemovals.get(key);
    const tomb = latest(remoteTomb, localTomb);
    const removedAt = tomb?.at ?? -Infinity;
    const candidates = [l, r].filter((e): e is T => e !== undefined && rules.live(e, s.now) && rules.addedAt(e) > removedAt);
    if (candidates.length > 0) {
      const m = rules.pick(candidates);
      out.merged.set(key, m);
      if (r === undefined || !rules.same(r, m)) out.set.push(m);
      continue;
    }
    if (r !== undefined) {
      if (!rules.live(r, s.now)) out.pruneEntries.push(key);
      else out.del.push([key, tomb ?? { at: s.now, actor: 'fleet', instance: 'unknown' }]);
    } else if (localTomb !== undefined && (remoteTomb === undefined || localTomb.at > remoteTomb.at)) out.tomb.push([key, localTomb]);
  }
  for (const [key, t] of s.tombs) if (s.now - t.at > TOMBSTONE_TTL_MS) out.pruneTombs.push(key);
  return out;
}

function latest(a: Tombstone | undefined, b: Tombstone | undefined): Tombstone | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.at > a.at ? b : a;
}

const blockRules: Rules<EmergencyBlock> = {
  addedAt: (b) => b.addedAt,
  live: (b, now) => b.expiresAt === null || b.expiresAt > now,
  // The newer addition (a renewal with another reason or expiry), Redis's on a tie.
  pick: (c) => c.reduce((a, b) => (b.addedAt > a.addedAt ? b : a)),
  same: (a, b) => blockJson(a) === blockJson(b),
};

/** Emergency blocks: the latest addition or removal of each name wins. */
export function mergeBlocks(s: MergeSide<EmergencyBlock>): MergePlan<EmergencyBlock> {
  return plan(s, blockRules);
}

const quarantineRules: Rules<QuarantineEntry> = {
  addedAt: (e) => e.since,
  live: (e, now) => e.until > now,
  // The latest quarantine of the client, lasting as long as the longest one: never released early.
  pick: (c) => {
    const last = c.reduce((a, b) => (b.since > a.since ? b : a));
    const until = Math.max(...c.map((e) => e.until));
    return until === last.until ? last : { ...last, until };
  },
  same: (a, b) => quarantineJson(a) === quarantineJson(b),
};

/** Quarantine: a release newer than the client's (latest) quarantine wins; otherwise it stays quarantined until the latest end. */
export function mergeQuarantine(s: MergeSide<QuarantineEntry>): MergePlan<QuarantineEntry> {
  return plan(s, quarantineRules);
}

/** Canonical JSON (fixed key order), as stored in Redis. */
export function blockJson(b: EmergencyBlock): string {
  return JSON.stringify({ name: b.name, reason: b.reason, addedAt: b.addedAt, expiresAt: b.expiresAt, actor: b.actor });
}

export function quarantineJson(e: QuarantineEntry): string {
  return JSON.stringify({ client: e.client, reason: e.reason, since: e.since, until: e.until, address: e.address, mac: e.mac, name: e.name, via: e.via });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A block as Redis holds it, or null for anything malformed (another version's or a hand-made
 * field is ignored, not trusted): the name must be one as the admin API stores it (normalised).
 */
export function parseBlock(name: string, text: string): EmergencyBlock | null {
  const n = normalizeDomain(name);
  if (!n.ok || n.name !== name) return null;
  const v = parseJson(text);
  if (!isObj(v) || v.name !== name) return null;
  const addedAt = num(v.addedAt);
  const expiresAt = v.expiresAt === null ? null : num(v.expiresAt);
  const reason = str(v.reason);
  const actor = str(v.actor);
  if (addedAt === null || (v.expiresAt !== null && expiresAt === null) || reason === null || actor === null) return null;
  return { name, reason, addedAt, expiresAt, actor };
}

export function parseQuarantine(client: string, text: string): QuarantineEntry | null {
  const v = parseJson(text);
  if (!isObj(v) || v.client !== client) return null;
  const since = num(v.since);
  const until = num(v.until);
  const reason = str(v.reason);
  const address = str(v.address);
  if (since === null || until === null || reason === null || address === null) return null;
  return { client, reason, since, until, address, mac: str(v.mac), name: str(v.name), via: str(v.via) };
}

export function parseTombstone(text: string): Tombstone | null {
  const v = parseJson(text);
  if (!isObj(v)) return null;
  const at = num(v.at);
  if (at === null) return null;
  return { at, actor: str(v.actor) ?? 'unknown', instance: str(v.instance) ?? 'unknown' };
}

/** A Redis hash of JSON values, parsed; malformed fields are left out (and counted). */
export function parseHash<T>(h: Record<string, string>, parse: (key: string, text: string) => T | null): { map: Map<string, T>; bad: number } {
  const map = new Map<string, T>();
  let bad = 0;
  for (const [k, text] of Object.entries(h)) {
    const v = parse(k, text);
    if (v === null) bad++;
    else map.set(k, v);
  }
  return { map, bad };
}
