// The pool of UDP sockets c2dns asks a plain upstream through (RFC 5452): long-lived sockets on
// random ports, connected to the upstream; a random ID unused on its socket for each question;
// replies matched by ID and question; sockets replaced after a number of questions or an age, the
// replaced ones kept until the questions waiting on them are done. Real packets with a scripted
// upstream on 127.0.0.1; every behaviour holds on both socket paths: node:dgram and the native
// addon (native/udp_batch.c, when built).
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeReply, forgedReplies, startUpstream, type ReceivedQuery, type Script, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';
import { ResponseCheck } from '../../src/dns/relay.js';
import { newCounters } from '../../src/upstream/counters.js';
import { clientAddon, type ClientAddon } from '../../src/native/udp-batch-addon.js';
import { askerOf, POOL_SIZE, UdpPool, udpExchange, UpstreamTimeout, type UdpPoolOptions } from '../../src/upstream/udp.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function upstream(script: Script): Promise<Upstream> {
  const up = await startUpstream(script);
  open.push(up);
  return up;
}

/** The answer for `name`: an address made from its first label, so a mixed-up reply shows. */
const addressFor = (name: string): string => `10.0.0.${Number(/^n(\d+)\./.exec(name)?.[1] ?? 0) % 250}`;
const answering: Script = (q) => ({ answers: [{ name: q.name, type: T.A, address: addressFor(q.name) }] });

/** Asks `name` A through the pool; resolves with the answer's address. */
async function ask(pool: UdpPool, name: string, timeoutMs = 1000): Promise<string> {
  const query = buildQuery(name, T.A, { id: 0 });
  const { msg, check } = await udpExchange(pool, query, query.length, timeoutMs);
  expect(check).toBe(ResponseCheck.Ok);
  const p = decode(msg);
  expect(p.questions[0]!.name).toBe(name);
  return p.answers[0]!.address!;
}

const portsOf = (qs: ReceivedQuery[]): Set<number> => new Set(qs.map((q) => q.from.port));

