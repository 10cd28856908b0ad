import { describe, expect, it } from 'vitest';
import { AnswerLru, NONE } from '../../src/resolve/cache-lru.js';

function keysOf(lru: AnswerLru<string>): string[] {
  return [...lru.entries()].map(([k]) => k);
}

describe('AnswerLru (the cache store)', () => {
  it('evicts the least recently used entry beyond max; get makes an entry the most recent, peek does not', () => {
    const lru = new AnswerLru<string>(3, 1e9);
    for (const k of ['a', 'b', 'c']) lru.set(k, k.toUpperCase(), 1, 0, 0);
    expect(lru.value(lru.get('a'))).toBe('A');
    expect(lru.peek('b')).not.toBe(NONE);
    lru.set('d', 'D', 1, 0, 0);
    expect(lru.peek('b')).toBe(NONE);
    expect(keysOf(lru)).toEqual(['d', 'a', 'c']);
    expect(lru.size).toBe(3);
  });

  it('evicts the oldest until the sizes fit maxSize, never the entry being stored', () => {
    const lru = new AnswerLru<string>(100, 10);
    lru.set('a', 'A', 4, 0, 0);
    lru.set('b', 'B', 4, 0, 0);
    lru.set('c', 'C', 5, 0, 0);
    expect(keysOf(lru)).toEqual(['c', 'b']);
    expect(lru.calculatedSize).toBe(9);
    lru.set('b', 'B2', 10, 0, 0); // replacing: the old size goes, the others make room
    expect(keysOf(lru)).toEqual(['b']);
    expect(lru.calculatedSize).toBe(10);
  });

  it('does not store an entry larger than maxSize, and drops the key old entry', () => {
    const lru = new AnswerLru<string>(100, 10);
    lru.set('a', 'A', 3, 0, 0);
    lru.set('a', 'huge', 11, 0, 0);
    expect(lru.get('a')).toBe(NONE);
    expect(lru.size).toBe(0);
    expect(lru.calculatedSize).toBe(0);
  });

  it('keeps expiry, TTL, failure time and prefetch flag per slot; a new set resets the last two', () => {
    const lru = new AnswerLru<string>(10, 1e9);
    lru.set('a', 'A', 1, 5000, 3000);
    const s = lru.peek('a');
    expect([lru.expiresAt[s], lru.ttlMs[s], lru.failedAt[s], lru.prefetched[s]]).toEqual([5000, 3000, -Infinity, 0]);
    lru.failedAt[s] = 42;
    lru.prefetched[s] = 1;
    lru.set('a', 'A2', 1, 9000, 4000);
    const t = lru.peek('a');
    expect([lru.value(t), lru.expiresAt[t], lru.ttlMs[t], lru.failedAt[t], lru.prefetched[t]]).toEqual(['A2', 9000, 4000, -Infinity, 0]);
  });

  it('reuses deleted slots and keeps every entry as its arrays grow past their first size', () => {
    const lru = new AnswerLru<string>(5000, 1e9);
    for (let i = 0; i < 3000; i++) lru.set(`k${i}`, `v${i}`, 2, i, i * 10);
    expect(lru.delete('k7')).toBe(true);
    expect(lru.delete('k7')).toBe(false);
    lru.set('again', 'x', 2, 1, 1);
    expect(lru.size).toBe(3000);
    expect(lru.calculatedSize).toBe(6000);
    for (let i = 0; i < 3000; i++) {
      if (i === 7) continue;
      const s = lru.peek(`k${i}`);
      expect([lru.value(s), lru.expiresAt[s], lru.ttlMs[s]]).toEqual([`v${i}`, i, i * 10]);
    }
    expect(keysOf(lru)[0]).toBe('again');
    expect(keysOf(lru).at(-1)).toBe('k0');
  });
});
