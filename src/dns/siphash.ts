// SipHash-2-4 (Aumasson and Bernstein), the keyed hash RFC 9018 server cookies are made with:
// a 128-bit key, any message, 64 bits out (little-endian, as the reference implementation writes
// them). 64-bit words are kept as pairs of unsigned 32-bit halves, so no BigInt on the query path.

// State: v0..v3 as [hi, lo] pairs in one array, rewritten in place by each round.
const v = new Uint32Array(8);

function add(a: number, b: number): void {
  // v[a] += v[b] (mod 2^64)
  const lo = v[a + 1]! + v[b + 1]!;
  v[a] = (v[a]! + v[b]! + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  v[a + 1] = lo >>> 0;
}

function rotl(a: number, r: number): void {
  const h = v[a]!;
  const l = v[a + 1]!;
  if (r === 32) {
    v[a] = l;
    v[a + 1] = h;
    return;
  }
  v[a] = ((h << r) | (l >>> (32 - r))) >>> 0;
  v[a + 1] = ((l << r) | (h >>> (32 - r))) >>> 0;
}

function xor(a: number, b: number): void {
  v[a] = (v[a]! ^ v[b]!) >>> 0;
  v[a + 1] = (v[a + 1]! ^ v[b + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function round(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl(V0, 32);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl(V2, 32);
}

/** Mixes one 64-bit little-endian word (hi, lo) in: v3 ^= m, two rounds, v0 ^= m. */
function compress(hi: number, lo: number): void {
  v[V3] = (v[V3]! ^ hi) >>> 0;
  v[V3 + 1] = (v[V3 + 1]! ^ lo) >>> 0;
  round();
  round();
  v[V0] = (v[V0]! ^ hi) >>> 0;
  v[V0 + 1] = (v[V0 + 1]! ^ lo) >>> 0;
}

const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** SipHash-2-4 of `msg` under the 16-byte `key`: 8 bytes, little-endian. */
export function siphash24(key: Uint8Array, msg: Uint8Array): Buffer {
  if (key.length !== 16) throw new Error('SipHash needs a 16-byte key');
  const k0h = le32(key, 4);
  const k0l = le32(key, 0);
  const k1h = le32(key, 12);
  const k1l = le32(key, 8);
  v[0] = (k0h ^ 0x736f6d65) >>> 0;
  v[1] = (k0l ^ 0x70736575) >>> 0;
  v[2] = (k1h ^ 0x646f7261) >>> 0;
  v[3] = (k1l ^ 0x6e646f6d) >>> 0;
  v[4] = (k0h ^ 0x6c796765) >>> 0;
  v[5] = (k0l ^ 0x6e657261) >>> 0;
  v[6] = (k1h ^ 0x74656462) >>> 0;
  v[7] = (k1l ^ 0x79746573) >>> 0;
  const len = msg.length;
  const whole = len - (len % 8);
  for (let o = 0; o < whole; o += 8) compress(le32(msg, o + 4), le32(msg, o));
  // The last word: the remaining bytes, and the length's low byte in the top byte.
  const tail = new Uint8Array(8);
  for (let i = whole; i < len; i++) tail[i - whole] = msg[i]!;
  tail[7] = len & 0xff;
  compress(le32(tail, 4), le32(tail, 0));
  v[V2 + 1] = (v[V2 + 1]! ^ 0xff) >>> 0;
  round();
  round();
  round();
  round();
  const hi = (v[0]! ^ v[2]! ^ v[4]! ^ v[6]!) >>> 0;
  const lo = (v[1]! ^ v[3]! ^ v[5]! ^ v[7]!) >>> 0;
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE(lo, 0);
  out.writeUInt32LE(hi, 4);
  return out;
}
