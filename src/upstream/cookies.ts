// DNS Cookies towards plain UDP upstreams (RFC 7873 §5.1 and §5.3; the upstream's server cookie,
// RFC 9018 or its own format, is opaque to us). Each query carries our client cookie, and the
// server cookie this upstream last gave us for it; a reply whose COOKIE option is malformed or
// does not echo our client cookie is a forgery and is dropped. A reply without a COOKIE option is
// accepted from an upstream that never gave us a server cookie (it does not speak cookies), and
// dropped as forged once it has (RFC 7873 §5.3: an off-path forger need not guess our cookie if
// leaving it out were enough). Should the upstream really stop speaking cookies, its answers are
// dropped until a question to it times out; then its server cookie is forgotten (forget(), by
// ./udp.ts) and it is treated as one without cookies until it sends one again: one question
// lost, never an upstream lost for good. BADCOOKIE (the upstream wants a fresh server cookie) is
// handled by the caller (./udp.ts): one retry with the new one, then TCP.
//
// Client cookie = SipHash-2-4(secret, server IP | server port | our source IP)[8 bytes]: one per
// upstream and per source address, so upstreams cannot link our queries to each other. The
// secret is random, kept in memory only and replaced every rotateMs (a new client cookie makes
// the upstreams issue new server cookies, the one round trip RFC 7873 §7.1 expects); our source
// address towards an upstream is learnt from a connected socket (no packet sent) and looked up
// again with each new secret.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { addressBytes } from '../dns/address.js';
import { sameBytes } from '../dns/bytes.js';
import { CLIENT_COOKIE_LEN, EDNS_OPTION_COOKIE } from '../dns/cookies.js';
import { HEADER_LEN } from '../dns/constants.js';
import { optStart, OPT_FIXED_LEN } from '../dns/opt.js';
import { siphash24 } from '../dns/siphash.js';
import type { HostPort } from './address.js';

/** How long a client secret is used by default: a day, like the server side's default rotation. */
export const CLIENT_SECRET_ROTATE_MS = 24 * 3_600_000;
/** RFC 7873 §4: a server cookie is 8 to 32 bytes. */
const SERVER_COOKIE_MIN = 8;
const SERVER_COOKIE_MAX = 32;

/** What a reply's COOKIE option says about it. */
export type ReplyCookie =
  /** Echoes our client cookie (its server cookie is kept). */
  | 'ok'
  /** No COOKIE option from an upstream that never gave us a server cookie (no cookie support); accepted. */
  | 'none'
  /** No COOKIE option from an upstream that has given us a server cookie: a forgery, dropped (counted as forged). */
  | 'missing'
  /** A COOKIE option that is malformed or names another client cookie: a forgery, dropped (RFC 7873 §5.3). */
  | 'forged';

export interface UpstreamCookieStats {
  /** Queries that carried our cookie. */
  sent: number;
  /** Replies that echoed it. */
  echoed: number;
  /** Replies without a COOKIE option. */
  none: number;
  /** Replies dropped: malformed COOKIE option, a client cookie that is not ours, or none from an upstream that has given us one. */
  forged: number;
  /** BADCOOKIE answers retried with the new server cookie. */
  badcookieRetries: number;
  /** Questions asked over TCP after a second BADCOOKIE. */
  tcpFallbacks: number;
}

interface ServerState {
  /** Our source address towards this upstream, bytes; null until learnt. */
  source: Buffer | null;
  /** The secret generation `client` was made with. */
  generation: number;
  client: Buffer;
  /** The upstream's last server cookie for `client`, or null. */
  server: Buffer | null;
  /** It has echoed our cookie with a server cookie (under any secret), and not been forgotten since. */
  speaks: boolean;
  /** The COOKIE option made of `client` and `server`; null until asked for after either changed. */
  option: Buffer | null;
  /** A source lookup in progress. */
  learning: Promise<void> | null;
}

export interface UpstreamCookiesOptions {
  rotateMs?: number;
  /** Milliseconds; tests pass their own clock. */
  now?: () => number;
}

