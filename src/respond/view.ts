// The admin API's view of an event (src/admin/context.ts SecurityEventView: time, kind, client,
// message, details with JSON scalars or string lists). Declared here by shape, so this module
// does not depend on the admin API.
import { summarize } from './format.js';
import type { SecurityEvent } from './security-events.js';

export type EventDetail = string | number | boolean | null | readonly string[];

export interface EventView {
  time: string;
  kind: string;
  client: string | null;
  message: string;
  details: Record<string, EventDetail>;
}

export function toEventView(e: SecurityEvent): EventView {
  const details: Record<string, EventDetail> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'time' || k === 'type' || k === 'client') continue;
    put(details, k, v);
  }
  const client = (e as { client?: unknown }).client;
  return { time: e.time, kind: e.type, client: typeof client === 'string' ? client : null, message: summarize(e), details };
}

/** Scalars as they are; string lists as lists; a nested object one level flat (lastFailure.reason); anything else as JSON text. */
function put(out: Record<string, EventDetail>, k: string, v: unknown, depth = 0): void {
  if (v === undefined) return;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
  else if (typeof v === 'number') out[k] = Number.isFinite(v) ? v : null;
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = [...(v as string[])];
  else if (depth === 0 && typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) put(out, `${k}.${k2}`, v2, 1);
  else out[k] = JSON.stringify(v);
}
