// The native UDP batch path (server.udpBatch, native/udp_batch.c + src/server/udp-batch.ts) over
// real sockets: it answers exactly as the node:dgram path does (cached, blocked, malformed,
// truncated at 512, EDNS, upstream answers), answers a burst of 5,000 queries from several
// clients, serves IPv6, and closes cleanly while answers are in flight. Where the addon is not
// built the native tests are skipped, except under CI=true, where its absence is a failure.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendUdp } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, parseMessage, T, type Rr, type WireRecord } from '../helpers/wire.js';
import { loadUdpBatchAddon } from '../../src/native/udp-batch-addon.js';
import { chooseUdpPath } from '../../src/server/udp-batch.js';

const addon = loadUdpBatchAddon();
const CI = process.env.CI === 'true';

describe('choosing the UDP path (server.udpBatch)', () => {
  it('auto takes the addon when it is built and one process serves; off never does', () => {
    const built = {} as NonNullable<typeof addon>;
    expect(chooseUdpPath('auto', 1, built)).toEqual({ path: 'batch' });
    expect(chooseUdpPath('auto', 1, null)).toEqual({ path: 'js' });
    expect(chooseUdpPath('auto', 2, built)).toEqual({ path: 'js' });
    expect(chooseUdpPath('auto', 'auto', built)).toEqual({ path: 'js' });
    expect(chooseUdpPath('off', 1, built)).toEqual({ path: 'js' });
    expect(chooseUdpPath('on', 1, built)).toEqual({ path: 'batch' });
  });

  it('on without the addon, or with several workers, is an error that says what to do', () => {
    const missing = chooseUdpPath('on', 1, null);
    expect(missing).toEqual({ error: expect.stringMatching(/not built: run `node native\/install\.mjs`.*or set server\.udpBatch to auto or off/) });
    expect(chooseUdpPath('on', 4, {} as NonNullable<typeof addon>)).toEqual({ error: expect.stringMatching(/expected workers: 1 with server\.udpBatch: on \(workers is 4/) });
  });

  it('an addon file that is missing loads as null (the pure-JS path serves)', () => {
    expect(loadUdpBatchAddon(['/nonexistent/c2dns_udp_batch.node'])).toBeNull();
  });

  it('server.udpBatch: on with workers: 2 stops start-up in preflight, naming the key', async () => {
    await expect(startC2dns({ workers: 2, server: { udpBatch: 'on' } })).rejects.toThrow(/key "server\.udpBatch": expected workers: 1/);
  });
});

describe('the native addon', () => {
  it.runIf(CI || addon !== null)('is built (npm ci builds it; under CI=true a missing addon fails here)', () => {
    expect(addon, 'build/Release/c2dns_udp_batch.node is missing: `node native/install.mjs` says why').not.toBeNull();
    expect(Object.keys(addon!).sort()).toEqual(['close', 'connect', 'open', 'port', 'send', 'stats', 'write']);
  });

  it.runIf(addon !== null)('a listening socket hands consecutive batches one data Buffer until it is full; earlier datagrams stay intact', async () => {
    const batches: { data: Buffer; msgs: Buffer[] }[] = [];
    const sock = addon!.open('127.0.0.1', 0, 4, 1 << 20, (count, data, _addresses, meta) => {
      const msgs: Buffer[] = [];
      for (let i = 0; i < count; i++) msgs.push(data.subarray(meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!));
      batches.push({ data, msgs });
    });
    const client = dgram.createSocket('udp4');
    const sent: Buffer[] = [];
    try {
      const port = addon!.port(sock);
      // 1,400 datagrams of 100 bytes (140 kB: more than two 64 KiB buffers), one at a time, so each is a batch of its own.
      for (let i = 0; i < 1400; i++) {
        const d = Buffer.alloc(100, i & 0xff);
        d.writeUInt16BE(i, 0);
        sent.push(d);
        const before = batches.length;
        await new Promise<void>((r) => client.send(d, port, '127.0.0.1', () => r()));
        while (batches.length === before) await new Promise((r) => setImmediate(r));
      }
    } finally {
      client.close();
      await new Promise<void>((r) => addon!.close(sock, r));
    }
    const received = batches.flatMap((b) => b.msgs);
    expect(received).toEqual(sent); // checked after all arrived: no later batch overwrote an earlier one
    const buffers = new Set(batches.map((b) => b.data));
    expect(buffers.size).toBeGreaterThanOrEqual(3);
    expect(buffers.size).toBeLessThanOrEqual(4);
    for (const b of buffers) expect(b.length).toBe(65536);
  });
});

const BLOCKED = ['evil.example', 'c2.bad.example'];
const MANY = Array.from({ length: 40 }, (_, i): Rr => ({ name: 'many.example', type: T.A, address: `10.1.0.${i + 1}`, ttl: 300 }));
const ZONE: Record<string, Rr[]> = {
  'www.example 1': [{ name: 'www.example', type: T.A, address: '192.0.2.10', ttl: 300 }],
  'www.example 28': [{ name: 'www.example', type: T.AAAA, address: '2001:db8::10', ttl: 300 }],
  'many.example 1': MANY,
  ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`n${i}.example 1`, [{ name: `n${i}.example`, type: T.A, address: `198.51.100.${i}`, ttl: 300 }]])),
};

