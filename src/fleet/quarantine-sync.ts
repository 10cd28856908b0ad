// Quarantine shared by the fleet: a client quarantined on any instance is quarantined on every
// one, and released everywhere. The local QuarantineStore stays what the answering path reads
// (same interface, same file); this subclass also tells the fleet about changes made here, and
// the sync merges them with Redis (a hash of entries, a hash of releases, a version counter and
// a channel, as for emergency blocks) and puts the fleet's entries into the local store.
import type { OpLogger } from '../observe/oplog.js';
import { QuarantineStore, type QuarantineEntry } from '../quarantine/store.js';
import { results } from './emergency-sync.js';
import type { FleetKeys, FleetLink } from './link.js';
import { hasWrites, mergeQuarantine, parseHash, parseQuarantine, parseTombstone, quarantineJson, type Tombstone } from './merge.js';
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

  constructor(private readonly o: QuarantineSyncOptions) {
    this.now = o.now ?? Date.now;
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
    const { cmd } = this.o.link;
    const k = this.o.keys;
    const [entriesRes, releasedRes, versionRes] = results(await cmd.multi().hgetall(k.quarantine).hgetall(k.released).get(k.quarantineVersion).exec(), 3);
    const remote = parseHash(entriesRes as Record<string, string>, parseQuarantine);
    const tombs = parseHash(releasedRes as Record<string, string>, (_k, t) => parseTombstone(t));
    if (remote.bad > 0) this.o.log.warn({ key: k.quarantine, malformed: remote.bad }, 'fleet: malformed quarantine entries in Redis ignored');
    let version = Number(versionRes ?? 0);
    const seq = this.editSeq;
    const now = this.now();
    const local = new Map(this.o.store.list().map((e) => [e.client, e] as const));
    const releases = new Map(this.releases);
    const p = mergeQuarantine({ local, localRemovals: releases, remote: remote.map, tombs: tombs.map, now });
    if (hasWrites(p) || p.pruneEntries.length > 0 || p.pruneTombs.length > 0) {
      const m = cmd.multi();
      for (const e of p.set) m.hset(k.quarantine, e.client, quarantineJson(e)).hdel(k.released, e.client);
      for (const [client, t] of [...p.del, ...p.tomb]) m.hdel(k.quarantine, client).hset(k.released, client, JSON.stringify(t));
      for (const client of p.pruneEntries) m.hdel(k.quarantine, client);
      for (const client of p.pruneTombs) m.hdel(k.released, client);
      if (hasWrites(p)) m.incr(k.quarantineVersion);
      const w = results(await m.exec(), -1);
      if (hasWrites(p)) {
        version = Number(w[w.length - 1]);
        await cmd.publish(k.quarantineChanges, JSON.stringify({ version, instance: this.o.instance }));
      }
    }
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
