// Reloading a big list while a client asks (issue 11 target 4): c2dns with the defaults (query log,
// history and its retro-hunt on) serves a 200,000-name list over UDP to a client asking every
// 4 ms; the list file is replaced and the lists refreshed, as SIGHUP does. Every query is answered
// (blocked, as its name stays listed), none waits long, answers keep coming while the update is
// compiled, published and saved, and afterwards the new names are blocked and the disk copy is
// the new list. (1M names in bench/reload.mjs; the bounds are for a shared 2-core machine: the
// point is that the reload never holds answering for long, not a latency figure.)
import dgram from 'node:dgram';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/feeds/verify.js';
import { sourceRef } from '../../src/feeds/store.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { bundledWorkerCompiler } from '../helpers/compile-worker.js';
import { buildQuery, T } from '../helpers/wire.js';

const NAMES = 200_000;
const EVERY_MS = 4;
/** No answer may take longer, and answering may never pause longer, than this while the list reloads. */
const MAX_WAIT_MS = 400;
const name = (i: number): string => `host${i}.c2-${i % 1013}.example`;

let c2: TestServer;
let lines: string[];
let list: string;

beforeAll(async () => {
  lines = Array.from({ length: NAMES }, (_, i) => name(i));
  // Every query asks for a listed name: answered from the list, never forwarded (the upstream is a
  // closed loopback port, so nothing leaves the machine).
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-reload-load-'));
  list = join(dir, 'c2.txt');
  writeFileSync(list, lines.join('\n') + '\n');
  c2 = await startC2dns({ upstreams: ['127.0.0.1:9'], lists: [{ name: 'c2', path: list, format: 'plain', tags: ['c2'] }] });
  // As a built server compiles updates of big lists: in a worker thread.
  c2.server.feeds.compiler = await bundledWorkerCompiler();
  await c2.server.feeds.idle(); // the start's disk copy
}, 120_000);
afterAll(async () => c2?.close());

const blockedA = (m: Buffer): boolean => m.length >= 16 && (m[3]! & 0x0f) === 0 && m.readUInt16BE(6) > 0 && m.readUInt32BE(m.length - 4) === 0;

describe('reloading a 200,000-name list while a client asks', () => {
  it('answers every query without a long wait, then blocks the new names', async () => {
    const fresh = Array.from({ length: NAMES / 100 }, (_, i) => `new${i}.reloaded.example`);
    const next = [...lines.slice(0, NAMES - fresh.length), ...fresh];
    writeFileSync(`${list}.tmp`, next.join('\n') + '\n');

    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const sentAt = new Map<number, number>();
    const waits: number[] = [];
    const answeredAt: number[] = [];
    let notBlocked = 0;
    sock.on('message', (m) => {
      const at = performance.now();
      const t = sentAt.get(m.readUInt16BE(0));
      if (t === undefined) return;
      sentAt.delete(m.readUInt16BE(0));
      waits.push(at - t);
      answeredAt.push(at);
      if (!blockedA(m)) notBlocked++;
    });
    let id = 0;
    let sent = 0;
    const sentTimes: number[] = [];
    const timer = setInterval(() => {
      id = (id + 1) & 0xffff;
      const q = buildQuery(name((id * 7919) % (NAMES - fresh.length)), T.A);
      q.writeUInt16BE(id, 0);
      sentAt.set(id, performance.now());
      sentTimes.push(performance.now());
      sent++;
      sock.send(q, c2.port, '127.0.0.1');
    }, EVERY_MS);

    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    renameSync(`${list}.tmp`, list);
    const outcome = await c2.server.feeds.refresh(); // what SIGHUP does after the configuration
    const finished = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(timer);
    const deadline = Date.now() + 3000;
    while (sentAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sock.close();

    const during = answeredAt.filter((t) => t >= started && t <= finished);
    const sentDuring = sentTimes.filter((t) => t >= started && t <= finished).length;
    let pause = 0;
    for (let i = 1; i < answeredAt.length; i++) if (answeredAt[i]! >= started && answeredAt[i - 1]! <= finished) pause = Math.max(pause, answeredAt[i]! - answeredAt[i - 1]!);
    const worst = Math.max(...waits);
    console.log(`reload of ${NAMES} names in ${(finished - started).toFixed(0)} ms under ${1000 / EVERY_MS} q/s: ${sent} sent, ${waits.length} answered (${during.length} during the reload), longest wait ${worst.toFixed(1)} ms, longest pause between answers ${pause.toFixed(1)} ms`);

    expect(outcome.get('c2')).toBe('updated');
    expect(sentAt.size).toBe(0); // every query answered
    expect(waits).toHaveLength(sent);
    expect(notBlocked).toBe(0);
    expect(worst).toBeLessThan(MAX_WAIT_MS);
    expect(pause).toBeLessThan(MAX_WAIT_MS);
    // Answering went on while the update was compiled, published and stored, not only around it
    // (measured against what the client managed to send: on a busy machine its timer slips too).
    expect(sentDuring).toBeGreaterThan(0);
    expect(during.length).toBeGreaterThanOrEqual(sentDuring * 0.5);

    expect(blockedA((await ask(c2.port, fresh[0]!, T.A)).raw)).toBe(true);
    expect(c2.server.policy.current.tables.names.match(name(NAMES - 1))).toBeNull(); // dropped by the update
    // The disk copy (written after the publish) is the new list by the time refresh() resolves.
    expect(c2.server.feeds.store.loadMeta(sourceRef(c2.server.feeds.sources[0]!.config))?.sha256).toBe(sha256Hex(next.join('\n') + '\n'));
  }, 120_000);
});
