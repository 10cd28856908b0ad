// DNS over HTTPS listener (RFC 8484): HTTP/2 and HTTP/1.1 over TLS 1.2+ on one port (ALPN picks),
// one path (default /dns-query). A query comes as GET ?dns=BASE64URL (no padding) or as a POST
// body of type application/dns-message; the answer is 200 application/dns-message whatever its
// rcode, with Cache-Control max-age = the smallest TTL of the answer section, or for a negative
// answer the SOA's min(TTL, MINIMUM) (§5.1), else 0. Requests that carry no usable DNS query get
// an HTTP error and never reach the pipeline: 400 (no or bad `dns`, an empty or short body, a
// response instead of a query), 404 (another path), 405 (another method), 413 (over 65,535
// bytes), 415 (a POST of another type). Behind a reverse proxy listed in tls.trustedProxies, the
// client is the address X-Forwarded-For names (the right-most one that is not itself a trusted
// proxy); from anyone else the header is ignored. A query with the EDNS Padding option gets a
// padded answer (dns/padding.ts).
import http2 from 'node:http2';
import net, { BlockList, isIP, isIPv4 } from 'node:net';
import type tls from 'node:tls';
import { HEADER_LEN, RType } from '../dns/constants.js';
import { hasPaddingOption, padMessage, RESPONSE_PADDING_BLOCK } from '../dns/padding.js';
import { skipName } from '../dns/names.js';
import { parseNetwork } from '../admin/access.js';
import type { HostPort } from '../upstream/address.js';
import type { Dispatcher } from './dispatch.js';

export const DOH_CONTENT_TYPE = 'application/dns-message';
const MAX_MESSAGE = 0xffff;
/** base64url of 65,535 bytes. */
const MAX_GET_PARAM = Math.ceil((MAX_MESSAGE * 4) / 3) + 2;

export interface DohOptions {
  /** The one path queries are served on, e.g. "/dns-query". */
  path: string;
  /** An HTTP/2 session or HTTP/1.1 connection with nothing to do for this long is closed. */
  idleTimeoutMs: number;
  /** TCP connections at once (tcp.maxConnections). */
  maxConnections: number;
  /** HTTP/2 streams at once per connection (tcp.maxInflightPerConnection). */
  maxStreams: number;
  /** CIDRs whose X-Forwarded-For is believed (tls.trustedProxies). */
  trustedProxies: readonly string[];
}

/** The parts of the HTTP/1.1 and HTTP/2 compatibility request/response objects used here. */
interface Req {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly httpVersionMajor: number;
  readonly socket: net.Socket | tls.TLSSocket;
  on(event: 'data', cb: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', cb: () => void): unknown;
  pause(): unknown;
  destroy(err?: Error): unknown;
}
interface Res {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body?: Buffer | string): unknown;
  on(event: 'close', cb: () => void): unknown;
}

/** An HTTP/2 stream as the Req/Res pair onRequest serves (what node's compatibility layer would make of it). */
function h2Exchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): [Req, Res] {
  // A stream reset by the client errors; the request is abandoned with it (res 'close').
  stream.on('error', () => stream.destroy());
  const socket = stream.session?.socket as tls.TLSSocket;
  const req: Req = {
    method: headers[':method'],
    url: headers[':path'],
    headers: headers as Record<string, string | string[] | undefined>,
    httpVersionMajor: 2,
    socket,
    on: (event: string, cb: (chunk: Buffer) => void) => stream.on(event, cb),
    pause: () => stream.pause(),
    destroy: (err?: Error) => stream.destroy(err),
  };
  const res: Res = {
    writeHead: (status, h) => {
      if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': status, ...h });
    },
    end: (body) => {
      if (!stream.destroyed) stream.end(body);
    },
    on: (event, cb) => stream.on(event, cb),
  };
  return [req, res];
}

