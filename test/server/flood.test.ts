// Load test (issue 10 item 10): one client floods c2dns over UDP (a tight send loop from
// 127.0.0.2, in a worker thread, paced to FLOOD_QPS) while another (127.0.0.3, another worker)
// asks 100 queries a second; the second client's loss and latency are measured with rate
// limiting off, then on (the defaults, with loopback not exempt). Printed as the issue's
// "rate-limit figure". The flood is paced because on loopback the flooder shares the machine
// with c2dns: unpaced, it sends as fast as c2dns is starved of CPU, and past the rate at which
// c2dns can read datagrams at all the kernel drops everyone's alike, which no limiter in c2dns
// can change. 10,000 q/s (C2DNS_FLOOD_QPS) is 50 times rateLimit.qps, and a third of what a
// Node.js UDP socket reads on the loaded 2-core machine this was written on (~32,000 q/s empty).
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startC2dns } from '../helpers/c2dns.js';
import { ask, frame } from '../helpers/client.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { buildQuery, T } from '../helpers/wire.js';

const FLOOD_MS = 3_000;
const FLOOD_QPS = Number(process.env.C2DNS_FLOOD_QPS ?? 10_000);
const VICTIM_QPS = 100;

// Sends the same query as fast as the socket takes it, in batches, until told to stop.
const FLOODER = `
const dgram = require('node:dgram');
const { parentPort, workerData } = require('node:worker_threads');
const sock = dgram.createSocket('udp4');
const msg = Buffer.from(workerData.msg);
let sent = 0, stop = false;
parentPort.on('message', () => { stop = true; });
sock.bind(0, '127.0.0.2', () => {
  const start = performance.now();
  const burst = () => {
    if (stop) { sock.close(); parentPort.postMessage(sent); return; }
    const due = ((performance.now() - start) * workerData.qps) / 1000;
    for (let i = 0; i < 64 && sent < due; i++) { msg.writeUInt16BE(sent & 0xffff, 0); sock.send(msg, workerData.port, '127.0.0.1'); sent++; }
    setImmediate(burst);
  };
  burst();
});
`;

// Asks at a steady rate, one query per tick with its own ID; reports every latency and the losses.
const VICTIM = `
const dgram = require('node:dgram');
const { parentPort, workerData } = require('node:worker_threads');
const sock = dgram.createSocket('udp4');
const msg = Buffer.from(workerData.msg);
const sentAt = new Map();
const lat = [];
let id = 0;
sock.on('message', (m) => {
  const t = sentAt.get(m.readUInt16BE(0));
  if (t === undefined) return;
  sentAt.delete(m.readUInt16BE(0));
  lat.push(performance.now() - t);
});
sock.bind(0, '127.0.0.3', () => {
  const end = performance.now() + workerData.ms;
  const timer = setInterval(() => {
    if (performance.now() > end) {
      clearInterval(timer);
      setTimeout(() => { sock.close(); parentPort.postMessage({ lat, lost: sentAt.size, sent: id }); }, 1000);
      return;
    }
    const q = Buffer.from(msg);
    q.writeUInt16BE(++id, 0);
    sentAt.set(id, performance.now());
    sock.send(q, workerData.port, '127.0.0.1');
  }, 1000 / workerData.qps);
});
`;

interface Result {
  sent: number;
  lost: number;
  p50: number;
  p99: number;
  flood: number;
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

async function measure(port: number, flood: boolean): Promise<Result> {
  const victim = new Worker(VICTIM, { eval: true, workerData: { port, ms: FLOOD_MS, qps: VICTIM_QPS, msg: buildQuery('victim.flood.test', T.A, { id: 0 }) } });
  const flooder = flood ? new Worker(FLOODER, { eval: true, workerData: { port, qps: FLOOD_QPS, msg: buildQuery('flood.flood.test', T.A, { id: 0 }) } }) : null;
  const floodSent = flooder === null ? Promise.resolve(0) : new Promise<number>((r) => flooder.once('message', r));
  const v = await new Promise<{ lat: number[]; lost: number; sent: number }>((r) => victim.once('message', r));
  flooder?.postMessage('stop');
  const flooded = await floodSent;
  await Promise.all([victim.terminate(), flooder?.terminate()]);
  const lat = v.lat.sort((a, b) => a - b);
  return { sent: v.sent, lost: v.lost, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), flood: flooded };
}

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'victim.flood.test 1': [{ name: 'victim.flood.test', type: T.A, address: '192.0.2.3', ttl: 3600 }], 'flood.flood.test 1': [{ name: 'flood.flood.test', type: T.A, address: '192.0.2.2', ttl: 3600 }] }));
});
afterAll(async () => up?.close());

