// Upstream forwarding: what c2dns sends, which replies it trusts, and how it fails over.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { query } from '../helpers/stage.js';
import { encodeReply, forgedReplies, startUpstream, zoneScript, type ReceivedQuery, type Upstream } from '../helpers/upstream.js';
import { decode, edeOf, parseMessage, T, Packet } from '../helpers/wire.js';
import { ForwardStage } from '../../src/resolve/forward.js';
import { POOL_SIZE } from '../../src/upstream/udp.js';
import { closeAfterEach } from '../helpers/cleanup.js';

const A_EXAMPLE = { 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10', ttl: 120 }] };
const track = closeAfterEach();

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
    // DO in the OPT TTL (the OPT is not the message's last bytes: our DNS Cookie option follows).
    expect(parseMessage(got.raw).additionals.find((r) => r.type === T.OPT)!.ttl & 0x8000).toBe(0x8000);
  });

  it('asks from a pool of sockets on random ports, with a fresh random ID for each query (upstream/udp.ts)', async () => {
    const up = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([up]);
    for (let i = 0; i < 40; i++) await ask(c2.port, `n${i}.example.org`, T.A, { id: 1 });
    const ports = new Set(up.received.map((q) => q.from.port));
    const ids = new Set(up.received.map((q) => q.packet.header.id));
    expect(up.received).toHaveLength(40);
    expect(ports.size).toBeGreaterThanOrEqual(4); // 40 draws over POOL_SIZE (8) sockets
    expect(ports.size).toBeLessThanOrEqual(POOL_SIZE);
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
          for (const forged of forgedReplies(q2, '6.6.6.6')) sendRaw(forged);
          spoofer.send(encodeReply(q2, { answers: [{ name: q2.name, type: T.A, address: '6.6.6.6' }] }, null), q2.from.port, q2.from.address);
        },
      })),
    );
    const c2 = await setup([up]);
    const { packet } = await ask(c2.port, 'example.org', T.A);
    spoofer.close();
    expect(packet.answers.map((a) => a.address)).toEqual(['192.0.2.10']);
    // The spoofer's datagram never reaches us: the socket is connected to the upstream.
    expect(c2.server.forward.upstreams[0]!.counters.ignoredReplies).toBe(2);
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

// ---- upstream protocol fallbacks and hop-by-hop rcodes (issue 10 items 1, 4, 5, 13) -------

/** The query's own header and question with QR set and `rcode`: what a server without EDNS sends back. */
function bareReply(q: ReceivedQuery, rcode: number, withQuestion = true): Buffer {
  let end = 12;
  while (q.raw[end] !== 0) end += q.raw[end]! + 1;
  end += 5;
  const b = Buffer.from(q.raw.subarray(0, withQuestion ? end : 12));
  b.writeUInt16BE(0x8000 | (q.raw.readUInt16BE(2) & 0x0100) | 0x0080 | (rcode & 0x0f), 2);
  b.writeUInt16BE(withQuestion ? 1 : 0, 4);
  b.writeUInt16BE(0, 6);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(0, 10);
  return b;
}
const hasOpt = (q: ReceivedQuery): boolean => q.raw.readUInt16BE(10) > 0;
/** An answer with an extended rcode: low 4 bits in the header, the rest in the OPT (RFC 6891 §6.1.3). */
function extendedRcodeReply(q: ReceivedQuery, rcode: number): Buffer {
  const b = bareReply(q, rcode & 0x0f);
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, rcode >>> 4, 0, 0, 0, 0, 0]);
  const out = Buffer.concat([b, opt]);
  out.writeUInt16BE(1, 10);
  return out;
}

