// Quarantine shared by the fleet: a client quarantined on any instance is quarantined on every
// one, and released everywhere. The local QuarantineStore stays what the answering path reads
// (same interface, same file); this subclass also tells the fleet about changes made here, and
// the sync merges them with Redis (a hash of entries, a hash of releases, a version counter and
// a channel, as for emergency blocks) and puts the fleet's entries into the local store.
import type { OpLogger } from '../observe/oplog.js';
import { QuarantineStore, type QuarantineEntry } from '../quarantine/store.js';
import type { FleetKeys, FleetLink } from './link.js';
import { mergeQuarantine, parseQuarantine, quarantineJson, type Tombstone } from './merge.js';
import { mergeWithRedis, type SharedHash } from './shared-hash.js';
import { Serial } from './serial.js';

/** An extension of a quarantine shorter than this is not sent to the fleet on its own. */
const EXTENSION_MS = 60_000;

export class SharedQuarantineStore extends QuarantineStore {
  /** Set by QuarantineSync. */
  onEdit: (release: { client: string; at: number; actor: string } | null) => void = () => {};
  private applying = false;
  private readonly sentUntil = new Map<string, number>();

  override add(...args: Parameters<QuarantineStore['add']>): ReturnType<QuarantineStore['add']> {
    const r = super.add(...args);
    if (this.applying) return r;
    const sent = this.sentUntil.get(r.entry.client);
    if (r.created || sent === undefined || r.entry.until - sent >= EXTENSION_MS) {
      this.sentUntil.set(r.entry.client, r.entry.until);
      this.onEdit(null);
    }
    return r;
  }

  override release(client: string): boolean {
    const had = super.release(client);
    if (had && !this.applying) this.released([client]);
    return had;
  }

  override releaseMatching(selector: string): QuarantineEntry[] {
    const out = super.releaseMatching(selector);
    if (out.length > 0 && !this.applying) this.released(out.map((e) => e.client));
    return out;
  }

  /** The fleet's state for one client: quarantined as `entry`, or released (null). Not sent back. */
  applyFromFleet(client: string, entry: QuarantineEntry | null): void {
    this.applying = true;
    try {
      if (entry !== null) this.put(entry);
      else super.release(client);
      this.sentUntil.delete(client);
    } finally {
      this.applying = false;
    }
  }

  private released(clients: string[]): void {
    const at = Date.now();
    for (const client of clients) {
      this.sentUntil.delete(client);
      this.onEdit({ client, at, actor: 'release' });
    }
  }
}

export interface QuarantineSyncOptions {
  link: FleetLink;
  keys: FleetKeys;
  instance: string;
  store: SharedQuarantineStore;
  log: OpLogger;
  now?: () => number;
}

export class QuarantineSync {
  applied = 0;
  private editSeq = 0;
  /** editSeq as of the last successful merge: less means a change made here is not in Redis yet. */
  private mergedSeq = 0;
  private readonly releases = new Map<string, Tombstone>();
  private readonly serial: Serial;
  private readonly now: () => number;
  private readonly hash: SharedHash<QuarantineEntry>;

  constructor(private readonly o: QuarantineSyncOptions) {
    this.now = o.now ?? Date.now;
    const k = o.keys;
    this.hash = { entries: k.quarantine, tombs: k.released, version: k.quarantineVersion, changes: k.quarantineChanges, what: 'quarantine entries', key: (e) => e.client, parse: parseQuarantine, json: quarantineJson, merge: mergeQuarantine };
    this.serial = new Serial(
      () => this.run(),
      (err) => o.log.error({ err }, 'fleet: quarantine not synchronised (retried at the next change or heartbeat)'),
    );
    o.store.onEdit = (release) => {
      this.editSeq++;
      if (release !== null) this.releases.set(release.client, { at: release.at, actor: release.actor, instance: o.instance });
      void this.serial.request();
    };
  }

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
    if (!this.o.link.connected) return; // kept here: merged when Redis is back
    const seq = this.editSeq;
    const releases = new Map(this.releases);
    const local = new Map(this.o.store.list().map((e) => [e.client, e] as const));
    const { plan: p, version } = await mergeWithRedis(this.o.link.cmd, this.hash, { local, removals: releases, instance: this.o.instance, now: this.now() }, this.o.log);
    for (const [client, t] of releases) if (this.releases.get(client) === t) this.releases.delete(client);
    this.o.link.synced();
    this.mergedSeq = seq;
    if (this.editSeq === seq) {
      const quarantined: string[] = [];
      const released: string[] = [];
      for (const [client, e] of p.merged) {
        const mine = this.o.store.get(client);
        if (mine === undefined || quarantineJson(mine) !== quarantineJson(e)) {
          if (mine === undefined) quarantined.push(client);
          this.o.store.applyFromFleet(client, e);
        }
      }
      for (const e of this.o.store.list()) {
        if (!p.merged.has(e.client)) {
          this.o.store.applyFromFleet(e.client, null);
          released.push(e.client);
        }
      }
      if (quarantined.length > 0 || released.length > 0) this.o.log.warn({ version, quarantined, released }, 'fleet: quarantine changed by another instance');
    }
    this.applied = version;
  }
}
