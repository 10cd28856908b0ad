// One TCP exchange with one upstream (RFC 7766 framing), used when the UDP answer was truncated.
import net from 'node:net';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import { UpstreamTimeout } from './udp.js';

export function tcpExchange(server: HostPort, query: Buffer, qEnd: number, timeoutMs: number, exactCase = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.host, port: server.port });
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, msg?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => finish(new UpstreamTimeout(`no TCP answer from ${server.host}:${server.port} in ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`upstream ${server.host}:${server.port} closed the TCP connection`)));
    sock.on('connect', () => {
      const framed = Buffer.allocUnsafe(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, 2);
      sock.write(framed);
    });
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const msg = buf.subarray(2, 2 + len);
      const chk = checkResponse(msg, query, qEnd, exactCase);
      if (chk === ResponseCheck.Mismatch || chk === ResponseCheck.Truncated) finish(new Error(`upstream ${server.host}:${server.port} sent a TCP reply that does not answer the query`));
      else finish(null, msg);
    });
  });
}
