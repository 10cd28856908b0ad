// Slices: main-thread work gives the event loop a turn once it has run for its slice of time.
import { describe, expect, it } from 'vitest';
import { SLICE_MS, Slices } from '../../src/history/slices.js';

describe('Slices', () => {
  it('is due once its slice has run for its time, and a turn starts the next slice', async () => {
    let t = 100;
    let turned = 0;
    const s = new Slices(async () => void turned++, 5, () => t);
    t = 104.9;
    expect(s.due()).toBe(false);
    await s.check();
    expect(turned).toBe(0);
    t = 105;
    expect(s.due()).toBe(true);
    await s.check();
    expect([turned, s.turns]).toEqual([1, 1]);
    expect(s.due()).toBe(false); // the next slice starts after the turn
    t = 110;
    await s.check();
    expect(turned).toBe(2);
  });

  it('by default takes a turn of the event loop (setImmediate) after ~5 ms', async () => {
    expect(SLICE_MS).toBe(5);
    const s = new Slices();
    let other = false;
    setImmediate(() => (other = true));
    await s.next();
    expect(other).toBe(true);
  });
});
