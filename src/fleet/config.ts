// `cluster` configuration: several c2dns instances sharing emergency blocks, quarantine and
// alert windows through one Redis (README "Fleet (several instances)"). Mounted at key `cluster`
// of the main schema (src/config/schema.ts). Optional: without it c2dns is a single instance and
// no fleet code beyond this file (and no Redis client) is ever loaded.
import { hostname } from 'node:os';
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** An instance name: what acknowledgements, the fleet view and events call this instance. */
export const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const clusterSchema = z
  .object({
    /** redis://[user:password@]host[:port][/db] or rediss:// (TLS). */
    redis: z
      .string()
      .min(1)
      .superRefine((s, ctx) => {
        let u: URL | null = null;
        try {
          u = new URL(s);
        } catch {
          u = null;
        }
        if (u === null || (u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '') {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a Redis URL such as redis://10.0.0.5:6379/0 (or rediss:// for TLS)' });
          return;
        }
        const db = u.pathname.replace(/^\//, '');
        if (db !== '' && !/^\d{1,2}$/.test(db)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a database number after the host (redis://HOST:PORT/0), got "/${db}"` });
      }),
    /** This instance's name in the fleet; default: the host name. Must be unique in the fleet. */
    instance: z.string().regex(INSTANCE_NAME, 'expected 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit').optional(),
    /** How long `POST /api/block?wait=1` and `c2dns block --wait` wait for every instance to acknowledge. */
    ackTimeoutMs: int(100, 60_000).default(2000),
    /** How often this instance says it is alive (and checks it missed no change); it is listed as down after 3 missed beats. */
    heartbeatSeconds: int(1, 300).default(5),
    /** Prefix of every Redis key and channel, so several fleets can share one Redis. */
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9:._-]{1,64}$/, 'expected 1-64 letters, digits, ":", ".", "_" or "-"')
      .default('c2dns:'),
    /** How long the instance that opens a fleet-wide c2-hit window waits for the others' sightings before raising the event. */
    alertGatherMs: int(0, 10_000).default(500),
    /** An instance serving an older version of a list than another live instance for longer than this raises fleet-drift (0 = never). */
    driftSeconds: int(0, 7 * 86_400).default(3600),
  })
  .strict()
  .optional();

export type ClusterConfig = NonNullable<z.infer<typeof clusterSchema>>;

/** The configured instance name, else the host name made into a valid one. */
export function instanceName(c: Pick<ClusterConfig, 'instance'>, host: string = hostname()): string {
  if (c.instance !== undefined) return c.instance;
  const h = host.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return h === '' ? 'c2dns' : h;
}

/** The Redis URL without its password, for logs and the API. */
export function redactRedisUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
