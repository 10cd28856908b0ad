// The cache stage's resilience on its own, with a stub next stage and a fake clock: serve-stale
// (RFC 8767), prefetch, request coalescing and the byte bound.
import { describe, expect, it } from 'vitest';
import { Ede } from '../../src/dns/constants.js';
import { parseQuery } from '../../src/dns/query.js';
import { replay, storeResponse, type StoredAnswer } from '../../src/dns/relay.js';
import { errorReply } from '../../src/dns/synth.js';
import { edeOption } from '../../src/dns/opt.js';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { BlockAnswers } from '../../src/resolve/block-answer.js';
import { CacheStage, ENTRY_OVERHEAD, STALE_RECHECK_MS, type CacheOptions } from '../../src/resolve/cache.js';
import { ResponseStage } from '../../src/resolve/response.js';
import { peerIdentity, type Answer, type Query, type Stage } from '../../src/resolve/types.js';
import { query, tables } from '../helpers/stage.js';
import { buildQuery, decode, edeOf, T } from '../helpers/wire.js';

/** A clock the test moves by hand (ms, like performance.now()). */
class Clock {
  t = 1_000_000;
  now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

/** An upstream answer for `q`: `records` A records (address, address + 1, ...) with this TTL, stored at the clock's time (bytes built by hand, fast). */
function answerFor(q: Query, address: number, ttl: number, at: number, records = 1): StoredAnswer {
  const rrs: Buffer[] = [];
  for (let i = 0; i < records; i++) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(T.A, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    rr.writeUInt32BE(address + i, 12);
    rrs.push(rr);
  }
  const wire = Buffer.concat([q.msg.subarray(0, q.pq.qEnd), ...rrs]);
  wire.writeUInt16BE(0x8180, 2);
  wire.writeUInt16BE(records, 6);
  wire.writeUInt16BE(0, 10);
  const s = storeResponse(wire, q.pq.qEnd, at);
  if (s === null) throw new Error('bad test answer');
  return s;
}

const allowed = (q: Query, s: StoredAnswer): Answer => ({ action: 'allowed', reply: replay(s, q.msg, q.pq, s.storedAt), stored: s, upstream: '192.0.2.53:53' });
const servfail = (q: Query): Answer => ({ action: 'servfail', reply: errorReply(q.msg, q.pq, 2, edeOption(Ede.NO_REACHABLE_AUTHORITY, 'c2dns: no upstream answered')), stored: null, upstream: null });

/** A next stage whose answers the test hands out: each question waits until the test settles it. */
class ScriptedNext implements Stage {
  readonly seen: Query[] = [];
  private readonly waiting: ((a: Answer) => void)[] = [];
  /** Answer at once with this, instead of waiting (null: wait). */
  constructor(public now: ((q: Query) => Answer) | null = null) {}
  resolve(q: Query): Answer | Promise<Answer> {
    this.seen.push(q);
    if (this.now !== null) return Promise.resolve(this.now(q));
    return new Promise((r) => this.waiting.push(r));
  }
  settle(make: (q: Query) => Answer): void {
    const i = this.waiting.length - 1;
    const r = this.waiting.splice(i, 1)[0];
    if (r === undefined) throw new Error('nothing is waiting');
    r(make(this.seen[this.seen.length - 1]!));
  }
  get pending(): number {
    return this.waiting.length;
  }
}

const OPTS: CacheOptions = { maxEntries: 1000, minTtl: 0, maxTtl: 86_400, negativeMaxTtl: 3600 };
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const addressOf = (a: Answer): string | undefined => decode(a.reply!).answers[0]?.address;
const ttlOf = (a: Answer): number | undefined => decode(a.reply!).answers[0]?.ttl;

/** A cache holding www.example.org A 192.0.2.1 (TTL `ttl`) stored at the clock's time. */
async function filled(o: Partial<CacheOptions>, ttl = 60): Promise<{ clock: Clock; next: ScriptedNext; cache: CacheStage }> {
  const clock = new Clock();
  const next = new ScriptedNext((q) => allowed(q, answerFor(q, 0xc0000201, ttl, clock.t)));
  const cache = new CacheStage({ ...OPTS, now: clock.now, ...o }, next);
  await cache.resolve(query('www.example.org', T.A));
  next.now = null;
  return { clock, next, cache };
}

describe('serve-stale (RFC 8767)', () => {
  const STALE = { serveStaleMaxAgeSeconds: 86_400, serveStaleClientTimeoutMs: 30 };

  it('answers from the expired entry with TTL 30 and EDE 3 when the upstream stays silent, and refreshes behind it', async () => {
    const { clock, next, cache } = await filled(STALE);
    clock.advance(61);
    const a = await cache.resolve(query('www.example.org', T.A, { id: 77, edns: {} }));
    expect(next.seen).toHaveLength(2); // it asked the upstream first
    expect(a).toMatchObject({ action: 'cached', stale: true, upstream: null });
    expect(a.stored).not.toBeNull(); // the response stage above checks it like any cached answer
    const p = decode(a.reply!);
    expect(p.header.id).toBe(77);
    expect(p.answers.map((r) => [r.address, r.ttl])).toEqual([['192.0.2.1', 30]]);
    expect(edeOf(p).map((e) => e.infoCode)).toEqual([Ede.STALE_ANSWER]);
    expect(cache.staleServed).toBe(1);
    // Without EDNS: TTL 30, no OPT to carry the EDE.
    clock.advance(0.001);
    const plain = await cache.resolve(query('www.example.org', T.A));
    expect(ttlOf(plain)).toBe(30);
    expect(decode(plain.reply!).additionals).toHaveLength(0);
    expect(next.seen).toHaveLength(2); // joined the refresh in flight
    expect(cache.coalesced).toBe(1);
    // The refresh comes back late: the entry is fresh again.
    next.settle((q) => allowed(q, answerFor(q, 0xc0000202, 60, clock.t)));
    await tick();
    const fresh = await cache.resolve(query('www.example.org', T.A));
    expect(fresh).toMatchObject({ action: 'cached' });
    expect(fresh.stale).toBeUndefined();
    expect([addressOf(fresh), ttlOf(fresh)]).toEqual(['192.0.2.2', 60]);
    expect(cache.staleServed).toBe(2);
  });

  it('takes a fresh answer that comes within the client timeout', async () => {
    const { clock, next, cache } = await filled({ ...STALE, serveStaleClientTimeoutMs: 5000 });
    clock.advance(61);
    const pending = cache.resolve(query('www.example.org', T.A));
    next.settle((q) => allowed(q, answerFor(q, 0xc0000202, 60, clock.t)));
    const a = await pending;
    expect(a).toMatchObject({ action: 'allowed', upstream: '192.0.2.53:53' });
    expect(addressOf(a)).toBe('192.0.2.2');
    expect(cache.staleServed).toBe(0);
  });

  it('answers stale at once when the upstreams fail, then for 30 s without asking them again', async () => {
    const { clock, next, cache } = await filled({ ...STALE, serveStaleClientTimeoutMs: 5000 });
    clock.advance(61);
    const pending = cache.resolve(query('www.example.org', T.A));
    next.settle(servfail);
    expect(await pending).toMatchObject({ action: 'cached', stale: true });
    clock.advance(STALE_RECHECK_MS / 1000 - 1);
    expect(await cache.resolve(query('www.example.org', T.A))).toMatchObject({ action: 'cached', stale: true });
    expect(next.seen).toHaveLength(2);
    clock.advance(2); // the failure recheck timer ran out: ask again
    const again = cache.resolve(query('www.example.org', T.A));
    expect(next.seen).toHaveLength(3);
    next.settle(servfail);
    expect(await again).toMatchObject({ stale: true });
    expect(cache.staleServed).toBe(3);
  });

  it('is not served past serveStaleMaxAgeSeconds: the client gets the failure', async () => {
    const { clock, next, cache } = await filled({ ...STALE, serveStaleMaxAgeSeconds: 3600 });
    clock.advance(60 + 3600 + 1);
    const pending = cache.resolve(query('www.example.org', T.A, { edns: {} }));
    next.settle(servfail);
    const a = await pending;
    expect(a.action).toBe('servfail');
    expect(decode(a.reply!).header.rcode).toBe(2);
    expect(cache.staleServed).toBe(0);
    expect(cache.size).toBe(0); // dropped, not kept any longer
  });

  it('with serveStaleMaxAgeSeconds 0 an expired entry is a plain miss', async () => {
    const { clock, next, cache } = await filled({ serveStaleMaxAgeSeconds: 0 });
    clock.advance(61);
    const pending = cache.resolve(query('www.example.org', T.A));
    next.settle(servfail);
    expect((await pending).action).toBe('servfail');
    expect(cache.staleServed).toBe(0);
  });

  it('with serveStaleClientTimeoutMs 0 the stale answer goes out at once and the refresh runs behind it', async () => {
    const { clock, next, cache } = await filled({ ...STALE, serveStaleClientTimeoutMs: 0 });
    clock.advance(61);
    const a = cache.resolve(query('www.example.org', T.A));
    expect(a).not.toBeInstanceOf(Promise);
    expect(a).toMatchObject({ stale: true });
    expect(next.pending).toBe(1);
    next.settle((q) => allowed(q, answerFor(q, 0xc0000202, 60, clock.t)));
    await tick();
    expect(addressOf(await cache.resolve(query('www.example.org', T.A)))).toBe('192.0.2.2');
  });

  it('a stale answer still passes the response stage: blocked when its address was listed since', async () => {
    const { clock, next, cache } = await filled(STALE);
    const holder = new PolicyHolder();
    holder.publish(tables({ responseIps: { '192.0.2.1/32': null } }));
    const top = new ResponseStage(holder, new BlockAnswers({ defaultAction: 'null', sinkholeIpv4: null, sinkholeIpv6: null, ttl: 60 }), cache);
    clock.advance(61);
    const pending = top.resolve(query('www.example.org', T.A));
    next.settle(servfail);
    const a = await pending;
    expect(a.action).toBe('blocked');
    expect(addressOf(a)).toBe('0.0.0.0');
    expect(cache.staleServed).toBe(1);
  });
});

describe('prefetch', () => {
  it('refreshes an entry asked for in the last 10 % of its TTL, once', async () => {
    const { clock, next, cache } = await filled({ prefetch: true }, 100);
    clock.advance(50);
    await cache.resolve(query('www.example.org', T.A));
    expect(next.seen).toHaveLength(1); // half its TTL left: nothing
    clock.advance(41); // 9 s of 100 left
    const hit = await cache.resolve(query('www.example.org', T.A));
    expect(hit.action).toBe('cached');
    expect(addressOf(hit)).toBe('192.0.2.1');
    expect(next.seen).toHaveLength(2);
    await cache.resolve(query('www.example.org', T.A));
    await cache.resolve(query('www.example.org', T.A));
    expect(next.seen).toHaveLength(2); // one refresh per entry
    expect(cache.prefetches).toBe(1);
    next.settle((q) => allowed(q, answerFor(q, 0xc0000202, 100, clock.t)));
    await tick();
    clock.advance(50); // past the old entry's expiry
    const after = await cache.resolve(query('www.example.org', T.A));
    expect(after.action).toBe('cached');
    expect([addressOf(after), ttlOf(after)]).toEqual(['192.0.2.2', 50]);
    expect(next.seen).toHaveLength(2);
  });

  it('does nothing when off, nor for entries stored for less than 10 s', async () => {
    const off = await filled({ prefetch: false }, 100);
    off.clock.advance(95);
    await off.cache.resolve(query('www.example.org', T.A));
    expect(off.next.seen).toHaveLength(1);
    const short = await filled({ prefetch: true }, 5);
    short.clock.advance(4.9);
    await short.cache.resolve(query('www.example.org', T.A));
    expect(short.next.seen).toHaveLength(1);
  });
});

describe('request coalescing', () => {
  it('50 identical questions in flight make one upstream question; each client gets its own ID and case', async () => {
    const clock = new Clock();
    const next = new ScriptedNext();
    const cache = new CacheStage({ ...OPTS, now: clock.now }, next);
    const qs = Array.from({ length: 50 }, (_, i) => query(i % 2 ? 'WWW.example.ORG' : 'www.example.org', T.A, { id: 1000 + i, ...(i % 3 ? { edns: {} } : {}) }));
    const pending = qs.map((q) => cache.resolve(q));
    expect(next.seen).toHaveLength(1);
    expect(cache.pending).toBe(1);
    next.settle((q) => allowed(q, answerFor(q, 0xc0000201, 60, clock.t)));
    const answers = await Promise.all(pending);
    expect(cache.coalesced).toBe(49);
    expect(cache.pending).toBe(0);
    answers.forEach((a, i) => {
      const p = decode(a.reply!);
      expect(a.action).toBe('allowed');
      expect(p.header.id).toBe(1000 + i);
      expect(p.questions[0]!.name).toBe(i % 2 ? 'WWW.example.ORG' : 'www.example.org');
      expect(p.answers[0]!.address).toBe('192.0.2.1');
      expect(p.additionals.some((r) => r.type === T.OPT)).toBe(i % 3 !== 0);
    });
    // And the answer was stored once for all.
    expect((await cache.resolve(query('www.example.org', T.A))).action).toBe('cached');
  });

  it('a failure is shared too, replayed to each waiter with its ID and EDE', async () => {
    const next = new ScriptedNext();
    const cache = new CacheStage(OPTS, next);
    const pending = [1, 2, 3].map((id) => cache.resolve(query('down.example.org', T.A, { id, edns: {} })));
    next.settle(servfail);
    const answers = await Promise.all(pending);
    expect(next.seen).toHaveLength(1);
    answers.forEach((a, i) => {
      const p = decode(a.reply!);
      expect(a.action).toBe('servfail');
      expect(p.header.id).toBe(i + 1);
      expect(p.header.rcode).toBe(2);
      expect(edeOf(p).map((e) => e.infoCode)).toEqual([Ede.NO_REACHABLE_AUTHORITY]);
    });
  });

  it('keeps questions apart that differ in type, DO bit or CD bit', async () => {
    const next = new ScriptedNext();
    const cache = new CacheStage(OPTS, next);
    void cache.resolve(query('www.example.org', T.A));
    void cache.resolve(query('www.example.org', T.AAAA));
    void cache.resolve(query('www.example.org', T.A, { edns: { do: true } }));
    void cache.resolve(query('www.example.org', T.A, { cd: true }));
    void cache.resolve(query('www.example.org', T.A, { edns: {} })); // EDNS alone is not in the key
    expect(next.seen).toHaveLength(4);
    expect(cache.coalesced).toBe(1);
  });
});

describe('byte bound (cache.maxBytes)', () => {
  /** Inserts `n` different names through a synchronous stub; returns the stage. */
  function fill(n: number, maxBytes: number): CacheStage {
    const next: Stage = { resolve: (q) => allowed(q, answerFor(q, 0xc0000200 + (q.pq.id & 0xff), 3600, performance.now())) };
    const cache = new CacheStage({ ...OPTS, maxEntries: 1_000_000, maxBytes }, next);
    for (let i = 0; i < n; i++) {
      const msg = buildQuery(`host-${i}.zone-${i % 97}.example`, T.A, { id: i & 0xffff });
      cache.resolve({ msg, pq: parseQuery(msg), clientAddress: '127.0.0.1', clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity('127.0.0.1'), forwardOptions: null });
    }
    return cache;
  }
  const measured = (c: CacheStage): { bytes: number; wire: number; entries: number } => {
    let bytes = 0;
    let wire = 0;
    let entries = 0;
    for (const [, b, w] of c.sizes()) {
      bytes += b;
      wire += w;
      entries++;
    }
    return { bytes, wire, entries };
  };

  it('100,000 answers stay within 8 MiB: the oldest are evicted', () => {
    const max = 8 * 1024 * 1024;
    const c = fill(100_000, max);
    const m = measured(c);
    expect(m.bytes).toBeLessThanOrEqual(max);
    expect(c.bytes).toBe(m.bytes);
    expect(m.entries).toBe(c.size);
    expect(c.size).toBeLessThan(100_000);
    expect(c.size).toBeGreaterThan(max / (ENTRY_OVERHEAD + 200)); // full, not emptied
    console.log(`cache byte bound: 100000 answers into ${max} bytes → ${c.size} entries, ${m.bytes} bytes counted (${m.wire} of them answer bytes)`);
  }, 60_000);

  it('100,000 answers all fit 128 MiB, each counted as its bytes plus the fixed overhead', () => {
    const c = fill(100_000, 128 * 1024 * 1024);
    const m = measured(c);
    expect(c.size).toBe(100_000);
    expect(m.bytes).toBe(c.bytes);
    expect(m.bytes).toBeLessThanOrEqual(128 * 1024 * 1024);
    expect(m.bytes - m.wire).toBeGreaterThanOrEqual(100_000 * ENTRY_OVERHEAD);
  }, 60_000);

  it('counts a record as its wire bytes: four A records weigh three records\' bytes more than one', () => {
    const counted = (records: number): number => {
      const cache = new CacheStage(OPTS, { resolve: (q) => allowed(q, answerFor(q, 0xc0000201, 3600, performance.now(), records)) });
      void cache.resolve(query('www.example.org', T.A));
      expect(cache.size).toBe(1);
      return cache.bytes;
    };
    expect(counted(4) - counted(1)).toBe(3 * 16);
  });

  it('stores an answer in one allocation of its own (no slice of the shared pool)', async () => {
    const { cache } = await filled({});
    const [key] = [...cache.sizes()][0]!;
    expect(key.startsWith('www.example.org|1|1|')).toBe(true);
    const hit = await cache.resolve(query('www.example.org', T.A));
    const s = hit.stored!;
    expect(s.wire.byteOffset).toBe(0);
    expect(s.wire.buffer.byteLength).toBe(s.wire.length);
  });
});