describe('EDNS fallback (RFC 6891 §7, item 1)', () => {
  const noEdns = (rcode: number, withQuestion = true) => (q: ReceivedQuery) =>
    hasOpt(q) ? { raw: bareReply(q, rcode, withQuestion) } : { answers: [{ name: q.name, type: T.A, address: '192.0.2.77' }] };
  const cases = [
    { name: 'FORMERR without an OPT', script: noEdns(1) },
    { name: 'NOTIMP', script: noEdns(4) },
    { name: 'FORMERR without the question', script: noEdns(1, false) },
  ];
  for (const c of cases) {
    it(`an upstream answering ${c.name} to EDNS is asked again without EDNS, and so for the next queries`, async () => {
      const up = track(await startUpstream(c.script));
      const c2 = await setup([up]);
      const first = await ask(c2.port, 'one.example.org', T.A, { edns: {} });
      expect(first.packet.header.rcode).toBe(0);
      expect(first.packet.answers.map((a) => a.address)).toEqual(['192.0.2.77']);
      expect(up.received.map(hasOpt)).toEqual([true, false]);
      const second = await ask(c2.port, 'two.example.org', T.A, { edns: {} });
      expect(second.packet.answers.map((a) => a.address)).toEqual(['192.0.2.77']);
      expect(up.received.map(hasOpt)).toEqual([true, false, false]); // remembered: no EDNS attempt first
      expect(c2.server.forward.upstreams[0]!.fallbacks.ednsFallbacks).toBe(1);
      const lines = await c2.waitForLog(2);
      expect(lines.map((l) => [l.action, l.rcode])).toEqual([['allowed', 'NOERROR'], ['allowed', 'NOERROR']]);
    });
  }

  it('an upstream that also answers FORMERR without EDNS is a failure: the next upstream answers, nothing is remembered', async () => {
    const broken = track(await startUpstream((q) => ({ raw: bareReply(q, 1) })));
    const live = track(await startUpstream(zoneScript(A_EXAMPLE)));
    const c2 = await setup([broken, live]);
    const { packet } = await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(packet.answers[0]!.address).toBe('192.0.2.10');
    expect(broken.received.map(hasOpt)).toEqual([true, false]);
    await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(broken.received.map(hasOpt)).toEqual([true, false, true, false]);
  });

  it('a lone upstream that answers FORMERR either way: the client gets SERVFAIL, never FORMERR', async () => {
    const broken = track(await startUpstream((q) => ({ raw: bareReply(q, 1) })));
    const c2 = await setup([broken]);
    const { packet } = await ask(c2.port, 'example.org', T.A, { edns: {} });
    expect(packet.header.rcode).toBe(2);
    const [line] = await c2.waitForLog(1);
    expect(line).toMatchObject({ action: 'servfail', rcode: 'SERVFAIL' });
  });

  it('EDNS is tried again once ednsRetryMs has passed', async () => {
    const up = track(await startUpstream(noEdns(1)));
    const stage = new ForwardStage({ upstreams: [{ host: '127.0.0.1', port: up.port, family: 4 }], timeoutMs: 300, penaltyMs: 1000, ednsRetryMs: 100 });
    await stage.resolve(query('a.example.org', T.A, { edns: {} }));
    await stage.resolve(query('b.example.org', T.A, { edns: {} }));
    expect(up.received.map(hasOpt)).toEqual([true, false, false]);
    await new Promise((r) => setTimeout(r, 150));
    const a = await stage.resolve(query('c.example.org', T.A, { edns: {} }));
    expect(a.action).toBe('allowed');
    expect(up.received.map(hasOpt)).toEqual([true, false, false, true, false]);
  });
});

describe('upstream rcodes are hop-by-hop (item 4)', () => {
  const cases = [
    { name: 'BADCOOKIE (23)', rcode: 23 },
    { name: 'BADVERS (16)', rcode: 16 },
    { name: 'YXDOMAIN (6)', rcode: 6 },
  ];
  for (const c of cases) {
    it(`${c.name} from an upstream is never relayed: the next upstream answers`, async () => {
      const bad = track(await startUpstream((q) => ({ raw: extendedRcodeReply(q, c.rcode) })));
      const live = track(await startUpstream(zoneScript(A_EXAMPLE)));
      const c2 = await setup([bad, live]);
      const { packet } = await ask(c2.port, 'example.org', T.A, { edns: {} });
      expect(packet.header.rcode).toBe(0);
      expect(packet.answers[0]!.address).toBe('192.0.2.10');
      expect(c2.server.forward.upstreams[0]!.fallbacks.badRcodes).toBe(1);
    });

    for (const edns of [true, false]) {
      it(`${c.name} from the only upstream: SERVFAIL to a client ${edns ? 'with' : 'without'} EDNS`, async () => {
        const bad = track(await startUpstream((q) => ({ raw: extendedRcodeReply(q, c.rcode) })));
        const c2 = await setup([bad]);
        const { raw, packet } = await ask(c2.port, 'example.org', T.A, edns ? { edns: {} } : {});
        expect(raw[3]! & 0x0f).toBe(2);
        expect(packet.header.rcode).toBe(2); // dns2 merges the OPT's extended bits: none
        const [line] = await c2.waitForLog(1);
        expect(line).toMatchObject({ action: 'servfail', rcode: 'SERVFAIL', upstream: null });
      });
    }
  }

  it('a REFUSED relayed from the only upstream is logged as refused, not servfail (item 5)', async () => {
    const refusing = track(await startUpstream(() => ({ rcode: 5 })));
    const c2 = await setup([refusing]);
    const { packet } = await ask(c2.port, 'example.org', T.A);
    expect(packet.header.rcode).toBe(5);
    const [line] = await c2.waitForLog(1);
    expect(line).toMatchObject({ action: 'refused', rcode: 'REFUSED', upstream: `127.0.0.1:${refusing.port}` });
  });
});

