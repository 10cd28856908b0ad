#!/usr/bin/env node
// Soak test (issue 10): c2dns (the built CLI, its own process) under a steady mixed load for
// --duration seconds (default 600) at --rate queries/s (default 5,000), while its two upstreams
// (a worker thread) go through faults in turns: both silent for 30 s, SERVFAIL, garbage, forged
// replies sent to the forwarder's source ports before the real answer, one upstream silent. Per
// phase: queries sent, answered, lost (no answer within 5 s), SERVFAIL ratio, REFUSED (shed),
// stale answers (EDE 3), poisoned answers, p50/p99; the recovery time after each fault; the RSS of
// c2dns every 30 s (scaled with a shorter run, as the phases and the upstream timeout are). Pass
// (the issue's criteria): RSS within ±15 % of its value after warm-up, recovery within 5 s of each
// fault ending, and no query lost or failed while at least one upstream or the stale cache could
// answer it (queries for names never cached, asked while both upstreams are silent, cannot be
// answered and are reported apart). A run shorter than 10 minutes has less than the 240 s of
// warm-up the RSS criterion needs: its RSS is shown, not judged. Poisoned answers are reported
// beside what ID guessing alone predicts (--case-randomization turns 0x20 on to see it stop them).
// The load generator's and the upstreams' sockets have 4 MiB receive buffers, as c2dns's own: with
// the default 208 KiB they overflowed under bursts and their losses were counted against c2dns
// (the report prints the machine's UDP receive-buffer overflows during the run).
//
//   npm run soak                                   # 10 minutes at 5,000 q/s
//   npm run soak -- --duration 60 --rate 1000      # a smoke run: the same phases, scaled down
//   npm run soak -- --memory                       # with each RSS sample, where the memory is (from /metrics)
//   npm run soak -- --node-flags="--trace-gc"      # node/V8 flags for c2dns; its stdout goes to bench/out/soak-c2dns-stdout.txt
//   npm run soak -- --case-randomization           # with upstream.caseRandomization (0x20) on
//   npm run soak -- --no-faults                    # the control: the same schedule and load, both upstreams always answering
//
// Writes bench/out/soak-<time>.json (every figure) and prints a Markdown report; exit 0 = pass.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    rate: { type: 'string', default: '5000' },
    'rss-every': { type: 'string' },
    'query-log': { type: 'boolean', default: true },
    memory: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    'case-randomization': { type: 'boolean', default: false },
    faults: { type: 'boolean', default: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowNegative: true,
});
if (args.help) {
  console.log('usage: npm run soak -- [--duration SECONDS] [--rate QPS] [--rss-every SECONDS] [--no-query-log] [--memory] [--node-flags="--trace-gc ..."] [--case-randomization] [--no-faults]');
  process.exit(0);
}
const DURATION = Number(args.duration);
const RATE = Number(args.rate);
// Every 30 s in the 10-minute run; a shorter run samples as often relative to its length (else a
// smoke run would compare the RSS after warm-up with itself).
const RSS_EVERY = args['rss-every'] === undefined ? Math.max(1, (30 * DURATION) / 600) : Number(args['rss-every']);
if (!(DURATION >= 30 && RATE >= 10 && RSS_EVERY >= 1)) {
  console.error('soak: --duration >= 30, --rate >= 10 and --rss-every >= 1 expected');
  process.exit(2);
}
const { findOpt } = await import(join(root, 'dist/src/dns/opt.js'));

