// A scripted upstream resolver on 127.0.0.1 (UDP and TCP on the same port). Each test says how
// it answers; every query it receives is recorded so tests can assert what c2dns sent.
import dgram from 'node:dgram';
import net from 'node:net';
import { Packet, decode, T, type DecodedPacket, type Resource, type Rr } from './wire.js';

export interface ReceivedQuery {
  transport: 'udp' | 'tcp';
  raw: Buffer;
  packet: DecodedPacket;
  name: string;
  type: number;
  from: { address: string; port: number };
}

export interface ScriptedReply {
  rcode?: number;
  answers?: Rr[];
  authorities?: Rr[];
  additionals?: Rr[];
  aa?: boolean;
  /** Wait before answering. */
  delayMs?: number;
  /** Never answer. */
  drop?: boolean;
  /** Send these bytes instead (the ID is not patched). */
  raw?: Buffer;
  /** Extra datagrams to send first, e.g. spoofed answers (UDP only). */
  before?: (q: ReceivedQuery, sendRaw: (b: Buffer) => void) => void;
  /** Rewrites the encoded reply (the ID is patched already), e.g. to add EDNS options or an extended rcode. */
  patch?: (reply: Buffer, q: ReceivedQuery) => Buffer;
}

export type Script = (q: ReceivedQuery) => ScriptedReply | Promise<ScriptedReply>;

export interface Upstream {
  port: number;
  address: string;
  received: ReceivedQuery[];
  udp: dgram.Socket;
  setScript(s: Script): void;
  close(): Promise<void>;
}

export function encodeReply(q: ReceivedQuery, r: ScriptedReply, udpLimit: number | null): Buffer {
  const res = new Packet();
  res.header.id = q.packet.header.id;
  res.header.qr = 1;
  res.header.rd = q.packet.header.rd;
  res.header.ra = 1;
  res.header.aa = r.aa ? 1 : 0;
  res.header.rcode = r.rcode ?? 0;
  res.questions.push(...q.packet.questions);
  const fill = (rr: Rr): Resource => new Packet.Resource({ class: 1, ttl: 300, ...rr });
  res.answers.push(...(r.answers ?? []).map(fill));
  res.authorities.push(...(r.authorities ?? []).map(fill));
  res.additionals.push(...(r.additionals ?? []).map(fill));
  const hasOpt = q.packet.additionals.some((a) => a.type === T.OPT);
  if (hasOpt) res.additionals.push(new Packet.Resource({ name: '', type: T.OPT, class: 1232, ttl: 0, rdata: [] }));
  let buf = res.toBuffer();
  if (udpLimit !== null && buf.length > udpLimit) {
    // Truncate like a real server: header and question, TC=1.
    const tc = new Packet();
    tc.header.id = res.header.id;
    tc.header.qr = 1;
    tc.header.tc = 1;
    tc.header.rd = res.header.rd;
    tc.header.ra = 1;
    tc.questions.push(...q.packet.questions);
    buf = tc.toBuffer();
  }
  return buf;
}

/** Forged answers to `q` with `address`: one with the ID off by one, one for another question (evil.example.org). */
export function forgedReplies(q: ReceivedQuery, address: string): Buffer[] {
  const evil = { answers: [{ name: q.name, type: T.A, address }] };
  const wrongId = encodeReply(q, evil, null);
  wrongId.writeUInt16BE((q.packet.header.id + 1) & 0xffff, 0);
  const other = { ...q, packet: Packet.parse(q.raw) };
  other.packet.questions[0]!.name = 'evil.example.org';
  return [wrongId, encodeReply(other, evil, null)];
}

function udpLimitOf(p: DecodedPacket): number {
  const opt = p.additionals.find((a) => a.type === T.OPT);
  return opt ? Math.max(512, opt.class) : 512;
}

export async function startUpstream(script: Script, host = '127.0.0.1'): Promise<Upstream> {
  let current = script;
  const received: ReceivedQuery[] = [];

  const handle = async (raw: Buffer, transport: 'udp' | 'tcp', from: { address: string; port: number }, send: (b: Buffer) => void): Promise<void> => {
    let packet: DecodedPacket;
    try {
      packet = decode(raw);
    } catch {
      return;
    }
    const q0 = packet.questions[0];
    const q: ReceivedQuery = { transport, raw, packet, name: q0?.name ?? '', type: q0?.type ?? 0, from };
    received.push(q);
    const r = await current(q);
    if (r.before && transport === 'udp') r.before(q, send);
    if (r.drop) return;
    if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
    const reply = r.raw ?? encodeReply(q, r, transport === 'udp' ? udpLimitOf(packet) : null);
    send(r.patch ? r.patch(reply, q) : reply);
  };

  const sockets = new Set<net.Socket>();
  const onConnection = (sock: net.Socket): void => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = Buffer.alloc(0);
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void handle(msg, 'tcp', { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }, (b) => {
          const f = Buffer.alloc(2 + b.length);
          f.writeUInt16BE(b.length, 0);
          b.copy(f, 2);
          if (!sock.destroyed) sock.write(f);
        });
      }
    });
  };

  const { udp, tcp, port } = await bindUdpAndTcp(host, onConnection);
  udp.on('message', (msg, rinfo) => {
    void handle(msg, 'udp', { address: rinfo.address, port: rinfo.port }, (b) => udp.send(b, rinfo.port, rinfo.address));
  });

  return {
    port,
    address: host,
    received,
    udp,
    setScript: (s) => {
      current = s;
    },
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      // A client that keeps its connection open (c2dns reusing one) must not hold the close up.
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/**
 * A UDP socket on a free port and a TCP listener on the same port number. The UDP port is free
 * for UDP only: another process may hold it for TCP (an outgoing connection's ephemeral port),
 * so a TCP listen that finds it taken starts over on a new port instead of waiting forever.
 */
async function bindUdpAndTcp(host: string, onConnection: (s: net.Socket) => void): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const port = udp.address().port;
    const tcp = net.createServer(onConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port };
    } catch (e) {
      await new Promise<void>((r) => udp.close(() => r()));
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw e;
    }
  }
}

/** A tiny zone: answers from a table keyed "name TYPE"; NXDOMAIN with a SOA otherwise. */
export function zoneScript(records: Record<string, Rr[]>, soaMinimum = 60): Script {
  return (q) => {
    const key = `${q.name.toLowerCase()} ${q.type}`;
    const answers = records[key];
    if (answers) return { answers, aa: true };
    const nameExists = Object.keys(records).some((k) => k.startsWith(`${q.name.toLowerCase()} `));
    return {
      rcode: nameExists ? 0 : 3,
      aa: true,
      authorities: [
        { name: 'test', type: T.SOA, ttl: 600, primary: 'ns.test', admin: 'hostmaster.test', serial: 1, refresh: 3600, retry: 600, expiration: 86400, minimum: soaMinimum },
      ],
    };
  };
}
