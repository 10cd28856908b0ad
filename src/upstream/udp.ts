// One UDP exchange with one upstream, from a fresh socket on a random port. A datagram that is
// not the answer (wrong source, ID or question) is ignored and counted; we keep waiting.
import dgram from 'node:dgram';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import type { UpstreamCounters } from './counters.js';
import { randomPort } from './message.js';

export class UpstreamTimeout extends Error {}

export function udpExchange(
  server: HostPort,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  counters: UpstreamCounters,
  exactCase = false,
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
      if (checkResponse(msg, query, qEnd, exactCase) === ResponseCheck.Mismatch) {
        counters.ignoredReplies++;
        return;
      }
      finish(null, msg);
    };
    const send = (): void => {
      socket.on('message', onMessage);
      socket.send(query, server.port, server.host, (err) => {
        if (err) finish(err);
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
