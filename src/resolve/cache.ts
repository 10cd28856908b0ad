// Answers repeated questions from stored upstream bytes. Key: lower-cased name, type, class and
// the DO, CD and AD bits (they change what an upstream returns: AD=1 or DO=1 asks for the AD bit,
// RFC 6840 §5.7-5.8). Positive answers live for their smallest TTL, negative ones for the RFC
// 2308 SOA TTL, both clamped by configuration. Replay clears AD for a client that asked for
// neither, whichever query filled the entry (dns/relay.ts). With clients.forwardEcs the ECS
// option sent upstream is part of the key: an answer tailored to one subnet is not another's.
//
// Around the store, what keeps answers coming when upstreams are slow or gone:
// - Coalescing: one upstream question per key at a time. A query whose key is already being
//   asked waits for that answer and gets it replayed for itself (its ID, case, EDNS).
// - Serve-stale (RFC 8767): with serveStaleMaxAgeSeconds > 0 an expired entry is kept (the LRU
//   bounds it) for that long. A query for it asks upstream; when no good answer comes within
//   serveStaleClientTimeoutMs (or the upstreams fail), the expired answer is served with TTL 30
//   and EDE 3 (Stale Answer), and the refresh goes on in the background. After a refresh failed,
//   the entry is served stale at once for 30 s without asking again (the RFC's failure recheck).
// - Prefetch: a hit in the last 10 % of the TTL the entry was stored with starts one background
//   refresh, so popular names never expire (entries stored for less than 10 s are not prefetched).
// - Memory: maxBytes bounds the sum of the entries' sizes (wire bytes, key and a measured
//   overhead per entry for the objects and the LRU's bookkeeping), besides maxEntries: 64 MiB
//   counted is 64 MiB of heap used.
// The module's binding: the global `performance` is an accessor that each read calls.
import { performance } from 'node:perf_hooks';
import { AnswerLru, NONE } from './cache-lru.js';
import { Flag, Rcode } from '../dns/constants.js';
import { clampTtls, replay, replayStale, storeResponse, type StoredAnswer } from '../dns/relay.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface CacheOptions {
  maxEntries: number;
  minTtl: number;
  maxTtl: number;
  negativeMaxTtl: number;
  /** Bound on the entries' total size in bytes (see entrySize). Default 64 MiB. */
  maxBytes?: number;
  /** How long after expiry an answer may still be served stale; 0 = serve-stale off. Default 0 here; the config's default is a day. */
  serveStaleMaxAgeSeconds?: number;
  /** How long a query for an expired entry waits for the upstreams before it gets the stale answer. Default 1800 (RFC 8767 §5). */
  serveStaleClientTimeoutMs?: number;
  /** Refresh an entry asked for in the last 10 % of its TTL. Default false here; the config's default is true. */
  prefetch?: boolean;
  /** Clock of the entries' expiry (the forward stage stores answers with performance.now()); for tests. */
  now?: () => number;
}

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
export const STALE_CLIENT_TIMEOUT_MS = 1800;
/** RFC 8767 §5 failure recheck timer: after a failed refresh, serve stale at once for this long. */
export const STALE_RECHECK_MS = 30_000;
/** Entries stored for less than this are not prefetched (their last 10 % is under a second). */
export const PREFETCH_MIN_TTL_MS = 10_000;
/**
 * Bytes an entry costs besides its wire and key: the StoredAnswer object, the wire's Buffer and
 * ArrayBuffer, the key string's own overhead and the store's map entry and typed array slots
 * (cache-lru.ts, ~45 bytes). Nothing grows with the records: the response stage keeps no facts
 * about the answer, and a clean verdict is a number (resolve/response.ts). Measured with Node 20,
 * bench/cache-memory.mjs: 100,000 answers with 1 A record (60 wire bytes, 37-character keys) kept
 * 500 bytes each of heap and ArrayBuffer memory, 4 A records 548 (108 wire bytes), a 2-CNAME chain
 * to 1 A 536 (94): 403-405 bytes besides wire and key, 5 heap objects an entry whatever the
 * records. V8's malloc'd bookkeeping of each ArrayBuffer (not in the heap's figures) is not counted.
 */
export const ENTRY_OVERHEAD = 410;

/** The key's DO, CD and AD bits, by (DO << 2 | CD << 1 | AD): strings made once, not per query. */
const KEY_BITS = ['000', '001', '010', '011', '100', '101', '110', '111'];

