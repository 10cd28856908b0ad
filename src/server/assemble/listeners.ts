// Binds every `listen` entry: a plain address gets UDP and TCP, tls:// a DNS-over-TLS listener and
// https:// a DNS-over-HTTPS one (config/encrypted.ts), the last two with the tls.certFile/keyFile
// pair, which reloadTls() reads again (SIGHUP). Port 0 asks for an ephemeral port: TCP must get
// the one UDP got, which another socket may hold for TCP; then another is tried.
import { formatListen, parseListen, type ListenSpec } from '../../config/encrypted.js';
import type { Config } from '../../config/schema.js';
import type { Dispatcher } from '../dispatch.js';
import { DohListener } from '../doh.js';
import { TcpListener } from '../tcp.js';
import { TlsMaterial, type TlsReloadResult } from '../tls-material.js';
import { UdpListener } from '../udp.js';

export interface Listeners {
  readonly udp: UdpListener[];
  readonly tcp: TcpListener[];
  /** DNS over TLS (tls://). */
  readonly dot: TcpListener[];
  /** DNS over HTTPS (https://). */
  readonly doh: DohListener[];
  /** The bound listen entries, as URLs ("127.0.0.1:53", "tls://127.0.0.1:853", "https://127.0.0.1:443/dns-query"). */
  readonly bound: string[];
  /** The certificate of the DoT/DoH listeners; null without any. */
  readonly tls: TlsMaterial | null;
  /** Reads tls.certFile/keyFile again; null when no listener uses TLS. */
  reloadTls(): TlsReloadResult | null;
  /** Stops taking queries; TCP, DoT and DoH connections get `graceMs` to finish. */
  close(graceMs: number): Promise<void>;
}

const PORT_ATTEMPTS = 20;

export async function bindListeners(cfg: Config, dispatcher: Dispatcher, onSocketError: (err: Error) => void): Promise<Listeners> {
  const udp: UdpListener[] = [];
  const tcp: TcpListener[] = [];
  const dot: TcpListener[] = [];
  const doh: DohListener[] = [];
  const bound: string[] = [];
  const specs = cfg.listen.map(listenSpec);
  // Checked by preflight already; read here so the listeners get exactly what was checked.
  const material = specs.some((s) => s.kind !== 'dns') ? TlsMaterial.load(cfg.tls.certFile!, cfg.tls.keyFile!) : null;
  const close = async (graceMs: number): Promise<void> => {
    await Promise.all([...udp.map((u) => u.close()), ...[...tcp, ...dot, ...doh].map((t) => t.close(graceMs))]);
  };
  try {
    for (const spec of specs) {
      const a = spec.addr;
      if (spec.kind === 'dot') {
        const l = await TcpListener.start(a, dispatcher, cfg.tcp, onSocketError, material!.options());
        material!.attach(l);
        dot.push(l);
        bound.push(formatListen({ ...spec, addr: l.address }));
        continue;
      }
      if (spec.kind === 'doh') {
        const opts = { path: spec.path, idleTimeoutMs: cfg.tcp.idleTimeoutMs, maxConnections: cfg.tcp.maxConnections, maxStreams: cfg.tcp.maxInflightPerConnection, trustedProxies: cfg.tls.trustedProxies };
        const l = await DohListener.start(a, dispatcher, opts, material!.options(), onSocketError);
        material!.attach(l);
        doh.push(l);
        bound.push(formatListen({ ...spec, addr: l.address }));
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        const u = await UdpListener.start(a, dispatcher, onSocketError);
        try {
          tcp.push(await TcpListener.start({ ...a, port: u.address.port }, dispatcher, cfg.tcp, onSocketError));
          udp.push(u);
          bound.push(formatListen({ kind: 'dns', addr: u.address }));
          break;
        } catch (err) {
          await u.close();
          if (a.port !== 0 || attempt >= PORT_ATTEMPTS || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
    }
  } catch (err) {
    await close(0);
    throw err;
  }
  return { udp, tcp, dot, doh, bound, tls: material, reloadTls: () => material?.reload() ?? null, close };
}

function listenSpec(s: string): ListenSpec {
  const r = parseListen(s);
  if (typeof r === 'string') throw new Error(`listen "${s}": ${r}`); // the schema validated it already
  return r;
}
