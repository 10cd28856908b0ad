// Reloading a big list does not stall the event loop (issue 11 target 4): while a 200,000-name
// list is re-read, compiled (in a worker thread), published and prepared for the retro-hunt, a
// timer asking every 5 ms is never late by more than 100 ms nor late by more than 20 ms for a
// quarter of the time, and the update does what an update must: the new names are blocked, the
// names it dropped are not. (1M names in bench/reload.mjs; 200,000 here keeps CI fast. The
// margins are for a shared 2-core machine: compiled on the main thread, the same reload held the
// loop 80 % of the time in gaps up to 210 ms here; in the worker, 13 % and 32 ms.)
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Compiler } from '../../src/feeds/compile-worker.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { RetroHunter } from '../../src/history/retro.js';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { bundledWorkerCompiler } from '../helpers/compile-worker.js';

const NAMES = 200_000;
const MAX_GAP_MS = 100;
const name = (i: number): string => `host${i}.c2-${i % 1013}.example`;

let worker: Compiler;
beforeAll(async () => {
  worker = await bundledWorkerCompiler();
}, 60_000);

/** Ticks later than this count as time the loop was held (beyond a shared machine's scheduling noise). */
const LATE_MS = 20;
/** At most this share of the reload's wall time may be spent in such stretches. */
const MAX_HELD_SHARE = 0.25;

/**
 * Runs f while a 5 ms timer watches the event loop: the longest wait between two ticks, the
 * share of the time spent in waits over LATE_MS (a loop held in many 40 ms slices never shows one
 * long gap, yet answers little), and the p99 of the loop delay.
 */
async function watchLoop<T>(f: () => Promise<T>): Promise<{ result: T; gapMs: number; heldShare: number; p99Ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  let gap = 0;
  let held = 0;
  const start = performance.now();
  let last = start;
  const tick = (): void => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    if (now - last > LATE_MS) held += now - last;
    last = now;
  };
  const t = setInterval(tick, 5);
  h.enable();
  try {
    const result = await f();
    tick();
    return { result, gapMs: gap, heldShare: held / (performance.now() - start), p99Ms: h.percentile(99) / 1e6 };
  } finally {
    clearInterval(t);
    h.disable();
  }
}

describe('reloading a 200,000-name list', () => {
  it(`keeps the event loop turning (no gap over ${MAX_GAP_MS} ms) and publishes the change`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-reload-'));
    const list = join(dir, 'c2.txt');
    const lines = Array.from({ length: NAMES }, (_, i) => name(i));
    writeFileSync(list, lines.join('\n') + '\n');
    writeFileSync(join(dir, 'c2dns.yaml'), `lists:\n  - name: c2\n    path: ${list}\n    format: plain\n    tags: [c2]\nstate:\n  dir: ${join(dir, 'state')}\n`);
    const policy = new PolicyHolder();
    const feeds = new FeedManager(loadConfig({ file: join(dir, 'c2dns.yaml') }), pino({ level: 'silent' }), policy);
    feeds.compiler = worker;
    // The retro-hunt preparation runs on every publish with history on (the default).
    const retro = new RetroHunter(join(dir, 'history'), () => {});
    let hunted: Promise<number> = Promise.resolve(0);
    policy.subscribe(() => {
      hunted = retro.onRulesPublished(feeds.sources);
    });
    await feeds.loadInitial({ network: false });
    await hunted;
    expect(policy.current.tables.names.match(name(NAMES - 1))?.list).toBe('c2');

    // 1 % of the names replaced by new ones, the file swapped in as an editor or a sync would.
    const fresh = Array.from({ length: NAMES / 100 }, (_, i) => `new${i}.reloaded.example`);
    const next = [...lines.slice(0, NAMES - fresh.length), ...fresh];
    writeFileSync(`${list}.tmp`, next.join('\n') + '\n');
    renameSync(`${list}.tmp`, list);

    const { result, gapMs, heldShare, p99Ms } = await watchLoop(async () => {
      const outcome = await feeds.refresh();
      await hunted;
      return outcome;
    });
    console.log(`reload of ${NAMES} names: longest event-loop gap ${gapMs.toFixed(1)} ms, ${(heldShare * 100).toFixed(1)} % of the time in gaps over ${LATE_MS} ms, delay p99 ${p99Ms.toFixed(1)} ms`);
    expect(result.get('c2')).toBe('updated');
    expect(gapMs).toBeLessThan(MAX_GAP_MS);
    expect(heldShare).toBeLessThan(MAX_HELD_SHARE);
    const names = policy.current.tables.names;
    expect(names.match(`www.${fresh[0]!}`)?.rule).toBe(fresh[0]);
    expect(names.match(fresh.at(-1)!)?.list).toBe('c2');
    expect(names.match(name(NAMES - 1))).toBeNull(); // dropped from the list: answered again
    expect(names.match(name(0))?.list).toBe('c2');
    // The names the update brought are in the source's first-seen table, as new.
    expect(feeds.sources[0]!.compiled!.rules.dict.get(fresh[0]!)).toBeGreaterThan(Date.now() - 60_000);
  }, 120_000);
});