// ---- the schedule: fractions of a 600 s run (a shorter run scales every phase) ----
const SCALE = DURATION / 600;
/** a, b: the two upstreams' modes. `both`: neither upstream can answer. */
const PHASES = [
  // 240 s of warm-up. The default 64 MiB cache is full after 60-70 s, but V8's committed heap
  // keeps growing until ~240 s under this load, faults or not: a --no-faults control run
  // (2026-12-04) went 163 -> ~200 MiB heap, RSS 261 -> 299-311 MiB between 90 s and 240 s, then
  // flat, as the runs with faults did. With 90 s the criterion compared the faults with a heap
  // still settling; the fault phases are shorter to keep the run at 10 minutes.
  { name: 'warm-up', s: 240, a: 'ok', b: 'ok' },
  { name: 'both silent', s: 30, a: 'silent', b: 'silent', fault: true, both: true },
  { name: 'recovery 1', s: 40, a: 'ok', b: 'ok' },
  { name: 'A SERVFAIL', s: 45, a: 'servfail', b: 'ok', fault: true },
  { name: 'recovery 2', s: 30, a: 'ok', b: 'ok' },
  { name: 'A garbage', s: 45, a: 'garbage', b: 'ok', fault: true },
  { name: 'recovery 3', s: 30, a: 'ok', b: 'ok' },
  { name: 'forged replies', s: 45, a: 'forge', b: 'forge', fault: true },
  { name: 'recovery 4', s: 30, a: 'ok', b: 'ok' },
  { name: 'A silent', s: 45, a: 'silent', b: 'ok', fault: true },
  { name: 'recovery 5', s: 20, a: 'ok', b: 'ok' },
].map((p) => ({ ...p, s: p.s * SCALE }))
  // --no-faults: the control run, so that what the load alone does to RSS can be told from what the faults do.
  .map((p) => (args.faults ? p : { name: p.fault ? `${p.name} (no fault)` : p.name, s: p.s, a: 'ok', b: 'ok' }));

// ---- upstreams: a worker thread with two UDP responders ----
const UPSTREAM = `
const dgram = require('node:dgram');
const { parentPort, workerData } = require('node:worker_threads');
const modes = ['ok', 'ok'];
const socks = [];
let forged = 0;
function answer(q, rcode) {
  // Question end: walk the name from byte 12.
  let o = 12;
  while (o < q.length && q[o] !== 0) o += q[o] + 1;
  const qEnd = o + 5;
  if (qEnd > q.length) return null;
  const name = q.toString('latin1', 13, o).toLowerCase();
  const qtype = q.readUInt16BE(o + 1);
  const nx = name.startsWith('nx');
  const withAnswer = rcode === 0 && !nx && (qtype === 1 || qtype === 28);
  const ttl = name.startsWith('pop') ? workerData.popularTtl : 300;
  const rdlen = qtype === 28 ? 16 : 4;
  const r = Buffer.alloc(qEnd + (withAnswer ? 12 + rdlen : 0));
  q.copy(r, 0, 0, qEnd);
  r.writeUInt16BE(0x8180 | (nx && rcode === 0 ? 3 : rcode), 2);
  r.writeUInt16BE(1, 4); r.writeUInt16BE(withAnswer ? 1 : 0, 6); r.writeUInt16BE(0, 8); r.writeUInt16BE(0, 10);
  if (withAnswer) {
    let a = qEnd;
    r.writeUInt16BE(0xc00c, a); r.writeUInt16BE(qtype, a + 2); r.writeUInt16BE(1, a + 4); r.writeUInt32BE(ttl, a + 6); r.writeUInt16BE(rdlen, a + 10);
    if (qtype === 1) { r[a + 12] = 192; r[a + 13] = 0; r[a + 14] = 2; r[a + 15] = 1; } else { r[a + 12] = 0x20; r[a + 13] = 0x01; r[a + 14] = 0x0d; r[a + 15] = 0xb8; r[a + 27] = 1; }
  }
  return r;
}
function start(i) {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  s.on('message', (q, rinfo) => {
    const mode = modes[i];
    if (q.length < 12 || mode === 'silent') return;
    const send = (b) => s.send(b, rinfo.port, rinfo.address);
    if (mode === 'garbage') {
      const g = Buffer.alloc(4 + Math.floor(Math.random() * 60));
      for (let k = 0; k < g.length; k++) g[k] = Math.floor(Math.random() * 256);
      if (Math.random() < 0.5 && g.length >= 2) { g[0] = q[0]; g[1] = q[1]; } // sometimes its ID
      send(g);
      return;
    }
    const r = answer(q, mode === 'servfail' ? 2 : 0);
    if (r === null) return;
    if (mode === 'forge') {
      // An off-path attacker who knows the forwarder's port and the name, but neither the ID nor
      // the letter case c2dns sent (upstream.caseRandomization): two guesses, a poisoned address.
      for (let k = 0; k < 2; k++) {
        const f = Buffer.from(r);
        for (let o = 12; o < f.length && f[o] !== 0; o++) if (f[o] >= 0x41 && f[o] <= 0x5a) f[o] |= 0x20; // length bytes are < 64
        f.writeUInt16BE(Math.floor(Math.random() * 65536), 0);
        // An A answer ends with its 4 address bytes (these replies carry no OPT).
        if (f.readUInt16BE(6) === 1 && f.readUInt16BE(f.length - 6) === 4) f.fill(6, f.length - 4);
        send(f);
        forged++;
      }
      setTimeout(() => send(r), 1);
      return;
    }
    send(r);
  });
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => { socks[i] = s; resolve(s.address().port); }));
}
Promise.all([start(0), start(1)]).then((ports) => parentPort.postMessage({ ports }));
parentPort.on('message', (m) => {
  if (m.modes) { modes[0] = m.modes[0]; modes[1] = m.modes[1]; }
  if (m.stats) parentPort.postMessage({ forged });
  if (m.stop) { for (const s of socks) s.close(); }
});
`;

