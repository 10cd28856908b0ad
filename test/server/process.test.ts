// The serving process's heap policy (src/server/process.ts): V8's heap may grow at most 50 % past
// the live data, unless the operator started node with their own --heap-growing-percent.
import { describe, expect, it } from 'vitest';
import { boundHeapGrowth, HEAP_GROWING_PERCENT } from '../../src/server/process.js';

describe('boundHeapGrowth', () => {
  it('sets the bound when node was started without one', () => {
    expect(HEAP_GROWING_PERCENT).toBe(50);
    expect(boundHeapGrowth(['--enable-source-maps'])).toBe(true);
  });

  it.each([['--heap-growing-percent=0'], ['--heap-growing-percent=80'], ['--heap_growing_percent=20']])('leaves an explicit %s alone', (flag) => {
    expect(boundHeapGrowth(['--enable-source-maps', flag])).toBe(false);
  });
});
