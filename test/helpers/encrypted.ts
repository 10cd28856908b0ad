// Encrypted DNS on both sides of c2dns for tests: DoT and DoH clients (node:tls, node:http2,
// node:https) that trust a test CA, and scripted DoT/DoH upstream servers with a test certificate
// that record every query and connection.
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { encodeReply, type ReceivedQuery, type Script } from './upstream.js';
import { decode, type DecodedPacket } from './wire.js';

// ---- clients ----

export interface DotSession {
  sock: tls.TLSSocket;
  /** Sends framed messages (all in one write). */
  send(...msgs: Buffer[]): void;
  /** Waits for `n` answers in total on this connection. */
  answers(n: number, timeoutMs?: number): Promise<Buffer[]>;
  close(): void;
}

export function dotConnect(port: number, ca: string, o: { host?: string; servername?: string; minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion } = {}): Promise<DotSession> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: o.host ?? '127.0.0.1', port, ca, ...(o.servername ? { servername: o.servername } : {}), ...(o.minVersion ? { minVersion: o.minVersion } : {}), ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}) });
    const got: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const waiters: (() => void)[] = [];
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        got.push(Buffer.from(buf.subarray(2, 2 + len)));
        buf = buf.subarray(2 + len);
      }
      for (const w of waiters.splice(0)) w();
    });
    sock.once('error', reject);
    sock.once('secureConnect', () => {
      sock.off('error', reject);
      sock.on('error', () => undefined);
      resolve({
        sock,
        send: (...msgs) => {
          sock.write(Buffer.concat(msgs.map(frame)));
        },
        answers: (n, timeoutMs = 4000) =>
          new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`got ${got.length} of ${n} DoT answers`)), timeoutMs);
            const check = (): void => {
              if (got.length >= n) {
                clearTimeout(timer);
                res(got.slice(0, n));
              } else waiters.push(check);
            };
            check();
          }),
        close: () => sock.destroy(),
      });
    });
  });
}

export function frame(m: Buffer): Buffer {
  const f = Buffer.alloc(2 + m.length);
  f.writeUInt16BE(m.length, 0);
  m.copy(f, 2);
  return f;
}

/** One query over a fresh DoT connection. */
export async function dotAsk(port: number, ca: string, msg: Buffer): Promise<{ raw: Buffer; packet: DecodedPacket }> {
  const s = await dotConnect(port, ca);
  try {
    s.send(msg);
    const [raw] = await s.answers(1);
    return { raw: raw!, packet: decode(raw!) };
  } finally {
    s.close();
  }
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** "2" or "1.1". */
  version: string;
}

export interface DohRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'HEAD';
  /** Path and query, e.g. "/dns-query?dns=…". */
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
}

/** An HTTP/2 client session to a DoH listener; requests are streams on it. */
export class H2Client {
  private constructor(readonly session: http2.ClientHttp2Session) {}

  static connect(port: number, ca: string, host = '127.0.0.1'): Promise<H2Client> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, { ca });
      session.once('error', reject);
      session.once('connect', () => {
        session.off('error', reject);
        session.on('error', () => undefined);
        resolve(new H2Client(session));
      });
    });
  }

  request(r: DohRequest): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = { ':method': r.method ?? 'GET', ':path': r.path, ...(r.headers ?? {}) };
      if (r.body !== undefined && headers['content-length'] === undefined) headers['content-length'] = r.body.length;
      const stream = this.session.request(headers);
      let status = 0;
      let resHeaders: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        status = Number(h[':status']);
        resHeaders = h as Record<string, string | string[] | undefined>;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ status, headers: resHeaders, body: Buffer.concat(chunks), version: '2' }));
      stream.on('error', reject);
      stream.end(r.body);
    });
  }

  close(): void {
    this.session.close();
  }
}

/** One HTTP/1.1 request (node:https offers no ALPN, so the server falls back to HTTP/1.1). */
export function http1Request(port: number, ca: string, r: DohRequest, host = '127.0.0.1'): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host, port, path: r.path, method: r.method ?? 'GET', ca, agent: false, headers: { ...(r.headers ?? {}), ...(r.body !== undefined ? { 'content-length': String(r.body.length) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), version: res.httpVersion }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

// ---- upstream servers ----

export interface EncryptedUpstream {
  port: number;
  received: ReceivedQuery[];
  /** TLS connections accepted (handshakes completed). */
  connections: number;
  /** Sockets accepted (TCP), whether the handshake succeeded or not. */
  accepted: number;
  setScript(s: Script): void;
  /** Ends every open connection (a server's idle timeout), keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

async function answerFor(raw: Buffer, script: Script, received: ReceivedQuery[], transport: 'tcp', from: { address: string; port: number }): Promise<Buffer | null> {
  let packet: DecodedPacket;
  try {
    packet = decode(raw);
  } catch {
    return null;
  }
  const q0 = packet.questions[0];
  const q: ReceivedQuery = { transport, raw, packet, name: q0?.name ?? '', type: q0?.type ?? 0, from };
  received.push(q);
  const r = await script(q);
  if (r.drop) return null;
  if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
  return r.raw ?? encodeReply(q, r, null);
}

/** A DoT server on 127.0.0.1 answering with `script` (answers in completion order). */
export function startDotUpstream(script: Script, cert: { certPem: string; keyPem: string }): Promise<EncryptedUpstream> {
  let current = script;
  const received: ReceivedQuery[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem });
  const up: EncryptedUpstream = {
    port: 0,
    received,
    connections: 0,
    accepted: 0,
    setScript: (s) => {
      current = s;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  server.on('connection', (s: net.Socket) => {
    up.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  server.on('secureConnection', (sock: tls.TLSSocket) => {
    up.connections++;
    let buf = Buffer.alloc(0);
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        void answerFor(msg, current, received, 'tcp', { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }).then((a) => {
          if (a !== null && !sock.destroyed) sock.write(frame(a));
        });
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = (server.address() as net.AddressInfo).port;
      resolve(up);
    });
  });
}

/** A DoH server (HTTP/2 only) on 127.0.0.1 answering POST /dns-query with `script`. */
export function startDohUpstream(script: Script, cert: { certPem: string; keyPem: string }, path = '/dns-query'): Promise<EncryptedUpstream & { requests: { method: string; path: string; contentType: string; authority: string }[] }> {
  let current = script;
  const received: ReceivedQuery[] = [];
  const requests: { method: string; path: string; contentType: string; authority: string }[] = [];
  const sockets = new Set<net.Socket>();
  const server = http2.createSecureServer({ cert: cert.certPem, key: cert.keyPem });
  const up = {
    port: 0,
    received,
    requests,
    connections: 0,
    accepted: 0,
    setScript: (s: Script) => {
      current = s;
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  server.on('connection', (s: net.Socket) => {
    up.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', () => {
    up.connections++;
  });
  server.on('tlsClientError', () => undefined);
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const method = String(headers[':method']);
    const p = String(headers[':path']);
    requests.push({ method, path: p, contentType: String(headers['content-type'] ?? ''), authority: String(headers[':authority'] ?? '') });
    if (method !== 'POST' || p !== path) {
      stream.respond({ ':status': 404 });
      stream.end();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const sock = stream.session?.socket;
      void answerFor(Buffer.concat(chunks), current, received, 'tcp', { address: sock?.remoteAddress ?? '', port: sock?.remotePort ?? 0 }).then((a) => {
        if (stream.destroyed) return;
        if (a === null) {
          stream.respond({ ':status': 502 });
          stream.end();
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/dns-message', 'content-length': a.length });
        stream.end(a);
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = (server.address() as net.AddressInfo).port;
      resolve(up);
    });
  });
}