const UPSTREAM_TIMEOUT_MS = Math.min(1500, Math.max(100, Math.round((PHASES[1].s * 1000) / 4)));

// Popular names live 20 s (scaled with the run, at least 2 s): they expire during the run, so
// when both upstreams are silent only the stale cache can answer them.
const POPULAR_TTL = Math.max(2, Math.round(20 * SCALE));
const upstream = new Worker(UPSTREAM, { eval: true, workerData: { popularTtl: POPULAR_TTL } });
const ports = await new Promise((r) => upstream.once('message', (m) => r(m.ports)));
const setModes = (a, b) => upstream.postMessage({ modes: [a, b] });

// ---- c2dns ----
const work = mkdtempSync(join(tmpdir(), 'c2dns-soak-'));
writeFileSync(join(work, 'c2.txt'), Array.from({ length: 100 }, (_, i) => `c2-${i}.soak.test`).join('\n') + '\n');
const config = {
  listen: ['127.0.0.1:0'],
  upstreams: ports.map((p) => `127.0.0.1:${p}`),
  // 1.5 s, or less in a short run: a quarter of the "both silent" phase, so that queries asked
  // in it time out on both upstreams within it and the stale cache is what answers them.
  upstream: { timeoutMs: UPSTREAM_TIMEOUT_MS, penaltyMs: 10_000, probeIntervalMs: 1000, caseRandomization: args['case-randomization'] },
  admin: { listen: '127.0.0.1:0' },
  state: { dir: join(work, 'state') },
  lists: [{ name: 'c2', path: join(work, 'c2.txt'), tags: ['c2'] }],
  log: args['query-log'] ? { destination: join(work, 'queries.log') } : { queries: 'none' },
};
// YAML is a superset of JSON: the config file is written as JSON.
writeFileSync(join(work, 'c2dns.yaml'), JSON.stringify(config, null, 1));
const nodeFlags = args['node-flags'].split(' ').filter((f) => f !== '');
mkdirSync(join(root, 'bench/out'), { recursive: true });
const childOut = nodeFlags.length === 0 ? 'ignore' : openSync(join(root, 'bench/out/soak-c2dns-stdout.txt'), 'w');
const child = spawn(process.execPath, [...nodeFlags, join(root, 'dist/src/cli.js'), 'serve', '--config', join(work, 'c2dns.yaml')], { stdio: ['ignore', childOut, 'pipe'] });
let stderr = '';
child.stderr.on('data', (c) => {
  stderr += c;
  if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
});
// c2dns flushes its history and query log while it stops: the work directory is removed only
// after it exited (removing it under a stopping server failed with ENOTEMPTY after a 10-minute run).
const exited = new Promise((r) => child.once('exit', r));
const cleanup = async () => {
  try {
    child.kill('SIGTERM');
  } catch {}
  upstream.postMessage({ stop: true });
  void upstream.terminate();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  try {
    rmSync(work, { recursive: true, force: true, maxRetries: 5 });
  } catch (err) {
    console.error(`soak: could not remove ${work}: ${err.message}`);
  }
};
process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});
const port = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`c2dns did not start:\n${stderr}`)), 30_000);
  const check = setInterval(() => {
    const line = stderr.split('\n').find((l) => l.includes('"c2dns serving"'));
    if (line === undefined) return;
    clearInterval(check);
    clearTimeout(t);
    resolve(Number(/127\.0\.0\.1:(\d+)/.exec(JSON.parse(line).listen[0])[1]));
  }, 50);
});
const rssOf = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
};
/** CPU seconds (user + system) c2dns used so far; Linux clock ticks are 1/100 s. */
const cpuOf = () => {
  try {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
};

// ---- load ----
// Mixed: 60 % popular names (200 of them, TTL 20 s: they expire, so the stale cache matters),
// 25 % names asked once (always upstream), 10 % NXDOMAIN names, 5 % blocked names; A and AAAA.
const SOCKETS = 4;
const TIMEOUT_MS = 5000;
const socks = await Promise.all(
  Array.from({ length: SOCKETS }, () => new Promise((r) => {
    // 4 MiB receive buffers (net.core.rmem_max here): a burst of answers released together (the
    // stale answers of a silent phase) must not overflow the load generator's own sockets.
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.bind(0, '127.0.0.1', () => r(s));
  })),
);
const outstanding = new Map(); // (socket index << 16 | id) → record
let nextId = 0;
let seq = 0;
const records = [];
const everCached = new Set();

function pickName() {
  const r = Math.random();
  if (r < 0.6) return { name: `pop${Math.floor(Math.random() * 200)}.soak.test`, kind: 'popular' };
  if (r < 0.85) return { name: `u${seq}.unique.soak.test`, kind: 'unique' };
  if (r < 0.95) return { name: `nx${Math.floor(Math.random() * 1000)}.soak.test`, kind: 'nx' };
  return { name: `c2-${Math.floor(Math.random() * 100)}.soak.test`, kind: 'blocked' };
}

function query(name, qtype, id) {
  const labels = name.split('.');
  const len = 12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4 + 11;
  const b = Buffer.alloc(len);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x0100, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(1, 10);
  let o = 12;
  for (const l of labels) {
    b[o++] = l.length;
    o += b.write(l, o, 'latin1');
  }
  b[o++] = 0;
  b.writeUInt16BE(qtype, o);
  b.writeUInt16BE(1, o + 2);
  o += 4;
  b.writeUInt16BE(41, o + 1);
  b.writeUInt16BE(1232, o + 3);
  return b;
}

/** The machine's UDP receive-buffer overflows so far (every socket: ours, c2dns's, the upstreams'). */
const rcvbufErrors = () => {
  try {
    const [head, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    return Number(values.split(' ')[head.split(' ').indexOf('RcvbufErrors')]);
  } catch {
    return NaN;
  }
};
const rcvbufErrorsAtStart = rcvbufErrors();
const t0 = performance.now();
let phaseIndex = 0;
const phaseOf = (t) => {
  let end = 0;
  for (let i = 0; i < PHASES.length; i++) {
    end += PHASES[i].s * 1000;
    if (t < end) return i;
  }
  return PHASES.length - 1;
};

function onReply(sockIndex, m) {
  if (m.length < 12) return;
  const key = (sockIndex << 16) | m.readUInt16BE(0);
  const rec = outstanding.get(key);
  if (rec === undefined) return;
  outstanding.delete(key);
  rec.ms = performance.now() - rec.at;
  rec.rcode = m[3] & 0x0f;
  const opt = findOpt(m);
  // EDE 3 (Stale Answer) in the OPT RDATA.
  if (opt !== null) {
    const start = opt.start + 11;
    const end = start + m.readUInt16BE(opt.start + 9);
    for (let o = start; o + 6 <= end; o += 4 + m.readUInt16BE(o + 2)) {
      if (m.readUInt16BE(o) !== 15) continue;
      if (m.readUInt16BE(o + 4) === 3) rec.stale = true;
      // A failure's EDE (code and text) says which stage gave up, for the failure samples in the JSON.
      if (rec.rcode !== 0 && rec.rcode !== 3) rec.ede = `${m.readUInt16BE(o + 4)} ${m.toString('utf8', o + 6, o + 4 + m.readUInt16BE(o + 2))}`;
    }
  }
  const an = m.readUInt16BE(6);
  if (an > 0 && m.length >= 4) {
    const tail = m.subarray(opt === null ? m.length - 4 : opt.start - 4, opt === null ? m.length : opt.start);
    if (tail[0] === 6 && tail[1] === 6 && tail[2] === 6 && tail[3] === 6) rec.poisoned = true;
  }
  if (rec.rcode === 0 && an > 0 && rec.kind === 'popular') everCached.add(`${rec.name}/${rec.qtype}`);
}
socks.forEach((s, i) => s.on('message', (m) => onReply(i, m)));

// --memory: with each RSS sample, c2dns's own account of its memory (prom-client's nodejs_* and
// the cache's gauges), to tell V8 heap, Buffers outside it and the allocator's share apart.
const adminUrl = JSON.parse(stderr.split('\n').find((l) => l.includes('"c2dns serving"'))).admin;
const MEMORY_METRICS = {
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
  cacheEntries: 'c2dns_cache_entries',
  cacheBytes: 'c2dns_cache_bytes',
};
function sampleMemory(sample) {
  fetch(`${adminUrl}/metrics`)
    .then((r) => r.text())
    .then((text) => {
      for (const [k, name] of Object.entries(MEMORY_METRICS)) {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
        if (line !== undefined) sample[k] = Number(line.split(' ').pop());
      }
    })
    .catch(() => undefined);
}

const rss = [];
let lastRss = 0;
let lastTick = performance.now();
let due = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = performance.now();
    const t = now - t0;
    if (t >= DURATION * 1000) {
      clearInterval(tick);
      resolve();
      return;
    }
    const p = phaseOf(t);
    if (p !== phaseIndex || t < 20) {
      phaseIndex = p;
      setModes(PHASES[p].a, PHASES[p].b);
    }
    if (t - lastRss >= RSS_EVERY * 1000 || rss.length === 0) {
      lastRss = t;
      const sample = { t: Math.round(t / 1000), rss: rssOf() };
      rss.push(sample);
      if (args.memory) sampleMemory(sample);
    }
    due += ((now - lastTick) * RATE) / 1000;
    lastTick = now;
    for (; due >= 1; due--) {
      const { name, kind } = pickName();
      const si = seq % SOCKETS;
      const id = nextId++ & 0xffff;
      const qtype = Math.random() < 0.8 ? 1 : 28;
      const rec = { at: performance.now(), t, phase: p, name, qtype, kind, cachedBefore: kind === 'popular' && everCached.has(`${name}/${qtype}`), rcode: -1, ms: -1, stale: false, poisoned: false };
      outstanding.set((si << 16) | id, rec);
      records.push(rec);
      socks[si].send(query(name, qtype, id), port, '127.0.0.1');
      seq++;
    }
    // Expire the unanswered.
    for (const [k, r] of outstanding) {
      if (now - r.at < TIMEOUT_MS) break; // insertion order = send order
      outstanding.delete(k);
    }
  }, 5);
});
setModes('ok', 'ok');
await new Promise((r) => setTimeout(r, TIMEOUT_MS + 200));
rss.push({ t: Math.round((performance.now() - t0) / 1000), rss: rssOf() });
const cpuSeconds = cpuOf();
const udpRcvbufErrors = rcvbufErrors() - rcvbufErrorsAtStart;
upstream.postMessage({ stats: true });
const forged = await new Promise((r) => upstream.on('message', (m) => m.forged !== undefined && r(m.forged)));
const metrics = await fetch(`${adminUrl}/metrics`).then((r) => r.text()).catch(() => '');
// Which UDP path served and, for the native one, its counters (answers dropped on a full send buffer).
const udpStatus = await fetch(`${adminUrl}/api/status`).then((r) => r.json()).then((j) => j.udp ?? null).catch(() => null);
await cleanup();

