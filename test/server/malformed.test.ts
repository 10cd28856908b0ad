// Malformed input against a running c2dns: every bad packet costs that packet only. Each case
// sends real datagrams or TCP streams, checks the reply (or the deliberate silence), and then
// checks that the server still answers ordinary queries correctly and quickly.
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, frame } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, encodeName, T, type DecodedPacket } from '../helpers/wire.js';

let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  up = await startUpstream(
    zoneScript({
      'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }],
    }),
  );
  c2 = await startC2dns(
    {
      upstreams: [`127.0.0.1:${up.port}`],
      upstream: { timeoutMs: 400 },
      tcp: { idleTimeoutMs: 500 },
      lists: [{ name: 'c2', path: 'block.txt' }],
      blocking: { ttl: 42 },
    },
    { 'block.txt': 'akamaicontainer.com\n' },
  );
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the health check run after every case ----------------------------------------------

let fresh = 0;

/** A forwarded, a cached, a blocked and a TCP query all answer correctly, each within 500 ms. */
async function expectHealthy(): Promise<void> {
  const timed = async <R>(f: () => Promise<R>): Promise<R> => {
    const t0 = performance.now();
    const r = await f();
    expect(performance.now() - t0).toBeLessThan(500);
    return r;
  };
  const forwarded = await timed(() => ask(c2.port, 'example.org', T.A, { timeoutMs: 1500 }));
  expect(forwarded.packet.header.rcode).toBe(0);
  expect(forwarded.packet.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
  const unknown = await timed(() => ask(c2.port, `fresh${++fresh}.example.org`, T.A, { timeoutMs: 1500, edns: {} }));
  expect(unknown.packet.header.rcode).toBe(3); // NXDOMAIN from the upstream, not from a cache
  const blocked = await timed(() => ask(c2.port, 'akamaicontainer.com', T.A, { timeoutMs: 1500 }));
  expect(blocked.packet.answers.map((a) => `${a.address} ${a.ttl}`)).toEqual(['0.0.0.0 42']);
  const tcp = await timed(() => ask(c2.port, 'example.org', T.A, { tcp: true, timeoutMs: 1500 }));
  expect(tcp.packet.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
  expect(c2.server.dispatcher.counters.internalErrors).toBe(0);
}

// ---- raw packets ------------------------------------------------------------------------

const ID = 0x7e57;
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};

function header(flags: number, qd: number, an = 0, ns = 0, ar = 0, id = ID): Buffer {
  return Buffer.concat([u16(id), u16(flags), u16(qd), u16(an), u16(ns), u16(ar)]);
}

const QUESTION = Buffer.concat([encodeName('example.org'), u16(T.A), u16(1)]);
const OPT = (version = 0): Buffer => Buffer.from([0, 0, 41, 0x04, 0xd0, 0, version, 0x80, 0, 0, 0]);

/** Bytes 12.. of a message whose question name is a chain of `n` pointers, the last one back to the first. */
function pointerChain(n: number): Buffer {
  const b = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) {
    const target = i === n - 1 ? 12 : 12 + 2 * (i + 1);
    b.writeUInt16BE(0xc000 | target, 2 * i);
  }
  return b;
}

/** A fresh UDP socket for raw datagrams; collects every reply. */
async function udpClient(): Promise<{ sock: dgram.Socket; replies: Buffer[]; send(m: Buffer): Promise<void>; close(): void }> {
  const sock = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    sock,
    replies,
    send: (m) => new Promise<void>((resolve, reject) => sock.send(m, c2.port, '127.0.0.1', (err) => (err ? reject(err) : resolve()))),
    close: () => sock.close(),
  };
}

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

// ---- UDP: one malformed datagram at a time ------------------------------------------------

interface UdpCase {
  name: string;
  msg: Buffer;
  /** null = the server must stay silent. */
  reply: null | {
    /** The full rcode as dns2 reads it (header nibble merged with the OPT's extended bits). */
    rcode: number;
    headerRcode: number;
    qdcount: number;
    opcode?: number;
    opt?: { extendedRcode: number };
  };
}

