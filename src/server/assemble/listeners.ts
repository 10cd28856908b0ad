// Binds every `listen` entry: a plain address gets UDP and TCP, tls:// a DNS-over-TLS listener and
// https:// a DNS-over-HTTPS one (config/encrypted.ts), the last two with the tls.certFile/keyFile
// pair, which reloadTls() reads again (SIGHUP). Port 0 asks for an ephemeral port: TCP must get
// the one UDP got, which another socket may hold for TCP; then another is tried.
import { formatListen, parseListen, type ListenSpec } from '../../config/encrypted.js';
import type { Config } from '../../config/schema.js';
import type { UdpStatus } from '../../admin/context.js';
import type { HostPort } from '../../upstream/address.js';
import type { Dispatcher } from '../dispatch.js';
import type { DohListener } from '../doh.js';
import { TcpListener } from '../tcp.js';
import { TlsMaterial, type TlsReloadResult } from '../tls-material.js';
import { UdpListener, type UdpServing } from '../udp.js';
import { loadUdpBatchAddon } from '../../native/udp-batch-addon.js';
import { BatchUdpListener, chooseUdpPath, type UdpPath } from '../udp-batch.js';

export interface Listeners {
  readonly udp: UdpServing[];
  /** Which UDP implementation serves (server.udpBatch): the native batch addon or node:dgram; null without UDP listeners. */
  readonly udpPath: UdpPath | null;
  /** /api/status `udp`: the path and, on the native one, its counters summed over the sockets. */
  udpStatus(): UdpStatus | null;
  readonly tcp: TcpListener[];
  /** DNS over TLS (tls://). */
  readonly dot: TcpListener[];
  /** DNS over HTTPS (https://). */
  readonly doh: DohListener[];
  /** The bound listen entries, as URLs ("127.0.0.1:53", "tls://127.0.0.1:853", "https://127.0.0.1:443/dns-query"). */
  readonly bound: string[];
  /** Per `listen` entry, its sockets (a config reload re-binds the entries that changed). */
  readonly entries: readonly ListenerEntry[];
  /** The certificate of the DoT/DoH listeners; null without any. */
  readonly tls: TlsMaterial | null;
  /** Reads tls.certFile/keyFile again; null when no listener uses TLS. */
  reloadTls(): TlsReloadResult | null;
  /** Stops taking queries; TCP, DoT and DoH connections get `graceMs` to finish. */
  close(graceMs: number): Promise<void>;
}

/** One `listen` entry as configured and what it bound: UDP+TCP, DoT or DoH. */
export interface ListenerEntry {
  /** The entry as written in the configuration. */
  readonly listen: string;
  /** As bound (the port 0 asked for resolved). */
  readonly bound: string;
  readonly udp: UdpServing | null;
  readonly tcp: TcpListener | null;
  readonly dot: TcpListener | null;
  readonly doh: DohListener | null;
}

const PORT_ATTEMPTS = 20;

export interface BindOptions {
  /** Only these `listen` entries (config reload: the new ones); default all. */
  only?: readonly string[];
  /** The certificate already loaded (config reload); default: read tls.certFile/keyFile when a DoT/DoH entry needs it. */
  material?: TlsMaterial | null;
}

