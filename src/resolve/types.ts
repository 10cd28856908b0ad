// The contract between pipeline stages: a stage answers a Query itself or hands it to `next`.
import type { ParsedQuery } from '../dns/query.js';
import type { StoredAnswer } from '../dns/relay.js';
import type { Decision } from '../policy/decision.js';

/** How the query came: plain UDP or TCP, DNS over TLS (RFC 7858) or DNS over HTTPS (RFC 8484). */
export type Transport = 'udp' | 'tcp' | 'dot' | 'doh';

/** `local`: answered from localRecords or a locally served zone (localhost, home.arpa, private reverse zones: resolve/local.ts). */
export type Action = 'blocked' | 'local-data' | 'allowed' | 'cached' | 'refused' | 'servfail' | 'formerr' | 'notimp' | 'local';

/**
 * Who asked. From the socket peer, unless a trusted forwarder (clients.trustedForwarders) said
 * which of its clients it speaks for (EDNS Client Subnet, MAC, CPE-ID; src/resolve/clients.ts).
 */
export interface ClientIdentity {
  /** The real client: the ECS host address from a trusted forwarder, else the socket peer. */
  address: string;
  /** The trusted forwarder that spoke for the client (its socket address), or null. */
  via: string | null;
  /** Lower-case "aa:bb:cc:dd:ee:ff" from a trusted forwarder, or null. */
  mac: string | null;
  cpeId: string | null;
  /** The client's name from clients.names, or null. */
  name: string | null;
  /** An ECS prefix shorter than a host ("192.168.1.0/24"): the forwarder named a network, not a host. */
  network: string | null;
  /** The client's policy group (config `groups`, chosen by the clients stage); "default" for everyone else. */
  group: string;
}

/** The identity of a socket peer nobody spoke for. */
export function peerIdentity(address: string): ClientIdentity {
  return { address, via: null, mac: null, cpeId: null, name: null, network: null, group: 'default' };
}

/**
 * The query's identity, to be changed: one the query shares with others (the dispatcher hands a
 * peer's queries one frozen identity) is first replaced by a copy of its own.
 */
export function ownIdentity(q: Query): ClientIdentity {
  const id = q.identity;
  if (!Object.isFrozen(id)) return id as ClientIdentity;
  const own = { ...id };
  q.identity = own;
  return own;
}

export interface Query {
  /** The client's message as received. */
  readonly msg: Buffer;
  readonly pq: ParsedQuery;
  /** The socket peer (access control applies to it: a router must be allowed). */
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly transport: Transport;
  /** performance.now() at receipt. */
  readonly receivedAt: number;
  /** Why the query was answered as it was, set by the stage that decided; null = nothing did. */
  decision: Decision | null;
  /**
   * Who asked: the peer, then whatever the clients stage learnt. Stages key clients by
   * identity.address. Read-only here: it may be shared with other queries; ownIdentity() gives
   * the query's own to change.
   */
  identity: Readonly<ClientIdentity>;
  /**
   * Raw EDNS options to send upstream with this question (the client's ECS with
   * clients.forwardEcs), or null. The cache keys on them: one subnet's answer is not another's.
   */
  forwardOptions: Buffer | null;
  /**
   * DNS Cookies (RFC 7873) the query carried, as the dispatcher judged them: absent or 'none'
   * without a COOKIE option; 'client' with a client cookie only; 'valid' when the server cookie is
   * one c2dns made for this client address (the address is proven, like over TCP); 'invalid'.
   */
  cookie?: CookieState;
}

export type CookieState = 'none' | 'client' | 'valid' | 'invalid';

export interface Answer {
  action: Action;
  /** The complete reply for this client, before transport size limits; null = send nothing (RPZ DROP). */
  reply: Buffer | null;
  /**
   * The upstream answer the reply was made from: fresh from an upstream (the cache may keep it)
   * or replayed from the cache (action 'cached'); null for answers c2dns wrote itself.
   */
  stored: StoredAnswer | null;
  /** Which upstream answered (host:port), when one did. */
  upstream: string | null;
  /**
   * Served from an expired cache entry because no upstream answered in time (RFC 8767; TTLs 30,
   * EDE 3): a stage that rebuilds the reply from `stored` uses replayStale (dns/relay.ts).
   */
  stale?: boolean;
  /**
   * Not reported to the query observers (log, metrics, history): rate-limited and shed queries,
   * which the stage that decided counts itself, so a flood does not also flood the log.
   */
  unlogged?: boolean;
  /**
   * TCP and DoT: close the connection once this answer is written (queries already in flight are
   * still answered, the rest of what the client sent is discarded): a client far over its rate.
   */
  endConnection?: boolean;
}

export interface Stage {
  resolve(q: Query): Answer | Promise<Answer>;
}
