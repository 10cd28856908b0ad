// Upstream forwarding: what c2dns sends, which replies it trusts, and how it fails over.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { encodeReply, startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { edeOf, T, Packet } from '../helpers/wire.js';

const A_EXAMPLE = { 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }] };
const open: { close(): Promise<void> }[] = [];
const track = <X extends { close(): Promise<void> }>(x: X): X => {
  open.push(x);
  return x;
};
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function setup(upstreams: Upstream[], extra: Record<string, unknown> = {}): Promise<TestServer> {
  return track(
    await startC2dns({ upstreams: upstreams.map((u) => `127.0.0.1:${u.port}`), upstream: { timeoutMs: 300 }, cache: { maxEntries: 0 }, ...extra }),
  );
}

describe('forwarding', () => {
  it('sends the question with a fresh random ID, RD, and its own OPT (1232, DO and CD passed on)', async () => {
    const up = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([up]);
    await ask(c2.port, 'Example.ORG', T.A, { id: 4242, edns: { do: true }, cd: true });
    const got = up.received[0]!;
    expect(got.name).toBe('Example.ORG'); // client's case kept (0x20 friendly)
    expect(got.packet.header.id).not.toBe(4242);
    expect(got.packet.header.rd).toBe(1);
    expect(got.raw.readUInt16BE(2) & 0x0010).toBe(0x0010); // CD
    const opt = got.packet.additionals.find((r) => r.type === T.OPT)!;
    expect(opt.class).toBe(1232);
    expect(got.raw[got.raw.length - 4]! & 0x80).toBe(0x80); // DO in the OPT TTL
  });

  it('uses a different source port and ID for each query', async () => {
    const up = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([up]);
    for (let i = 0; i < 40; i++) await ask(c2.port, `n${i}.example.org`, T.A, { id: 1 });
    const ports = new Set(up.received.map((q) => q.from.port));
    const ids = new Set(up.received.map((q) => q.packet.header.id));
    expect(up.received).toHaveLength(40);
    expect(ports.size).toBeGreaterThanOrEqual(38);
    expect(ids.size).toBeGreaterThanOrEqual(36);
  });

  it("relays the upstream's bytes: only the ID differs (binary TXT and an unknown type intact)", async () => {
    let sent: Buffer | null = null;
    const up = track(
      await startUpstream((q) => {
        const res = new Packet();
        res.header.id = q.packet.header.id;
        res.header.qr = 1;
        res.header.rd = 1;
        res.header.ra = 1;
        res.questions.push(...q.packet.questions);
        res.answers.push(new Packet.Resource({ name: 'bin.example.org', type: 65280, class: 1, ttl: 60, data: Buffer.from([0, 1, 2, 0xff, 0xfe]) }));
        let wire = res.toBuffer();
        // A binary TXT string appended by hand (dns2 would turn it into UTF-8).
        const txt = Buffer.from([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, 5, 4, 0xff, 0xfe, 0x00, 0x41]);
        wire = Buffer.concat([wire, txt]);
        wire.writeUInt16BE(2, 6);
        sent = wire;
        return { raw: wire };
      }),
    );
    const c2 = await setup([up]);
    const { raw } = await ask(c2.port, 'bin.example.org', 255, { id: 777 });
    expect(raw.readUInt16BE(0)).toBe(777);
    expect(raw.subarray(2)).toEqual(sent!.subarray(2));
  });

  it('ignores spoofed replies: wrong ID, wrong question, wrong source port', async () => {
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', () => r()));
    const up = track(
      await startUpstream((q) => ({
        answers: [{ name: q.name, type: T.A, address: '192.0.2.10' }],
        delayMs: 50,
        before: (q2, sendRaw) => {
          const evil = { answers: [{ name: q2.name, type: T.A, address: '6.6.6.6' }] };
          const wrongId = encodeReply(q2, evil, null);
          wrongId.writeUInt16BE((q2.packet.header.id + 1) & 0xffff, 0);
          sendRaw(wrongId);
          const other = { ...q2, packet: Packet.parse(q2.raw) };
          other.packet.questions[0]!.name = 'evil.example.org';
          sendRaw(encodeReply(other, evil, null));
          spoofer.send(encodeReply(q2, evil, null), q2.from.port, q2.from.address);
        },
      })),
    );
    const c2 = await setup([up]);
    const { packet } = await ask(c2.port, 'example.org', T.A);
    spoofer.close();
    expect(packet.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    expect(c2.server.forward.upstreams[0]!.counters.ignoredReplies).toBe(3);
  });

  it('fails over to the next upstream when one times out, and logs who answered', async () => {
    const dead = track(await startUpstream(() => ({ drop: true })));
    const live = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([dead, live]);
    const t0 = Date.now();
    const { packet } = await ask(c2.port, 'example.org', T.A);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(packet.answers[0]!.address).toBe('192.0.2.10');
    expect(dead.received).toHaveLength(1);
    // The dead upstream is now tried last: the next query is answered without waiting.
    const t1 = Date.now();
    await ask(c2.port, 'example.org', T.A);
    expect(Date.now() - t1).toBeLessThan(250);
    expect(dead.received).toHaveLength(1);
    const lines = await c2.waitForLog(2);
    expect(lines[0]).toMatchObject({ action: 'allowed', upstream: `127.0.0.1:${live.port}` });
  });

  it('moves on when an upstream answers SERVFAIL or REFUSED', async () => {
    const broken = track(await startUpstream(() => ({ rcode: 2 })));
    const refusing = track(await startUpstream(() => ({ rcode: 5 })));
    const live = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([broken, refusing, live]);
    const { packet } = await ask(c2.port, 'example.org', T.A);
    expect(packet.header.rcode).toBe(0);
    expect(packet.answers[0]!.address).toBe('192.0.2.10');
  });

  it('moves on at once when an upstream answers FORMERR without echoing the question', async () => {
    const formerr = track(
      await startUpstream((q) => {
        const b = Buffer.alloc(12);
        b.writeUInt16BE(q.packet.header.id, 0);
        b.writeUInt16BE(0x8001, 2); // QR, FORMERR, QDCOUNT 0
        return { raw: b };
      }),
    );
    const live = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([formerr, live]);
    const t0 = Date.now();
    const { packet } = await ask(c2.port, 'example.org', T.A);
    expect(Date.now() - t0).toBeLessThan(250); // no timeout waited
    expect(packet.answers[0]!.address).toBe('192.0.2.10');
  });

  it('answers SERVFAIL with EDE 22 when every upstream is down', async () => {
    const a = track(await startUpstream(() => ({ drop: true })));
    const b = track(await startUpstream(() => ({ drop: true })));
    const c2 = await setup([a, b]);
    const { packet } = await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(packet.header.rcode).toBe(2);
    expect(edeOf(packet).map((e) => e.infoCode)).toEqual([22]);
    const [line] = await c2.waitForLog(1);
    expect(line).toMatchObject({ action: 'servfail', rcode: 'SERVFAIL', upstream: null });
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ name: 'big.example.org', type: T.A, address: `192.0.2.${i + 1}` }));
    const up = track(await startUpstream(zoneScript({ 'big.example.org 1': many })));
    const c2 = await setup([up]);
    const { packet } = await ask(c2.port, 'big.example.org', T.A, { tcp: true });
    expect(packet.answers).toHaveLength(100);
    expect(up.received.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });
});

describe('relayed header bits (issue 10 item 6)', () => {
  it("an authoritative upstream's AA=1/RA=0 reach the client as AA=0/RA=1, fresh and from cache", async () => {
    const up = track(
      await startUpstream((q) => {
        const b = encodeReply(q, { answers: [{ name: q.name, type: T.A, address: '192.0.2.10', ttl: 300 }], aa: true }, null);
        b.writeUInt16BE((b.readUInt16BE(2) | 0x0400) & ~0x0080, 2); // AA=1, RA=0: an authoritative server
        return { raw: b };
      }),
    );
    const c2 = await setup([up], { cache: { maxEntries: 100 } });
    const fresh = await ask(c2.port, 'auth.example.org', T.A);
    const cached = await ask(c2.port, 'auth.example.org', T.A);
    expect(up.received).toHaveLength(1);
    for (const r of [fresh, cached]) expect(r.packet.header).toMatchObject({ aa: 0, ra: 1, rd: 1, rcode: 0 });
  });
});
