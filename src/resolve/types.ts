// The contract between pipeline stages: a stage answers a Query itself or hands it to `next`.
import type { ParsedQuery } from '../dns/query.js';
import type { StoredAnswer } from '../dns/relay.js';
import type { RuleMatch } from '../blocklist/rule.js';

export type Transport = 'udp' | 'tcp';

export type Action = 'blocked' | 'allowed' | 'cached' | 'refused' | 'servfail' | 'formerr' | 'notimp';

export interface Query {
  /** The client's message as received. */
  readonly msg: Buffer;
  readonly pq: ParsedQuery;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly transport: Transport;
  /** performance.now() at receipt. */
  readonly receivedAt: number;
  /** The policy stage's finding (a block, or an allowlist entry that let the name through). */
  match: RuleMatch | null;
}

export interface Answer {
  action: Action;
  /** The complete reply for this client, before transport size limits; null = send nothing (RPZ DROP). */
  reply: Buffer | null;
  /** An upstream answer the cache may keep. */
  stored: StoredAnswer | null;
  /** Which upstream answered (host:port), when one did. */
  upstream: string | null;
}

export interface Stage {
  resolve(q: Query): Answer | Promise<Answer>;
}
