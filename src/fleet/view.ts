// The fleet view (GET /api/fleet, `c2dns fleet`) from the instances' heartbeat records: who is
// alive, which policy and emergency-block version each serves, and which version of each list.
// Lists are fetched by each instance on its own, so versions may differ for a while after an
// update; the newest version of a list is the one the fleet saw first most recently (Redis keeps
// when each sha256 was first reported), and a live instance serving another one is flagged.
import type { FleetInstanceView, FleetListView } from './types.js';

export interface HeartbeatList {
  list: string;
  sha256: string | null;
  entries: number;
  /** Epoch ms, or null. */
  lastSuccess: number | null;
}

/** What an instance writes at each heartbeat. */
export interface HeartbeatRecord {
  instance: string;
  /** Random per process: two live processes with one name show as a clash. */
  runId: string;
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  heartbeatAt: number;
  policyVersion: number;
  emergencyVersion: number;
  quarantineVersion: number;
  emergencyBlocks: number;
  quarantined: number;
  lists: HeartbeatList[];
}

export function parseHeartbeat(text: string): HeartbeatRecord | null {
  try {
    const v = JSON.parse(text) as Partial<HeartbeatRecord>;
    if (typeof v.instance !== 'string' || typeof v.heartbeatAt !== 'number' || !Array.isArray(v.lists)) return null;
    return {
      instance: v.instance,
      runId: String(v.runId ?? ''),
      host: String(v.host ?? ''),
      pid: Number(v.pid ?? 0),
      version: String(v.version ?? 'unknown'),
      startedAt: Number(v.startedAt ?? v.heartbeatAt),
      heartbeatAt: v.heartbeatAt,
      policyVersion: Number(v.policyVersion ?? 0),
      emergencyVersion: Number(v.emergencyVersion ?? 0),
      quarantineVersion: Number(v.quarantineVersion ?? 0),
      emergencyBlocks: Number(v.emergencyBlocks ?? 0),
      quarantined: Number(v.quarantined ?? 0),
      lists: v.lists
        .filter((l): l is HeartbeatList => typeof l === 'object' && l !== null && typeof (l as HeartbeatList).list === 'string')
        .map((l) => ({ list: l.list, sha256: typeof l.sha256 === 'string' ? l.sha256 : null, entries: Number(l.entries ?? 0), lastSuccess: typeof l.lastSuccess === 'number' ? l.lastSuccess : null })),
    };
  } catch {
    return null;
  }
}

export interface ViewInput {
  records: { record: HeartbeatRecord; alive: boolean }[];
  /** Per list: sha256 → epoch ms the fleet first saw it. */
  firstSeen: ReadonlyMap<string, ReadonlyMap<string, number>>;
  self: string;
  now: number;
}

export interface ViewOutput {
  instances: FleetInstanceView[];
  drift: { list: string; newest: string; newestSeen: string | null; behind: string[] }[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The newest version of each list among live instances: sha256 and when the fleet first saw it. */
export function newestVersions(input: ViewInput): Map<string, { sha: string; seen: number | null }> {
  const served = new Map<string, Map<string, number>>(); // list → sha → live instances serving it
  for (const { record, alive } of input.records) {
    if (!alive) continue;
    for (const l of record.lists) {
      if (l.sha256 === null) continue;
      const m = served.get(l.list) ?? new Map<string, number>();
      m.set(l.sha256, (m.get(l.sha256) ?? 0) + 1);
      served.set(l.list, m);
    }
  }
  const out = new Map<string, { sha: string; seen: number | null }>();
  for (const [list, shas] of served) {
    const seen = input.firstSeen.get(list);
    let best: { sha: string; seen: number | null; at: number; n: number } | null = null;
    for (const [sha, n] of shas) {
      const s = seen?.get(sha) ?? null;
      const at = s ?? input.now; // not recorded yet: it just appeared
      if (best === null || at > best.at || (at === best.at && (n > best.n || (n === best.n && sha > best.sha)))) best = { sha, seen: s, at, n };
    }
    if (best !== null) out.set(list, { sha: best.sha, seen: best.seen });
  }
  return out;
}

export function fleetView(input: ViewInput): ViewOutput {
  const newest = newestVersions(input);
  const behindBy = new Map<string, string[]>();
  const instances = input.records
    .map(({ record: r, alive }): FleetInstanceView => {
      const lists: FleetListView[] = r.lists.map((l) => {
        const n = newest.get(l.list);
        const behind = alive && n !== undefined && l.sha256 !== n.sha;
        if (behind) behindBy.set(l.list, [...(behindBy.get(l.list) ?? []), r.instance]);
        const seen = l.sha256 === null ? null : (input.firstSeen.get(l.list)?.get(l.sha256) ?? null);
        return { list: l.list, sha256: l.sha256, entries: l.entries, lastSuccess: iso(l.lastSuccess), versionSeen: iso(seen), behind };
      });
      const behind = lists.filter((l) => l.behind).map((l) => l.list);
      return {
        instance: r.instance,
        self: r.instance === input.self,
        alive,
        host: r.host,
        pid: r.pid,
        version: r.version,
        startedAt: new Date(r.startedAt).toISOString(),
        lastHeartbeat: new Date(r.heartbeatAt).toISOString(),
        heartbeatAgeSeconds: Math.max(0, Math.round((input.now - r.heartbeatAt) / 1000)),
        policyVersion: r.policyVersion,
        emergencyVersion: r.emergencyVersion,
        emergencyBlocks: r.emergencyBlocks,
        quarantined: r.quarantined,
        lists,
        behind,
        flagged: behind.length > 0,
      };
    })
    .sort((a, b) => a.instance.localeCompare(b.instance));
  const drift = [...behindBy].map(([list, behind]) => {
    const n = newest.get(list)!;
    return { list, newest: n.sha, newestSeen: iso(n.seen), behind: behind.sort() };
  });
  return { instances, drift };
}
