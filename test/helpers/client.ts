// A stub client for tests: sends one query over UDP or TCP from a chosen local address.
import dgram from 'node:dgram';
import net from 'node:net';
import { buildQuery, decode, type DecodedPacket, type QueryOptions } from './wire.js';

export interface Reply {
  raw: Buffer;
  packet: DecodedPacket;
}

export interface AskOptions extends QueryOptions {
  tcp?: boolean;
  /** Local address to send from (e.g. 127.0.0.2 for ACL tests). */
  from?: string;
  host?: string;
  timeoutMs?: number;
}

export async function ask(port: number, name: string, type: number, o: AskOptions = {}): Promise<Reply> {
  const msg = buildQuery(name, type, o);
  const raw = o.tcp ? await sendTcp(port, msg, o) : await sendUdp(port, msg, o);
  return { raw, packet: decode(raw) };
}

export function sendUdp(port: number, msg: Buffer, o: { from?: string; host?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  const host = o.host ?? '127.0.0.1';
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no UDP answer within ${o.timeoutMs ?? 3000} ms`));
    }, o.timeoutMs ?? 3000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      sock.close();
      resolve(m);
    });
    sock.bind(0, o.from, () => sock.send(msg, port, host));
  });
}

/** Sends framed messages on one TCP connection and collects `expect` framed answers. */
export function sendTcpMany(port: number, msgs: Buffer[], expect: number, o: { host?: string; timeoutMs?: number; chunks?: Buffer[]; from?: string } = {}): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: o.host ?? '127.0.0.1', ...(o.from ? { localAddress: o.from } : {}) });
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`got ${out.length} of ${expect} TCP answers`));
    }, o.timeoutMs ?? 3000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('connect', () => {
      if (o.chunks) {
        for (const c of o.chunks) sock.write(c);
        return;
      }
      sock.write(Buffer.concat(msgs.map(frame)));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= expect) {
        clearTimeout(timer);
        sock.destroy();
        resolve(out);
      }
    });
  });
}

export async function sendTcp(port: number, msg: Buffer, o: { host?: string; timeoutMs?: number; from?: string } = {}): Promise<Buffer> {
  const [r] = await sendTcpMany(port, [msg], 1, o);
  return r!;
}

export function frame(m: Buffer): Buffer {
  const f = Buffer.alloc(2 + m.length);
  f.writeUInt16BE(m.length, 0);
  m.copy(f, 2);
  return f;
}