export class CacheStage implements Stage {
  /**
   * The entries: the stored answer per key, and beside it in the store's typed arrays when it
   * expires (the `now` clock, ms), the TTL it was stored with (prefetch fires in its last 10 %),
   * whether a prefetch was started (one per entry) and when a refresh last failed.
   */
  private readonly lru: AnswerLru<StoredAnswer>;
  /**
   * The upstream question per key, as the answer its first query gets: the others wait on the same
   * promise (the first query's own answer comes one promise hop after the upstream's, not two).
   */
  private readonly inflight = new Map<string, Promise<Answer>>();
  /** A failure's reply (SERVFAIL, REFUSED) in stored form, for replaying it to the other waiters. */
  private readonly failures = new WeakMap<Answer, StoredAnswer>();
  private readonly now: () => number;
  private readonly staleMaxMs: number;
  private readonly staleTimeoutMs: number;
  private readonly prefetch: boolean;
  readonly maxBytes: number;
  hits = 0;
  misses = 0;
  /** Answers served from expired entries (RFC 8767). */
  staleServed = 0;
  /** Queries that waited for another query's upstream question instead of asking their own. */
  coalesced = 0;
  /** Background refreshes started by hits near expiry. */
  prefetches = 0;

  constructor(
    private readonly opts: CacheOptions,
    private readonly next: Stage,
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
    this.lru = new AnswerLru<StoredAnswer>(opts.maxEntries, this.maxBytes);
    this.now = opts.now ?? (() => performance.now());
    this.staleMaxMs = (opts.serveStaleMaxAgeSeconds ?? 0) * 1000;
    this.staleTimeoutMs = opts.serveStaleClientTimeoutMs ?? STALE_CLIENT_TIMEOUT_MS;
    this.prefetch = opts.prefetch ?? false;
  }

  get size(): number {
    return this.lru.size;
  }

  /** The entries' total size as counted against maxBytes. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** Questions being asked upstream now (one per key). */
  get pending(): number {
    return this.inflight.size;
  }

  /** Every entry's key and size as entrySize counts it (tests and diagnostics; walks the cache). */
  *sizes(): Generator<[key: string, bytes: number, wire: number]> {
    for (const [key, s] of this.lru.entries()) yield [key, entrySize(key, s), s.wire.length];
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const pq = q.pq;
    const bits = KEY_BITS[(pq.dnssecOk ? 4 : 0) | (pq.flags & Flag.CD ? 2 : 0) | (pq.flags & Flag.AD ? 1 : 0)]!;
    // join, not + or a template: it makes one flat string, where concatenation leaves a chain of
    // V8 cons strings (about 250 bytes for a 40-character key) held for as long as the entry.
    // clients.forwardEcs: the upstream saw this client's subnet, so its answer is that subnet's alone.
    const key = q.forwardOptions === null ? [pq.name, pq.qtype, pq.qclass, bits].join('|') : [pq.name, pq.qtype, pq.qclass, bits, q.forwardOptions.toString('hex')].join('|');
    const now = this.now();
    const lru = this.lru;
    const hit = lru.get(key);
    if (hit !== NONE) {
      const stored = lru.value(hit);
      const expiresAt = lru.expiresAt[hit]!;
      if (expiresAt > now) {
        this.hits++;
        if (this.prefetch && lru.prefetched[hit] === 0) this.prefetchNearExpiry(key, q, hit, expiresAt, now);
        return { action: 'cached', reply: replay(stored, q.msg, pq, now), stored, upstream: null };
      }
      if (this.staleMaxMs > 0 && now - expiresAt <= this.staleMaxMs) {
        this.misses++;
        return this.refreshOrStale(key, q, stored, lru.failedAt[hit]!, now);
      }
      this.lru.delete(key);
    }
    this.misses++;
    const flying = this.inflight.get(key);
    if (flying !== undefined) {
      this.coalesced++;
      return flying.then((a) => this.forClient(a, q));
    }
    return this.ask(key, q);
  }

  /** A hit in the last 10 % of its TTL starts one background refresh (entries stored for 10 s or more). */
  private prefetchNearExpiry(key: string, q: Query, slot: number, expiresAt: number, now: number): void {
    const ttlMs = this.lru.ttlMs[slot]!;
    if (ttlMs < PREFETCH_MIN_TTL_MS || expiresAt - now > ttlMs / 10) return;
    this.lru.prefetched[slot] = 1;
    if (this.inflight.has(key)) return;
    this.prefetches++;
    Promise.resolve(this.ask(key, q)).catch(() => undefined); // nobody waits; the entry is replaced when it answers
  }

