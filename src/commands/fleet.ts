// `c2dns fleet` (GET /api/fleet as a table) and the acknowledgement line of `c2dns block --wait`
// and `c2dns unblock --wait`. Only formatting: the CLI calls the admin API (admin-client.ts).
import type { FleetView, Propagation } from '../fleet/types.js';

const ago = (s: number): string => (s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`);

/** One line per instance: name, state, last heartbeat, policy and emergency versions, each list's version. */
export function formatFleet(v: FleetView): string {
  const rows = v.instances.map((i) => [
    `${i.instance}${i.self ? ' (this)' : ''}`,
    i.alive ? (i.flagged ? 'BEHIND' : 'up') : 'down',
    ago(i.heartbeatAgeSeconds),
    String(i.policyVersion),
    String(i.emergencyVersion),
    i.lists.map((l) => `${l.list}=${l.sha256 === null ? 'none' : l.sha256.slice(0, 12)}${l.behind ? '(old)' : ''}`).join(' '),
  ]);
  const head = ['INSTANCE', 'STATE', 'HEARTBEAT', 'POLICY', 'EMERGENCY', 'LISTS (sha256)'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string =>
    r
      .map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  const out = [`fleet of ${v.instance} via ${v.redis}${v.connected ? '' : ' (Redis unreachable: only this instance is shown)'}; emergency blocks version ${v.emergencyVersion}`, line(head), ...rows.map(line)];
  for (const d of v.drift) out.push(`list ${d.list}: ${d.behind.join(', ')} serve${d.behind.length === 1 ? 's' : ''} an older version than ${d.newest.slice(0, 12)}${d.newestSeen !== null ? ` (first seen ${d.newestSeen})` : ''}`);
  return `${out.join('\n')}\n`;
}

/** The summary line, and whether every instance acknowledged (exit code 3 otherwise: made, not confirmed everywhere). */
export function propagationLine(p: Propagation | null | undefined): { line: string; complete: boolean } {
  if (p === undefined) return { line: 'the server did not report acknowledgements (an older c2dns?)', complete: false };
  if (p === null) return { line: 'a single instance (no cluster section): in force there now', complete: true };
  return { line: p.summary, complete: p.complete };
}
