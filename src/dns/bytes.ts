// Byte copies and comparisons of a few dozen bytes (headers, questions, cookies) on the per-query
// paths. Buffer#copy of part of a buffer makes a Uint8Array view of that part and then calls
// TypedArray#set, and Buffer#compare with offsets is a call into C++ with its argument checks:
// callgrind, 200,000 calls in a loop on Node 20, a 33-byte copy cost 614 instructions with
// Buffer#copy(target, 12, 12, 45), 604 with set(subarray()), 354 with this loop; a whole-buffer
// TypedArray#set 183 against Buffer#copy's 273.

/** Copies src[from, to) into dst at `at`; the ranges must lie inside both. */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  let i = from;
  for (; i + 4 <= to; i += 4, at += 4) {
    dst[at] = src[i]!;
    dst[at + 1] = src[i + 1]!;
    dst[at + 2] = src[i + 2]!;
    dst[at + 3] = src[i + 3]!;
  }
  for (; i < to; i++) dst[at++] = src[i]!;
}

/** Are a[aFrom, aFrom + n) and b[bFrom, bFrom + n) the same bytes? The ranges must lie inside both. */
export function sameBytes(a: Uint8Array, aFrom: number, b: Uint8Array, bFrom: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aFrom + i] !== b[bFrom + i]) return false;
  return true;
}
