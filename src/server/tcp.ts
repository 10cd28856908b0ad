// Stream listener per RFC 7766: 2-byte length framing across partial reads, several queries per
// connection answered as they complete (any order), an idle timeout, a connection cap, a cap
// on queries in flight per connection and write backpressure (a client that does not read
// stops being read). The same connection handling serves plain TCP and DNS over TLS (RFC 7858,
// which keeps RFC 7766's framing): `TcpListener.start` takes a net.Server or a tls.Server
// (`tls` options given), and a connection is any net.Socket, a tls.TLSSocket included.
import net from 'node:net';
import tls from 'node:tls';
import type { Transport } from '../resolve/types.js';
import type { HostPort } from '../upstream/address.js';
import type { Dispatcher } from './dispatch.js';

export interface TcpOptions {
  idleTimeoutMs: number;
  maxConnections: number;
  maxInflightPerConnection: number;
}

const WRITE_HIGH_WATER = 256 * 1024;

class Connection {
  private pending: Buffer | null = null;
  private inflight = 0;
  private closing = false;
  private ended = false;
  /** Inside dispatchPending (answers can come back synchronously, e.g. blocked names). */
  private dispatching = false;

  constructor(
    private readonly sock: net.Socket,
    private readonly dispatcher: Dispatcher,
    private readonly opts: TcpOptions,
    private readonly transport: Transport,
  ) {
    sock.setNoDelay(true);
    // A listener, not setTimeout's callback argument: that one is registered with once(), so
    // a timeout that fires while a query is in flight would leave the connection with none.
    sock.setTimeout(opts.idleTimeoutMs);
    sock.on('timeout', () => {
      if (this.inflight === 0) sock.destroy();
    });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('end', () => {
      this.ended = true;
      this.maybeEnd();
    });
    sock.on('drain', () => {
      this.maybeResume();
      this.maybeEnd();
    });
    sock.on('error', () => sock.destroy());
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.dispatchPending();
    if (this.inflight >= this.opts.maxInflightPerConnection) this.sock.pause();
  }

  /**
   * Hands the complete messages in `pending` to the dispatcher, stopping at the in-flight cap:
   * one segment can carry hundreds of queries, and the rest wait there (with the socket
   * paused) until answers free slots.
   */
  private dispatchPending(): void {
    if (this.dispatching || this.pending === null) return;
    this.dispatching = true;
    let buf = this.pending;
    this.pending = null;
    while (buf.length >= 2 && this.inflight < this.opts.maxInflightPerConnection) {
      const len = buf.readUInt16BE(0);
      if (len === 0) {
        this.sock.destroy();
        this.dispatching = false;
        return;
      }
      if (buf.length < 2 + len) break;
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      if (this.closing) continue;
      this.inflight++;
      this.dispatcher.handle(msg, this.sock.remoteAddress ?? '', this.sock.remotePort ?? 0, this.transport, (reply) => this.send(reply));
    }
    this.dispatching = false;
    if (this.closing || this.sock.destroyed) return;
    // Complete messages held back by the cap keep their chunk; a partial one is copied so it
    // does not pin the whole chunk.
    if (buf.length > 0) this.pending = this.inflight >= this.opts.maxInflightPerConnection ? buf : Buffer.from(buf);
  }

  private send(reply: Buffer | null): void {
    this.inflight--;
    if (this.sock.destroyed) return;
    if (reply === null) {
      this.maybeResume();
      this.maybeEnd();
      return;
    }
    const framed = Buffer.allocUnsafe(2 + reply.length);
    framed.writeUInt16BE(reply.length, 0);
    reply.copy(framed, 2);
    this.sock.write(framed);
    if (this.sock.writableLength > WRITE_HIGH_WATER) this.sock.pause();
    else this.maybeResume();
    this.maybeEnd();
  }

  private maybeResume(): void {
    if (this.closing || this.dispatching) return;
    // Queries already received come first, even after the client's FIN.
    this.dispatchPending();
    if (this.ended || this.sock.destroyed) return;
    if (this.inflight < this.opts.maxInflightPerConnection && this.sock.writableLength <= WRITE_HIGH_WATER) this.sock.resume();
  }

  /** Half-closed by the client, or shutting down: end once every answer is written. */
  private maybeEnd(): void {
    if (this.dispatching) return; // an answer given synchronously mid-dispatch; more may follow
    if ((this.ended || this.closing) && this.inflight === 0 && !this.sock.destroyed) this.sock.end();
  }

  shutdown(): void {
    this.closing = true;
    this.sock.pause();
    this.maybeEnd();
  }
}

export class TcpListener {
  /** Every accepted TCP connection (for DoT also those still in the TLS handshake). */
  private readonly conns = new Set<net.Socket>();
  private readonly wrappers = new Map<net.Socket, Connection>();
  /** DoT: TLS handshakes that failed (wrong version, no shared cipher, a scanner). */
  handshakeFailures = 0;

  private constructor(
    private readonly server: net.Server,
    readonly address: HostPort,
    readonly transport: Transport,
  ) {}

  /**
   * Plain TCP, or with `tls` (secure context options) DNS over TLS: same framing, limits and
   * backpressure on the decrypted stream; the idle timeout also bounds the TLS handshake.
   */
  static start(addr: HostPort, dispatcher: Dispatcher, opts: TcpOptions, onError: (err: Error) => void, secure: tls.SecureContextOptions | null = null): Promise<TcpListener> {
    // allowHalfOpen: a client may send its queries then FIN; its answers are still written,
    // and maybeEnd() closes our side once the last one is out.
    const server: net.Server =
      secure === null ? net.createServer({ allowHalfOpen: true }) : tls.createServer({ ...secure, allowHalfOpen: true, handshakeTimeout: opts.idleTimeoutMs });
    const transport: Transport = secure === null ? 'tcp' : 'dot';
    server.maxConnections = opts.maxConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: addr.port, host: addr.host, ipv6Only: addr.family === 6 }, () => {
        server.off('error', reject);
        server.on('error', onError);
        const bound = server.address() as net.AddressInfo;
        const listener = new TcpListener(server, { ...addr, port: bound.port }, transport);
        const serve = (sock: net.Socket): void => {
          listener.wrappers.set(sock, new Connection(sock, dispatcher, opts, transport));
          sock.on('close', () => listener.wrappers.delete(sock));
        };
        server.on('connection', (sock: net.Socket) => {
          listener.conns.add(sock);
          sock.on('close', () => listener.conns.delete(sock));
          if (secure === null) serve(sock);
        });
        if (secure !== null) {
          // The TLS socket over the TCP one: DNS messages are read from it once the handshake is done.
          server.on('secureConnection', (sock: tls.TLSSocket) => serve(sock));
          server.on('tlsClientError', () => {
            listener.handshakeFailures++;
          });
        }
        resolve(listener);
      });
    });
  }

  get connections(): number {
    return this.conns.size;
  }

  /** DoT: new connections use these certificate and key (SIGHUP reload); a no-op for plain TCP. */
  setSecureContext(options: tls.SecureContextOptions): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext(options);
  }

  /** Stop accepting; open connections finish what they have in flight, then close. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.wrappers.values()) c.shutdown();
      setTimeout(() => {
        for (const s of this.conns) s.destroy();
      }, graceMs).unref();
    });
  }
}
