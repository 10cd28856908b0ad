#!/usr/bin/env node
// Turns one bench/run.sh run (bench/out/: settings.json, runs.jsonl, targets.jsonl, end.json, the
// dnsperf outputs and the resolvers' logs) into bench/RESULTS.md, and prints the main tables.
//
//   node bench/report.mjs bench/out bench/RESULTS.md
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const [outDir, resultsPath] = process.argv.slice(2);
if (!outDir || !resultsPath) {
  process.stderr.write('usage: report.mjs OUT_DIR RESULTS.md\n');
  process.exit(2);
}
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const rel = (p) => relative(ROOT, p) || '.';
const strip = (s) => s.replaceAll(`${ROOT}/`, '');
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const readJsonl = (p) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const s = readJson(join(outDir, 'settings.json'));
const end = existsSync(join(outDir, 'end.json')) ? readJson(join(outDir, 'end.json')) : {};
const runs = readJsonl(join(outDir, 'runs.jsonl'));
const events = readJsonl(join(outDir, 'targets.jsonl'));

const words = (x) => String(x).split(/\s+/).filter(Boolean);
const SIZES = words(s.list_sizes).map(Number);
const WORKLOADS = words(s.workloads);
const TARGETS = words(s.targets);

// ------------------------------------------------------------------ dnsperf output
function parseDnsperf(path, withLatencies) {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const num = (re) => {
    const m = text.match(re);
    return m ? Number(m[1]) : null;
  };
  const r = {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/) ?? NaN,
    avgLatMs: (num(/Average Latency \(s\):\s+([\d.]+)/) ?? NaN) * 1000,
    rcodes: (text.match(/Response codes:\s+(.*)/)?.[1] ?? '').replace(/ \([\d.]+%\)/g, '').trim(),
    latencies: null,
  };
  if (withLatencies) {
    // dnsperf -v: "> RCODE qname qtype seconds" per answered query
    const lat = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('> ')) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) lat.push(v * 1000);
    }
    lat.sort((a, b) => a - b);
    r.latencies = lat;
  }
  return r;
}

