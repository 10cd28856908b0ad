#!/usr/bin/env node
// Reload under load (issue 11 target 4): c2dns answering a fixed rate of mixed queries while its
// list file is replaced and SIGHUP sent, twice. Per second: queries offered and answered, the
// slowest and the 99th-percentile answer, RSS; overall: max latency, p99, lost, steady and peak
// RSS, and how long after each SIGHUP the new names were blocked.
//
//   bash bench/run.sh --reload         (after the side-by-side runs; --reload-only: just this)
//   node bench/reload.mjs run --config FILE --list FILE --source FILE --queries FILE --port P
//        --upstream HOST:PORT [--cpu N] [--rate QPS | --capacity-queries FILE --dnsperf PATH]
//        [--fraction 0.8] [--seconds 30] [--reloads 5,15] [--out DIR] [--node-args "--cpu-prof ..."]
//        [--cli DIST/src/cli.js] [--long-tasks MS]
//   node bench/reload.mjs insert SECTION.md RESULTS.md   (replaces or appends the reload section)
//
// `run` starts `node dist/src/cli.js serve --config FILE` itself (on --cpu with taskset), copies
// --source to --list first (the config must point at --list), waits until it blocks the list's
// last name, warms its cache, and without --rate measures its capacity with dnsperf for 5 s and
// offers --fraction of it. The load is sent from this process over 4 UDP sockets (IDs keyed per
// socket), paced every millisecond; each answer's latency is measured from its own send. Before
// the timed phase it writes the next list versions beside --list: each replaces the last 1 % of
// the names with names no version had; a reload is a rename onto --list and a SIGHUP. A probe
// asks the reload's first new name every 50 ms until it is blocked (0.0.0.0).
// Queries still unanswered 3 s after the last send are lost. Output: reload.json and reload.md
// in --out; exit 0 when it ran (whether or not the targets were met), 1 when it could not run.
// --long-tasks MS preloads bench/long-tasks.mjs into c2dns: every pause of its event loop over MS
// is logged (long-tasks.log in --out) with the main thread's CPU, run-queue wait and off-CPU time
// in it; the report gives each second's longest pause split that way, and counts them by cause
// (a long task is c2dns's to slice; a wait for the CPU or time off it is the machine's).
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const SECTION_START = '<!-- reload-under-load: start -->';
const SECTION_END = '<!-- reload-under-load: end -->';

