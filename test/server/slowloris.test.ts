// Load test (issue 10 item 9): 250 slow TCP connections from 50 loopback addresses, each sending
// one byte a second and reopened as soon as c2dns closes it, against a listener capped at 100
// connections. Legitimate TCP queries from another address keep being answered. Before the
// per-message deadline, the byte-rate floor and eviction at the cap, such connections held every
// slot for 3.5× the idle timeout and legitimate TCP got 0 of 7 answers (issue 10).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { sendTcp } from '../helpers/client.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';

const ATTACKERS = 250;
const ADDRESSES = 50;
const RUN_MS = 8_000;

let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  up = await startUpstream(zoneScript({}));
  c2 = await startC2dns({
    upstreams: [`127.0.0.1:${up.port}`],
    log: { queries: 'none' },
    // The defaults for the defences: messageTimeoutMs 3000, minBytesPerSecond 64, 64 per client.
    tcp: { maxConnections: 100, idleTimeoutMs: 10_000 },
  });
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

describe('TCP under a slowloris attack', () => {
  it(`answers legitimate TCP queries while ${ATTACKERS} slow connections keep reconnecting`, async () => {
    let stop = false;
    let opened = 0;
    let closedByServer = 0;
    const live = new Set<net.Socket>();
    const open = (i: number): void => {
      if (stop) return;
      const from = `127.0.1.${1 + (i % ADDRESSES)}`;
      const s = net.connect({ port: c2.port, host: '127.0.0.1', localAddress: from });
      opened++;
      live.add(s);
      let timer: NodeJS.Timeout | null = null;
      s.on('connect', () => {
        // A 40-byte message announced, then one byte a second.
        s.write(Buffer.from([0]));
        timer = setInterval(() => s.write(Buffer.from([40])), 1000);
      });
      s.on('error', () => {});
      s.on('close', () => {
        if (timer !== null) clearInterval(timer);
        live.delete(s);
        if (!stop) {
          closedByServer++;
          setTimeout(() => open(i), 5);
        }
      });
    };
    for (let i = 0; i < ATTACKERS; i++) open(i);
    await new Promise((r) => setTimeout(r, 1500)); // the slots are full of slow connections

    const latencies: number[] = [];
    let lost = 0;
    const end = Date.now() + RUN_MS;
    let n = 0;
    while (Date.now() < end) {
      const t0 = performance.now();
      try {
        const raw = await sendTcp(c2.port, buildQuery(`q${n++}.legit.test`, T.A), { timeoutMs: 2000, from: '127.0.0.1' });
        expect(decode(raw).header.rcode).toBe(3); // the upstream's NXDOMAIN
        latencies.push(performance.now() - t0);
      } catch (err) {
        if (lost++ === 0) console.log(`first lost query: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    stop = true;
    for (const s of live) s.destroy();

    latencies.sort((a, b) => a - b);
    const p = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
    console.log(
      `slowloris: ${ATTACKERS} slow connections from ${ADDRESSES} addresses (${opened} opened, ${closedByServer} closed by c2dns) vs one legitimate client: ` +
        `${latencies.length} of ${latencies.length + lost} TCP queries answered, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms; ` +
        (await c2.server.metrics.registry.getSingleMetricAsString('c2dns_tcp_defence_total')).split('\n').filter((l) => !l.startsWith('#')).join(', '),
    );
    expect(lost).toBe(0);
    expect(latencies.length).toBeGreaterThan(10);
    expect(closedByServer).toBeGreaterThan(ATTACKERS); // every slow connection was closed at least once
  }, 30_000);
});
