// Per-upstream counts that later feed metrics; kept as plain numbers on the hot path.
export interface UpstreamCounters {
  requests: number;
  responses: number;
  timeouts: number;
  errors: number;
  /** Datagrams from the wrong address/port, or with a wrong ID or question: ignored. */
  ignoredReplies: number;
  truncated: number;
}

export function newCounters(): UpstreamCounters {
  return { requests: 0, responses: 0, timeouts: 0, errors: 0, ignoredReplies: 0, truncated: 0 };
}
