// Stream listener per RFC 7766: 2-byte length framing across partial reads, several queries per
// connection answered as they complete (any order), an idle timeout, a connection cap, a cap
// on queries in flight per connection and write backpressure (a client that does not read
// stops being read). The same connection handling serves plain TCP and DNS over TLS (RFC 7858,
// which keeps RFC 7766's framing): `TcpListener.start` takes a net.Server or a tls.Server
// (`tls` options given), and a connection is any net.Socket, a tls.TLSSocket included. Over DoT
// only, a query with the EDNS Padding option gets a padded answer (dns/padding.ts).
//
// Slow clients (slowloris, issue 10 item 9) cannot hold the slots: the idle timer restarts with
// every byte, so besides it a message, once its first byte arrived, must be complete within
// messageTimeoutMs (for DoT the TLS handshake too) and arrive at minBytesPerSecond on average
// after its first second; a sweep every SWEEP_MS closes connections that fall behind (only while
// c2dns reads them: a connection paused by its own in-flight cap or unread answers is not timed).
// One client address (IPv6: its /64) has at most maxConnectionsPerClient connections. At either
// cap, a new connection makes room by closing a connection that is not working for anyone: idle
// (nothing in flight, nothing half-received) or with an unfinished message or handshake. At the
// global cap it is taken from the client holding the most connections, and among those the one
// that waited longest without progress; at a client's own cap, from that client. A connection
// with a query in flight is never closed for room; when nothing can go, the new connection is
// refused. So a client that reconnects faster does not win slots from one that asks and gets its
// answer: what goes first is what the client holding the most connections holds.
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import tls from 'node:tls';
import { hasPaddingOption, padMessage, RESPONSE_PADDING_BLOCK } from '../dns/padding.js';
import { plainAddress } from '../resolve/client-ip.js';
import { networkOf } from '../resolve/ratelimit.js';
import type { Transport } from '../resolve/types.js';
import type { HostPort } from '../upstream/address.js';
import type { Dispatcher } from './dispatch.js';

export interface TcpOptions {
  idleTimeoutMs: number;
  maxConnections: number;
  maxInflightPerConnection: number;
  /** Connections from one client address (IPv6: one /64) at most. Default: no per-client cap. */
  maxConnectionsPerClient?: number;
  /** A started message (and a TLS handshake) must be complete within this. Default: no deadline. */
  messageTimeoutMs?: number;
  /** A message being received must come at least this fast on average after its first second; 0 (default) = no check. */
  minBytesPerSecond?: number;
}

/** Connections closed or refused to protect the listener, by reason (c2dns_tcp_defence_total). */
export interface TcpDefences {
  /** A message (or handshake) not complete within messageTimeoutMs. */
  'slow-message': number;
  /** A message arriving slower than minBytesPerSecond. */
  'slow-rate': number;
  /** Closed to make room for a new connection at a cap (global or per client). */
  'evicted': number;
  /** New connections refused: the client is at maxConnectionsPerClient and none of its connections could go. */
  'per-client': number;
  /** New connections refused: the listener is at maxConnections and no connection could go. */
  'refused': number;
}

const WRITE_HIGH_WATER = 256 * 1024;
/** How often slow messages are looked for. */
const SWEEP_MS = 200;
/** A message gets this long before its rate is judged. */
const RATE_GRACE_MS = 1000;

