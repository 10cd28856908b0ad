// The short copies and comparisons of the per-query paths (src/dns/bytes.ts): the same bytes as
// Buffer#copy and Buffer#compare give, at every length around the loop's four-byte steps.
import { describe, expect, it } from 'vitest';
import { copyBytes, sameBytes } from '../../src/dns/bytes.js';

const source = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));

describe('copyBytes', () => {
  it('copies src[from, to) to dst at `at` as Buffer#copy does, leaving the rest of dst alone', () => {
    for (let n = 0; n <= 13; n++) {
      for (const [from, at] of [[0, 0], [3, 7], [12, 1]] as const) {
        const mine = Buffer.alloc(40, 0xee);
        const theirs = Buffer.alloc(40, 0xee);
        copyBytes(source, from, from + n, mine, at);
        source.copy(theirs, at, from, from + n);
        expect(mine).toEqual(theirs);
      }
    }
  });

  it('copies from and into plain Uint8Array views that do not start at 0', () => {
    const src = new Uint8Array(source.buffer, source.byteOffset + 5, 20);
    const dst = new Uint8Array(new ArrayBuffer(32), 4, 24);
    copyBytes(src, 2, 11, dst, 6);
    expect([...dst.subarray(6, 15)]).toEqual([...source.subarray(7, 16)]);
    expect(dst[5]).toBe(0);
    expect(dst[15]).toBe(0);
  });
});

describe('sameBytes', () => {
  it('agrees with Buffer#compare on equal ranges and on a difference at any position', () => {
    const copy = Buffer.from(source);
    for (let n = 0; n <= 9; n++) {
      expect(sameBytes(source, 4, copy, 4, n)).toBe(true);
      for (let d = 0; d < n; d++) {
        const other = Buffer.from(source);
        other[4 + d] ^= 0x20;
        expect(sameBytes(source, 4, other, 4, n)).toBe(source.compare(other, 4, 4 + n, 4, 4 + n) === 0);
        expect(sameBytes(source, 4, other, 4, n)).toBe(false);
      }
    }
  });

  it('compares ranges at different offsets of the two', () => {
    const b = Buffer.concat([Buffer.from('xyz'), source.subarray(10, 18)]);
    expect(sameBytes(source, 10, b, 3, 8)).toBe(true);
    expect(sameBytes(source, 11, b, 3, 8)).toBe(false);
  });
});
