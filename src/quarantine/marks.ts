// Client marks (device posture by DNS): a client that asked for a watch list's name carries the
// list's mark, e.g. "posture:3cx-desktop" for hosts that still resolve the trojanized app's
// update names. Kept in the state directory (written asynchronously and atomically, off the
// query path), bounded, and listed by GET /api/marks.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../storage/atomic.js';

export interface ClientMark {
  client: string;
  mark: string;
  /** The watch list and the name that marked it. */
  list: string;
  name: string;
  /** Epoch ms of the first and the latest hit. */
  since: number;
  lastSeen: number;
  count: number;
}

/** Marks kept at most; beyond it the least recently seen is dropped (and counted). */
const MAX_MARKS = 100_000;

export class ClientMarks {
  private readonly marks = new Map<string, ClientMark>();
  private readonly file: string;
  private saving: Promise<void> | null = null;
  private dirty = false;
  dropped = 0;
  /** The file existed but could not be read. */
  damaged = false;

  constructor(
    dir: string,
    private readonly onSaveError: (err: unknown) => void,
  ) {
    this.file = join(dir, 'marks.json');
    if (!existsSync(this.file)) return;
    try {
      for (const m of JSON.parse(readFileSync(this.file, 'utf8')) as ClientMark[]) if (typeof m.client === 'string' && typeof m.mark === 'string') this.marks.set(key(m.client, m.mark), m);
    } catch {
      this.damaged = true;
    }
  }

  /** Records a hit; true when the client did not carry this mark before. */
  add(client: string, mark: string, list: string, name: string, now: number): boolean {
    const k = key(client, mark);
    const m = this.marks.get(k);
    if (m !== undefined) {
      m.lastSeen = now;
      m.count++;
      // Re-insert: the map's order is least recently seen first.
      this.marks.delete(k);
      this.marks.set(k, m);
      return false;
    }
    if (this.marks.size >= MAX_MARKS) {
      const oldest = this.marks.keys().next().value;
      if (oldest !== undefined) this.marks.delete(oldest);
      this.dropped++;
    }
    this.marks.set(k, { client, mark, list, name, since: now, lastSeen: now, count: 1 });
    this.save();
    return true;
  }

  list(): ClientMark[] {
    return [...this.marks.values()].sort((a, b) => a.since - b.since);
  }

  /** Clients carrying `mark`. */
  clientsWith(mark: string): string[] {
    return this.list().filter((m) => m.mark === mark).map((m) => m.client);
  }

  /** Removes a client's marks (all, or one); how many were removed. */
  clear(client: string, mark?: string): number {
    let n = 0;
    for (const [k, m] of this.marks) {
      if (m.client === client && (mark === undefined || m.mark === mark)) {
        this.marks.delete(k);
        n++;
      }
    }
    if (n > 0) this.save();
    return n;
  }

  /** Waits for pending writes (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.saving !== null) await this.saving;
  }

  /** One write at a time; changes made meanwhile go out in the next one. */
  private save(): void {
    this.dirty = true;
    if (this.saving !== null) return;
    this.saving = (async () => {
      while (this.dirty) {
        this.dirty = false;
        try {
          await writeFileAtomicAsync(this.file, JSON.stringify(this.list()), false);
        } catch (err) {
          this.onSaveError(err);
        }
      }
      this.saving = null;
    })();
  }
}

function key(client: string, mark: string): string {
  return `${client}\u0000${mark}`;
}
