// Emergency blocks: names an analyst pushes through the admin API on the day an attack is
// published, live at once (an extra, highest-priority source), persisted in the state directory
// so a restart keeps them, expiring on their own, and audited in the operational log.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../storage/atomic.js';
import { dirname, join } from 'node:path';
import { normalizeDomain } from '../blocklist/domain.js';
import type { Guard } from '../blocklist/guard.js';

export interface EmergencyBlock {
  name: string;
  reason: string;
  /** Epoch ms. */
  addedAt: number;
  /** Epoch ms, or null for no expiry. */
  expiresAt: number | null;
  actor: string;
}

export class EmergencyInputError extends Error {}

/** One change made on this instance (EmergencyStore.onEdit). */
export type EmergencyEdit = { op: 'add'; blocks: EmergencyBlock[] } | { op: 'remove'; name: string; at: number; actor: string };

const FILE = 'emergency-blocks.json';

/**
 * The emergency blocks stored in state directory `dir`, read only (the offline commands must not
 * write there); expired ones included. A damaged file gives no blocks and says why.
 */
export function readEmergencyBlocks(dir: string): { blocks: EmergencyBlock[]; problem: string | null } {
  const file = join(dir, FILE);
  if (!existsSync(file)) return { blocks: [], problem: null };
  try {
    const blocks = (JSON.parse(readFileSync(file, 'utf8')) as EmergencyBlock[]).filter((b) => typeof b.name === 'string');
    return { blocks, problem: null };
  } catch (err) {
    return { blocks: [], problem: (err as Error).message };
  }
}

export class EmergencyStore {
  private readonly file: string;
  private readonly blocks = new Map<string, EmergencyBlock>();
  /** Called after every change, with the live blocks (the feed manager republishes). */
  onChange: (blocks: EmergencyBlock[]) => void = () => {};
  /** Called after add() and remove() (not replace()), with what changed: a fleet writes it to Redis (src/fleet). */
  onEdit: (edit: EmergencyEdit) => void = () => {};

  constructor(
    dir: string,
    private readonly guard: Guard,
    private readonly audit: (what: string, detail: Record<string, unknown>) => void,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, FILE);
    this.reload();
  }

  /** Reads the file again (a cluster worker, after the owner changed it). */
  reload(): void {
    this.blocks.clear();
    const r = readEmergencyBlocks(dirname(this.file));
    if (r.problem !== null) this.audit('emergency block file damaged: ignored', { file: this.file, err: r.problem });
    for (const b of r.blocks) this.blocks.set(b.name, b);
  }

  list(): EmergencyBlock[] {
    const now = this.now();
    return [...this.blocks.values()].filter((b) => b.expiresAt === null || b.expiresAt > now);
  }

  /** Validates every name first (all or nothing), then adds them. */
  add(names: readonly string[], reason: string, expiresAt: number | null, actor: string): EmergencyBlock[] {
    if (names.length === 0) throw new EmergencyInputError('names: expected at least one name');
    if (reason.trim() === '') throw new EmergencyInputError('reason: expected a non-empty reason (it is audited)');
    if (expiresAt !== null && expiresAt <= this.now()) throw new EmergencyInputError('expiresAt: expected a time in the future');
    const normalized: string[] = [];
    for (const raw of names) {
      const n = normalizeDomain(raw);
      if (!n.ok) throw new EmergencyInputError(`names: "${raw}": ${n.reason}`);
      const refusal = this.guard.check(n.name);
      if (refusal !== null) throw new EmergencyInputError(`names: "${raw}": ${refusal.reason}`);
      normalized.push(n.name);
    }
    const added = normalized.map((name) => ({ name, reason, addedAt: this.now(), expiresAt, actor }));
    for (const b of added) this.blocks.set(b.name, b);
    this.save();
    this.audit('emergency block added', { names: normalized, reason, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(), actor });
    this.onChange(this.list());
    this.onEdit({ op: 'add', blocks: added });
    return added;
  }

  remove(raw: string, actor: string): boolean {
    const n = normalizeDomain(raw);
    const name = n.ok ? n.name : raw;
    if (!this.blocks.delete(name)) return false;
    this.save();
    this.audit('emergency block removed', { name, actor });
    this.onChange(this.list());
    this.onEdit({ op: 'remove', name, at: this.now(), actor });
    return true;
  }

  /**
   * Makes the blocks exactly `blocks`, as the fleet has them (another instance added or removed
   * some): saved and audited, but neither onChange (the caller publishes) nor onEdit. Returns the
   * names added and removed.
   */
  replace(blocks: readonly EmergencyBlock[], from: string): { added: string[]; removed: string[] } {
    const next = new Map(blocks.map((b) => [b.name, b] as const));
    const same = (a: EmergencyBlock, b: EmergencyBlock): boolean => a.addedAt === b.addedAt && a.expiresAt === b.expiresAt && a.reason === b.reason && a.actor === b.actor;
    const added = [...next.values()].filter((b) => !this.blocks.has(b.name) || !same(this.blocks.get(b.name)!, b)).map((b) => b.name);
    const removed = [...this.blocks.keys()].filter((n) => !next.has(n));
    if (added.length === 0 && removed.length === 0) return { added, removed };
    this.blocks.clear();
    for (const [n, b] of next) this.blocks.set(n, b);
    this.save();
    this.audit('emergency blocks changed by the fleet', { from, added, removed });
    return { added, removed };
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify([...this.blocks.values()], null, 1), true);
  }
}
