// DNS over HTTPS to one upstream (RFC 8484): POST application/dns-message over one HTTP/2 session,
// opened on the first question and reused by every later one (each question its own stream, so
// they are multiplexed), closed after upstream.idleTimeoutMs without streams and replaced after an
// error or a GOAWAY. The TLS connection is made by c2dns (to the configured or bootstrapped
// address, verifying the certificate for the URL's host name) and must negotiate HTTP/2 by ALPN.
// An answer counts only with status 200, Content-Type application/dns-message and a body that
// answers the question; anything else is an upstream failure. Every question is padded to a
// multiple of 128 octets (RFC 8467 §4.1, dns/padding.ts).
import http2 from 'node:http2';
import tls from 'node:tls';
import type { EncryptedUpstreamSpec } from '../config/encrypted.js';
import { padMessage, QUERY_PADDING_BLOCK } from '../dns/padding.js';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import { newStats, type AddressSource, type TransportStats, type UpstreamTransport } from './transport.js';
import { UpstreamTimeout } from './udp.js';
import { describeTlsError, UpstreamTlsError, type trustOptions, type UpstreamCa } from './verify.js';

const CONTENT_TYPE = 'application/dns-message';
const MAX_MESSAGE = 0xffff;

interface Session {
  readonly h2: http2.ClientHttp2Session;
  readonly sock: tls.TLSSocket;
  /** Streams opened on it. */
  carried: number;
  /** Why the TLS connection failed, if it did. */
  failure: Error | null;
  secure: boolean;
}

export class DohClient implements UpstreamTransport {
  readonly kind = 'doh' as const;
  readonly label: string;
  readonly stats: TransportStats = newStats();
  lastError: Error | null = null;
  onError: ((err: Error) => void) | null = null;
  private session: Session | null = null;
  private connecting: Promise<Session> | null = null;
  private tlsSession: Buffer | undefined;
  /** The CA bundle generation the saved TLS session was verified under. */
  private sessionCa = 0;
  private readonly authority: string;

  constructor(
    private readonly spec: EncryptedUpstreamSpec,
    private readonly trust: ReturnType<typeof trustOptions>,
    readonly ca: UpstreamCa,
    private readonly addresses: AddressSource,
    private readonly idleMs: number,
  ) {
    this.label = spec.label;
    const host = spec.serverName ?? (spec.host.includes(':') ? `[${spec.host}]` : spec.host);
    this.authority = spec.port === 443 ? host : `${host}:${spec.port}`;
  }