const pct = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]);
const finite = (xs) => xs.filter((x) => Number.isFinite(x));
const median = (xs) => {
  const v = finite(xs).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const min = (xs) => (finite(xs).length ? Math.min(...finite(xs)) : NaN);
const max = (xs) => (finite(xs).length ? Math.max(...finite(xs)) : NaN);
const fmtQps = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const fmtSigned = (x, d = 1) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}` : '–');
const fmtPct = (lost, sent) => (sent ? `${((100 * lost) / sent).toFixed(lost === 0 ? 0 : 3)}%` : '–');
const fmtSize = (n) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const mb = (kb) => (Number.isFinite(kb) && kb > 0 ? Math.round(kb / 1024) : NaN);

for (const r of runs) {
  r.d = parseDnsperf(r.out, r.phase === 'lat');
  const secs = r.ticks / r.hz;
  r.cpuUsPerQ = r.d.completed ? (secs * 1e6) / r.d.completed : NaN;
  // ticks: the run plus the settle wait after it (the work the run caused); ticks_run, the core
  // counters and the run-queue wait: dnsperf's run only (wall)
  const runSecs = r.ticks_run / r.hz;
  r.cpuPct = r.wall > 0 ? (100 * runSecs) / r.wall : NaN;
  r.waitPct = r.wall > 0 && r.rq_wait_ns != null ? (100 * r.rq_wait_ns) / 1e9 / r.wall : NaN;
  r.stealPct = r.core_total > 0 ? (100 * r.core_steal) / r.core_total : NaN;
  // CPU time on the server core not used by the measured resolver: other jobs, the idle targets,
  // softirq. Not meaningful for the ceiling (dnsperf itself is on that core).
  r.otherPct = r.target !== 'ceiling' && r.core_total > 0 ? Math.max(0, (100 * (r.core_busy - r.core_steal - r.ticks_run)) / r.core_total) : NaN;
  r.coreBusyPct = r.core_total > 0 ? (100 * r.core_busy) / r.core_total : NaN;
}

// ------------------------------------------------------------------ targets
const info = new Map(); // "list target" -> merged ready + stopped events
for (const e of events) {
  const k = `${e.list} ${e.target}`;
  info.set(k, { ...info.get(k), ...e });
}
const labelOf = (t) => [...info.values()].find((i) => i.target === t)?.label ?? t;
const profileOf = (t) => [...info.values()].find((i) => i.target === t)?.profile ?? '';
const hasUnbound = TARGETS.includes('unbound');
const hasBaseline = TARGETS.includes('baseline');
// the HEAD target the baseline is compared with: the one running the same profile
const pairT = hasBaseline && TARGETS.includes(s.baseline_profile) ? s.baseline_profile : null;

const satOf = (n, w, t) => runs.filter((r) => r.list === n && r.workload === w && r.target === t && r.phase === 'sat');
const latOf = (n, w, t) => runs.find((r) => r.list === n && r.workload === w && r.target === t && r.phase === 'lat');
const usMed = (n, w, t) => median(satOf(n, w, t).map((r) => r.cpuUsPerQ));
/** Median over rounds of (A − B) µs/query, each difference taken within one round. */
function pairedDiff(n, w, a, b) {
  const byRound = new Map(satOf(n, w, b).map((r) => [r.run, r.cpuUsPerQ]));
  const d = satOf(n, w, a)
    .filter((r) => byRound.has(r.run))
    .map((r) => r.cpuUsPerQ - byRound.get(r.run));
  return { med: median(d), min: min(d), max: max(d), n: finite(d).length };
}

const WL = { cached: 'cached', blocked: 'blocked', mixed: 'mixed 80/15/5', miss: '100 % miss', dot: 'cached over DoT', doh: 'cached over DoH' };

// ------------------------------------------------------------------ main table: µs/query, ratio to Unbound
const mainHeader = ['list', 'workload', ...TARGETS.map(labelOf)];
if (pairT) mainHeader.push(`${labelOf(pairT)} − baseline (µs, paired by round)`);
const mainRows = [];
for (const n of SIZES) {
  for (const w of WORKLOADS) {
    if (!TARGETS.some((t) => satOf(n, w, t).length)) continue;
    const ub = hasUnbound ? usMed(n, w, 'unbound') : NaN;
    const row = [fmtSize(n), WL[w] ?? w];
    for (const t of TARGETS) {
      const v = usMed(n, w, t);
      row.push(t === 'unbound' || !hasUnbound || !Number.isFinite(ub) || !Number.isFinite(v) ? fmt(v) : `${fmt(v)} (${(v / ub).toFixed(1)}×)`);
    }
    if (pairT) {
      const d = pairedDiff(n, w, pairT, 'baseline');
      row.push(d.n ? `${fmtSigned(d.med, 2)} (${fmtSigned(d.min, 2)} … ${fmtSigned(d.max, 2)})` : '–');
    }
    mainRows.push(row);
  }
}
const table = (header, rows, align) => [
  `| ${header.join(' | ')} |`,
  `|${header.map((_, i) => (align?.[i] === 'l' || (!align && i < 2) ? '---' : '---:')).join('|')}|`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

// ------------------------------------------------------------------ per target: spread, qps, CPU
const detailRows = [];
for (const n of SIZES) {
  for (const w of WORKLOADS) {
    for (const t of TARGETS) {
      const sat = satOf(n, w, t);
      if (!sat.length) continue;
      const us = sat.map((r) => r.cpuUsPerQ);
      const qps = sat.map((r) => r.d.qps);
      const sent = sat.reduce((a, r) => a + (r.d.sent ?? 0), 0);
      const lost = sat.reduce((a, r) => a + (r.d.lost ?? 0), 0);
      detailRows.push([
        fmtSize(n),
        WL[w] ?? w,
        labelOf(t),
        `**${fmt(median(us))}**`,
        `${fmt(min(us))}–${fmt(max(us))}`,
        fmtQps(median(qps)),
        `${fmtQps(min(qps))}–${fmtQps(max(qps))}`,
        fmt(median(sat.map((r) => r.cpuPct)), 0),
        fmt(median(sat.map((r) => r.otherPct)), 0),
        fmtPct(lost, sent),
        String(sat.length),
      ]);
    }
  }
}

// ------------------------------------------------------------------ latency at a common rate
const latRows = [];
for (const n of SIZES) {
  for (const w of WORKLOADS) {
    const lats = TARGETS.map((t) => latOf(n, w, t));
    if (!lats.some(Boolean)) continue;
    const rate = lats.find(Boolean).rate;
    latRows.push([
      fmtSize(n),
      WL[w] ?? w,
      fmtQps(rate),
      ...lats.map((r) => (r ? `${fmt(pct(r.d.latencies, 0.5), 3)} / ${fmt(pct(r.d.latencies, 0.99), 3)} (${fmtQps(r.d.qps)}, ${fmt(r.cpuUsPerQ)} µs)` : '–')),
    ]);
  }
}

// ------------------------------------------------------------------ ready time, memory, stop
const loadRows = [];
for (const n of SIZES) {
  for (const t of TARGETS) {
    const i = info.get(`${n} ${t}`);
    if (!i) continue;
    const clean = i.exit === 0 && !i.killed;
    loadRows.push([
      fmtSize(n),
      labelOf(t),
      `**${fmt(i.ready_s, 2)}**`,
      `**${fmtQps(mb(i.rss_ready_kb))}**`,
      fmtQps(mb(i.rss_end_kb)),
      i.stop_s != null ? `${fmt(i.stop_s, 2)}${clean ? '' : i.killed ? ' (SIGKILL)' : ` (exit ${i.exit})`}` : '–',
      i.restart_s != null ? `**${fmt(i.restart_s, 2)}**` : '–',
      i.rss_restart_kb != null ? fmtQps(mb(i.rss_restart_kb)) : '–',
    ]);
  }
}

// ------------------------------------------------------------------ rig ceiling and machine load per round
const roundRows = [];
for (const n of SIZES) {
  const rounds = [...new Set(runs.filter((r) => r.list === n && r.phase === 'sat').map((r) => r.run))];
  for (const k of rounds) {
    const rr = runs.filter((r) => r.list === n && r.run === k && r.phase === 'sat');
    const ceil = rr.find((r) => r.target === 'ceiling');
    const loads = rr.map((r) => r.load1);
    roundRows.push([fmtSize(n), k, ceil ? fmtQps(ceil.d.qps) : '–', `${fmt(min(loads), 2)}–${fmt(max(loads), 2)}`, fmt(median(rr.filter((r) => r.target !== 'ceiling').map((r) => r.otherPct)), 0)]);
  }
}

// ------------------------------------------------------------------ checks
const checks = [];
for (const r of runs.filter((x) => x.target !== 'ceiling')) {
  const d = r.d;
  const tag = `${fmtSize(r.list)} ${r.workload} ${labelOf(r.target)} ${r.phase === 'lat' ? 'latency run' : `round ${r.run}`}`;
  if (d.completed == null) checks.push(`${tag}: no dnsperf summary (see ${rel(r.out)})`);
  if (d.lost) checks.push(`${tag}: ${d.lost} of ${d.sent} queries lost (${fmtPct(d.lost, d.sent)})`);
  if (r.query_log && d.completed != null && r.log_lines !== d.completed) checks.push(`${tag}: query log has ${r.log_lines} lines for ${d.completed} answered queries`);
  const bad = d.rcodes.split(/\s+/).filter((x, i, a) => i % 2 === 0 && x !== 'NOERROR' && a[i + 1]);
  if (bad.length) checks.push(`${tag}: response codes ${d.rcodes}`);
  if ((r.workload === 'mixed' || r.workload === 'miss') && d.sent > r.qfile_lines)
    checks.push(`${tag}: dnsperf sent ${d.sent} queries but the file has ${r.qfile_lines} lines: it wrapped, so later "misses" were cache hits (raise BENCH_MAX_QPS)`);
  if (r.phase === 'lat' && d.qps < 0.95 * r.rate) checks.push(`${tag}: asked for ${r.rate} qps, achieved ${Math.round(d.qps)} (latency includes queueing)`);
}
const measured = runs.filter((x) => x.target !== 'ceiling' && x.phase === 'sat');
const noisy = measured.filter((x) => x.otherPct >= 5);
if (noisy.length) {
  checks.push(
    `Noise: in ${noisy.length} of ${measured.length} saturated runs other processes used ≥ 5% of CPU ${s.server_cpu}, the resolver core ` +
      `(max ${fmt(max(noisy.map((x) => x.otherPct)), 0)}%): those runs understate that resolver's qps; its CPU µs/query is less affected.`,
  );
}
for (const r of runs.filter((x) => x.target === 'ceiling')) if (r.d.lost) checks.push(`${fmtSize(r.list)} rig ceiling round ${r.run}: ${r.d.lost} of ${r.d.sent} queries lost`);
for (const i of info.values()) {
  if (i.exit != null && (i.exit !== 0 || i.killed)) checks.push(`${fmtSize(i.list)} ${i.label}: ${i.killed ? 'needed SIGKILL' : `exited with status ${i.exit}`} when stopped`);
  for (const k of [1, 2]) {
    const p = join(i.dir ?? '', `warmup-${k}.txt`);
    if (!i.dir || !existsSync(p)) continue;
    const w = parseDnsperf(p, false);
    if (w.lost) checks.push(`${fmtSize(i.list)} ${i.label}: warm-up pass ${k} lost ${w.lost} of ${w.sent} queries`);
  }
  // operational log: c2dns writes pino JSON (levels 40/50/60 = warn/error/fatal); Unbound plain text
  const errPath = join(i.dir ?? '', 'stderr.log');
  if (!i.dir || !existsSync(errPath)) continue;
  const problems = new Map();
  for (const line of readFileSync(errPath, 'utf8').split('\n').filter(Boolean)) {
    let key = null;
    if (i.target === 'unbound' || i.target === 'dnsmasq') {
      if (/\b(error|warning|fatal)\b:?/i.test(line)) key = line.replace(/^\[\d+\]\s*/, '').replace(/^\S+\[\d+:\d+\]\s*/, '').slice(0, 160);
    } else {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        rec = { level: 50, msg: `(not JSON) ${line.slice(0, 160)}` };
      }
      if ((rec.level ?? 0) >= 40) key = `${rec.level >= 50 ? 'error' : 'warn'}: ${rec.msg}${rec.err?.message ? ` — ${rec.err.message}` : ''}`;
    }
    if (key) problems.set(key, (problems.get(key) ?? 0) + 1);
  }
  for (const [k, c] of problems) checks.push(`${fmtSize(i.list)} ${i.label} stderr: ${c} × ${k}`);
}

