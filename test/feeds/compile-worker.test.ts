// A list compiled in a worker thread is the list compiled here: for every format, with guard
// refusals, allow lists, expiry by age and a first-seen table that already knows some names, the
// rules, reports and tables that come back equal the ones compileSource makes on this thread,
// and they work here (the index and filter hash with this thread's seed). The source's own
// table is left as it was; a bad body fails the same way.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PROTECTED, Guard } from '../../src/blocklist/guard.js';
import { bloomHas, hashRange, NameTable } from '../../src/blocklist/names.js';
import type { CompiledSource } from '../../src/feeds/compile.js';
import { compileSource } from '../../src/feeds/compile.js';
import { inThreadCompiler, WORKER_BOOT, type CompileJob, type Compiler } from '../../src/feeds/compile-worker.js';
import { FeedError } from '../../src/feeds/errors.js';
import { firstSeenFile, saveFirstSeen } from '../../src/feeds/firstseen.js';
import { DomainTrie } from '../../src/blocklist/trie.js';
import { listConfig, type ListConfig } from '../../src/config/schema.js';
import { bundledWorkerCompiler } from '../helpers/compile-worker.js';
import { fixture } from '../helpers/feeds.js';

const NOW = Date.UTC(2026, 11, 1);
const DAY = 86_400_000;
const guard = new Guard([...DEFAULT_PROTECTED, 'protected.example']);
const decode = { maxBytes: 16 << 20, allowEmpty: false, lineFormat: true };

const plain = ['# plain', 'c2-a.example', 'c2-b.example', 'github.com', 'wiki', 'protected.example', 'sub.protected.example', 'not a name', 'c2-a.example', 'UPPER.Example.', ''].join('\n');
const many = Array.from({ length: 30_000 }, (_, i) => `n${i}.bulk${i % 97}.example`).join('\n') + '\n';

/** Name, config and text of each case. */
const CASES: [string, Partial<ListConfig> & { name: string }, string][] = [
  ['plain with guard refusals, duplicates and a bad line', { name: 'plain', format: 'plain' }, plain],
  ['plain, 30,000 names (several growths of the table)', { name: 'bulk', format: 'plain' }, many],
  ['hosts', { name: 'hosts', format: 'hosts' }, '0.0.0.0 h1.example\n127.0.0.1 h2.example h3.example\n0.0.0.0 localhost\n::1 h4.example\n'],
  ['adblock, tricky', { name: 'adblock', format: 'adblock' }, fixture('adblock-tricky.txt')],
  ['RPZ, tricky (actions, client-IP and response-IP triggers)', { name: 'rpz', format: 'rpz' }, fixture('rpz-tricky.rpz')],
  ['wildcard, tricky', { name: 'wild', format: 'wildcard' }, fixture('wildcard-tricky.txt')],
  ['CSV (ThreatFox), URL IOCs on shared hosts', { name: 'tf', format: 'csv' }, fixture('threatfox-recent.csv')],
  ['STIX 2.1 bundle', { name: 'stix', format: 'stix' }, fixture('stix21-bundle.json')],
  ['MISP event', { name: 'misp', format: 'misp', mispIncludeNonIds: true }, fixture('misp-event.json')],
  ['auto-detected format', { name: 'auto', format: 'auto' }, plain],
  ['allow list (no guard)', { name: 'allow', format: 'plain', kind: 'allow' }, plain],
  ['exact match, expiry 30 days after first seen', { name: 'aged', format: 'plain', match: 'exact', maxAgeDays: 30 }, plain],
];

/** A first-seen table that knows two of the names from earlier (their times must survive). */
function knownTable(): NameTable {
  const t = new NameTable();
  t.intern('c2-a.example', 0, 12, NOW - 40 * DAY);
  t.intern('n5.bulk5.example', 0, 16, NOW - 3 * DAY);
  t.intern('gone.example', 0, 12, NOW - 100 * DAY);
  return t;
}

const cfgOf = (p: Partial<ListConfig> & { name: string }): ListConfig => listConfig({ path: `/lists/${p.name}`, ...p } as Parameters<typeof listConfig>[0]);

function job(cfg: ListConfig, text: string, table: CompileJob['table']): CompileJob {
  return { body: Buffer.from(text), decode: { ...decode, lineFormat: cfg.format !== 'stix' && cfg.format !== 'misp' }, config: cfg, guard, table, now: NOW, background: false };
}

/** Everything a compile decides, in plain values. */
function facts(c: CompiledSource): unknown {
  return {
    name: c.name,
    format: c.format,
    rules: c.rules.map((r) => r),
    ips: c.ips,
    report: { accepted: c.report.accepted, rejected: c.report.rejected, examples: c.report.examples, ignored: c.report.ignored, unsupported: c.report.unsupported, unsupportedExamples: c.report.unsupportedExamples },
    guarded: c.guarded,
    notEnforceable: c.notEnforceable,
    table: [...c.rules.dict.entries()],
  };
}

