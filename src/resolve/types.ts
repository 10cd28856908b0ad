// The contract between pipeline stages: a stage answers a Query itself or hands it to `next`.
import type { ParsedQuery } from '../dns/query.js';
import type { StoredAnswer } from '../dns/relay.js';
import type { Decision } from '../policy/decision.js';

export type Transport = 'udp' | 'tcp';

export type Action = 'blocked' | 'local-data' | 'allowed' | 'cached' | 'refused' | 'servfail' | 'formerr' | 'notimp';

export interface Query {
  /** The client's message as received. */
  readonly msg: Buffer;
  readonly pq: ParsedQuery;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly transport: Transport;
  /** performance.now() at receipt. */
  readonly receivedAt: number;
  /** Why the query was answered as it was, set by the stage that decided; null = nothing did. */
  decision: Decision | null;
}

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
}

export interface Stage {
  resolve(q: Query): Answer | Promise<Answer>;
}
