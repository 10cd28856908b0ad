// The TCP listener (RFC 7766) over real sockets: framing across partial reads and several
// messages per segment, pipelining with answers in completion order, the idle timeout, the
// connection cap, half-close and a client that never reads.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, frame } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type ScriptedReply, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';

/** "d<ms>.<anything>" answers after <ms> milliseconds; every name gets A 192.0.2.1. */
function slowScript(q: { name: string }): ScriptedReply {
  const m = /^d(\d+)\./i.exec(q.name);
  return { answers: [{ name: q.name, type: T.A, address: '192.0.2.1', ttl: 60 }], ...(m ? { delayMs: Number(m[1]) } : {}) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A raw TCP client that records every framed answer, when it arrived and when the server closed. */
class TcpClient {
  readonly answers: { raw: Buffer; at: number }[] = [];
  closedAt: number | null = null;
  gotEnd = false;
  error: Error | null = null;
  readonly startedAt = Date.now();
  private buf = Buffer.alloc(0);

  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        const len = this.buf.readUInt16BE(0);
        this.answers.push({ raw: Buffer.from(this.buf.subarray(2, 2 + len)), at: Date.now() });
        this.buf = this.buf.subarray(2 + len);
      }
    });
    sock.on('end', () => {
      this.gotEnd = true;
    });
    sock.on('error', (e) => {
      this.error = e;
    });
    sock.on('close', () => {
      this.closedAt = Date.now();
    });
  }

  static connect(port: number, host = '127.0.0.1', from?: string): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host, ...(from !== undefined ? { localAddress: from } : {}) });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new TcpClient(sock));
      });
    });
  }

  get closed(): boolean {
    return this.closedAt !== null;
  }

  send(msg: Buffer): void {
    this.sock.write(frame(msg));
  }

  async waitAnswers(n: number, timeoutMs = 3000): Promise<Buffer[]> {
    await waitFor(() => this.answers.length >= n || this.closed, timeoutMs, `${n} TCP answers (have ${this.answers.length})`);
    if (this.answers.length < n) throw new Error(`connection closed after ${this.answers.length} of ${n} answers`);
    return this.answers.map((a) => a.raw);
  }

  waitClosed(timeoutMs = 3000): Promise<void> {
    return waitFor(() => this.closed, timeoutMs, 'the server to close the connection');
  }

  destroy(): void {
    this.sock.destroy();
  }
}

let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  up = await startUpstream(slowScript);
  c2 = await startC2dns(
    {
      upstreams: [`127.0.0.1:${up.port}`],
      lists: [{ name: 'c2', path: 'block.txt' }],
      cache: { maxEntries: 0 },
      tcp: { idleTimeoutMs: 300 },
    },
    { 'block.txt': 'blocked.test\n' },
  );
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

