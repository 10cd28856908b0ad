// In-memory stand-ins for the components the admin API talks to (built elsewhere): emergency
// blocks, quarantine and security events. They record what the API asked of them.
import { AdminInputError, type EmergencyBlocks, type EmergencyEntry, type Quarantine, type QuarantineEntry, type SecurityEvents, type SecurityEventView } from '../../src/admin/context.js';

export class FakeEmergency implements EmergencyBlocks {
  readonly entries = new Map<string, EmergencyEntry>();
  readonly calls: { op: 'add' | 'remove'; names: readonly string[]; reason?: string; expiresAt?: number | null; actor: string }[] = [];
  /** Names this fake refuses, like a guard would. */
  readonly protectedNames = new Set<string>(['google.com']);

  list(): EmergencyEntry[] {
    return [...this.entries.values()];
  }

  async add(names: readonly string[], reason: string, expiresAt: number | null, actor: string): Promise<EmergencyEntry[]> {
    this.calls.push({ op: 'add', names: [...names], reason, expiresAt, actor });
    for (const n of names) if (this.protectedNames.has(n)) throw new AdminInputError(`"${n}" is protected shared infrastructure and cannot be blocked`);
    const now = new Date().toISOString();
    const out = names.map((name) => ({ name, reason, addedAt: now, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(), actor }));
    for (const e of out) this.entries.set(e.name, e);
    return out;
  }

  remove(name: string, actor: string): boolean {
    this.calls.push({ op: 'remove', names: [name], actor });
    return this.entries.delete(name);
  }
}

export class FakeQuarantine implements Quarantine {
  readonly entries = new Map<string, QuarantineEntry>();
  readonly released: { client: string; actor: string }[] = [];

  constructor(clients: string[] = []) {
    for (const client of clients) this.entries.set(client, { client, reason: 'queried 3 C2 names within 60 s', since: new Date().toISOString(), until: null });
  }

  list(): QuarantineEntry[] {
    return [...this.entries.values()];
  }

  release(client: string, actor: string): boolean {
    this.released.push({ client, actor });
    return this.entries.delete(client);
  }
}

export class FakeEvents implements SecurityEvents {
  readonly events: (SecurityEventView & { ms: number })[] = [];
  fail: Error | null = null;

  add(ms: number, kind: string, client: string | null): void {
    this.events.push({ ms, time: new Date(ms).toISOString(), kind, client, message: `${kind} from ${client ?? 'nobody'}`, details: { qname: 'akamaicontainer.com', tags: ['c2'] } });
  }

  since(epochMs: number): SecurityEventView[] {
    if (this.fail !== null) throw this.fail;
    return this.events.filter((e) => e.ms >= epochMs).map(({ ms: _ms, ...view }) => view);
  }
}
