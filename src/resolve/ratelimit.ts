// Rate limiting (rateLimit.*): one client must not take the resolver from the others. Each client
// network (IPv4 /ipv4Prefix, IPv6 /ipv6Prefix of the socket peer) has a token bucket that refills
// at `qps` up to `burst`; a query that finds it empty is limited:
// - over UDP from an address that has not proven itself, it is dropped, except every `slip`-th
//   limited query of that client, which gets an empty TC=1 answer (BIND RRL's slip): a real client
//   retries over TCP and is served, a spoofed victim receives a reply no larger than the query.
//   Slips have a bucket of their own at the same rate, so a flood at any rate draws at most about
//   qps slips a second (sending them would otherwise cost c2dns as much as answering). A query
//   with a DNS cookie gets BADCOOKIE and a fresh server cookie as its slip instead of TC=1: the
//   client's next query proves its address without a TCP connection;
// - over TCP, DoT, DoH and UDP with a valid DNS server cookie (RFC 7873: the address is proven),
//   it is answered REFUSED at once (a small answer to a proven address; the client backs off);
//   a TCP or DoT connection is then closed after the answers in flight, so a client pipelining
//   thousands of queries it never reads costs a refusal per connection, not per query.
// Proven and unproven traffic of one network have separate buckets, so a UDP flood spoofing a
// client's address cannot use up that client's TCP or cookie traffic.
// `exempt` networks are never limited: routers and trusted forwarders (clients.trustedForwarders
// are always exempt) speak for a whole LAN, and a local stub resolver (systemd-resolved, dnsmasq on
// loopback) for every process on its host. Limited queries are not written to the query log (a
// flood would become a disk flood); they are counted (c2dns_rate_limited_total) and each episode
// of limiting a client is logged once when it starts and once, with its counts, when it ends.
// The stage sits right after access and chaos: a limited query costs a parse and a bucket lookup.
// The module's binding: the global `performance` is an accessor that each read calls.
import { performance } from 'node:perf_hooks';
import { BlockList, isIPv4 } from 'node:net';
import { Ede, Rcode } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { errorReply, truncatedReply } from '../dns/synth.js';
import { parseIp } from '../blocklist/prefix-table.js';
import { plainAddress } from './client-ip.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

export interface RateLimitOptions {
  /** Sustained queries per second per client network. */
  qps: number;
  /** Bucket size: queries a client may send at once after being quiet. */
  burst: number;
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** Networks never limited (CIDR strings, validated by the config layer). */
  exempt: readonly string[];
  /** Every slip-th limited unproven UDP query gets TC=1 instead of silence; 0 = always silence, 1 = always TC=1. */
  slip: number;
  /** Buckets kept at most (the oldest are forgotten first). Default 100,000. */
  maxClients?: number;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
}

/** One stretch of time a client network was over its rate. */
export interface RateLimitEpisode {
  /** The client network ("192.0.2.7/32", "2001:db8::/56"). */
  client: string;
  /** Its address was proven (TCP, DoT, DoH, a valid cookie) or not (plain UDP). */
  proven: boolean;
  phase: 'start' | 'end';
  /** End only: how long, and what happened to the limited queries. */
  seconds?: number;
  dropped?: number;
  slipped?: number;
  refused?: number;
}

export interface RateLimitCounters {
  /** Unproven UDP queries dropped. */
  dropped: number;
  /** Unproven UDP queries answered TC=1 (slip). */
  slipped: number;
  /** Proven queries (TCP, DoT, DoH, UDP with a valid server cookie) answered REFUSED. */
  refused: number;
  /** Queries from exempt networks (never limited). */
  exempt: number;
}

interface Bucket {
  tokens: number;
  /** TC=1 slips are limited too, at the same rate: a limited client gets at most qps of them a second. */
  slipTokens: number;
  /** ms of the last refill. */
  at: number;
  /** Limited queries since the episode began (for slip and the end-of-episode line); 0 = not limited. */
  limited: number;
  since: number;
  lastLimited: number;
  dropped: number;
  slipped: number;
  refused: number;
}

const RATE_LIMITED = edeOption(Ede.OTHER, 'c2dns: rate limited');
const MEMO_LIMIT = 65536;
/** An episode ends when its client has not been limited for this long. */
const EPISODE_QUIET_MS = 10_000;
const SWEEP_MS = 5_000;

