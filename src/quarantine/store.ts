// Which clients are quarantined, why and until when. Persisted (atomically) in the state
// directory so a restart does not release an infected host.
//
// Off the query path (issue 10 item 11): a change only marks the store dirty; the file is written
// asynchronously (temp file, fsync, rename) FLUSH_DELAY_MS later, every change made meanwhile in
// the same write, one write at a time, and the JSON is built in chunks with turns of the event
// loop between them, so 10,000 entries never hold up an answer. A crash loses at most the
// changes of the last FLUSH_DELAY_MS (plus a write in progress); shutdown waits for flush().
// The store holds at most maxClients entries: a new client beyond that takes the place of the one
// whose quarantine was set or extended longest ago (with one duration for all, the first to end),
// counted in `evicted`: anyone in the allowed networks can have an address quarantined with a
// spoofed query, and that must not grow memory and the file without bound.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomicAsync } from '../storage/atomic.js';
import { join } from 'node:path';

/** How long changes are gathered before the file is written. */
export const FLUSH_DELAY_MS = 200;
/** After a failed write, the next try. */
const RETRY_MS = 5_000;
/** Entries serialised per turn of the event loop. */
const CHUNK = 500;

export interface QuarantineStoreOptions {
  /** Entries kept at most (quarantine.maxClients). Default 10,000. */
  maxClients?: number;
  /** Told after each write: null when it worked, else the error (the state is kept and retried). */
  onWrite?: (err: Error | null) => void;
}

export interface QuarantineEntry {
  /**
   * Who is quarantined: the client's MAC when a trusted forwarder gave one (so one host behind a
   * router is quarantined alone, whatever address it gets next), else its real IP address.
   */
  client: string;
  /** What put it there: list, rule and name of the C2 query, or "manual". */
  reason: string;
  since: number;
  until: number;
  /** The client's address, MAC, name and forwarder when it was quarantined (files from older versions: address = client). */
  address: string;
  mac: string | null;
  name: string | null;
  via: string | null;
}

/** What is known about a client besides its key (QueryEvent's client, mac, clientName, via). */
export interface QuarantineWho {
  address?: string;
  mac?: string | null;
  name?: string | null;
  via?: string | null;
}

export class QuarantineStore {
  private readonly entries = new Map<string, QuarantineEntry>();
  private readonly file: string;
  /** Entries kept at most (settable after construction: the server sets quarantine.maxClients). */
  maxClients: number;
  /** Told after each write: null when it worked, else the error (settable, as maxClients). */
  onWrite: (err: Error | null) => void;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  /** Entries dropped to make room at maxClients. */
  evicted = 0;
  /** Writes done and failed. */
  writes = 0;
  writeErrors = 0;