  async exchange(query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean): Promise<Buffer> {
    const deadline = performance.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UpstreamTimeout(`no answer from ${this.label} in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const s = await Promise.race([this.connection(), timeout]);
      return await Promise.race([this.request(s, query, qEnd, exactCase, deadline), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private request(s: Session, query: Buffer, qEnd: number, exactCase: boolean, deadline: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.stats.queries++;
      if (s.carried++ > 0) this.stats.reused++;
      let stream: http2.ClientHttp2Stream;
      const body = padMessage(query, QUERY_PADDING_BLOCK);
      try {
        stream = s.h2.request({
          ':method': 'POST',
          ':path': this.spec.path,
          ':authority': this.authority,
          'content-type': CONTENT_TYPE,
          accept: CONTENT_TYPE,
          'content-length': body.length,
        });
      } catch (err) {
        // The session went away between picking it and using it.
        this.drop(s);
        reject(new Error(`upstream ${this.label}: ${(err as Error).message}`));
        return;
      }
      // Cancel the stream when the question has timed out (the caller has given up by then).
      const cancel = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), Math.max(0, deadline - performance.now()) + 5);
      cancel.unref();
      let status = 0;
      let type = '';
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(cancel);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      };
      stream.on('response', (headers) => {
        status = Number(headers[':status'] ?? 0);
        type = String(headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (status !== 200) fail(new Error(`upstream ${this.label} answered HTTP ${status}`));
        else if (type !== CONTENT_TYPE) fail(new Error(`upstream ${this.label} answered with Content-Type ${type || 'none'}, not ${CONTENT_TYPE}`));
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_MESSAGE) fail(new Error(`upstream ${this.label} sent an answer over ${MAX_MESSAGE} bytes`));
        else chunks.push(chunk);
      });
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(cancel);
        const msg = Buffer.concat(chunks, size);
        const chk = checkResponse(msg, query, qEnd, exactCase);
        if (chk === ResponseCheck.Mismatch || chk === ResponseCheck.Truncated) {
          reject(new Error(`upstream ${this.label} sent a body that does not answer the question`));
          return;
        }
        this.lastError = null;
        resolve(msg);
      });
      stream.on('error', (err) => fail(s.failure ?? new Error(`upstream ${this.label}: ${err.message}`)));
      stream.on('close', () => fail(s.failure ?? new Error(`upstream ${this.label} closed the stream without an answer (HTTP/2 code ${stream.rstCode})`)));
      stream.end(body);
    });
  }

  /** The open session, or a new one once its TLS handshake (and the HTTP/2 preface) is done. */
  private connection(): Promise<Session> {
    const s = this.session;
    if (s !== null && !s.h2.closed && !s.h2.destroyed) return Promise.resolve(s);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Session> {
    const addr = await this.addresses.pick();
    this.stats.connections++;
    // A session verified under a CA bundle since replaced (SIGHUP) is not resumed: the new bundle must judge.
    if (this.sessionCa !== this.ca.generation) this.tlsSession = undefined;
    const caGeneration = this.ca.generation;
    const sock = tls.connect({
      host: addr.host,
      port: addr.port,
      ...(this.spec.serverName !== null ? { servername: this.spec.serverName } : {}),
      ALPNProtocols: ['h2'],
      ...this.trust,
      ...this.ca.connectOptions(),
      ...(this.tlsSession !== undefined ? { session: this.tlsSession } : {}),
    });
    sock.setNoDelay(true); // each question as soon as it is written (several streams are open at once)
    sock.on('session', (t: Buffer) => {
      this.tlsSession = t;
      this.sessionCa = caGeneration;
    });
    return new Promise((resolve, reject) => {
      let s: Session | null = null;
      const failed = (err: Error): void => {
        const e = describeTlsError(this.label, err);
        this.lastError = e;
        this.tlsSession = undefined;
        this.addresses.failed();
        this.onError?.(e);
        sock.destroy();
        reject(e);
      };
      sock.once('error', failed);
      sock.once('secureConnect', () => {
        sock.off('error', failed);
        if (sock.alpnProtocol !== 'h2') {
          failed(new UpstreamTlsError(`upstream ${this.label} does not offer HTTP/2 (ALPN h2); c2dns speaks DNS over HTTPS over HTTP/2 only`, 'NO_H2'));
          return;
        }
        const h2 = http2.connect(`https://${this.authority}`, { createConnection: () => sock });
        s = { h2, sock, carried: 0, failure: null, secure: true };
        const session = s;
        this.session = session;
        h2.on('error', (err) => {
          session.failure = new Error(`upstream ${this.label}: ${err.message}`);
          this.lastError = session.failure;
          this.onError?.(session.failure);
        });
        sock.on('error', (err) => {
          session.failure ??= new Error(`upstream ${this.label}: ${err.message}`);
        });
        h2.on('goaway', () => this.drop(session));
        h2.on('close', () => this.drop(session));
        h2.setTimeout(this.idleMs, () => {
          if (this.session === session) this.session = null;
          h2.close();
        });
        h2.unref();
        resolve(session);
      });
    });
  }

  private drop(s: Session): void {
    if (this.session === s) this.session = null;
  }

  close(): void {
    const s = this.session;
    this.session = null;
    if (s === null) return;
    s.h2.destroy();
    s.sock.destroy();
  }
}
