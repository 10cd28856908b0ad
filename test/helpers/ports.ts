// Free loopback ports for the servers tests start (c2dns's CLI, NSD, dnsmasq, Unbound, Redis):
// one port that UDP and TCP can both bind on every given address, at the time of asking. A
// server started on it may still lose a race to another test: the helpers that start servers
// retry on "address in use".
import dgram from 'node:dgram';
import net from 'node:net';

/** A port that UDP and TCP can both bind on each of `hosts` (IPv4) right now. */
export async function freePort(hosts: readonly string[] = ['127.0.0.1']): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, hosts[0], () => resolve());
    });
    const port = udp.address().port;
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (await portFree(port, hosts)) return port;
  }
  throw new Error(`found no port free for both UDP and TCP on ${hosts.join(', ')}`);
}

/** True if both a TCP listener and a UDP socket can be bound to `port` on each of `hosts`. */
export async function portFree(port: number, hosts: readonly string[] = ['127.0.0.1']): Promise<boolean> {
  for (const h of hosts) {
    const tcpOk = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, h, () => srv.close(() => resolve(true)));
    });
    const udpOk = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind(port, h, () => s.close(() => resolve(true)));
    });
    if (!tcpOk || !udpOk) return false;
  }
  return true;
}
