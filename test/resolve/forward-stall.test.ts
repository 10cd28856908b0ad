// Stall detection (issue 10, the soak's "A garbage" and "A silent" phases): when the first
// upstream stops answering usefully under load, c2dns must not wait for each question's full
// timeout before asking the second one. A steady stream of uncached questions goes through a real
// c2dns with a small upstream.maxPending; upstream A turns silent (or answers garbage) for two
// seconds, then answers again. Before the stall detection: silent 290 REFUSED of 1,576 sent,
// garbage 302 of 1,588 (every one answerable by B). Every question must be answered (by B meanwhile), none shed as
// REFUSED, and A must be first again once it answers.
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns } from '../helpers/c2dns.js';
import { startUpstream, type Script } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';
import { query } from '../helpers/stage.js';
import { ForwardStage } from '../../src/resolve/forward.js';
import type { Answer } from '../../src/resolve/types.js';
import { newHealthState, stallAt, stallMs } from '../../src/upstream/health.js';
import { closeAfterEach } from '../helpers/cleanup.js';

const track = closeAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

const answer = (address: string): Script => (q) => ({ answers: [{ name: q.name, type: T.A, address, ttl: 60 }] });
const silent: Script = () => ({ drop: true });
/** Random bytes, half of them starting with the query's ID (what the soak's "garbage" upstream sends). */
const garbage: Script = (q) => {
  const g = Buffer.alloc(4 + Math.floor(Math.random() * 60));
  for (let i = 0; i < g.length; i++) g[i] = Math.floor(Math.random() * 256);
  if (Math.random() < 0.5) q.raw.copy(g, 0, 0, 2);
  return { raw: g };
};

interface Tally {
  sent: number;
  /** By outcome: "A", "B" (NOERROR with that upstream's address), "REFUSED", "SERVFAIL", "other", "unanswered". */
  outcomes: Record<string, number>;
  /** Who answered the questions sent in the last phase, in the order sent. */
  lastPhase: string[];
}

/**
 * Sends `rate` questions a second for unique names from one socket, through the phases (each
 * runs `ms`, `before` called at its start), then waits up to 2.5 s for the last answers.
 */
async function load(port: number, rate: number, phases: { ms: number; before: () => void }[]): Promise<Tally> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const sent = new Map<number, { phase: number }>();
  const got = new Map<number, string>();
  sock.on('message', (m) => {
    const id = m.readUInt16BE(0);
    if (!sent.has(id) || got.has(id)) return;
    const rcode = m[3]! & 0x0f;
    // An A answer ends with its 4 address bytes: 192.0.2.1 is A, 192.0.2.2 is B.
    got.set(id, rcode === 5 ? 'REFUSED' : rcode === 2 ? 'SERVFAIL' : rcode !== 0 ? 'other' : m[m.length - 1] === 1 ? 'A' : m[m.length - 1] === 2 ? 'B' : 'other');
  });
  let id = 0;
  const tickMs = 10;
  for (let p = 0; p < phases.length; p++) {
    phases[p]!.before();
    const start = performance.now();
    let due = 0;
    while (performance.now() - start < phases[p]!.ms) {
      // Catch up after a late timer: the rate holds on a busy machine too.
      const target = Math.floor(((performance.now() - start) * rate) / 1000);
      for (; due < target; due++) {
        const n = ++id;
        sent.set(n, { phase: p });
        // No EDNS: the answer's last bytes are the A record's address.
        sock.send(buildQuery(`q${n}.load.test`, T.A, { id: n }), port, '127.0.0.1');
      }
      await sleep(tickMs);
    }
  }
  const end = performance.now() + 2500;
  while (got.size < sent.size && performance.now() < end) await sleep(50);
  sock.close();
  const outcomes: Record<string, number> = {};
  const lastPhase: string[] = [];
  for (const [n, s] of sent) {
    const o = got.get(n) ?? 'unanswered';
    outcomes[o] = (outcomes[o] ?? 0) + 1;
    if (s.phase === phases.length - 1) lastPhase.push(o);
  }
  return { sent: sent.size, outcomes, lastPhase };
}