function fail(msg) {
  process.stderr.write(`reload: ${msg}\n`);
  process.exit(1);
}
const log = (msg) => process.stderr.write(`[reload ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ------------------------------------------------------------------ arguments
const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'insert') {
  if (rest.length !== 2) fail('usage: reload.mjs insert SECTION.md RESULTS.md');
  insertSection(rest[0], rest[1]);
  process.exit(0);
}
if (cmd !== 'run') fail(`unknown command '${cmd ?? ''}' (run, insert)`);

const KNOWN = new Set(['--config', '--list', '--source', '--queries', '--port', '--upstream', '--cpu', '--rate', '--capacity-queries', '--dnsperf', '--fraction', '--seconds', '--reloads', '--out', '--node-args', '--cli', '--long-tasks']);
const opts = {};
for (let i = 0; i < rest.length; i += 2) {
  if (!KNOWN.has(rest[i])) fail(`unknown argument ${rest[i]} (known: ${[...KNOWN].join(' ')})`);
  if (rest[i + 1] === undefined) fail(`${rest[i]} needs a value`);
  opts[rest[i].slice(2)] = rest[i + 1];
}
for (const k of ['config', 'list', 'source', 'queries', 'port', 'upstream']) if (opts[k] === undefined) fail(`--${k} is required`);
const num = (k, dflt, ok) => {
  const v = opts[k] === undefined ? dflt : Number(opts[k]);
  if (!ok(v)) fail(`--${k}: bad value '${opts[k]}'`);
  return v;
};
const PORT = num('port', 0, (v) => Number.isInteger(v) && v > 0 && v < 65536);
const RATE_ARG = num('rate', 0, (v) => Number.isInteger(v) && v >= 0);
const FRACTION = num('fraction', 0.8, (v) => v > 0 && v <= 1);
const SECONDS = num('seconds', 30, (v) => Number.isInteger(v) && v >= 5);
const RELOADS = String(opts.reloads ?? '5,15')
  .split(',')
  .map(Number);
if (RELOADS.some((t) => !Number.isInteger(t) || t < 1 || t >= SECONDS)) fail(`--reloads: seconds within the run (1..${SECONDS - 1}), got '${opts.reloads}'`);
const CPU = opts.cpu;
const LONG_TASKS_MS = opts['long-tasks'] === undefined ? null : num('long-tasks', 20, (v) => v > 0);
const OUT = opts.out ?? join(HERE, 'out', 'reload');
if (RATE_ARG === 0 && (opts['capacity-queries'] === undefined || opts.dnsperf === undefined)) fail('without --rate, --capacity-queries and --dnsperf are needed to measure the capacity');
if ((opts['capacity-queries'] === undefined) !== (opts.dnsperf === undefined)) fail('--capacity-queries and --dnsperf go together');
for (const k of ['config', 'source', 'queries']) if (!existsSync(opts[k])) fail(`--${k}: ${opts[k]} does not exist`);
const CLI = opts.cli ?? join(ROOT, 'dist', 'src', 'cli.js'); // --cli: another build (a private outDir)
if (!existsSync(CLI)) fail(`${CLI} missing: run npm run build`);
mkdirSync(OUT, { recursive: true });
const LONG_TASKS_LOG = join(OUT, 'long-tasks.log');

// ------------------------------------------------------------------ DNS wire helpers
const TYPES = { A: 1, AAAA: 28, TXT: 16, MX: 15, CNAME: 5, NS: 2, SOA: 6, PTR: 12, HTTPS: 65 };
function encodeQuery(name, type) {
  const labels = name.replace(/\.$/, '').split('.');
  const len = 12 + labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 0) + 1 + 4;
  const b = Buffer.alloc(len);
  b.writeUInt16BE(0x0100, 2); // RD
  b.writeUInt16BE(1, 4); // QDCOUNT
  let o = 12;
  for (const l of labels) {
    o = b.writeUInt8(Buffer.byteLength(l), o);
    o += b.write(l, o);
  }
  o = b.writeUInt8(0, o);
  b.writeUInt16BE(TYPES[type] ?? 1, o);
  b.writeUInt16BE(1, o + 2);
  return b;
}
/** Blocked the way c2dns blocks by default: NOERROR, an A answer of 0.0.0.0 (no EDNS asked, so it is last). */
function blockedA(msg) {
  return msg.length >= 16 && (msg[3] & 0x0f) === 0 && msg.readUInt16BE(6) > 0 && msg.readUInt32BE(msg.length - 4) === 0;
}

// ------------------------------------------------------------------ the server process
function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function startServer() {
  const trace = LONG_TASKS_MS === null ? [] : ['--import', join(HERE, 'long-tasks.mjs')];
  const argv = [...trace, ...(opts['node-args'] ?? '').split(' ').filter(Boolean), CLI, 'serve', '--config', opts.config, '--listen', `127.0.0.1:${PORT}`, '--upstream', opts.upstream];
  const [file, args] = CPU !== undefined ? ['taskset', ['-c', String(CPU), process.execPath, ...argv]] : [process.execPath, argv];
  // stdout to a file: what --node-args such as --trace-gc print, to read beside the per-second table
  const env = LONG_TASKS_MS === null ? process.env : { ...process.env, LONG_TASKS_FILE: LONG_TASKS_LOG, LONG_TASKS_MS: String(LONG_TASKS_MS) };
  if (LONG_TASKS_MS !== null) writeFileSync(LONG_TASKS_LOG, '');
  const child = spawn(file, args, { env, stdio: ['ignore', openSync(join(OUT, 'server-stdout.log'), 'w'), 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  return { child, stderr: () => stderr };
}

/** One query on its own socket; resolves to the answer or null after timeoutMs. */
function ask(name, type, timeoutMs) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on('message', (m) => done(m));
    s.on('error', () => done(null));
    s.send(encodeQuery(name, type), PORT, '127.0.0.1');
  });
}

// ------------------------------------------------------------------ list versions
function listVersions(sourceText, count) {
  const lines = sourceText.split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const names = [];
  for (let i = 0; i < lines.length; i++) if (lines[i] !== '' && !lines[i].startsWith('#')) names.push(i);
  const k = Math.max(1, Math.floor(names.length / 100));
  const versions = [];
  for (let v = 1; v <= count; v++) {
    const copy = lines.slice();
    const fresh = [];
    for (let j = 0; j < k; j++) {
      const name = `rl${v}-${String(j).padStart(7, '0')}.reload-bench.net`;
      copy[names[names.length - k + j]] = name;
      fresh.push(name);
    }
    versions.push({ text: copy.join('\n') + '\n', fresh, removed: lines[names[names.length - 1]] });
  }
  return versions;
}

// ------------------------------------------------------------------ load
function loadQueries(path) {
  const out = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [name, type] = line.trim().split(/\s+/);
    if (name) out.push(encodeQuery(name, type ?? 'A'));
  }
  if (out.length === 0) fail(`${path} has no queries`);
  return out;
}

const SOCKETS = 4;
const SLOTS = SOCKETS * 65536;

async function timedRun(pid, queries, rate, versions) {
  const sent = new Float64Array(SLOTS).fill(-1); // send time (ms since t0) of the query in flight per slot
  const secs = SECONDS + 4;
  const offered = new Int32Array(secs);
  const answered = new Int32Array(secs);
  const refused = new Int32Array(secs);
  const servfail = new Int32Array(secs);
  const lat = Array.from({ length: secs }, () => []);
  const rss = new Int32Array(secs);
  let overwritten = 0;
  let nextId = 0;
  let total = 0;
  let got = 0;
  const t0 = performance.now();
  const t0us = process.hrtime.bigint() / 1000n; // the long-task log's clock
  const socks = [];
  for (let i = 0; i < SOCKETS; i++) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m) => {
      const now = performance.now() - t0;
      const key = i * 65536 + m.readUInt16BE(0);
      const at = sent[key];
      if (at < 0) return; // late duplicate or overwritten slot
      sent[key] = -1;
      got++;
      const sec = Math.min(secs - 1, Math.floor(now / 1000));
      answered[sec]++;
      const rc = m[3] & 0x0f;
      if (rc === 5) refused[sec]++;
      else if (rc === 2) servfail[sec]++;
      lat[sec].push(now - at);
    });
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    s.setSendBufferSize?.(4 << 20);
    s.setRecvBufferSize?.(8 << 20);
    socks.push(s);
  }
  // RSS every 100 ms; the second's figure is its highest sample.
  const rssTimer = setInterval(() => {
    const sec = Math.min(secs - 1, Math.floor((performance.now() - t0) / 1000));
    rss[sec] = Math.max(rss[sec], rssKb(pid));
  }, 100);

  // Reloads and the probe that times when each one's first new name is blocked.
  const reloads = [];
  for (let r = 0; r < RELOADS.length; r++) {
    const v = versions[r];
    setTimeout(() => {
      renameSync(v.path, opts.list);
      process.kill(pid, 'SIGHUP');
      const at = performance.now() - t0;
      const rec = { n: r + 1, at_s: at / 1000, blocked_after_s: null, name: v.fresh[0] };
      reloads.push(rec);
      const probe = async () => {
        while (performance.now() - t0 < (SECONDS + 3) * 1000) {
          const m = await ask(v.fresh[0], 'A', 200);
          if (m !== null && blockedA(m)) {
            rec.blocked_after_s = (performance.now() - t0 - at) / 1000;
            return;
          }
          await sleep(50);
        }
      };
      void probe();
    }, RELOADS[r] * 1000);
  }

  // Paced sender: every tick sends what the schedule owes up to now.
  let q = 0;
  let wrapped = false;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now() - t0;
      const due = Math.min(Math.floor((now / 1000) * rate), SECONDS * rate);
      while (total < due) {
        const key = nextId;
        nextId = (nextId + 1) % SLOTS;
        if (sent[key] >= 0) overwritten++;
        const pkt = queries[q];
        q++;
        if (q === queries.length) {
          q = 0;
          wrapped = true;
        }
        pkt.writeUInt16BE(key & 0xffff, 0);
        sent[key] = now;
        socks[key >>> 16].send(pkt, PORT, '127.0.0.1');
        offered[Math.floor(now / 1000)]++;
        total++;
      }
      if (total >= SECONDS * rate) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await sleep(3000); // the last answers
  clearInterval(rssTimer);
  for (const s of socks) s.close();
  await sleep(200);
  return { offered, answered, refused, servfail, lat, rss, total, got, overwritten, wrapped, reloads, t0us };
}

/**
 * The long-task log's pauses by second of the timed run (the second each began in): the longest
 * of each, and a count by what took most of a pause: cpu (a long task), wait (runnable, no CPU
 * free), off (neither: blocked or woken late).
 */
function pausesBySecond(t0us) {
  if (LONG_TASKS_MS === null || !existsSync(LONG_TASKS_LOG)) return null;
  const longest = Array.from({ length: SECONDS }, () => null);
  const count = { cpu: 0, wait: 0, off: 0 };
  let longestTask = null;
  for (const line of readFileSync(LONG_TASKS_LOG, 'utf8').split('\n')) {
    const [end, gap, cpu, wait] = line.split(' ').map(Number);
    if (!(gap > 0)) continue;
    const s = Math.floor((end - Number(t0us) - gap * 1000) / 1e6);
    if (s < 0 || s >= SECONDS) continue;
    const p = { gap_ms: gap, cpu_ms: cpu, wait_ms: wait, off_ms: Math.max(0, gap - cpu - wait) };
    const cause = p.cpu_ms >= p.wait_ms && p.cpu_ms >= p.off_ms ? 'cpu' : p.wait_ms >= p.off_ms ? 'wait' : 'off';
    count[cause]++;
    if (longest[s] === null || gap > longest[s].gap_ms) longest[s] = p;
    if (longestTask === null || cpu > longestTask.cpu_ms) longestTask = { s, ...p };
  }
  return { min_ms: LONG_TASKS_MS, by_cause: count, longest_task: longestTask, longest };
}

function quantile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// ------------------------------------------------------------------ report
function summarise(r, rate, meta) {
  const perSec = [];
  const all = [];
  const pauses = pausesBySecond(r.t0us);
  for (let s = 0; s < SECONDS; s++) {
    const l = r.lat[s].slice().sort((a, b) => a - b);
    for (const x of l) all.push(x);
    perSec.push({
      s,
      offered: r.offered[s],
      answered: r.answered[s],
      pct: r.offered[s] > 0 ? (100 * r.answered[s]) / r.offered[s] : 0,
      refused: r.refused[s],
      servfail: r.servfail[s],
      max_ms: l.length ? l[l.length - 1] : 0,
      p99_ms: quantile(l, 0.99),
      rss_mb: r.rss[s] / 1024,
      ...(pauses !== null ? { pause: pauses.longest[s] } : {}),
    });
  }
  for (let s = SECONDS; s < r.lat.length; s++) for (const x of r.lat[s]) all.push(x);
  all.sort((a, b) => a - b);
  const firstReload = Math.min(...RELOADS);
  const steadyRss = perSec
    .slice(1, firstReload)
    .map((x) => x.rss_mb)
    .sort((a, b) => a - b);
  const steady = steadyRss[Math.floor(steadyRss.length / 2)] ?? 0;
  const peak = Math.max(...r.rss) / 1024;
  const worst = perSec.reduce((a, b) => (b.pct < a.pct ? b : a));
  const sum = {
    ...meta,
    rate,
    seconds: SECONDS,
    reload_at_s: RELOADS,
    sent: r.total,
    answered: r.got,
    lost: r.total - r.got,
    refused: r.refused.reduce((a, b) => a + b, 0),
    servfail: r.servfail.reduce((a, b) => a + b, 0),
    worst_second: { s: worst.s, pct: worst.pct },
    max_ms: all.length ? all[all.length - 1] : 0,
    p50_ms: quantile(all, 0.5),
    p99_ms: quantile(all, 0.99),
    steady_rss_mb: steady,
    peak_rss_mb: peak,
    peak_ratio: steady > 0 ? peak / steady : 0,
    reloads: r.reloads,
    query_file_wrapped: r.wrapped,
    slots_overwritten: r.overwritten,
    per_second: perSec,
    ...(pauses !== null ? { pauses: { min_ms: pauses.min_ms, by_cause: pauses.by_cause, longest_task: pauses.longest_task } } : {}),
  };
  sum.targets = {
    every_second_90pct: worst.pct >= 90,
    max_latency_100ms: sum.max_ms <= 100,
    p99_5ms: sum.p99_ms <= 5,
    none_lost: sum.lost === 0,
    peak_rss_1_5x: sum.peak_ratio <= 1.5,
  };
  return sum;
}

const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);
const yes = (b) => (b ? 'met' : '**not met**');

function markdown(s) {
  const L = [];
  L.push(SECTION_START, '## Reload under load (issue 11 target 4)', '');
  L.push(
    `c2dns full (the defaults) with a ${s.names.toLocaleString('en-US')}-name list, ${s.rate.toLocaleString('en-US')} q/s of mixed queries offered (${s.rate_how}) for ${s.seconds} s from one UDP client; ` +
      `the list file replaced (1 % of its names new) and SIGHUP sent at ${s.reload_at_s.map((t) => `${t} s`).join(' and ')}. ${s.started}, load average ${s.loadavg_start} → ${s.loadavg_end}, ${s.version}. Raw: \`bench/out/reload/reload.json\`.`,
    '',
  );
  L.push('| target | result | |', '|---|---|---|');
  L.push(`| every second ≥ 90 % of the offered rate answered | worst second ${s.worst_second.s}: ${f1(s.worst_second.pct)} % | ${yes(s.targets.every_second_90pct)} |`);
  L.push(`| max latency ≤ 100 ms | ${f1(s.max_ms)} ms | ${yes(s.targets.max_latency_100ms)} |`);
  L.push(`| p99 ≤ 5 ms | ${f2(s.p99_ms)} ms (p50 ${f2(s.p50_ms)} ms) | ${yes(s.targets.p99_5ms)} |`);
  L.push(`| 0 lost | ${s.lost.toLocaleString('en-US')} of ${s.sent.toLocaleString('en-US')} (REFUSED ${s.refused}, SERVFAIL ${s.servfail}) | ${yes(s.targets.none_lost)} |`);
  L.push(`| peak RSS ≤ 1.5× steady | ${f1(s.peak_rss_mb)} MB / ${f1(s.steady_rss_mb)} MB = ${f2(s.peak_ratio)}× | ${yes(s.targets.peak_rss_1_5x)} |`);
  L.push('');
  L.push(`New names blocked after each SIGHUP: ${s.reloads.map((r) => `#${r.n} ${r.blocked_after_s === null ? 'not within the run' : `${f2(r.blocked_after_s)} s`}`).join(', ')}.`, '');
  const pz = s.pauses;
  if (pz !== undefined) {
    const t = pz.longest_task;
    L.push(
      `Event-loop pauses over ${pz.min_ms} ms (bench/long-tasks.mjs), by what took most of each: ${pz.by_cause.cpu} on the CPU (a long task), ` +
        `${pz.by_cause.wait} waiting for a CPU, ${pz.by_cause.off} off the CPU (blocked or woken late). ` +
        `Most CPU in one pause: ${t === null ? 'none' : `${f1(t.cpu_ms)} ms (second ${t.s}, a ${f1(t.gap_ms)} ms pause)`}.`,
      '',
    );
  }
  const pauseHead = pz !== undefined ? ' longest pause ms (CPU / wait / off) |' : '';
  L.push(`| second | offered | answered | % | max ms | p99 ms | RSS MB |${pauseHead} |`, `|---:|---:|---:|---:|---:|---:|---:|${pz !== undefined ? '---:|' : ''}---|`);
  for (const x of s.per_second) {
    const ev = s.reloads.filter((r) => Math.floor(r.at_s) === x.s).map((r) => `SIGHUP #${r.n}`);
    const pause = pz === undefined ? '' : ` ${x.pause == null ? '' : `${f1(x.pause.gap_ms)} (${f1(x.pause.cpu_ms)} / ${f1(x.pause.wait_ms)} / ${f1(x.pause.off_ms)})`} |`;
    L.push(`| ${x.s} | ${x.offered} | ${x.answered} | ${f1(x.pct)} | ${f1(x.max_ms)} | ${f2(x.p99_ms)} | ${f1(x.rss_mb)} |${pause} ${ev.join(' ')} |`);
  }
  L.push('', SECTION_END);
  return L.join('\n') + '\n';
}