// ------------------------------------------------------------------ machine
const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
  }
};
const cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown';
const dnsperfVersion = sh(s.dnsperf, ['-h']).match(/Version\s+(\S+)/)?.[1] ?? 'unknown';
const osRelease = existsSync('/etc/os-release') ? (readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] ?? os.type()) : os.type();
const virt = sh('systemd-detect-virt', []);
const ncpu = os.availableParallelism?.() ?? os.cpus().length;
const versions = [...new Map([...info.values()].map((i) => [i.target, i.version])).entries()];

// ------------------------------------------------------------------ RESULTS.md
const md = [];
md.push('# c2dns benchmark results', '');
md.push(
  `Generated by \`npm run bench\` (bench/run.sh) on **${s.started}**; c2dns \`${s.head_rev}\`${s.head_dirty ? ' **with uncommitted changes in src/**' : ''}` +
    `${s.baseline_sha ? `, baseline \`${s.baseline_sha.slice(0, 7)}\` (\`${s.baseline}\`)` : ''}. ` +
    `Load average (1/5/15 min) **before ${s.loadavg_start}**, **after ${end.loadavg_end ?? '?'}** on ${ncpu} CPUs.`,
  '',
);
md.push(
  '> All targets run in the same rounds on the same rig, so compare **ratios within this run** and the **CPU µs per query**;',
  '> absolute figures move with the machine (read the load average and the "other load" column: on a busy',
  '> machine every target is slowed, not only one). Re-run before trusting a difference smaller than the min–max spread.',
  '',
);
md.push('## CPU µs per query (median over rounds; ratio to Unbound in the same run)', '');
md.push(
  `Resolver on CPU ${s.server_cpu}; dnsperf (\`-c ${s.clients} -q ${s.outstanding}\`, no rate limit, ${s.seconds} s per run) and the ${s.upstream === 'nsd' ? 'NSD' : 'BIND'} upstream on CPU ${s.gen_cpu}. ` +
    `${s.runs} round${s.runs === 1 ? '' : 's'}; each round runs every workload on every target, the target order rotating by one per round. ` +
    'CPU µs/query: utime+stime of the resolver process (all threads, /proc/PID/stat), read before the run and after its work settled ' +
    '(query-log lines, history flush), divided by the queries dnsperf saw answered.',
  '',
);
md.push(...table(mainHeader, mainRows), '');
md.push(
  `"c2dns full": what \`npm start\` gives (query log \`all\` to a file, query history on, admin API and /metrics on, security events on${s.list_tags ? `: the list is tagged \`${s.list_tags}\`${/(^|,)c2(,|$)/.test(s.list_tags) ? ', as the bundled default list is, so blocks raise c2-hit events' : ''}` : ': **the list is untagged (BENCH_LIST_TAGS=""), so no block raises a c2-hit event**'}); ` +
    '"c2dns lean": query log `none`, history off, admin off.' +
    (hasBaseline ? ` Baseline: c2dns at \`${s.baseline_sha.slice(0, 7)}\` (${s.baseline}), built in a git worktree, profile "${s.baseline_profile}"; the last column is the median over rounds of (${labelOf(pairT ?? '')} − baseline) µs/query within each round, with its min … max.` : ''),
  '',
);
md.push('## Ready time and memory', '');
md.push(
  'Ready: from the start of the process to the first moment it answers, in one pass, an allowed name through the upstream and two blocked names ' +
    '(a 3CX subdomain and the last name of the list) with 0.0.0.0 (polled every 20 ms). RSS of the process 1 s after it became ready, and after the runs. ' +
      '"restart": c2dns started again after its runs, alone, on the state directory they left (last good copy, first-seen table, history): the same ready time and RSS.',
  '',
);
md.push(...table(['list', 'target', 'ready s', 'RSS after load MB', 'RSS after the runs MB', 'stop s', 'restart: ready s', 'restart: RSS MB'], loadRows, ['l', 'l']), '');
md.push('## Spread, throughput and CPU share per target', '');
md.push(
  '"resolver CPU %" near 100 means the resolver was the limit; lower means dnsperf or the upstream on the other core was (then qps is a lower bound and µs/query is still valid). ' +
    `"other load %": share of CPU ${s.server_cpu} used by anything else during the run (other jobs on the machine, the idle targets, softirq).`,
  '',
);
md.push(
  ...table(['list', 'workload', 'target', 'µs/query median', 'µs/query min–max', 'qps median', 'qps min–max', 'resolver CPU %', 'other load %', 'lost', 'rounds'], detailRows, ['l', 'l', 'l']),
  '',
);
if (latRows.length) {
  md.push('## Latency at a common rate', '');
  md.push(
    `One ${s.lat_seconds} s run per target at the same fixed rate (dnsperf \`-Q\`): ${Math.round(s.lat_fraction * 100)}% of the slowest target's median saturated qps for that list and workload. ` +
      'Cells: p50 / p99 ms over every answered query (dnsperf `-v`), the achieved qps and the CPU µs/query at that rate.',
    '',
  );
  md.push(...table(['list', 'workload', '-Q rate', ...TARGETS.map(labelOf)], latRows), '');
}
md.push('## Rounds: rig ceiling and machine load', '');
md.push(
  `Rig ceiling: dnsperf on CPU ${s.server_cpu} straight to the upstream on CPU ${s.gen_cpu} (resolvers idle), once per round; a resolver near it is limited by the rig. ` +
    `Load average: the 1-minute figure read at the start of each run of the round.`,
  '',
);
md.push(...table(['list', 'round', 'rig ceiling qps', 'load average (1 min) min–max', 'other load % (median)'], roundRows, ['l', 'l']), '');
md.push('## Checks', '');
if (checks.length === 0) md.push('- No lost queries, only NOERROR answers, one query-log line per answered query (full profiles), no warning or error from any target, every target stopped cleanly.');
for (const c of checks) md.push(`- ${c}`);
md.push('');
md.push('## Machine', '');
md.push('| item | value |', '|---|---|');
md.push(`| CPUs (nproc) | ${ncpu} |`, `| CPU model | ${cpuModel} |`, `| virtualisation | ${virt || 'unknown'} |`, `| memory | ${Math.round(os.totalmem() / 2 ** 30)} GiB |`);
md.push(`| OS / kernel | ${osRelease} / ${os.release()} |`, `| node | ${process.version} |`, `| dnsperf | ${dnsperfVersion} |`, `| upstream | ${s.upstream_version} |`);
for (const [t, v] of versions) md.push(`| ${labelOf(t)} | ${v} |`);
md.push(`| load average before / after | ${s.loadavg_start} / ${end.loadavg_end ?? '?'} |`);
md.push('');
md.push('## Setup', '');
md.push(
  `- Every target on **CPU ${s.server_cpu}** (\`taskset\`), started one after the other for each list size and kept running through that size's rounds (idle while another target is measured); ` +
    `dnsperf and the upstream on **CPU ${s.gen_cpu}**${s.pinned ? '' : ' (**not pinned: single-CPU machine**)'}. Everything on 127.0.0.1: upstream port ${s.upstream_port}, resolvers from port ${s.port}, c2dns admin listeners from ${s.admin_port}.`,
  `- Upstream: ${s.upstream_version}, authoritative for \`bench.test.\` (100,000 A + 10,000 AAAA + a wildcard that answers the misses), one worker.`,
  '- Lists: the 3CX names of blocklists/3cx.txt plus synthetic names; c2dns reads the plain list, Unbound one `local-zone: "NAME." always_null` per name. Both answer 0.0.0.0 / :: for the name and its subdomains.',
  '- Workloads (bench/README.md): **cached**: 10,000 zone names looped, caches warmed by 2 passes first; **blocked**: 100,000 queries on listed names (45% exact, 55% subdomains, 10% 3CX names, 10% AAAA); ' +
    '**mixed**: per 20 queries 16 cached / 3 blocked / 1 unique miss; **100 % miss**: every query a name never asked before, answered by the upstream\'s wildcard. Miss names are unique per round, so no miss is ever a cache hit. ' +
    '**cached over DoT**: the cached names over DNS over TLS (dnsperf `-m dot`, one TLS connection per client); **cached over DoH**: the same as RFC 8484 GET requests over HTTP/2 (h2load through bench/doh-load.mjs, streams per connection = outstanding / clients); a per-run certificate; a target without the listener (dnsmasq) shows –.',
  '',
);
const firstList = SIZES.find((n) => [...info.values()].some((i) => i.list === n));
for (const t of TARGETS) {
  const i = info.get(`${firstList} ${t}`);
  if (!i?.dir) continue;
  const cfg = join(i.dir, t === 'unbound' || t === 'dnsmasq' ? `${t}.conf` : 'c2dns.yaml');
  if (!existsSync(cfg)) continue;
  md.push(`<details><summary>${i.label}: configuration (${fmtSize(firstList)} list)</summary>`, '', '```', strip(readFileSync(cfg, 'utf8')).trimEnd(), '```', '', '</details>', '');
}
md.push('## Commands', '', '```sh');
md.push(
  `npm run bench   # = bash bench/run.sh; ` +
    Object.entries({ BENCH_RUNS: s.runs, BENCH_SECONDS: s.seconds, BENCH_LAT_SECONDS: s.lat_seconds, BENCH_LIST_SIZES: `"${s.list_sizes}"`, BENCH_WORKLOADS: `"${s.workloads}"`, BENCH_TARGETS: `"${TARGETS.filter((t) => t !== 'baseline').join(' ')}"`, BENCH_LIST_TAGS: `"${s.list_tags ?? ''}"`, ...(s.baseline ? { BENCH_BASELINE: s.baseline, BENCH_BASELINE_PROFILE: s.baseline_profile } : {}) })
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
);
md.push(strip(s.upstream_cmd));
for (const i of info.values()) if (i.cmd) md.push(strip(i.cmd));
const seen = new Set();
for (const r of runs) {
  const key = `${r.list}/${r.workload}/${r.phase}/${r.target === 'ceiling'}`;
  if (seen.has(key)) continue;
  seen.add(key);
  md.push(`${strip(r.cmd)}${r.target === 'ceiling' ? '   # rig ceiling' : '   # the same against each target\'s port'}`);
}
md.push('```', '');
md.push('## Every run', '');
md.push('| list | round | workload | target | qps | sent | lost | avg latency ms | CPU µs/query | resolver CPU % | other load % | waited for CPU % | core busy % (steal) | load 1 min | query-log lines | response codes |');
md.push('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of runs) {
  const res = r.target !== 'ceiling';
  md.push(
    `| ${fmtSize(r.list)} | ${r.phase === 'lat' ? `latency @${fmtQps(r.rate)}` : r.run} | ${r.workload} | ${res ? labelOf(r.target) : 'rig ceiling'} | ${fmtQps(r.d.qps)} | ${fmtQps(r.d.sent)} | ${r.d.lost ?? '–'} | ${fmt(r.d.avgLatMs, 3)} | ` +
      `${res ? fmt(r.cpuUsPerQ) : '–'} | ${res ? fmt(r.cpuPct, 0) : '–'} | ${res ? fmt(r.otherPct, 0) : '–'} | ${res ? fmt(r.waitPct, 1) : '–'} | ${fmt(r.coreBusyPct, 0)} (${fmt(r.stealPct, 0)}) | ${r.load1 ?? '–'} | ${r.query_log ? fmtQps(r.log_lines) : '–'} | ${r.d.rcodes} |`,
  );
}
md.push('');
md.push(
  `Raw dnsperf output, configs and logs of this run: \`${rel(outDir)}/\` (not committed). "waited for CPU %": time the resolver's main thread was runnable while something else held CPU ${s.server_cpu} ` +
    `(/proc/PID/schedstat): other jobs, the other targets' housekeeping, or the resolver's own helper threads. "core busy %": CPU ${s.server_cpu} as a whole incl. softirq, the hypervisor's steal in brackets (/proc/stat).`,
  '',
);
// The soak's section (npm run soak, written by hand from its report) is not this run's: kept as it was.
const previous = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
const soak = /<!-- soak: start -->[\s\S]*?<!-- soak: end -->/.exec(previous);
if (soak !== null) md.push('', soak[0], '');
writeFileSync(resultsPath, md.join('\n'));

