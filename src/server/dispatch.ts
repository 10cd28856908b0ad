// Where a received message enters the pipeline and its answer leaves: parse, run the stage
// chain, fit the answer to the transport, send, log. Every path is guarded so one bad packet
// costs one packet, never the server.
import { performance } from 'node:perf_hooks';
import { EDNS_UDP_SIZE, MIN_UDP_SIZE, Rcode } from '../dns/constants.js';
import { parseQuery, ParseStatus, type ParsedQuery } from '../dns/query.js';
import { capReply, fitReply } from '../dns/fit.js';
import { messageRcode } from '../dns/opt.js';
import { errorReply, truncatedReply } from '../dns/synth.js';
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import { peerIdentity, type Action, type Answer, type ClientIdentity, type Query, type Stage, type Transport } from '../resolve/types.js';
import { appendOptions, type EdnsAsk, type ServerEdns } from './edns-server.js';

/**
 * Over UDP, by how many bytes a refusal or error reply (REFUSED, SERVFAIL, FORMERR, NOTIMP) may
 * exceed the query: one EDE option without its text. The source address of a UDP query is not
 * proven, so such a reply to a spoofed query must not amplify it (issue 10 item 14); the EDE text
 * goes only where the query's own size pays for it, and always over TCP.
 */
export const ERROR_REPLY_GROWTH = 6;

/**
 * Over UDP, by how many bytes a blocked answer may exceed the query: the compact synthetic SOA
 * (58, dns/synth.ts) and one EDE info code (6). The A or AAAA record of a null or sinkhole answer
 * is smaller than the SOA. What does not fit goes in this order: the EDE text, the SOA; the info
 * code stays, and TC is never set (the client would retry over TCP for the same refusal).
 */
export const BLOCKED_REPLY_GROWTH = 64;

/**
 * What a reply's COOKIE option may add on top of either cap: all of it (the client cookie and our
 * 16-byte server cookie, RFC 9018), so a query's own cookie bytes still pay for the EDE text as
 * its other bytes do (dig sends a cookie by default: its blocked answers keep their text).
 */
export const COOKIE_REPLY_GROWTH = 28;

/**
 * Delivers a reply; null = deliberately no answer (RPZ DROP), so the transport can free the slot.
 * `end`: a stream transport closes the connection after it (Answer.endConnection). `q`: the query
 * answered (absent when the message could not be parsed): one Send can then serve every query
 * (the batch UDP listener's), with no closure made per query.
 */
export type Send = (reply: Buffer | null, end?: boolean, q?: Query) => void;

export interface DispatchCounters {
  /** Not answerable: shorter than a header, or QR=1. */
  dropped: number;
  /** Answered with FORMERR/NOTIMP/BADVERS. */
  malformed: number;
  /** A stage threw or rejected: answered SERVFAIL. */
  internalErrors: number;
}

export class Dispatcher {
  inflight = 0;
  readonly counters: DispatchCounters = { dropped: 0, malformed: 0, internalErrors: 0 };
  /** The event the observers are handed (report()), and whether they are being handed one now. */
  private readonly event = blankEvent();
  private reporting = false;
  private lastPeer: Readonly<ClientIdentity> = Object.freeze(peerIdentity(''));

  constructor(
    private chain: Stage,
    private readonly observers: readonly QueryObserver[],
    private readonly onInternalError: (err: unknown) => void,
    /** NSID, TCP keepalive and DNS Cookies (edns-server.ts); null: none of them. */
    private readonly edns: ServerEdns | null = null,
  ) {}

  /**
   * Config reload: queries received from now on go to `head`; those already in the old chain
   * finish there (each holds its stages), so none is lost.
   */
  setChain(head: Stage): void {
    this.chain = head;
  }

