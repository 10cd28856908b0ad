// Which clients are quarantined, why and until when. Persisted (atomically) in the state
// directory so a restart does not release an infected host.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../storage/atomic.js';
import { join } from 'node:path';

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

  constructor(
    dir: string,
    private readonly now: () => number = Date.now,
  ) {
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
    this.entries.set(client, entry);
    this.save();
    return { entry, created: old === undefined };
  }

  /** Sets an entry as another instance of the fleet has it (src/fleet); an expired one is ignored. */
  put(entry: QuarantineEntry): void {
    if (entry.until <= this.now()) return;
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

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.list(), null, 1), true);
  }
}
