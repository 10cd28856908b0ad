// One UDP exchange with one upstream, from a fresh socket on a random port. A datagram that is
// not the answer (wrong source, ID or question, or with DNS Cookies a COOKIE option that is not
// ours) is ignored and counted; we keep waiting.
import dgram from 'node:dgram';
import { Rcode } from '../dns/constants.js';
import { messageRcode } from '../dns/opt.js';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import { withOption, type UpstreamCookies } from './cookies.js';
import type { UpstreamCounters } from './counters.js';
import { random16, randomPort } from './message.js';
import { tcpExchange } from './tcp.js';

export class UpstreamTimeout extends Error {}

/**
 * `cookies`: send our DNS Cookie with an EDNS query (./cookies.ts) and drop replies that do not
 * echo it (or carry none, once the upstream has given us a server cookie). On BADCOOKIE the question is asked once more with the server cookie that came with
 * it, and after a second BADCOOKIE over TCP (RFC 7873 §5.3), all within `timeoutMs`; each retry
 * writes a new ID into `query`, so the caller's check of the answer against it still holds.
 * `onSent`: called as each datagram leaves (stall detection counts a question from then).
 */
export async function udpExchange(
  server: HostPort,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  counters: UpstreamCounters,
  exactCase = false,
  cookies: UpstreamCookies | null = null,
  onSent: (() => void) | null = null,
): Promise<Buffer> {
  if (cookies === null || query.readUInt16BE(10) === 0) return datagram(server, query, qEnd, timeoutMs, counters, exactCase, null, onSent);
  const deadline = performance.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - performance.now());
  let missing = false;
  const accept = (option: Buffer) => (msg: Buffer): boolean => {
    const v = cookies.check(server, option, msg);
    if (v === 'missing') missing = true;
    return v === 'ok' || v === 'none';
  };
  for (let attempt = 0; ; attempt++) {
    const option = await cookies.option(server);
    cookies.stats.sent++;
    let reply: Buffer;
    try {
      reply = await datagram(server, withOption(query, qEnd, option), qEnd, left(), counters, exactCase, accept(option), onSent);
    } catch (err) {
      // Only cookie-less answers came: the upstream may have stopped speaking cookies (./cookies.ts).
      if (missing && err instanceof UpstreamTimeout) cookies.forget(server);
      throw err;
    }
    if (messageRcode(reply) !== Rcode.BADCOOKIE) return reply;
    query.writeUInt16BE(random16(), 0);
    if (attempt === 0) {
      cookies.stats.badcookieRetries++;
      continue;
    }
    cookies.stats.tcpFallbacks++;
    return tcpExchange(server, query, qEnd, left(), exactCase);
  }
}

/** One datagram out, the first reply that answers it back. `accept`: a last say on a reply that matches (false: ignored). */
function datagram(
  server: HostPort,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  counters: UpstreamCounters,
  exactCase: boolean,
  accept: ((msg: Buffer) => boolean) | null,
  onSent: (() => void) | null,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const type = server.family === 6 ? 'udp6' : 'udp4';
    let socket = dgram.createSocket(type);
    let attempts = 0;
    let done = false;
    const finish = (err: Error | null, msg?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => finish(new UpstreamTimeout(`no answer from ${server.host}:${server.port} in ${timeoutMs} ms`)), timeoutMs);

    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      if (rinfo.port !== server.port || rinfo.address !== server.host) {
        counters.ignoredReplies++;
        return;
      }
      // A case mismatch (exactCase) ends the exchange too: the forwarder decides what it means.
      if (checkResponse(msg, query, qEnd, exactCase) === ResponseCheck.Mismatch || (accept !== null && !accept(msg))) {
        counters.ignoredReplies++;
        return;
      }
      finish(null, msg);
    };
    const send = (): void => {
      socket.on('message', onMessage);
      socket.send(query, server.port, server.host, (err) => {
        if (err) finish(err);
        else onSent?.();
      });
    };
    // Bind an explicit random port; on a collision try another, then let the kernel choose.
    const bind = (): void => {
      const port = attempts++ < 4 ? randomPort() : 0;
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        if (err.code === 'EADDRINUSE' && attempts <= 4) {
          socket.close();
          socket = dgram.createSocket(type);
          bind();
        } else finish(err);
      });
      socket.bind(port, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => finish(err));
        send();
      });
    };
    bind();
  });
}