  /** `via`: a trusted reverse proxy that named `address` as the client (DoH X-Forwarded-For), else null. */
  handle(msg: Buffer, address: string, port: number, transport: Transport, send: Send, via: string | null = null): void {
    const receivedAt = performance.now();
    let pq: ParsedQuery;
    try {
      pq = parseQuery(msg);
    } catch (err) {
      this.counters.dropped++;
      this.onInternalError(err);
      this.noAnswer(send);
      return;
    }
    const q: Query = { msg, pq, clientAddress: address, clientPort: port, transport, receivedAt, decision: null, identity: via === null ? this.peerIdentity(address) : { ...peerIdentity(address), via }, forwardOptions: null };
    if (pq.status !== ParseStatus.Ok) {
      if (pq.status === ParseStatus.Drop || pq.status === ParseStatus.Ignore) {
        this.counters.dropped++;
        this.noAnswer(send);
        return;
      }
      this.counters.malformed++;
      // BADVERS is logged as action `formerr` (the query was rejected unprocessed, like any
      // malformed one) with rcode BADVERS: the log's rcode field tells the two apart.
      const [rcode, action]: [number, Action] =
        pq.status === ParseStatus.NotImp
          ? [Rcode.NOTIMP, 'notimp']
          : pq.status === ParseStatus.BadVers
            ? [Rcode.BADVERS, 'formerr']
            : [Rcode.FORMERR, 'formerr'];
      this.finish(q, { action, reply: errorReply(msg, pq, rcode), stored: null, upstream: null }, send);
      return;
    }
    let ask: EdnsAsk | null = null;
    if (this.edns !== null) {
      try {
        ask = this.edns.inspect(msg, pq, address, transport);
      } catch (err) {
        this.onInternalError(err);
      }
      if (ask !== null) {
        if (ask.malformed) {
          // A COOKIE option of a length RFC 7873 §5.2.2 does not allow, a keepalive with a TIMEOUT (RFC 7828 §3.2.1).
          this.counters.malformed++;
          this.finish(q, { action: 'formerr', reply: errorReply(msg, pq, Rcode.FORMERR), stored: null, upstream: null }, send);
          return;
        }
        if (ask.cookie !== null) q.cookie = ask.cookie.verdict;
        if (this.edns.mustRefuse(ask, transport)) {
          this.edns.counters.badcookie++;
          this.finish(q, { action: 'refused', reply: errorReply(msg, pq, Rcode.BADCOOKIE), stored: null, upstream: null }, send, ask);
          return;
        }
      }
    }
    let res: Answer | Promise<Answer>;
    try {
      res = this.chain.resolve(q);
    } catch (err) {
      res = this.internalError(q, err);
    }
    if (res instanceof Promise) this.finishLater(q, res, send, ask);
    else this.finish(q, res, send, ask);
  }

  /**
   * An answer that comes later (an upstream miss). A method of its own: a closure over q, send and
   * ask written in handle() would make V8 allocate their context on every query, answered at once or not.
   */
  private finishLater(q: Query, res: Promise<Answer>, send: Send, ask: EdnsAsk | null): void {
    this.inflight++;
    res.then(
      (a) => {
        this.inflight--;
        this.finish(q, a, send, ask);
      },
      (err: unknown) => {
        this.inflight--;
        this.finish(q, this.internalError(q, err), send, ask);
      },
    );
  }

  /**
   * The identity of a peer nobody spoke for, one (frozen) object for the same peer's queries in a
   * row instead of one per query: a stage that learns more about a query's client changes its
   * own copy (ownIdentity).
   */
  private peerIdentity(address: string): Readonly<ClientIdentity> {
    const last = this.lastPeer;
    if (last.address === address) return last;
    return (this.lastPeer = Object.freeze(peerIdentity(address)));
  }

  /** No reply for this message; the transport is still told, so a TCP connection frees its slot. */
  private noAnswer(send: Send): void {
    try {
      send(null);
    } catch (err) {
      this.onInternalError(err);
    }
  }

  private internalError(q: Query, err: unknown): Answer {
    this.counters.internalErrors++;
    this.onInternalError(err);
    return { action: 'servfail', reply: errorReply(q.msg, q.pq, Rcode.SERVFAIL), stored: null, upstream: null };
  }