describe('TCP listener', () => {
  it('forwards a query and answers over TCP', async () => {
    const { packet } = await ask(c2.port, 'www.example.test', T.A, { tcp: true, id: 0x1234, edns: {} });
    expect(packet.header.id).toBe(0x1234);
    expect(packet.header.qr).toBe(1);
    expect(packet.header.tc).toBe(0);
    expect(packet.questions[0]!.name).toBe('www.example.test');
    expect(packet.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
    expect(up.received.some((q) => q.name === 'www.example.test')).toBe(true);
    const lines = await c2.waitForQueries(['www.example.test']);
    expect(lines.find((l) => l.qname === 'www.example.test')).toMatchObject({ transport: 'tcp', action: 'allowed', rcode: 'NOERROR' });
  });

  it('pipelines 3 queries on one connection and answers each as it completes (out of order)', async () => {
    const c = await TcpClient.connect(c2.port);
    try {
      // Sent in this order; the upstream answers the last one first.
      const qs = [
        { id: 101, name: 'd400.pipe.test' },
        { id: 102, name: 'd200.pipe.test' },
        { id: 103, name: 'd0.pipe.test' },
      ];
      c.sock.write(Buffer.concat(qs.map((q) => frame(buildQuery(q.name, T.A, { id: q.id })))));
      const answers = (await c.waitAnswers(3)).map(decode);
      // Any order is allowed; every ID is answered exactly once, with its own question.
      expect(answers.map((p) => p.header.id).sort()).toEqual([101, 102, 103]);
      for (const p of answers) expect(p.questions[0]!.name).toBe(qs.find((q) => q.id === p.header.id)!.name);
      // No head-of-line blocking: the fastest answer was not held back behind the slow ones.
      expect(answers.map((p) => p.header.id)).toEqual([103, 102, 101]);
    } finally {
      c.destroy();
    }
  });

  it('answers a query dripped one byte at a time (partial reads, split length prefix)', async () => {
    const c = await TcpClient.connect(c2.port);
    try {
      const bytes = frame(buildQuery('drip.example.test', T.A, { id: 0xd00d }));
      for (const b of bytes) {
        c.sock.write(Buffer.from([b]));
        await sleep(3);
      }
      const [a] = await c.waitAnswers(1);
      const p = decode(a!);
      expect(p.header.id).toBe(0xd00d);
      expect(p.answers.map((r) => r.address)).toEqual(['192.0.2.1']);
    } finally {
      c.destroy();
    }
  });

  it('answers a second query whose first bytes arrive with the end of the first one', async () => {
    const c = await TcpClient.connect(c2.port);
    try {
      const all = Buffer.concat([frame(buildQuery('split1.example.test', T.A, { id: 1 })), frame(buildQuery('split2.example.test', T.A, { id: 2 }))]);
      // Cut inside the second message's length prefix, then inside its question.
      const cuts = [0, all.length / 2 + 1, all.length / 2 + 9, all.length];
      for (let i = 0; i < cuts.length - 1; i++) {
        c.sock.write(all.subarray(cuts[i], cuts[i + 1]));
        await sleep(20);
      }
      const ids = (await c.waitAnswers(2)).map((a) => decode(a).header.id).sort();
      expect(ids).toEqual([1, 2]);
    } finally {
      c.destroy();
    }
  });

  it('answers two queries sent in one write', async () => {
    const c = await TcpClient.connect(c2.port);
    try {
      c.sock.write(Buffer.concat([frame(buildQuery('two1.example.test', T.A, { id: 11 })), frame(buildQuery('blocked.test', T.A, { id: 12 }))]));
      const answers = (await c.waitAnswers(2)).map(decode);
      const byId = new Map(answers.map((p) => [p.header.id, p]));
      expect([...byId.keys()].sort()).toEqual([11, 12]);
      expect(byId.get(11)!.answers.map((r) => r.address)).toEqual(['192.0.2.1']);
      expect(byId.get(12)!.answers.map((r) => r.address)).toEqual(['0.0.0.0']);
    } finally {
      c.destroy();
    }
  });

  it('closes the connection on a zero length prefix', async () => {
    const c = await TcpClient.connect(c2.port);
    c.sock.write(Buffer.from([0, 0]));
    await c.waitClosed(1000);
    expect(c.answers).toEqual([]);
    // The listener is unaffected.
    const { packet } = await ask(c2.port, 'after-zero.example.test', T.A, { tcp: true });
    expect(packet.answers).toHaveLength(1);
  });

  it('closes an idle connection after tcp.idleTimeoutMs', async () => {
    const c = await TcpClient.connect(c2.port);
    await c.waitClosed(2000);
    const idle = c.closedAt! - c.startedAt;
    expect(idle).toBeGreaterThanOrEqual(250);
    expect(idle).toBeLessThan(1500);
  });

  it('restarts the idle timer after each answer', async () => {
    const c = await TcpClient.connect(c2.port);
    await sleep(200);
    c.send(buildQuery('keepalive.example.test', T.A, { id: 7 }));
    await c.waitAnswers(1);
    await sleep(150); // 350 ms since connect, 150 ms since the last activity
    expect(c.closed).toBe(false);
    await c.waitClosed(2000);
  });

  it('does not close a connection with a query in flight longer than the idle timeout', async () => {
    const c = await TcpClient.connect(c2.port);
    c.send(buildQuery('d800.inflight.test', T.A, { id: 0x0800 }));
    const [a] = await c.waitAnswers(1, 3000);
    expect(decode(a!).header.id).toBe(0x0800);
    expect(c.answers[0]!.at - c.startedAt).toBeGreaterThanOrEqual(750);
    expect(c.error).toBeNull();
    // Idle again once answered: closed about one idle timeout after the answer.
    await c.waitClosed(2000);
    expect(c.closedAt! - c.answers[0]!.at).toBeGreaterThanOrEqual(250);
  });

  it('answers a client that half-closes right after sending its query, then closes', async () => {
    const c = await TcpClient.connect(c2.port);
    c.sock.end(frame(buildQuery('d200.halfclose.test', T.A, { id: 0x4c0 })));
    const [a] = await c.waitAnswers(1, 3000);
    const p = decode(a!);
    expect(p.header.id).toBe(0x4c0);
    expect(p.answers.map((r) => r.address)).toEqual(['192.0.2.1']);
    await c.waitClosed(1000);
    expect(c.gotEnd).toBe(true);
    expect(c.error).toBeNull();
  });

  it('answers every pipelined query of a client that half-closes, fast and slow ones', async () => {
    const c = await TcpClient.connect(c2.port);
    c.sock.end(Buffer.concat([frame(buildQuery('d150.hc2.test', T.A, { id: 1 })), frame(buildQuery('blocked.test', T.A, { id: 2 })), frame(buildQuery('hc2.test', T.A, { id: 3 }))]));
    const ids = (await c.waitAnswers(3, 3000)).map((a) => decode(a).header.id).sort();
    expect(ids).toEqual([1, 2, 3]);
    await c.waitClosed(1000);
  });
});

describe('TCP connection cap', () => {
  let capped: TestServer;
  beforeAll(async () => {
    capped = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, tcp: { maxConnections: 2, idleTimeoutMs: 5000 } });
  });
  afterAll(async () => {
    await capped?.close();
  });

  it('refuses a third connection while two are busy; the two keep working', async () => {
    const a = await TcpClient.connect(capped.port);
    const b = await TcpClient.connect(capped.port);
    try {
      // Both have a query in flight: neither may be closed to make room.
      a.send(buildQuery('d800.a.cap.test', T.A, { id: 1 }));
      b.send(buildQuery('d800.b.cap.test', T.A, { id: 2 }));
      await sleep(100);

      // The kernel completes the handshake, then the server drops the socket unanswered.
      const third = await new Promise<{ answered: boolean; closed: boolean }>((resolve) => {
        const s = net.connect({ port: capped.port, host: '127.0.0.1' });
        let answered = false;
        s.on('data', () => {
          answered = true;
        });
        s.on('error', () => {});
        s.on('connect', () => s.write(frame(buildQuery('c.cap.test', T.A, { id: 3 }))));
        s.on('close', () => resolve({ answered, closed: true }));
        setTimeout(() => {
          resolve({ answered, closed: false });
          s.destroy();
        }, 1500).unref();
      });
      expect(third).toEqual({ answered: false, closed: true });
      expect(up.received.some((q) => q.name === 'c.cap.test')).toBe(false);
      expect(decode((await a.waitAnswers(1))[0]!).header.id).toBe(1);
      expect(decode((await b.waitAnswers(1))[0]!).header.id).toBe(2);

      a.send(buildQuery('a2.cap.test', T.A, { id: 4 }));
      b.send(buildQuery('b2.cap.test', T.A, { id: 5 }));
      expect(decode((await a.waitAnswers(2))[1]!).header.id).toBe(4);
      expect(decode((await b.waitAnswers(2))[1]!).header.id).toBe(5);
      expect(a.closed || b.closed).toBe(false);
    } finally {
      a.destroy();
      b.destroy();
    }

    // A freed slot is usable again.
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      try {
        const { packet } = await ask(capped.port, 'again.cap.test', T.A, { tcp: true, timeoutMs: 500 });
        ok = packet.answers.length === 1;
      } catch {
        await sleep(20);
      }
    }
    expect(ok).toBe(true);
  });

  it('at the cap, a new connection closes the one idle longest; a busy one stays', async () => {
    const a = await TcpClient.connect(capped.port);
    const b = await TcpClient.connect(capped.port);
    try {
      a.send(buildQuery('idle.a.cap.test', T.A, { id: 1 }));
      await a.waitAnswers(1);
      b.send(buildQuery('d1500.b.cap.test', T.A, { id: 2 })); // in flight while the third comes
      await sleep(100);
      const { packet } = await ask(capped.port, 'third.cap.test', T.A, { tcp: true, timeoutMs: 2000 });
      expect(packet.answers).toHaveLength(1);
      await a.waitClosed(1000); // a was idle: closed to make room
      expect(decode((await b.waitAnswers(1, 3000))[0]!).header.id).toBe(2);
      expect(b.closed).toBe(false);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe('TCP slow clients', () => {
  let slow: TestServer;
  beforeAll(async () => {
    slow = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, tcp: { idleTimeoutMs: 5000, messageTimeoutMs: 1500, minBytesPerSecond: 8, maxConnectionsPerClient: 3 } });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('closes a connection whose message is not complete within tcp.messageTimeoutMs, although bytes keep coming', async () => {
    const c = await TcpClient.connect(slow.port);
    const msg = frame(buildQuery('drip.slow.test', T.A, { id: 7 }));
    const start = Date.now();
    let i = 0;
    // 10 bytes per second: above minBytesPerSecond, below what the message needs in time.
    const timer = setInterval(() => {
      if (!c.closed && i < msg.length) c.sock.write(msg.subarray(i, ++i));
    }, 100);
    try {
      await c.waitClosed(4000);
      expect(Date.now() - start).toBeLessThan(2600); // the idle timer alone would never fire
      expect(c.answers).toHaveLength(0);
    } finally {
      clearInterval(timer);
      c.destroy();
    }
  });

  it('closes a connection whose message arrives slower than tcp.minBytesPerSecond', async () => {
    const c = await TcpClient.connect(slow.port);
    const start = Date.now();
    c.sock.write(Buffer.from([0, 40, 1])); // length prefix and one byte, then nothing
    try {
      await c.waitClosed(3000);
      const took = Date.now() - start;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(1500); // judged after its first second, before the message deadline
    } finally {
      c.destroy();
    }
  });

  it('a client at tcp.maxConnectionsPerClient: a new connection closes its own longest-idle one, not another client\'s', async () => {
    const mine: TcpClient[] = [];
    for (let i = 0; i < 3; i++) mine.push(await TcpClient.connect(slow.port));
    const theirs = await TcpClient.connect(slow.port, '127.0.0.1', '127.0.0.2');
    try {
      await sleep(100);
      const { packet } = await ask(slow.port, 'fourth.slow.test', T.A, { tcp: true, timeoutMs: 2000 });
      expect(packet.answers).toHaveLength(1);
      await mine[0]!.waitClosed(1000); // the first of the three, idle longest
      expect(mine[1]!.closed || mine[2]!.closed).toBe(false);
      expect(theirs.closed).toBe(false); // 127.0.0.2 is another client
      theirs.send(buildQuery('theirs.slow.test', T.A, { id: 9 }));
      expect(decode((await theirs.waitAnswers(1))[0]!).header.id).toBe(9);
    } finally {
      for (const c of [...mine, theirs]) c.destroy();
    }
  });
});

describe('TCP in-flight cap per connection', () => {
  let capped: TestServer;
  beforeAll(async () => {
    capped = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, tcp: { maxInflightPerConnection: 2 } });
  });
  afterAll(async () => {
    await capped?.close();
  });

  const reached = (tag: string): number => up.received.filter((q) => q.name.endsWith(`.${tag}.test`)).length;

  for (const halfClose of [false, true]) {
    it(`keeps at most tcp.maxInflightPerConnection queries of one connection in flight, even from one write${halfClose ? ', then half-closed' : ''}`, async () => {
      const tag = halfClose ? 'slots-hc' : 'slots';
      const c = await TcpClient.connect(capped.port);
      try {
        const burst = Buffer.concat([1, 2, 3, 4, 5, 6].map((i) => frame(buildQuery(`d250.q${i}.${tag}.test`, T.A, { id: i }))));
        if (halfClose) c.sock.end(burst);
        else c.sock.write(burst);
        await sleep(120);
        expect(reached(tag)).toBe(2);
        await waitFor(() => reached(tag) >= 4, 1000, 'the next two queries');
        expect(reached(tag)).toBe(4);
        const ids = (await c.waitAnswers(6, 3000)).map((a) => decode(a).header.id).sort();
        expect(ids).toEqual([1, 2, 3, 4, 5, 6]);
        if (halfClose) await c.waitClosed(1000);
      } finally {
        c.destroy();
      }
    });
  }

  it('queries answered synchronously (here NOTIMP) give their slot back at once', async () => {
    const c = await TcpClient.connect(capped.port);
    try {
      // 2 slow ones fill the cap; malformed-but-answerable ones behind them still need a slot.
      const msgs = [frame(buildQuery('d200.s1.mix.test', T.A, { id: 1 })), frame(buildQuery('d200.s2.mix.test', T.A, { id: 2 }))];
      for (let i = 3; i <= 40; i++) msgs.push(frame(buildQuery('x.mix.test', T.A, { id: i, opcode: 2 }))); // NOTIMP, answered synchronously
      c.sock.write(Buffer.concat(msgs));
      const answers = await c.waitAnswers(40, 3000);
      expect(answers.map((a) => decode(a).header.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      c.destroy();
    }
  });
});

describe('TCP backpressure', () => {
  let bp: TestServer;
  beforeAll(async () => {
    bp = await startC2dns(
      {
        upstreams: [`127.0.0.1:${up.port}`],
        lists: [{ name: 'c2', path: 'block.txt' }],
        cache: { maxEntries: 0 },
        log: { queries: 'none' },
        tcp: { idleTimeoutMs: 10_000 },
      },
      // A long name so each answer is large and the socket buffers fill quickly.
      { 'block.txt': `${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.blocked.test\n` },
    );
  });
  afterAll(async () => {
    await bp?.close();
  });

  it('stops reading from a client that sends thousands of queries and never reads, and keeps serving others', async () => {
    const d = bp.server.dispatcher;
    let handled = 0;
    const orig = d.handle.bind(d);
    d.handle = (...args: Parameters<typeof d.handle>): void => {
      handled++;
      orig(...args);
    };
    // N answers (~460 bytes each, ~14 MB) are far more than the kernel socket buffers take
    // (~4.5 MB here), so a server that kept reading would get through all N.
    const N = 30_000;
    const name = `${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.blocked.test`;
    // EDNS so each answer also carries an EDE naming the rule.
    const one = frame(buildQuery(name, T.A, { id: 9, edns: {} }));
    const burst = Buffer.concat(Array.from({ length: N }, () => one));
    const greedy = net.connect({ port: bp.port, host: '127.0.0.1' });
    greedy.on('error', () => {});
    try {
      await new Promise<void>((r) => greedy.once('connect', () => r()));
      greedy.pause(); // never read
      greedy.write(burst);

      // Wait until the server has stopped taking queries from it.
      let last = -1;
      const end = Date.now() + 5000;
      while (handled !== last && Date.now() < end) {
        last = handled;
        await sleep(150);
      }
      expect(handled).toBeGreaterThan(0);
      expect(handled).toBeLessThan(N); // it stopped reading instead of buffering every answer

      // Other clients are still answered, over both transports.
      const udp = await ask(bp.port, 'other.example.test', T.A, { timeoutMs: 1000 });
      expect(udp.packet.answers.map((r) => r.address)).toEqual(['192.0.2.1']);
      const tcp = await ask(bp.port, 'other2.example.test', T.A, { tcp: true, timeoutMs: 1000 });
      expect(tcp.packet.answers.map((r) => r.address)).toEqual(['192.0.2.1']);
    } finally {
      greedy.destroy();
      d.handle = orig;
    }
  });
});