class ProxyTrust {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const n = parseNetwork(c);
      if (typeof n !== 'string') this.list.addSubnet(n.address, n.bits, n.family === 4 ? 'ipv4' : 'ipv6');
    }
    this.empty = cidrs.length === 0;
  }

  trusts(address: string): boolean {
    if (this.empty) return false;
    const a = unmapped(address);
    const fam = isIP(a);
    return fam !== 0 && this.list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
  }
}

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) → "192.0.2.1"; a zone index dropped. */
function unmapped(a: string): string {
  const pct = a.indexOf('%');
  const s = pct >= 0 ? a.slice(0, pct) : a;
  return s.startsWith('::ffff:') && isIPv4(s.slice(7)) ? s.slice(7) : s;
}

/** One X-Forwarded-For element: "192.0.2.1", "2001:db8::1", "[2001:db8::1]:443", "192.0.2.1:443"; null when not an address. */
function forwardedAddress(raw: string): string | null {
  const s = raw.trim();
  if (isIP(s) !== 0) return unmapped(s);
  const b = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (b !== null && isIP(b[1]!) === 6) return unmapped(b[1]!);
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(s);
  if (v4 !== null && isIP(v4[1]!) === 4) return v4[1]!;
  return null;
}

/**
 * The client a trusted proxy speaks for: X-Forwarded-For read from the right (the entry the
 * nearest proxy added) past every trusted proxy. undefined: no header, use the peer; null: the
 * entry that names the client is not an address.
 */
export function forwardedClient(header: string | string[] | undefined, trust: { trusts(a: string): boolean }): string | null | undefined {
  if (header === undefined) return undefined;
  const parts = (Array.isArray(header) ? header.join(',') : header).split(',').filter((p) => p.trim() !== '');
  if (parts.length === 0) return undefined;
  for (let i = parts.length - 1; i >= 0; i--) {
    const a = forwardedAddress(parts[i]!);
    if (a === null) return null;
    if (i === 0 || !trust.trusts(a)) return a;
  }
  return null;
}

/**
 * RFC 8484 §5.1 freshness: the smallest TTL in the answer section; without answers, the SOA's
 * min(TTL, MINIMUM) from the authority section; 0 when neither exists or the message is malformed.
 */
export function dohMaxAge(msg: Buffer): number {
  if (msg.length < HEADER_LEN) return 0;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  const ns = msg.readUInt16BE(8);
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    off = skipName(msg, off);
    if (off < 0 || off + 4 > msg.length) return 0;
    off += 4;
  }
  let min = -1;
  for (let i = 0; i < an + ns; i++) {
    off = skipName(msg, off);
    if (off < 0 || off + 10 > msg.length) return 0;
    const type = msg.readUInt16BE(off);
    const raw = msg.readUInt32BE(off + 4);
    const ttl = raw > 0x7fffffff ? 0 : raw;
    const rdlen = msg.readUInt16BE(off + 8);
    const next = off + 10 + rdlen;
    if (next > msg.length) return 0;
    if (i < an) {
      if (type !== RType.OPT && (min < 0 || ttl < min)) min = ttl;
    } else if (an === 0 && type === RType.SOA && rdlen >= 22) {
      const neg = Math.min(ttl, msg.readUInt32BE(next - 4));
      if (min < 0 || neg < min) min = neg;
    }
    off = next;
  }
  return min < 0 ? 0 : min;
}

function mediaType(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
  return s.split(';')[0]!.trim().toLowerCase();
}

export class DohListener {
  /** Every accepted TCP connection, handshaking or not. */
  private readonly sockets = new Set<net.Socket>();
  /** The TLS sockets over them once the handshake is done. */
  private readonly secured = new Set<tls.TLSSocket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 requests in progress per TLS socket (an idle keep-alive connection is closed at once on shutdown). */
  private readonly http1Busy = new Map<net.Socket | tls.TLSSocket, number>();
  private closing = false;
  /** Requests answered with an HTTP error, by status. */
  readonly rejected = new Map<number, number>();
  handshakeFailures = 0;

