// UDP listener: one socket per configured address. Datagrams from port 0 are dropped (they
// cannot be answered, and a send to port 0 throws). The socket asks for a 4 MiB receive buffer
// (as Unbound's so-rcvbuf advice; Linux caps it at net.core.rmem_max): the default 208 KiB holds
// only ~250 small datagrams, a few milliseconds of a flood, and a full buffer drops every
// client's queries alike, before the rate limiter can tell the flooding client from the others.
// The socket resolves addresses with an identity lookup: every address it sees is already an IP
// literal (the bound host, a client's rinfo.address), and Node's default (dns.lookup) would cost
// each answer a validation pass and a deferral to the next tick before the send.
import dgram from 'node:dgram';
import type { HostPort } from '../upstream/address.js';
import type { Dispatcher } from './dispatch.js';

/** The receive buffer each UDP listener asks for. */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** What the server needs of a UDP listener, on either path (udp.ts, udp-batch.ts). */
export interface UdpServing {
  /** Which implementation: `js` (node:dgram) or `batch` (the native recvmmsg/sendmmsg addon). */
  readonly path: 'js' | 'batch';
  readonly address: HostPort;
  stopAccepting(): void;
  close(): Promise<void>;
}

export class UdpListener implements UdpServing {
  readonly path = 'js';
  private accepting = true;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: HostPort,
  ) {}

  static start(addr: HostPort, dispatcher: Dispatcher, onError: (err: Error) => void): Promise<UdpListener> {
    const socket = dgram.createSocket({ type: addr.family === 6 ? 'udp6' : 'udp4', ipv6Only: addr.family === 6, lookup: literalLookup });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(addr.port, addr.host, () => {
        socket.off('error', reject);
        const bound = socket.address();
        const listener = new UdpListener(socket, { ...addr, port: bound.port });
        try {
          socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
        } catch {
          // Not permitted here (some sandboxes): the system default stays.
        }
        socket.on('error', onError);
        const sendError = (err: Error | null): void => {
          if (err) onError(err);
        };
        socket.on('message', (msg, rinfo) => {
          if (!listener.accepting || rinfo.port === 0) return;
          dispatcher.handle(msg, rinfo.address, rinfo.port, 'udp', (reply) => {
            if (reply !== null) socket.send(reply, rinfo.port, rinfo.address, sendError);
          });
        });
        resolve(listener);
      });
    });
  }

  /** Stop taking new queries; the socket stays open so in-flight answers can still be sent. */
  stopAccepting(): void {
    this.accepting = false;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** dgram's lookup for addresses that are IP literals (HostPort.host, rinfo.address): answered at once. */
function literalLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, typeof family === 'number' ? family : address.includes(':') ? 6 : 4);
}
