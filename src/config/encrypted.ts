// Encrypted DNS in the configuration: the forms of `listen` and `upstreams` entries, the `tls`
// section (listener certificate, trusted reverse proxies) and the TLS keys of `upstream`. Mounted
// by src/config/schema.ts; README "Encrypted DNS" documents the forms.
//
// listen:    ADDR[:PORT]              plain DNS, UDP and TCP (default port 53)
//            tls://ADDR[:PORT]         DNS over TLS, RFC 7858 (default port 853)
//            https://ADDR[:PORT][/PATH] DNS over HTTPS, RFC 8484 (default port 443, path /dns-query)
// upstreams: ADDR[:PORT]              plain DNS (UDP, TCP when truncated)
//            tls://HOST[:PORT][#FRAG]  DNS over TLS (default port 853)
//            https://HOST[:PORT]/PATH[#FRAG]  DNS over HTTPS (HTTP/2; default port 443)
//            { url, serverName?, spkiPin? }  the same with the name to verify and pins spelled out
// HOST is an IP address or a name; FRAG supplies what HOST lacks: after an IP, the name to verify
// the certificate against (tls://9.9.9.9:853#dns.quad9.net); after a name, the address(es) to
// connect to (https://dns.quad9.net/dns-query#9.9.9.9,149.112.112.112). A name without addresses
// is resolved through upstream.bootstrap (plain DNS servers given by IP), never through c2dns itself
// nor the system resolver (which may well be c2dns).
import { z } from 'zod';
import { isIP } from 'node:net';
import { parseNetwork } from '../admin/access.js';
import { parseHostPort, type HostPort } from '../upstream/address.js';

export const DOT_PORT = 853;
export const DOH_PORT = 443;
export const DOH_DEFAULT_PATH = '/dns-query';

// ---- listen ----

export type ListenSpec =
  | { kind: 'dns'; addr: HostPort }
  | { kind: 'dot'; addr: HostPort }
  | { kind: 'doh'; addr: HostPort; path: string };

const LISTEN_FORMS = 'ADDR[:PORT] (UDP and TCP), tls://ADDR[:PORT] (DNS over TLS) or https://ADDR[:PORT]/PATH (DNS over HTTPS)';
/** Path characters allowed in a DoH path (RFC 3986 pchar and "/"); no query, no fragment. */
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/** Parses one `listen` entry; an error string (what was expected) otherwise. */
export function parseListen(s: string): ListenSpec | string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s);
  if (scheme === null) {
    const r = parseHostPort(s, 53, true);
    return typeof r === 'string' ? `expected ADDR[:PORT] such as 127.0.0.1:53 or [::1]:53 (${r}), or ${LISTEN_FORMS.slice(LISTEN_FORMS.indexOf('tls://'))}` : { kind: 'dns', addr: r };
  }
  const name = scheme[1]!.toLowerCase();
  const rest = s.slice(scheme[0].length);
  if (name === 'tls') {
    const r = parseHostPort(rest.replace(/\/$/, ''), DOT_PORT, true);
    return typeof r === 'string' ? `expected tls://ADDR[:PORT] such as tls://0.0.0.0:853 (${r})` : { kind: 'dot', addr: r };
  }
  if (name === 'https') {
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 || slash === rest.length - 1 ? DOH_DEFAULT_PATH : rest.slice(slash);
    const r = parseHostPort(authority, DOH_PORT, true);
    if (typeof r === 'string') return `expected https://ADDR[:PORT]/PATH such as https://0.0.0.0:443/dns-query (${r})`;
    if (!PATH.test(path)) return `expected https://ADDR[:PORT]/PATH with a plain path (no query string, no fragment, no spaces), got the path "${path}"`;
    return { kind: 'doh', addr: r, path };
  }
  return `expected ${LISTEN_FORMS}; "${name}://" listeners are not supported`;
}

/** The listen entry as a URL-ish label for logs ("tls://127.0.0.1:853", "https://[::1]:443/dns-query"). */
export function formatListen(spec: ListenSpec): string {
  const hp = spec.addr.family === 6 ? `[${spec.addr.host}]:${spec.addr.port}` : `${spec.addr.host}:${spec.addr.port}`;
  return spec.kind === 'dns' ? hp : spec.kind === 'dot' ? `tls://${hp}` : `https://${hp}${spec.path}`;
}

export const listenEntry = z.string().superRefine((s, ctx) => {
  const r = parseListen(s);
  if (typeof r === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: r });
});

