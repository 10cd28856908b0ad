// Last stage: ask the upstreams in turn. Each attempt has a fresh random ID and source port; a
// timeout, network error, malformed reply, SERVFAIL or REFUSED moves on to the next upstream.
// An upstream that timed out is tried last for a while so one dead server does not cost every
// query a timeout. When all fail, the client gets SERVFAIL with EDE 22.
import { Ede, Rcode } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { replay, storeResponse, checkResponse, ResponseCheck, type StoredAnswer } from '../dns/relay.js';
import { errorReply } from '../dns/synth.js';
import { formatHostPort, parseHostPort, type HostPort } from '../upstream/address.js';
import { newCounters, type UpstreamCounters } from '../upstream/counters.js';
import { buildUpstreamQuery, random16 } from '../upstream/message.js';
import { tcpExchange } from '../upstream/tcp.js';
import { UpstreamTimeout, udpExchange } from '../upstream/udp.js';
import type { StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface ForwardOptions {
  upstreams: readonly HostPort[];
  timeoutMs: number;
  /** How long an upstream that timed out is moved to the back of the order. */
  penaltyMs: number;
}

interface Upstream {
  addr: HostPort;
  label: string;
  counters: UpstreamCounters;
  penalisedUntil: number;
}

const ALL_FAILED = edeOption(Ede.NO_REACHABLE_AUTHORITY, 'c2dns: no upstream answered');

export class ForwardStage implements Stage {
  readonly upstreams: readonly Upstream[];

  constructor(private readonly opts: ForwardOptions) {
    this.upstreams = opts.upstreams.map((addr) => ({ addr, label: formatHostPort(addr), counters: newCounters(), penalisedUntil: 0 }));
  }

  resolve(q: Query): Promise<Answer> {
    return this.forward(q);
  }

  private order(now: number): Upstream[] {
    const good: Upstream[] = [];
    const bad: Upstream[] = [];
    for (const u of this.upstreams) (u.penalisedUntil > now ? bad : good).push(u);
    return bad.length === 0 ? good : good.concat(bad);
  }

  private async forward(q: Query): Promise<Answer> {
    const query = buildUpstreamQuery(q.msg, q.pq);
    const qEnd = q.pq.qEnd;
    let failed: { stored: StoredAnswer; label: string } | null = null;
    for (const u of this.order(performance.now())) {
      const c = u.counters;
      try {
        query.writeUInt16BE(random16(), 0);
        c.requests++;
        let resp = await udpExchange(u.addr, query, qEnd, this.opts.timeoutMs, c);
        let check = checkResponse(resp, query, qEnd);
        if (check === ResponseCheck.Truncated) {
          c.truncated++;
          query.writeUInt16BE(random16(), 0);
          resp = await tcpExchange(u.addr, query, qEnd, this.opts.timeoutMs);
          check = checkResponse(resp, query, qEnd);
        }
        c.responses++;
        if (check === ResponseCheck.Failed) {
          c.errors++;
          continue;
        }
        const now = performance.now();
        const stored = storeResponse(resp, qEnd, now);
        if (stored === null) {
          c.errors++;
          continue;
        }
        const rc = stored.rcode;
        if (rc === Rcode.SERVFAIL || rc === Rcode.REFUSED || rc === Rcode.NOTIMP) {
          failed = { stored, label: u.label };
          continue;
        }
        return { action: 'allowed', reply: replay(stored, q.msg, q.pq, now), stored, upstream: u.label };
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
      return { action: 'servfail', reply, stored: null, upstream: failed.label };
    }
    return { action: 'servfail', reply: errorReply(q.msg, q.pq, Rcode.SERVFAIL, ALL_FAILED), stored: null, upstream: null };
  }
}

function hostPort(s: string): HostPort {
  const r = parseHostPort(s, 53, false);
  if (typeof r === 'string') throw new Error(`upstream "${s}": ${r}`); // the schema validated it already
  return r;
}

export const forwardStage: StageModule<ForwardStage> = {
  name: 'forward',
  enabled: () => true,
  create: (d) => new ForwardStage({ upstreams: d.cfg.upstreams.map(hostPort), timeoutMs: d.cfg.upstream.timeoutMs, penaltyMs: d.cfg.upstream.penaltyMs }),
};
