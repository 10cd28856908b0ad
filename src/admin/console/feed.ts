// What the web console needs from a running c2dns besides the admin API's own context: the live
// query ring, the per-minute counters (both QueryObservers registered with the dispatcher when
// the admin listener is on) and where the query history lives.
import { MinuteCounters } from './minutes.js';
import { QueryTail } from './tail.js';

export interface ConsoleFeed {
  tail: QueryTail;
  minutes: MinuteCounters;
  /** The query history's segment directory; null when history.enabled is false. */
  historyDir: string | null;
}

export function createConsoleFeed(historyDir: string | null, tailCapacity?: number): ConsoleFeed {
  return { tail: new QueryTail(tailCapacity), minutes: new MinuteCounters(), historyDir };
}
