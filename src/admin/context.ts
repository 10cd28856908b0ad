// What the admin API needs from the rest of c2dns, as narrow interfaces: emergency blocks,
// quarantine and security events are built by other components, and the API only sees these
// shapes. Everything returned here is sent as JSON as it is, so times are ISO 8601 strings.
import type { CheckResult } from '../policy/explain.js';
import type { FeedManager } from '../feeds/manager.js';
import type { Metrics } from '../observe/metrics.js';
import type { FleetAdmin } from '../fleet/types.js';
import type { ConsoleFeed } from './console/feed.js';
import type { ReadinessReport, StaleList } from './readiness.js';

/** Sync or async: implementations may persist before answering. */
export type Awaitable<T> = T | Promise<T>;

export interface EmergencyEntry {
  /** Normalised name (lower case, A-labels, no trailing dot); blocks the name and its subdomains. */
  name: string;
  reason: string;
  /** ISO 8601. */
  addedAt: string;
  /** ISO 8601, or null for no expiry. */
  expiresAt: string | null;
  /** Who added it, e.g. "api 127.0.0.1". */
  actor: string;
}

export interface EmergencyBlocks {
  list(): Awaitable<EmergencyEntry[]>;
  /**
   * Adds (or renews) blocks for already-normalised names; returns the entries as stored.
   * `expiresAt`: epoch ms, or null for no expiry. Throw AdminInputError to refuse a name
   * (e.g. one the guard protects): the API answers 400 with its message.
   */
  add(names: readonly string[], reason: string, expiresAt: number | null, actor: string): Awaitable<EmergencyEntry[]>;
  /** false when no such block exists. */
  remove(name: string, actor: string): Awaitable<boolean>;
}

export interface QuarantineEntry {
  /** Who is quarantined: the MAC address when a trusted forwarder gave one, else the IP address. */
  client: string;
  reason: string;
  /** ISO 8601. */
  since: string;
  /** ISO 8601, or null until released by hand. */
  until: string | null;
  /** The address, MAC, name (clients.names) and forwarder it had when quarantined. */
  address?: string;
  mac?: string | null;
  name?: string | null;
  via?: string | null;
}

export interface Quarantine {
  list(): Awaitable<QuarantineEntry[]>;
  /** Releases the client(s) an IP address, MAC address or name means; false when none is quarantined. */
  release(client: string, actor: string): Awaitable<boolean>;
}

export interface MarkView {
  client: string;
  /** e.g. "posture:3cx-desktop". */
  mark: string;
  /** The watch list and the name that marked the client. */
  list: string;
  name: string;
  /** ISO 8601. */
  since: string;
  lastSeen: string;
  count: number;
}

export interface Marks {
  list(): Awaitable<MarkView[]>;
}

export interface SecurityEventView {
  /** ISO 8601. */
  time: string;
  /** e.g. "blocked-query", "quarantined", "emergency-block", "list-update-rejected". */
  kind: string;
  /** Client IP address when the event concerns one. */
  client: string | null;
  /** One line for humans. */
  message: string;
  /** Extra fields (qname, list, rule, tags…), JSON values only. */
  details: Record<string, string | number | boolean | null | readonly string[]>;
}

export interface SecurityEvents {
  /** Events at or after `epochMs`, oldest first. */
  since(epochMs: number): Awaitable<SecurityEventView[]>;
}

export interface LogReopenResult {
  /** false when the query log goes to stdout or is off: there is no file to reopen. */
  reopened: boolean;
  /** log.destination: "stdout" or the file path. */
  destination: string;
  /** One line for humans. */
  detail: string;
}

/** POST /api/reload and SIGHUP: what a configuration reload did (server/reload.ts). */
export interface ConfigReload {
  /** ok: applied; invalid: the file was refused, the running configuration stays; failed: valid, but a part could not be applied. */
  result: 'ok' | 'invalid' | 'failed';
  /** Why it was refused or what failed; null when ok. */
  problem: string | null;
  /** Changed keys applied to the running server. */
  applied: string[];
  /** Changed keys that only take effect after a restart (the running value stays until then). */
  needsRestart: string[];
  /** Listen entries bound and closed, as bound. */
  listen: { added: string[]; removed: string[] };
  /** Lists added, removed, changed, and URL lists with no copy yet; null when the lists did not change. */
  lists: { added: string[]; removed: string[]; changed: string[]; failed: string[] } | null;
}

/** /api/status `udp`: `batch` = the native recvmmsg/sendmmsg addon (counters summed over its sockets), `js` = node:dgram. */
export interface UdpStatus {
  path: 'batch' | 'js';
  /** Native path only: datagrams received, batches (calls into JavaScript), answers sent, sendmmsg calls, answers dropped on a full send buffer, send errors. */
  received?: number;
  batches?: number;
  sent?: number;
  sendCalls?: number;
  dropped?: number;
  errors?: number;
}

export interface AdminContext {
  feeds: FeedManager;
  /** The Decision c2dns would make for a name or an IP address (live lists and emergency blocks). */
  check(input: string, group?: string): CheckResult;
  emergency: EmergencyBlocks;
  quarantine: Quarantine;
  /** Clients marked by watch lists. */
  marks: Marks;
  /** The stage chain's names, in the order a query meets them. */
  chain: readonly string[];
  /** Which UDP implementation serves (server.udpBatch) and, for the native one, its counters; absent or null: not known. */
  udp?: () => UdpStatus | null;
  events: SecurityEvents;
  metrics: Metrics;
  /** See readiness.ts: readinessReport(feeds, upstreamHealth, staleLists). */
  readiness(): ReadinessReport;
  /** Lists older than their staleness threshold (another component decides the thresholds). */
  staleLists(): readonly StaleList[];
  /**
   * Reopens the query log file at its path, after logrotate moved it away (as SIGUSR1 does).
   * Rejects when the new file cannot be opened: lines then keep going to the previous file.
   */
  reopenLog(): Awaitable<LogReopenResult>;
  /** Reads the configuration file again and applies it (as SIGHUP does before refreshing the lists); absent: not supported. */
  reload?(actor: string): Promise<ConfigReload>;
  /** Bearer token for mutating calls; null = mutating calls are refused (403). */
  token: string | null;
  /** Epoch ms the process started serving; default: when the admin server started. */
  startedAt?: number;
  /** The web console's live query ring, per-minute counters and history directory; its data routes answer 404 without it. */
  console?: ConsoleFeed;
  /** The fleet (config `cluster`): GET /api/fleet and ?wait=1 acknowledgements; absent for a single instance. */
  fleet?: FleetAdmin;
}

/** Thrown by an implementation to refuse caller input: becomes 400 {error: "bad_request", detail: message}. */
export class AdminInputError extends Error {
  override readonly name = 'AdminInputError';
}
