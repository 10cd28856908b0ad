// The retro-hunt hook: when lists gain names (a feed refresh, an emergency block), search the
// history for clients that asked for them before they were blocked and raise one event per
// (client, name).
//
// "New" is decided by each rule's first-seen time (kept on disk by the FeedManager) against a
// watermark kept in the history directory, so a restart neither re-reports old names nor misses
// names that arrived while c2dns was down. Finding the new names copies only them (newBlockNames),
// and every step (finding them, the hunt, raising the events) works in slices of ~5 ms with a turn
// of the event loop between: answering goes on meanwhile, without a long wait.
import { readdirSync } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import { writeFileAtomicAsync } from '../storage/atomic.js';
import { join } from 'node:path';
import type { SourceState } from '../feeds/manager.js';
import { parseSegmentNames } from './format.js';
import { huntDetailed, type HuntHit } from './hunt.js';
import { IndicatorSet, newBlockNames } from './indicators.js';
import { Slices } from './slices.js';

export interface RetroHuntEvent extends HuntHit {
  type: 'retro-hunt';
  /** When the matched indicator was blocked (epoch ms); every query counted is before it. */
  blockedAt: number;
  /** The client got an answer from upstream or cache at least once (not only blocked/refused/failed). */
  resolved: boolean;
}

export interface RetroHunterOptions {
  /** Called before each hunt: lets the recorder write out what it buffers, so the last seconds count. */
  beforeHunt?: () => Promise<void>;
  onError?: (err: unknown) => void;
  now?: () => number;
  /** Records between event-loop turns while hunting inside the server (default 65,536), besides a turn every slice. */
  yieldEvery?: number;
  /** Makes the slices each hunt works in (tests: a clock of their own, counted turns). */
  slices?: () => Slices;
}

const STATE_FILE = 'retrohunt.json';

export class RetroHunter {
  private watermark: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  private readonly startedAt: number;
  /** The history directory held no segment when this hunter was created (before anything was recorded). */
  private readonly emptyAtStart: boolean;

  constructor(
    readonly dir: string,
    private readonly emit: (e: RetroHuntEvent) => void,
    private readonly opts: RetroHunterOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.emptyAtStart = noSegments(dir);
  }

  /**
   * After the FeedManager published new rules: hunts the block names first seen since the last
   * hunt. Resolves to the number of events raised.
   */
  onRulesPublished(sources: readonly SourceState[]): Promise<number> {
    const calledAt = this.now();
    return this.serial(async () => {
      const wm = await this.loadWatermark(calledAt);
      const slices = this.slices();
      const { set, newest } = await newBlockNames(sources, wm, { slices });
      const n = set.size === 0 ? 0 : await this.run(set, slices);
      await this.saveWatermark(newest);
      return n;
    });
  }

  /** An emergency block: hunts these names now, counting queries before `blockedAt`. */
  huntNames(names: Iterable<string>, blockedAt: number): Promise<number> {
    const set = IndicatorSet.fromNames(names, blockedAt);
    for (const r of set.rejected) this.opts.onError?.(new Error(`retro-hunt: "${r.name}" not hunted: ${r.reason}`));
    return this.serial(() => this.run(set, this.slices()));
  }

  private slices(): Slices {
    return this.opts.slices?.() ?? new Slices();
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Hunts the set's names, each counting queries before its cutoff (when it was blocked). */
  private async run(set: IndicatorSet, slices: Slices): Promise<number> {
    try {
      await this.opts.beforeHunt?.();
      const { hits } = await huntDetailed(this.dir, {
        indicators: set,
        since: 0,
        yieldEvery: this.opts.yieldEvery ?? 65_536,
        slices,
        onWarning: (file, err) => this.opts.onError?.(new Error(`history segment ${file}: ${err.message}`)),
      });
      // Raising an event (a log line, the sinks) costs microseconds: thousands of them are slices too.
      for (const h of hits) {
        const resolved = h.actions.some((a) => a === 'allowed' || a === 'cached');
        const id = set.find(h.matchedIndicator);
        this.emit({ type: 'retro-hunt', ...h, blockedAt: id >= 0 ? set.cutoff(id) : this.now(), resolved });
        await slices.check();
      }
      return hits.length;
    } catch (err) {
      this.opts.onError?.(err);
      return 0;
    }
  }

  /**
   * No state yet (first run with history): names first seen since this hunter was created are
   * new, so create it before the FeedManager loads; names c2dns knew from earlier runs are not.
   * When the history held no query either when this hunter was created (a first start), nothing
   * can have asked for the names published before c2dns answered: the first hunt's call
   * (`calledAt`, before c2dns answers: connectHunts) is the watermark, so a first start with a
   * million-name list does not copy and hunt a million names through an empty history.
   */
  private async loadWatermark(calledAt: number): Promise<number> {
    if (this.watermark !== null) return this.watermark;
    try {
      const j = JSON.parse(await readFile(join(this.dir, STATE_FILE), 'utf8')) as { watermark?: unknown };
      this.watermark = typeof j.watermark === 'number' ? j.watermark : this.firstWatermark(calledAt);
    } catch {
      this.watermark = this.firstWatermark(calledAt);
    }
    return this.watermark;
  }

  private firstWatermark(calledAt: number): number {
    // One past the call: the names published by then were first seen at or before it.
    return this.emptyAtStart ? Math.max(this.startedAt, calledAt + 1) : this.startedAt;
  }

  private async saveWatermark(wm: number): Promise<void> {
    if (wm === this.watermark) return;
    this.watermark = wm;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomicAsync(join(this.dir, STATE_FILE), JSON.stringify({ watermark: wm }), false);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}

/** No history segment in `dir` (absent counts as none; unreadable does not: the hunt reports it). */
function noSegments(dir: string): boolean {
  try {
    return parseSegmentNames(readdirSync(dir)).length === 0;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