describe('an upstream that stalls under load', () => {
  for (const [fault, script] of [['silent', silent], ['garbage', garbage]] as const) {
    it(`A ${fault} for 2 s at 400 q/s (maxPending 300): B answers every question, none is shed, A is first again once it answers`, async () => {
      const a = track(await startUpstream(answer('192.0.2.1')));
      const b = track(await startUpstream(answer('192.0.2.2')));
      // As a resolver's own (Unbound's so-rcvbuf): the questions re-asked at a stall come at once, and this upstream shares our event loop.
      b.udp.setRecvBufferSize(4 << 20);
      const c2 = track(
        await startC2dns({
          upstreams: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
          upstream: { timeoutMs: 1500, maxPending: 300, penaltyMs: 10_000, probeIntervalMs: 200 },
          cache: { maxEntries: 0 },
          log: { queries: 'none' },
        }),
      );
      // Warm: the first questions of a new process are slow, and A's latency average (which sets its stall time) must be its own.
      for (let i = 0; i < 20; i++) await ask(c2.port, `warm${i}.load.test`, T.A);
      const t = await load(c2.port, 400, [
        { ms: 1000, before: () => {} },
        { ms: 2000, before: () => a.setScript(script) },
        { ms: 1000, before: () => a.setScript(answer('192.0.2.1')) },
      ]);
      console.log(`A ${fault}: ${t.sent} sent, outcomes ${JSON.stringify(t.outcomes)}`);
      expect(t.outcomes.REFUSED ?? 0).toBe(0);
      expect(t.outcomes.SERVFAIL ?? 0).toBe(0);
      expect(t.outcomes.unanswered ?? 0).toBe(0);
      expect((t.outcomes.A ?? 0) + (t.outcomes.B ?? 0)).toBe(t.sent);
      expect(t.outcomes.B).toBeGreaterThan(500); // the 2 s of A's fault, and more
      // A is back (a probe brought it up): the last questions of the run went to it.
      expect(t.lastPhase.slice(-100).every((o) => o === 'A')).toBe(true);
      const h = c2.server.forward.upstreams[0]!.health;
      expect(h.stalls).toBeGreaterThanOrEqual(1);
      expect(h.hedged).toBeGreaterThan(0);
      expect(c2.server.forward.upstreams[0]!.penalisedUntil).toBe(0);
    });
  }
});

describe('stall detection without load: a slow upstream is not a stalled one', () => {
  const stage = (a: number, b: number): ForwardStage => {
    const f = new ForwardStage({ upstreams: [a, b].map((port) => ({ host: '127.0.0.1', port, family: 4 as const })), timeoutMs: 1500, penaltyMs: 60_000, probeIntervalMs: 0 });
    track({ close: async () => f.close() });
    return f;
  };
  const addressOf = (x: Answer): string | undefined => decode(x.reply!).answers[0]?.address;
  const resolveAll = (f: ForwardStage, names: string[]): Promise<Answer[]> => Promise.all(names.map((n) => f.resolve(query(n, T.A)) as Promise<Answer>));

  it('one slow question is not a stall: it takes as long as it takes, nobody else is asked', async () => {
    const a = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }], delayMs: 400 })));
    const b = track(await startUpstream(answer('192.0.2.2')));
    const f = stage(a.port, b.port);
    expect(addressOf(await (f.resolve(query('cold.example', T.A)) as Promise<Answer>))).toBe('192.0.2.1');
    expect(f.upstreams[0]!.health.stalls).toBe(0);
    expect(b.received).toHaveLength(0);
  });

  it("an upstream that is slow every time is judged by its own average: 250 ms answers, 3 waves of 10 questions, no stall", async () => {
    const a = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }], delayMs: 250 })));
    const b = track(await startUpstream(answer('192.0.2.2')));
    const f = stage(a.port, b.port);
    // One measured answer first (250 ms: a stall time of 1 s); with no average yet, ten questions
    // waiting 250 ms would pass the 200 ms floor. That first false stall would also only reorder.
    await f.resolve(query('first.example', T.A));
    for (let w = 0; w < 3; w++) {
      const answers = await resolveAll(f, Array.from({ length: 10 }, (_, i) => `w${w}-${i}.example`));
      expect(answers.map(addressOf)).toEqual(Array(10).fill('192.0.2.1'));
    }
    expect(f.upstreams[0]!.health).toMatchObject({ stalls: 0, hedged: 0 });
    expect(b.received).toHaveLength(0);
  });

  it('a false stall only reorders: the waiting questions are answered by the next upstream, the late replies bring the first back', async () => {
    let delayMs = 0;
    const a = track(await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1' }], delayMs })));
    const b = track(await startUpstream(answer('192.0.2.2')));
    const f = stage(a.port, b.port);
    for (let i = 0; i < 5; i++) await f.resolve(query(`fast${i}.example`, T.A)); // an average of a few ms: stall time 200 ms
    delayMs = 600; // a burst of cold names
    const t0 = performance.now();
    const answers = await resolveAll(f, Array.from({ length: 5 }, (_, i) => `cold${i}.example`));
    expect(performance.now() - t0).toBeLessThan(550);
    expect(answers.map(addressOf)).toEqual(Array(5).fill('192.0.2.2')); // the first good answer wins
    const u = f.upstreams[0]!;
    expect(u.health).toMatchObject({ stalls: 1, hedged: 5, downReason: expect.stringMatching(/^no reply for \d+ ms while 5 questions waited$/) });
    expect(b.received).toHaveLength(5);
    // A's answers still come: each is a reply (counted, measured) and the first marks it up again.
    const before = u.counters.responses;
    await sleep(500);
    expect(u.counters.responses).toBe(before + 5);
    expect(u.penalisedUntil).toBe(0);
    expect(u.health.latencyMs).toBeGreaterThan(100); // and its stall time grew with its average
    delayMs = 0;
    expect(addressOf(await (f.resolve(query('again.example', T.A)) as Promise<Answer>))).toBe('192.0.2.1');
  });
});

