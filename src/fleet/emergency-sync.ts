// Emergency blocks shared by the fleet. Redis holds them in a hash (name → block), the removals
// in another (so an instance that was away does not bring a removed block back) and a version
// counter raised by every change, announced on a channel. Each run — after a change made here,
// an announcement, a heartbeat that finds a newer version, a reconnect — merges this instance's
// blocks with Redis's (merge.ts), writes the difference, applies the result to the local
// EmergencyStore (so the policy snapshot includes it) and acknowledges with the policy version
// it now serves.
import type { EmergencyBlock, EmergencyEdit, EmergencyStore } from '../feeds/emergency.js';
import type { OpLogger } from '../observe/oplog.js';
import type { FleetKeys, FleetLink } from './link.js';
import { blockJson, mergeBlocks, parseBlock, type Tombstone } from './merge.js';
import { mergeWithRedis, type SharedHash } from './shared-hash.js';
import { Serial } from './serial.js';

/** Acknowledgement keys are kept this long (seconds). */
const ACK_TTL_SECONDS = 3600;

export interface AckMessage {
  version: number;
  instance: string;
  policyVersion: number;
  /** Epoch ms. */
  at: number;
}

export interface EmergencySyncOptions {
  link: FleetLink;
  keys: FleetKeys;
  instance: string;
  store: EmergencyStore;
  /** Publishes the blocks in the policy (FeedManager.setEmergency); resolves when the snapshot is live. */
  apply(blocks: EmergencyBlock[]): Promise<void>;
  /** Resolves when the latest local publish of the blocks is live. */
  settled(): Promise<void>;
  policyVersion(): number;
  log: OpLogger;
  /** Names another instance blocked, once applied here (retro-hunt in this instance's history). */
  onBlockedByFleet?: (names: string[]) => void;
  now?: () => number;
}

export class EmergencySync {
  /** The fleet's version this instance has applied. */
  applied = 0;
  private editSeq = 0;
  /** editSeq as of the last successful merge: less means a change made here is not in Redis yet. */
  private mergedSeq = 0;
  private readonly removals = new Map<string, Tombstone>();
  private waiters: ((v: number | null) => void)[] = [];
  private latest: Promise<number | null> = Promise.resolve(null);
  private readonly serial: Serial;
  private readonly now: () => number;
  private readonly hash: SharedHash<EmergencyBlock>;

  constructor(private readonly o: EmergencySyncOptions) {
    this.now = o.now ?? Date.now;
    const k = o.keys;
    this.hash = { entries: k.blocks, tombs: k.removed, version: k.version, changes: k.changes, what: 'emergency blocks', key: (b) => b.name, parse: parseBlock, json: blockJson, merge: mergeBlocks };
    this.serial = new Serial(
      () => this.run(),
      (err) => o.log.error({ err }, 'fleet: emergency blocks not synchronised (retried at the next change or heartbeat)'),
    );
  }

  /** EmergencyStore.onEdit: a change made here goes to Redis. */
  edited(edit: EmergencyEdit): void {
    this.editSeq++;
    if (edit.op === 'remove') this.removals.set(edit.name, { at: edit.at, actor: edit.actor, instance: this.o.instance });
    this.latest = new Promise((resolve) => this.waiters.push(resolve));
    void this.serial.request();
  }

  /** The fleet version carrying the latest change made here; null when it could not be written (Redis unreachable). */
  lastChange(): Promise<number | null> {
    return this.latest;
  }

  /** Merge with Redis now (a change was announced, a reconnect, a newer version seen). */
  sync(): Promise<void> {
    return this.serial.request();
  }

  /** A change made here is not in Redis yet (the heartbeat retries). */
  get unsent(): boolean {
    return this.editSeq !== this.mergedSeq;
  }

  idle(): Promise<void> {
    return this.serial.idle();
  }

  private async run(): Promise<void> {
    const waiters = this.waiters.splice(0);
    if (!this.o.link.connected) {
      for (const w of waiters) w(null); // kept here: written by the reconcile when Redis is back
      return;
    }
    try {
      await this.reconcile();
    } catch (err) {
      for (const w of waiters) w(null);
      throw err;
    }
    for (const w of waiters) w(this.applied);
    await this.ack();
  }

  private async reconcile(): Promise<void> {
    const seq = this.editSeq;
    const removals = new Map(this.removals);
    const local = new Map(this.o.store.list().map((b) => [b.name, b] as const));
    const { plan: p, version, wrote } = await mergeWithRedis(this.o.link.cmd, this.hash, { local, removals, instance: this.o.instance, now: this.now() }, this.o.log);
    if (wrote) this.o.log.info({ version, set: p.set.map((b) => b.name), removed: [...p.del, ...p.tomb].map(([n]) => n) }, 'fleet: emergency blocks written to Redis');
    for (const [name, t] of removals) if (this.removals.get(name) === t) this.removals.delete(name);
    this.o.link.synced();
    this.mergedSeq = seq;
    // A change made here while Redis answered is not in `p`: the run it requested applies it.
    if (this.editSeq === seq) {
      const changed = this.o.store.replace([...p.merged.values()], 'fleet');
      if (changed.added.length > 0 || changed.removed.length > 0) {
        await this.o.apply(this.o.store.list());
        this.o.log.info({ version, added: changed.added, removed: changed.removed }, 'fleet: emergency blocks applied');
        if (changed.added.length > 0) this.o.onBlockedByFleet?.(changed.added);
      }
    }
    this.applied = version;
  }

  /** Tells the fleet which version this instance serves, with its policy version. */
  private async ack(): Promise<void> {
    await this.o.settled();
    const a: AckMessage = { version: this.applied, instance: this.o.instance, policyVersion: this.o.policyVersion(), at: this.now() };
    const key = this.o.keys.ack(a.version);
    await this.o.link.cmd
      .multi()
      .hset(key, a.instance, JSON.stringify({ policyVersion: a.policyVersion, at: a.at }))
      .expire(key, ACK_TTL_SECONDS)
      .publish(this.o.keys.acks, JSON.stringify(a))
      .exec();
  }
}

export function parseAck(text: string): AckMessage | null {
  try {
    const v = JSON.parse(text) as Partial<AckMessage>;
    if (typeof v.version !== 'number' || typeof v.instance !== 'string' || typeof v.policyVersion !== 'number' || typeof v.at !== 'number') return null;
    return { version: v.version, instance: v.instance, policyVersion: v.policyVersion, at: v.at };
  } catch {
    return null;
  }
}
