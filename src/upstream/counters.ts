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

/** How often an upstream's protocol quirks were met (dns/forward fallbacks). */
export interface FallbackCounters {
  /** Queries re-sent without EDNS after a FORMERR/NOTIMP to an EDNS query (RFC 6891 §7). */
  ednsFallbacks: number;
  /** Answers whose question did not echo the 0x20 letter case: forged, or a case-folding upstream. */
  caseMismatches: number;
  /** Answers with an rcode that is never relayed (FORMERR, NOTIMP, extended rcodes such as BADCOOKIE). */
  badRcodes: number;
}

export function newFallbackCounters(): FallbackCounters {
  return { ednsFallbacks: 0, caseMismatches: 0, badRcodes: 0 };
}
