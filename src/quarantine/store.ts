// Which clients are quarantined, why and until when. Persisted (atomically) in the state
// directory so a restart does not release an infected host.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../storage/atomic.js';
import { join } from 'node:path';

export interface QuarantineEntry {
  client: string;
  /** What put it there: list, rule and name of the C2 query, or "manual". */
  reason: string;
  since: number;
  until: number;
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
        const list = JSON.parse(readFileSync(this.file, 'utf8')) as QuarantineEntry[];
        for (const e of list) if (typeof e.client === 'string' && e.until > this.now()) this.entries.set(e.client, e);
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
  add(client: string, reason: string, durationMs: number): { entry: QuarantineEntry; created: boolean } {
    const now = this.now();
    const old = this.get(client);
    const entry: QuarantineEntry = old === undefined ? { client, reason, since: now, until: now + durationMs } : { ...old, until: Math.max(old.until, now + durationMs) };
    this.entries.set(client, entry);
    this.save();
    return { entry, created: old === undefined };
  }

  release(client: string): boolean {
    const had = this.entries.delete(client);
    if (had) this.save();
    return had;
  }

  list(): QuarantineEntry[] {
    const now = this.now();
    return [...this.entries.values()].filter((e) => e.until > now);
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.list(), null, 1), true);
  }
}
