// The fleet's shapes as the admin API, /readyz and the CLI see them. Types only: importing this
// file loads nothing (no Redis client) into a single instance.

/** This instance's link to the fleet, in /readyz (degraded, never unready: DNS does not depend on Redis). */
export interface FleetReadiness {
  instance: string;
  /** The Redis URL without its password. */
  redis: string;
  connected: boolean;
  /** ISO 8601: since when connected or disconnected. */
  since: string;
  /** Why the fleet link is degraded (local state is served, changes are shared when Redis is back); null when connected. */
  problem: string | null;
  /** The fleet's emergency-block version this instance has applied (0: none yet). */
  emergencyVersion: number;
  /** ISO 8601 of the last successful exchange with Redis, or null. */
  lastSync: string | null;
}

/** One instance's acknowledgement of a change. */
export interface AckView {
  instance: string;
  acked: boolean;
  /** The policy version it serves with the change (each instance counts its own). */
  policyVersion: number | null;
  /** Milliseconds from the request to its acknowledgement. */
  ms: number | null;
}

/** What `?wait=1` reports: which instances applied the change, and how fast. */
export interface Propagation {
  /** The fleet's emergency-block version that carries the change; null when it could not be written to Redis. */
  version: number | null;
  /** Every instance alive when the change was made acknowledged it in time. */
  complete: boolean;
  /** Instances expected (alive at the change, and any other that acknowledged). */
  expected: number;
  applied: number;
  elapsedMs: number;
  instances: AckView[];
  /** Instances that did not acknowledge within cluster.ackTimeoutMs. */
  missing: string[];
  /** One line for humans, e.g. "applied on 3/3 instances in 140 ms". */
  summary: string;
}

export interface FleetListView {
  list: string;
  /** sha256 of the list's last good copy this instance serves; null when it has none. */
  sha256: string | null;
  entries: number;
  /** ISO 8601 of the list's last successful update here, or null. */
  lastSuccess: string | null;
  /** ISO 8601: when the fleet first saw this version of the list (any instance), or null. */
  versionSeen: string | null;
  /** Another live instance serves a newer version of this list (or this one has no copy). */
  behind: boolean;
}

export interface FleetInstanceView {
  instance: string;
  /** This is the instance that answered. */
  self: boolean;
  /** Its heartbeat is current (it missed fewer than 3). */
  alive: boolean;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  lastHeartbeat: string;
  heartbeatAgeSeconds: number;
  policyVersion: number;
  emergencyVersion: number;
  emergencyBlocks: number;
  quarantined: number;
  lists: FleetListView[];
  /** Names of the lists it serves an older version of than another live instance. */
  behind: string[];
  /** true when `behind` is not empty (and it is alive). */
  flagged: boolean;
}

export interface FleetView {
  /** The instance that answered. */
  instance: string;
  redis: string;
  connected: boolean;
  heartbeatSeconds: number;
  /** The fleet's emergency-block version in Redis. */
  emergencyVersion: number;
  instances: FleetInstanceView[];
  /** Per list served in versions that differ, the newest one and who is behind it. */
  drift: { list: string; newest: string; newestSeen: string | null; behind: string[] }[];
}

/** What the admin API needs from the fleet (AdminContext.fleet). */
export interface FleetAdmin {
  view(): Promise<FleetView>;
  /** Waits until every live instance acknowledged the latest change made here, or cluster.ackTimeoutMs after `startedAt` (epoch ms). */
  confirm(startedAt: number): Promise<Propagation>;
}
