// A seeded generator of hostile DNS messages for the fuzz test (test/server/fuzz.test.ts) and its
// long run (npm run fuzz): random bytes, and valid queries mutated the ways parsers break: bit
// flips, truncation, trailing garbage, header counts up to 65,535, label lengths (0, 63, 64, a
// compression pointer, a pointer loop), QR/opcode/class/type, and OPT variants (two OPTs, OPT
// outside the additional section, a version other than 0, RDLENGTH past the end, options with
// lengths that lie, COOKIE/NSID/keepalive/ECS/MAC of every bad length). Deterministic per seed.

/** xorshift128+ reduced to 32 bits: fast, seeded, good enough to pick mutations. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    const mix = (): number => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
  }

  /** xoshiro128** */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const NAMES = ['example.com', 'a.b.c.d.e.f.example', 'xn--bcher-kva.example', 'blocked.fuzz.test', 'sub.blocked.fuzz.test', '_srv._tcp.example', '', 'x'.repeat(63) + '.example'];
const TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41, 43, 46, 48, 64, 65, 99, 249, 250, 251, 252, 253, 254, 255, 256, 257, 65535, 0];
const CLASSES = [1, 1, 1, 3, 4, 254, 255, 0, 2, 65535];
const OPTION_CODES = [3, 8, 10, 11, 12, 15, 65001, 65073, 65074, 0, 65535];

function name(rng: Rng): Buffer {
  const n = rng.pick(NAMES);
  const parts: Buffer[] = [];
  if (n !== '') for (const l of n.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function optRecord(rng: Rng): Buffer {
  const options: Buffer[] = [];
  const n = rng.int(4);
  for (let i = 0; i < n; i++) {
    const code = rng.pick(OPTION_CODES);
    const len = rng.pick([0, 1, 2, 4, 7, 8, 9, 15, 16, 24, 40, 41, 64]);
    const o = Buffer.alloc(4 + len);
    o.writeUInt16BE(code, 0);
    // Sometimes the option's length lies.
    o.writeUInt16BE(rng.chance(0.1) ? rng.int(65536) : len, 2);
    rng.bytes(len).copy(o, 4);
    options.push(o);
  }
  const rdata = Buffer.concat(options);
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(41, 1);
  opt.writeUInt16BE(rng.pick([0, 1, 512, 1232, 4096, 65535]), 3);
  opt[5] = rng.chance(0.1) ? rng.int(256) : 0; // extended rcode
  opt[6] = rng.chance(0.1) ? rng.int(256) : 0; // version
  opt[7] = rng.chance(0.5) ? 0x80 : 0; // DO
  opt.writeUInt16BE(rng.chance(0.05) ? rng.int(65536) : rdata.length, 9);
  return Buffer.concat([opt, rdata]);
}

/** A well-formed query, sometimes with an OPT record: the seed of most mutations. */
export function validish(rng: Rng): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(rng.int(65536), 0);
  h.writeUInt16BE(0x0100 | (rng.chance(0.2) ? 0x0010 : 0) | (rng.chance(0.1) ? 0x0020 : 0), 2);
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(rng.pick(TYPES), 0);
  q.writeUInt16BE(rng.pick(CLASSES), 2);
  const parts = [h, name(rng), q];
  if (rng.chance(0.6)) {
    parts.push(optRecord(rng));
    h.writeUInt16BE(1, 10);
  }
  return Buffer.concat(parts);
}

type Mutation = (m: Buffer, rng: Rng) => Buffer;

const MUTATIONS: readonly Mutation[] = [
  // bit flips
  (m, rng) => {
    const b = Buffer.from(m);
    for (let i = 0, n = 1 + rng.int(8); i < n && b.length > 0; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
    return b;
  },
  // a random byte
  (m, rng) => {
    const b = Buffer.from(m);
    if (b.length > 0) b[rng.int(b.length)] = rng.int(256);
    return b;
  },
  // truncated
  (m, rng) => m.subarray(0, rng.int(m.length + 1)),
  // trailing garbage
  (m, rng) => Buffer.concat([m, rng.bytes(1 + rng.int(64))]),
  // header counts, huge or off by one
  (m, rng) => {
    const b = Buffer.from(m);
    if (b.length >= 12) b.writeUInt16BE(rng.pick([0, 1, 2, 3, 255, 0x7fff, 0xffff]), 4 + 2 * rng.int(4));
    return b;
  },
  // a label length byte replaced (0, 63, 64, 127, a pointer)
  (m, rng) => {
    const b = Buffer.from(m);
    if (b.length > 12) b[12 + rng.int(Math.min(20, b.length - 12))] = rng.pick([0, 1, 63, 64, 127, 0x80, 0xc0, 0xff]);
    return b;
  },
  // the question name a compression pointer to itself (a loop), or to the header
  (m, rng) => {
    const b = Buffer.from(m);
    if (b.length >= 14) b.writeUInt16BE(rng.pick([0xc00c, 0xc000, 0xc00d, 0xffff]), 12);
    return b;
  },
  // QR, opcode, rcode bits
  (m, rng) => {
    const b = Buffer.from(m);
    if (b.length >= 4) b.writeUInt16BE(rng.int(65536), 2);
    return b;
  },
  // records appended behind the question: answer/authority records, a second OPT, OPT with a name
  (m, rng) => {
    const extra = rng.pick([optRecord(rng), Buffer.concat([Buffer.from([1, 0x61, 0]), optRecord(rng).subarray(1)]), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]);
    const b = Buffer.concat([m, extra]);
    if (b.length >= 12) b.writeUInt16BE(rng.int(4), 6 + 2 * rng.int(3));
    return b;
  },
  // a very long name of many short labels, or one label past 63
  (_m, rng) => {
    const labels = rng.chance(0.5) ? Array.from({ length: 130 }, () => Buffer.from([1, 0x61])) : [Buffer.from([64]), Buffer.alloc(64, 0x62)];
    const h = Buffer.alloc(12);
    h.writeUInt16BE(1, 4);
    return Buffer.concat([h, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  },
];

/** One hostile message: random bytes (1 in 5) or a mutated valid query (one to three mutations). */
export function hostile(rng: Rng): Buffer {
  if (rng.chance(0.2)) return rng.bytes(rng.int(rng.chance(0.9) ? 64 : 1500));
  let m = validish(rng);
  for (let i = 0, n = 1 + rng.int(3); i < n; i++) m = rng.pick(MUTATIONS)(m, rng);
  return m;
}