/** What a client sees of an answer, TTLs left out (a cached record's TTL counts down between the two servers' answers). */
function normalize(raw: Buffer | null): string {
  if (raw === null) return 'no answer';
  const m = parseMessage(raw);
  const rr = (r: WireRecord): string => `${r.name} ${r.type} ${r.class}${r.type === T.OPT ? ` ${r.ttl}` : ''} ${r.rdata.toString('hex')}`;
  return JSON.stringify({ id: m.id, flags: m.flags, rcode: m.rcode, length: raw.length, q: m.questions, an: m.answers.map(rr), ns: m.authorities.map(rr), ar: m.additionals.map(rr) });
}

/** One datagram to `port`; its answer, or null when none comes within `timeoutMs`. */
async function exchange(port: number, msg: Buffer, timeoutMs = 800): Promise<Buffer | null> {
  return sendUdp(port, msg, { timeoutMs }).catch(() => null);
}

interface Case {
  name: string;
  query: () => Buffer;
  /** Asked once before, so the compared answer comes from the cache. */
  warm?: boolean;
  /** What the answer must show, besides being the same on both paths. */
  check: (raw: Buffer | null) => void;
}

const flagsOf = (raw: Buffer | null): number => raw!.readUInt16BE(2);
const rcode = (raw: Buffer | null): number => flagsOf(raw) & 0xf;

const cases: Case[] = [
  { name: 'an upstream answer (a miss: answered later, asynchronously)', query: () => buildQuery('n1.example', T.A, { id: 0x1001 }), check: (r) => expect(parseMessage(r!).answers).toHaveLength(1) },
  { name: 'a cached answer', warm: true, query: () => buildQuery('www.example', T.A, { id: 0x1002 }), check: (r) => expect(parseMessage(r!).answers).toHaveLength(1) },
  { name: 'a cached AAAA answer with EDNS and DO', warm: true, query: () => buildQuery('www.example', T.AAAA, { id: 0x1003, edns: { udpSize: 1232, do: true } }), check: (r) => expect(parseMessage(r!).additionals.map((a) => a.type)).toEqual([T.OPT]) },
  { name: 'a blocked name', query: () => buildQuery('evil.example', T.A, { id: 0x1004 }), check: (r) => expect(r).not.toBeNull() },
  { name: 'a blocked subdomain with EDNS (EDE kept)', query: () => buildQuery('x.c2.bad.example', T.AAAA, { id: 0x1005, edns: { udpSize: 1232 } }), check: (r) => expect(r!.length).toBeGreaterThan(12) },
  { name: '40 records without EDNS: truncated at 512 (TC=1)', warm: true, query: () => buildQuery('many.example', T.A, { id: 0x1006 }), check: (r) => expect(flagsOf(r) & 0x0200).toBe(0x0200) },
  { name: '40 records with EDNS 1232: whole', warm: true, query: () => buildQuery('many.example', T.A, { id: 0x1007, edns: { udpSize: 1232 } }), check: (r) => expect(parseMessage(r!).answers).toHaveLength(40) },
  { name: 'EDNS version 1: BADVERS', query: () => buildQuery('www.example', T.A, { id: 0x1008, edns: { version: 1 } }), check: (r) => expect(r).not.toBeNull() },
  { name: 'an unknown opcode: NOTIMP', query: () => buildQuery('www.example', T.A, { id: 0x1009, opcode: 2 }), check: (r) => expect(rcode(r)).toBe(4) },
  { name: 'a question cut in the middle of its name: FORMERR', query: () => buildQuery('www.example', T.A, { id: 0x100a }).subarray(0, 17), check: (r) => expect(rcode(r)).toBe(1) },
  { name: 'a response (QR=1): no answer', query: () => Buffer.from([0x10, 0x0b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]), check: (r) => expect(r).toBeNull() },
  { name: 'shorter than a header: no answer', query: () => Buffer.from([1, 2, 3]), check: (r) => expect(r).toBeNull() },
];

