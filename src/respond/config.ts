// The `alerts` configuration key: what raises security events and where they are delivered.
// Mounted by src/config/schema.ts; defaults are embedded so alerting needs no configuration
// (events are raised and kept for the admin API; no sink = nothing is sent anywhere).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { FACILITIES, type Facility } from './sinks/syslog.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

const sinkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected a short name of letters, digits, ".", "_" or "-"');

const webhookSink = z
  .object({
    type: z.literal('webhook'),
    /** Names the sink's spool directory and log lines; default derived from the URL (without revealing it). */
    name: sinkName.optional(),
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL'),
    format: z.enum(['json', 'slack', 'teams']).default('json'),
    headers: z.record(z.string().min(1), z.string()).default({}),
    timeoutMs: int(100, 120_000).default(5000),
  })
  .strict();

const syslogSink = z
  .object({
    type: z.literal('syslog'),
    name: sinkName.optional(),
    host: z.string().min(1),
    port: int(1, 65_535).default(514),
    protocol: z.enum(['udp', 'tcp']).default('udp'),
    facility: z.enum(Object.keys(FACILITIES) as [Facility, ...Facility[]]).default('local0'),
    appName: z
      .string()
      .regex(/^[\x21-\x7e]{1,48}$/, 'expected 1–48 printable ASCII characters without spaces')
      .default('c2dns'),
    /** MSG is an ArcSight CEF record instead of a summary line with structured data. */
    cef: z.boolean().default(false),
    timeoutMs: int(100, 120_000).default(5000),
  })
  .strict();

const fileSink = z
  .object({
    type: z.literal('file'),
    name: sinkName.optional(),
    /** JSON lines appended; a relative path is relative to the working directory. */
    path: z.string().min(1),
  })
  .strict();

export const sinkSchema = z.discriminatedUnion('type', [webhookSink, syslogSink, fileSink]);
export type SinkConfig = z.infer<typeof sinkSchema>;

/**
 * The sink's stable name: the configured one, else type + a digest of its destination, so the
 * spool follows the sink when the list is reordered and a changed destination starts afresh.
 */
export function sinkNameOf(s: SinkConfig): string {
  if (s.name !== undefined) return s.name;
  const target = s.type === 'webhook' ? s.url : s.type === 'syslog' ? `${s.protocol}://${s.host}:${s.port}/${s.cef ? 'cef' : '5424'}` : s.path;
  return `${s.type}-${createHash('sha256').update(target).digest('hex').slice(0, 10)}`;
}

export const alertsSchema = z
  .object({
    /** A block raises a c2-hit event when its rule carries one of these tags (lists[].tags, feed tags). */
    c2Tags: z.array(z.string().min(1)).default(['c2']),
    /** Repeats per (client, rule) within this window are counted into one summary event. */
    windowSeconds: int(1, 86_400).default(600),
    /** Open (client, rule) windows tracked at most; beyond, the oldest closes early. */
    maxTracked: int(1, 1_000_000).default(10_000),
    /** Events kept in memory for the admin API (GET /api/events). */
    recentEvents: int(0, 100_000).default(1000),
    /** A list with no successful update for this long raises stale-feed (0 = never). */
    staleFeedSeconds: int(0, 365 * 86_400).default(6 * 3600),
    /** Per-list thresholds by list name (seconds, 0 = never). */
    staleFeedOverrides: z.record(z.string().min(1), int(0, 365 * 86_400)).default({}),
    spool: z
      .object({
        /** Default: STATE_DIR/alerts; a relative path is relative to the state directory. */
        dir: z.string().min(1).optional(),
        /** Per sink: undelivered events kept at most; the oldest are dropped beyond (counted, logged). */
        maxEvents: int(1, 10_000_000).default(10_000),
        maxBytes: int(4096, 4 * 1024 * 1024 * 1024).default(16 * 1024 * 1024),
        retryBaseMs: int(10, 600_000).default(1000),
        retryMaxMs: int(10, 86_400_000).default(300_000),
      })
      .strict()
      .default({}),
    sinks: z.array(sinkSchema).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    const seen = new Map<string, number>();
    a.sinks.forEach((s, i) => {
      const n = sinkNameOf(s);
      const first = seen.get(n);
      if (first !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['sinks', i, 'name'], message: `expected a unique sink; sinks[${first}] is the same destination or name ("${n}"): set "name" to tell them apart` });
      else seen.set(n, i);
    });
    if (a.spool.retryMaxMs < a.spool.retryBaseMs) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['spool', 'retryMaxMs'], message: 'expected retryMaxMs >= retryBaseMs' });
  })
  .default({});

export type AlertsConfig = z.infer<typeof alertsSchema>;
