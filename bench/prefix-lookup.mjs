#!/usr/bin/env node
// IP prefix table lookup cost at 10, 1,000 and 100,000 prefixes: it should stay flat, since a
// lookup probes once per distinct prefix length present, whatever the number of prefixes.
//
//   npx tsc -p tsconfig.json && node bench/prefix-lookup.mjs [--queries 100000] [--passes 5]
//
// Every size uses the same mix of prefix lengths (IPv4: /32 ×5, /28, /24 ×2, /16, /12; IPv6:
// /128 ×4, /64 ×2, /56, /48, /40, /32), all present even at 10 prefixes, so that the sizes
// differ only in the number of prefixes. Addresses are drawn with a fixed seed.
//   hit     an address inside a random stored prefix (decided by the longest one there)
//   miss    an address outside every prefix (IPv4 first octet 128-223, IPv6 3000::/4): the worst
//           case, every present length is probed
//   mapped  ::ffff:a.b.c.d of an IPv4 hit, probed against both families
// Reported: ns per lookup(Uint8Array), median of --passes passes over --queries addresses, and
// the number of scavenges during all timed passes (0 = the lookups allocate nothing).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MODULE = join(ROOT, 'dist', 'src', 'blocklist', 'prefix-table.js');
if (!existsSync(MODULE)) {
  process.stderr.write('prefix-lookup: dist/ is missing: run npx tsc -p tsconfig.json first\n');
  process.exit(2);
}
const { IpPrefixTable } = await import(MODULE);

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const QUERIES = opt('--queries', 100_000);
const PASSES = opt('--passes', 5);
const SIZES = [10, 1_000, 100_000];
const V4_LENS = [32, 32, 32, 32, 32, 28, 24, 24, 16, 12];
const V6_LENS = [128, 128, 128, 128, 64, 64, 56, 48, 40, 32];

// Deterministic data (mulberry32).
let state = 0x5eed;
function rand32() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) >>> 0;
}
const below = (n) => rand32() % n;

function v4Text(b) {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}
function v6Text(b) {
  const g = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16));
  return g.join(':');
}
function randomBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = below(256);
  return b;
}
/** A copy of `net` with the bits past `len` random: an address inside net/len. */
function inside(net, len) {
  const b = Uint8Array.from(net);
  for (let bit = len; bit < b.length * 8; bit++) if (below(2)) b[bit >> 3] ^= 0x80 >> (bit & 7);
  return b;
}

function build(size) {
  const table = new IpPrefixTable();
  const v4 = [];
  const v6 = [];
  for (let i = 0; i < size; i++) {
    const a = randomBytes(4);
    a[0] = 1 + below(126);
    const l4 = V4_LENS[i % V4_LENS.length];
    table.add(`${v4Text(a)}/${l4}`, { kind: 'block' });
    v4.push([a, l4]);
    const b = randomBytes(16);
    b[0] = 0x20 + below(16);
    const l6 = V6_LENS[i % V6_LENS.length];
    table.add(`${v6Text(b)}/${l6}`, { kind: 'block' });
    v6.push([b, l6]);
  }
  return { table, v4, v6 };
}

function queries(kind, v4, v6) {
  const out = [];
  for (let i = 0; i < QUERIES; i++) {
    if (kind === 'v4 hit') out.push(inside(...v4[below(v4.length)]));
    else if (kind === 'v6 hit') out.push(inside(...v6[below(v6.length)]));
    else if (kind === 'mapped hit') {
      const m = new Uint8Array(16);
      m[10] = m[11] = 255;
      m.set(inside(...v4[below(v4.length)]), 12);
      out.push(m);
    } else if (kind === 'v4 miss') {
      const a = randomBytes(4);
      a[0] = 128 + below(96);
      out.push(a);
    } else {
      const b = randomBytes(16);
      b[0] = 0x30 + below(16);
      out.push(b);
    }
  }
  return out;
}

// Scavenges (young-generation GCs) that start inside a timed pass: allocation by the lookups
// would show here. Major GCs are left out: they follow the heap growth of building the tables.
const gcStarts = [];
const windows = [];
const timed = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcStarts.push(e.startTime);
});
observer.observe({ entryTypes: ['gc'] });

function pass(table, qs) {
  let hits = 0;
  const start = performance.now();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < qs.length; i++) if (table.lookup(qs[i]) !== null) hits++;
  const ns = Number(process.hrtime.bigint() - t0) / qs.length;
  windows.push([start, performance.now()]);
  return { ns, hits };
}

const KINDS = ['v4 hit', 'v4 miss', 'mapped hit', 'v6 hit', 'v6 miss'];
const rows = [];
for (const size of SIZES) {
  const { table, v4, v6 } = build(size);
  const row = { prefixes: table.size };
  for (const kind of KINDS) {
    const qs = queries(kind, v4, v6);
    pass(table, qs); // warm-up: let the JIT settle before timing
    windows.length = 0;
    const runs = [];
    let hits = 0;
    for (let p = 0; p < PASSES; p++) {
      const r = pass(table, qs);
      runs.push(r.ns);
      hits = r.hits;
    }
    timed.push(...windows);
    runs.sort((x, y) => x - y);
    const expectHit = kind.endsWith('hit');
    if (hits !== (expectHit ? qs.length : 0)) throw new Error(`${kind}: ${hits}/${qs.length} hits`);
    row[kind] = runs[runs.length >> 1].toFixed(0);
  }
  rows.push(row);
}
await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
observer.disconnect();
const gcs = gcStarts.filter((t) => timed.some(([a, b]) => t >= a && t <= b)).length;

const header = ['prefixes (v4+v6)', ...KINDS.map((k) => `${k} ns`)];
const lines = [header, ...rows.map((r) => [String(r.prefixes), ...KINDS.map((k) => r[k])])];
const width = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
for (const l of lines) console.log(l.map((c, i) => c.padStart(width[i])).join('  '));
console.log(`node ${process.version}, ${QUERIES} queries × ${PASSES} passes (median), scavenges during timed passes: ${gcs}`);