let worker: Compiler;
beforeAll(async () => {
  worker = await bundledWorkerCompiler();
}, 60_000);

describe('compiling in a worker thread', () => {
  it.each(CASES)('%s: the same rules, report, refusals and first-seen table as on this thread', async (_case, partial, text) => {
    const cfg = cfgOf(partial);
    const here = compileSource(text, cfg, guard, knownTable(), NOW);
    const source = knownTable();
    const there = await worker(job(cfg, text, source));
    const inThread = await inThreadCompiler(job(cfg, text, knownTable()));
    expect(facts(there)).toEqual(facts(here));
    expect(facts(inThread)).toEqual(facts(here));
    expect(there.rules.length).toBeGreaterThan(0);
    // The source's table is untouched: only an accepted result's table replaces it.
    expect([...source.entries()]).toEqual([...knownTable().entries()]);
  });

  it('hands back tables that work here: the index finds every name, the filter passes it, a trie matches as one built from a compile here', async () => {
    const cfg = cfgOf({ name: 'bulk', format: 'plain' });
    // As an update compiles while serving: in the background (nice 19 on Linux), same result.
    const there = await worker({ ...job(cfg, many + plain, knownTable()), background: true });
    const here = compileSource(many + plain, cfg, guard, knownTable(), NOW);
    const dict = there.rules.dict;
    for (let row = 0; row < there.rules.length; row++) {
      const name = there.rules.name(row);
      expect(dict.find(name, 0, name.length)).toBe(there.rules.nameIds[row]);
      expect(bloomHas(there.rules.filter!, hashRange(name, 0, name.length))).toBe(true);
    }
    expect(dict.get('c2-a.example')).toBe(NOW - 40 * DAY);
    expect(dict.get('c2-b.example')).toBe(NOW);
    expect(dict.get('gone.example')).toBe(NOW - 100 * DAY); // first-seen history is kept for names a list dropped
    const build = (c: CompiledSource): DomainTrie => {
      const b = DomainTrie.builder([c.rules]);
      while (!b.step(10_000));
      return b.finish();
    };
    const [a, b] = [build(there), build(here)];
    for (const q of ['x.n77.bulk77.example', 'n29999.bulk16.example', 'c2-b.example', 'a.b.c2-a.example', 'bulk3.example', 'github.com', 'nothing.test']) {
      expect(a.match(q, NOW)).toEqual(b.match(q, NOW));
    }
    // A table handed back keeps growing here like any other.
    dict.intern('later.example', 0, 13, NOW + 1);
    expect(dict.get('later.example')).toBe(NOW + 1);
    expect(dict.get('n123.bulk26.example')).toBe(NOW);
  });

  it("reads a restart's table from its file where it compiles: the same rules and times as with the table read here", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-compile-table-'));
    const ref = { name: 'bulk', origin: '/lists/bulk' };
    await saveFirstSeen(dir, ref, knownTable());
    const file = firstSeenFile(dir, ref)!;
    const cfg = cfgOf({ name: 'bulk', format: 'plain' });
    const here = compileSource(many + plain, cfg, guard, knownTable(), NOW);
    const there = await worker(job(cfg, many + plain, { file }));
    const inThread = await inThreadCompiler(job(cfg, many + plain, { file }));
    expect(facts(there)).toEqual(facts(here));
    expect(facts(inThread)).toEqual(facts(here));
    expect(there.rules.dict.get('gone.example')).toBe(NOW - 100 * DAY);
  });

  it.runIf(process.platform === 'linux')('compiles updates (background) in one kept thread at nice 19, leaving this thread as it was; a first load in a thread of its own at normal priority', async () => {
    /** Each of this process's threads now: nice value and CPU time in ticks (fields 19, 14 and 15 of /proc/self/task/T/stat). */
    const threads = (): Map<string, { nice: number; cpu: number }> => {
      const out = new Map<string, { nice: number; cpu: number }>();
      for (const t of readdirSync('/proc/self/task')) {
        try {
          const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          out.set(t, { nice: Number(f[16]), cpu: Number(f[11]) + Number(f[12]) });
        } catch {
          // the thread ended meanwhile
        }
      }
      return out;
    };
    const self = String(process.pid); // the main thread's id is the process id
    /** The compile's thread: the one (not this) that took the most CPU during it. Whether it is new. */
    const compiledOn = async (background: boolean): Promise<{ nice: number; fresh: boolean; main: number }> => {
      const cfg = cfgOf({ name: 'bulk', format: 'plain' });
      const big = Array.from({ length: 300_000 }, (_, i) => `p${i}.prio${i % 89}.example`).join('\n');
      const before = threads();
      const seen = new Map<string, { nice: number; first: number; last: number }>();
      const sample = (): void => {
        for (const [t, v] of threads()) {
          const s = seen.get(t);
          if (s === undefined) seen.set(t, { nice: v.nice, first: before.get(t)?.cpu ?? 0, last: v.cpu });
          else Object.assign(s, { nice: v.nice, last: v.cpu });
        }
      };
      const poll = setInterval(sample, 2);
      try {
        await worker({ ...job(cfg, big, new NameTable()), background });
      } finally {
        clearInterval(poll);
      }
      sample();
      const [tid, busiest] = [...seen].filter(([t]) => t !== self).sort((a, b) => b[1].last - b[1].first - (a[1].last - a[1].first))[0]!;
      return { nice: busiest.nice, fresh: !before.has(tid), main: seen.get(self)!.nice };
    };
    const own = threads().get(self)!.nice;
    worker.prepare!(); // as the feed manager does once the server answers
    expect(await compiledOn(true)).toEqual({ nice: 19, fresh: false, main: own }); // kept, started by prepare()
    expect(await compiledOn(true)).toEqual({ nice: 19, fresh: false, main: own });
    const first = await compiledOn(false);
    expect(first.nice).toBeLessThan(19);
    expect(first.fresh).toBe(true);
  });

  it('reads a body in shared memory (a local list as readLocalFeed reads it) where it is: the same result, the body left as it was', async () => {
    const cfg = cfgOf({ name: 'bulk', format: 'plain' });
    const text = Buffer.from(many + plain);
    const body = Buffer.from(new SharedArrayBuffer(text.length));
    text.copy(body);
    const there = await worker({ ...job(cfg, '', knownTable()), body });
    expect(facts(there)).toEqual(facts(compileSource(many + plain, cfg, guard, knownTable(), NOW)));
    expect(body.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(body.equals(text)).toBe(true);
  });

  it('fails a body that cannot be decoded with the same FeedError as this thread', async () => {
    const cfg = cfgOf({ name: 'bin', format: 'plain' });
    const bin = Buffer.alloc(4096, 0);
    const there = await worker({ ...job(cfg, '', new NameTable()), body: bin }).catch((e: unknown) => e);
    const here = await inThreadCompiler({ ...job(cfg, '', new NameTable()), body: bin }).catch((e: unknown) => e);
    expect(there).toBeInstanceOf(FeedError);
    expect(here).toBeInstanceOf(FeedError);
    expect([(there as FeedError).reason, (there as FeedError).message]).toEqual([(here as FeedError).reason, (here as FeedError).message]);
  });
});

