#!/usr/bin/env node
// Bytes allocated and promoted per query, from a V8 --trace-gc-nvp log: load-independent figures
// for what the answering path costs the garbage collector (a busy machine moves wall-clock and CPU
// time, not these).
//
//   node bench/gc-per-query.mjs LOG [--from MS] [--to MS] [--after TEXT] [--before TEXT]
//                               [--isolate ADDR|all] [--queries N] [--json]
//
// LOG: the output of `node --trace-gc-nvp ...` (other lines, e.g. the server's log, are ignored).
// Window: the GCs whose "time since start" (the "NNN ms:" of each line) is in (--from, --to], and/or
// those after the first line containing --after TEXT and before the first line after it containing
// --before TEXT (a marker the run writes into the same log). No window: every GC.
// Isolate: each line names its isolate ("[pid:0xADDR]"); worker threads (c2dns's list compiler)
// have their own, and their GCs are not the answering path's: only the main isolate's count (the
// first isolate in the log: the main thread's heap is set up first), or --isolate 0xADDR, or all.
// Each GC's allocated= is what the heap grew by since the previous GC ended, so the window's sum
// counts what was allocated from the GC before its first to its last: with a window of many GCs
// (a young generation is a few MB; a run of 100k+ queries is hundreds of MB) that is within one
// GC's worth of the queries' own allocation.
// Prints per GC type (s = scavenge, mc = mark-compact, mmc = minor mark-compact, ...) the count and
// the sums of allocated, promoted, new_space_survived, pause and (mark-compact) incremental marking
// on the main thread before the pause, and with --queries N (dnsperf's
// "Queries completed" over the window) bytes allocated and promoted per query and scavenges per
// 100k queries. --json: the same as one JSON object.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

// "[pid:isolate]     1234 ms: pause=1.0 ... gc=s ... allocated=123 ..."
const GC_LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+(?:\.\d+)?) ms: (pause=.*)$/;

/** One GC line of --trace-gc-nvp, or undefined for any other line. */
export function parseGcLine(line) {
  const m = GC_LINE.exec(line);
  if (!m) return undefined;
  const fields = {};
  for (const kv of m[3].split(' ')) {
    const eq = kv.indexOf('=');
    if (eq > 0) fields[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (fields.gc === undefined) return undefined;
  return {
    isolate: m[1],
    at: Number(m[2]),
    type: fields.gc,
    pause: Number(fields.pause ?? 0),
    // A mark-compact's main-thread incremental marking steps before its pause (ms): not in pause=.
    marking: Number(fields.incremental ?? 0),
    allocated: bytes(fields.allocated),
    promoted: bytes(fields.promoted),
    survived: bytes(fields.new_space_survived),
  };
}

/**
 * V8 prints allocated= as an unsigned difference of heap sizes: when the heap shrank between two
 * GCs (sweeping freed more than was allocated) it wraps around to nearly 2^64. Such a GC counts 0.
 */
function bytes(text) {
  const n = Number(text ?? 0);
  return Number.isFinite(n) && n >= 0 && n < 2 ** 53 ? n : 0;
}

/** The GCs of the log text inside the window (see the header). */
export function gcsInWindow(text, window = {}) {
  const { from = -Infinity, to = Infinity, after, before } = window;
  let isolate = window.isolate ?? 'main';
  const gcs = [];
  let open = after === undefined;
  for (const line of text.split('\n')) {
    const gc = parseGcLine(line);
    if (gc && isolate === 'main') isolate = gc.isolate; // the first GC line's, even before the window
    if (!open) {
      if (line.includes(after)) open = true;
      continue;
    }
    if (before !== undefined && line.includes(before)) break;
    if (gc && gc.at > from && gc.at <= to && (isolate === 'all' || gc.isolate === isolate)) gcs.push(gc);
  }
  return gcs;
}

/** Sums per GC type and overall; with queries, the per-query figures. */
export function summarise(gcs, queries) {
  const byType = {};
  const total = { count: 0, allocated: 0, promoted: 0, survived: 0, pause: 0, marking: 0 };
  for (const gc of gcs) {
    const t = (byType[gc.type] ??= { count: 0, allocated: 0, promoted: 0, survived: 0, pause: 0, marking: 0 });
    for (const sum of [t, total]) {
      sum.count++;
      sum.allocated += gc.allocated;
      sum.promoted += gc.promoted;
      sum.survived += gc.survived;
      sum.pause += gc.pause;
      sum.marking += gc.marking;
    }
  }
  const out = { gcs: gcs.length, firstAt: gcs[0]?.at ?? null, lastAt: gcs.at(-1)?.at ?? null, byType, total };
  if (queries !== undefined && queries > 0) {
    out.queries = queries;
    out.perQuery = {
      allocated: total.allocated / queries,
      promoted: total.promoted / queries,
      scavengesPer100k: ((byType.s?.count ?? 0) / queries) * 100_000,
      pauseMsPer100k: (total.pause / queries) * 100_000,
    };
  }
  return out;
}

function formatText(s) {
  const mb = (n) => (n / 1e6).toFixed(1).padStart(9);
  const rows = [`GCs ${s.gcs} from ${s.firstAt ?? '-'} ms to ${s.lastAt ?? '-'} ms`, 'type  count  allocated_MB  promoted_MB  survived_MB  pause_ms  marking_ms'];
  const row = (name, t) => `${name.padEnd(5)} ${String(t.count).padStart(5)}  ${mb(t.allocated)}     ${mb(t.promoted)}    ${mb(t.survived)}    ${t.pause.toFixed(1).padStart(7)}  ${t.marking.toFixed(1).padStart(9)}`;
  for (const [type, t] of Object.entries(s.byType).sort()) rows.push(row(type, t));
  rows.push(row('all', s.total));
  if (s.perQuery) {
    const q = s.perQuery;
    rows.push(
      `queries=${s.queries} allocated_per_query=${q.allocated.toFixed(0)} B promoted_per_query=${q.promoted.toFixed(1)} B ` +
        `scavenges_per_100k=${q.scavengesPer100k.toFixed(1)} gc_pause_ms_per_100k=${q.pauseMsPer100k.toFixed(1)}`,
    );
  }
  return rows.join('\n');
}

function parseArgs(argv) {
  const opts = { window: {}, json: false };
  const num = (flag, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--from') opts.window.from = num(a, argv[++i]);
    else if (a === '--to') opts.window.to = num(a, argv[++i]);
    else if (a === '--after' || a === '--before') {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a text`);
      opts.window[a.slice(2)] = v;
    } else if (a === '--isolate') {
      const v = argv[++i];
      if (v !== 'all' && !/^0x[0-9a-f]+$/.test(v ?? '')) throw new Error(`--isolate needs 0xADDR or all, got '${v}'`);
      opts.window.isolate = v;
    } else if (a === '--queries') opts.queries = num(a, argv[++i]);
    else if (a === '--json') opts.json = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else if (opts.file === undefined) opts.file = a;
    else throw new Error(`one log file only, got '${a}' too`);
  }
  if (opts.file === undefined) throw new Error('usage: node bench/gc-per-query.mjs LOG [--from MS] [--to MS] [--after TEXT] [--before TEXT] [--isolate ADDR|all] [--queries N] [--json]');
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const s = summarise(gcsInWindow(readFileSync(opts.file, 'utf8'), opts.window), opts.queries);
    console.log(opts.json ? JSON.stringify(s) : formatText(s));
  } catch (e) {
    console.error(`gc-per-query: ${e instanceof Error ? e.message : e}`);
    process.exit(2);
  }
}
