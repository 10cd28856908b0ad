// Answers repeated questions from stored upstream bytes. Key: lower-cased name, type, class and
// the DO, CD and AD bits (they change what an upstream returns: AD=1 or DO=1 asks for the AD bit,
// RFC 6840 §5.7-5.8). Positive answers live for their smallest TTL, negative ones for the RFC
// 2308 SOA TTL, both clamped by configuration. Replay clears AD for a client that asked for
// neither, whichever query filled the entry (dns/relay.ts). With clients.forwardEcs the ECS
// option sent upstream is part of the key: an answer tailored to one subnet is not another's.
import { LRUCache } from 'lru-cache';
import { Flag, Rcode } from '../dns/constants.js';
import { clampTtls, replay, type StoredAnswer } from '../dns/relay.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface CacheOptions {
  maxEntries: number;
  minTtl: number;
  maxTtl: number;
  negativeMaxTtl: number;
}

interface Entry {
  stored: StoredAnswer;
  expiresAt: number;
}

export class CacheStage implements Stage {
  private readonly lru: LRUCache<string, Entry>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly opts: CacheOptions,
    private readonly next: Stage,
  ) {
    this.lru = new LRUCache<string, Entry>({ max: opts.maxEntries });
  }

  get size(): number {
    return this.lru.size;
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const pq = q.pq;
    let key = `${pq.name}|${pq.qtype}|${pq.qclass}|${pq.dnssecOk ? 1 : 0}${pq.flags & Flag.CD ? 1 : 0}${pq.flags & Flag.AD ? 1 : 0}`;
    // clients.forwardEcs: the upstream saw this client's subnet, so its answer is that subnet's alone.
    if (q.forwardOptions !== null) key += `|${q.forwardOptions.toString('hex')}`;
    const now = performance.now();
    const hit = this.lru.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > now) {
        this.hits++;
        return { action: 'cached', reply: replay(hit.stored, q.msg, pq, now), stored: hit.stored, upstream: null };
      }
      this.lru.delete(key);
    }
    this.misses++;
    const res = this.next.resolve(q);
    if (res instanceof Promise) return res.then((a) => this.keep(key, q, a));
    return this.keep(key, q, res);
  }

  private keep(key: string, q: Query, a: Answer): Answer {
    const s = a.stored;
    if (s === null) return a;
    const ttl = this.ttlFor(s);
    if (ttl > 0) {
      const positive = s.rcode === Rcode.NOERROR && s.answerCount > 0;
      // Clamp before this client sees it, so the first answer and later replays agree.
      if (clampTtls(s, positive ? this.opts.minTtl : 0, positive ? this.opts.maxTtl : this.opts.negativeMaxTtl)) {
        a.reply = replay(s, q.msg, q.pq, s.storedAt);
      }
      this.lru.set(key, { stored: s, expiresAt: s.storedAt + ttl * 1000 });
    }
    return a;
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

export const cacheStage: StageModule<CacheStage> = {
  name: 'cache',
  enabled: (d) => d.cfg.cache.maxEntries > 0,
  create: (d, next) => new CacheStage(d.cfg.cache, requireNext('cache', next)),
};