// ------------------------------------------------------------------ stdout
const out = [];
out.push('', `c2dns benchmark, ${s.started} (${cpuModel}, ${ncpu} CPUs, node ${process.version}, dnsperf ${dnsperfVersion}); load average before ${s.loadavg_start}, after ${end.loadavg_end ?? '?'}`, '');
out.push('CPU µs per query, median over rounds (ratio to Unbound, same run):', ...table(mainHeader, mainRows), '');
out.push('Spread over rounds:', ...table(['list', 'workload', 'target', 'µs/query median', 'µs/query min–max', 'qps median', 'qps min–max', 'resolver CPU %', 'other load %', 'lost', 'rounds'], detailRows, ['l', 'l', 'l']), '');
out.push('Ready time and memory:', ...table(['list', 'target', 'ready s', 'RSS after load MB', 'RSS after the runs MB', 'stop s', 'restart: ready s', 'restart: RSS MB'], loadRows, ['l', 'l']), '');
if (latRows.length) out.push('Latency at a common rate, p50 / p99 ms (achieved qps, µs/query):', ...table(['list', 'workload', '-Q rate', ...TARGETS.map(labelOf)], latRows), '');
out.push('Rounds:', ...table(['list', 'round', 'rig ceiling qps', 'load average (1 min) min–max', 'other load % (median)'], roundRows, ['l', 'l']), '');
if (checks.length) out.push('Checks:', ...checks.map((c) => `  - ${c}`), '');
out.push(`Written: ${rel(resultsPath)}`);
process.stdout.write(`${out.join('\n').replaceAll('**', '')}\n`);
