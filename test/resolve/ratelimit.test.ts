// The rate-limit stage alone: token buckets per client network, slip, proven vs unproven
// traffic, exemptions, episodes, and the table's bound.
import { describe, expect, it } from 'vitest';
import { networkOf, RateLimitStage, type RateLimitEpisode, type RateLimitOptions } from '../../src/resolve/ratelimit.js';
import type { Answer } from '../../src/resolve/types.js';
import { query, StubNext } from '../helpers/stage.js';
import { decode, T } from '../helpers/wire.js';

const ok = (): Answer => ({ action: 'allowed', reply: Buffer.alloc(12), stored: null, upstream: null });

function stage(o: Partial<RateLimitOptions> = {}): { s: RateLimitStage; next: StubNext; clock: { t: number } } {
  const clock = { t: 1000 };
  const next = new StubNext(ok);
  const s = new RateLimitStage({ qps: 10, burst: 5, ipv4Prefix: 32, ipv6Prefix: 56, exempt: [], slip: 2, now: () => clock.t, ...o }, next);
  return { s, next, clock };
}

describe('rate limiting', () => {
  it('lets a burst through, then limits; the bucket refills at qps', () => {
    const { s, next, clock } = stage();
    const answers = Array.from({ length: 9 }, () => s.resolve(query('a.example', T.A, { client: '192.0.2.1' })) as Answer);
    expect(next.seen).toHaveLength(5);
    // Limited over UDP: every 2nd one TC=1 (slip 2), the others dropped; none logged.
    const limited = answers.slice(5);
    expect(limited.map((a) => (a.reply === null ? 'drop' : 'tc'))).toEqual(['drop', 'tc', 'drop', 'tc']);
    const tc = decode(limited[1]!.reply!);
    expect(tc.header.tc).toBe(1);
    expect(tc.answers).toHaveLength(0);
    expect(limited.every((a) => a.unlogged === true)).toBe(true);
    expect(s.counters).toMatchObject({ dropped: 2, slipped: 2, refused: 0 });
    // 10 qps: 300 ms later, 3 more.
    clock.t += 300;
    for (let i = 0; i < 5; i++) s.resolve(query('a.example', T.A, { client: '192.0.2.1' }));
    expect(next.seen).toHaveLength(8);
  });

  it('limits the slips themselves to qps: a flood at any rate draws about qps TC=1 answers a second', () => {
    const { s, clock } = stage({ qps: 10, burst: 5, slip: 1 });
    // 10,000 queries a second for 2 s.
    for (let i = 0; i < 20_000; i++) {
      if (i % 10 === 0) clock.t += 1;
      s.resolve(query('a.example', T.A, { client: '192.0.2.1' }));
    }
    expect(s.counters.slipped).toBeGreaterThanOrEqual(20);
    expect(s.counters.slipped).toBeLessThanOrEqual(5 + 20 + 1);
    expect(s.counters.dropped).toBeGreaterThan(19_900 - 30);
  });

  it('a TC=1 slip is never larger than the query', () => {
    const { s } = stage({ slip: 1, burst: 1 });
    const q = query('a.example', T.TXT, { client: '192.0.2.1', edns: {} });
    s.resolve(q);
    const a = s.resolve(query('a.example', T.TXT, { client: '192.0.2.1', edns: {} })) as Answer;
    expect(a.reply!.length).toBeLessThanOrEqual(q.msg.length);
  });

  it('slip 0 is silence, slip 1 is always TC=1', () => {
    for (const [slip, want] of [
      [0, 'drop'],
      [1, 'tc'],
    ] as const) {
      const { s } = stage({ slip, burst: 4 });
      for (let i = 0; i < 4; i++) s.resolve(query('a.example', T.A, { client: '192.0.2.1' }));
      const got = Array.from({ length: 4 }, () => ((s.resolve(query('a.example', T.A, { client: '192.0.2.1' })) as Answer).reply === null ? 'drop' : 'tc'));
      expect(got).toEqual([want, want, want, want]);
    }
  });

  it('answers proven clients (TCP, a valid cookie) REFUSED, from a bucket of their own', () => {
    const { s, next } = stage({ burst: 2 });
    for (let i = 0; i < 4; i++) s.resolve(query('a.example', T.A, { client: '192.0.2.1' })); // UDP bucket empty
    expect(next.seen).toHaveLength(2);
    const tcp = Array.from({ length: 3 }, () => s.resolve(query('a.example', T.A, { client: '192.0.2.1', transport: 'tcp' })) as Answer);
    expect(next.seen).toHaveLength(4); // a spoofed UDP flood does not use up the client's TCP
    expect(tcp[2]!.action).toBe('refused');
    expect(tcp[2]!.reply![3]! & 0x0f).toBe(5);
    const q = query('a.example', T.A, { client: '192.0.2.1' });
    q.cookie = 'valid';
    expect((s.resolve(q) as Answer).reply![3]! & 0x0f).toBe(5); // the proven bucket is empty too
    expect(s.counters.refused).toBe(2);
  });

  it('counts a /24 as one client with ipv4Prefix 24, and IPv6 by ipv6Prefix', () => {
    const { s, next } = stage({ ipv4Prefix: 24, burst: 2 });
    for (const c of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '198.51.100.1']) s.resolve(query('a.example', T.A, { client: c }));
    expect(next.seen.map((q) => q.clientAddress)).toEqual(['192.0.2.1', '192.0.2.2', '198.51.100.1']);
    expect(s.keyOf('2001:db8:0:1::5')).toBe('2001:db8::/56');
    expect(s.keyOf('2001:db8:0:1ff::5')).toBe('2001:db8:0:100::/56');
    expect(s.keyOf('::ffff:192.0.2.9')).toBe('192.0.2.0/24');
  });

  it('never limits exempt networks', () => {
    const { s, next } = stage({ exempt: ['10.0.0.0/8', 'fd00::/8'], burst: 1 });
    for (let i = 0; i < 20; i++) s.resolve(query('a.example', T.A, { client: i % 2 ? '10.1.2.3' : 'fd00::1' }));
    expect(next.seen).toHaveLength(20);
    expect(s.counters.exempt).toBe(20);
  });

  it('reports an episode when limiting starts and, with its counts, when the client has been quiet 10 s', () => {
    const { s, clock } = stage({ burst: 1 });
    const episodes: RateLimitEpisode[] = [];
    s.onEpisode = (e) => episodes.push(e);
    for (let i = 0; i < 5; i++) s.resolve(query('a.example', T.A, { client: '192.0.2.1' }));
    expect(episodes).toEqual([{ client: '192.0.2.1/32', proven: false, phase: 'start' }]);
    clock.t += 5000;
    s.sweep();
    expect(episodes).toHaveLength(1);
    clock.t += 6000;
    s.sweep();
    // Limited 4 times: drop, slip, drop, and the 4th would slip but the one slip token is spent.
    expect(episodes[1]).toMatchObject({ client: '192.0.2.1/32', phase: 'end', dropped: 3, slipped: 1, refused: 0 });
    s.close();
  });

  it('keeps at most maxClients buckets and forgets refilled ones', () => {
    const { s, clock } = stage({ maxClients: 100 });
    for (let i = 0; i < 1000; i++) s.resolve(query('a.example', T.A, { client: `10.0.${i >> 8}.${i & 255}` }));
    expect(s.clients).toBeLessThanOrEqual(100);
    clock.t += 1000; // 5 tokens at 10 qps: full after 500 ms
    s.sweep();
    expect(s.clients).toBe(0);
    s.close();
  });

  it('networkOf clears host bits', () => {
    expect(networkOf('192.0.2.77', 24)).toBe('192.0.2.0/24');
    expect(networkOf('192.0.2.77', 32)).toBe('192.0.2.77/32');
    expect(networkOf('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6/128');
    expect(networkOf('::1', 56)).toBe('::/56');
    expect(networkOf('not an address', 24)).toBeNull();
  });
});
