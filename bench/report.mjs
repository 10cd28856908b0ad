#!/usr/bin/env node
// Turns one bench/run.sh run (bench/out/: runs.jsonl, settings.json, end.json, dnsperf outputs,
// c2dns logs) into bench/RESULTS.md and prints the summary table on stdout.
//
//   node bench/report.mjs bench/out bench/RESULTS.md
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const [outDir, resultsPath] = process.argv.slice(2);
if (!outDir || !resultsPath) {
  process.stderr.write('usage: report.mjs OUT_DIR RESULTS.md\n');
  process.exit(2);
}
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const rel = (p) => relative(ROOT, p) || '.';
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const settings = readJson(`${outDir}/settings.json`);
const end = existsSync(`${outDir}/end.json`) ? readJson(`${outDir}/end.json`) : {};
const runs = readFileSync(`${outDir}/runs.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

// ------------------------------------------------------------------ dnsperf output
function parseDnsperf(path, withLatencies) {
  const text = readFileSync(path, 'utf8');
  const num = (re) => {
    const m = text.match(re);
    return m ? Number(m[1]) : null;
  };
  const r = {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgLatMs: (num(/Average Latency \(s\):\s+([\d.]+)/) ?? NaN) * 1000,
    runTime: num(/Run time \(s\):\s+([\d.]+)/),
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
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtQps = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const fmtPct = (lost, sent) => (sent ? `${((100 * lost) / sent).toFixed(lost === 0 ? 0 : 3)}%` : '–');

for (const r of runs) {
  r.d = parseDnsperf(r.out, r.phase === 'lat');
  const secs = r.ticks / r.hz;
  r.cpuUsPerQ = r.d.completed ? (secs * 1e6) / r.d.completed : NaN;
  // ticks and rq wait cover dnsperf's run plus the wait for the query log to settle (wall_cpu)
  const wallCpu = r.wall_cpu ?? r.wall;
  r.cpuPct = wallCpu > 0 ? (100 * secs) / wallCpu : NaN;
  r.waitPct = wallCpu > 0 && r.rq_wait_ns != null ? (100 * r.rq_wait_ns) / 1e9 / wallCpu : NaN;
  r.stealPct = r.core_total > 0 && r.core_steal != null ? (100 * r.core_steal) / r.core_total : NaN;
  // CPU time on the server core not used by c2dns (other jobs, plus softirq while c2dns was idle)
  r.otherPct = r.kind === 'c2dns' && r.core_total > 0 ? Math.max(0, (100 * (r.core_busy - (r.core_steal ?? 0) - r.ticks)) / r.core_total) : NaN;
  r.coreBusyPct = r.core_total > 0 ? (100 * r.core_busy) / r.core_total : NaN;
}

// ------------------------------------------------------------------ summary rows
const ORDER = ['cached', 'blocked', 'mixed'];
const LABEL = {
  cached: '(a) cached',
  blocked: '(b) blocked',
  mixed: '(c) mixed 80/15/5',
  ceiling: `rig ceiling: dnsperf → ${settings.upstream === 'nsd' ? 'NSD' : 'BIND'} directly`,
};
const workloads = [...ORDER.filter((w) => runs.some((r) => r.workload === w)), ...(runs.some((r) => r.kind === 'ceiling') ? ['ceiling'] : [])];
const ceilingMedian = median(runs.filter((r) => r.kind === 'ceiling').map((r) => r.d.qps));

const rows = workloads.map((w) => {
  const sat = runs.filter((r) => r.workload === w && r.phase === 'sat');
  const lat = runs.find((r) => r.workload === w && r.phase === 'lat');
  const qps = sat.map((r) => r.d.qps);
  const sent = sat.reduce((a, r) => a + (r.d.sent ?? 0), 0);
  const lost = sat.reduce((a, r) => a + (r.d.lost ?? 0), 0);
  return {
    w,
    n: sat.length,
    qps: median(qps),
    min: Math.min(...qps),
    max: Math.max(...qps),
    ofCeiling: w === 'ceiling' ? NaN : (100 * median(qps)) / ceilingMedian,
    us: w === 'ceiling' ? NaN : median(sat.map((r) => r.cpuUsPerQ)),
    cpuPct: w === 'ceiling' ? NaN : median(sat.map((r) => r.cpuPct)),
    otherPct: w === 'ceiling' ? NaN : median(sat.map((r) => r.otherPct)),
    lost,
    sent,
    lat,
    p50: lat ? pct(lat.d.latencies, 0.5) : NaN,
    p99: lat ? pct(lat.d.latencies, 0.99) : NaN,
  };
});

const summaryHeader = [
  '| workload | median qps | min–max qps | % of rig ceiling | c2dns CPU µs/query | c2dns CPU % | other load on its CPU % | lost | latency run: -Q rate (achieved) | p50 ms | p99 ms | latency µs CPU/query |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
const summaryLines = rows.map((r) =>
  [
    '',
    LABEL[r.w],
    `**${fmtQps(r.qps)}**`,
    `${fmtQps(r.min)}–${fmtQps(r.max)} (${r.n} run${r.n === 1 ? '' : 's'})`,
    Number.isFinite(r.ofCeiling) ? `${Math.round(r.ofCeiling)}%` : '–',
    Number.isFinite(r.us) ? `**${fmt(r.us)}**` : '–',
    fmt(r.cpuPct, 0),
    fmt(r.otherPct, 0),
    fmtPct(r.lost, r.sent),
    r.lat ? `${fmtQps(r.lat.rate)} (${fmtQps(r.lat.d.qps)})` : '–',
    fmt(r.p50, 3),
    fmt(r.p99, 3),
    r.lat ? fmt(r.lat.cpuUsPerQ) : '–',
    '',
  ].join(' | ').trim(),
);

// ------------------------------------------------------------------ machine, versions, checks
const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
  }
};
const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const cpuModel = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown';
const dnsperfVersion = sh(settings.dnsperf, ['-h']).match(/Version\s+(\S+)/)?.[1] ?? 'unknown';
const osRelease = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] ?? os.type();
const commit = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json', 'tsconfig.json']) !== '';
const virt = sh('systemd-detect-virt', []);
const date = settings.started ?? new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

// c2dns operational log: warnings and errors (pino levels 40/50/60)
const stderrLines = existsSync(`${outDir}/c2dns.stderr.log`) ? readFileSync(`${outDir}/c2dns.stderr.log`, 'utf8').split('\n').filter(Boolean) : [];
const problems = new Map();
for (const line of stderrLines) {
  let rec;
  try {
    rec = JSON.parse(line);
  } catch {
    rec = { level: 50, msg: `(not JSON) ${line.slice(0, 160)}` };
  }
  if ((rec.level ?? 0) < 40) continue;
  const key = `${rec.level >= 50 ? 'error' : 'warn'}: ${rec.msg}${rec.err?.message ? ` — ${rec.err.message}` : ''}`;
  problems.set(key, (problems.get(key) ?? 0) + 1);
}

const checks = [];
for (const r of runs.filter((x) => x.kind === 'c2dns')) {
  const d = r.d;
  const tag = `${r.workload} ${r.phase === 'lat' ? 'latency run' : `run ${r.run}`}`;
  if (d.lost) checks.push(`${tag}: ${d.lost} of ${d.sent} queries lost (${fmtPct(d.lost, d.sent)})`);
  if (settings.query_log === 'all' && d.completed != null && r.log_lines !== d.completed) checks.push(`${tag}: query log has ${r.log_lines} lines for ${d.completed} answered queries`);
  const bad = d.rcodes.split(/\s+/).filter((x, i, a) => i % 2 === 0 && x !== 'NOERROR' && a[i + 1]);
  if (bad.length) checks.push(`${tag}: response codes ${d.rcodes}`);
  if (r.workload === 'mixed' && d.sent > r.qfile_lines) checks.push(`${tag}: dnsperf sent ${d.sent} queries but the file has ${r.qfile_lines} lines: it wrapped, so later "misses" were cache hits (raise BENCH_MAX_QPS)`);
}
const noisy = runs.filter((x) => x.kind === 'c2dns' && x.otherPct >= 5);
if (noisy.length) {
  checks.push(
    `Noise: in ${noisy.length} of ${runs.filter((x) => x.kind === 'c2dns').length} runs other processes used ≥ 5% of CPU ${settings.server_cpu}, the c2dns core ` +
      `(max ${fmt(Math.max(...noisy.map((x) => x.otherPct)), 0)}%): those runs understate c2dns's qps and overstate its latency.`,
  );
}
for (const r of runs.filter((x) => x.kind === 'ceiling')) if (r.d.lost) checks.push(`rig ceiling run ${r.run}: ${r.d.lost} of ${r.d.sent} queries lost`);
for (const r of runs.filter((x) => x.phase === 'lat')) {
  if (r.d.qps < 0.95 * r.rate) checks.push(`${r.workload} latency run: asked for ${r.rate} qps, achieved ${Math.round(r.d.qps)} (latency includes queueing)`);
}
const warm = [1, 2].map((i) => `${outDir}/warmup-${i}.txt`).filter(existsSync).map((p) => parseDnsperf(p, false));

