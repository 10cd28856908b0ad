// Per-minute query and block counts for the last hour, for the console's Overview sparkline.
// A QueryObserver: per query one division, one comparison and one or two typed-array increments;
// the ring is 61 slots (the current minute and the 60 before it), so memory never grows.
import type { QueryEvent, QueryObserver } from '../../observe/query-event.js';

const MINUTE_MS = 60_000;
export const MINUTES_KEPT = 60;
const SLOTS = MINUTES_KEPT + 1;

export interface MinuteSeries {
  /** Epoch ms of the first minute of `queries` (aligned to the minute). */
  start: number;
  /** Queries answered in each minute, oldest first; the last one is the minute in progress. */
  queries: number[];
  /** Of those, blocked (or answered with a list's local data). */
  blocked: number[];
}

export class MinuteCounters implements QueryObserver {
  private readonly minute = new Float64Array(SLOTS).fill(-1);
  private readonly queries = new Uint32Array(SLOTS);
  private readonly blocked = new Uint32Array(SLOTS);

  onQuery(e: QueryEvent): void {
    const m = Math.floor(e.time / MINUTE_MS);
    const i = m % SLOTS;
    if (this.minute[i] !== m) {
      this.minute[i] = m;
      this.queries[i] = 0;
      this.blocked[i] = 0;
    }
    this.queries[i]!++;
    if (e.action === 'blocked' || e.action === 'local-data') this.blocked[i]!++;
  }

  /** The last `MINUTES_KEPT` minutes and the current one; minutes without queries are 0. */
  series(now = Date.now()): MinuteSeries {
    const current = Math.floor(now / MINUTE_MS);
    const first = current - MINUTES_KEPT;
    const queries: number[] = [];
    const blocked: number[] = [];
    for (let m = first; m <= current; m++) {
      const i = m % SLOTS;
      const live = this.minute[i] === m;
      queries.push(live ? this.queries[i]! : 0);
      blocked.push(live ? this.blocked[i]! : 0);
    }
    return { start: first * MINUTE_MS, queries, blocked };
  }
}