  private finish(q: Query, a: Answer, send: Send, ask: EdnsAsk | null = null): void {
    const pq = q.pq;
    let reply = a.reply;
    // NSID, keepalive, cookie: added last, with room made for them first.
    let extra: Buffer | null = null;
    if (ask !== null && reply !== null) {
      try {
        extra = this.edns!.options(ask, q.clientAddress);
      } catch (err) {
        this.onInternalError(err);
      }
    }
    // UDP: 512 without EDNS, else the client's size clamped to [512, 1232]. TCP, DoT and DoH are
    // streams, never truncated: the 16-bit frame (and DoH's 65,535-byte message) is the limit.
    const limit =
      (q.transport === 'udp' ? (pq.edns ? Math.min(Math.max(pq.udpSize, MIN_UDP_SIZE), EDNS_UDP_SIZE) : MIN_UDP_SIZE) : 0xffff) - (extra?.length ?? 0);
    const act = a.action;
    // A valid DNS server cookie proves the address as a stream does (RFC 7873 §1): no cap then.
    if (reply !== null && q.transport === 'udp' && q.cookie !== 'valid') {
      // The options count against the cap: only the server cookie has an allowance of its own
      // (a BADCOOKIE answer exists to carry it); NSID goes only where it fits.
      const cookie = ask !== null && ask.cookie !== null ? COOKIE_REPLY_GROWTH : 0;
      let budget = -1;
      if (act === 'refused' || act === 'servfail' || act === 'formerr' || act === 'notimp') budget = q.msg.length + ERROR_REPLY_GROWTH + cookie;
      // Capped to the UDP limit as well: a blocked answer is never TC=1.
      else if (act === 'blocked') budget = Math.min(q.msg.length + BLOCKED_REPLY_GROWTH + cookie, limit + (extra?.length ?? 0));
      if (budget >= 0) {
        reply = capReply(reply, budget - (extra?.length ?? 0));
        if (extra !== null && ask!.nsid && reply.length + extra.length > budget) {
          extra = this.edns!.options(ask!, q.clientAddress, false);
          reply = capReply(a.reply!, budget - (extra?.length ?? 0));
        }
      }
    }
    // Too big: drop what the client can do without (dns/fit.ts); TC=1 only if the answer itself does not fit.
    let truncated = false;
    if (reply !== null && reply.length > limit) {
      const fitted = fitReply(reply, limit, pq.dnssecOk);
      if (fitted !== null) reply = fitted;
      else {
        reply = truncatedReply(reply, pq);
        truncated = true;
      }
    }
    if (extra !== null && reply !== null) reply = appendOptions(reply, extra);
    try {
      send(reply, a.endConnection === true, q);
    } catch (err) {
      this.onInternalError(err);
    }
    if (a.unlogged === true) return; // rate limited or shed: counted by its stage, not logged one by one
    this.report(q, a, reply, truncated);
  }

  /**
   * Hands the query's event to the observers. One event object is filled anew for each query
   * (observers copy what they keep: observe/query-event.ts), not made per query (~200 bytes with
   * its two numbers); a fresh one when an observer's work answers another query meanwhile.
   */
  private report(q: Query, a: Answer, reply: Buffer | null, truncated: boolean): void {
    const nested = this.reporting;
    const e = nested ? blankEvent() : this.event;
    const id = q.identity;
    const pq = q.pq;
    e.time = Date.now();
    e.client = id.address;
    e.clientPort = q.clientPort;
    e.via = id.via;
    e.mac = id.mac;
    e.clientName = id.name;
    e.group = id.group;
    e.transport = q.transport;
    e.qname = pq.name;
    e.qtype = pq.qtype;
    e.action = a.action;
    e.decision = q.decision;
    e.rcode = reply === null ? -1 : messageRcode(reply); // the full rcode: BADVERS, not its low 4 bits
    e.latencyMs = performance.now() - q.receivedAt;
    e.upstream = a.upstream;
    e.truncated = truncated;
    e.reply = reply;
    this.reporting = true;
    const obs = this.observers;
    for (let i = 0; i < obs.length; i++) {
      try {
        obs[i]!.onQuery(e);
      } catch (err) {
        this.onInternalError(err);
      }
    }
    this.reporting = nested;
  }
}

/** An event with every field present, so that each one filled from it has the same shape. */
function blankEvent(): QueryEvent {
  return { time: 0, client: '', clientPort: 0, via: null, mac: null, clientName: null, group: '', transport: 'udp', qname: '', qtype: 0, action: 'allowed', decision: null, rcode: 0, latencyMs: 0, upstream: null, truncated: false, reply: null };
}