// ---- report ----
const metric = (name) => {
  let n = 0;
  for (const l of metrics.split('\n')) if (l.startsWith(name)) n += Number(l.split(' ').pop());
  return n;
};
const pct = (xs, q) => (xs.length === 0 ? NaN : xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]);
/** When each fault ended (ms from the start). */
const faultEnds = [];
{
  let end = 0;
  for (const ph of PHASES) {
    end += ph.s * 1000;
    if (ph.fault) faultEnds.push(end);
  }
}
const RECOVERY_MS = 5000;
/** Sent within 5 s of a fault's end: judged by the recovery criterion, not as an answerable failure. */
const recovering = (r) => faultEnds.some((e) => r.t >= e && r.t < e + RECOVERY_MS);
/** Could this query have been answered: an upstream up, or a stale answer for a name (and type) cached before. */
const answerable = (r) => !recovering(r) && (!PHASES[r.phase].both || r.cachedBefore || r.kind === 'blocked');
const rows = PHASES.map((ph, i) => {
  const rs = records.filter((r) => r.phase === i);
  const ok = rs.filter((r) => r.rcode >= 0);
  const lat = ok.map((r) => r.ms).sort((a, b) => a - b);
  const fails = rs.filter((r) => r.rcode < 0 || r.rcode === 2 || r.rcode === 5);
  return {
    phase: ph.name,
    seconds: Math.round(ph.s),
    sent: rs.length,
    answered: ok.length,
    lost: rs.length - ok.length,
    servfail: ok.filter((r) => r.rcode === 2).length,
    refused: ok.filter((r) => r.rcode === 5).length,
    stale: ok.filter((r) => r.stale).length,
    poisoned: ok.filter((r) => r.poisoned).length,
    p50: Math.round(pct(lat, 0.5) * 10) / 10,
    p99: Math.round(pct(lat, 0.99) * 10) / 10,
    failedAnswerable: fails.filter(answerable).length,
    // What the answerable failures were: kind of name / outcome (lost, SERVFAIL, REFUSED), for the JSON.
    failedAnswerableBy: fails.filter(answerable).reduce((m, r) => {
      const k = `${r.kind}/${r.rcode < 0 ? 'lost' : r.rcode === 2 ? 'SERVFAIL' : 'REFUSED'}`;
      m[k] = (m[k] ?? 0) + 1;
      return m;
    }, {}),
    failedAnswerableSamples: fails.filter(answerable).slice(0, 10).map((r) => ({ t: Math.round(r.t), name: r.name, qtype: r.qtype, rcode: r.rcode, ms: Math.round(r.ms), ede: r.ede ?? null })),
    failedRecovering: fails.filter(recovering).length,
    failedUnanswerable: fails.filter((r) => !answerable(r) && !recovering(r)).length,
  };
});
// Recovery: from a fault's end to the last failed query sent after it (within the next phase).
let phaseEnd = 0;
const recovery = [];
PHASES.forEach((ph, i) => {
  phaseEnd += ph.s * 1000;
  if (!ph.fault) return;
  const after = records.filter((r) => r.phase === i + 1 && (r.rcode < 0 || r.rcode === 2));
  const last = after.length === 0 ? phaseEnd : Math.max(...after.map((r) => r.t));
  recovery.push({ fault: ph.name, seconds: Math.round((last - phaseEnd) / 100) / 10 });
});
const warm = rss.find((x) => x.t >= PHASES[0].s) ?? rss[0];
const rssDev = Math.max(...rss.filter((x) => x.t >= warm.t).map((x) => Math.abs(x.rss - warm.rss) / warm.rss));
// The RSS criterion needs the full 240 s of warm-up: after a few seconds c2dns is still filling
// its cache and compiling, so a scaled-down run reports the RSS but does not judge it (null).
const RSS_JUDGED = PHASES[0].s >= 240;
const failedAnswerable = rows.reduce((n, r) => n + r.failedAnswerable, 0);
const pass = {
  rss: RSS_JUDGED ? rssDev <= 0.15 : null,
  recovery: recovery.every((r) => r.seconds <= 5),
  answerable: failedAnswerable === 0,
};
const out = { when: new Date().toISOString(), duration: DURATION, rate: RATE, queryLog: args['query-log'], nodeFlags, cpuSeconds, phases: rows, recovery, rss, forged, metrics: { staleServed: metric('c2dns_cache_stale_served_total'), shed: metric('c2dns_overload_shed_total'), internalErrors: metric('c2dns_internal_errors_total') }, udp: udpStatus, udpRcvbufErrors, pass };
mkdirSync(join(root, 'bench/out'), { recursive: true });
const file = join(root, 'bench/out', `soak-${out.when.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(out, null, 1));

const mb = (b) => Math.round(b / 1048576);
console.log(`## c2dns soak: ${DURATION} s at ${RATE} q/s (${records.length.toLocaleString('en')} queries${DURATION < 600 ? '; a scaled-down run, not the 10-minute soak' : ''}${nodeFlags.length > 0 ? `; c2dns run with node ${nodeFlags.join(' ')}` : ''})\n`);
console.log('| phase | s | sent | answered | lost | SERVFAIL | REFUSED (shed) | stale | poisoned | p50 ms | p99 ms | failed, answerable | failed, < 5 s after a fault | failed, unanswerable |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const sf = r.answered === 0 ? 0 : (100 * r.servfail) / r.answered;
  console.log(`| ${r.phase} | ${r.seconds} | ${r.sent} | ${r.answered} | ${r.lost} | ${r.servfail} (${sf.toFixed(2)} %) | ${r.refused} | ${r.stale} | ${r.poisoned} | ${r.p50} | ${r.p99} | ${r.failedAnswerable} | ${r.failedRecovering} | ${r.failedUnanswerable} |`);
}
console.log(`\nRecovery after each fault (last failure after its end): ${recovery.map((r) => `${r.fault} ${r.seconds} s`).join(', ')}`);
console.log(`RSS of c2dns (MiB, every ${RSS_EVERY} s): ${rss.map((x) => `${x.t}s ${mb(x.rss)}`).join(', ')}; after warm-up ${mb(warm.rss)}, largest deviation ${(rssDev * 100).toFixed(1)} %`);
if (args.memory) {
  console.log(`\nMemory of c2dns (MiB; heap = V8 heap used/total, external = Buffers and other memory outside the heap, cache = entries and bytes as counted against cache.maxBytes):`);
  for (const x of rss) console.log(`  ${x.t}s rss ${mb(x.rss)} heap ${mb(x.heapUsed)}/${mb(x.heapTotal)} external ${mb(x.external)} cache ${x.cacheEntries} entries ${mb(x.cacheBytes)}`);
}
console.log(`CPU of c2dns: ${cpuSeconds.toFixed(1)} s user+system, ${((cpuSeconds * 1e6) / records.length).toFixed(1)} µs per query sent (start-up included; wall-clock CPU, so it varies with what else runs)`);
if (udpStatus !== null) console.log(`UDP path: ${udpStatus.path}${udpStatus.path === 'batch' ? ` (sent ${udpStatus.sent}, dropped on a full send buffer ${udpStatus.dropped}, send errors ${udpStatus.errors})` : ''}`);
console.log(`UDP receive-buffer overflows on this machine during the run (any socket, /proc/net/snmp RcvbufErrors): ${udpRcvbufErrors}`);
console.log(`Forged replies sent to c2dns's ports: ${forged}; stale answers served (c2dns_cache_stale_served_total): ${out.metrics.staleServed}; shed: ${out.metrics.shed}; internal errors: ${out.metrics.internalErrors}`);
console.log(`\nPass: RSS within ±15 % ${pass.rss === null ? `not judged (warm-up ${PHASES[0].s} s, needs 240)` : pass.rss ? 'yes' : 'NO'}; recovery within 5 s ${pass.recovery ? 'yes' : 'NO'}; no answerable query lost or failed ${pass.answerable ? 'yes' : `NO (${failedAnswerable})`}`);
// Not a pass criterion (the issue's are the three above): without 0x20 and without upstream
// cookies, an ID guess is right once in 65,536, as for every UDP resolver.
const poisoned = rows.reduce((n, r) => n + r.poisoned, 0);
console.log(`Poisoned answers: ${poisoned} of ${forged} forged replies (ID guessing alone predicts about ${(forged / 65536).toFixed(1)}; upstream.caseRandomization ${args['case-randomization'] ? 'on' : 'off'})`);
console.log(`Figures: ${file}`);
process.exit(Object.values(pass).every((v) => v !== false) ? 0 : 1);
