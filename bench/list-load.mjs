#!/usr/bin/env node
// List loading and lookup at scale: how long a big plain list takes to become a live lookup
// structure, how much memory it keeps, and whether a lookup costs the same at 10k and 1M names.
//
//   npm run bench:lists                         (= npm run build && node --expose-gc bench/list-load.mjs)
//   node --expose-gc bench/list-load.mjs [--sizes 10000,1000000] [--runs 3] [--queries 200000] [--force]
//
// Data (deterministic, bench/data/, gitignored): list-<N>.txt, a plain list of N distinct realistic
// names of 2–4 labels (45% registrable names under ~45 TLDs including co.uk/com.br, 35% with one
// sub-label, 20% with two; 30% of those under a parent that other entries share, as lists of
// phishing hosts have), a header, the odd comment, and ~0.2% of the lines a URL, an IP:port, an
// upper-case name or a hash, as real feeds mix them in (those take the general, slower path).
//
// Per size it reports:
//   load   read + decode + parse + guard + build, as the server does it (FeedManager: decodeFeed,
//          compileSource with a fresh first-seen table, then the chunked DomainTrie build that
//          yields to the event loop every 20,000 rules), median of --runs; wall clock, and the
//          process's CPU time beside it (all threads, GC helpers included; on a busy machine
//          the wall clock also includes waiting for a core)
//   heap   what stays allocated while the list is live (after gc, with --expose-gc): V8 heap
//          (heapUsed) plus typed-array memory (arrayBuffers), against a baseline taken before
//   rss    process RSS at that point
//   lookup ns per trie.match() on random listed names and subdomains of them (hit) and on
//          random unlisted names of the same shape (miss), median of 5 passes
//
// and what the retro-hunt preparation (history on, the default) costs on each publish of that
// list (history/indicators.ts newBlockNames, as RetroHunter.onRulesPublished runs it), median of
// --runs:
//   +10 new   a refresh that adds 10 names to the list (the usual case): wall ms, CPU ms, the
//             longest stretch without an event-loop turn, heap allocated during the call (heapUsed
//             + arrayBuffers growth before any gc: a lower bound) and kept while its result lives
//   all new   every name new (a first start with history on and no first-seen state yet)
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const DATA = join(HERE, 'data');
const DIST = join(ROOT, 'dist', 'src');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = String(opt('--sizes', '10000,1000000')).split(',').map(Number);
const RUNS = Number(opt('--runs', 3));
const QUERIES = Number(opt('--queries', 200000));
const FORCE = args.includes('--force');
if (typeof global.gc !== 'function') {
  process.stderr.write('list-load: run with node --expose-gc (npm run bench:lists does)\n');
  process.exit(2);
}
if (!existsSync(join(DIST, 'feeds', 'compile.js'))) {
  process.stderr.write('list-load: dist/ is missing: run npm run build first (npm run bench:lists does)\n');
  process.exit(2);
}

const { compileSource } = await import(join(DIST, 'feeds', 'compile.js'));
const { decodeFeed } = await import(join(DIST, 'feeds', 'decode.js'));
const { Guard, DEFAULT_PROTECTED } = await import(join(DIST, 'blocklist', 'guard.js'));
const { DomainTrie } = await import(join(DIST, 'blocklist', 'trie.js'));
const { NameTable } = await import(join(DIST, 'blocklist', 'names.js'));
const { newBlockNames } = await import(join(DIST, 'history', 'indicators.js'));

// ---- data -------------------------------------------------------------------------------

// mulberry32: small, fast, seedable; the same seed gives the same files on every machine.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[Math.floor(next() * arr.length)];
  return next;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const WORDS = ['ad', 'cdn', 'trk', 'px', 'stat', 'metric', 'click', 'srv', 'cloud', 'api', 'img', 'tag', 'sync', 'data', 'log', 'beacon', 'mail', 'update', 'secure', 'login', 'media', 'edge', 'node', 'go', 'get', 'www', 'app', 'portal', 'auth', 'files'];