  private constructor(
    private readonly server: http2.Http2SecureServer,
    readonly address: HostPort,
    private readonly opts: DohOptions,
    private readonly dispatcher: Dispatcher,
    private readonly trust: ProxyTrust,
  ) {}

  static start(addr: HostPort, dispatcher: Dispatcher, opts: DohOptions, secure: tls.SecureContextOptions, onError: (err: Error) => void): Promise<DohListener> {
    const server = http2.createSecureServer({
      ...secure,
      allowHTTP1: true,
      handshakeTimeout: opts.idleTimeoutMs,
      settings: { maxConcurrentStreams: opts.maxStreams },
    });
    server.maxConnections = opts.maxConnections;
    // HTTP/2 sessions and HTTP/1.1 connections idle this long are closed.
    server.setTimeout(opts.idleTimeoutMs);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: addr.port, host: addr.host, ipv6Only: addr.family === 6 }, () => {
        server.off('error', reject);
        server.on('error', onError);
        const bound = server.address() as net.AddressInfo;
        const l = new DohListener(server, { ...addr, port: bound.port }, opts, dispatcher, new ProxyTrust(opts.trustedProxies));
        server.on('connection', (sock: net.Socket) => {
          // Answers go out as soon as they are written: with Nagle, an answer waits for the ACK of
          // the one before (up to the client's delayed ACK, 40 ms on Linux) when several streams are open.
          sock.setNoDelay(true);
          l.sockets.add(sock);
          sock.on('close', () => l.sockets.delete(sock));
        });
        server.on('secureConnection', (sock: tls.TLSSocket) => {
          l.secured.add(sock);
          sock.on('close', () => l.secured.delete(sock));
        });
        server.on('session', (session: http2.ServerHttp2Session) => {
          l.sessions.add(session);
          session.on('close', () => l.sessions.delete(session));
          session.on('error', () => session.destroy());
          if (l.closing) session.close();
        });
        server.on('tlsClientError', () => {
          l.handshakeFailures++;
        });
        // HTTP/1.1 through node's request/response objects; HTTP/2 streams straight (h2Exchange):
        // the compatibility objects node would wrap every stream in cost more than the DNS answer.
        const compat = new Set(server.listeners('stream'));
        server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => l.onRequest(req as unknown as Req, res as unknown as Res));
        for (const f of server.listeners('stream')) if (!compat.has(f)) server.off('stream', f as (...args: unknown[]) => void);
        server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
          const [req, res] = h2Exchange(stream, headers);
          l.onRequest(req, res);
        });
        resolve(l);
      });
    });
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** The path queries are served on. */
  get path(): string {
    return this.opts.path;
  }

  setSecureContext(options: tls.SecureContextOptions): void {
    this.server.setSecureContext(options);
  }

  private onRequest(req: Req, res: Res): void {
    let done = false;
    const h1 = req.httpVersionMajor < 2 ? req.socket : null;
    if (h1 !== null) this.http1Busy.set(h1, (this.http1Busy.get(h1) ?? 0) + 1);
    const finished = (): void => {
      if (done) return;
      done = true;
      if (h1 !== null) {
        const n = (this.http1Busy.get(h1) ?? 1) - 1;
        if (n <= 0) this.http1Busy.delete(h1);
        else this.http1Busy.set(h1, n);
      }
    };
    res.on('close', finished);
    const closeHeader = (): Record<string, string> => (h1 !== null && this.closing ? { connection: 'close' } : {});
    const fail = (status: number, why: string, extra: Record<string, string> = {}): void => {
      if (done) return;
      this.rejected.set(status, (this.rejected.get(status) ?? 0) + 1);
      const body = `${why}\n`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...closeHeader(), ...extra });
      res.end(body);
      finished();
    };
    const answer = (msg: Buffer): void => {
      if (msg.length < HEADER_LEN) return fail(400, 'the DNS message is shorter than a DNS header');
      if ((msg[2]! & 0x80) !== 0) return fail(400, 'the DNS message is a response (QR=1), not a query');
      const peer = req.socket.remoteAddress ?? '';
      let client = peer;
      let port = req.socket.remotePort ?? 0;
      let via: string | null = null;
      if (this.trust.trusts(peer)) {
        const fwd = forwardedClient(req.headers['x-forwarded-for'], this.trust);
        if (fwd === null) return fail(400, 'X-Forwarded-For from a trusted proxy does not name the client by its IP address');
        if (fwd !== undefined) {
          client = fwd;
          port = 0; // not known: the proxy's header names the address only
          via = peer;
        }
      }
      // A query with EDNS Padding gets its answer padded (RFC 7830 §4; 468-octet blocks, RFC 8467).
      const pad = hasPaddingOption(msg);
      this.dispatcher.handle(msg, client, port, 'doh', (answered) => {
        if (done) return; // the client went away
        const reply = pad && answered !== null ? padMessage(answered, RESPONSE_PADDING_BLOCK) : answered;
        if (reply === null) {
          // Deliberately no answer (RPZ DROP): the exchange is abandoned, as a UDP query would be.
          finished();
          req.destroy();
          return;
        }
        res.writeHead(200, {
          'content-type': DOH_CONTENT_TYPE,
          'content-length': reply.length,
          'cache-control': `max-age=${dohMaxAge(reply)}`,
          ...closeHeader(),
        });
        res.end(reply);
        finished();
      }, via);
    };

    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://doh.invalid');
    } catch {
      return fail(400, 'the request target is not a URL path');
    }
    if (url.pathname !== this.opts.path) return fail(404, `DNS queries are served on ${this.opts.path}`);
    if (req.method === 'GET') {
      const values = url.searchParams.getAll('dns');
      if (values.length !== 1) return fail(400, values.length === 0 ? 'expected a "dns" parameter: the DNS query in base64url' : 'expected one "dns" parameter');
      const v = values[0]!;
      if (v.length > MAX_GET_PARAM) return fail(413, `the DNS query is longer than ${MAX_MESSAGE} bytes`);
      if (!/^[A-Za-z0-9_-]*={0,2}$/.test(v) || v.length === 0) return fail(400, 'the "dns" parameter is not base64url (RFC 4648 §5, without padding)');
      const msg = Buffer.from(v, 'base64url');
      if (msg.length > MAX_MESSAGE) return fail(413, `the DNS query is longer than ${MAX_MESSAGE} bytes`);
      return answer(msg);
    }
    if (req.method === 'POST') {
      const type = mediaType(req.headers['content-type']);
      if (type !== DOH_CONTENT_TYPE) return fail(415, `expected Content-Type: ${DOH_CONTENT_TYPE}, got ${type === '' ? 'none' : type}`);
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > MAX_MESSAGE) return fail(413, `the DNS query is longer than ${MAX_MESSAGE} bytes`, h1 !== null ? { connection: 'close' } : {});
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > MAX_MESSAGE) {
          req.pause();
          fail(413, `the DNS query is longer than ${MAX_MESSAGE} bytes`, h1 !== null ? { connection: 'close' } : {});
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (done) return;
        if (size === 0) return fail(400, 'the POST body is empty: expected a DNS query');
        answer(Buffer.concat(chunks, size));
      });
      return;
    }
    fail(405, 'expected GET or POST', { allow: 'GET, POST' });
  }

  /** Stop accepting; HTTP/2 sessions get GOAWAY, idle HTTP/1.1 connections close, the rest finish within `graceMs`. */
  close(graceMs: number): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sessions) s.close();
      // An HTTP/1.1 connection (ALPN http/1.1, or none) with no request in progress.
      for (const sock of this.secured) if (sock.alpnProtocol !== 'h2' && (this.http1Busy.get(sock) ?? 0) === 0) sock.destroy();
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, graceMs).unref();
    });
  }
}
