// What c2dns says about itself in EDNS, per query, around the stage chain (dispatch.ts):
// - NSID (RFC 5001): a query with an NSID option gets server.nsid back (when one is set).
// - TCP keepalive (RFC 7828): a query over TCP or DoT with the edns-tcp-keepalive option gets the
//   option back with the idle timeout (tcp.idleTimeoutMs, in 100 ms units). Over UDP the option
//   is ignored; one with a TIMEOUT in a query is FORMERR (§3.2.1). Never over DoH (RFC 8484 §5.1
//   leaves connection management to HTTP).
// - DNS Cookies (RFC 7873, server cookies per RFC 9018, dns/cookies.ts): a COOKIE option of a
//   length the RFC does not allow is FORMERR; a client cookie gets a server cookie back in every
//   answer (the one it sent while valid and younger than half an hour, else a new one); a valid
//   server cookie proves the client's address (Query.cookie 'valid': the rate limiter treats it
//   like TCP). With server.cookies.require, a UDP query with a client cookie and no valid server
//   cookie is answered BADCOOKIE with a fresh cookie instead of being processed (§5.2.3), so the
//   client retries at once with it; queries without any cookie are served as usual.
// The options are added to the reply's OPT after the transport's size limit has been made room for.
import { Rcode } from '../dns/constants.js';
import { checkServerCookie, CLIENT_COOKIE_LEN, fixedKey, loadMasterSecret, makeServerCookie, rotatingKeys, type CookieKeys, type CookieVerdict } from '../dns/cookies.js';
import { findOpt, OPT_FIXED_LEN } from '../dns/opt.js';
import type { ParsedQuery } from '../dns/query.js';
import type { Config } from '../config/schema.js';
import type { Transport } from '../resolve/types.js';

export const OPTION_NSID = 3;
export const OPTION_COOKIE = 10;
export const OPTION_TCP_KEEPALIVE = 11;

export interface ServerEdnsOptions {
  /** NSID bytes returned to queries that ask; null = none. */
  nsid: Buffer | null;
  /** The TCP idle timeout advertised in edns-tcp-keepalive, ms. */
  idleTimeoutMs: number;
  /** Cookie keys; null = cookies off (the option is ignored, as by a server without cookies). */
  cookies: CookieKeys | null;
  requireCookies: boolean;
  /** Seconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** What a query asked of c2dns in EDNS; null fields: not asked. */
export interface EdnsAsk {
  nsid: boolean;
  keepalive: boolean;
  /** The client cookie, and what its server cookie (if any) is worth. */
  cookie: { client: Buffer; verdict: CookieVerdict; reuse: Buffer | null } | null;
  /** A malformed COOKIE or keepalive option: FORMERR. */
  malformed: boolean;
}

export interface CookieCounters {
  /** Queries with a client cookie only, with a valid server cookie, with an invalid one; malformed COOKIE options. */
  client: number;
  valid: number;
  invalid: number;
  malformed: number;
  /** BADCOOKIE answers (server.cookies.require, or a rate-limited client that sent a cookie). */
  badcookie: number;
}

export class ServerEdns {
  readonly counters: CookieCounters = { client: 0, valid: 0, invalid: 0, malformed: 0, badcookie: 0 };
  private readonly now: () => number;
  private readonly keepalive: Buffer;

  constructor(private readonly o: ServerEdnsOptions) {
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.keepalive = Buffer.alloc(6);
    this.keepalive.writeUInt16BE(OPTION_TCP_KEEPALIVE, 0);
    this.keepalive.writeUInt16BE(2, 2);
    this.keepalive.writeUInt16BE(Math.min(0xffff, Math.round(o.idleTimeoutMs / 100)), 4);
  }

  static fromConfig(cfg: Config): ServerEdns {
    const c = cfg.server.cookies;
    let keys: CookieKeys | null = null;
    if (c.enabled) keys = c.secret !== undefined ? fixedKey(Buffer.from(c.secret, 'hex')) : rotatingKeys(loadMasterSecret(cfg.state.dir!).secret, Math.max(1, Math.round(c.rotateHours * 3600)));
    return new ServerEdns({ nsid: nsidBytes(cfg.server.nsid), idleTimeoutMs: cfg.tcp.idleTimeoutMs, cookies: keys, requireCookies: c.require });
  }

  /** Whether a cookie-less reply must be BADCOOKIE for this query (server.cookies.require). */
  mustRefuse(ask: EdnsAsk, transport: Transport): boolean {
    return this.o.requireCookies && transport === 'udp' && ask.cookie !== null && ask.cookie.verdict !== 'valid';
  }