// The same specification for both socket paths: node:dgram always, the native addon wherever it
// is built (CI builds it; elsewhere `node native/install.mjs` does, and the suite shows as skipped).
const addon = clientAddon();
const poolSuite = (native: ClientAddon | null): void => {
  function poolFor(up: Upstream, o: UdpPoolOptions = {}): UdpPool {
    const pool = new UdpPool({ host: '127.0.0.1', port: up.port, family: 4 }, newCounters(), { native, ...o });
    open.push(pool);
    return pool;
  }

  it('asks through at most POOL_SIZE long-lived sockets on random ports, each question with its own ID', async () => {
    const up = await upstream(answering);
    const pool = poolFor(up);
    for (let i = 0; i < 60; i++) expect(await ask(pool, `n${i}.example.org`)).toBe(addressFor(`n${i}.example.org`));
    const ports = portsOf(up.received);
    expect(ports.size).toBeGreaterThanOrEqual(4); // 60 draws over 8 sockets
    expect(ports.size).toBeLessThanOrEqual(POOL_SIZE);
    expect(pool.stats.opened).toBe(ports.size);
    expect(new Set(up.received.map((q) => q.packet.header.id)).size).toBeGreaterThanOrEqual(55);
  });

  it('gives questions waiting on one socket distinct IDs and hands each reply to its own question', async () => {
    // Every reply is held until all 100 questions have come (more could overflow the scripted upstream's receive buffer), then sent in reverse order.
    const held: (() => void)[] = [];
    const up = await upstream(
      (q) =>
        new Promise((resolve) => {
          held.push(() => resolve(answering(q)));
          if (held.length === 100) for (const r of held.reverse()) r();
        }),
    );
    const pool = poolFor(up, { size: 1, maxUses: 10_000 });
    const names = Array.from({ length: 100 }, (_, i) => `n${i}.example.org`);
    const got = await Promise.all(names.map((n) => ask(pool, n, 5000)));
    expect(got).toEqual(names.map(addressFor));
    expect(portsOf(up.received).size).toBe(1);
    expect(new Set(up.received.map((q) => q.packet.header.id)).size).toBe(100);
  });

  it('replaces a socket after maxUses questions, on a new random port', async () => {
    const up = await upstream(answering);
    const pool = poolFor(up, { size: 1, maxUses: 5 });
    for (let i = 0; i < 20; i++) await ask(pool, `n${i}.example.org`);
    const byPort = new Map<number, number>();
    for (const q of up.received) byPort.set(q.from.port, (byPort.get(q.from.port) ?? 0) + 1);
    expect([...byPort.values()]).toEqual([5, 5, 5, 5]);
    expect(pool.stats).toEqual({ opened: 4, closed: 3 });
    expect(pool.sockets).toBe(1);
  });

  it('replaces a socket older than maxAgeMs', async () => {
    const up = await upstream(answering);
    const pool = poolFor(up, { size: 1, maxAgeMs: 60 });
    await ask(pool, 'n1.example.org');
    await ask(pool, 'n2.example.org');
    await new Promise((r) => setTimeout(r, 100));
    await ask(pool, 'n3.example.org');
    const ports = up.received.map((q) => q.from.port);
    expect(ports[1]).toBe(ports[0]);
    expect(ports[2]).not.toBe(ports[0]);
  });

  it('keeps a replaced socket until the question waiting on it is answered, then closes it', async () => {
    const up = await upstream((q) => ({ ...answering(q), delayMs: q.name.startsWith('n1.') ? 150 : 0 }));
    const pool = poolFor(up, { size: 1, maxUses: 1 });
    const slow = ask(pool, 'n1.example.org');
    await new Promise((r) => setTimeout(r, 30));
    expect(await ask(pool, 'n2.example.org')).toBe('10.0.0.2');
    expect(pool.sockets).toBe(2); // the first still waits for its answer
    expect(await slow).toBe('10.0.0.1');
    expect(pool.sockets).toBe(1);
    expect(portsOf(up.received).size).toBe(2);
  });

  it('ignores replies with a wrong ID or a wrong question, and takes the real answer after them', async () => {
    const up = await upstream((q) => ({
      ...answering(q),
      delayMs: 30,
      before: (q2, sendRaw) => {
        for (const forged of forgedReplies(q2, '6.6.6.6')) sendRaw(forged);
        sendRaw(Buffer.from([1])); // a runt
      },
    }));
    const counters = newCounters();
    const pool = new UdpPool({ host: '127.0.0.1', port: up.port, family: 4 }, counters, { native });
    open.push(pool);
    expect(await ask(pool, 'n7.example.org')).toBe('10.0.0.7');
    expect(counters.ignoredReplies).toBe(3);
  });

  it('never hands a question a datagram from another address or port: the socket is connected', async () => {
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', () => r()));
    open.push({ close: () => new Promise<void>((r) => spoofer.close(() => r())) });
    const up = await upstream((q) => ({
      ...answering(q),
      delayMs: 50,
      before: (q2) => spoofer.send(encodeReply(q2, { answers: [{ name: q2.name, type: T.A, address: '6.6.6.6' }] }, null), q2.from.port, q2.from.address),
    }));
    const counters = newCounters();
    const pool = new UdpPool({ host: '127.0.0.1', port: up.port, family: 4 }, counters, { native });
    open.push(pool);
    expect(await ask(pool, 'n3.example.org')).toBe('10.0.0.3');
    expect(counters.ignoredReplies).toBe(0); // dropped by the kernel, never seen
  });

  it('times out a question nobody answers, and the socket goes on serving', async () => {
    const up = await upstream((q) => (q.name.startsWith('n1.') ? { drop: true } : answering(q)));
    const pool = poolFor(up, { size: 1 });
    const t0 = performance.now();
    await expect(ask(pool, 'n1.example.org', 120)).rejects.toBeInstanceOf(UpstreamTimeout);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    expect(await ask(pool, 'n2.example.org')).toBe('10.0.0.2');
    expect(portsOf(up.received).size).toBe(1);
  });

  it('times out each question at its own deadline, whatever the order they were asked in, while the others are answered', async () => {
    const up = await upstream((q) => (q.name.startsWith('drop') ? { drop: true } : answering(q)));
    const pool = poolFor(up, { size: 2 });
    const t0 = performance.now();
    const settledAt = (p: Promise<string>): Promise<number | string> =>
      p.then(
        (a) => a,
        (err: unknown) => (err instanceof UpstreamTimeout ? Math.round(performance.now() - t0) : String(err)),
      );
    // Asked longest timeout first: the shorter ones behind it must not wait for it.
    const late = settledAt(ask(pool, 'drop1.example.org', 300));
    const early = settledAt(ask(pool, 'drop2.example.org', 80));
    const middle = settledAt(ask(pool, 'drop3.example.org', 160));
    expect(await ask(pool, 'n7.example.org')).toBe('10.0.0.7');
    const [e, m, l] = await Promise.all([early, middle, late]);
    expect(e).toBeGreaterThanOrEqual(75);
    expect(e).toBeLessThan(160);
    expect(m).toBeGreaterThanOrEqual(155);
    expect(m).toBeLessThan(300);
    expect(l).toBeGreaterThanOrEqual(295);
    expect(pool.waiting).toBe(0);
    // The pool's timer serves the next questions too.
    await expect(ask(pool, 'drop4.example.org', 60)).rejects.toBeInstanceOf(UpstreamTimeout);
    expect(await ask(pool, 'n8.example.org')).toBe('10.0.0.8');
  });

  it('fails the questions at once when the upstream port is unreachable (ICMP), then opens a new socket', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const pool = new UdpPool({ host: '127.0.0.1', port, family: 4 }, newCounters(), { size: 1, native });
    open.push(pool);
    const t0 = performance.now();
    await expect(ask(pool, 'n1.example.org', 2000)).rejects.toThrow(/ECONNREFUSED/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(pool.stats.closed).toBe(1);
  });

  it('close() fails the questions still waiting and closes every socket', async () => {
    const up = await upstream(() => ({ drop: true }));
    const pool = poolFor(up, { size: 2 });
    const waiting = [ask(pool, 'n1.example.org', 5000), ask(pool, 'n2.example.org', 5000), ask(pool, 'n3.example.org', 5000)];
    await new Promise((r) => setTimeout(r, 50));
    pool.close();
    for (const w of waiting) await expect(w).rejects.toThrow(/closed/);
    expect(pool.sockets).toBe(0);
    expect(pool.stats.closed).toBe(pool.stats.opened);
    await expect(ask(pool, 'n4.example.org')).rejects.toThrow(/closed/);
  });

  it("calls a question's callback once, with the reply, and never from inside ask() (a closed pool's error comes a microtask later)", async () => {
    const up = await upstream(answering);
    const pool = poolFor(up);
    const query = buildQuery('n9.example.org', T.A, { id: 0 });
    const calls: string[] = [];
    const answered = new Promise<void>((resolve) =>
      pool.ask(query, query.length, 1000, false, null, askerOf((r, err) => {
        calls.push(r !== null ? decode(r.msg).answers[0]!.address! : String(err));
        resolve();
      })),
    );
    expect(calls).toEqual([]);
    await answered;
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual(['10.0.0.9']);
    pool.close();
    pool.ask(query, query.length, 1000, false, null, askerOf((r, err) => calls.push(r !== null ? 'reply' : String(err))));
    expect(calls).toHaveLength(1);
    await Promise.resolve();
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatch(/closed/);
  });
};

describe('UDP socket pool on node:dgram', () => poolSuite(null));
describe.skipIf(addon === null)('UDP socket pool on the native addon (skipped only where it is not built)', () => poolSuite(addon));
