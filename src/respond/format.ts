// One-line human summaries of security events (chat messages, syslog MSG, CEF msg) and the
// severity scales of the formats that need a number.
import { readFileSync } from 'node:fs';
import { bundledPath } from '../config/paths.js';
import type { SecurityEvent, Severity } from './security-events.js';

/** CEF severity 0–10. */
export const CEF_SEVERITY: Readonly<Record<Severity, number>> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };

/** RFC 5424 severity: crit, err, warning, notice, informational. */
export const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };

export function severityOf(e: SecurityEvent): Severity {
  return Object.hasOwn(CEF_SEVERITY, e.severity) ? e.severity : 'medium';
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
}

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** A one-line summary; known types get a sentence, others their type and message or fields. */
export function summarize(e: SecurityEvent): string {
  const f = e as Readonly<Record<string, unknown>>;
  switch (e.type) {
    case 'c2-hit':
      return `C2 domain blocked: ${str(f.client)} asked ${str(f.qname)} ${str(f.qtype)} (list ${str(f.list)}, rule ${str(f.rule)}${tagText(f.tags)})${instancesText(f.instances)}`;
    case 'c2-hit-summary':
      return `C2 domain blocked ${str(f.count)} times in ${duration(Number(f.windowSeconds))}: ${str(f.client)} → ${str(f.rule)} (list ${str(f.list)}), first ${str(f.firstSeen)}, last ${str(f.lastSeen)}${instancesText(f.instances)}`;
    case 'fleet-drift':
      return `Instance ${str(f.instance)} serves an older version of list ${str(f.list)} than ${Array.isArray(f.newestOn) ? f.newestOn.join(', ') : 'other instances'} since ${str(f.since)}`;
    case 'stale-feed':
      return `List ${str(f.list)} is stale: last successful update ${str(f.lastSuccess) ?? 'never (since start)'}, threshold ${duration(Number(f.thresholdSeconds))}`;
    case 'stale-feed-resolved':
      return `List ${str(f.list)} updated again at ${str(f.lastSuccess)} (stale since ${str(f.staleSince)})`;
    default: {
      const msg = str(f.message) ?? str(f.msg);
      if (msg !== null) return `${e.type}: ${msg}`;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(f)) {
        if (k === 'id' || k === 'type' || k === 'time' || k === 'severity') continue;
        const s = str(v);
        if (s !== null) parts.push(`${k}=${s}`);
        if (parts.length >= 8) break;
      }
      return parts.length === 0 ? e.type : `${e.type}: ${parts.join(' ')}`;
    }
  }
}

/** In a fleet (src/fleet/alerts.ts): the instances that saw it. */
function instancesText(instances: unknown): string {
  return Array.isArray(instances) && instances.length > 0 ? `, seen by ${instances.join(', ')}` : '';
}

function tagText(tags: unknown): string {
  return Array.isArray(tags) && tags.length > 0 ? `, tags ${tags.join(',')}` : '';
}

let version: string | null = null;

/** c2dns's version for CEF headers; read once from package.json. */
export function productVersion(): string {
  if (version !== null) return version;
  try {
    const v = (JSON.parse(readFileSync(bundledPath('package.json'), 'utf8')) as { version?: unknown }).version;
    version = typeof v === 'string' ? v : '0.0.0';
  } catch {
    version = '0.0.0';
  }
  return version;
}