/**
 * An upstream in a worker thread, so it answers while our own event loop is blocked: NOERROR, no
 * records (the question echoed, our OPT dropped), 100 ms after the question. `counts` (shared
 * memory, readable while we block): [questions received, answers sent].
 */
function workerUpstream(): Promise<{ port: number; counts: Int32Array; close(): Promise<void> }> {
  const code = `
    const dgram = require('node:dgram');
    const { parentPort, workerData } = require('node:worker_threads');
    const counts = new Int32Array(workerData);
    const s = dgram.createSocket('udp4');
    s.on('message', (q, r) => {
      Atomics.add(counts, 0, 1);
      let o = 12;
      while (q[o] !== 0) o += q[o] + 1;
      const a = Buffer.from(q.subarray(0, o + 5));
      a[2] |= 0x80; a[3] = 0x80; a.writeUInt16BE(0, 10);
      setTimeout(() => s.send(a, r.port, r.address, () => Atomics.add(counts, 1, 1)), 100);
    });
    s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));`;
  const shared = new SharedArrayBuffer(8);
  const w = new Worker(code, { eval: true, workerData: shared });
  return new Promise((resolve) => w.once('message', (port: number) => resolve({ port, counts: new Int32Array(shared), close: async () => void (await w.terminate()) })));
}

it("our own event loop running late is not the upstream's stall: replies already in the socket are read first", async () => {
  const a = track(await workerUpstream());
  const b = track(await startUpstream(answer('192.0.2.2')));
  const f = new ForwardStage({ upstreams: [a, b].map((u) => ({ host: '127.0.0.1', port: u.port, family: 4 as const })), timeoutMs: 1500, penaltyMs: 60_000, probeIntervalMs: 0 });
  track({ close: async () => f.close() });
  await f.resolve(query('warm.example', T.A));
  const all = Promise.all(Array.from({ length: 10 }, (_, i) => f.resolve(query(`n${i}.example`, T.A)) as Promise<Answer>));
  // Once the worker has the questions, we block for 800 ms (a GC pause, a busy machine) while it
  // answers them (in 100 ms), and the stall check (400 ms: 4 × 100 ms) falls due.
  await until(() => Atomics.load(a.counts, 0) === 11);
  const end = performance.now() + 800;
  while (performance.now() < end || Atomics.load(a.counts, 1) < 11);
  const answers = await all;
  expect(answers.map((x) => x.upstream)).toEqual(Array(10).fill(`127.0.0.1:${a.port}`));
  expect(f.upstreams[0]!.health.stalls).toBe(0);
  expect(b.received).toHaveLength(0);
});

describe('the stall time (upstream/health.ts)', () => {
  const h = (latencyMs: number, lastReplyAt = 0) => ({ ...newHealthState(), latencyMs, lastReplyAt });
  it.each([
    { latency: 0, timeout: 1500, pressed: false, ms: 200, why: 'the floor before any answer' },
    { latency: 20, timeout: 1500, pressed: false, ms: 200, why: 'a fast upstream: the floor' },
    { latency: 150, timeout: 1500, pressed: false, ms: 600, why: '4 × a slow upstream average' },
    { latency: 900, timeout: 1500, pressed: false, ms: 1500, why: 'never above timeoutMs' },
    { latency: 0, timeout: 100, pressed: false, ms: 100, why: 'a timeoutMs under the floor' },
    { latency: 150, timeout: 1500, pressed: true, ms: 200, why: 'under pressure: the floor whatever the average' },
  ])('$why: $ms ms', ({ latency, timeout, pressed, ms }) => {
    expect(stallMs(h(latency), timeout, pressed)).toBe(ms);
  });

  it('counts from the second oldest waiting question, or the last reply if later; one question is never a stall', () => {
    expect(stallAt(h(0), [1000], 1500)).toBeNull();
    expect(stallAt(h(0), [1000, 1100, 1200], 1500)).toBe(1300);
    expect(stallAt(h(0, 1150), [1000, 1100, 1200], 1500)).toBe(1350);
  });
});
