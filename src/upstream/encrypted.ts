// tls:// and https:// upstreams from the configuration: each `upstreams` entry that is one becomes
// an UpstreamTransport (./tls.ts, ./https.ts) with the trust it was configured with (system
// store + upstream.caFile, its name, its pins: ./verify.ts) and its addresses (the URL's IP, the
// addresses after "#", or upstream.bootstrap: ./bootstrap.ts). ForwardStage keeps them in its
// upstream list beside the plain ones, with the same counters, penalties and health. They share
// one CA bundle, which reloadUpstreamCa reads again (SIGHUP).
import { parseUpstream, upstreamText, type EncryptedUpstreamSpec, type UpstreamEntry } from '../config/encrypted.js';
import { parseHostPort, type HostPort } from './address.js';
import { BootstrapResolver } from './bootstrap.js';
import { DohClient } from './https.js';
import { DotClient } from './tls.js';
import { AddressSource, type UpstreamTransport } from './transport.js';
import { trustOptions, UpstreamCa, type CaReloadResult } from './verify.js';

export interface EncryptedUpstreamOptions {
  /** The CA bundle (system store, plus upstream.caFile). */
  ca: UpstreamCa;
  /** upstream.spkiPins for this upstream (the object form's spkiPin is in the spec). */
  pins: readonly string[];
  bootstrap: BootstrapResolver | null;
  /** upstream.idleTimeoutMs. */
  idleMs: number;
}

/** The transport for a tls:// or https:// upstream. */
export function encryptedUpstream(spec: EncryptedUpstreamSpec, o: EncryptedUpstreamOptions): UpstreamTransport {
  const trust = trustOptions({ pins: [...spec.pins, ...o.pins], label: spec.label });
  const addresses = new AddressSource(spec, o.bootstrap);
  return spec.kind === 'dot' ? new DotClient(spec, trust, o.ca, addresses, o.idleMs) : new DohClient(spec, trust, o.ca, addresses, o.idleMs);
}

/**
 * SIGHUP: upstream.caFile again, for the new connections of these transports (open ones keep
 * what they verified with). null when none of them has a caFile; on failure the old bundle stays.
 */
export function reloadUpstreamCa(transports: readonly (UpstreamTransport | null)[]): (CaReloadResult & { file: string }) | null {
  const bundles = new Set<UpstreamCa>();
  for (const t of transports) if (t !== null && t.ca.file !== null) bundles.add(t.ca);
  let last: (CaReloadResult & { file: string }) | null = null;
  for (const b of bundles) {
    const r = b.reload();
    if (r === null) continue;
    last = { ...r, file: b.file! };
    if (!r.ok) return last;
  }
  return last;
}

/** An upstream ForwardStage reaches through a transport of its own. */
export interface TransportUpstream {
  /** The first known address (for display); the transport decides where it connects. */
  addr: HostPort;
  label: string;
  transport: UpstreamTransport;
  /**
   * The settings the transport was made with (CA file, pins, bootstrap servers, timeouts): a
   * config reload keeps a running transport only when these are the same, so a changed pin or
   * CA file is not left to the next restart.
   */
  settings: string;
}

/** What ForwardStage needs from `upstream`. */
export interface UpstreamTlsSettings {
  timeoutMs: number;
  idleTimeoutMs: number;
  caFile: string | null;
  spkiPins: Record<string, string | string[]>;
  bootstrap: readonly string[];
}

/**
 * Every `upstreams` entry as ForwardStage takes it: a HostPort for plain DNS, a TransportUpstream
 * for tls:// and https://. Entries were validated by the schema and caFile by preflight; a caFile
 * that became unreadable since is an error here.
 */
export function upstreamTargets(entries: readonly UpstreamEntry[], u: UpstreamTlsSettings): (HostPort | TransportUpstream)[] {
  const ca = UpstreamCa.load(u.caFile);
  const servers = u.bootstrap.flatMap((s) => {
    const hp = parseHostPort(s, 53);
    return typeof hp === 'string' ? [] : [hp];
  });
  const bootstrap = servers.length > 0 ? new BootstrapResolver(servers, u.timeoutMs) : null;
  return entries.map((e) => {
    const spec = parseUpstream(e);
    if (typeof spec === 'string') throw new Error(`upstream "${upstreamText(e)}": ${spec}`); // the schema validated it already
    if (spec.kind === 'dns') return spec.addr;
    const given = u.spkiPins[upstreamText(e)];
    const pins = given === undefined ? [] : Array.isArray(given) ? given : [given];
    const transport = encryptedUpstream(spec, { ca, pins, bootstrap, idleMs: u.idleTimeoutMs });
    const addr = spec.addresses[0] ?? { host: spec.host, port: spec.port, family: 4 as const };
    const settings = JSON.stringify({ caFile: u.caFile, pins, bootstrap: u.bootstrap, timeoutMs: u.timeoutMs, idleMs: u.idleTimeoutMs });
    return { addr, label: spec.label, transport, settings };
  });
}