describe('one client flooding over UDP', () => {
  it('does not starve another client once rate limiting is on', async () => {
    const rows: string[] = [];
    const results: Record<string, Result> = {};
    for (const [label, rateLimit] of [
      ['rate limiting off', { enabled: false }],
      ['rate limiting on (defaults)', { enabled: true, exempt: [] }],
    ] as const) {
      const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], rateLimit });
      try {
        // Both names cached first: the flood costs c2dns parsing, the stages and the log, not the upstream.
        await ask(c2.port, 'victim.flood.test', T.A);
        await ask(c2.port, 'flood.flood.test', T.A);
        const quiet = await measure(c2.port, false);
        const flooded = await measure(c2.port, true);
        results[label] = flooded;
        const rl = c2.server.dispatcher.counters;
        rows.push(
          `| ${label} | ${quiet.p50} / ${quiet.p99} ms, ${quiet.lost} lost | ${flooded.flood.toLocaleString('en')} | ${flooded.p50} / ${flooded.p99} ms | ${flooded.lost} of ${flooded.sent} (${((100 * flooded.lost) / flooded.sent).toFixed(1)} %) | ${rl.internalErrors} |`,
        );
      } finally {
        await c2.close();
      }
    }
    console.log(
      [
        `flood: the other client's answers (${VICTIM_QPS} q/s for ${FLOOD_MS / 1000} s) while 127.0.0.2 floods`,
        `| | no flood: p50 / p99, lost | flood queries sent (paced to ${FLOOD_QPS.toLocaleString('en')} q/s) | flooded: p50 / p99 | lost | internal errors |`,
        '|---|---|---|---|---|---|',
        ...rows,
      ].join('\n'),
    );
    // Loss is what a flood does to the others when c2dns cannot keep up: with the flooder's
    // queries dropped for ~1.5 µs each, the other client loses none. Latency is reported, not
    // asserted: on a machine shared with other work the queue ahead of its query decides it.
    const off = results['rate limiting off']!;
    const on = results['rate limiting on (defaults)']!;
    // (A few percent of slack: the machine this runs on is shared with other work.)
    expect(on.lost / on.sent).toBeLessThanOrEqual(0.05);
    expect(on.lost).toBeLessThanOrEqual(off.lost);
  }, 60_000);

  it('clients that pipeline thousands of TCP queries and never read cost a bounded amount of work', async () => {
    const GREEDY = 20;
    const PER_CONNECTION = 5_000;
    const rows: string[] = [];
    const results: Record<string, { handled: number; closed: number; victim: Result }> = {};
    for (const [label, rateLimit] of [
      ['rate limiting off', { enabled: false }],
      ['rate limiting on (defaults)', { enabled: true, exempt: [] }],
    ] as const) {
      const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], rateLimit, log: { queries: 'none' } });
      const d = c2.server.dispatcher;
      let handled = 0;
      const handle = d.handle.bind(d);
      d.handle = (...args: Parameters<typeof d.handle>): void => {
        if (args[3] === 'tcp') handled++;
        handle(...args);
      };
      const socks: net.Socket[] = [];
      let closed = 0;
      try {
        await ask(c2.port, 'victim.flood.test', T.A);
        await ask(c2.port, 'flood.flood.test', T.A);
        const burst = Buffer.concat(Array.from({ length: PER_CONNECTION }, (_, i) => frame(buildQuery('flood.flood.test', T.A, { id: i & 0xffff }))));
        const victim = measure(c2.port, false);
        for (let i = 0; i < GREEDY; i++) {
          const s = net.connect({ port: c2.port, host: '127.0.0.1', localAddress: `127.0.2.${i + 1}` });
          s.on('error', () => {});
          s.on('close', () => void closed++);
          s.on('connect', () => {
            s.pause(); // never read
            s.write(burst);
          });
          socks.push(s);
        }
        const v = await victim;
        // A client that does not read does not see the end either: read now, and count the closed.
        for (const s of socks) s.resume();
        const end = Date.now() + 3000;
        while (closed < GREEDY && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        results[label] = { handled, closed, victim: v };
        rows.push(`| ${label} | ${handled.toLocaleString('en')} of ${(GREEDY * PER_CONNECTION).toLocaleString('en')} | ${closed} of ${GREEDY} | ${v.p50} / ${v.p99} ms | ${v.lost} of ${v.sent} |`);
      } finally {
        for (const s of socks) s.destroy();
        d.handle = handle;
        await c2.close();
      }
    }
    console.log(
      [
        `greedy TCP: ${GREEDY} connections (one per address) each pipelining ${PER_CONNECTION.toLocaleString('en')} queries and never reading, while 127.0.0.3 asks ${VICTIM_QPS} q/s over UDP`,
        '| | greedy queries c2dns processed | greedy connections ended by c2dns (seen once read) | other client p50 / p99 | lost |',
        '|---|---|---|---|---|',
        ...rows,
      ].join('\n'),
    );
    const on = results['rate limiting on (defaults)']!;
    // Per connection: the burst (1,000) and at most the in-flight cap more, then REFUSED and the end.
    expect(on.handled).toBeLessThanOrEqual(GREEDY * (1_000 + 100 + 1));
    expect(on.closed).toBe(GREEDY);
    expect(on.victim.lost / on.victim.sent).toBeLessThanOrEqual(0.01);
  }, 60_000);
});
