// tls:// and https:// upstreams from the configuration: each `upstreams` entry that is one becomes
// an UpstreamTransport (./tls.ts, ./https.ts) with the trust it was configured with (system
// store + upstream.caFile, its name, its pins: ./verify.ts) and its addresses (the URL's IP, the
// addresses after "#", or upstream.bootstrap: ./bootstrap.ts). ForwardStage keeps them in its
// upstream list beside the plain ones, with the same counters, penalties and health.
import { parseUpstream, upstreamText, type EncryptedUpstreamSpec, type UpstreamEntry } from '../config/encrypted.js';
import { parseHostPort, type HostPort } from './address.js';
import { BootstrapResolver } from './bootstrap.js';
import { DohClient } from './https.js';
import { DotClient } from './tls.js';
import { AddressSource, UPSTREAM_IDLE_MS, type UpstreamTransport } from './transport.js';
import { readCaFile, trustOptions } from './verify.js';

export interface EncryptedUpstreamOptions {
  /** Extra CA certificates from upstream.caFile; null: the system store only. */
  extraCa: readonly string[] | null;
  /** upstream.spkiPins for this upstream (the object form's spkiPin is in the spec). */
  pins: readonly string[];
  bootstrap: BootstrapResolver | null;
  idleMs?: number;
}

/** The transport for a tls:// or https:// upstream. */
export function encryptedUpstream(spec: EncryptedUpstreamSpec, o: EncryptedUpstreamOptions): UpstreamTransport {
  const trust = trustOptions({ extraCa: o.extraCa, pins: [...spec.pins, ...o.pins], label: spec.label });
  const addresses = new AddressSource(spec, o.bootstrap);
  const idleMs = o.idleMs ?? UPSTREAM_IDLE_MS;
  return spec.kind === 'dot' ? new DotClient(spec, trust, addresses, idleMs) : new DohClient(spec, trust, addresses, idleMs);
}

/** An upstream ForwardStage reaches through a transport of its own. */
export interface TransportUpstream {
  /** The first known address (for display); the transport decides where it connects. */
  addr: HostPort;
  label: string;
  transport: UpstreamTransport;
}

/** What ForwardStage needs from `upstream`. */
export interface UpstreamTlsSettings {
  timeoutMs: number;
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
  let extraCa: string[] | null = null;
  if (u.caFile !== null) {
    const r = readCaFile(u.caFile);
    if (typeof r === 'string') throw new Error(`upstream.caFile: ${r}`);
    extraCa = r;
  }
  const servers = u.bootstrap.flatMap((s) => {
    const hp = parseHostPort(s, 53);
    return typeof hp === 'string' ? [] : [hp];
  });
  const bootstrap = servers.length > 0 ? new BootstrapResolver(servers, u.timeoutMs) : null;
  return entries.map((e) => {
    const spec = parseUpstream(e);
    if (typeof spec === 'string') throw new Error(`upstream "${upstreamText(e)}": ${spec}`); // the schema validated it already
    if (spec.kind === 'dns') return spec.addr;
    const pins = u.spkiPins[upstreamText(e)];
    const transport = encryptedUpstream(spec, { extraCa, pins: pins === undefined ? [] : Array.isArray(pins) ? pins : [pins], bootstrap });
    const addr = spec.addresses[0] ?? { host: spec.host, port: spec.port, family: 4 as const };
    return { addr, label: spec.label, transport };
  });
}
