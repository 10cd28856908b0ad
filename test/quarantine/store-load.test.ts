// Load test (issue 10 item 11): 10,000 clients quarantined through DNS (a trusted forwarder names
// each with ECS, as a router would; 100 queries in flight) while c2dns keeps answering. Before,
// every new entry rewrote quarantine.json synchronously with fsync on the query path: at 8,355
// entries a quarantining answer took 22.5 ms median and the event loop lagged 138 ms. Now the
// file is written off the query path, coalesced; the event-loop delay is measured with
// perf_hooks.monitorEventLoopDelay while the entries are added. Also: the maxClients cap and the
// file read back after a restart.
import dgram from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuarantineStore } from '../../src/quarantine/store.js';
import { writeFileAtomic } from '../../src/storage/atomic.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { ecs, queryWith } from '../helpers/edns-options.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const CLIENTS = 10_000;
const IN_FLIGHT = 100;

let up: Upstream;
let c2: TestServer;
/** The same c2dns without quarantine: what the same load costs anyway (log, c2-hit events). */
let base: TestServer;

const config = (quarantine: boolean): Record<string, unknown> => ({
  upstreams: [`127.0.0.1:${up.port}`],
  lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2'] }],
  quarantine: { enabled: quarantine, maxClients: CLIENTS },
  clients: { trustedForwarders: ['127.0.0.1/32'] },
});

beforeAll(async () => {
  up = await startUpstream(zoneScript({}));
  base = await startC2dns(config(false), { 'c2.txt': 'evil.c2.test\n' });
  c2 = await startC2dns(config(true), { 'c2.txt': 'evil.c2.test\n' });
});

afterAll(async () => {
  await c2?.close();
  await base?.close();
  await up?.close();
});

interface Run {
  lat: number[];
  took: number;
  delay: { p50: number; p99: number; max: number };
}

async function measured(port: number): Promise<Run> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  const lat = (await quarantineMany(port, 0, CLIENTS, IN_FLIGHT)).sort((a, b) => a - b);
  const took = performance.now() - t0;
  h.disable();
  const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
  return { lat, took, delay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } };
}

const line = (label: string, r: Run): string =>
  `| ${label} | ${Math.round(r.took)} ms | ${pct(r.lat, 0.5)} / ${pct(r.lat, 0.99)} ms | ${r.delay.p50} / ${r.delay.p99} / ${r.delay.max} ms |`;

const clientAddress = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Sends one query per client (ECS names it) with `inFlight` outstanding; returns each answer's latency. */
function quarantineMany(port: number, first: number, count: number, inFlight: number, name = 'evil.c2.test'): Promise<number[]> {
  const sock = dgram.createSocket('udp4');
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  let next = first;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`${lat.length} of ${count} answers`));
    }, 60_000);
    const sendOne = (): void => {
      if (next >= first + count) return;
      const i = next++;
      const id = i & 0xffff;
      const msg = queryWith(name, T.A, [ecs(clientAddress(i), 32)], { id });
      sentAt.set(id, performance.now());
      sock.send(msg, port, '127.0.0.1');
    };
    sock.on('message', (m) => {
      const id = m.readUInt16BE(0);
      const t = sentAt.get(id);
      if (t === undefined) return;
      sentAt.delete(id);
      lat.push(performance.now() - t);
      if (lat.length === count) {
        clearTimeout(timer);
        sock.close();
        resolve(lat);
        return;
      }
      sendOne();
    });
    sock.bind(0, '127.0.0.1', () => {
      for (let k = 0; k < inFlight; k++) sendOne();
    });
  });
}

const pct = (sorted: number[], q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100;

describe('the quarantine store under load', () => {
  it(`quarantines ${CLIENTS.toLocaleString('en')} clients without stalling the event loop; capped at quarantine.maxClients`, async () => {
    const store = c2.server.quarantineStore;
    // Warm both up (JIT, caches) with a name that quarantines nobody.
    for (const s of [base, c2]) await quarantineMany(s.port, 0, 3000, IN_FLIGHT, 'harmless.test');
    expect(store.size).toBe(0);
    const without = await measured(base.port);
    const withQ = await measured(c2.port);
    expect(store.size).toBe(CLIENTS);
    const writesDuring = store.writes;
    await store.flush();
    // What the store did before, per new entry: the whole file rewritten with fsync, synchronously.
    const file = join(c2.dir, 'state', 'quarantine.json');
    const t = performance.now();
    writeFileAtomic(`${file}.old-way`, JSON.stringify(store.list(), null, 1), true);
    const oldWay = Math.round((performance.now() - t) * 10) / 10;
    console.log(
      [
        `quarantine: ${CLIENTS.toLocaleString('en')} blocked queries from distinct clients (ECS via a trusted forwarder), ${IN_FLIGHT} in flight`,
        '| | took | answer p50 / p99 | event-loop delay p50 / p99 / max |',
        '|---|---|---|---|',
        line('quarantine off', without),
        line(`quarantine on (${writesDuring} coalesced writes)`, withQ),
        `(the synchronous rewrite with fsync the store used to do per new entry takes ${oldWay} ms at ${CLIENTS.toLocaleString('en')} entries, on the event loop)`,
      ].join('\n'),
    );
    // One write per FLUSH_DELAY_MS at most, not one per entry.
    expect(writesDuring).toBeLessThan(withQ.took / 200 + 2);
    // Quarantining costs the event loop and the answers little beyond what the same load costs anyway.
    expect(withQ.delay.p99).toBeLessThan(Math.max(100, 2 * without.delay.p99));
    expect(pct(withQ.lat, 0.5)).toBeLessThan(2 * pct(without.lat, 0.5) + 10);

    // Beyond the cap, the entry set longest ago makes room.
    await quarantineMany(c2.port, CLIENTS, 100, 20);
    expect(store.size).toBe(CLIENTS);
    expect(store.evicted).toBe(100);
    expect(store.get(clientAddress(0))).toBeUndefined();
    expect(store.get(clientAddress(CLIENTS + 99))).toBeDefined();

    // What is on disk is what a restart reads.
    await store.flush();
    const dir = join(c2.dir, 'state');
    rmSync(join(dir, 'quarantine.json.old-way'));
    const onDisk = JSON.parse(readFileSync(join(dir, 'quarantine.json'), 'utf8')) as unknown[];
    expect(onDisk).toHaveLength(CLIENTS);
    const again = new QuarantineStore(dir);
    expect(again.size).toBe(CLIENTS);
    expect(again.get(clientAddress(CLIENTS + 50))?.reason).toMatch(/evil\.c2\.test/);
  }, 90_000);
});