// ------------------------------------------------------------------ write
const s = settings;
const md = [];
md.push('# c2dns benchmark results', '');
md.push(`Generated by \`npm run bench\` (bench/run.sh) on **${date}**; c2dns commit \`${commit}\`${dirty ? ' with uncommitted changes in src/' : ''}.`, '');
md.push(
  '> **The machine is shared and noisy** (other jobs run on it concurrently; it is a VM whose CPU capacity drifts).',
  '> Absolute figures move from one run to the next: read the **medians**, and compare **ratios** (c2dns against the',
  '> rig ceiling measured in the same rounds, one workload against another) and the **CPU µs per query**, which depends',
  '> less on the load generator than qps does. Re-run before trusting a difference of less than ~15%.',
  '',
);
md.push('## Summary', '');
md.push(
  `Saturated throughput: ${s.runs} runs × ${s.seconds} s per workload (dnsperf \`-c ${s.clients} -q ${s.outstanding}\`, no rate limit), ` +
    `interleaved round by round with the rig ceiling. Latency: one ${s.lat_seconds} s run per workload at ${Math.round(s.lat_fraction * 100)}% ` +
    'of that workload\'s median qps (`-Q`), percentiles over every answered query (dnsperf `-v`). ' +
    'CPU µs/query: utime+stime of the c2dns process (all threads, from /proc/PID/stat, including writing the query log) divided by the queries answered. ' +
    '"Other load on its CPU %": share of the c2dns core used by other processes during the run (other jobs on the machine: noise; medians).',
  '',
);
md.push(...summaryHeader, ...summaryLines, '');
md.push(
  `c2dns: started and ready in ${s.startup_s} s, RSS ${Math.round(s.rss_start_kb / 1024)} MB at start, ${end.rss_end_kb ? Math.round(end.rss_end_kb / 1024) : '?'} MB after the runs; ` +
    `stopped ${end.stopped_cleanly ? 'cleanly' : '**not cleanly**'} in ${end.stop_s ?? '?'} s after SIGTERM.`,
  '',
);
md.push('## Checks', '');
if (checks.length === 0 && problems.size === 0) md.push('- No lost queries, only NOERROR answers, one query-log line per answered query, no warning or error from c2dns.');
for (const c of checks) md.push(`- ${c}`);
for (const [k, n] of problems) md.push(`- c2dns stderr: ${n} × ${k}`);
if (warm.length) md.push(`- Cache warm-up: ${warm.map((w, i) => `pass ${i + 1} ${fmtQps(w.qps)} qps, ${w.lost ?? '?'} lost`).join('; ')}.`);
md.push('');
md.push('## Machine', '');
md.push('| item | value |', '|---|---|');
md.push(`| CPUs (nproc) | ${os.availableParallelism?.() ?? os.cpus().length} |`);
md.push(`| CPU model | ${cpuModel} |`);
md.push(`| virtualisation | ${virt || 'unknown'} |`);
md.push(`| memory | ${Math.round(os.totalmem() / 2 ** 30)} GiB |`);
md.push(`| OS / kernel | ${osRelease} / ${os.release()} |`);
md.push(`| node | ${process.version} |`);
md.push(`| dnsperf | ${dnsperfVersion} |`);
md.push(`| upstream | ${s.upstream_version} |`);
md.push(`| load average before the run | ${s.loadavg_start} |`);
md.push('');
md.push('## Setup', '');
md.push(
  `- c2dns on **CPU ${s.server_cpu}** (\`taskset -c ${s.server_cpu}\`), one Node.js process, default cache (100,000 entries), ` +
    `blocklist of ${s.list_size.toLocaleString('en-US')} names (plain format, subdomains blocked, answer 0.0.0.0/::), ` +
    (s.query_log === 'all'
      ? '**query log `all` to a file** (bench/out/query.log, truncated before each run).'
      : `**query log \`${s.query_log}\`** (BENCH_QUERY_LOG; the realistic setting, and the default, is \`all\`).`),
  `- dnsperf and the upstream on **CPU ${s.gen_cpu}**${s.pinned ? '' : ' (**not pinned: single-CPU machine**)'}. Upstream: ${s.upstream_version}, ` +
    'authoritative for `bench.test.` (100,000 A + 10,000 AAAA + a wildcard for misses), one worker.',
  `- Rig ceiling: dnsperf pinned to CPU ${s.server_cpu} (idle c2dns there) querying the upstream on CPU ${s.gen_cpu} directly with the cached-workload names — ` +
    'one core of generator against one core of authoritative server. c2dns figures near it are limited by the rig, not by c2dns.',
  '- Workloads (bench/README.md): (a) **cached**: 10,000 zone names (9,000 A + 1,000 AAAA) looped, cache warmed by 2 passes first; ' +
    '(b) **blocked**: 100,000 queries on listed names (45% exact, 55% subdomains; 10% of them the 3CX names); ' +
    '(c) **mixed**: per 20 queries 16 cached / 3 blocked / 1 unique miss forwarded upstream (a fresh query file per run, so misses never repeat).',
  '',
);
md.push('## Commands', '', '```sh');
md.push('npm run bench   # = bash bench/run.sh; settings: ' + Object.entries({ BENCH_RUNS: s.runs, BENCH_SECONDS: s.seconds, BENCH_LAT_SECONDS: s.lat_seconds, BENCH_LAT_FRACTION: s.lat_fraction, BENCH_UPSTREAM: s.upstream, BENCH_QUERY_LOG: s.query_log }).map(([k, v]) => `${k}=${v}`).join(' '));
md.push(s.upstream_cmd.replaceAll(`${ROOT}/`, ''));
md.push(s.c2dns_cmd.replaceAll(`${ROOT}/`, ''));
const seen = new Set();
for (const r of runs) {
  const key = `${r.kind}/${r.workload}/${r.phase}`;
  if (seen.has(key)) continue;
  seen.add(key);
  md.push(r.cmd.replaceAll(`${ROOT}/`, ''));
}
md.push('```', '');
md.push('## Every run', '');
md.push('| run | workload | qps | sent | lost | avg latency ms | c2dns CPU µs/query | c2dns CPU % | other load on its CPU % | c2dns event loop waited for CPU % | CPU core busy % (steal) | query-log lines | response codes |');
md.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of runs) {
  const c2 = r.kind === 'c2dns';
  md.push(
    `| ${r.phase === 'lat' ? `latency @${r.rate}` : r.run} | ${r.workload} | ${fmtQps(r.d.qps)} | ${fmtQps(r.d.sent)} | ${r.d.lost ?? '–'} | ${fmt(r.d.avgLatMs, 3)} | ${c2 ? fmt(r.cpuUsPerQ) : '–'} | ${c2 ? fmt(r.cpuPct, 0) : '–'} | ${c2 ? fmt(r.otherPct, 0) : '–'} | ${c2 ? fmt(r.waitPct, 1) : '–'} | ${fmt(r.coreBusyPct, 0)} (${fmt(r.stealPct, 0)}) | ${c2 ? fmtQps(r.log_lines) : '–'} | ${r.d.rcodes} |`,
  );
}
md.push('');
md.push(
  `Raw dnsperf output, configs and logs of this run: \`${rel(outDir)}/\` (not committed). "Other load on its CPU %": busy time of CPU ${s.server_cpu} (/proc/stat, ` +
    `without steal) minus the c2dns process's CPU time, i.e. other processes and softirq while c2dns was idle. "c2dns event loop waited for CPU %": time its event-loop thread was runnable ` +
    `but something else held CPU ${s.server_cpu} (/proc/PID/schedstat): mostly other jobs on the machine (noise), partly c2dns's own helper threads (libuv pool writing the log, GC). ` +
    `"CPU core busy %": CPU ${s.server_cpu} as a whole incl. softirq, and the hypervisor's steal in brackets (/proc/stat).`,
  '',
);
writeFileSync(resultsPath, md.join('\n'));

// ------------------------------------------------------------------ stdout
process.stdout.write(`\nc2dns benchmark, ${date} (${cpuModel}, ${os.availableParallelism?.() ?? os.cpus().length} CPUs, node ${process.version}, dnsperf ${dnsperfVersion})\n\n`);
process.stdout.write([...summaryHeader, ...summaryLines].join('\n') + '\n\n');
if (checks.length || problems.size) {
  process.stdout.write('Checks:\n');
  for (const c of checks) process.stdout.write(`  - ${c}\n`);
  for (const [k, n] of problems) process.stdout.write(`  - c2dns stderr: ${n} × ${k}\n`);
  process.stdout.write('\n');
}
process.stdout.write(`Written: ${rel(resultsPath)}\n`);