  /**
   * Asks `next` (the upstreams) for `q`, stores what may be stored and registers the question as
   * in flight until then. Synchronous when `next` is (tests' stub stages).
   */
  private ask(key: string, q: Query): Answer | Promise<Answer> {
    let res: Answer | Promise<Answer>;
    try {
      res = this.next.resolve(q);
    } catch (err) {
      res = Promise.reject(err);
    }
    if (!(res instanceof Promise)) return this.settle(key, q, res);
    const p = res.then(
      (a) => {
        this.inflight.delete(key);
        return this.settle(key, q, a);
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private settle(key: string, q: Query, a: Answer): Answer {
    if (a.stored !== null) this.keep(key, q, a);
    else {
      // No answer to store (SERVFAIL, REFUSED, nothing reached): an expired entry waits 30 s for the next try.
      const slot = this.lru.peek(key);
      if (slot !== NONE && this.lru.expiresAt[slot]! <= this.now()) this.lru.failedAt[slot] = this.now();
    }
    // A failure c2dns wrote or relayed (SERVFAIL with EDE 22, an upstream's REFUSED) is read back
    // now, before the first waiter's later stages see the reply, for replaying to the others.
    const failure = a.stored === null && a.reply !== null && a.reply.length >= q.pq.qEnd ? storeResponse(a.reply, q.pq.qEnd, Math.floor(this.now())) : null; // whole ms, as forward.ts stores
    if (failure !== null) this.failures.set(a, failure);
    return a;
  }

  /** The first query's answer `a` for another query of the same key: the same bytes with its ID, case, flags and EDNS. */
  private forClient(a: Answer, q: Query): Answer {
    let reply: Buffer | null = null;
    const failure = a.stored === null ? this.failures.get(a) : undefined;
    if (a.stored !== null) reply = replay(a.stored, q.msg, q.pq, this.now());
    else if (failure !== undefined) reply = replay(failure, q.msg, q.pq, failure.storedAt);
    return { action: a.action, reply, stored: a.stored, upstream: a.upstream };
  }

  /** An expired entry within serveStaleMaxAge: a fresh answer if one comes in time, else the stale one. */
  private refreshOrStale(key: string, q: Query, e: StoredAnswer, failedAt: number, now: number): Answer | Promise<Answer> {
    const flying = this.inflight.get(key);
    if (now - failedAt < STALE_RECHECK_MS) return this.stale(e, q);
    if (this.staleTimeoutMs === 0) {
      // Answer stale at once and refresh behind it.
      if (flying === undefined) Promise.resolve(this.ask(key, q)).catch(() => undefined);
      return this.stale(e, q);
    }
    let f: Answer | Promise<Answer>;
    if (flying !== undefined) {
      this.coalesced++;
      f = flying;
    } else f = this.ask(key, q);
    if (!(f instanceof Promise)) return f.stored !== null ? f : this.stale(e, q);
    const waited = f;
    return new Promise<Answer>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        resolve(this.stale(e, q)); // the question goes on; its answer replaces the entry
      }, this.staleTimeoutMs);
      waited.then(
        (fl) => {
          if (done) return;
          clearTimeout(timer);
          resolve(fl.stored !== null ? this.forClient(fl, q) : this.stale(e, q));
        },
        () => {
          if (done) return;
          clearTimeout(timer);
          resolve(this.stale(e, q));
        },
      );
    });
  }

  private stale(e: StoredAnswer, q: Query): Answer {
    this.staleServed++;
    return { action: 'cached', reply: replayStale(e, q.msg, q.pq), stored: e, upstream: null, stale: true };
  }

  private keep(key: string, q: Query, a: Answer): void {
    const s = a.stored!;
    const ttl = this.ttlFor(s);
    if (ttl <= 0) return;
    const positive = s.rcode === Rcode.NOERROR && s.answerCount > 0;
    // Clamp before this client sees it, so the first answer and later replays agree.
    if (clampTtls(s, positive ? this.opts.minTtl : 0, positive ? this.opts.maxTtl : this.opts.negativeMaxTtl)) {
      a.reply = replay(s, q.msg, q.pq, s.storedAt);
    }
    // The answer has its own allocation (storeResponse): kept as it is.
    this.lru.set(key, s, entrySize(key, s), s.storedAt + ttl * 1000, ttl * 1000);
  }

  /** Seconds to keep an answer; 0 = do not cache. */
  private ttlFor(s: StoredAnswer): number {
    const o = this.opts;
    if (s.rcode === Rcode.NOERROR && s.answerCount > 0) {
      return Math.min(Math.max(s.minTtl, o.minTtl), o.maxTtl);
    }
    if (s.rcode === Rcode.NXDOMAIN || s.rcode === Rcode.NOERROR) {
      // RFC 2308 §5: without a SOA a negative answer is not cached.
      return s.negativeTtl < 0 ? 0 : Math.min(s.negativeTtl, o.negativeMaxTtl);
    }
    return 0;
  }
}

/** What an entry counts against cache.maxBytes. */
export function entrySize(key: string, s: StoredAnswer): number {
  return ENTRY_OVERHEAD + key.length + s.wire.length + (s.ede === null ? 0 : s.ede.length);
}

export const cacheStage: StageModule<CacheStage> = {
  name: 'cache',
  enabled: (d) => d.cfg.cache.maxEntries > 0,
  create: (d, next) => new CacheStage(d.cfg.cache, requireNext('cache', next)),
};
