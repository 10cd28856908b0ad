// The fleet's connections to Redis (ioredis): one for commands, one subscribed to the fleet's
// channels (a subscribed connection can do nothing else). Both reconnect by themselves with
// backoff; commands fail at once while Redis is away (no offline queue) so nothing on the
// answering path ever waits for Redis. Every key and channel is under cluster.keyPrefix.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { OpLogger } from '../observe/oplog.js';
import { redactRedisUrl } from './config.js';

export class FleetKeys {
  constructor(readonly prefix: string) {}
  /** hash: name → EmergencyBlock JSON. */
  get blocks(): string {
    return `${this.prefix}emergency:blocks`;
  }
  /** hash: name → {at, actor, instance} of its removal (so an instance that was away does not bring it back). */
  get removed(): string {
    return `${this.prefix}emergency:removed`;
  }
  /** counter: increases with every change of the blocks. */
  get version(): string {
    return `${this.prefix}emergency:version`;
  }
  /** channel: {version, instance} after each change. */
  get changes(): string {
    return `${this.prefix}emergency:changes`;
  }
  /** hash per version: instance → {policyVersion, at}; kept an hour. */
  ack(version: number): string {
    return `${this.prefix}emergency:ack:${version}`;
  }
  /** channel: {version, instance, policyVersion, at} when an instance applied a version. */
  get acks(): string {
    return `${this.prefix}emergency:acks`;
  }
  get quarantine(): string {
    return `${this.prefix}quarantine:clients`;
  }
  get released(): string {
    return `${this.prefix}quarantine:released`;
  }
  get quarantineVersion(): string {
    return `${this.prefix}quarantine:version`;
  }
  get quarantineChanges(): string {
    return `${this.prefix}quarantine:changes`;
  }
  /** hash: instance → its last heartbeat record (kept while the instance is down, pruned after a day). */
  get instances(): string {
    return `${this.prefix}instances`;
  }
  /** string with a TTL of 3 heartbeats: the instance is alive. */
  alive(instance: string): string {
    return `${this.prefix}alive:${instance}`;
  }
  /** hash: sha256 → epoch ms the fleet first saw that version of the list. */
  list(name: string): string {
    return `${this.prefix}list:${name}`;
  }
  /** The fleet's c2-hit window for a (client, rule) key: who opened it, who saw it, their counts. */
  hit(key: string): { claim: string; seen: string; counts: string } {
    const d = digest(key);
    return { claim: `${this.prefix}hit:${d}`, seen: `${this.prefix}hit:${d}:seen`, counts: `${this.prefix}hit:${d}:counts` };
  }
  retro(key: string): string {
    return `${this.prefix}retro:${digest(key)}`;
  }
}

function digest(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 32);
}

export interface LinkEvents {
  /** (Re)connected: the fleet reconciles. */
  onReady(): void;
  onMessage(channel: string, message: string): void;
}

/** Reconnect delay after the n-th failed attempt: 100 ms doubling to 10 s, with jitter. */
export function backoffMs(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 10_000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export class FleetLink {
  readonly cmd: Redis;
  readonly sub: Redis;
  readonly url: string;
  private up = false;
  private changedAt = Date.now();
  private lastError: string | null = null;
  private closing = false;
  lastSync: number | null = null;

  constructor(
    url: string,
    private readonly channels: readonly string[],
    private readonly log: OpLogger,
    private readonly events: LinkEvents,
    connectTimeoutMs = 2000,
  ) {
    this.url = redactRedisUrl(url);
    const options = { lazyConnect: true, connectTimeout: connectTimeoutMs, retryStrategy: (n: number) => backoffMs(n), maxRetriesPerRequest: 1 };
    this.cmd = new Redis(url, { ...options, enableOfflineQueue: false, connectionName: 'c2dns-fleet' });
    // The subscriber queues its SUBSCRIBE until connected, however long that takes (an instance
    // started while Redis was down), and subscribes again after every reconnect.
    this.sub = new Redis(url, { ...options, maxRetriesPerRequest: null, enableOfflineQueue: true, autoResubscribe: true, connectionName: 'c2dns-fleet-sub' });
    this.cmd.on('error', (err: Error) => this.down(err.message));
    this.sub.on('error', (err: Error) => this.down(err.message));
    this.cmd.on('close', () => this.down(this.lastError ?? 'connection closed'));
    this.cmd.on('ready', () => this.ready());
    // A subscription that came back may have missed messages: reconcile then too.
    this.sub.on('ready', () => {
      if (this.up) this.events.onReady();
    });
    this.sub.on('message', (channel: string, message: string) => this.events.onMessage(channel, message));
  }

  get connected(): boolean {
    return this.up && this.cmd.status === 'ready';
  }

  get since(): number {
    return this.changedAt;
  }

  get problem(): string | null {
    return this.connected ? null : `Redis ${this.url} unreachable${this.lastError !== null ? ` (${this.lastError})` : ''}: serving the last known fleet state; changes made here are shared when it is back`;
  }

  /** First connection, waited for at most the connect timeout; false when Redis is not reachable (it keeps trying). */
  async start(): Promise<boolean> {
    void this.sub.connect().catch(() => undefined);
    void this.sub.subscribe(...this.channels).catch((err: Error) => this.log.warn({ err: err.message }, 'fleet: subscribe failed (retried on reconnect)'));
    try {
      await this.cmd.connect();
      return true;
    } catch (err) {
      this.down((err as Error).message);
      return false;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.up = false;
    this.sub.disconnect();
    try {
      await this.cmd.quit();
    } catch {
      this.cmd.disconnect();
    }
  }

  /** A command worked: for lastSync in /readyz. */
  synced(): void {
    this.lastSync = Date.now();
  }

  private ready(): void {
    if (!this.up) {
      this.up = true;
      this.changedAt = Date.now();
      if (this.lastError !== null) this.log.warn({ redis: this.url, after: this.lastError }, 'fleet: Redis reachable again: reconciling');
      this.lastError = null;
    }
    this.events.onReady();
  }

  private down(reason: string): void {
    if (this.closing) return;
    if (this.up || this.lastError === null) {
      this.log.error({ redis: this.url, err: reason }, 'fleet: Redis unreachable: serving the last known fleet state (retrying with backoff)');
      this.changedAt = Date.now();
    }
    this.up = false;
    this.lastError = reason;
  }
}
