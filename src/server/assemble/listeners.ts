// Binds UDP and TCP on every configured address. Port 0 asks for an ephemeral port: TCP must get
// the one UDP got, which another socket may hold for TCP; then another is tried.
import type { Config } from '../../config/schema.js';
import { parseHostPort, type HostPort } from '../../upstream/address.js';
import type { Dispatcher } from '../dispatch.js';
import { TcpListener } from '../tcp.js';
import { UdpListener } from '../udp.js';

export interface Listeners {
  readonly udp: UdpListener[];
  readonly tcp: TcpListener[];
  /** Stops taking queries; TCP connections get `graceMs` to finish. */
  close(graceMs: number): Promise<void>;
}

const PORT_ATTEMPTS = 20;

export async function bindListeners(cfg: Config, dispatcher: Dispatcher, onSocketError: (err: Error) => void): Promise<Listeners> {
  const udp: UdpListener[] = [];
  const tcp: TcpListener[] = [];
  const close = async (graceMs: number): Promise<void> => {
    await Promise.all([...udp.map((u) => u.close()), ...tcp.map((t) => t.close(graceMs))]);
  };
  try {
    for (const a of cfg.listen.map(listenAddress)) {
      for (let attempt = 1; ; attempt++) {
        const u = await UdpListener.start(a, dispatcher, onSocketError);
        try {
          tcp.push(await TcpListener.start({ ...a, port: u.address.port }, dispatcher, cfg.tcp, onSocketError));
          udp.push(u);
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
  return { udp, tcp, close };
}

function listenAddress(s: string): HostPort {
  const r = parseHostPort(s, 53, true);
  if (typeof r === 'string') throw new Error(`listen "${s}": ${r}`); // the schema validated it already
  return r;
}
