// The per-query ISO times are toISOString()'s text, whatever order the times come in.
import { describe, expect, it } from 'vitest';
import { IsoSeconds } from '../../src/observe/iso-time.js';

describe('IsoSeconds', () => {
  it('gives toISOString() for every millisecond, going forward, back and across seconds, days and years', () => {
    const clock = new IsoSeconds();
    const times = [1_764_000_000_000, 1_764_000_000_001, 1_764_000_000_999, 1_764_000_001_000, 1_764_000_000_500, 0, 1, 999, -1, -1000, -1001, 1_767_225_599_999, 1_767_225_600_000];
    for (let i = 0; i < 2000; i++) times.push(1_764_000_000_000 + i * 7);
    for (const t of times) expect(clock.text(t)).toBe(new Date(t).toISOString());
  });

  it('leaves to toISOString() what has no "YYYY-MM-DDTHH:MM:SS.mmmZ" form: fractions of a millisecond, years past 9999', () => {
    const clock = new IsoSeconds();
    for (const t of [1_764_000_000_000.5, 253_402_300_800_000, -62_198_755_200_000]) {
      expect(clock.secondOf(t)).toBeNull();
      expect(clock.text(t)).toBe(new Date(t).toISOString());
    }
    expect(clock.secondOf(1_764_000_000_123)).toBe(new Date(1_764_000_000_123).toISOString().slice(0, 20));
  });
});