describe.skipIf(addon === null && !CI)('the native batch path', () => {
  let up: Upstream;
  let js: TestServer;
  let batch: TestServer;
  const lists = [{ name: 'c2', path: 'c2.txt' }];
  const files = { 'c2.txt': `${BLOCKED.join('\n')}\n` };
  // Server cookies are made with a random secret per server: off, so both answer byte for byte alike.
  const common = (udpBatch: string): Record<string, unknown> => ({ upstreams: [`127.0.0.1:${up.port}`], lists, server: { udpBatch, cookies: { enabled: false } } });

  beforeAll(async () => {
    up = await startUpstream(zoneScript(ZONE));
    js = await startC2dns(common('off'), files);
    batch = await startC2dns(common('on'), files);
  });

  afterAll(async () => {
    await js?.close();
    await batch?.close();
    await up?.close();
  });

  it('serves with the addon when on, with node:dgram when off, and /api/status says which', async () => {
    expect(batch.server.udpStatus()?.path).toBe('batch');
    expect(js.server.udpStatus()?.path).toBe('js');
    const status = async (s: TestServer): Promise<{ udp: Record<string, unknown> }> => (await fetch(`${s.server.admin!.url}/api/status`)).json() as Promise<{ udp: Record<string, unknown> }>;
    expect((await status(js)).udp).toEqual({ path: 'js' });
    expect((await status(batch)).udp).toMatchObject({ path: 'batch', received: expect.any(Number), batches: expect.any(Number), sent: expect.any(Number), dropped: 0 });
  });

  describe('answers exactly as the node:dgram path', () => {
    for (const c of cases) {
      it(c.name, async () => {
        if (c.warm === true) await Promise.all([exchange(js.port, c.query()), exchange(batch.port, c.query())]);
        const [a, b] = await Promise.all([exchange(js.port, c.query()), exchange(batch.port, c.query())]);
        expect(normalize(b)).toBe(normalize(a));
        c.check(b);
      });
    }
  });

  it('answers every one of a burst of 5,000 queries from 5 client sockets (cached and blocked names)', async () => {
    const names = ['www.example', 'n2.example', 'n3.example', ...BLOCKED];
    for (const n of names) await exchange(batch.port, buildQuery(n, T.A));
    const before = batchStats(batch);
    const answered = await Promise.all(Array.from({ length: 5 }, (_, k) => burst(batch.port, 1000, (i) => buildQuery(names[(i + k) % names.length]!, T.A, { id: i }))));
    expect(answered).toEqual([1000, 1000, 1000, 1000, 1000]);
    const after = batchStats(batch);
    expect(after.sent - before.sent).toBeGreaterThanOrEqual(5000);
    expect(after.dropped).toBe(0);
    // The point of the path: fewer system calls than datagrams.
    expect(after.sendCalls - before.sendCalls).toBeLessThan(after.sent - before.sent);
  });

  it('answers 50 different upstream misses asked at once (asynchronous answers, flushed together)', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => exchange(batch.port, buildQuery(`n${i}.example`, T.AAAA, { id: 0x2000 + i, edns: {} }), 3000)));
    expect(answers.map((a) => a !== null && parseMessage(a).id)).toEqual(Array.from({ length: 50 }, (_, i) => 0x2000 + i));
    expect(answers.every((a) => rcode(a) === 0)).toBe(true);
  });

  it('binds [::1] only and answers over IPv6', async (ctx) => {
    if (!(await canBind('::1'))) return ctx.skip();
    const v6 = await startC2dns({ listen: ['[::1]:0'], upstreams: [`127.0.0.1:${up.port}`], server: { udpBatch: 'on' } });
    try {
      expect(v6.server.udpStatus()?.path).toBe('batch');
      const raw = await sendUdp(v6.server.udp[0]!.port, buildQuery('www.example', T.A, { id: 0x6006 }), { host: '::1' });
      expect(parseMessage(raw).answers.map((a) => a.rdata.join('.'))).toEqual(['192.0.2.10']);
    } finally {
      await v6.close();
    }
  });

  it('closing sends the answers that come within the grace time, drops later ones without a crash, and frees the port', async () => {
    const slow = await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.99', ttl: 60 }], delayMs: q.name.startsWith('fast') ? 20 : 2000 }));
    const s = await startC2dns({ upstreams: [`127.0.0.1:${slow.port}`], upstream: { timeoutMs: 3000 }, server: { udpBatch: 'on' }, cache: { maxEntries: 0 } });
    const port = s.port;
    const client = dgram.createSocket('udp4');
    const got: number[] = [];
    client.on('message', (m) => got.push(m.readUInt16BE(0)));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    try {
      for (let i = 0; i < 10; i++) client.send(buildQuery(`fast${i}.example`, T.A, { id: i }), port, '127.0.0.1');
      for (let i = 10; i < 20; i++) client.send(buildQuery(`slow${i}.example`, T.A, { id: i }), port, '127.0.0.1');
      await until(() => slow.received.length >= 20);
      await s.close(); // the test server's grace time is 500 ms
      await new Promise((r) => setTimeout(r, 2000)); // the slow upstream answers have come back by now
      expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await canBind('127.0.0.1', port)).toBe(true);
    } finally {
      client.close();
      await slow.close();
    }
  });
});