const udpCases: UdpCase[] = [
  { name: 'an empty datagram: no reply', msg: Buffer.alloc(0), reply: null },
  { name: 'a truncated header (11 bytes): no reply', msg: header(0x0100, 1).subarray(0, 11), reply: null },
  { name: 'a response (QR=1): no reply, so two servers cannot ping-pong', msg: Buffer.concat([header(0x8180, 1), QUESTION]), reply: null },
  { name: 'a response with an unreadable body: no reply', msg: Buffer.concat([header(0x8000, 9, 9, 9, 9), Buffer.from([0xc0])]), reply: null },
  { name: '0 questions: FORMERR without a question', msg: header(0x0100, 0), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: '2 questions: FORMERR without a question', msg: Buffer.concat([header(0x0100, 2), QUESTION, QUESTION]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a question name that points to itself: FORMERR', msg: Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a question name that is a two-pointer loop: FORMERR', msg: Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 0x0e, 0xc0, 0x0c, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a question name that is a chain of 600 pointers: FORMERR', msg: Buffer.concat([header(0x0100, 1), pointerChain(600), u16(1), u16(1)]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a pointer after a literal label in the question: FORMERR', msg: Buffer.concat([header(0x0100, 1), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 0x0c, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a label of 64 octets: FORMERR', msg: Buffer.concat([header(0x0100, 1), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a reserved label type (0x80): FORMERR', msg: Buffer.concat([header(0x0100, 1), Buffer.from([0x80, 0x61, 0, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a name of 257 octets: FORMERR', msg: Buffer.concat([header(0x0100, 1), ...[0, 1, 2, 3].map(() => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x62)])), Buffer.from([0, 0, 1, 0, 1])]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'a question cut before QCLASS: FORMERR', msg: Buffer.concat([header(0x0100, 1), QUESTION.subarray(0, QUESTION.length - 2)]), reply: { rcode: 1, headerRcode: 1, qdcount: 0 } },
  { name: 'opcode UPDATE: NOTIMP with the opcode echoed', msg: Buffer.concat([header(5 << 11, 1), QUESTION]), reply: { rcode: 4, headerRcode: 4, qdcount: 0, opcode: 5 } },
  { name: 'opcode STATUS: NOTIMP with the opcode echoed', msg: Buffer.concat([header(2 << 11, 1), QUESTION]), reply: { rcode: 4, headerRcode: 4, qdcount: 0, opcode: 2 } },
  { name: 'opcode NOTIFY: NOTIMP', msg: Buffer.concat([header((4 << 11) | 0x0400, 1), QUESTION]), reply: { rcode: 4, headerRcode: 4, qdcount: 0, opcode: 4 } },
  {
    name: 'EDNS version 1: BADVERS, rcode 16 split into header 0 and OPT extended rcode 1',
    msg: Buffer.concat([header(0x0100, 1, 0, 0, 1), QUESTION, OPT(1)]),
    reply: { rcode: 16, headerRcode: 0, qdcount: 1, opt: { extendedRcode: 1 } },
  },
  { name: 'two OPT records: FORMERR with the question and an OPT', msg: Buffer.concat([header(0x0100, 1, 0, 0, 2), QUESTION, OPT(), OPT()]), reply: { rcode: 1, headerRcode: 1, qdcount: 1, opt: { extendedRcode: 0 } } },
  { name: 'an OPT in the answer section: FORMERR', msg: Buffer.concat([header(0x0100, 1, 1), QUESTION, OPT()]), reply: { rcode: 1, headerRcode: 1, qdcount: 1 } },
  { name: 'ARCOUNT 65535 with nothing after the question: FORMERR', msg: Buffer.concat([header(0x0100, 1, 0, 0, 0xffff), QUESTION]), reply: { rcode: 1, headerRcode: 1, qdcount: 1 } },
];

describe('UDP: a malformed datagram gets the right reply, or none', () => {
  for (const c of udpCases) {
    it(c.name, async () => {
      const before = { ...c2.server.dispatcher.counters };
      const client = await udpClient();
      try {
        await client.send(c.msg);
        if (c.reply === null) {
          await waitFor(() => c2.server.dispatcher.counters.dropped > before.dropped, 1000);
          await sleep(150);
          expect(client.replies).toEqual([]);
          expect(c2.server.dispatcher.counters.dropped).toBe(before.dropped + 1);
        } else {
          expect(await waitFor(() => client.replies.length > 0, 1500)).toBe(true);
          const raw = client.replies[0]!;
          const p = decode(raw);
          expect(p.header).toMatchObject({ id: ID, qr: 1, rcode: c.reply.rcode, qdcount: c.reply.qdcount, opcode: c.reply.opcode ?? 0, ancount: 0, nscount: 0 });
          expect(raw[3]! & 0x0f).toBe(c.reply.headerRcode);
          if (c.reply.qdcount === 1) expect(raw.subarray(12, 12 + QUESTION.length)).toEqual(QUESTION);
          const opt = p.additionals.find((r) => r.type === T.OPT) as unknown as { extendedRcode: number; version: number } | undefined;
          if (c.reply.opt) expect(opt).toMatchObject({ extendedRcode: c.reply.opt.extendedRcode, version: 0 });
          else expect(opt).toBeUndefined();
          expect(c2.server.dispatcher.counters.malformed).toBe(before.malformed + 1);
          await sleep(50);
          expect(client.replies).toHaveLength(1); // one reply per datagram
        }
      } finally {
        client.close();
      }
      await expectHealthy();
    });
  }
});

describe('UDP: names with a dot inside a label', () => {
  it('the one-label name "akamaicontainer.com" is not the listed two-label name: forwarded with its bytes intact, not sinkholed', async () => {
    const oneLabel = Buffer.concat([Buffer.from([19]), Buffer.from('akamaicontainer.com'), Buffer.from([0])]);
    const question = Buffer.concat([oneLabel, u16(T.A), u16(1)]);
    const before = up.received.length;
    const client = await udpClient();
    try {
      await client.send(Buffer.concat([header(0x0100, 1, 0, 0, 0, 0x0d07), question]));
      expect(await waitFor(() => client.replies.length > 0, 2000)).toBe(true);
      const p = decode(client.replies[0]!);
      expect(p.header.id).toBe(0x0d07);
      expect(p.answers.map((a) => a.address)).not.toContain('0.0.0.0');
      expect(client.replies[0]!.subarray(12, 12 + question.length)).toEqual(question);
      const sent = up.received.slice(before).map((r) => r.raw.subarray(12, 12 + question.length));
      expect(sent).toContainEqual(question);
    } finally {
      client.close();
    }
    await expectHealthy();
  });
});

// ---- UDP: floods -------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) so a failing batch can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether a datagram must get exactly one reply: at least a header, and QR=0. */
const answerable = (m: Buffer): boolean => m.length >= 12 && (m[2]! & 0x80) === 0;

/**
 * Sends the datagrams in batches of 50, waiting for each batch's replies, and checks: exactly
 * one reply per answerable datagram and none for the others, every reply a well-formed response
 * (dns2 decodes it without errors) to an ID that was sent.
 */
async function flood(datagrams: Buffer[]): Promise<{ replies: DecodedPacket[]; expected: number }> {
  const client = await udpClient();
  const ids = new Map<number, number>(); // ID → answerable datagrams with it
  let expected = 0;
  try {
    for (let i = 0; i < datagrams.length; i += 50) {
      const batch = datagrams.slice(i, i + 50);
      for (const m of batch) {
        if (answerable(m)) {
          expected++;
          const id = m.readUInt16BE(0);
          ids.set(id, (ids.get(id) ?? 0) + 1);
        }
        await client.send(m);
      }
      // Forwarded queries that the upstream cannot answer wait for the 400 ms upstream timeout.
      await waitFor(() => client.replies.length >= expected, 3000);
    }
    await sleep(200); // anything extra would show up now
    expect(client.replies.length).toBe(expected);
    const decoded = client.replies.map((raw) => {
      const p = decode(raw);
      expect(p.header.qr).toBe(1);
      const left = ids.get(p.header.id) ?? 0;
      expect(left).toBeGreaterThan(0);
      ids.set(p.header.id, left - 1);
      return p;
    });
    return { replies: decoded, expected };
  } finally {
    client.close();
  }
}

describe('UDP: floods of bad datagrams', () => {
  it('2,000 random datagrams: one well-formed reply for each answerable one, silence for the rest', async () => {
    const rand = prng(0xc2d5);
    const datagrams = Array.from({ length: 2000 }, () => {
      const len = Math.floor(rand() * 600);
      return Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
    });
    const { replies, expected } = await flood(datagrams);
    expect(expected).toBeGreaterThan(900); // about half have QR=0
    // These random bytes hold no valid query: every reply is FORMERR, NOTIMP or BADVERS, with no records.
    for (const p of replies) {
      expect([1, 4, 16]).toContain(p.header.rcode);
      expect(p.answers.length + p.authorities.length).toBe(0);
    }
    await expectHealthy();
  });

  it('2,000 bit-flipped valid queries: one well-formed reply for each answerable one', async () => {
    const rand = prng(0xf11b);
    const bases = [
      buildQuery('example.org', T.A, { id: 1 }),
      buildQuery('www.example.org', T.AAAA, { id: 2, edns: { do: true } }),
      buildQuery('akamaicontainer.com', T.A, { id: 3, edns: {} }),
      buildQuery('x.akamaicontainer.com', T.MX, { id: 4 }),
    ];
    const datagrams = Array.from({ length: 2000 }, (_, i) => {
      const m = Buffer.from(bases[i % bases.length]!);
      m.writeUInt16BE(i, 0);
      const flips = 1 + Math.floor(rand() * 6);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(rand() * m.length * 8);
        m[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      }
      return m;
    });
    const { replies } = await flood(datagrams);
    // Many flips leave a valid query: those are answered normally, not only with errors.
    expect(replies.some((p) => p.header.rcode === 0 && p.answers.length > 0)).toBe(true);
    expect(replies.some((p) => p.header.rcode === 1)).toBe(true);
    await expectHealthy();
  });
});

// ---- TCP ---------------------------------------------------------------------------------

interface Session {
  replies: Buffer[];
  /** The server ended or closed the connection (rather than our timeout). */
  closedByServer: boolean;
  ms: number;
}

/** Writes `chunks` on one connection, FINs if asked, and collects framed replies until the server closes. */
function tcpSession(chunks: Buffer[], o: { fin: boolean; timeoutMs?: number }): Promise<Session> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = net.connect({ port: c2.port, host: '127.0.0.1' });
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, o.timeoutMs ?? 2000);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e);
    });
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
      if (o.fin) sock.end();
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ replies, closedByServer: !timedOut, ms: performance.now() - t0 });
    });
  });
}