export class UpstreamCookies {
  readonly stats: UpstreamCookieStats = { sent: 0, echoed: 0, none: 0, forged: 0, badcookieRetries: 0, tcpFallbacks: 0 };
  private secret: Buffer = randomBytes(16);
  private generation = 0;
  private secretSince: number;
  private readonly servers = new Map<string, ServerState>();
  /** The last server looked up, and its state: most questions go to the same upstream as the one before. */
  private lastServer: HostPort | null = null;
  private lastState: ServerState | null = null;
  private readonly rotateMs: number;
  private readonly now: () => number;

  constructor(o: UpstreamCookiesOptions = {}) {
    this.rotateMs = o.rotateMs ?? CLIENT_SECRET_ROTATE_MS;
    this.now = o.now ?? Date.now;
    this.secretSince = this.now();
  }

  /**
   * The COOKIE option (code, length, client cookie, server cookie if we hold one) for the next
   * query to `server`. Asynchronous only the first time per upstream and secret (source lookup).
   */
  async option(server: HostPort): Promise<Buffer> {
    return optionOf(await this.state(server));
  }

  /** option(), when it needs no source lookup; null when it does. The buffer is shared: not to be changed. */
  optionNow(server: HostPort): Buffer | null {
    this.rotate();
    const s = this.stateOf(server);
    return s.generation === this.generation ? optionOf(s) : null;
  }

  /**
   * Judges a reply to a query that carried `sent` (the option from option()); keeps the upstream's
   * new server cookie when the reply is ours.
   */
  check(server: HostPort, sent: Buffer, reply: Buffer): ReplyCookie {
    const at = cookieAt(reply);
    const s = this.stateOf(server);
    if (at === NO_COOKIE) {
      // It has given us a server cookie (perhaps for another question in flight, or under the last secret).
      if (sent.length > 4 + CLIENT_COOKIE_LEN || s.speaks) {
        this.stats.forged++;
        return 'missing';
      }
      this.stats.none++;
      return 'none';
    }
    // Compared where they lie: a reply costs no copy unless its server cookie is new.
    const start = Math.floor(at / 0x10000);
    const len = at % 0x10000 - CLIENT_COOKIE_LEN;
    if (at === BAD_COOKIE || len < SERVER_COOKIE_MIN || len > SERVER_COOKIE_MAX || !sameBytes(reply, start, sent, 4, CLIENT_COOKIE_LEN)) {
      this.stats.forged++;
      return 'forged';
    }
    this.stats.echoed++;
    s.speaks = true;
    // Kept only while the client cookie it belongs to is still the current one.
    const from = start + CLIENT_COOKIE_LEN;
    if (sameBytes(s.client, 0, sent, 4, CLIENT_COOKIE_LEN) && (s.server === null || s.server.length !== len || !sameBytes(s.server, 0, reply, from, len))) {
      s.server = Buffer.from(reply.subarray(from, from + len));
      s.option = null;
    }
    return 'ok';
  }

  /**
   * Forgets `server`'s server cookie: a question timed out after replies without a cookie were
   * dropped, so the upstream may have stopped speaking cookies; its next cookie-less reply is taken.
   */
  forget(server: HostPort): void {
    const s = this.stateOf(server);
    s.server = null;
    s.speaks = false;
    s.option = null;
  }

  private rotate(): void {
    if (this.now() - this.secretSince >= this.rotateMs) {
      this.secret = randomBytes(16);
      this.generation++;
      this.secretSince = this.now();
    }
  }

  /** The state kept for `server` (by address and port: a reconfigured upstream keeps it). */
  private stateOf(server: HostPort): ServerState {
    if (server === this.lastServer) return this.lastState!;
    const key = keyOf(server);
    let s = this.servers.get(key);
    if (s === undefined) {
      s = { source: null, generation: -1, client: Buffer.alloc(CLIENT_COOKIE_LEN), server: null, speaks: false, option: null, learning: null };
      this.servers.set(key, s);
    }
    this.lastServer = server;
    this.lastState = s;
    return s;
  }

