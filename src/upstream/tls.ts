// DNS over TLS to one upstream (RFC 7858): one TLS connection, opened on the first question and
// reused by every later one, with questions pipelined on it (RFC 7766 §6.2.1.1: answers may come
// in any order and are matched by ID, which is unique among the questions in flight). The
// connection closes after upstream.idleTimeoutMs without questions; a closed or failed connection is
// replaced by the next question. Questions still waiting when the server closes the connection
// (an idle timeout racing a new question) are sent once more on a new connection. TLS session
// tickets are kept, so a new connection resumes the last session (RFC 7858 §3.4). Every question
// is padded to a multiple of 128 octets (RFC 8467 §4.1, dns/padding.ts).
import tls from 'node:tls';
import type { EncryptedUpstreamSpec } from '../config/encrypted.js';
import { padMessage, QUERY_PADDING_BLOCK } from '../dns/padding.js';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import { random16 } from './message.js';
import { newStats, type AddressSource, type TransportStats, type UpstreamTransport } from './transport.js';
import { UpstreamTimeout } from './udp.js';
import { describeTlsError, type trustOptions, type UpstreamCa } from './verify.js';

interface Pending {
  query: Buffer;
  qEnd: number;
  exactCase: boolean;
  resolve(msg: Buffer): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** Already re-sent once after a connection closed under it. */
  resent: boolean;
  /** Answered, failed or timed out. */
  done: boolean;
  /** Where it was sent, under which ID. */
  conn: Connection | null;
  id: number;
}

class Connection {
  readonly pending = new Map<number, Pending>();
  private buf: Buffer | null = null;
  secure = false;
  closed = false;
  /** Questions written on this connection. */
  carried = 0;
  private idle: NodeJS.Timeout | null = null;

  constructor(
    readonly sock: tls.TLSSocket,
    private readonly idleMs: number,
    private readonly onMessage: (c: Connection, msg: Buffer) => void,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    // The server is done with this connection: new questions go to a new one.
    sock.on('end', () => {
      this.closed = true;
    });
  }

  private onData(chunk: Buffer): void {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      this.onMessage(this, buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
    }
    this.buf = buf.length === 0 ? null : Buffer.from(buf);
  }

  send(id: number, p: Pending): void {
    this.pending.set(id, p);
    this.carried++;
    if (this.idle !== null) {
      clearTimeout(this.idle);
      this.idle = null;
    }
    // Padded as sent; p.query stays as the caller knows it (the answer is checked against it).
    const msg = padMessage(p.query, QUERY_PADDING_BLOCK);
    const framed = Buffer.allocUnsafe(2 + msg.length);
    framed.writeUInt16BE(msg.length, 0);
    msg.copy(framed, 2);
    this.sock.write(framed);
  }

  /** A question left (answered or timed out): start the idle clock when none is left. */
  settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0 && !this.closed && this.idle === null) {
      this.idle = setTimeout(() => this.sock.end(), this.idleMs);
      this.idle.unref();
    }
  }

  /** An ID not in flight on this connection (the caller's if free). */
  freeId(preferred: number): number {
    let id = preferred;
    while (this.pending.has(id)) id = random16();
    return id;
  }

  destroy(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.closed = true;
    this.sock.destroy();
  }
}

export class DotClient implements UpstreamTransport {
  readonly kind = 'dot' as const;
  readonly label: string;
  readonly stats: TransportStats = newStats();
  lastError: Error | null = null;
  onError: ((err: Error) => void) | null = null;
  private conn: Connection | null = null;
  private session: Buffer | undefined;
  /** The CA bundle generation the saved session was verified under. */
  private sessionCa = 0;
  private connecting: Promise<Connection> | null = null;

  constructor(
    private readonly spec: EncryptedUpstreamSpec,
    private readonly trust: ReturnType<typeof trustOptions>,
    readonly ca: UpstreamCa,
    private readonly addresses: AddressSource,
    private readonly idleMs: number,
  ) {
    this.label = spec.label;
  }

