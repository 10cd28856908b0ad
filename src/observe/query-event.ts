// The one record every answered query produces. The dispatcher builds it once and hands it to
// each observer (query log, metrics, security events, history) in turn; observers must not keep
// it beyond the call unless they copy what they need, and must not throw.
import type { Decision } from '../policy/decision.js';
import type { Action, Transport } from '../resolve/types.js';

export interface QueryEvent {
  /** Epoch ms when the answer was sent. */
  time: number;
  /** The real client: the address a trusted forwarder spoke for, else the socket peer. */
  client: string;
  /** The socket peer's port (the forwarder's, when one spoke for the client). */
  clientPort: number;
  /** The trusted forwarder that spoke for the client, or null. */
  via: string | null;
  /** The client's MAC, from a trusted forwarder, or null. */
  mac: string | null;
  /** The client's name from clients.names, or null. */
  clientName: string | null;
  /** The client's policy group (config `groups`); absent means "default". */
  group?: string;
  transport: Transport;
  /** Lower-cased query name, no trailing dot. */
  qname: string;
  qtype: number;
  action: Action;
  /** Why it was answered so (list, rule, trigger, chain), or null when nothing decided. */
  decision: Decision | null;
  /** Response code sent; -1 when nothing was sent (RPZ DROP). */
  rcode: number;
  latencyMs: number;
  upstream: string | null;
  truncated: boolean;
  /** The bytes sent (after truncation), or null; parse lazily and only if needed. */
  reply: Buffer | null;
}

export interface QueryObserver {
  onQuery(e: QueryEvent): void;
}
