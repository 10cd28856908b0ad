// The configuration schema: every key, its type, range and default. Defaults are embedded so
// c2dns runs with no file at all. config/c2dns.example.yaml documents the same keys.
import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';
import { normalizeDomain } from '../blocklist/domain.js';
import { LIST_FORMATS } from '../blocklist/parsers/index.js';
import { normalizeMac } from '../dns/client-options.js';
import { checkEncryptedConfig, listenEntry, tlsSchema, upstreamEntry, upstreamTlsKeys } from './encrypted.js';
import { adminSchema } from '../admin/config.js';
import { alertsSchema } from '../respond/config.js';
import { historySchema } from '../history/config.js';
import { clusterSchema } from '../fleet/config.js';
import { PROBE_TYPES, UPSTREAM_STRATEGIES } from '../upstream/health.js';
import { checkLanConfig, forwardingSchema, groupsSchema, localRecordsSchema } from './lan.js';

const cidr = z.string().superRefine((s, ctx) => {
  const [addr, bits, extra] = s.split('/');
  const fam = isIP(addr ?? '');
  const max = fam === 4 ? 32 : 128;
  const ok = fam !== 0 && extra === undefined && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max));
  if (!ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected an IP network such as 192.168.0.0/16 or fd00::/8' });
  // 192.168.1.77/24 is most likely a typo for one of two different things: say which, don't guess.
  else if (bits !== undefined && hostBitsSet(addressBytes(addr!, fam), Number(bits)))
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a network address: ${s} has host bits set (the network is ${networkText(addr!, fam, Number(bits))}; one address is ${addr}/${max})` });
});

/** The address's bytes (4 or 16), for the host-bits check. */
function addressBytes(addr: string, fam: number): number[] {
  if (fam === 4) return addr.split('.').map(Number);
  // The URL parser writes any IPv6 form (::, an embedded IPv4 tail) as eight hex groups or with ::.
  const norm = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  const [head = '', tail] = norm.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

/** The part of byte i that is host bits under a /bits prefix. */
const hostMask = (i: number, bits: number): number => 0xff >> Math.min(8, Math.max(0, bits - i * 8));

function hostBitsSet(bytes: number[], bits: number): boolean {
  return bytes.some((b, i) => (b & hostMask(i, bits)) !== 0);
}

function networkText(addr: string, fam: number, bits: number): string {
  const bytes = addressBytes(addr, fam).map((b, i) => b & ~hostMask(i, bits) & 0xff);
  if (fam === 4) return `${bytes.join('.')}/${bits}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return `${new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)}/${bits}`;
}

