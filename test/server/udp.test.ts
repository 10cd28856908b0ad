// The UDP listener over real sockets: answers that do not fit the client's UDP size are sent
// truncated (TC=1, question kept, OPT kept for an EDNS client, no records) and come whole over
// TCP; the limit is 512 without EDNS, else the client's size clamped to [512, 1232]. Also the
// IPv6 listener and answers going back to the port each datagram came from. Run on both UDP paths.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, sendTcp, sendUdp, type AskOptions } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type ScriptedReply, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T, type QueryOptions } from '../helpers/wire.js';
import { loadUdpBatchAddon } from '../../src/native/udp-batch-addon.js';

/**
 * Names the upstream understands:
 *   a<n>.<rest>   n A records
 *   t<k>.<rest>   one TXT record carrying k bytes of text (in strings of at most 255)
 *   d<ms>.<rest>  A 192.0.2.1 after <ms> milliseconds
 * anything else   A 192.0.2.1
 */
function sizedScript(q: { name: string }): ScriptedReply {
  const name = q.name;
  let m = /^a(\d+)\./i.exec(name);
  if (m) {
    const n = Number(m[1]);
    return { answers: Array.from({ length: n }, (_, i) => ({ name, type: T.A, address: `10.0.${i >> 8}.${i & 255}`, ttl: 60 })) };
  }
  m = /^t(\d+)\./i.exec(name);
  if (m) {
    const k = Number(m[1]);
    const data: string[] = [];
    for (let left = k; left > 0; left -= 255) data.push('x'.repeat(Math.min(255, left)));
    return { answers: [{ name, type: T.TXT, data, ttl: 60 } as never] };
  }
  m = /^d(\d+)\./i.exec(name);
  return { answers: [{ name, type: T.A, address: '192.0.2.1', ttl: 60 }], ...(m ? { delayMs: Number(m[1]) } : {}) };
}

async function canBindV6Loopback(): Promise<boolean> {
  const s = dgram.createSocket({ type: 'udp6', ipv6Only: true });
  return new Promise((resolve) => {
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(0, '::1', () => {
      s.close();
      resolve(true);
    });
  });
}

const hasV6 = await canBindV6Loopback();
if (!hasV6) console.warn('udp.test.ts: skipping the IPv6 listener test: cannot bind ::1 on this host');

const addon = loadUdpBatchAddon();
// Both UDP implementations (server.udpBatch) meet the same specification; the native one only
// where the addon is built (test/server/udp-batch.test.ts fails under CI=true when it is not).
const PATHS = addon === null ? ['off'] : ['off', 'on'];

