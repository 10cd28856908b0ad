// ArcSight Common Event Format: CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension
// Header fields escape "\" and "|"; extension values escape "\" and "=" and write line breaks as
// \n / \r. Keys are CEF's own dictionary where one fits (src, spt, dhost, cnt, start, end…) and
// labelled custom strings (csN + csNLabel) for the rest.
import { isIP } from 'node:net';
import { CEF_SEVERITY, productVersion, severityOf, summarize } from './format.js';
import type { SecurityEvent } from './security-events.js';

export function cefHeaderEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

export function cefValueEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r\n|\n/g, '\\n').replace(/\r/g, '\\r');
}

const NAMES: Readonly<Record<string, string>> = {
  'c2-hit': 'C2 domain blocked',
  'c2-hit-summary': 'C2 domain blocked repeatedly',
  'stale-feed': 'Threat feed is stale',
  'stale-feed-resolved': 'Threat feed updated again',
};

function scalar(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
  return null;
}

function epochMs(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : String(t);
}

/** One CEF record for an event (any type: fields a known key fits are mapped wherever they occur). */
export function formatCef(e: SecurityEvent, deviceHost?: string): string {
  const f = e as Readonly<Record<string, unknown>>;
  const ext: [string, string][] = [];
  const put = (k: string, v: string | null): void => {
    if (v !== null && v !== '') ext.push([k, v]);
  };
  put('rt', epochMs(e.time));
  put('externalId', e.id);
  put('cat', e.type);
  if (deviceHost !== undefined) put('dvchost', deviceHost);
  const client = scalar(f.client);
  if (client !== null) {
    // src is IPv4 only in the CEF dictionary; IPv6 sources go to the custom IPv6 slot.
    if (isIP(client) === 6) {
      put('c6a2', client);
      put('c6a2Label', 'Source IPv6 Address');
    } else put('src', client);
  }
  put('spt', scalar(f.clientPort));
  put('dhost', scalar(f.qname));
  // proto is the layer-4 protocol: DoT and DoH run over TCP (the log's transport field says which).
  if (typeof f.transport === 'string') put('proto', f.transport === 'udp' ? 'UDP' : 'TCP');
  if (e.type === 'c2-hit' || e.type === 'c2-hit-summary') put('act', 'blocked');
  put('cnt', scalar(f.count));
  put('start', epochMs(f.firstSeen));
  put('end', epochMs(f.lastSeen));
  // Fixed slots, so a SIEM parser can map csN once whatever the event type.
  const custom: [string, unknown][] = [
    ['list', f.list],
    ['rule', f.rule],
    ['tags', f.tags],
    ['ref', f.ref],
    ['qtype', f.qtype],
    ['lastSuccess', f.lastSuccess],
  ];
  custom.forEach(([label, v], i) => {
    const s = scalar(v);
    if (s === null || s === '') return;
    put(`cs${i + 1}`, s);
    put(`cs${i + 1}Label`, label);
  });
  put('msg', summarize(e));
  const header = ['CEF:0', 'c2dns', 'c2dns', productVersion(), e.type, NAMES[e.type] ?? e.type, String(CEF_SEVERITY[severityOf(e)])].map((h, i) => (i === 0 ? h : cefHeaderEscape(h)));
  return `${header.join('|')}|${ext.map(([k, v]) => `${k}=${cefValueEscape(v)}`).join(' ')}`;
}