  private async state(server: HostPort): Promise<ServerState> {
    this.rotate();
    const s = this.stateOf(server);
    if (s.generation !== this.generation) {
      const st = s;
      st.learning ??= sourceAddress(server).then((src) => {
        st.source = src;
        st.learning = null;
      });
      await st.learning;
      if (st.generation !== this.generation) {
        const client = this.clientCookie(server, st.source!);
        if (!client.equals(st.client)) st.server = null; // a server cookie is bound to its client cookie
        st.client = client;
        st.option = null;
        st.generation = this.generation;
      }
    }
    return s;
  }

  private clientCookie(server: HostPort, source: Buffer): Buffer {
    const ip = ipBytes(server.host);
    const input = Buffer.allocUnsafe(ip.length + 2 + source.length);
    ip.copy(input, 0);
    input.writeUInt16BE(server.port, ip.length);
    source.copy(input, ip.length + 2);
    return siphash24(this.secret, input);
  }
}

/** An address as the hash takes it: its 4 or 16 bytes, without an IPv6 zone ("fe80::1%eth0"). */
function ipBytes(host: string): Buffer {
  const pct = host.indexOf('%');
  return addressBytes(pct < 0 ? host : host.slice(0, pct));
}

function keyOf(server: HostPort): string {
  return `${server.host}|${server.port}`;
}

/** The source address the kernel picks towards `server` (a connected UDP socket sends nothing). */
function sourceAddress(server: HostPort): Promise<Buffer> {
  const unspecified = Buffer.alloc(server.family === 6 ? 16 : 4);
  return new Promise((resolve) => {
    const sock = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
    const done = (b: Buffer): void => {
      sock.close();
      resolve(b);
    };
    sock.on('error', () => done(unspecified));
    sock.connect(server.port, server.host, () => {
      const a = sock.address().address;
      done(isIP(a) === 0 ? unspecified : ipBytes(a));
    });
  });
}

function optionOf(s: ServerState): Buffer {
  if (s.option !== null) return s.option;
  const len = CLIENT_COOKIE_LEN + (s.server === null ? 0 : s.server.length);
  const out = Buffer.allocUnsafe(4 + len);
  out.writeUInt16BE(EDNS_OPTION_COOKIE, 0);
  out.writeUInt16BE(len, 2);
  s.client.copy(out, 4);
  s.server?.copy(out, 4 + CLIENT_COOKIE_LEN);
  s.option = out;
  return out;
}

/** cookieAt: the reply has no OPT or no COOKIE option. */
const NO_COOKIE = -1;
/** cookieAt: its OPT's options overrun the RDATA (malformed). */
const BAD_COOKIE = -2;

/** Where the COOKIE option's data lies in a reply: its offset × 0x10000 + its length, or NO_COOKIE or BAD_COOKIE. */
function cookieAt(reply: Buffer): number {
  if (reply.length < HEADER_LEN || (reply[10] === 0 && reply[11] === 0)) return NO_COOKIE;
  const opt = optStart(reply);
  if (opt < 0) return NO_COOKIE;
  const start = opt + OPT_FIXED_LEN;
  const end = start + ((reply[opt + 9]! << 8) | reply[opt + 10]!);
  for (let off = start; off < end; ) {
    if (off + 4 > end) return BAD_COOKIE;
    const code = (reply[off]! << 8) | reply[off + 1]!;
    const len = (reply[off + 2]! << 8) | reply[off + 3]!;
    if (off + 4 + len > end) return BAD_COOKIE;
    if (code === EDNS_OPTION_COOKIE) return (off + 4) * 0x10000 + len;
    off += 4 + len;
  }
  return NO_COOKIE;
}

/**
 * `query` (built by ./message.ts: OPT last, right after the question) with `option` added to its
 * OPT; `query` itself when it has no OPT (no EDNS: no cookie).
 */
export function withOption(query: Buffer, qEnd: number, option: Buffer): Buffer {
  if (query[10] !== 0 || query[11] !== 1 || query.length < qEnd + OPT_FIXED_LEN) return query;
  const out = Buffer.allocUnsafe(query.length + option.length);
  out.set(query);
  out.set(option, query.length);
  const rdlen = ((query[qEnd + 9]! << 8) | query[qEnd + 10]!) + option.length;
  out[qEnd + 9] = rdlen >>> 8;
  out[qEnd + 10] = rdlen & 0xff;
  return out;
}