class Connection {
  private pending: Buffer | null = null;
  private inflight = 0;
  private closing = false;
  private ended = false;
  /** Inside dispatchPending (answers can come back synchronously, e.g. blocked names). */
  private dispatching = false;
  /** performance.now() of the last byte received or answer sent. */
  lastActive = performance.now();
  /** performance.now() the unfinished message being read began (0: none, or not reading now). */
  messageStart = 0;
  /** Bytes of that message received so far. */
  messageBytes = 0;

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
    this.lastActive = performance.now();
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.dispatchPending();
    if (this.inflight >= this.opts.maxInflightPerConnection) this.sock.pause();
  }

  /** Nothing in flight and nothing half-received: closing it loses no query. */
  get idle(): boolean {
    return this.inflight === 0 && this.pending === null && !this.sock.destroyed;
  }

  /** The client's socket (for DoT the TLS one). */
  get socket(): net.Socket {
    return this.sock;
  }

  /**
   * Times the unfinished message: started now unless one is already timed; not timed while c2dns
   * does not read this connection (its in-flight cap, unread answers), which is not the client's doing.
   */
  private timeMessage(): void {
    const partial = this.pending;
    if (partial === null || this.inflight >= this.opts.maxInflightPerConnection || this.sock.writableLength > WRITE_HIGH_WATER || this.closing) {
      this.messageStart = 0;
      return;
    }
    if (this.messageStart === 0) this.messageStart = performance.now();
    this.messageBytes = partial.length;
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
      // DoT: a query with EDNS Padding gets its answer padded (RFC 7830 §4, 468-octet blocks: RFC 8467); plain TCP never.
      const pad = this.transport === 'dot' && hasPaddingOption(msg);
      this.dispatcher.handle(msg, this.sock.remoteAddress ?? '', this.sock.remotePort ?? 0, this.transport, (reply, end) =>
        this.send(pad && reply !== null ? padMessage(reply, RESPONSE_PADDING_BLOCK) : reply, end === true),
      );
    }
    this.dispatching = false;
    if (this.closing) {
      this.maybeEnd(); // an answer given synchronously ended the connection (Answer.endConnection)
      return;
    }
    if (this.sock.destroyed) return;
    // Complete messages held back by the cap keep their chunk; a partial one is copied so it
    // does not pin the whole chunk.
    if (buf.length > 0) this.pending = this.inflight >= this.opts.maxInflightPerConnection ? buf : Buffer.from(buf);
    this.timeMessage();
  }

  private send(reply: Buffer | null, end = false): void {
    this.inflight--;
    if (this.sock.destroyed) return;
    this.lastActive = performance.now();
    if (end) {
      // Written below; then no more reading, the answers in flight, and the end (maybeEnd).
      this.closing = true;
      this.pending = null;
      this.sock.pause();
    }
    if (reply === null) {
      this.maybeResume();
      this.maybeEnd();
      return;
    }
    const framed = Buffer.allocUnsafe(2 + reply.length);
    framed.writeUInt16BE(reply.length, 0);
    reply.copy(framed, 2);
    this.sock.write(framed);
    if (this.sock.writableLength > WRITE_HIGH_WATER) {
      this.sock.pause();
      this.messageStart = 0; // not read now: the message is not the client's to finish
    } else this.maybeResume();
    this.maybeEnd();
  }

  private maybeResume(): void {
    if (this.closing || this.dispatching) return;
    // Queries already received come first, even after the client's FIN.
    this.dispatchPending();
    if (this.ended || this.sock.destroyed) return;
    if (this.inflight < this.opts.maxInflightPerConnection && this.sock.writableLength <= WRITE_HIGH_WATER) this.sock.resume();
    this.timeMessage();
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

/** One accepted TCP connection: for DoT, the TLS socket's wrapper once the handshake is done. */
interface Slot {
  readonly raw: net.Socket;
  /** The client as the per-client cap counts it: the address, an IPv6 address's /64. */
  readonly client: string;
  readonly acceptedAt: number;
  conn: Connection | null;
}

export class TcpListener {
  /** Every accepted TCP connection (for DoT also those still in the TLS handshake), by raw socket. */
  private readonly slots = new Map<net.Socket, Slot>();
  /** DoT: slots by the peer's address and port, to find a TLS socket's slot. */
  private readonly byPeer = new Map<string, Slot>();
  private readonly perClient = new Map<string, number>();
  private sweeper: NodeJS.Timeout | null = null;
  /** DoT: TLS handshakes that failed (wrong version, no shared cipher, a scanner). */
  handshakeFailures = 0;
  readonly defences: TcpDefences = { 'slow-message': 0, 'slow-rate': 0, evicted: 0, 'per-client': 0, refused: 0 };

  private constructor(
    private readonly server: net.Server,
    readonly address: HostPort,
    readonly transport: Transport,
    private readonly opts: TcpOptions,
  ) {}

  /**
   * Plain TCP, or with `tls` (secure context options) DNS over TLS: same framing, limits and
   * backpressure on the decrypted stream; the TLS handshake has messageTimeoutMs (else the idle timeout).
   */
  static start(addr: HostPort, dispatcher: Dispatcher, opts: TcpOptions, onError: (err: Error) => void, secure: tls.SecureContextOptions | null = null): Promise<TcpListener> {
    // allowHalfOpen: a client may send its queries then FIN; its answers are still written,
    // and maybeEnd() closes our side once the last one is out.
    const handshakeTimeout = Math.min(opts.idleTimeoutMs, opts.messageTimeoutMs ?? Infinity);
    const server: net.Server = secure === null ? net.createServer({ allowHalfOpen: true }) : tls.createServer({ ...secure, allowHalfOpen: true, handshakeTimeout });
    const transport: Transport = secure === null ? 'tcp' : 'dot';
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: addr.port, host: addr.host, ipv6Only: addr.family === 6 }, () => {
        server.off('error', reject);
        server.on('error', onError);
        const bound = server.address() as net.AddressInfo;
        const listener = new TcpListener(server, { ...addr, port: bound.port }, transport, opts);
        server.on('connection', (sock: net.Socket) => {
          const slot = listener.admit(sock);
          if (slot !== null && secure === null) slot.conn = new Connection(sock, dispatcher, opts, transport);
        });
        if (secure !== null) {
          // The TLS socket over the TCP one: DNS messages are read from it once the handshake is done.
          server.on('secureConnection', (sock: tls.TLSSocket) => {
            const slot = listener.byPeer.get(`${sock.remoteAddress}|${sock.remotePort}`);
            if (slot === undefined || slot.raw.destroyed) {
              sock.destroy();
              return;
            }
            slot.conn = new Connection(sock, dispatcher, opts, transport);
          });
          server.on('tlsClientError', () => {
            listener.handshakeFailures++;
          });
        }
        resolve(listener);
      });
    });
  }

  /** Takes a new connection into a slot, making room at a cap; null when it was refused. */
  private admit(raw: net.Socket): Slot | null {
    const client = clientOf(raw.remoteAddress ?? '');
    const perClientMax = this.opts.maxConnectionsPerClient ?? Infinity;
    if ((this.perClient.get(client) ?? 0) >= perClientMax && !this.evict(client)) {
      this.defences['per-client']++;
      raw.destroy();
      return null;
    }
    if (this.slots.size >= this.opts.maxConnections && !this.evict(null)) {
      this.defences.refused++;
      raw.destroy();
      return null;
    }
    const slot: Slot = { raw, client, acceptedAt: performance.now(), conn: null };
    const peer = `${raw.remoteAddress}|${raw.remotePort}`;
    this.slots.set(raw, slot);
    this.byPeer.set(peer, slot);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    raw.on('close', () => this.release(slot, peer));
    this.startSweeping();
    return slot;
  }

  private release(slot: Slot, peer: string): void {
    if (this.slots.get(slot.raw) !== slot) return; // released already (evicted)
    this.slots.delete(slot.raw);
    if (this.byPeer.get(peer) === slot) this.byPeer.delete(peer);
    const n = (this.perClient.get(slot.client) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(slot.client);
    else this.perClient.set(slot.client, n);
  }

  /**
   * Closes a connection doing nothing for anyone (idle, or an unfinished message or handshake): of
   * `client`, or else of the client with the most connections; the one without progress for the
   * longest. False when none qualifies (every one has a query in flight).
   */
  private evict(client: string | null): boolean {
    let best: Slot | null = null;
    let bestAt = Infinity;
    let bestHeld = 0;
    for (const slot of this.slots.values()) {
      if (client !== null && slot.client !== client) continue;
      const c = slot.conn;
      const at = c === null ? slot.acceptedAt : c.idle ? c.lastActive : c.messageStart > 0 ? c.messageStart : Infinity;
      if (at === Infinity) continue;
      const held = client === null ? (this.perClient.get(slot.client) ?? 0) : 0;
      if (held > bestHeld || (held === bestHeld && at < bestAt)) {
        best = slot;
        bestAt = at;
        bestHeld = held;
      }
    }
    if (best === null) return false;
    this.defences.evicted++;
    this.drop(best);
    return true;
  }

  /** Closes a slot's connection now and frees its place at once (its close event comes later). */
  private drop(slot: Slot): void {
    this.release(slot, `${slot.raw.remoteAddress}|${slot.raw.remotePort}`);
    slot.conn?.socket.destroy();
    slot.raw.destroy();
  }

  private startSweeping(): void {
    const deadline = this.opts.messageTimeoutMs ?? 0;
    const rate = this.opts.minBytesPerSecond ?? 0;
    if (this.sweeper !== null || (deadline === 0 && rate === 0)) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Closes connections whose message (or handshake) is late or too slow. */
  sweep(now = performance.now()): void {
    const deadline = this.opts.messageTimeoutMs ?? Infinity;
    const rate = this.opts.minBytesPerSecond ?? 0;
    for (const slot of this.slots.values()) {
      const c = slot.conn;
      if (c === null) {
        // DoT handshake (tls.Server's handshakeTimeout also applies).
        if (now - slot.acceptedAt > deadline) {
          this.defences['slow-message']++;
          this.drop(slot);
        }
        continue;
      }
      if (c.messageStart === 0) continue;
      const age = now - c.messageStart;
      if (age > deadline) {
        this.defences['slow-message']++;
        this.drop(slot);
      } else if (rate > 0 && age >= RATE_GRACE_MS && (c.messageBytes * 1000) / age < rate) {
        this.defences['slow-rate']++;
        this.drop(slot);
      }
    }
    if (this.slots.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  get connections(): number {
    return this.slots.size;
  }

  /** DoT: new connections use these certificate and key (SIGHUP reload); a no-op for plain TCP. */
  setSecureContext(options: tls.SecureContextOptions): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext(options);
  }

  /** Stop accepting; open connections finish what they have in flight, then close. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        if (this.sweeper !== null) clearInterval(this.sweeper);
        this.sweeper = null;
        resolve();
      });
      for (const slot of this.slots.values()) {
        if (slot.conn !== null) slot.conn.shutdown();
        else slot.raw.destroy(); // a DoT handshake: nothing in flight
      }
      setTimeout(() => {
        for (const slot of this.slots.values()) slot.raw.destroy();
      }, graceMs).unref();
    });
  }
}

/** The per-client cap's key: the IPv4 address, or an IPv6 address's /64 (one host has a /64). */
function clientOf(address: string): string {
  const a = plainAddress(address);
  return a.includes(':') ? (networkOf(a, 64) ?? a) : a;
}
