// Fuzzing (issue 10): C2DNS_FUZZ_UDP (default 100,000) hostile messages over UDP and
// C2DNS_FUZZ_TCP (default 10,000) over TCP, from a seeded generator (test/helpers/fuzz.ts: random
// bytes, bit flips, truncation, length fields, label lengths, pointer loops, huge counts, OPT
// variants), with valid queries from another client interleaved: every valid query must get its
// correct answer, c2dns must not crash, log no internal error (dispatcher.counters.internalErrors
// and the operational log), and its RSS must stay bounded. `npm run fuzz -- --count 1000000` runs
// the same test longer (scripts/fuzz.mjs). Quarantine, cookies, NSID and the query log are on so
// their paths are fuzzed too.
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { frame } from '../helpers/client.js';
import { hostile, Rng } from '../helpers/fuzz.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';

const UDP = Number(process.env.C2DNS_FUZZ_UDP ?? 100_000);
const TCP = Number(process.env.C2DNS_FUZZ_TCP ?? 10_000);
const SEED = Number(process.env.C2DNS_FUZZ_SEED ?? 20_261_203);
/** One valid query per this many hostile ones. */
const VALID_EVERY = 50;
const TCP_PER_CONNECTION = 50;
const TCP_PARALLEL = 20;

/** "N.valid.fuzz.test" A → 192.0.2.(N % 250 + 1); anything else NXDOMAIN. */
const expected = (n: number): string => `192.0.2.${(n % 250) + 1}`;

let up: Upstream;
let server: RunningServer;
let dir: string;
const errors: Record<string, unknown>[] = [];

beforeAll(async () => {
  up = await startUpstream((q) => {
    const m = /^(\d+)\.valid\.fuzz\.test$/i.exec(q.name);
    if (m !== null && q.type === T.A) return { answers: [{ name: q.name, type: T.A, address: expected(Number(m[1])), ttl: 300 }] };
    return { rcode: 3, authorities: [{ name: 'test', type: T.SOA, ttl: 60, primary: 'ns.test', admin: 'h.test', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 60 }] };
  });
  dir = mkdtempSync(join(tmpdir(), 'c2dns-fuzz-'));
  writeFileSync(join(dir, 'c2.txt'), 'blocked.fuzz.test\n');
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(
    file,
    YAML.stringify({
      listen: ['127.0.0.1:0'],
      upstreams: [`127.0.0.1:${up.port}`],
      admin: { listen: '127.0.0.1:0' },
      state: { dir: join(dir, 'state') },
      lists: [{ name: 'c2', path: join(dir, 'c2.txt'), tags: ['c2'] }],
      quarantine: { enabled: true },
      server: { nsid: 'fuzz' },
      log: { destination: join(dir, 'queries.log') },
    }),
  );
  const oplog = pino({ level: 'warn' }, { write: (line: string) => void errors.push(JSON.parse(line) as Record<string, unknown>) });
  server = await startServer(loadConfig({ file }), oplog);
});

