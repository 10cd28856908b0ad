// The `admin` section of the configuration: the HTTP listener for metrics, health probes and the
// management API. Mounted at key `admin` by src/config/schema.ts.
import { z } from 'zod';
import { parseHostPort, type HostPort } from '../upstream/address.js';
import { HOST_NAME, parseNetwork } from './access.js';

/** Not 9153: CoreDNS serves its metrics there, and the two often run side by side. */
export const ADMIN_DEFAULT_PORT = 9553;
export const ADMIN_DEFAULT_LISTEN = `127.0.0.1:${ADMIN_DEFAULT_PORT}`;
export const ADMIN_TOKEN_ENV = 'C2DNS_ADMIN_TOKEN';
/** Shorter secrets are guessable by anyone who can reach the listener. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/** Who may use the admin listener at all, by default: this machine only. */
export const ADMIN_DEFAULT_ALLOW = ['127.0.0.0/8', '::1/128'];

const network = z.string().superRefine((s, ctx) => {
  const n = parseNetwork(s);
  if (typeof n === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: n });
});

const hostName = z
  .string()
  .transform((s) => s.trim().toLowerCase().replace(/\.$/, ''))
  .refine((s) => HOST_NAME.test(s), 'expected a host name such as c2dns.example.org (no port, no scheme, no "*")');

const tokenMessage = `expected at least ${ADMIN_TOKEN_MIN_LENGTH} characters (e.g. the output of: openssl rand -hex 24)`;

export const adminSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** ADDR:PORT; loopback by default: the API can change what is blocked. */
    listen: z
      .string()
      .superRefine((s, ctx) => {
        const r = parseHostPort(s, ADMIN_DEFAULT_PORT, true);
        if (typeof r === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected ADDR[:PORT] such as 127.0.0.1:${ADMIN_DEFAULT_PORT} or [::1]:${ADMIN_DEFAULT_PORT} (${r})` });
      })
      .default(ADMIN_DEFAULT_LISTEN),
    /** Networks allowed to use the listener (every route, probes included); others get 403. */
    allow: z.array(network).min(1, 'expected at least one network (to turn the listener off: admin.enabled: false)').default(ADMIN_DEFAULT_ALLOW),
    /**
     * Names the listener may be reached by (the Host header), besides localhost and IP address
     * literals; any other name is refused (421) so that DNS rebinding cannot reach the API.
     */
    hosts: z.array(hostName).default([]),
    /** Bearer token for POST/DELETE (and every /api call when the listener is not on loopback); C2DNS_ADMIN_TOKEN overrides it. None: mutating calls are refused. */
    token: z.string().min(ADMIN_TOKEN_MIN_LENGTH, tokenMessage).nullable().default(null),
    /**
     * The web console at / and the /api reads it is drawn from, when the listener is not on
     * loopback: token (default) needs the admin token for them, none opens them to anyone in
     * admin.allow. Changes always need the token.
     */
    consoleAuth: z.enum(['token', 'none']).default('token'),
    /** An upstream that timed out and gave no answer within this window counts as unhealthy for /readyz. */
    upstreamWindowSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict()
  .default({});

export type AdminConfig = z.infer<typeof adminSchema>;

/** The listener address (validated by the schema). */
export function adminListen(cfg: AdminConfig): HostPort {
  const r = parseHostPort(cfg.listen, ADMIN_DEFAULT_PORT, true);
  if (typeof r === 'string') throw new Error(`admin.listen: ${r}`); // unreachable after validation
  return r;
}

/**
 * The token mutating calls need: the environment variable wins over the file, so the secret can
 * stay out of a configuration file that is shared or versioned. Throws when the variable is set
 * but too short (a configuration error: refuse to start rather than accept a weak secret).
 */
export function adminToken(cfg: AdminConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env[ADMIN_TOKEN_ENV];
  if (v !== undefined && v !== '') {
    if (v.length < ADMIN_TOKEN_MIN_LENGTH) throw new Error(`environment variable ${ADMIN_TOKEN_ENV}: ${tokenMessage}`);
    return v;
  }
  return cfg.token;
}