/** The native socket's counters, as /api/status reports them (RunningServer.udpStatus). */
function batchStats(s: TestServer): { sent: number; sendCalls: number; dropped: number } {
  const st = s.server.udpStatus();
  if (st === null || st.path !== 'batch') throw new Error('not the batch path');
  return { sent: st.sent!, sendCalls: st.sendCalls!, dropped: st.dropped! };
}

/**
 * Sends `count` queries from one socket, at most 64 unanswered at a time (a client's window; a
 * blind flood would overrun the kernel's buffers, which measures the kernel, not c2dns); resolves
 * with how many distinct IDs were answered. Each reply's ID must be one that was asked.
 */
async function burst(port: number, count: number, query: (i: number) => Buffer): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize(1 << 20);
  const seen = new Set<number>();
  let next = 0;
  const sendOne = (): void => {
    if (next < count) sock.send(query(next++), port, '127.0.0.1');
  };
  try {
    return await new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(seen.size), 20_000);
      sock.on('message', (m) => {
        const id = m.readUInt16BE(0);
        if (id < count && !seen.has(id)) {
          seen.add(id);
          sendOne();
        }
        if (seen.size === count) {
          clearTimeout(timer);
          resolve(count);
        }
      });
      for (let i = 0; i < 64; i++) sendOne();
    });
  } finally {
    sock.close();
  }
}

async function canBind(host: string, port = 0): Promise<boolean> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
