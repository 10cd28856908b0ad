#!/usr/bin/env node
// What each query observer costs per answered query, in ns, as `npm start` builds them: the
// server is started in-process from the defaults plus what bench/run.sh's "full" profile sets
// (query log `all` to a file, history on, admin and /metrics on, a list tagged c2 so blocks raise
// c2-hit events), and every observer it registered (server.observers) is fed the same realistic
// QueryEvents, one observer at a time, then all of them in order as the dispatcher calls them.
// Nothing goes over the network: no socket, no upstream, so the figures hold on a shared machine.
//
// Workloads (events are built as src/server/dispatch.ts builds them, decisions from the loaded
// list's own rules through the policy's trie, replies as real DNS messages):
//   cached          2,000 names asked again and again, answered from the cache
//   blocked-10k     a 10k list's names in turn (repeats: the windows and per-rule caches hit)
//   blocked-1M      a new list name every query (what dnsperf does to a 1M list)
//   mixed           per 20 queries 16 cached, 3 blocked (new names), 1 forwarded miss (bench/gen-data.mjs)
// Events are fed in slices of 1,000 with a turn of the event loop between slices (the query log
// and history write asynchronously); the figure is the process's CPU time (user + system, every
// thread: bench/run.sh pins the resolver to one core, so that is what a query costs there),
// slices and turns, per event. CPU time, not wall time: other load on the machine moves it less.
//
//   node bench/observer-cost.mjs [--dist DIR | --no-build] [--list N] [--events N] [--runs N]
//                                [--workloads a,b] [--observers Name,Name]
// Builds the working tree into bench/out/observer-cost/dist first (not dist/, which others may
// be building); --dist DIR measures another build (an older commit's, for before/after).
// Measured, never asserted. A short run: --list 20000 --events 10000 --runs 3. The default list
// (1M names) is bench/run.sh's large one: its heap is what a major GC walks.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');

const args = process.argv.slice(2);
const KNOWN = new Set(['--dist', '--no-build', '--list', '--events', '--runs', '--workloads', '--observers']);
for (const a of args) if (a.startsWith('--') && !KNOWN.has(a)) fail(`unknown option ${a} (known: ${[...KNOWN].join(' ')})`);
function opt(name, dflt) {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`${name} needs a value`);
  return v;
}
function num(name, dflt, min) {
  const v = Number(opt(name, dflt));
  if (!Number.isInteger(v) || v < min) fail(`${name} must be an integer >= ${min}, got ${opt(name, dflt)}`);
  return v;
}
function fail(msg) {
  process.stderr.write(`observer-cost: ${msg}\n`);
  process.exit(2);
}

const LIST = num('--list', 1_000_000, 20_000);
const EVENTS = num('--events', 30_000, 1_000);
const RUNS = num('--runs', 7, 1);
const SLICE = 1000;
const ALL_WORKLOADS = ['cached', 'blocked-10k', 'blocked-1M', 'mixed'];
const WORKLOADS = opt('--workloads', ALL_WORKLOADS.join(',')).split(',');
for (const w of WORKLOADS) if (!ALL_WORKLOADS.includes(w)) fail(`unknown workload ${w} (known: ${ALL_WORKLOADS.join(', ')})`);
const ONLY = opt('--observers', null)?.split(',') ?? null;

// ------------------------------------------------------------------ the build
let dist = opt('--dist', null);
if (dist === null) {
  dist = join(ROOT, 'bench', 'out', 'observer-cost', 'dist');
  if (!args.includes('--no-build')) {
    process.stderr.write(`observer-cost: building into ${dist}\n`);
    rmSync(dist, { recursive: true, force: true });
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', dist], { cwd: ROOT, stdio: 'inherit' });
    cpSync(join(ROOT, 'src/admin/console/assets'), join(dist, 'src/admin/console/assets'), { recursive: true });
  }
}
dist = resolve(dist);
const mod = (p) => {
  const f = join(dist, 'src', p);
  if (!existsSync(f)) fail(`${f} is missing: build first, or pass --dist DIR of a build`);
  return import(pathToFileURL(f).href);
};
const { loadConfig } = await mod('config/load.js');
const { startServer } = await mod('server/app.js');
const { ruleDecision } = await mod('policy/decision.js');
const pino = (await import('pino')).default;

// ------------------------------------------------------------------ the server, "full"
const dir = mkdtempSync(join(tmpdir(), 'c2dns-observer-cost-'));
const names = Array.from({ length: LIST }, (_, i) => `h${i.toString(36)}.c2-${(i % 97).toString(36)}.bench.example`);
writeFileSync(join(dir, 'list.txt'), names.join('\n') + '\n');
writeFileSync(
  join(dir, 'c2dns.yaml'),
  [
    '# bench/observer-cost.mjs: bench/run.sh\'s "full" profile (the defaults, the list tagged c2, the query log to a file)',
    'listen: ["127.0.0.1:0"]',
    'upstreams: ["127.0.0.1:9"]',
    'lists:',
    '  - name: bench',
    `    path: "${join(dir, 'list.txt')}"`,
    '    format: plain',
    '    tags: [c2]',
    'state:',
    `  dir: "${join(dir, 'state')}"`,
    'log:',
    '  queries: all',
    `  destination: "${join(dir, 'query.log')}"`,
    'admin:',
    '  listen: "127.0.0.1:0"',
    '',
  ].join('\n'),
);
const t0 = performance.now();
const server = await startServer(loadConfig({ file: join(dir, 'c2dns.yaml'), env: {} }), pino({ level: 'silent' }));
process.stderr.write(`observer-cost: ${LIST} names loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${dist}\n`);
const observers = server.observers.map((o) => ({ name: o.constructor.name, o }));
const trie = server.policy.current.tables.names;