  exchange(query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const p: Pending = {
        query,
        qEnd,
        exactCase,
        resolve: (m) => {
          p.done = true;
          clearTimeout(p.timer);
          resolve(m);
        },
        reject: (e) => {
          p.done = true;
          clearTimeout(p.timer);
          reject(e);
        },
        timer: setTimeout(() => {
          p.done = true;
          if (p.conn !== null && p.conn.pending.get(p.id) === p) p.conn.settled(p.id);
          reject(new UpstreamTimeout(`no answer from ${this.label} in ${timeoutMs} ms`));
        }, timeoutMs),
        resent: false,
        done: false,
        conn: null,
        id: -1,
      };
      void this.dispatch(p);
    });
  }

  private async dispatch(p: Pending): Promise<void> {
    let c: Connection;
    try {
      c = await this.connection();
    } catch (err) {
      p.reject(err as Error);
      return;
    }
    if (p.done) return; // timed out while connecting
    const id = c.freeId(p.query.readUInt16BE(0));
    p.query.writeUInt16BE(id, 0);
    p.conn = c;
    p.id = id;
    this.stats.queries++;
    if (c.carried > 0) this.stats.reused++;
    c.send(id, p);
  }

  /** The open connection, or a new one (handshake started; writes wait for it). */
  private connection(): Promise<Connection> {
    if (this.conn !== null && !this.conn.closed) return Promise.resolve(this.conn);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Connection> {
    const addr: HostPort = await this.addresses.pick();
    this.stats.connections++;
    // A session verified under a CA bundle since replaced (SIGHUP) is not resumed: the new bundle must judge.
    if (this.sessionCa !== this.ca.generation) this.session = undefined;
    const caGeneration = this.ca.generation;
    const sock = tls.connect({
      host: addr.host,
      port: addr.port,
      ...(this.spec.serverName !== null ? { servername: this.spec.serverName } : {}),
      ...this.trust,
      ...this.ca.connectOptions(),
      ...(this.session !== undefined ? { session: this.session } : {}),
    });
    sock.unref();
    const c = new Connection(sock, this.idleMs, (conn, msg) => this.onMessage(conn, msg));
    this.conn = c;
    sock.on('session', (s: Buffer) => {
      this.session = s;
      this.sessionCa = caGeneration;
    });
    sock.once('secureConnect', () => {
      c.secure = true;
    });
    let failure: Error | null = null;
    sock.on('error', (err) => {
      failure = c.secure ? new Error(`upstream ${this.label}: ${err.message}`) : describeTlsError(this.label, err);
    });
    sock.on('close', () => this.onClose(c, failure));
    return c;
  }

  private onMessage(c: Connection, msg: Buffer): void {
    if (msg.length < 2) return;
    const id = msg.readUInt16BE(0);
    const p = c.pending.get(id);
    if (p === undefined) {
      this.stats.ignored++;
      return;
    }
    c.settled(id);
    const chk = checkResponse(msg, p.query, p.qEnd, p.exactCase);
    if (chk === ResponseCheck.Mismatch || chk === ResponseCheck.Truncated) {
      p.reject(new Error(`upstream ${this.label} sent an answer that does not answer the question (ID ${id})`));
      return;
    }
    this.lastError = null;
    p.resolve(Buffer.from(msg));
  }

  private onClose(c: Connection, failure: Error | null): void {
    c.destroy();
    if (this.conn === c) this.conn = null;
    if (!c.secure) {
      const err = failure ?? describeTlsError(this.label, new Error('the connection closed during the TLS handshake'));
      this.lastError = err;
      this.addresses.failed();
      this.session = undefined; // a failed handshake: start the next one afresh
      this.onError?.(err);
      for (const [id, p] of c.pending) {
        c.pending.delete(id);
        p.reject(err);
      }
      return;
    }
    // Closed (or reset) with questions unanswered: each is asked once more on a new connection.
    if (failure !== null) this.lastError = failure;
    for (const [id, p] of c.pending) {
      c.pending.delete(id);
      if (p.done) continue;
      if (p.resent) p.reject(failure ?? new Error(`upstream ${this.label} closed the connection without answering`));
      else {
        p.resent = true;
        void this.dispatch(p);
      }
    }
  }

  close(): void {
    const c = this.conn;
    this.conn = null;
    if (c === null) return;
    for (const [id, p] of c.pending) {
      c.pending.delete(id);
      p.reject(new Error(`upstream ${this.label}: connection closed by c2dns`));
    }
    c.destroy();
  }
}