const normal = (id: number): Buffer => buildQuery('example.org', T.A, { id });

describe('TCP: malformed streams', () => {
  it('a zero length prefix: the server closes the connection without a reply', async () => {
    const s = await tcpSession([Buffer.from([0, 0])], { fin: false });
    expect(s).toMatchObject({ replies: [], closedByServer: true });
    expect(s.ms).toBeLessThan(1000);
    await expectHealthy();
  });

  it('an HTTP request (garbage read as a length prefix) followed by FIN: closed without a reply', async () => {
    const s = await tcpSession([Buffer.from('GET / HTTP/1.1\r\nHost: resolver\r\n\r\n')], { fin: true });
    expect(s).toMatchObject({ replies: [], closedByServer: true });
    expect(s.ms).toBeLessThan(1000);
    await expectHealthy();
  });

  it('a message cut short and followed by FIN: closed without a reply', async () => {
    const q = normal(0x0101);
    const s = await tcpSession([frame(q).subarray(0, 2 + 20)], { fin: true });
    expect(s).toMatchObject({ replies: [], closedByServer: true });
    expect(s.ms).toBeLessThan(1000);
    await expectHealthy();
  });

  it('a complete query, then one cut short, then FIN: the first is answered, then the connection closes', async () => {
    const s = await tcpSession([frame(normal(0x0202)), frame(normal(0x0303)).subarray(0, 10)], { fin: true });
    expect(s.closedByServer).toBe(true);
    expect(s.replies.map((r) => decode(r).header.id)).toEqual([0x0202]);
    expect(decode(s.replies[0]!).answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    await expectHealthy();
  });

  it('a response (QR=1) then FIN: no reply, and the connection still closes', async () => {
    const s = await tcpSession([frame(Buffer.concat([header(0x8180, 1), QUESTION]))], { fin: true });
    expect(s).toMatchObject({ replies: [], closedByServer: true });
    expect(s.ms).toBeLessThan(1000);
    await expectHealthy();
  });

  it('a connection that sent only a response (QR=1) and stays open is closed by the idle timeout', async () => {
    const s = await tcpSession([frame(Buffer.concat([header(0x8180, 1), QUESTION]))], { fin: false, timeoutMs: 3000 });
    expect(s).toMatchObject({ replies: [], closedByServer: true });
    expect(s.ms).toBeGreaterThan(400); // tcp.idleTimeoutMs: 500
    expect(s.ms).toBeLessThan(2000);
    await expectHealthy();
  });

  it('more unanswerable messages than the per-connection in-flight cap (100) do not use up the connection', async () => {
    const silent = Array.from({ length: 150 }, (_, i) => frame(i % 2 ? Buffer.alloc(5) : Buffer.concat([header(0x8180, 1), QUESTION])));
    const s = await tcpSession([...silent, frame(normal(0x0045))], { fin: true });
    expect(s.closedByServer).toBe(true);
    expect(s.replies.map((r) => decode(r).header.id)).toEqual([0x0045]);
    await expectHealthy();
  });

  it('framed garbage: each answerable message gets one reply, and a normal query after it on the same connection is answered', async () => {
    const rand = prng(0x7c9);
    const garbage = Array.from({ length: 100 }, (_, i) => {
      const m = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
      if (m.length >= 2) m.writeUInt16BE(0x8000 + i, 0); // IDs the final query cannot collide with
      return m;
    });
    const expected = garbage.filter(answerable).length;
    const s = await tcpSession([...garbage.map(frame), frame(normal(0x0042))], { fin: true, timeoutMs: 3000 });
    expect(s.closedByServer).toBe(true);
    expect(s.replies).toHaveLength(expected + 1);
    const decoded = s.replies.map((r) => decode(r));
    const last = decoded.find((p) => p.header.id === 0x0042)!;
    expect(last.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    await expectHealthy();
  });

  it('a 64 KB question name made of a pointer chain that loops: FORMERR, quickly', async () => {
    const body = pointerChain((0xffff - 12 - 4) >> 1);
    const msg = Buffer.concat([header(0x0100, 1), body, u16(1), u16(1)]);
    expect(msg.length).toBeGreaterThan(65_530);
    const s = await tcpSession([frame(msg), frame(normal(0x0043))], { fin: true });
    expect(s.ms).toBeLessThan(1000);
    const [formerr, answer] = s.replies.map((r) => decode(r));
    expect(formerr!.header).toMatchObject({ id: ID, qr: 1, rcode: 1, qdcount: 0 });
    expect(answer!.header.id).toBe(0x0043);
    expect(answer!.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    await expectHealthy();
  });

  it('a query carrying 64 KB of records whose owners are chained pointers: the pointers are skipped and the question answered', async () => {
    const recs: Buffer[] = [];
    let off = 12 + QUESTION.length;
    while (off + 12 <= 0xffff) {
      const target = recs.length === 0 ? off : off - 12; // each owner points at the previous one, the first at itself
      recs.push(Buffer.concat([u16(0xc000 | target), u16(T.A), u16(1), Buffer.alloc(4), u16(0)]));
      off += 12;
    }
    const msg = Buffer.concat([header(0x0100, 1, 0, 0, recs.length, 0x0044), QUESTION, ...recs]);
    expect(msg.length).toBeGreaterThan(65_520);
    const s = await tcpSession([frame(msg)], { fin: true });
    expect(s.ms).toBeLessThan(1000);
    expect(s.replies).toHaveLength(1);
    const p = decode(s.replies[0]!);
    expect(p.header).toMatchObject({ id: 0x0044, rcode: 0 });
    expect(p.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    await expectHealthy();
  });
});