export class RateLimitStage implements Stage {
  readonly counters: RateLimitCounters = { dropped: 0, slipped: 0, refused: 0, exempt: 0 };
  /** Told when a client starts being limited and when that ends (the server logs it). */
  onEpisode: (e: RateLimitEpisode) => void = () => {};
  private readonly buckets = new Map<string, Bucket>();
  private readonly keys = new Map<string, string | null>();
  private readonly exempt = new BlockList();
  private readonly now: () => number;
  private readonly maxClients: number;
  private readonly perMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: RateLimitOptions,
    private next: Stage,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.maxClients = opts.maxClients ?? 100_000;
    this.perMs = opts.qps / 1000;
    for (const n of opts.exempt) {
      const [addr, bits] = n.split('/') as [string, string | undefined];
      const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
      this.exempt.addSubnet(addr, bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits), type);
    }
  }

  /**
   * Config reload with unchanged rate limits: the stages after this one were made anew, the
   * buckets (who is being limited) carry on.
   */
  relink(next: Stage): void {
    this.next = next;
  }

  /** Client networks with a bucket now. */
  get clients(): number {
    return this.buckets.size;
  }

  /** Client networks being limited now. */
  get limiting(): number {
    let n = 0;
    for (const b of this.buckets.values()) if (b.limited > 0) n++;
    return n;
  }

  resolve(q: Query): Answer | Promise<Answer> {
    const net = this.keyOf(q.clientAddress);
    if (net === null) {
      this.counters.exempt++;
      return this.next.resolve(q);
    }
    const proven = q.transport !== 'udp' || q.cookie === 'valid';
    const key = proven ? `${net}+` : net;
    const now = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxClients) this.forgetOldest();
      b = { tokens: this.opts.burst, slipTokens: this.opts.burst, at: now, limited: 0, since: 0, lastLimited: 0, dropped: 0, slipped: 0, refused: 0 };
      this.buckets.set(key, b);
      this.startSweeping();
    } else if (now > b.at) {
      const add = (now - b.at) * this.perMs;
      b.tokens = Math.min(this.opts.burst, b.tokens + add);
      b.slipTokens = Math.min(this.opts.burst, b.slipTokens + add);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return this.next.resolve(q);
    }
    return this.limit(q, net, proven, b, now);
  }

  /** Stops the sweep timer (shutdown; the stage keeps working without it, only episodes are not closed). */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private limit(q: Query, net: string, proven: boolean, b: Bucket, now: number): Answer {
    if (b.limited === 0) {
      b.since = now;
      this.onEpisode({ client: net, proven, phase: 'start' });
    }
    b.limited++;
    b.lastLimited = now;
    if (proven) {
      b.refused++;
      this.counters.refused++;
      // Over TCP and DoT the connection ends with this answer: a client that pipelines without
      // reading (or without stopping) costs one refusal per connection, not one per query queued.
      const endConnection = q.transport === 'tcp' || q.transport === 'dot';
      return { action: 'refused', reply: errorReply(q.msg, q.pq, Rcode.REFUSED, RATE_LIMITED), stored: null, upstream: null, unlogged: true, endConnection };
    }
    const slip = this.opts.slip;
    if (slip > 0 && b.limited % slip === 0 && b.slipTokens >= 1) {
      b.slipTokens -= 1;
      b.slipped++;
      this.counters.slipped++;
      // A client that sent a DNS cookie gets BADCOOKIE (with a fresh server cookie, added by the
      // dispatcher): it retries over UDP with it, proven, from the other bucket (RFC 7873 §5.2.3).
      const reply = q.cookie === 'client' || q.cookie === 'invalid' ? errorReply(q.msg, q.pq, Rcode.BADCOOKIE) : truncatedReply(errorReply(q.msg, q.pq, Rcode.NOERROR), q.pq);
      return { action: 'refused', reply, stored: null, upstream: null, unlogged: true };
    }
    b.dropped++;
    this.counters.dropped++;
    return { action: 'refused', reply: null, stored: null, upstream: null, unlogged: true };
  }

  /**
   * The bucket key of a peer address: its network as "ADDR/BITS", or null when exempt. Memoised
   * per address (bounded), as the access stage does.
   */
  keyOf(address: string): string | null {
    let k = this.keys.get(address);
    if (k === undefined) {
      const a = plainAddress(address);
      const v4 = isIPv4(a);
      if (this.exempt.check(a, v4 ? 'ipv4' : 'ipv6')) k = null;
      else k = networkOf(a, v4 ? this.opts.ipv4Prefix : this.opts.ipv6Prefix) ?? a;
      if (this.keys.size >= MEMO_LIMIT) this.keys.clear();
      this.keys.set(address, k);
    }
    return k;
  }

  /** The table is full: the first quarter in insertion order goes (mostly clients not seen for long). */
  private forgetOldest(): void {
    let n = Math.max(1, this.maxClients >> 2);
    for (const k of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(k);
    }
  }

  private startSweeping(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  /** Forgets full buckets (a client quiet long enough to refill) and closes episodes gone quiet. */
  sweep(now = this.now()): void {
    const fullAfterMs = this.opts.burst / this.perMs;
    for (const [k, b] of this.buckets) {
      if (b.limited > 0 && now - b.lastLimited >= EPISODE_QUIET_MS) {
        this.onEpisode({
          client: k.endsWith('+') ? k.slice(0, -1) : k,
          proven: k.endsWith('+'),
          phase: 'end',
          seconds: Math.round((b.lastLimited - b.since) / 100) / 10,
          dropped: b.dropped,
          slipped: b.slipped,
          refused: b.refused,
        });
        b.limited = b.dropped = b.slipped = b.refused = 0;
      }
      if (b.limited === 0 && now - b.at >= fullAfterMs) this.buckets.delete(k);
    }
    if (this.buckets.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** "ADDR/BITS" with the host bits cleared (compressed IPv6 text), or null for unparseable text. */
export function networkOf(address: string, bits: number): string | null {
  const b = parseIp(address);
  if (b === null) return null;
  const total = b.length * 8;
  if (bits >= total) return `${address}/${total}`;
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    b[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  if (b.length === 4) return `${b.join('.')}/${bits}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${bits}`;
}

export const rateLimitStage: StageModule<RateLimitStage> = {
  name: 'ratelimit',
  enabled: (d) => d.cfg.rateLimit.enabled,
  create: (d, next) => {
    const r = d.cfg.rateLimit;
    return new RateLimitStage(
      {
        qps: r.qps,
        burst: r.burst,
        ipv4Prefix: r.ipv4Prefix,
        ipv6Prefix: r.ipv6Prefix,
        // Trusted forwarders speak for the clients behind them: never limited as one client.
        exempt: [...r.exempt, ...d.cfg.clients.trustedForwarders],
        slip: r.slip,
        maxClients: r.maxClients,
      },
      requireNext('ratelimit', next),
    );
  },
};
