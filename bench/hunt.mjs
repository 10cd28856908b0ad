#!/usr/bin/env node
// Query-history benchmark: writes N synthetic logged queries straight through the recorder (no
// DNS), then hunts them. Runs against dist/ (npm run build first).
//
//   node bench/hunt.mjs [--queries 10000000] [--days 7] [--clients 2000] [--names 200000]
//                       [--dir bench/out/history] [--runs 3] [--reuse] [--hunt-only]
//
// Prints: write rate (records/s end to end, and the CPU cost of one record() call), disk size
// (gzip'ed segments, bytes per query, per 10M), the cost of onQuery with a real reply to parse,
// and the hunt time for 25 indicators over the whole history (median of --runs), plus a hunt for
// 100,000 indicators (a large feed refresh), each as wall clock and as the process's CPU time
// (all threads: the scan and the gunzip in the thread pool; on a busy machine the wall clock
// also counts waiting for a core, the CPU time much less so). The planted hits are checked exactly.
// --reuse skips the write phase when --dir already holds a history made with the same parameters;
// --hunt-only also skips the onQuery and disk-size measurements.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const DIST = join(ROOT, 'dist', 'src', 'history');
if (!existsSync(join(DIST, 'hunt.js'))) {
  console.error('bench/hunt.mjs: dist/ not built; run `npm run build` first');
  process.exit(1);
}
const { HistoryRecorder } = await import(join(DIST, 'recorder.js'));
const { hunt, huntDetailed } = await import(join(DIST, 'hunt.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('--queries', 10_000_000));
const DAYS = Number(opt('--days', 7));
const CLIENTS = Number(opt('--clients', 2000));
const NAMES = Number(opt('--names', 200_000));
const RUNS = Number(opt('--runs', 3));
const DIR = opt('--dir', join(HERE, 'out', 'history'));
const REUSE = args.includes('--reuse');
const HUNT_ONLY = args.includes('--hunt-only');
const DAY = 86_400_000;

/** mulberry32: the same history every run. */
function rng(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r = rng(20230329);
const TLDS = ['com', 'net', 'org', 'io', 'de', 'co.uk', 'cloud', 'app'];
const LABELS = ['www', 'api', 'cdn', 'static', 'img', 'login', 'mail', 'edge', 'update', 'telemetry'];
// ~NAMES distinct names: sites with a few host names each, like real traffic.
const names = [];
for (let site = 0; names.length < NAMES; site++) {
  const base = `site${site.toString(36)}-${Math.floor(r() * 1e6).toString(36)}.${TLDS[site % TLDS.length]}`;
  names.push(base);
  const hosts = 1 + Math.floor(r() * 5);
  for (let h = 0; h < hosts && names.length < NAMES; h++) names.push(`${LABELS[Math.floor(r() * LABELS.length)]}${h > 0 ? h : ''}.${base}`);
}
const answers = names.map((_, i) => new Uint8Array([23 + (i % 200), (i >> 16) & 255, (i >> 8) & 255, i & 255]));
const clients = Array.from({ length: CLIENTS }, (_, i) => (i % 10 === 9 ? `fd00::${(i + 1).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
const T_END = Math.floor(Date.now() / 3_600_000) * 3_600_000;
const T_START = T_END - DAYS * DAY;

// 25 indicators: 10 planted C2 names (queried only by the planted clients), 10 C2 names nobody
// queried, 5 parents of real sites (hits in ordinary traffic, subdomain matching).
const planted = Array.from({ length: 10 }, (_, i) => `c2-${i}.evil-${i % 3}.example`);
const unseen = Array.from({ length: 10 }, (_, i) => `never-${i}.c2.example`);
const popularSites = [0, 1, 7, 100, 5000].map((i) => names[i].split('.').slice(-2).join('.'));
const indicators = new Set([...planted, ...unseen, ...popularSites]);
const plants = []; // [time, client, name]
for (let i = 0; i < planted.length; i++) {
  const who = clients[(i * 37) % CLIENTS];
  const times = 1 + (i % 4) * 3;
  for (let k = 0; k < times; k++) plants.push([T_START + Math.floor(((i + 1) / 12) * DAYS * DAY) + k * 600_000, who, `beacon.${planted[i]}`]);
}
plants.sort((a, b) => a[0] - b[0]);

const stampFile = join(DIR, 'bench-stamp.json');
const stamp = JSON.stringify({ N, DAYS, CLIENTS, NAMES, T_END });
const mb = (b) => (b / 1e6).toFixed(1);

async function write() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  let simNow = T_START;
  const rec = new HistoryRecorder({ dir: DIR, retentionDays: 30, now: () => simNow });
  const step = (T_END - T_START) / N;
  let p = 0;
  let inCalls = 0;
  let dropped = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; ) {
    const c0 = performance.now();
    const end = Math.min(N, i + 10_000);
    for (; i < end; i++) {
      const t = Math.floor(T_START + i * step);
      while (p < plants.length && plants[p][0] <= t) {
        const [pt, who, qn] = plants[p++];
        rec.record(pt, who, qn, 1, 'allowed', 0, new Uint8Array([203, 0, 113, p & 255]));
      }
      const x = r();
      const ni = Math.floor(x * x * x * NAMES); // skewed popularity: a few names take most queries
      const ci = Math.floor(r() * CLIENTS);
      const y = r();
      const ok = rec.record(t, clients[ci], names[ni], y < 0.75 ? 1 : y < 0.95 ? 28 : 65, y < 0.4 ? 'cached' : 'allowed', y > 0.985 ? 3 : 0, y < 0.75 ? answers[ni] : null);
      if (!ok) dropped++;
    }
    inCalls += performance.now() - c0;
    simNow = Math.floor(T_START + i * step);
    // Let the writes run when the buffer is getting full (a server would keep answering).
    while (rec.stats().buffered > 50_000) await new Promise((res) => setImmediate(res));
  }
  const tGen = performance.now() - t0;
  await rec.close();
  const tAll = performance.now() - t0;
  const s = rec.stats();
  writeFileSync(stampFile, stamp);
  return { tGen, tAll, inCalls, dropped, stats: s };
}

/** The cost of making up one record (same draws as write()), to subtract from the measured record() time. */
function generationCost() {
  const g = rng(1);
  const M = 1_000_000;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < M; i++) {
    const x = g();
    const ni = Math.floor(x * x * x * NAMES);
    const ci = Math.floor(g() * CLIENTS);
    const y = g();
    sink += names[ni].length + clients[ci].length + (y < 0.75 ? answers[ni][0] : 0);
  }
  return { ns: ((performance.now() - t0) * 1e6) / M, sink };
}

function diskUsage() {
  let gz = 0;
  let raw = 0;
  let files = 0;
  for (const f of readdirSync(DIR)) {
    if (!/\.c2h(\.gz)?$/.test(f)) continue;
    files++;
    const size = statSync(join(DIR, f)).size;
    gz += size;
    raw += f.endsWith('.gz') ? gunzipSync(readFileSync(join(DIR, f))).length : size;
  }
  return { gz, raw, files };
}

/** onQuery with a real reply (CNAME + A) to parse: the per-query cost on the answering path. */
async function onQueryCost() {
  const dir = join(DIR, '..', 'history-onquery');
  rmSync(dir, { recursive: true, force: true });
  const rec = new HistoryRecorder({ dir, maxBufferedRecords: 2_000_000 });
  const mk = (name) => {
    const q = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
    const h = Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
    const cname = Buffer.from([0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 1, 44, 0, 2, 0xc0, 0x0c]);
    const a = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 93, 184, 216, 34]);
    return Buffer.concat([h, q, cname, a]);
  };
  const replies = names.slice(0, 5000).map(mk);
  const M = 1_000_000;
  const now = Date.now();
  const ev = { time: now, client: '', clientPort: 5000, transport: 'udp', qname: '', qtype: 1, action: 'allowed', match: null, rcode: 0, latencyMs: 1, upstream: null, truncated: false, reply: null };
  const t0 = performance.now();
  for (let i = 0; i < M; i++) {
    ev.client = clients[i % CLIENTS];
    ev.qname = names[i % 5000];
    ev.reply = replies[i % 5000];
    rec.onQuery(ev);
  }
  const dt = performance.now() - t0;
  await rec.close();
  rmSync(dir, { recursive: true, force: true });
  return (dt * 1e6) / M;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

console.log(`c2dns query-history benchmark: ${N.toLocaleString('en')} queries over ${DAYS} days, ${CLIENTS} clients, ${NAMES.toLocaleString('en')} names; node ${process.version}`);
console.log(`history directory: ${DIR}`);

if (REUSE && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  console.log('write: skipped (--reuse, same parameters)');
} else {
  const w = await write();
  const gen = generationCost();
  const perRecord = (w.inCalls * 1e6) / N;
  console.log(
    `write: ${w.stats.recorded.toLocaleString('en')} records (${w.dropped} dropped) in ${(w.tAll / 1000).toFixed(2)} s end to end ` +
      `(${Math.round(w.stats.recorded / (w.tAll / 1000)).toLocaleString('en')} records/s, incl. flushes, gzip of closed segments, data generation); ` +
      `record() ${(perRecord - gen.ns).toFixed(0)} ns/record (${perRecord.toFixed(0)} ns measured minus ${gen.ns.toFixed(0)} ns making up the record)`,
  );
}
if (!HUNT_ONLY) {
  const q = await onQueryCost();
  console.log(`onQuery with a CNAME+A reply to parse: ${q.toFixed(0)} ns/query on the answering path`);

  const d = diskUsage();
  const perQ = d.gz / N;
  console.log(`disk: ${d.files} segment files, ${mb(d.gz)} MB gzip'ed (${perQ.toFixed(2)} bytes/query → ${mb(perQ * 10_000_000)} MB per 10M queries); uncompressed ${mb(d.raw)} MB (${(d.raw / N).toFixed(2)} bytes/query)`);
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const times = [];
const cpus = [];
let result;
for (let i = 0; i < RUNS; i++) {
  const c0 = cpuMs();
  const t0 = performance.now();
  result = await huntDetailed(DIR, { names: indicators, since: 0 });
  times.push(performance.now() - t0);
  cpus.push(cpuMs() - c0);
}
const hits = result.hits;
// Check the planted hits exactly: who, how often, first and last time.
const expected = new Map();
for (const [t, who, qn] of plants) {
  const e = expected.get(`${who} ${qn}`) ?? { count: 0, first: t, last: t };
  e.count++;
  e.last = t;
  expected.set(`${who} ${qn}`, e);
}
const got = new Map(hits.filter((h) => h.name.startsWith('beacon.')).map((h) => [`${h.client} ${h.name}`, { count: h.count, first: h.firstSeen, last: h.lastSeen }]));
const ok = JSON.stringify([...got].sort()) === JSON.stringify([...expected].sort());
console.log(
  `hunt, 25 indicators over ${result.records.toLocaleString('en')} records in ${result.segments} segments: median ${(median(times) / 1000).toFixed(2)} s ` +
    `(runs: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s), CPU median ${(median(cpus) / 1000).toFixed(2)} s (runs: ${cpus.map((t) => (t / 1000).toFixed(2)).join(', ')} s); ` +
    `${hits.length} (client, name) hits; planted hits ${ok ? 'all found exactly' : 'MISMATCH'}`,
);
if (!ok) {
  console.log('expected', [...expected], 'got', [...got]);
  process.exitCode = 1;
}

const big = new Set(indicators);
for (let i = 0; big.size < 100_000; i++) big.add(`feed-${i}.bad-${i % 977}.example`);
const cb = cpuMs();
const tb = performance.now();
const bigHits = await hunt(DIR, { names: big, since: 0 });
console.log(`hunt, ${big.size.toLocaleString('en')} indicators: ${((performance.now() - tb) / 1000).toFixed(2)} s, CPU ${((cpuMs() - cb) / 1000).toFixed(2)} s, ${bigHits.length} hits`);