const TLDS = [
  ...Array(30).fill('com'), ...Array(10).fill('net'), ...Array(6).fill('org'),
  'info', 'biz', 'io', 'xyz', 'top', 'ru', 'cn', 'de', 'online', 'site', 'club', 'shop', 'app', 'live', 'co.uk', 'com.br', 'net.pl',
  'in', 'cc', 'me', 'su', 'tk', 'pw', 'icu', 'vip', 'work', 'fr', 'nl', 'com.cn', 'co.in',
];

function label(r, lo, hi) {
  const n = lo + r.int(hi - lo + 1);
  let s;
  if (r() < 0.35) {
    s = r.pick(WORDS) + (r() < 0.5 ? '-' : '');
    for (let i = 0; i < Math.max(2, n - 6); i++) s += ALNUM[r.int(36)];
  } else {
    s = LETTERS[r.int(26)];
    for (let i = 1; i < n; i++) s += ALNUM[r.int(36)];
  }
  return s;
}

/** n distinct names: 45% registrable (label.tld), 35% one sub-label, 20% two; 30% of those reuse a recent parent. */
function names(n, seed) {
  const r = rng(seed);
  const seen = new Set();
  const out = [];
  const bases = [];
  while (out.length < n) {
    const x = r();
    let name;
    if (x < 0.45 || bases.length === 0) {
      name = `${label(r, 5, 14)}.${r.pick(TLDS)}`;
      bases.push(name);
      if (bases.length > 4096) bases.splice(0, 2048);
    } else {
      const base = r() < 0.3 ? r.pick(bases) : `${label(r, 5, 14)}.${r.pick(TLDS)}`;
      const sub = r() < 0.6 ? r.pick(WORDS) : label(r, 2, 8);
      name = x < 0.8 ? `${sub}.${base}` : `${r() < 0.5 ? r.pick(WORDS) : label(r, 1, 6)}.${sub}.${base}`;
    }
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
  return out;
}

function listPath(n) {
  return join(DATA, `list-${n}.txt`);
}

function writeList(n) {
  const path = listPath(n);
  if (existsSync(path) && !FORCE) return path;
  mkdirSync(DATA, { recursive: true });
  const r = rng(7 + n);
  const list = names(n, 1000 + n);
  const fd = openSync(`${path}.tmp`, 'w');
  let buf = `# c2dns bench list: ${n} names (bench/list-load.mjs)\n# one name per line\n\n`;
  for (let i = 0; i < list.length; i++) {
    const name = list[i];
    const x = r();
    if (x < 0.0005) buf += `https://${name}/gate.php?id=${r.int(1e6)}\n`;
    else if (x < 0.001) buf += `${name.toUpperCase()}\n`;
    else if (x < 0.0015) buf += `${name}  # seen ${1 + r.int(28)} Nov\n`;
    else buf += `${name}\n`;
    if (x > 0.9985) buf += `${1 + r.int(223)}.${r.int(256)}.${r.int(256)}.${r.int(256)}:${1024 + r.int(60000)}\n`;
    if (x > 0.999) buf += `${'0123456789abcdef'.repeat(4)}\n`;
    if (i % 50000 === 49999) buf += `# --- ${i + 1}\n`;
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
  renameSync(`${path}.tmp`, path); // last: an interrupted run never leaves half a file behind
  return path;
}

// ---- measuring --------------------------------------------------------------------------

const cfg = (path) => ({
  name: 'bench',
  path,
  format: 'plain',
  kind: 'block',
  match: 'subtree',
  tags: [],
  jitterSeconds: 0,
  retries: 0,
  timeoutMs: 1000,
  maxBytes: 1 << 30,
  maxShrinkRatio: 1,
  maxAgeDays: 0,
  minConfidence: 0,
  mispIncludeNonIds: false,
});
const guard = new Guard(DEFAULT_PROTECTED);
const BUILD_CHUNK = 20_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b) => b / 1048576;

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/** One load as the FeedManager does it: bytes → text → compiled rules → trie (chunked). */
async function load(path) {
  const c0 = cpuMs();
  const t0 = performance.now();
  const text = decodeFeed(readFileSync(path), { maxBytes: 1 << 30, allowEmpty: false, lineFormat: true });
  const t1 = performance.now();
  const compiled = compileSource(text, cfg(path), guard, new NameTable(), Date.now());
  const t2 = performance.now();
  const build = DomainTrie.builder([compiled.rules]);
  while (!build.step(BUILD_CHUNK)) await new Promise((r) => setImmediate(r));
  const trie = build.finish();
  const t3 = performance.now();
  return { compiled, trie, ms: { total: t3 - t0, read: t1 - t0, compile: t2 - t1, build: t3 - t2, cpu: cpuMs() - c0 } };
}

/** Memory in use once garbage is gone (typed-array memory is freed by a background sweeper: wait for it). */
async function memory() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, ab: m.arrayBuffers, rss: m.rss };
}

