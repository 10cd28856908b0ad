// The c2-hit windows' table on its own: find() gives the slot of every open (host, rule) window
// and -1 for any other, through random opens and closes out of turn, the table's growth and a
// bound that is not a power of two; the opening order survives it all.
import { describe, expect, it } from 'vitest';
import { WindowTable, type WindowRule } from '../../src/respond/c2-windows.js';

const rule = (name: string): WindowRule => ({ list: 'intel', rule: name, tags: ['c2'], ref: null, line: 1 });

/** A small deterministic generator (the same sequence every run). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

describe('c2 window table', () => {
  it('finds every open window and no closed one through 20,000 random opens and closes, growing up to a bound of 1,500', () => {
    const rnd = random(7);
    const t = new WindowTable(1500);
    const rules = Array.from({ length: 2500 }, (_, i) => rule(`r${i}.c2.example`));
    const hosts = ['10.0.0.1', '10.0.0.2', 'aa:bb:cc:dd:ee:ff', '2001:db8::1'];
    const open = new Map<string, number>(); // "host rule" -> slot
    const keyOf = new Map<number, string>(); // slot -> "host rule"
    const order: number[] = [];
    const wrong: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      const host = hosts[Math.floor(rnd() * hosts.length)]!;
      const r = rules[Math.floor(rnd() * rules.length)]!;
      const key = `${host} ${r.rule}`;
      const s = t.find(host, r.rule);
      if (s !== (open.get(key) ?? -1) || t.live !== open.size) wrong.push(`step ${step}: ${key} at ${s}, expected ${open.get(key) ?? -1}`);
      if (s >= 0 && rnd() < 0.5) {
        t.remove(s);
        open.delete(key);
        order.splice(order.indexOf(s), 1);
      } else if (s < 0) {
        if (t.live === 1500) {
          const oldest = t.oldest();
          t.remove(oldest);
          open.delete(keyOf.get(oldest)!);
          order.shift();
        }
        const added = t.add(host, r);
        open.set(key, added);
        keyOf.set(added, key);
        order.push(added);
      }
    }
    expect(wrong).toEqual([]);
    expect(open.size).toBeGreaterThan(1000); // the bound was reached: evictions happened
    for (const [key, s] of open) {
      const [host, name] = key.split(' ') as [string, string];
      expect(t.find(host, name)).toBe(s);
      expect(t.hostOf[s]!.host).toBe(host);
    }
    const walked: number[] = [];
    for (let s = t.oldest(); s >= 0; s = t.after(s)) walked.push(s);
    expect(walked).toEqual(order);
  });

  it('a host whose last window closed is forgotten, and found again once it opens one', () => {
    const t = new WindowTable(10);
    const a = t.add('10.0.0.1', rule('x.example'));
    expect(t.find('10.0.0.1', 'x.example')).toBe(a);
    t.remove(a);
    expect(t.find('10.0.0.1', 'x.example')).toBe(-1);
    const b = t.add('10.0.0.1', rule('y.example'));
    expect([t.find('10.0.0.1', 'y.example'), t.find('10.0.0.1', 'x.example'), t.find('10.0.0.2', 'y.example')]).toEqual([b, -1, -1]);
  });
});
