#!/usr/bin/env node
// Deterministic data for the c2dns benchmark (bench/run.sh). Everything goes to bench/data/
// (gitignored). Node only, no dependencies, so a fresh machine needs nothing beyond Node 20.
//
//   node bench/gen-data.mjs [--sizes 10000,1000000] [--runs N] [--mixed-lines N] [--lat-lines N] [--force]
//
// Writes, in groups that are each kept while their parameters do not change (.stamp-GROUP.json;
// --force rewrites everything):
//   group "base"
//     bench.test.zone          authoritative zone for the upstream: 100,000 A (h000000…h099999 → 10.a.b.c),
//                              10,000 AAAA (h000000…h009999), wildcard *.wild.bench.test. A (answers misses)
//     queries-cached.txt       10,000 distinct allowed (name, type) from the zone: 9,000 A + 1,000 AAAA
//   group "list-N", for each list size N
//     blocklist-N.txt          plain list: the names of blocklists/3cx.txt + synthetic names, N in all
//                              (the same seed, so the 10,000-name list is the first 10,000 of the 1M list)
//     unbound-N.conf           the same names as Unbound `local-zone: "NAME." always_null` lines
//     queries-blocked-N.txt    100,000 queries on names of that list: 45% the listed name, 30% www./api./cdn.…
//                              subdomain, 25% two extra labels; 10% of them the 3CX names; 10% AAAA
//   group "mixed-N", for each list size N
//     queries-mixed-N-R.txt    one file per round R (1…runs): per 20 lines exactly 16 cached / 3 blocked /
//                              1 unique miss (m<R>-NNNNNNN.wild.bench.test A, never repeated in any file)
//     queries-mixed-N-lat.txt  the same mix with its own miss names, for the fixed-rate latency run
//   group "miss"
//     queries-miss-R.txt       one file per round R: every line a unique name under the wildcard
//                              (x<R>-NNNNNNNN.wild.bench.test A), so every query is forwarded upstream
//     queries-miss-lat.txt     the same with its own names, for the latency run
// Each resolver process sees a miss file at most once, so a "miss" is never a cache hit.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const D = join(HERE, 'data');
const ZONE = 'bench.test';
const N_A = 100_000;
const N_AAAA = 10_000;
const N_CACHED_A = 9_000;
const N_CACHED_AAAA = 1_000;
const N_BLOCKED_QUERIES = 100_000;
const SEED = 20230329; // 3CX supply-chain disclosure date
const FORMAT = 2; // bump when the content of a file changes for the same parameters

const args = process.argv.slice(2);
const known = new Set(['--sizes', '--runs', '--mixed-lines', '--lat-lines', '--force']);
for (let i = 0; i < args.length; i++) {
  if (!known.has(args[i])) fail(`unknown argument ${args[i]}`);
  if (args[i] !== '--force') i++;
}
function fail(msg) {
  process.stderr.write(`gen-data: ${msg}\n`);
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = String(opt('--sizes', '10000,1000000'))
  .split(/[,\s]+/)
  .filter(Boolean)
  .map(Number);
const RUNS = Number(opt('--runs', 3));
const MIXED_LINES = Number(opt('--mixed-lines', 1_000_000));
const LAT_LINES = Number(opt('--lat-lines', 300_000));
const FORCE = args.includes('--force');
for (const [k, v] of Object.entries({ RUNS, MIXED_LINES, LAT_LINES })) {
  if (!Number.isInteger(v) || v < 1) fail(`${k} must be a positive integer, got ${v}`);
}
if (SIZES.length === 0 || SIZES.some((n) => !Number.isInteger(n) || n < 100 || n > 10_000_000)) fail(`--sizes must be integers from 100 to 10000000, got ${opt('--sizes')}`);

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
  next.pick = (arr) => arr[next.int(arr.length)];
  return next;
}

function shuffle(r, arr) {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [arr[i], arr[j]] = [arr[j], arr[i]];
  }
  return arr;
}

// Buffered line writer to path.tmp, renamed into place when complete (an interrupted run
// never leaves a half-written file behind under the final name).
function writer(path) {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  let buf = [];
  let size = 0;
  let lines = 0;
  const flush = () => {
    if (buf.length) writeSync(fd, buf.join(''));
    buf = [];
    size = 0;
  };
  return {
    line(s) {
      buf.push(s, '\n');
      lines++;
      if (++size >= 8192) flush();
    },
    count: () => lines,
    close() {
      flush();
      closeSync(fd);
      renameSync(tmp, path);
      return lines;
    },
  };
}