  /** Reads the query's options; null when it has no EDNS or none of the options this module answers. */
  inspect(msg: Buffer, pq: ParsedQuery, address: string, transport: Transport): EdnsAsk | null {
    if (!pq.edns || pq.ednsOptionsLen === 0) return null;
    let ask: EdnsAsk | null = null;
    const end = pq.ednsOptions + pq.ednsOptionsLen;
    let sawCookie = false;
    for (let off = pq.ednsOptions; off + 4 <= end; ) {
      const code = msg.readUInt16BE(off);
      const len = msg.readUInt16BE(off + 2);
      const data = off + 4;
      if (data + len > end) break;
      off = data + len;
      if (code === OPTION_NSID) {
        if (this.o.nsid !== null) (ask ??= blank()).nsid = true;
      } else if (code === OPTION_TCP_KEEPALIVE) {
        if (transport === 'udp' || transport === 'doh') continue; // RFC 7828 §3.2.1: ignored over UDP
        ask ??= blank();
        if (len !== 0) ask.malformed = true;
        else ask.keepalive = true;
      } else if (code === OPTION_COOKIE && this.o.cookies !== null && !sawCookie) {
        // RFC 7873 §5.2: only the first COOKIE option counts.
        sawCookie = true;
        ask ??= blank();
        // 8 bytes (client only) or 16 to 40 (client + server cookie of 8 to 32).
        if (len !== CLIENT_COOKIE_LEN && (len < 16 || len > 40)) {
          ask.malformed = true;
          this.counters.malformed++;
          continue;
        }
        const client = Buffer.from(msg.subarray(data, data + CLIENT_COOKIE_LEN));
        if (len === CLIENT_COOKIE_LEN) {
          this.counters.client++;
          ask.cookie = { client, verdict: 'client', reuse: null };
          continue;
        }
        const server = msg.subarray(data + CLIENT_COOKIE_LEN, data + len);
        const r = checkServerCookie(this.o.cookies, client, server, address, this.now());
        this.counters[r.verdict]++;
        ask.cookie = { client, verdict: r.verdict, reuse: r.verdict === 'valid' && !r.renew ? Buffer.from(server) : null };
      }
    }
    return ask;
  }

  /** The options to add to the reply (raw option bytes), or null; `nsid` false: without NSID (a capped reply it does not fit). */
  options(ask: EdnsAsk, address: string, nsid = true): Buffer | null {
    const parts: Buffer[] = [];
    if (nsid && ask.nsid && this.o.nsid !== null) parts.push(option(OPTION_NSID, this.o.nsid));
    if (ask.keepalive) parts.push(this.keepalive);
    if (ask.cookie !== null && this.o.cookies !== null) {
      const server = ask.cookie.reuse ?? makeServerCookie(this.o.cookies, ask.cookie.client, address, this.now());
      parts.push(option(OPTION_COOKIE, Buffer.concat([ask.cookie.client, server])));
    }
    return parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

function blank(): EdnsAsk {
  return { nsid: false, keepalive: false, cookie: null, malformed: false };
}

function option(code: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

/** server.nsid as bytes: "hex:…" decoded, else the UTF-8 text; null when empty. */
export function nsidBytes(s: string): Buffer | null {
  if (s === '') return null;
  return s.startsWith('hex:') ? Buffer.from(s.slice(4), 'hex') : Buffer.from(s, 'utf8');
}

/**
 * `reply` with `options` appended to its OPT record's RDATA; the reply as it is when it has no
 * OPT (the client did not use EDNS) or cannot be walked.
 */
export function appendOptions(reply: Buffer, options: Buffer): Buffer {
  const opt = findOpt(reply);
  if (opt === null) return reply;
  const rdlenAt = opt.start + 9;
  const rdlen = reply.readUInt16BE(rdlenAt);
  if (rdlen + options.length > 0xffff) return reply;
  const end = opt.start + OPT_FIXED_LEN + rdlen;
  const out = Buffer.allocUnsafe(reply.length + options.length);
  reply.copy(out, 0, 0, end);
  options.copy(out, end);
  reply.copy(out, end + options.length, end);
  out.writeUInt16BE(rdlen + options.length, rdlenAt);
  return out;
}

/** BADCOOKIE (RFC 7873 §5.2.3): the rcode is extended (23), so it needs the OPT the query had. */
export const BADCOOKIE = Rcode.BADCOOKIE;
