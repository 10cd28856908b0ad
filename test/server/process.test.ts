// The serving process's memory policy (src/server/process.ts): V8's heap may grow at most 50 % past
// the live data, unless the operator started node with their own --heap-growing-percent; glibc
// gives freed multi-MiB chunks (replaced list tables) back to the kernel, unless the environment
// sets glibc's own knobs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { addonCandidates } from '../../src/native/load-addon.js';
import { mallocTuningAddon, type MallocTuningAddon } from '../../src/native/malloc-tuning.js';
import { boundHeapGrowth, boundMallocRetention, cpuBudget, cpuMaxCpus, gcForCpuBudget, HEAP_GROWING_PERCENT, MAIN_THREAD_GC_FLAGS, MMAP_THRESHOLD_BYTES } from '../../src/server/process.js';

describe('boundHeapGrowth', () => {
  it('sets the bound when node was started without one', () => {
    expect(HEAP_GROWING_PERCENT).toBe(50);
    expect(boundHeapGrowth(['--enable-source-maps'])).toBe(true);
  });

  it.each([['--heap-growing-percent=0'], ['--heap-growing-percent=80'], ['--heap_growing_percent=20']])('leaves an explicit %s alone', (flag) => {
    expect(boundHeapGrowth(['--enable-source-maps', flag])).toBe(false);
  });
});

describe('gcForCpuBudget', () => {
  const recording = (): { flags: string[]; set: (f: string) => void } => {
    const flags: string[] = [];
    return { flags, set: (f) => void flags.push(f) };
  };

  it('moves the per-collection parallel GC phases to the main thread when the process has one CPU', () => {
    const v8 = recording();
    expect(gcForCpuBudget(1, [], v8.set)).toBe('main-thread');
    expect(v8.flags).toEqual(['--no-parallel-scavenge --no-parallel-compaction --no-parallel-pointer-update --no-concurrent-sweeping']);
    expect(MAIN_THREAD_GC_FLAGS).toHaveLength(4);
  });

  it('leaves V8 alone with more than one CPU', () => {
    const v8 = recording();
    expect(gcForCpuBudget(2, [], v8.set)).toBe('parallel');
    expect(v8.flags).toEqual([]);
  });

  it.each([['--single-threaded-gc'], ['--parallel-scavenge'], ['--no-concurrent-sweeping'], ['--parallel_compaction'], ['--no-parallel-pointer-update']])(
    'leaves an explicit %s on node\'s command line alone, even on one CPU',
    (flag) => {
      const v8 = recording();
      expect(gcForCpuBudget(1, ['--enable-source-maps', flag], v8.set)).toBe('command-line');
      expect(v8.flags).toEqual([]);
    },
  );

  it('does not mistake other flags for GC threading ones', () => {
    const v8 = recording();
    expect(gcForCpuBudget(1, ['--single-threaded', '--max-semi-space-size=16', '--parallel-scavenge-task-trace'], v8.set)).toBe('main-thread');
  });
});

describe('cpuBudget', () => {
  const files = (map: Record<string, string>) => (path: string): string => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };

  it.each([
    ['max 100000', Infinity],
    ['100000 100000', 1],
    ['150000 100000', 2],
    ['50000 100000', 1],
    ['400000 100000\n', 4],
    ['garbage', Infinity],
    ['0 100000', Infinity],
  ])('reads cpu.max %j as %s CPUs', (text, cpus) => {
    expect(cpuMaxCpus(text)).toBe(cpus);
  });

  it('is the affinity without a cgroup v2 quota', () => {
    expect(cpuBudget(files({}))).toBe(availableParallelism());
    expect(cpuBudget(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBe(availableParallelism());
  });

  it('is the quota, rounded up, when the cgroup allows fewer CPUs than the affinity', () => {
    const cgroup = '12:cpu:/ignored\n0::/system.slice/c2dns.service\n';
    expect(cpuBudget(files({ '/proc/self/cgroup': cgroup, '/sys/fs/cgroup/system.slice/c2dns.service/cpu.max': '50000 100000' }))).toBe(1);
  });
});

describe('boundMallocRetention', () => {
  const recording = (): MallocTuningAddon & { calls: number[] } => {
    const calls: number[] = [];
    return { calls, setMmapThreshold: (bytes) => (calls.push(bytes), true) };
  };

  it('fixes the threshold at 1 MiB through the addon', () => {
    const addon = recording();
    expect(boundMallocRetention({}, addon)).toBe('set');
    expect(addon.calls).toEqual([MMAP_THRESHOLD_BYTES]);
    expect(MMAP_THRESHOLD_BYTES).toBe(1024 * 1024);
  });

  it.each([[{ MALLOC_MMAP_THRESHOLD_: '4194304' }], [{ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' }]])('leaves the environment\'s own choice alone: %o', (env) => {
    const addon = recording();
    expect(boundMallocRetention(env, addon)).toBe('environment');
    expect(addon.calls).toEqual([]);
  });

  it('says so when the addon is not built, or the libc refuses', () => {
    expect(boundMallocRetention({}, null)).toBe('unavailable');
    expect(boundMallocRetention({}, { setMmapThreshold: () => false })).toBe('unavailable');
  });

  // The reason for it, in a process of its own: a freed 24 MiB chunk raises glibc's dynamic
  // threshold, so 30 chunks of 4 MiB (a list's tables) come from the arena and stay in RSS after
  // they are freed, unless the threshold is fixed first.
  const built = mallocTuningAddon() !== null;
  it.skipIf(!built)('gives 120 MiB of freed 4 MiB chunks back to the kernel (skipped only where the addon is not built)', () => {
    const file = addonCandidates('c2dns_malloc').find((f) => existsSync(f))!;
    const child = (tune: boolean): { peak: number; after: number } => {
      const script = `
        const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
        if (${tune}) { const ok = require(${JSON.stringify(file)}).setMmapThreshold(${MMAP_THRESHOLD_BYTES}); if (!ok) process.exit(3); }
        let big = new Uint8Array(24 << 20); big.fill(1); big = null; global.gc(); global.gc();
        let many = []; for (let i = 0; i < 30; i++) { const b = new Uint8Array(4 << 20); b.fill(1); many.push(b); }
        const peak = rss();
        const keep = Buffer.alloc(64 << 10).fill(1); // a survivor above them: the arena's top cannot simply be trimmed
        many = null; global.gc(); global.gc();
        console.log(JSON.stringify({ peak, after: rss(), keep: keep.length }));`;
      return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { peak: number; after: number };
    };
    const arena = child(false);
    const mmapped = child(true);
    expect(arena.peak).toBeGreaterThan(120);
    expect(mmapped.peak).toBeGreaterThan(120);
    expect(arena.after).toBeGreaterThan(arena.peak - 20); // kept: what the reload's RSS showed
    expect(mmapped.after).toBeLessThan(mmapped.peak - 100); // given back
  });
});