function insertSection(sectionPath, resultsPath) {
  const section = readFileSync(sectionPath, 'utf8').trim() + '\n';
  const old = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
  const a = old.indexOf(SECTION_START);
  const b = old.indexOf(SECTION_END);
  const text = a >= 0 && b > a ? old.slice(0, a) + section.trimEnd() + old.slice(b + SECTION_END.length) : `${old.trimEnd()}\n\n${section}`;
  writeFileSync(resultsPath, text);
}

// ------------------------------------------------------------------ main
async function main() {
  const sourceText = readFileSync(opts.source, 'utf8');
  const names = sourceText.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  writeFileSync(opts.list, sourceText);
  const last = sourceText.trimEnd().split('\n').pop();
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const started = new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  const loadavgStart = loadavg();

  const server = startServer();
  const pid = server.child.pid;
  let exited = false;
  server.child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    server.child.kill('SIGTERM');
    for (let i = 0; i < 150 && !exited; i++) await sleep(100);
    if (!exited) server.child.kill('SIGKILL');
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const t0 = performance.now();
    for (;;) {
      if (exited) fail(`c2dns exited before it was ready:\n${server.stderr()}`);
      const m = await ask(last, 'A', 300);
      if (m !== null && blockedA(m)) break;
      if (performance.now() - t0 > 600_000) fail('c2dns not ready within 600 s');
      await sleep(50);
    }
    const ready = (performance.now() - t0) / 1000;
    log(`c2dns (pid ${pid}) ready in ${ready.toFixed(2)} s with ${names} names, RSS ${(rssKb(pid) / 1024).toFixed(0)} MB`);

    const versions = listVersions(sourceText, RELOADS.length);
    versions.forEach((v, i) => {
      v.path = `${opts.list}.next-${i + 1}`;
      writeFileSync(v.path, v.text);
    });
    const queries = loadQueries(opts.queries);

    // dnsperf for 5 s warms the cache (and, without --rate, measures the capacity to offer a fraction of).
    let rate = RATE_ARG;
    let rateHow = 'fixed';
    if (opts.dnsperf !== undefined && opts['capacity-queries'] !== undefined) {
      const r = spawnSync(opts.dnsperf, ['-s', '127.0.0.1', '-p', String(PORT), '-d', opts['capacity-queries'], '-c', '20', '-q', '100', '-l', '5'], { encoding: 'utf8' });
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(r.stdout ?? '')?.[1] ?? 0);
      if (!(qps > 0)) fail(`dnsperf capacity run failed: ${r.stderr || r.stdout}`);
      if (rate === 0) {
        rate = Math.floor(qps * FRACTION);
        rateHow = `${Math.round(FRACTION * 100)} % of ${Math.round(qps).toLocaleString('en-US')} q/s measured with dnsperf just before`;
      }
      log(`capacity ${Math.round(qps)} q/s: offering ${rate} q/s`);
      await sleep(2000);
    }
    if (queries.length < rate * SECONDS) log(`WARNING: ${queries.length} queries for ${rate * SECONDS} sends: the file wraps and its misses become cache hits`);
    log(`timed run: ${SECONDS} s at ${rate} q/s, SIGHUP at ${RELOADS.join(', ')} s`);
    const r = await timedRun(pid, queries, rate, versions);
    if (exited) fail(`c2dns exited during the run:\n${server.stderr()}`);
    const version = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
    const s = summarise(r, rate, {
      names,
      ready_s: ready,
      rate_how: rateHow,
      started,
      loadavg_start: loadavgStart,
      loadavg_end: loadavg(),
      version: `c2dns ${version}${dirty ? ' + uncommitted changes in src/' : ''}`,
    });
    writeFileSync(join(OUT, 'reload.json'), JSON.stringify(s, null, 1));
    const md = markdown(s);
    writeFileSync(join(OUT, 'reload.md'), md);
    process.stdout.write(md);
  } finally {
    await stop();
  }
}

main().catch((err) => fail(err.stack ?? String(err)));