// ------------------------------------------------------------------ events
/** A real reply: the question and one A record (blocked: 0.0.0.0, as the default action answers). */
function reply(qname, addr) {
  const labels = qname.split('.');
  const q = Buffer.alloc(qname.length + 2 + 4);
  let p = 0;
  for (const l of labels) {
    q[p++] = l.length;
    p += q.write(l, p, 'latin1');
  }
  q[p++] = 0;
  q.writeUInt16BE(1, p);
  q.writeUInt16BE(1, p + 2);
  const head = Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const an = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, ...addr]);
  return Buffer.concat([head, q, an]);
}

function event(kind, qname, i) {
  let action = 'cached';
  let decision = null;
  let upstream = null;
  let latencyMs = 0.02 + (i % 50) / 1000;
  let addr = [192, 0, 2, 1 + (i % 200)];
  if (kind === 'blocked') {
    const rule = trie.match(qname);
    if (rule === null) fail(`no rule for ${qname}`);
    action = 'blocked';
    decision = ruleDecision(rule, 'qname', [qname]);
    addr = [0, 0, 0, 0];
  } else if (kind === 'miss') {
    action = 'allowed';
    upstream = '127.0.0.1:9';
    latencyMs = 0.4 + (i % 300) / 100;
  }
  const r = reply(qname, addr);
  // Same fields in the same order as the dispatcher's object literal (one hidden class).
  return {
    time: Date.now(),
    client: '127.0.0.1',
    clientPort: 10_000 + (i % 20),
    via: null,
    mac: null,
    clientName: null,
    group: undefined,
    transport: 'udp',
    qname,
    qtype: 1,
    action,
    decision,
    rcode: 0,
    latencyMs,
    upstream,
    truncated: false,
    reply: r,
  };
}

/** Distinct list names for a run: each rep walks on through the list, so no name repeats until the list is used up. */
let nextNew = 10_000;
function newName() {
  const n = names[nextNew];
  nextNew = nextNew + 1 >= LIST ? 10_000 : nextNew + 1;
  return n;
}

function build(workload, rep) {
  const out = new Array(EVENTS);
  for (let i = 0; i < EVENTS; i++) {
    const k = rep * EVENTS + i;
    switch (workload) {
      case 'cached':
        out[i] = event('cached', `www${k % 2000}.cached.example`, k);
        break;
      case 'blocked-10k':
        out[i] = event('blocked', names[k % 10_000], k);
        break;
      case 'blocked-1M':
        out[i] = event('blocked', newName(), k);
        break;
      case 'mixed': {
        const m = k % 20;
        out[i] = m < 16 ? event('cached', `www${k % 2000}.cached.example`, k) : m < 19 ? event('blocked', newName(), k) : event('miss', `miss${k}.upstream.example`, k);
        break;
      }
    }
  }
  return out;
}

// A full GC before each measured run: what an earlier run left is not charged to the next.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

/** A full GC, then a pause for its background sweeping (counted as process CPU time otherwise). */
async function settle() {
  gc();
  await new Promise((r) => setTimeout(r, 100));
}

const turn = () => new Promise((r) => setImmediate(r));

/**
 * CPU ns per event (this process, every thread: the bench pins the resolver to one core, so its
 * threads' work is the cost) of feeding `events` to `fns` in order, slice by slice, the turns of
 * the loop between slices included: the writes the observers start and their timers run there.
 */
async function feed(fns, events) {
  const c0 = process.cpuUsage();
  for (let s = 0; s < events.length; s += SLICE) {
    const end = Math.min(s + SLICE, events.length);
    for (let i = s; i < end; i++) {
      const e = events[i];
      for (let j = 0; j < fns.length; j++) fns[j].onQuery(e);
    }
    await turn();
  }
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / events.length;
}

const stat = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
};
const fmt = (x) => x.toFixed(0).padStart(6);

const subjects = [{ name: '(no observer)', fns: [] }, ...observers.filter((x) => ONLY === null || ONLY.includes(x.name)).map((x) => ({ name: x.name, fns: [x.o] })), { name: 'all, in order', fns: observers.map((x) => x.o) }];
process.stdout.write(
  `Observers as npm start registers them: ${observers.map((x) => x.name).join(', ')}\n` +
    `CPU ns per event (process, all threads), median of ${RUNS} runs of ${EVENTS} events (min–max); list ${LIST} names, tagged c2.\n` +
    `"(no observer)" is the loop and its turns alone: subtract it.\n\n`,
);
for (const w of WORKLOADS) {
  process.stdout.write(`${w}\n`);
  for (const s of subjects) {
    // Built before measuring (their garbage is not the observers'); new list names per subject,
    // so no observer meets a blocked-1M name another pass showed it.
    const sets = Array.from({ length: RUNS + 1 }, (_, r) => build(w, r));
    // The first set warms up: the JIT settles, the per-rule and per-window tables fill as under load.
    await settle();
    await feed(s.fns, sets[0]);
    const xs = [];
    for (let r = 1; r <= RUNS; r++) {
      await settle();
      xs.push(await feed(s.fns, sets[r]));
    }
    const st = stat(xs);
    process.stdout.write(`  ${s.name.padEnd(22)} ${fmt(st.median)} ns  (${st.min.toFixed(0)}–${st.max.toFixed(0)})\n`);
  }
}

await server.close();
rmSync(dir, { recursive: true, force: true });