/** Two entries wanting the same TCP address and port (e.g. "0.0.0.0:853" and "tls://0.0.0.0"): the second could never bind. */
export function checkListenClashes(listen: readonly string[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  listen.forEach((s, i) => {
    const r = parseListen(s);
    if (typeof r === 'string' || r.addr.port === 0) return;
    const key = `${r.addr.host}|${r.addr.port}`;
    const first = seen.get(key);
    if (first !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['listen', i], message: `expected a TCP address and port not already used by listen[${first}] ("${listen[first]}")` });
    else seen.set(key, i);
  });
}

// ---- upstreams ----

export interface PlainUpstreamSpec {
  kind: 'dns';
  addr: HostPort;
}

export interface EncryptedUpstreamSpec {
  kind: 'dot' | 'doh';
  /** The entry as written (the url of the object form): the log and metrics label, the key of upstream.spkiPins. */
  label: string;
  /** The URL's host: a lower-case name or a canonical IP address. */
  host: string;
  port: number;
  /** DoH: the request path; DoT: "". */
  path: string;
  /** The name the certificate must carry (and the TLS SNI); null: the certificate must carry the IP address. */
  serverName: string | null;
  /** Where to connect; empty: resolve `host` through upstream.bootstrap. */
  addresses: HostPort[];
  /** SHA-256 of a SubjectPublicKeyInfo (base64) from the object form; upstream.spkiPins adds more. */
  pins: string[];
}

export type UpstreamSpec = PlainUpstreamSpec | EncryptedUpstreamSpec;

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const UPSTREAM_FORMS = 'ADDR[:PORT] such as 9.9.9.9 or [2620:fe::fe]:53, tls://ADDR[:PORT]#SERVER-NAME such as tls://9.9.9.9:853#dns.quad9.net, or https://HOST/PATH such as https://dns.quad9.net/dns-query';