describe('0x20 letter-case randomisation (item 13)', () => {
  const letters = (s: string): string => s.replace(/[^a-zA-Z]/g, '');
  const stageFor = (...ups: Upstream[]): ForwardStage =>
    new ForwardStage({ upstreams: ups.map((u) => ({ host: '127.0.0.1', port: u.port, family: 4 as const })), timeoutMs: 300, penaltyMs: 1000, caseRandomization: true, caseRetryMs: 100 });
  const NAME = 'www.case-randomisation.example.org';

  it('sends the question in random case and gives the client its own case back', async () => {
    const up = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.20' }] })));
    const stage = stageFor(up);
    const patterns = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const a = await stage.resolve(query(NAME, T.A));
      expect(a.action).toBe('allowed');
      const p = decode(a.reply!);
      expect(p.questions[0]!.name).toBe(NAME);
      patterns.add(letters(up.received[i]!.name));
      expect(up.received[i]!.name.toLowerCase()).toBe(NAME);
    }
    expect(patterns.size).toBeGreaterThanOrEqual(7); // 28 letters: repeats are (nearly) impossible
    expect(stage.upstreams[0]!.fallbacks.caseMismatches).toBe(0);
  });

  it("an uncompressed owner name in the upstream's case gets the client's case back", async () => {
    const up = track(
      await startUpstream((q) => {
        // The answer owner written out in full, in the case the upstream received.
        const head = bareReply(q, 0);
        const owner = head.subarray(12, head.length - 4);
        const rr = Buffer.concat([owner, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 21])]);
        const b = Buffer.concat([head, rr]);
        b.writeUInt16BE(1, 6);
        return { raw: b };
      }),
    );
    const a = await stageFor(up).resolve(query('WwW.Example.ORG', T.A));
    expect(a.action).toBe('allowed');
    expect(decode(a.reply!).answers.map((r) => r.name)).toEqual(['WwW.Example.ORG']);
  });

  it('a forged reply in the wrong case is not accepted: the upstream is asked again and its real answer used', async () => {
    let n = 0;
    const up = track(
      await startUpstream((q) => {
        n++;
        if (n === 1) {
          // A "forger" who guessed ID and port but not the case: lower-case question, evil address.
          const lower = { ...q, packet: Packet.parse(q.raw) };
          lower.packet.questions[0]!.name = q.name.toLowerCase();
          return { raw: encodeReply(lower, { answers: [{ name: q.name.toLowerCase(), type: T.A, address: '6.6.6.6' }] }, null) };
        }
        return { answers: [{ name: q.name, type: T.A, address: '192.0.2.30' }] };
      }),
    );
    const stage = stageFor(up);
    const a = await stage.resolve(query(NAME, T.A));
    expect(decode(a.reply!).answers.map((r) => r.address)).toEqual(['192.0.2.30']);
    expect(up.received).toHaveLength(2);
    expect(stage.upstreams[0]!.fallbacks.caseMismatches).toBe(1);
    expect(stage.upstreams[0]!.noCaseUntil).toBe(0); // one mismatch is not a case-folding upstream
  });

  it('an upstream that folds case is asked in the client\'s case after two mismatches, for caseRetryMs', async () => {
    const up = track(
      await startUpstream((q) => {
        const lower = { ...q, packet: Packet.parse(q.raw) };
        lower.packet.questions[0]!.name = q.name.toLowerCase();
        return { raw: encodeReply(lower, { answers: [{ name: q.name.toLowerCase(), type: T.A, address: '192.0.2.40' }] }, null) };
      }),
    );
    const stage = stageFor(up);
    const a = await stage.resolve(query('Folded.Example.org', T.A));
    expect(decode(a.reply!).answers.map((r) => r.address)).toEqual(['192.0.2.40']);
    expect(decode(a.reply!).questions[0]!.name).toBe('Folded.Example.org');
    expect(up.received).toHaveLength(3);
    expect(up.received[2]!.name).toBe('Folded.Example.org'); // the client's case, as received
    await stage.resolve(query('again.example.org', T.A));
    expect(up.received).toHaveLength(4); // remembered: one exchange
    await new Promise((r) => setTimeout(r, 150));
    await stage.resolve(query('later.example.org', T.A));
    expect(up.received).toHaveLength(7); // tried again after caseRetryMs
  });

  it('a name without letters works as before', async () => {
    const up = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.50' }] })));
    const a = await stageFor(up).resolve(query('1.2.3.4', T.A));
    expect(a.action).toBe('allowed');
  });
});