  constructor(
    dir: string,
    private readonly now: () => number = Date.now,
    options: QuarantineStoreOptions = {},
  ) {
    this.maxClients = options.maxClients ?? 10_000;
    this.onWrite = options.onWrite ?? (() => {});
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'quarantine.json');
    if (existsSync(this.file)) {
      try {
        const list = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<QuarantineEntry>[];
        for (const e of list) {
          if (typeof e.client !== 'string' || typeof e.until !== 'number' || e.until <= this.now()) continue;
          const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
          this.entries.set(e.client, {
            client: e.client,
            reason: str(e.reason) ?? '',
            since: typeof e.since === 'number' ? e.since : this.now(),
            until: e.until,
            address: str(e.address) ?? e.client,
            mac: str(e.mac),
            name: str(e.name),
            via: str(e.via),
          });
        }
      } catch {
        // A damaged file must not stop DNS; the entries in it are lost and that is logged by the caller.
        this.damaged = true;
      }
    }
  }

  /** The file existed but could not be read. */
  damaged = false;

  get size(): number {
    return this.entries.size;
  }

  /** The live entry for `client`, or undefined (expired entries are dropped here). */
  get(client: string): QuarantineEntry | undefined {
    const e = this.entries.get(client);
    if (e === undefined) return undefined;
    if (e.until <= this.now()) {
      this.entries.delete(client);
      this.save();
      return undefined;
    }
    return e;
  }

  /** Quarantines (or extends) a client; returns the entry and whether it is new. */
  add(client: string, reason: string, durationMs: number, who: QuarantineWho = {}): { entry: QuarantineEntry; created: boolean } {
    const now = this.now();
    const old = this.get(client);
    const entry: QuarantineEntry =
      old === undefined
        ? { client, reason, since: now, until: now + durationMs, address: who.address ?? client, mac: who.mac ?? null, name: who.name ?? null, via: who.via ?? null }
        : { ...old, until: Math.max(old.until, now + durationMs) };
    if (old === undefined) this.makeRoom();
    else this.entries.delete(client); // to the end: the map stays in the order entries were last set
    this.entries.set(client, entry);
    this.save();
    return { entry, created: old === undefined };
  }

  /** Sets an entry as another instance of the fleet has it (src/fleet); an expired one is ignored. */
  put(entry: QuarantineEntry): void {
    if (entry.until <= this.now()) return;
    if (!this.entries.delete(entry.client)) this.makeRoom();
    this.entries.set(entry.client, { ...entry });
    this.save();
  }

  release(client: string): boolean {
    const had = this.entries.delete(client);
    if (had) this.save();
    return had;
  }

  /**
   * Releases every live entry the operator may mean by `selector`: its key, its address, its MAC
   * or its name (compare canonical forms: schema's clientKey). Returns the entries released.
   */
  releaseMatching(selector: string): QuarantineEntry[] {
    const out: QuarantineEntry[] = [];
    for (const e of this.list()) {
      if (e.client === selector || e.address === selector || e.mac === selector || e.name === selector) {
        this.entries.delete(e.client);
        out.push(e);
      }
    }
    if (out.length > 0) this.save();
    return out;
  }

  list(): QuarantineEntry[] {
    const now = this.now();
    return [...this.entries.values()].filter((e) => e.until > now);
  }

  /** At maxClients: the entry set longest ago goes (the map's first). */
  private makeRoom(): void {
    while (this.entries.size >= this.maxClients) {
      const first = this.entries.keys().next();
      if (first.done === true) return;
      this.entries.delete(first.value);
      this.evicted++;
    }
  }

  /** Marks the file out of date; it is written FLUSH_DELAY_MS later with whatever changed by then. */
  private save(): void {
    this.dirty = true;
    this.schedule(FLUSH_DELAY_MS);
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null || this.writing !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.startWrite();
    }, delayMs);
    this.timer.unref();
  }

  private startWrite(): void {
    this.writing = this.write().finally(() => {
      this.writing = null;
      if (this.dirty) this.schedule(this.lastFailed ? RETRY_MS : FLUSH_DELAY_MS);
    });
  }

  private lastFailed = false;

  private async write(): Promise<void> {
    this.dirty = false;
    const list = this.list();
    const parts: string[] = [];
    for (let i = 0; i < list.length; i += CHUNK) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      for (let j = i; j < Math.min(list.length, i + CHUNK); j++) parts.push(JSON.stringify(list[j]));
    }
    try {
      await writeFileAtomicAsync(this.file, parts.length === 0 ? '[]\n' : `[\n${parts.join(',\n')}\n]\n`, true);
      this.writes++;
      this.lastFailed = false;
      this.onWrite(null);
    } catch (err) {
      this.dirty = true; // still to be written
      this.writeErrors++;
      this.lastFailed = true;
      this.onWrite(err as Error);
    }
  }

  /** Writes what is not written yet and waits for it (shutdown, tests). Never throws; errors go to onWrite. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
        this.startWrite();
      }
      if (this.writing !== null) {
        await this.writing;
        if (this.lastFailed) return; // do not spin on a disk that refuses; the next change retries
        continue;
      }
      if (!this.dirty) return;
      this.schedule(0);
    }
  }
}