/** "host[:port]" or "[v6][:port]" with host an IP or a name. */
function splitAuthority(a: string, defaultPort: number): { host: string; port: number; ip: HostPort | null } | string {
  let host = a;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d*))?$/.exec(a);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
    if (isIP(host) !== 6) return `"${a}" is not an IPv6 address in brackets`;
  } else if (isIP(a) !== 6) {
    const i = a.lastIndexOf(':');
    if (i >= 0) {
      host = a.slice(0, i);
      portText = a.slice(i + 1);
    }
  }
  const port = portText === undefined || portText === '' ? defaultPort : Number(portText);
  if (!/^\d*$/.test(portText ?? '') || !Number.isInteger(port) || port < 1 || port > 65535) return 'the port must be 1-65535';
  if (isIP(host) !== 0) {
    const hp = parseHostPort(isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`, port);
    if (typeof hp === 'string') return hp;
    return { host: hp.host, port, ip: hp };
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  if (!HOST_NAME.test(name) || /^[0-9.]+$/.test(name)) return `"${host}" is neither an IP address nor a host name`;
  return { host: name, port, ip: null };
}

/** "9.9.9.9,149.112.112.112" / "[2620:fe::fe]" → addresses on `port`; null when any is not an IP address. */
function addressList(frag: string, port: number): HostPort[] | null {
  const out: HostPort[] = [];
  for (const part of frag.split(',')) {
    const p = part.trim().replace(/^\[(.*)\]$/, '$1');
    const fam = isIP(p);
    if (fam === 0) return null;
    const hp = parseHostPort(fam === 6 ? `[${p}]:${port}` : `${p}:${port}`, port);
    if (typeof hp === 'string') return null;
    out.push(hp);
  }
  return out;
}

export interface UpstreamObject {
  url: string;
  serverName?: string | undefined;
  spkiPin?: string | string[] | undefined;
}

/** Parses one `upstreams` entry; an error string (what was expected) otherwise. */
export function parseUpstream(entry: string | UpstreamObject): UpstreamSpec | string {
  const s = typeof entry === 'string' ? entry : entry.url;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s);
  if (scheme === null) {
    if (typeof entry !== 'string') return `expected "url" to be tls://… or https://… (a plain DNS upstream is written as a string, ADDR[:PORT])`;
    const r = parseHostPort(s, 53, false);
    if (typeof r !== 'string') return { kind: 'dns', addr: r };
    const hint = /^[A-Za-z]/.test(s) && !s.includes(':') ? `; a name needs tls:// or https:// in front, plain DNS upstreams are IP addresses` : '';
    return `expected ${UPSTREAM_FORMS} (${r}${hint})`;
  }
  const name = scheme[1]!.toLowerCase();
  if (name !== 'tls' && name !== 'https') {
    const why =
      name === 'http'
        ? 'DNS over plain HTTP is not encrypted; use https://'
        : name === 'quic' || name === 'doq' || name === 'h3'
          ? 'DNS over QUIC and HTTP/3 are not supported'
          : name === 'sdns'
            ? 'DNS stamps are not supported; write the tls:// or https:// URL'
            : name === 'udp' || name === 'tcp'
              ? 'plain DNS upstreams are written without a scheme, as ADDR[:PORT]'
              : `"${name}://" is not supported`;
    return `expected ${UPSTREAM_FORMS}; ${why}`;
  }
  const kind = name === 'tls' ? 'dot' : 'doh';
  let rest = s.slice(scheme[0].length);
  let frag: string | null = null;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    frag = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  if (rest.includes('?')) return `expected no query string in "${s}"`;
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash);
  if (kind === 'dot' && path !== '' && path !== '/') return `expected tls://HOST[:PORT] without a path, got "${path}"`;
  if (kind === 'doh') {
    if (path === '' || path === '/') path = DOH_DEFAULT_PATH;
    if (!PATH.test(path)) return `expected https://HOST[:PORT]/PATH with a plain path, got the path "${path}"`;
  } else path = '';
  if (/@/.test(authority)) return `expected no user name or password in "${s}"`;
  const a = splitAuthority(authority, kind === 'dot' ? DOT_PORT : DOH_PORT);
  if (typeof a === 'string') return `expected ${kind === 'dot' ? 'tls://HOST[:PORT]' : 'https://HOST[:PORT]/PATH'} with HOST an IP address or a host name (${a})`;
  let serverName: string | null = a.ip === null ? a.host : null;
  let addresses: HostPort[] = a.ip === null ? [] : [a.ip];
  if (frag !== null && frag !== '') {
    const ips = addressList(frag, a.port);
    if (ips !== null) {
      if (a.ip !== null) return `expected "#SERVER-NAME" after an IP address (the name its certificate carries), got the address "${frag}"`;
      addresses = ips;
    } else {
      const n = frag.toLowerCase().replace(/\.$/, '');
      if (!HOST_NAME.test(n) || /^[0-9.]+$/.test(n)) return `expected "#" to be followed by the server's name (after an IP address) or its IP address(es) (after a name), got "${frag}"`;
      if (a.ip === null) return `expected "#ADDRESS" after a host name (where to connect), got the name "${frag}"; the host name is already the name verified`;
      serverName = n;
    }
  }
  const pins: string[] = [];
  if (typeof entry !== 'string') {
    if (entry.serverName !== undefined) {
      const n = entry.serverName.toLowerCase().replace(/\.$/, '');
      if (!HOST_NAME.test(n)) return `expected "serverName" to be a host name, got "${entry.serverName}"`;
      serverName = n;
    }
    if (entry.spkiPin !== undefined) pins.push(...(Array.isArray(entry.spkiPin) ? entry.spkiPin : [entry.spkiPin]));
  }
  return { kind, label: s, host: a.host, port: a.port, path, serverName, addresses, pins };
}

/** A pin: base64 of a SHA-256 digest (44 characters, or 43 without padding). */
export function isSpkiPin(s: string): boolean {
  return /^[A-Za-z0-9+/]{43}=?$/.test(s) && Buffer.from(s, 'base64').length === 32;
}

const PIN_MESSAGE = 'expected the base64 SHA-256 of the server\'s public key (SubjectPublicKeyInfo), 44 characters; see README "Encrypted DNS" for the openssl command';
const spkiPin = z.string().refine(isSpkiPin, PIN_MESSAGE);

const upstreamObject = z
  .object({
    url: z.string().min(1),
    /** The name the certificate must carry (default: the URL's host name, or the name after "#"). */
    serverName: z.string().min(1).optional(),
    spkiPin: z.union([spkiPin, z.array(spkiPin).min(1)]).optional(),
  })
  .strict();

export const upstreamEntry = z.union([z.string(), upstreamObject]).superRefine((e, ctx) => {
  const r = parseUpstream(e);
  if (typeof r === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, path: typeof e === 'string' ? [] : ['url'], message: r });
});

export type UpstreamEntry = z.infer<typeof upstreamEntry>;