afterAll(async () => {
  await server?.close(500);
  await up?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Valid queries from 127.0.0.3, checked as their answers come. */
class Checker {
  private readonly sock = dgram.createSocket('udp4');
  private readonly pending = new Map<number, number>();
  sent = 0;
  answered = 0;
  wrong: string[] = [];

  async open(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.3', () => r()));
    this.sock.on('message', (m) => this.check(m));
  }

  send(port: number, n: number): void {
    const id = n & 0xffff;
    this.pending.set(id, n);
    this.sent++;
    this.sock.send(buildQuery(`${n}.valid.fuzz.test`, T.A, { id, ...(n % 2 === 0 ? { edns: {} } : {}) }), port, '127.0.0.1');
  }

  check(m: Buffer): void {
    const id = m.readUInt16BE(0);
    const n = this.pending.get(id);
    if (n === undefined) return;
    this.pending.delete(id);
    this.answered++;
    try {
      const p = decode(m);
      const got = p.answers.map((a) => a.address).join(',');
      if (p.header.rcode !== 0 || got !== expected(n) || p.questions[0]?.name.toLowerCase() !== `${n}.valid.fuzz.test`) this.wrong.push(`${n}: rcode ${p.header.rcode}, ${got}`);
    } catch (err) {
      this.wrong.push(`${n}: ${(err as Error).message}`);
    }
  }

  get outstanding(): number {
    return this.pending.size;
  }

  close(): void {
    this.sock.close();
  }
}

async function settle(checker: Checker, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while ((checker.outstanding > 0 || server.dispatcher.inflight > 0) && Date.now() < end) await sleep(20);
}

describe('fuzzing', () => {
  it(`survives ${UDP.toLocaleString('en')} hostile UDP and ${TCP.toLocaleString('en')} hostile TCP messages, answering every valid query`, async () => {
    const port = server.udp[0]!.port;
    const rng = new Rng(SEED);
    // Flow control: the messages c2dns has taken in. Sent faster than it reads them, datagrams
    // would be dropped by the kernel (the valid ones too) and the fuzz would test nothing.
    const d = server.dispatcher;
    let handled = 0;
    const handle = d.handle.bind(d);
    d.handle = (...args: Parameters<typeof d.handle>): void => {
      handled++;
      handle(...args);
    };
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const t0 = performance.now();

    // ---- UDP ----
    const checker = new Checker();
    await checker.open();
    const fuzz = dgram.createSocket('udp4');
    let replies = 0;
    fuzz.on('message', () => void replies++);
    await new Promise<void>((r) => fuzz.bind(0, '127.0.0.1', () => r()));
    let valid = 0;
    let sent = 0;
    for (let i = 0; i < UDP; i++) {
      const m = hostile(rng);
      if (m.length > 0) {
        fuzz.send(m, port, '127.0.0.1');
        sent++;
      }
      if (i % VALID_EVERY === 0) {
        checker.send(port, valid++);
        sent++;
      }
      if (i % 64 === 63) {
        await new Promise((r) => setImmediate(r));
        // At most 256 datagrams unread, and a bounded backlog upstream (hostile queries that parse are forwarded).
        while (sent - handled > 256 || server.dispatcher.inflight > 500) await sleep(1);
      }
      if (i % 20_000 === 19_999) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    await settle(checker, 5000);
    const udpMs = performance.now() - t0;

    // ---- TCP ----
    const t1 = performance.now();
    const handledBeforeTcp = handled;
    let tcpMessages = 0;
    let tcpConnections = 0;
    let tcpAnswers = 0;
    const fuzzConnection = (msgs: Buffer[]): Promise<void> =>
      new Promise((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        tcpConnections++;
        const done = (): void => {
          clearTimeout(timer);
          s.destroy();
          resolve();
        };
        const timer = setTimeout(done, 4000);
        s.on('error', done);
        s.on('close', done);
        let pending = Buffer.alloc(0);
        s.on('data', (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk]);
          while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
            tcpAnswers++;
            pending = pending.subarray(2 + pending.readUInt16BE(0));
          }
        });
        s.on('connect', () => {
          const framed = msgs.map(frame);
          // A third of the connections end with a length prefix that lies (0 closes the
          // connection at once; longer than what follows leaves a message unfinished).
          if (rng.chance(0.3)) {
            const f = frame(rng.bytes(rng.int(40)));
            f.writeUInt16BE(rng.pick([0, 1, f.length + 1, 0xffff]), 0);
            framed.push(f);
          }
          // Written in pieces of random size: framing across partial reads.
          const all = Buffer.concat(framed);
          for (let off = 0; off < all.length; ) {
            const n = 1 + rng.int(rng.chance(0.2) ? 8 : 600);
            s.write(all.subarray(off, off + n));
            off += n;
          }
          s.end();
        });
      });
    const validTcp = async (n: number): Promise<void> => {
      const msgs = [0, 1, 2].map((k) => buildQuery(`${n + k}.valid.fuzz.test`, T.A, { id: k + 1 }));
      const answers = await new Promise<Buffer[]>((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.3' });
        const out: Buffer[] = [];
        let buf = Buffer.alloc(0);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error(`valid TCP queries ${n}..${n + 2}: ${out.length} of 3 answers`));
        }, 5000);
        s.on('error', reject);
        s.on('connect', () => s.write(Buffer.concat(msgs.map(frame))));
        s.on('data', (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
            buf = buf.subarray(2 + buf.readUInt16BE(0));
          }
          if (out.length === 3) {
            clearTimeout(timer);
            s.destroy();
            resolve(out);
          }
        });
      });
      for (const a of answers) {
        const p = decode(a);
        const k = p.header.id - 1;
        if (p.header.rcode !== 0 || p.answers[0]?.address !== expected(n + k)) checker.wrong.push(`TCP ${n + k}: rcode ${p.header.rcode}, ${p.answers[0]?.address}`);
      }
    };
    let validTcpSent = 0;
    while (tcpMessages < TCP) {
      const batch: Promise<void>[] = [];
      for (let c = 0; c < TCP_PARALLEL && tcpMessages < TCP; c++) {
        const msgs = Array.from({ length: TCP_PER_CONNECTION }, () => hostile(rng)).filter((m) => m.length > 0);
        tcpMessages += msgs.length;
        batch.push(fuzzConnection(msgs));
      }
      batch.push(validTcp(1_000_000 + validTcpSent));
      validTcpSent += 3;
      await Promise.all(batch);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    const tcpMs = performance.now() - t1;
    const tcpTaken = handled - handledBeforeTcp - validTcpSent;
    d.handle = handle;
    await settle(checker, 3000);
    checker.close();
    fuzz.close();

    const c = server.dispatcher.counters;
    const internal = errors.filter((e) => e.msg === 'internal error while answering a query');
    const rssAfter = process.memoryUsage().rss;
    const mb = (b: number): number => Math.round(b / 1048576);
    console.log(
      `fuzz (seed ${SEED}): UDP ${UDP.toLocaleString('en')} hostile messages in ${Math.round(udpMs)} ms (${replies.toLocaleString('en')} answered, the rest dropped), ` +
        `${checker.sent.toLocaleString('en')} valid queries interleaved, ${checker.answered.toLocaleString('en')} answered, ${checker.wrong.length} wrong; ` +
        `TCP ${tcpMessages.toLocaleString('en')} hostile messages on ${tcpConnections} connections in ${Math.round(tcpMs)} ms (${tcpTaken.toLocaleString('en')} taken in by c2dns, ${tcpAnswers.toLocaleString('en')} answers), ${validTcpSent} valid TCP queries; ` +
        `${handled.toLocaleString('en')} messages taken in by c2dns; ` +
        `dispatcher: ${c.dropped.toLocaleString('en')} dropped, ${c.malformed.toLocaleString('en')} malformed answered, ${c.internalErrors} internal errors; ` +
        `operational log: ${errors.filter((e) => (e.level as number) >= 50).length} errors; RSS ${mb(rssBefore)} → max ${mb(rssMax)} → ${mb(rssAfter)} MiB`,
    );
    expect(checker.wrong.slice(0, 10)).toEqual([]);
    expect(checker.answered).toBe(checker.sent);
    expect(handled - tcpTaken - validTcpSent).toBeGreaterThanOrEqual(UDP * 0.99); // (empty messages are not sent)
    expect(tcpTaken).toBeGreaterThanOrEqual(TCP * 0.99);
    expect(c.internalErrors).toBe(0);
    expect(internal.map((e) => e.err)).toEqual([]);
    expect(mb(rssMax - rssBefore)).toBeLessThan(256);
    // Still serving.
    expect(server.dispatcher.inflight).toBe(0);
  }, Number(process.env.C2DNS_FUZZ_TIMEOUT_MS ?? 120_000));
});