describe.each(PATHS)('server.udpBatch: %s', (udpBatch) => {
  let up: Upstream;
  let c2: TestServer;

  beforeAll(async () => {
    up = await startUpstream(sizedScript);
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, server: { udpBatch } });
  });

  afterAll(async () => {
    await c2?.close();
    await up?.close();
  });

  const HEADER = 12;

  /** End of the question section of a message with one question (uncompressed name). */
  function questionEnd(msg: Buffer): number {
    let off = HEADER;
    while (msg[off] !== 0) off += msg[off]! + 1;
    return off + 1 + 4;
  }

  /** Fixed width, so the name (and the answer's size) does not grow with k. */
  const txtName = (k: number, suffix: string): string => `t${String(k).padStart(5, '0')}.${suffix}`;

  /** The full answer (over TCP) for `t<k>.<suffix>`, asked with the given EDNS options. */
  async function tcpSize(k: number, suffix: string, edns: QueryOptions['edns']): Promise<number> {
    const raw = await sendTcp(c2.port, buildQuery(txtName(k, suffix), T.TXT, { edns }));
    return raw.length;
  }

  /** k such that the answer to `t<k>.<suffix>` is exactly `target` bytes (checked over TCP). */
  async function txtLenFor(target: number, suffix: string, edns: QueryOptions['edns']): Promise<number> {
    const fixed = (await tcpSize(1, suffix, edns)) - 2; // 1 byte of text + its length byte
    // size(k) = fixed + k + ceil(k / 255)
    let k = target - fixed;
    while (k > 0 && k + Math.ceil(k / 255) > target - fixed) k--;
    if (k + Math.ceil(k / 255) !== target - fixed) throw new Error(`no TXT length gives exactly ${target} bytes`);
    expect(await tcpSize(k, suffix, edns)).toBe(target);
    return k;
  }

  interface Case {
    name: string;
    edns?: QueryOptions['edns'];
    /** Size of the whole answer, in bytes. */
    size: number;
    truncated: boolean;
  }

  const cases: Case[] = [
    { name: 'no EDNS: 512 bytes fit', size: 512, truncated: false },
    { name: 'no EDNS: 513 bytes are truncated', size: 513, truncated: true },
    { name: 'EDNS 1232: 1232 bytes fit', edns: { udpSize: 1232 }, size: 1232, truncated: false },
    { name: 'EDNS 1232: 1233 bytes are truncated', edns: { udpSize: 1232 }, size: 1233, truncated: true },
    { name: 'EDNS 1000: the client size is used (1000 fit)', edns: { udpSize: 1000 }, size: 1000, truncated: false },
    { name: 'EDNS 1000: 1001 bytes are truncated', edns: { udpSize: 1000 }, size: 1001, truncated: true },
    { name: 'EDNS 4096 is capped at 1232: 1232 bytes fit', edns: { udpSize: 4096 }, size: 1232, truncated: false },
    { name: 'EDNS 4096 is capped at 1232: 1233 bytes are truncated', edns: { udpSize: 4096, do: true }, size: 1233, truncated: true },
    { name: 'EDNS 4096 is capped at 1232: 3000 bytes are truncated', edns: { udpSize: 4096 }, size: 3000, truncated: true },
    { name: 'EDNS 256 is treated as 512: 512 bytes fit', edns: { udpSize: 256 }, size: 512, truncated: false },
    { name: 'EDNS 256 is treated as 512: 513 bytes are truncated', edns: { udpSize: 256 }, size: 513, truncated: true },
    { name: 'EDNS 0 is treated as 512: 512 bytes fit', edns: { udpSize: 0 }, size: 512, truncated: false },
  ];

  describe('UDP size limit and truncation', () => {
    cases.forEach((c, i) => {
      it(c.name, async () => {
        const suffix = `case${i}.size.test`;
        const k = await txtLenFor(c.size, suffix, c.edns);
        const qname = txtName(k, suffix);
        const query = buildQuery(qname, T.TXT, { id: 0x5000 + i, edns: c.edns });
        const raw = await sendUdp(c2.port, query);
        const p = decode(raw);
        expect(p.header.id).toBe(0x5000 + i);
        expect(p.header.qr).toBe(1);
        expect(p.header.rcode).toBe(0);
        if (!c.truncated) {
          expect(raw.length).toBe(c.size);
          expect(p.header.tc).toBe(0);
          expect(p.answers).toHaveLength(1);
          return;
        }
        // Truncated: header + the question as asked (+ OPT), no records, TC=1.
        expect(p.header.tc).toBe(1);
        expect(raw.readUInt16BE(4)).toBe(1); // QDCOUNT
        expect(raw.readUInt16BE(6)).toBe(0); // ANCOUNT
        expect(raw.readUInt16BE(8)).toBe(0); // NSCOUNT
        const qEnd = questionEnd(query);
        expect(raw.subarray(HEADER, qEnd)).toEqual(query.subarray(HEADER, qEnd));
        expect(raw.readUInt16BE(2) & 0x0100).toBe(0x0100); // RD echoed
        if (c.edns) {
          expect(raw.readUInt16BE(10)).toBe(1); // ARCOUNT: the OPT
          expect(raw.length).toBe(qEnd + 11);
          expect(raw.readUInt16BE(qEnd + 1)).toBe(T.OPT);
          expect(raw.readUInt16BE(qEnd + 3)).toBe(1232); // our UDP size
          expect((raw[qEnd + 7]! & 0x80) !== 0).toBe(c.edns.do === true); // DO echoed
        } else {
          expect(raw.readUInt16BE(10)).toBe(0);
          expect(raw.length).toBe(qEnd);
        }
        // The same query over TCP gets the whole answer.
        const full = await sendTcp(c2.port, query);
        expect(full.length).toBe(c.size);
        const fp = decode(full);
        expect(fp.header.tc).toBe(0);
        expect(fp.answers).toHaveLength(1);
        expect((fp.answers[0]!.data as unknown as string[]).join('')).toBe('x'.repeat(k));
      });
    });

    it('100 A records: TC=1 over UDP with the question and OPT kept, all 100 over TCP', async () => {
      const o: AskOptions = { id: 0x6060, edns: { udpSize: 1232 } };
      const udp = await ask(c2.port, 'a100.big.test', T.A, o);
      expect(udp.packet.header.tc).toBe(1);
      expect(udp.packet.header.id).toBe(0x6060);
      expect(udp.packet.questions).toEqual([expect.objectContaining({ name: 'a100.big.test', type: T.A, class: 1 })]);
      expect(udp.packet.answers).toEqual([]);
      expect(udp.packet.authorities).toEqual([]);
      expect(udp.packet.additionals.map((r) => r.type)).toEqual([T.OPT]);
      expect(udp.raw.length).toBeLessThanOrEqual(1232);

      const tcp = await ask(c2.port, 'a100.big.test', T.A, { ...o, tcp: true });
      expect(tcp.packet.header.tc).toBe(0);
      expect(tcp.raw.length).toBeGreaterThan(1232);
      expect(tcp.packet.answers).toHaveLength(100);
      expect(new Set(tcp.packet.answers.map((a) => a.address)).size).toBe(100);

      // c2dns itself got the whole answer from the upstream by retrying over TCP.
      expect(up.received.filter((q) => q.name === 'a100.big.test').map((q) => q.transport)).toEqual(['udp', 'tcp', 'udp', 'tcp']);

      const lines = await c2.waitForQueries(['a100.big.test'], 2);
      const logged = lines.filter((l) => l.qname === 'a100.big.test');
      expect(logged.map((l) => [l.transport, l.truncated])).toEqual([
        ['udp', true],
        ['tcp', false],
      ]);
    });

    it('without EDNS, 40 A records (more than 512 bytes) are truncated with no OPT added', async () => {
      const udp = await ask(c2.port, 'a40.big.test', T.A);
      expect(udp.packet.header.tc).toBe(1);
      expect(udp.packet.answers).toEqual([]);
      expect(udp.packet.additionals).toEqual([]);
      const withEdns = await ask(c2.port, 'a40.big.test', T.A, { edns: {} });
      expect(withEdns.packet.header.tc).toBe(0);
      expect(withEdns.packet.answers).toHaveLength(40);
    });
  });

  describe('UDP clients', () => {
    it('answers each datagram to the address and port it came from', async () => {
      // Same ID from every socket; the first to ask is answered last.
      const socks = await Promise.all(
        [0, 1, 2, 3].map(
          (i) =>
            new Promise<dgram.Socket>((resolve) => {
              const s = dgram.createSocket('udp4');
              s.bind(0, '127.0.0.1', () => resolve(s));
              void i;
            }),
        ),
      );
      try {
        const got = socks.map(() => [] as { name: string; id: number; at: number }[]);
        socks.forEach((s, i) =>
          s.on('message', (m) => {
            const p = decode(m);
            got[i]!.push({ name: p.questions[0]!.name, id: p.header.id, at: Date.now() });
          }),
        );
        const names = socks.map((_, i) => `d${(3 - i) * 100}.port${i}.test`);
        socks.forEach((s, i) => s.send(buildQuery(names[i]!, T.A, { id: 777 }), c2.port, '127.0.0.1'));
        const end = Date.now() + 3000;
        while (got.some((g) => g.length === 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50)); // nothing extra arrives
        expect(got.map((g) => g.map((x) => `${x.id} ${x.name}`))).toEqual(names.map((n) => [`777 ${n}`]));
        expect(got[3]![0]!.at).toBeLessThanOrEqual(got[0]![0]!.at);

        const lines = await c2.waitForQueries(names);
        for (const [i, s] of socks.entries()) {
          expect(lines.find((l) => l.qname === names[i])).toMatchObject({ client: '127.0.0.1', clientPort: s.address().port, transport: 'udp' });
        }
      } finally {
        for (const s of socks) s.close();
      }
    });
  });

  describe.skipIf(!hasV6)(hasV6 ? 'IPv6 listener' : 'IPv6 listener (SKIPPED: ::1 is not available on this host)', () => {
    let v6: TestServer;
    beforeAll(async () => {
      v6 = await startC2dns({ listen: ['[::1]:0'], upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, server: { udpBatch } });
    });
    afterAll(async () => {
      await v6?.close();
    });

    it('binds [::1] only and answers over UDP and TCP', async () => {
      expect(v6.server.udp[0]).toMatchObject({ host: '::1', family: 6 });
      expect(v6.server.tcp[0]!.port).toBe(v6.port);
      const u = await ask(v6.port, 'v6.example.test', T.A, { host: '::1', edns: {} });
      expect(u.packet.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
      const t = await ask(v6.port, 'v6tcp.example.test', T.A, { host: '::1', tcp: true });
      expect(t.packet.header.rcode).toBe(0);
      const lines = await v6.waitForQueries(['v6.example.test', 'v6tcp.example.test']);
      expect(lines.find((l) => l.qname === 'v6.example.test')).toMatchObject({ client: '::1', transport: 'udp' });
      expect(lines.find((l) => l.qname === 'v6tcp.example.test')).toMatchObject({ client: '::1', transport: 'tcp' });
    });
  });
});