/**
 * The retro-hunt preparation on a list of `path`: known since t0, then refreshed at t0 + 1 s with
 * 10 more names (the same first-seen table, as the FeedManager keeps it), hunted from watermark wm.
 */
async function retroPrep(path, runs) {
  const text = decodeFeed(readFileSync(path), { maxBytes: 1 << 30, allowEmpty: false, lineFormat: true });
  const t0 = Date.now() - 60_000;
  const seen = new NameTable();
  compileSource(text, cfg(path), guard, seen, t0);
  const extra = Array.from({ length: 10 }, (_, i) => `fresh-${i}.new-c2.example.com`).join('\n');
  const refreshed = compileSource(`${text}\n${extra}\n`, cfg(path), guard, seen, t0 + 1000);
  const sources = [{ config: cfg(path), compiled: refreshed }];
  const once = async (wm) => {
    const m0 = await memory();
    let last = performance.now();
    let stall = 0;
    const turn = () =>
      new Promise((r) =>
        setImmediate(() => {
          last = performance.now();
          r();
        }),
      );
    const c0 = cpuMs();
    const t = performance.now();
    let got = await newBlockNames(sources, wm, {
      turn: () => {
        stall = Math.max(stall, performance.now() - last);
        return turn();
      },
    });
    const ms = performance.now() - t;
    stall = Math.max(stall, performance.now() - last);
    const cpu = cpuMs() - c0;
    const m1 = process.memoryUsage();
    const kept = await memory();
    const out = { ms, cpu, stall, names: got.set.size, alloc: m1.heapUsed + m1.arrayBuffers - m0.heap - m0.ab, kept: kept.heap + kept.ab - m0.heap - m0.ab };
    got = null;
    return out;
  };
  const pick = async (wm) => {
    await once(wm); // warm-up: the first calls also allocate compiled code
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(await once(wm));
    const m = (k) => median(rs.map((r) => r[k]));
    return { ms: m('ms'), cpu: m('cpu'), stall: m('stall'), names: rs[0].names, alloc: m('alloc'), kept: m('kept') };
  };
  return { ten: await pick(t0 + 1000), all: await pick(t0) };
}

function queries(list, trie, n, seed) {
  const r = rng(seed);
  const hits = [];
  for (let i = 0; i < n; i++) {
    const name = list[r.int(list.length)];
    hits.push(r() < 0.5 ? name : `${r() < 0.5 ? r.pick(WORDS) : label(r, 1, 8)}.${name}`);
  }
  const misses = [];
  const fresh = names(n * 2, seed + 1);
  for (const name of fresh) {
    if (misses.length === n) break;
    if (trie.match(name) === null) misses.push(name);
  }
  // flat strings, as a query's name arrives from the wire decoder
  return { hits: JSON.parse(JSON.stringify(hits)), misses: JSON.parse(JSON.stringify(misses)) };
}

function nsPerLookup(trie, qs, expectHit) {
  const now = Date.now();
  const passes = [];
  let found = 0;
  for (let pass = 0; pass < 6; pass++) {
    found = 0;
    const t = process.hrtime.bigint();
    for (let i = 0; i < qs.length; i++) if (trie.match(qs[i], now) !== null) found++;
    passes.push(Number(process.hrtime.bigint() - t) / qs.length);
  }
  if (expectHit ? found !== qs.length : found !== 0) throw new Error(`lookup check failed: ${found} of ${qs.length} matched`);
  return median(passes.slice(1)); // the first pass warms up
}

// ---- run --------------------------------------------------------------------------------