export async function bindListeners(cfg: Config, dispatcher: Dispatcher, onSocketError: (err: Error) => void, o: BindOptions = {}): Promise<Listeners> {
  const entries: ListenerEntry[] = [];
  const listen = o.only ?? cfg.listen;
  const specs = listen.map(listenSpec);
  // Checked by preflight already; read here so the listeners get exactly what was checked.
  const material = o.material ?? (specs.some((s) => s.kind !== 'dns') ? TlsMaterial.load(cfg.tls.certFile!, cfg.tls.keyFile!) : null);
  const none = { udp: null, tcp: null, dot: null, doh: null };
  // Preflight reported a `server.udpBatch: on` that cannot be had; checked again for the reload path.
  const addon = loadUdpBatchAddon();
  const choice = chooseUdpPath(cfg.server.udpBatch, cfg.workers, addon);
  if ('error' in choice) throw new Error(`server.udpBatch: ${choice.error}`);
  const startUdp = (a: HostPort): Promise<UdpServing> =>
    choice.path === 'batch' ? BatchUdpListener.start(addon!, a, dispatcher, onSocketError) : UdpListener.start(a, dispatcher, onSocketError);
  try {
    for (const [i, spec] of specs.entries()) {
      const a = spec.addr;
      if (spec.kind === 'dot') {
        const l = await TcpListener.start(a, dispatcher, cfg.tcp, onSocketError, material!.options());
        material!.attach(l);
        entries.push({ ...none, listen: listen[i]!, bound: formatListen({ ...spec, addr: l.address }), dot: l });
        continue;
      }
      if (spec.kind === 'doh') {
        const opts = { path: spec.path, idleTimeoutMs: cfg.tcp.idleTimeoutMs, maxConnections: cfg.tcp.maxConnections, maxStreams: cfg.tcp.maxInflightPerConnection, trustedProxies: cfg.tls.trustedProxies };
        // Imported only when DoH is configured: node:http2 and the DoH server stay unloaded otherwise.
        const { DohListener } = await import('../doh.js');
        const l = await DohListener.start(a, dispatcher, opts, material!.options(), onSocketError);
        material!.attach(l);
        entries.push({ ...none, listen: listen[i]!, bound: formatListen({ ...spec, addr: l.address }), doh: l });
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        const u = await startUdp(a);
        try {
          const t = await TcpListener.start({ ...a, port: u.address.port }, dispatcher, cfg.tcp, onSocketError);
          entries.push({ ...none, listen: listen[i]!, bound: formatListen({ kind: 'dns', addr: u.address }), udp: u, tcp: t });
          break;
        } catch (err) {
          await u.close();
          if (a.port !== 0 || attempt >= PORT_ATTEMPTS || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
    }
  } catch (err) {
    await listenerSet(entries, material).close(0);
    throw err;
  }
  return listenerSet(entries, material);
}

/** The Listeners view of bound entries (start-up, and a reload's kept and new ones together). */
export function listenerSet(entries: readonly ListenerEntry[], material: TlsMaterial | null): Listeners {
  const pick = <T>(f: (e: ListenerEntry) => T | null): T[] => entries.map(f).filter((x): x is T => x !== null);
  const set = { udp: pick((e) => e.udp), tcp: pick((e) => e.tcp), dot: pick((e) => e.dot), doh: pick((e) => e.doh) };
  return {
    ...set,
    udpPath: set.udp[0]?.path ?? null,
    udpStatus: () => udpStatus(set.udp),
    bound: entries.map((e) => e.bound),
    entries,
    tls: material,
    reloadTls: () => material?.reload() ?? null,
    close: async (graceMs) => {
      await Promise.all([...set.udp.map((u) => u.close()), ...[...set.tcp, ...set.dot, ...set.doh].map((t) => t.close(graceMs))]);
    },
  };
}

function udpStatus(udp: readonly UdpServing[]): UdpStatus | null {
  if (udp.length === 0) return null;
  const batch = udp.filter((u): u is BatchUdpListener => u instanceof BatchUdpListener);
  if (batch.length === 0) return { path: 'js' };
  const sum = { path: 'batch' as const, received: 0, batches: 0, sent: 0, sendCalls: 0, dropped: 0, errors: 0 };
  for (const u of batch) {
    const s = u.stats();
    sum.received += s.received;
    sum.batches += s.batches;
    sum.sent += s.sent;
    sum.sendCalls += s.sendCalls;
    sum.dropped += s.dropped;
    sum.errors += s.errors;
  }
  return sum;
}

function listenSpec(s: string): ListenSpec {
  const r = parseListen(s);
  if (typeof r === 'string') throw new Error(`listen "${s}": ${r}`); // the schema validated it already
  return r;
}