/** A domain name as lists hold them (guard.protect, quarantine.allow): a typo or a wildcard would otherwise never match. */
const domainName = z.string().superRefine((s, ctx) => {
  const n = normalizeDomain(s);
  if (!n.ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a domain name such as windowsupdate.com (names under it are included): ${n.reason}` });
});

/**
 * A client as clients.names and `c2dns quarantine release` name it, in its one text form: a MAC
 * ("aa:bb:cc:dd:ee:ff", ":" or "-", any case), an IP address, or a network ("192.168.1.0/24").
 * null for anything else.
 */
export function clientKey(raw: string): string | null {
  const s = raw.trim();
  const mac = normalizeMac(s);
  if (mac !== null) return mac;
  const [addr = '', bits, extra] = s.split('/');
  const fam = isIP(addr);
  if (fam === 0 || extra !== undefined) return null;
  const text = fam === 4 ? addr : addr.includes('.') ? addr.toLowerCase() : new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  if (bits === undefined) return text;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) return null;
  return `${text}/${Number(bits)}`;
}

const clientNames = z.record(z.string(), z.string().trim().min(1).max(64)).transform((names, ctx) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(names)) {
    const key = clientKey(k);
    if (key === null) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `expected the key ${JSON.stringify(k)} to be an IP address (192.168.1.20), a network (192.168.1.0/24) or a MAC address (aa:bb:cc:dd:ee:ff)` });
      continue;
    }
    if (Object.hasOwn(out, key)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `expected each client once; ${JSON.stringify(k)} is ${key}, named twice` });
    out[key] = v;
  }
  return out;
});

export const IDENTITY_SOURCES = ['mac', 'ecs', 'cpe-id'] as const;

const ipv4 = z.string().refine((s) => isIP(s) === 4, 'expected an IPv4 address');
const ipv6 = z.string().refine((s) => isIP(s) === 6, 'expected an IPv6 address');
/** Loopback, RFC 1918, RFC 4193 and link-local: where a LAN resolver's clients live. */
const DEFAULT_ALLOWED_NETWORKS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '::1/128', 'fc00::/7', 'fe80::/10'];

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** A domain name in presentation form: "." (the root) or labels of letters, digits, "-" and "_". */
const dnsName = z
  .string()
  .refine((s) => s === '.' || (s.length <= 254 && /^([A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?$/.test(s)), 'expected a domain name such as "." or "example.com"');

export const BLOCK_ACTIONS = ['null', 'nxdomain', 'nodata', 'refused', 'sinkhole'] as const;

export const FEED_FORMATS = ['auto', ...LIST_FORMATS] as const;

const listSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected a short name of letters, digits, ".", "_" or "-"'),
    /** A local file; or `url` for a feed fetched over HTTP(S). Exactly one of the two. */
    path: z.string().min(1).optional(),
    url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL').optional(),
    format: z.enum(FEED_FORMATS as unknown as [string, ...string[]]).default('auto'),
    kind: z.enum(['block', 'allow']).default('block'),
    /** How this list's hits are answered; `monitor` makes it a watch list (answered normally, reported). */
    action: z.enum([...BLOCK_ACTIONS, 'monitor']).optional(),
    /** Watch lists: the mark a client gets when it asks for a listed name (e.g. "posture:3cx-desktop"). */
    mark: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/, 'expected a short tag of letters, digits, ":", ".", "_" or "-"').optional(),
    /** Watch lists: quarantine the clients this list marks (needs quarantine.enabled). */
    quarantine: z.boolean().default(false),
    /** How bare names match in formats without their own syntax for it (plain, hosts, CSV, STIX, MISP). */
    match: z.enum(['subtree', 'exact']).default('subtree'),
    tags: z.array(z.string().min(1)).default([]),
    /** node-cron expression for refreshes; default hourly for URLs, every 5 minutes for files. */
    refresh: z
      .string()
      .refine((s) => cron.validate(s), 'expected a cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, such as "17 * * * *"')
      .optional(),
    jitterSeconds: int(0, 3600).default(60),
    retries: int(0, 10).default(3),
    timeoutMs: int(100, 600_000).default(30_000),
    maxBytes: int(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Refuse an update that loses more than this fraction of the last good entry count. */
    maxShrinkRatio: z.number().min(0).max(1).default(0.5),
    /** Entries stop matching this many days after c2dns first saw them (0 = never). */
    maxAgeDays: z.number().min(0).max(3650).default(0),
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits').optional(),
    signature: z
      .object({
        publicKey: z.string().min(40),
        /** Where the detached signature is; default: the feed's url or path + ".sig". */
        url: z.string().url().optional(),
        path: z.string().optional(),
      })
      .strict()
      .optional(),
    csvColumns: z
      .object({ value: z.string(), type: z.string().optional(), id: z.string().optional(), tags: z.string().optional(), compromised: z.string().optional(), confidence: z.string().optional() })
      .strict()
      .optional(),
    minConfidence: int(0, 100).default(0),
    mispIncludeNonIds: z.boolean().default(false),
  })
  .strict()
  .superRefine((l, ctx) => {
    if ((l.path === undefined) === (l.url === undefined)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected exactly one of "path" or "url"' });
    if (l.action !== 'monitor' && (l.mark !== undefined || l.quarantine)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [l.mark !== undefined ? 'mark' : 'quarantine'], message: 'expected "mark" and "quarantine" only on a watch list (action: monitor)' });
    }
    if (l.action === 'monitor' && l.kind === 'allow') ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['action'], message: 'expected a block list for action "monitor" (an allow list cannot watch)' });
  });

export type ListConfig = z.infer<typeof listSchema>;

export { listAction } from './list-action.js';

/** A list source with every default filled in, for sources c2dns makes itself (convert, emergency blocks). */
export function listConfig(fields: z.input<typeof listSchema>): ListConfig {
  return listSchema.parse(fields);
}

export const configSchema = z
  .object({
    /** Processes answering queries: 1, a number, or "auto" (one per core). */
    workers: z.union([z.literal('auto'), int(1, 256)]).default(1),
    /** ADDR[:PORT] (UDP+TCP), tls://ADDR[:PORT] (DoT), https://ADDR[:PORT]/PATH (DoH): config/encrypted.ts. */
    listen: z.array(listenEntry).min(1).default(['127.0.0.1:5353', '[::1]:5353']),
    /** ADDR[:PORT], tls://HOST[:PORT][#NAME|#IP], https://HOST[:PORT]/PATH[#IP] or { url, serverName, spkiPin }: config/encrypted.ts. */
    upstreams: z.array(upstreamEntry).min(1).default(['9.9.9.9', '149.112.112.112']),
    upstream: z
      .object({
        timeoutMs: int(10, 60_000).default(2000),
        penaltyMs: int(0, 3_600_000).default(30_000),
        /** failover: in order; fastest: by measured latency; parallel: the first good answer of two. */
        strategy: z.enum(UPSTREAM_STRATEGIES).default('failover'),
        /** What a down upstream is asked to see whether it is back: a name and type every recursive resolver answers. */
        probeName: dnsName.default('.'),
        probeType: z.enum(PROBE_TYPES).default('NS'),
        /** How often a down upstream is probed; 0 = no probes (it comes back after penaltyMs, or when it answers a query). */
        probeIntervalMs: int(0, 3_600_000).default(5_000),
        /** Load shedding: questions being asked upstream at once, at most; beyond it new ones are shed (`overload`) and counted. */
        maxPending: int(1, 1_000_000).default(2_000),
        /** What a shed question gets: REFUSED at once, or no answer (the client retries later). */
        overload: z.enum(['refuse', 'drop']).default('refuse'),
        /**
         * While every upstream is down (timed out, stalled or failed, and not back since), one
         * question per this many ms is still asked (any reply ends the outage) and the others get
         * SERVFAIL (EDE 22) at once, or a stale answer from the cache; 0 = ask every question.
         */
        allDownScoutMs: int(0, 60_000).default(250),
        /**
         * 0x20: ask plain upstreams in random letter case and accept only answers that echo it (a
         * forged reply must guess the case too). Off by default, like Unbound's use-caps-for-id:
         * some upstreams and middleboxes do not keep the case (c2dns then falls back per upstream).
         */
        caseRandomization: z.boolean().default(false),
        /**
         * DNS Cookies (RFC 7873) with plain UDP upstreams: our client cookie in every EDNS query,
         * the upstream's server cookie sent back, replies with a cookie that is not ours dropped as
         * forged. Upstreams without cookie support keep working.
         */
        cookies: z.boolean().default(true),
        ...upstreamTlsKeys,
      })
      .strict()
      .default({}),
    /** Certificate of the tls:// and https:// listeners, and reverse proxies trusted for X-Forwarded-For. */
    tls: tlsSchema,
    access: z
      .object({ allow: z.array(cidr).default(DEFAULT_ALLOWED_NETWORKS) })
      .strict()
      .default({}),
    /** Per-client token buckets (README "Rate limiting and load shedding"); clients.trustedForwarders are always exempt. */
    rateLimit: z
      .object({
        enabled: z.boolean().default(true),
        /** Sustained queries per second per client network. */
        qps: z.number().positive().max(1_000_000).default(200),
        /** Queries a client may send at once after being quiet. */
        burst: int(1, 10_000_000).default(1_000),
        ipv4Prefix: int(8, 32).default(32),
        /** 128: hosts on one LAN share a /64, so a shorter prefix would limit a whole network as one client. */
        ipv6Prefix: int(16, 128).default(128),
        /** Never limited: routers and stub resolvers that speak for many hosts. Default: loopback (a local stub such as systemd-resolved). */
        exempt: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
        /** Every slip-th limited UDP query gets TC=1 instead of no answer (0 = never, 1 = always), as BIND's RRL. */
        slip: int(0, 10).default(2),
        /** Client networks tracked at most; the oldest are forgotten first. */
        maxClients: int(100, 10_000_000).default(100_000),
      })
      .strict()
      .default({}),
    /** Clients behind routers: who a trusted forwarder says asked (README "Clients behind a router"). */
    clients: z
      .object({
        /** ECS, MAC and CPE-ID options are read only from these sources (the routers); elsewhere they are ignored and counted. */
        trustedForwarders: z.array(cidr).default([]),
        /** Which options to read, in order of preference (which one names the client first). */
        identity: z
          .array(z.enum(IDENTITY_SOURCES))
          .default([...IDENTITY_SOURCES])
          .refine((a) => new Set(a).size === a.length, 'expected each of "mac", "ecs", "cpe-id" at most once'),
        /** Copy the client's ECS option into the upstream query (MAC and CPE-ID are never forwarded). */
        forwardEcs: z.boolean().default(false),
        /** IP, network or MAC → a name shown in the log, events and the admin API. */
        names: clientNames.default({}),
      })
      .strict()
      .default({}),
    /** Per-client policy (config/lan.ts): which lists, block action and quarantine for the clients a group selects; "default" = everyone else. */
    groups: groupsSchema,
    /** Conditional forwarding: names under a domain go to that rule's upstreams, never to the default ones. */
    forwarding: forwardingSchema,
    /** Static answers (A, AAAA, CNAME, PTR, TXT), like Pi-hole's local DNS records. */
    localRecords: localRecordsSchema,
    blocking: z
      .object({
        action: z.enum(BLOCK_ACTIONS).default('null'),
        sinkhole: z.object({ ipv4: ipv4.optional(), ipv6: ipv6.optional() }).strict().default({}),
        ttl: int(0, 86_400).default(300),
        /**
         * Check what upstreams answer (CNAME/DNAME/SVCB targets, answer addresses, additional
         * names) against the lists, like Pi-hole's CNAME_DEEP_INSPECT. Off only to measure its cost
         * or for a resolver that must relay answers untouched: C2 behind a CNAME then gets through.
         */
        inspectResponses: z.boolean().default(true),
      })
      .strict()
      .default({}),
    lists: z.array(listSchema).default([{ name: '3cx', path: '<bundled>/blocklists/3cx.txt', format: 'plain', tags: ['c2', '3cx'] }]),
    guard: z
      .object({
        /** Extra names never to block (nor their parents, nor names under them). */
        protect: z.array(domainName).default([]),
        /** false drops the built-in list of shared platforms (not recommended). */
        builtinProtected: z.boolean().default(true),
      })
      .strict()
      .default({}),
    quarantine: z
      .object({
        /** Off by default: isolating hosts is a policy decision the operator takes. */
        enabled: z.boolean().default(false),
        durationMinutes: int(1, 525_600).default(1440),
        /** A blocked query on a rule carrying one of these tags quarantines the client. */
        tags: z.array(z.string().min(1)).default(['c2']),
        /** Remediation allowlist: names (and their subdomains) a quarantined host may still resolve. */
        allow: z.array(domainName).default([]),
        /** Clients quarantined at most; when full, the entry closest to expiry makes room for a new one. */
        maxClients: int(1, 10_000_000).default(10_000),
      })
      .strict()
      .default({}),
    admin: adminSchema,
    history: historySchema,
    alerts: alertsSchema,
    /** Several instances sharing emergency blocks, quarantine and alert windows through Redis (src/fleet/config.ts); absent: a single instance. */
    cluster: clusterSchema,
    state: z
      .object({
        /** Where last-good feed copies and status live; default $XDG_STATE_HOME/c2dns or ~/.local/state/c2dns. */
        dir: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    cache: z
      .object({
        maxEntries: int(0, 10_000_000).default(100_000),
        minTtl: int(0, 86_400).default(0),
        maxTtl: int(0, 604_800).default(86_400),
        negativeMaxTtl: int(0, 86_400).default(3_600),
        /** Bound on the cache's size in bytes (answers' bytes plus a fixed per-entry overhead), besides maxEntries. */
        maxBytes: int(65_536, 2 ** 40).default(64 * 1024 * 1024),
        /** RFC 8767: how long after expiry an answer may be served stale when no upstream answers; 0 = off. */
        serveStaleMaxAgeSeconds: int(0, 30 * 86_400).default(86_400),
        /** How long a query for an expired answer waits for the upstreams before it is answered stale; 0 = at once. */
        serveStaleClientTimeoutMs: int(0, 60_000).default(1_800),
        /** Refresh an answer asked for in the last 10 % of its TTL, before it expires. */
        prefetch: z.boolean().default(true),
      })
      .strict()
      .default({}),
    tcp: z
      .object({
        idleTimeoutMs: int(100, 600_000).default(10_000),
        maxConnections: int(1, 1_000_000).default(1_000),
        maxInflightPerConnection: int(1, 65_535).default(100),
        /** Connections from one client address (IPv6: its /64) at most; a new one first closes that client's longest-idle one. */
        maxConnectionsPerClient: int(1, 1_000_000).default(64),
        /** A message (length prefix to last byte; for DoT also the TLS handshake) must arrive within this time once begun. */
        messageTimeoutMs: int(100, 600_000).default(3_000),
        /** A message being received must arrive at this average rate or faster (checked after its first second); 0 = no check. */
        minBytesPerSecond: int(0, 1_000_000).default(64),
      })
      .strict()
      .default({}),
    /** What c2dns says about itself in EDNS (README "Server identity, cookies and keepalive"), and how UDP is served. */
    server: z
      .object({
        /**
         * UDP I/O through the native recvmmsg/sendmmsg addon (native/, built at npm install when it can be):
         * auto = when it is built and workers is 1; on = required (start-up error without it); off = node:dgram.
         */
        udpBatch: z.enum(['auto', 'on', 'off']).default('auto'),
        /** RFC 5001 NSID returned to clients that ask for it: text (up to 128 bytes), or "hex:…"; empty = none. */
        nsid: z
          .string()
          .max(256)
          .refine((s) => !s.startsWith('hex:') || /^hex:([0-9a-fA-F]{2}){1,128}$/.test(s), 'expected "hex:" followed by 1-128 bytes in hex digits')
          .refine((s) => s.startsWith('hex:') || Buffer.byteLength(s) <= 128, 'expected at most 128 bytes of text')
          .default(''),
        /** DNS Cookies (RFC 7873, server cookies as RFC 9018) towards clients. */
        cookies: z
          .object({
            enabled: z.boolean().default(true),
            /** The secret server cookies are made with is replaced this often (the previous one is still accepted). */
            rotateHours: z.number().min(0.01).max(24 * 365).default(24),
            /** Shared 128-bit key (32 hex digits) for several servers behind one address; default: made once and kept in the state directory. */
            secret: z
              .string()
              .regex(/^[0-9a-fA-F]{32}$/, 'expected 32 hex digits (a 128-bit key)')
              .optional(),
            /** UDP queries with a client cookie but no valid server cookie get BADCOOKIE and a fresh cookie instead of an answer. */
            require: z.boolean().default(false),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    log: z
      .object({
        queries: z.enum(['all', 'blocked', 'none']).default('all'),
        destination: z.string().min(1).default('stdout'),
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkEncryptedConfig(c, ctx);
    checkLanConfig(c, ctx);
    const names = new Set<string>();
    c.lists.forEach((l, i) => {
      if (names.has(l.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['lists', i, 'name'], message: `expected a unique list name; "${l.name}" is used twice` });
      names.add(l.name);
    });
    if (c.blocking.action === 'sinkhole' && !c.blocking.sinkhole.ipv4 && !c.blocking.sinkhole.ipv6) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['blocking', 'sinkhole'], message: 'expected blocking.sinkhole.ipv4 and/or ipv6 when blocking.action is "sinkhole"' });
    }
  });

export type Config = z.infer<typeof configSchema>;
