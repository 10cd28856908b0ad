// Last stage: ask the upstreams in turn. Each attempt has a fresh random ID and source port; a
// timeout, network error, malformed reply, SERVFAIL or REFUSED moves on to the next upstream.
// An upstream that timed out is tried last for a while so one dead server does not cost every
// query a timeout. When all fail, the client gets SERVFAIL with EDE 22.
//
// Per upstream, two fallbacks are learnt and remembered for a while:
// - EDNS (RFC 6891 §7): FORMERR or NOTIMP to a query with an OPT means the upstream may not speak
//   EDNS; the query is re-sent without one, and when that one is answered the upstream is asked
//   without EDNS for `ednsRetryMs`, then EDNS is tried again.
// - 0x20 (dns/case.ts): with caseRandomization the question goes out in random letter case and an
//   answer must echo it. A mismatch is a forgery or an upstream that folds case: the same upstream
//   is asked again with new case, ID and port; a second mismatch means the upstream folds case,
//   and it is asked in the client's case for `caseRetryMs` (two forged replies in a row would
//   need two ID and port guesses, the odds of plain random IDs and ports).
// Upstream rcodes are hop-by-hop: NOERROR and NXDOMAIN are answers; SERVFAIL and REFUSED move on
// and the last is relayed when no upstream answers; FORMERR, NOTIMP (after the EDNS fallback) and
// every other rcode (YXDOMAIN…, extended ones such as BADVERS or BADCOOKIE) are failures that are
// never relayed: the client did nothing wrong.
import { Ede, HEADER_LEN, Rcode } from '../dns/constants.js';
import { randomizeCase, restoreCase } from '../dns/case.js';
import { edeOption } from '../dns/opt.js';
import { replay, storeResponse, checkResponse, ResponseCheck, type StoredAnswer } from '../dns/relay.js';
import { errorReply } from '../dns/synth.js';
import { formatHostPort, type HostPort } from '../upstream/address.js';
import { newCounters, newFallbackCounters, type FallbackCounters, type UpstreamCounters } from '../upstream/counters.js';
import { buildUpstreamQuery, random16 } from '../upstream/message.js';
import { tcpExchange } from '../upstream/tcp.js';
import { UpstreamTimeout, udpExchange } from '../upstream/udp.js';
import { upstreamTargets, type TransportUpstream } from '../upstream/encrypted.js';
import type { UpstreamTransport } from '../upstream/transport.js';
import type { StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface ForwardOptions {
  /** Plain DNS servers, and tls:// / https:// upstreams with their transport (upstream/encrypted.ts). */
  upstreams: readonly (HostPort | TransportUpstream)[];
  timeoutMs: number;
  /** How long an upstream that timed out is moved to the back of the order. */
  penaltyMs: number;
  /** 0x20: random letter case in the question sent upstream; answers must echo it. Default false. */
  caseRandomization?: boolean;
  /** How long an upstream that failed EDNS is asked without it. Default 15 minutes. */
  ednsRetryMs?: number;
  /** How long an upstream that did not echo the letter case is asked in the client's case. Default 1 hour. */
  caseRetryMs?: number;
}

export const EDNS_RETRY_MS = 15 * 60_000;
export const CASE_RETRY_MS = 60 * 60_000;

export interface Upstream {
  addr: HostPort;
  label: string;
  /** tls:// and https://: the connection it is asked through; null for plain DNS (UDP, then TCP). */
  transport: UpstreamTransport | null;
  counters: UpstreamCounters;
  fallbacks: FallbackCounters;
  penalisedUntil: number;
  /** performance.now() until which queries to it go without EDNS (0: with EDNS). */
  noEdnsUntil: number;
  /** performance.now() until which queries to it keep the client's letter case (0: 0x20 on). */
  noCaseUntil: number;
}

/** What one upstream made of the question: an answer, a relayable failure, or nothing usable. */
type Outcome = { ok: true; stored: StoredAnswer } | { ok: false; stored: StoredAnswer | null };

const ALL_FAILED = edeOption(Ede.NO_REACHABLE_AUTHORITY, 'c2dns: no upstream answered');
const UNUSABLE: Outcome = { ok: false, stored: null };

export class ForwardStage implements Stage {
  readonly upstreams: readonly Upstream[];
  private readonly caseRandomization: boolean;
  private readonly ednsRetryMs: number;
  private readonly caseRetryMs: number;

  constructor(private readonly opts: ForwardOptions) {
    this.upstreams = opts.upstreams.map((x) => ({
      ...('transport' in x ? { addr: x.addr, label: x.label, transport: x.transport } : { addr: x, label: formatHostPort(x), transport: null }),
      counters: newCounters(),
      fallbacks: newFallbackCounters(),
      penalisedUntil: 0,
      noEdnsUntil: 0,
      noCaseUntil: 0,
    }));
    this.caseRandomization = opts.caseRandomization ?? false;
    this.ednsRetryMs = opts.ednsRetryMs ?? EDNS_RETRY_MS;
    this.caseRetryMs = opts.caseRetryMs ?? CASE_RETRY_MS;
  }

  resolve(q: Query): Promise<Answer> {
    return this.forward(q);
  }

  /** Closes the connections of tls:// and https:// upstreams (shutdown). */
  close(): void {
    for (const u of this.upstreams) u.transport?.close();
  }

  private order(now: number): Upstream[] {
    const good: Upstream[] = [];
    const bad: Upstream[] = [];
    for (const u of this.upstreams) (u.penalisedUntil > now ? bad : good).push(u);
    return bad.length === 0 ? good : good.concat(bad);
  }

  private async forward(q: Query): Promise<Answer> {
    let failed: { stored: StoredAnswer; label: string } | null = null;
    for (const u of this.order(performance.now())) {
      const c = u.counters;
      try {
        const o = await this.ask(u, q);
        if (o.ok) return { action: 'allowed', reply: replay(o.stored, q.msg, q.pq, o.stored.storedAt), stored: o.stored, upstream: u.label };
        if (o.stored !== null) failed = { stored: o.stored, label: u.label };
      } catch (err) {
        if (err instanceof UpstreamTimeout) {
          c.timeouts++;
          u.penalisedUntil = performance.now() + this.opts.penaltyMs;
        } else c.errors++;
      }
    }
    if (failed !== null) {
      // Every upstream refused or failed: relay the last such answer as it was, uncached.
      const reply = replay(failed.stored, q.msg, q.pq, failed.stored.storedAt);
      return { action: failed.stored.rcode === Rcode.REFUSED ? 'refused' : 'servfail', reply, stored: null, upstream: failed.label };
    }
    return { action: 'servfail', reply: errorReply(q.msg, q.pq, Rcode.SERVFAIL, ALL_FAILED), stored: null, upstream: null };
  }

  /** One upstream's outcome for the question, after its EDNS and 0x20 fallbacks. Throws on timeout or network error. */
  private async ask(u: Upstream, q: Query): Promise<Outcome> {
    const c = u.counters;
    const qEnd = q.pq.qEnd;
    const start = performance.now();
    let edns = u.noEdnsUntil <= start;
    let caps = this.caseRandomization && u.noCaseUntil <= start;
    let ednsFallback = false;
    let mismatches = 0;
    // At most four exchanges: two case mismatches, then one EDNS fallback.
    for (;;) {
      const query = buildUpstreamQuery(q.msg, q.pq, q.forwardOptions, edns);
      if (caps) randomizeCase(query, HEADER_LEN, qEnd - 4, random16);
      const [resp, check] = await this.exchange(u, query, qEnd, caps);
      c.responses++;
      if (check === ResponseCheck.CaseMismatch) {
        u.fallbacks.caseMismatches++;
        if (++mismatches >= 2) {
          u.noCaseUntil = performance.now() + this.caseRetryMs;
          caps = false;
        }
        continue;
      }
      let stored: StoredAnswer | null = null;
      let rc: number;
      if (check === ResponseCheck.Failed) rc = resp[3]! & 0x0f; // an error answer without a question
      else {
        if (caps) restoreCase(resp, qEnd, query, q.msg);
        stored = storeResponse(resp, qEnd, performance.now());
        if (stored === null) {
          c.errors++;
          return UNUSABLE;
        }
        rc = stored.rcode;
      }
      if (edns && (rc === Rcode.FORMERR || rc === Rcode.NOTIMP)) {
        u.fallbacks.ednsFallbacks++;
        edns = false;
        ednsFallback = true;
        continue;
      }
      // A query without EDNS got a proper answer where the one with EDNS did not: remember.
      if (ednsFallback && rc !== Rcode.FORMERR && rc !== Rcode.NOTIMP) u.noEdnsUntil = performance.now() + this.ednsRetryMs;
      if (stored !== null && (rc === Rcode.NOERROR || rc === Rcode.NXDOMAIN)) return { ok: true, stored };
      if (rc === Rcode.SERVFAIL || rc === Rcode.REFUSED) return { ok: false, stored };
      u.fallbacks.badRcodes++;
      return UNUSABLE;
    }
  }

  /** One question to one upstream over UDP, then over TCP when the UDP answer was truncated. */
  private async exchange(u: Upstream, query: Buffer, qEnd: number, exactCase: boolean): Promise<[Buffer, ResponseCheck]> {
    const c = u.counters;
    query.writeUInt16BE(random16(), 0);
    c.requests++;
    if (u.transport !== null) {
      // DNS over TLS or HTTPS: one exchange on the upstream's own (reused) connection, no truncation.
      const r = await u.transport.exchange(query, qEnd, this.opts.timeoutMs, exactCase);
      return [r, checkResponse(r, query, qEnd, exactCase)];
    }
    let resp = await udpExchange(u.addr, query, qEnd, this.opts.timeoutMs, c, exactCase);
    let check = checkResponse(resp, query, qEnd, exactCase);
    if (check === ResponseCheck.Truncated) {
      c.truncated++;
      query.writeUInt16BE(random16(), 0);
      resp = await tcpExchange(u.addr, query, qEnd, this.opts.timeoutMs, exactCase);
      check = checkResponse(resp, query, qEnd, exactCase);
    }
    return [resp, check];
  }
}

export const forwardStage: StageModule<ForwardStage> = {
  name: 'forward',
  enabled: () => true,
  create: (d) =>
    new ForwardStage({
      upstreams: upstreamTargets(d.cfg.upstreams, d.cfg.upstream),
      timeoutMs: d.cfg.upstream.timeoutMs,
      penaltyMs: d.cfg.upstream.penaltyMs,
      // Until the configuration schema has upstream.caseRandomization, it is off unless set.
      caseRandomization: (d.cfg.upstream as { caseRandomization?: boolean }).caseRandomization ?? false,
    }),
};