describe("the worker thread's priority", () => {
  // What WORKER_BOOT loads in place of the compiler: its first line reports the thread's nice value
  // (Linux: getpriority(PRIO_PROCESS, 0) is the calling thread's), so what it sees is what every
  // module the compiler loads runs at.
  const probe = `data:text/javascript,${encodeURIComponent("import { parentPort } from 'node:worker_threads'; import { getPriority } from 'node:os'; parentPort.postMessage(getPriority());")}`;
  const niceOf = (background: boolean): Promise<number> =>
    new Promise((resolve, reject) => {
      const w = new Worker(WORKER_BOOT, { eval: true, workerData: { background, script: probe } });
      w.once('message', (n: number) => {
        void w.terminate();
        resolve(n);
      });
      w.once('error', reject);
    });

  it.runIf(process.platform === 'linux')('is nice 19 for an update before any module of the compiler is loaded, and the main thread keeps its own', async () => {
    const own = getPriority();
    expect(await niceOf(true)).toBe(19);
    // a first load (nothing answered yet) runs at the process's priority
    expect(await niceOf(false)).toBe(own);
    expect(getPriority()).toBe(own);
  });
});

describe("the worker's optimising compiler", () => {
  it("runs on the worker's own thread: its isolate is made without concurrent recompilation, and the flag is back on for the next isolate once it runs", async () => {
    const spy = vi.spyOn(v8, 'setFlagsFromString');
    try {
      const cfg = cfgOf({ name: 'flags', format: 'plain' });
      const out = await worker(job(cfg, 'one.example\ntwo.example\n', new NameTable()));
      expect(out.rules.length).toBe(2);
      expect(spy.mock.calls.map((c) => c[0])).toEqual(['--no-concurrent-recompilation', '--concurrent-recompilation']);
    } finally {
      spy.mockRestore();
    }
  });
});