process.stdout.write(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
const rows = [];
for (const n of SIZES) {
  const path = writeList(n);
  const listed = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(l));
  const runs = [];
  let heap = null;
  let kept = null;
  for (let i = 0; i < RUNS; i++) {
    kept = null; // (a suspended async function keeps its locals: clear every reference explicitly)
    const before = await memory();
    kept = await load(path);
    runs.push(kept.ms);
    const after = await memory();
    heap = { js: after.heap - before.heap, ab: after.ab - before.ab, rss: after.rss };
  }
  const { trie, compiled } = kept;
  const qs = queries(listed, trie, Math.min(QUERIES, Math.max(20000, n)), 99 + n);
  const hit = nsPerLookup(trie, qs.hits, true);
  const miss = nsPerLookup(trie, qs.misses, false);
  rows.push({
    n,
    rules: compiled.rules.length,
    load: median(runs.map((r) => r.total)),
    cpu: median(runs.map((r) => r.cpu)),
    read: median(runs.map((r) => r.read)),
    compile: median(runs.map((r) => r.compile)),
    build: median(runs.map((r) => r.build)),
    heap,
    parts: { names: compiled.rules.dict.memoryBytes, rules: compiled.rules.memoryBytes, trie: trie.memoryBytes },
    hit,
    miss,
  });
  kept = null;
  rows.at(-1).retro = await retroPrep(path, RUNS);
}

const pad = (s, w) => String(s).padStart(w);
const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(1);
process.stdout.write('\n');
process.stdout.write(`${'names'.padEnd(9)}${pad('load ms', 9)}${pad('(cpu)', 7)}${pad('read', 7)}${pad('parse+guard', 13)}${pad('build', 7)}${pad('heap MB', 9)}${pad('(js', 7)}${pad('+ arrays)', 10)}${pad('B/name', 8)}${pad('RSS MB', 8)}${pad('hit ns', 8)}${pad('miss ns', 9)}\n`);
for (const r of rows) {
  const total = r.heap.js + r.heap.ab;
  process.stdout.write(
    `${String(r.n).padEnd(9)}${pad(f0(r.load), 9)}${pad(f0(r.cpu), 7)}${pad(f0(r.read), 7)}${pad(f0(r.compile), 13)}${pad(f0(r.build), 7)}${pad(f1(mb(total)), 9)}${pad(f1(mb(r.heap.js)), 7)}${pad(f1(mb(r.heap.ab)), 10)}${pad(f0(total / r.rules), 8)}${pad(f0(mb(r.heap.rss)), 8)}${pad(f0(r.hit), 8)}${pad(f0(r.miss), 9)}\n`,
  );
}
for (const r of rows) {
  process.stdout.write(`  ${r.n}: ${r.rules} rules; typed arrays: names ${f1(mb(r.parts.names))} MB, rule columns ${f1(mb(r.parts.rules))} MB, lookup index ${f1(mb(r.parts.trie))} MB (load = median of ${RUNS})\n`);
}
process.stdout.write('\nretro-hunt preparation per publish (history on), median of ' + RUNS + ':\n');
process.stdout.write(`${'names'.padEnd(9)}${pad('case', 9)}${pad('new', 9)}${pad('ms', 8)}${pad('(cpu)', 8)}${pad('max stall ms', 14)}${pad('alloc MB', 10)}${pad('kept MB', 9)}\n`);
for (const r of rows) {
  for (const [label, x] of [['+10 new', r.retro.ten], ['all new', r.retro.all]]) {
    process.stdout.write(`${String(r.n).padEnd(9)}${pad(label, 9)}${pad(x.names, 9)}${pad(f1(x.ms), 8)}${pad(f0(x.cpu), 8)}${pad(f1(x.stall), 14)}${pad(f1(mb(x.alloc)), 10)}${pad(f1(mb(x.kept)), 9)}\n`);
  }
}
if (rows.length >= 2) {
  const a = rows[0];
  const b = rows[rows.length - 1];
  process.stdout.write(`lookup flatness ${b.n} vs ${a.n}: hit ×${(b.hit / a.hit).toFixed(2)}, miss ×${(b.miss / a.miss).toFixed(2)}\n`);
}