/** The text of an upstream entry: the string, or the object's url. */
export function upstreamText(e: UpstreamEntry): string {
  return typeof e === 'string' ? e : e.url;
}

/** Keys added to `upstream` for encrypted upstreams. */
export const upstreamTlsKeys = {
  /** PEM bundle of extra certificate authorities trusted for tls:// and https:// upstreams (besides the system store); read again on SIGHUP. */
  caFile: z.string().min(1).nullable().default(null),
  /** A tls:// or https:// upstream connection without questions for this long is closed (a new question opens another). */
  idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** Upstream (as written in `upstreams`) → SPKI pin(s); the certificate chain must contain one of the keys. */
  spkiPins: z.record(z.string(), z.union([spkiPin, z.array(spkiPin).min(1)])).default({}),
  /** Plain DNS servers (IP[:PORT]) that resolve the host names of tls:// and https:// upstreams. */
  bootstrap: z
    .array(
      z.string().superRefine((s, ctx) => {
        const r = parseHostPort(s, 53, false);
        if (typeof r === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected ADDR[:PORT] such as 9.9.9.9 or [2620:fe::fe]:53 (${r}): a bootstrap server is given by its address` });
      }),
    )
    .default([]),
};

// ---- tls ----

const network = z.string().superRefine((s, ctx) => {
  const n = parseNetwork(s);
  if (typeof n === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: n });
});

export const tlsSchema = z
  .object({
    /** PEM certificate (chain) for the tls:// and https:// listeners; reloaded on SIGHUP. */
    certFile: z.string().min(1).optional(),
    /** PEM private key of that certificate. */
    keyFile: z.string().min(1).optional(),
    /** Reverse proxies in front of the DoH listener: from these peers, the client is the one X-Forwarded-For names. */
    trustedProxies: z.array(network).default([]),
  })
  .strict()
  .default({});

interface EncryptedConfigPart {
  listen: readonly string[];
  upstreams: readonly UpstreamEntry[];
  upstream: { spkiPins: Record<string, string | string[]>; bootstrap: readonly string[] };
  tls: { certFile?: string | undefined; keyFile?: string | undefined };
}

/** Cross-key rules: a certificate when a listener needs one, pins naming real upstreams, a bootstrap when a host needs one. */
export function checkEncryptedConfig(c: EncryptedConfigPart, ctx: z.RefinementCtx): void {
  checkListenClashes(c.listen, ctx);
  const secure = c.listen.map(parseListen).filter((r) => typeof r !== 'string' && r.kind !== 'dns');
  if (secure.length > 0) {
    const which = `the ${[...new Set(secure.map((r) => (typeof r !== 'string' && r.kind === 'dot' ? 'tls://' : 'https://')))].join(' and ')} listener(s) in "listen"`;
    if (c.tls.certFile === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tls', 'certFile'], message: `expected a PEM certificate file for ${which}` });
    if (c.tls.keyFile === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tls', 'keyFile'], message: `expected the PEM private key file of tls.certFile for ${which}` });
  }
  const specs = c.upstreams.map((e) => parseUpstream(e));
  const labels = new Map<string, UpstreamSpec>();
  c.upstreams.forEach((e, i) => {
    const r = specs[i]!;
    if (typeof r !== 'string') labels.set(upstreamText(e), r);
  });
  for (const key of Object.keys(c.upstream.spkiPins)) {
    const r = labels.get(key);
    if (r === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['upstream', 'spkiPins', key], message: `expected a key written exactly as an entry of "upstreams" (${[...labels.keys()].map((k) => JSON.stringify(k)).join(', ')})` });
    else if (r.kind === 'dns') ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['upstream', 'spkiPins', key], message: 'expected a tls:// or https:// upstream: plain DNS has no certificate to pin' });
  }
  if (c.upstream.bootstrap.length === 0) {
    specs.forEach((r, i) => {
      if (typeof r !== 'string' && r.kind !== 'dns' && r.addresses.length === 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['upstreams', i],
          message: `expected the address of "${r.host}": c2dns never resolves an upstream's name through itself; write it after "#" (${r.kind === 'dot' ? 'tls' : 'https'}://${r.host}${r.port === (r.kind === 'dot' ? DOT_PORT : DOH_PORT) ? '' : `:${r.port}`}${r.path}#ADDRESS) or set upstream.bootstrap to plain DNS servers that resolve it`,
        });
      }
    });
  }
}