const host = (i) => `h${String(i).padStart(6, '0')}`;
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const WORDS = ['ad', 'cdn', 'trk', 'px', 'stat', 'metric', 'click', 'srv', 'cloud', 'api', 'img', 'tag', 'sync', 'data', 'log', 'beacon', 'mail', 'update', 'secure', 'login', 'media', 'edge', 'node', 'go', 'get'];
const TLDS = [...Array(30).fill('com'), ...Array(10).fill('net'), ...Array(6).fill('org'), 'info', 'biz', 'io', 'xyz', 'top', 'ru', 'cn', 'de', 'online', 'site', 'club', 'shop', 'app', 'live', 'co.uk', 'com.br', 'net.pl', 'in', 'cc', 'me'];

function label(r, lo = 5, hi = 14) {
  const n = lo + r.int(hi - lo + 1);
  let s;
  if (r() < 0.35) {
    s = r.pick(WORDS) + (r() < 0.5 ? '-' : '');
    for (let i = 0; i < Math.max(2, n - 6); i++) s += ALNUM[r.int(ALNUM.length)];
  } else {
    s = LETTERS[r.int(LETTERS.length)];
    for (let i = 1; i < n; i++) s += ALNUM[r.int(ALNUM.length)];
  }
  return s;
}

/** Names of the bundled 3CX list (first field of each non-comment line). */
function threeCxNames() {
  const text = readFileSync(join(ROOT, 'blocklists', '3cx.txt'), 'utf8');
  const out = [];
  for (const raw of text.split('\n')) {
    const s = raw.replace(/#.*/, '').trim().split(/\s+/)[0];
    if (s) out.push(s.toLowerCase().replace(/\.$/, ''));
  }
  return out;
}

function blocklist(c2, size) {
  const r = rng(SEED + 1);
  const seen = new Set(c2);
  const out = [...c2];
  while (out.length < size) {
    const name = r() < 0.6 ? `${label(r)}.${r.pick(TLDS)}` : `${label(r, 2, 8)}.${label(r)}.${r.pick(TLDS)}`;
    if (name.endsWith(`.${ZONE}`) || seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
  return out.slice(0, size);
}

function blockedQuery(r, list, c2) {
  const base = r() < 0.1 ? r.pick(c2) : r.pick(list);
  const qt = r() < 0.1 ? 'AAAA' : 'A';
  const k = r();
  let name;
  if (k < 0.45) name = base;
  else if (k < 0.75) name = `${r.pick(['www', 'cdn', 'api', 'm', 'update', 'x'])}.${base}`;
  else name = `${label(r, 1, 6)}.${label(r, 1, 6)}.${base}`;
  return `${name} ${qt}`;
}

function mixedFile(path, lines, tag, seed, cached, list, c2) {
  const r = rng(seed);
  const w = writer(path);
  let miss = 0;
  const block = new Array(20);
  while (w.count() < lines) {
    for (let i = 0; i < 16; i++) block[i] = cached[r.int(cached.length)];
    for (let i = 16; i < 19; i++) block[i] = blockedQuery(r, list, c2);
    block[19] = `${tag}${String(miss++).padStart(7, '0')}.wild.${ZONE} A`;
    shuffle(r, block);
    for (const q of block) w.line(q);
  }
  return w.close();
}

function missFile(path, lines, tag) {
  const w = writer(path);
  for (let i = 0; i < lines; i++) w.line(`${tag}${String(i).padStart(8, '0')}.wild.${ZONE} A`);
  return w.close();
}

/** Runs make() unless the group's stamp matches params and all its files exist. */
function group(name, params, files, make) {
  const stampPath = join(D, `.stamp-${name}.json`);
  const want = JSON.stringify({ FORMAT, SEED, ...params });
  if (!FORCE && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === want && files.every((f) => existsSync(join(D, f)))) return false;
  const t0 = performance.now();
  make();
  writeFileSync(stampPath, want);
  process.stdout.write(`gen-data: ${name}: wrote ${files.length} file(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return true;
}

function main() {
  mkdirSync(D, { recursive: true });
  const c2 = threeCxNames();
  const rounds = Array.from({ length: RUNS }, (_, i) => i + 1);
  let wrote = 0;

  // The cached names are drawn with their own generator, so they are the same whatever the sizes.
  const r = rng(SEED + 2);
  const pickDistinct = (n, k) => shuffle(r, Array.from({ length: n }, (_, i) => i)).slice(0, k);
  const cached = shuffle(r, [
    ...pickDistinct(N_A, N_CACHED_A).map((i) => `${host(i)}.${ZONE} A`),
    ...pickDistinct(N_AAAA, N_CACHED_AAAA).map((i) => `${host(i)}.${ZONE} AAAA`),
  ]);

  wrote += group('base', { N_A, N_AAAA, N_CACHED_A, N_CACHED_AAAA }, [`${ZONE}.zone`, 'queries-cached.txt'], () => {
    // Long TTL so nothing expires from a cache during a run; the SOA minimum makes negative answers cacheable too.
    const w = writer(join(D, `${ZONE}.zone`));
    w.line(`$ORIGIN ${ZONE}.`);
    w.line('$TTL 86400');
    w.line(`@ IN SOA ns1.${ZONE}. hostmaster.${ZONE}. 1 3600 600 604800 3600`);
    w.line(`@ IN NS ns1.${ZONE}.`);
    w.line('ns1 IN A 127.0.0.1');
    for (let i = 0; i < N_A; i++) w.line(`${host(i)} IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    for (let i = 0; i < N_AAAA; i++) w.line(`${host(i)} IN AAAA fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
    w.line('*.wild IN A 10.255.255.1');
    w.close();
    const q = writer(join(D, 'queries-cached.txt'));
    for (const line of cached) q.line(line);
    q.close();
  });

  const lists = new Map();
  const listOf = (n) => {
    if (!lists.has(n)) lists.set(n, blocklist(c2, n));
    return lists.get(n);
  };
  for (const n of SIZES) {
    wrote += group(`list-${n}`, { n, N_BLOCKED_QUERIES }, [`blocklist-${n}.txt`, `unbound-${n}.conf`, `queries-blocked-${n}.txt`], () => {
      const list = listOf(n);
      let w = writer(join(D, `blocklist-${n}.txt`));
      w.line(`# c2dns bench: ${c2.length} names from blocklists/3cx.txt + ${list.length - c2.length} synthetic names (generated by bench/gen-data.mjs)`);
      for (const d of list) w.line(d);
      w.close();
      // Included inside the server: clause of the generated unbound.conf. always_null answers
      // 0.0.0.0 / :: for the name and every name under it, as c2dns's default action "null" does.
      w = writer(join(D, `unbound-${n}.conf`));
      for (const d of list) w.line(`local-zone: "${d}." always_null`);
      w.close();
      const rb = rng(SEED + 3);
      w = writer(join(D, `queries-blocked-${n}.txt`));
      for (let i = 0; i < N_BLOCKED_QUERIES; i++) w.line(blockedQuery(rb, list, c2));
      w.close();
    });
    const mixed = [...rounds.map((i) => `queries-mixed-${n}-${i}.txt`), `queries-mixed-${n}-lat.txt`];
    wrote += group(`mixed-${n}`, { n, RUNS, MIXED_LINES, LAT_LINES }, mixed, () => {
      const list = listOf(n);
      // Each file has its own miss prefix (m1-, m2-, lat-) so no miss repeats across rounds.
      for (const i of rounds) mixedFile(join(D, `queries-mixed-${n}-${i}.txt`), MIXED_LINES, `m${i}-`, SEED + 10 + i, cached, list, c2);
      mixedFile(join(D, `queries-mixed-${n}-lat.txt`), LAT_LINES, 'lat-', SEED + 9, cached, list, c2);
    });
  }

  const miss = [...rounds.map((i) => `queries-miss-${i}.txt`), 'queries-miss-lat.txt'];
  wrote += group('miss', { RUNS, MIXED_LINES, LAT_LINES }, miss, () => {
    for (const i of rounds) missFile(join(D, `queries-miss-${i}.txt`), MIXED_LINES, `x${i}-`);
    missFile(join(D, 'queries-miss-lat.txt'), LAT_LINES, 'xl-');
  });
  if (!wrote) process.stdout.write('gen-data: up to date\n');
}

main();
