#!/usr/bin/env node
// Cost of Metrics.onQuery per answered query, in ns, over 1M synthetic events with a realistic
// mix (cached, forwarded, blocked with tags, refused; UDP/TCP; A/AAAA/HTTPS/other types). For
// comparison it also times the same counting done with prom-client's own labelled children.
// Measured, never asserted. Needs the build: npm run build && node bench/metrics-cost.mjs
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const built = join(HERE, '..', 'dist', 'src', 'observe', 'metrics.js');
if (!existsSync(built)) {
  process.stderr.write(`metrics-cost: ${built} is missing; run "npm run build" first\n`);
  process.exit(2);
}
const { Metrics, DURATION_BUCKETS } = await import(pathToFileURL(built).href);
const { Counter, Histogram, Registry } = await import('prom-client');

const N = 1_000_000;
const RUNS = 7;

const counters = { requests: 0, responses: 0, timeouts: 0, errors: 0, ignoredReplies: 0, truncated: 0 };
const upstreams = [{ label: '192.0.2.53:53', counters }, { label: '192.0.2.54:53', counters }];

function rule(list, tags) {
  return { kind: 'block', list, rule: `${list}.example`, match: 'subtree', line: 1, action: null, important: false, labels: 2, ref: null, tags, expiresAt: 0, firstSeen: 0 };
}
const rules = [rule('3cx', ['c2', '3cx']), rule('threatfox', ['c2']), rule('local', [])];

// A fixed pool of distinct events, cycled: the observer sees varied labels as in production.
const POOL = 4096;
const events = [];
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
for (let i = 0; i < POOL; i++) {
  const r = rand();
  const action = r < 0.6 ? 'cached' : r < 0.85 ? 'allowed' : r < 0.97 ? 'blocked' : 'refused';
  const t = rand();
  events.push({
    time: Date.now(),
    client: `192.168.1.${i & 255}`,
    clientPort: 1024 + i,
    transport: rand() < 0.95 ? 'udp' : 'tcp',
    qname: `host${i}.example`,
    qtype: t < 0.5 ? 1 : t < 0.8 ? 28 : t < 0.95 ? 65 : 4242,
    action,
    match: action === 'blocked' ? rules[i % rules.length] : null,
    rcode: action === 'refused' ? 5 : rand() < 0.9 ? 0 : 3,
    latencyMs: action === 'allowed' ? 2 + rand() * 40 : 0.03 + rand() * 0.2,
    upstream: action === 'allowed' ? upstreams[i & 1].label : null,
    truncated: rand() < 0.001,
    reply: null,
  });
}

function time(label, fn) {
  for (let i = 0; i < 200_000; i++) fn(events[i & (POOL - 1)]); // warm-up: let the JIT settle
  const results = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(events[i & (POOL - 1)]);
    results.push(Number(process.hrtime.bigint() - t0) / N);
  }
  results.sort((a, b) => a - b);
  const median = results[RUNS >> 1];
  process.stdout.write(`${label.padEnd(46)} ${median.toFixed(1).padStart(7)} ns/call  (min ${results[0].toFixed(1)}, max ${results[RUNS - 1].toFixed(1)}; ${RUNS} runs × ${N} calls)\n`);
  return median;
}

let sink = 0;
const loop = time('loop + event load (baseline)', (e) => {
  sink += e.clientPort;
});

const metrics = new Metrics({ feeds: { sources: [] }, upstreams, cache: null, dispatchCounters: () => ({ dropped: 0, malformed: 0, internalErrors: 0 }), version: 'bench' });
const ours = time('Metrics.onQuery', (e) => metrics.onQuery(e));

// The same counting through prom-client's public API, children resolved up front.
const reg = new Registry();
const q = new Counter({ name: 'q_total', help: 'h', labelNames: ['transport', 'qtype', 'action'], registers: [reg] });
const b = new Counter({ name: 'b_total', help: 'h', labelNames: ['list', 'tag'], registers: [reg] });
const rc = new Counter({ name: 'r_total', help: 'h', labelNames: ['rcode'], registers: [reg] });
const d = new Histogram({ name: 'd_seconds', help: 'h', buckets: DURATION_BUCKETS, registers: [reg] });
const ud = new Histogram({ name: 'u_seconds', help: 'h', labelNames: ['upstream'], buckets: DURATION_BUCKETS, registers: [reg] });
const qc = new Map();
const bc = new WeakMap();
const rcc = new Map();
const udc = new Map();
const names = { 1: 'A', 28: 'AAAA', 65: 'HTTPS' };
const pc = time('prom-client children (for comparison)', (e) => {
  const key = (e.qtype << 8) | (e.transport === 'udp' ? 0 : 128) | e.action.length;
  let c = qc.get(key);
  if (c === undefined) qc.set(key, (c = q.labels(e.transport, names[e.qtype] ?? 'other', e.action)));
  c.inc();
  let r = rcc.get(e.rcode);
  if (r === undefined) rcc.set(e.rcode, (r = rc.labels(String(e.rcode))));
  r.inc();
  d.observe(e.latencyMs / 1000);
  if (e.action === 'allowed') {
    let u = udc.get(e.upstream);
    if (u === undefined) udc.set(e.upstream, (u = ud.labels(e.upstream)));
    u.observe(e.latencyMs / 1000);
  } else if (e.action === 'blocked') {
    let cs = bc.get(e.match);
    if (cs === undefined) bc.set(e.match, (cs = (e.match.tags.length ? e.match.tags : ['']).map((t) => b.labels(e.match.list, t))));
    for (const x of cs) x.inc();
  }
});

const text = await metrics.render();
process.stdout.write(
  `\nMetrics.onQuery costs ≈ ${(ours - loop).toFixed(1)} ns per query above the loop (prom-client children: ≈ ${(pc - loop).toFixed(1)} ns).\n` +
    `Exposition after the run: ${text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length} samples, ${text.length} bytes. (sink ${sink > 0 ? 'ok' : '?'})\n`,
);
