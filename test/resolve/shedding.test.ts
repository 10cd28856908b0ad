// Load shedding (upstream.maxPending, issue 10 item 10): at most maxPending questions are asked
// upstream at once; beyond that a new one is answered REFUSED at once (or not at all with
// upstream.overload: drop), counted and not logged, and the others keep their answers.
import { afterEach, describe, expect, it } from 'vitest';
import { ForwardStage } from '../../src/resolve/forward.js';
import type { Answer } from '../../src/resolve/types.js';
import { ask } from '../helpers/client.js';
import { startC2dns } from '../helpers/c2dns.js';
import { query } from '../helpers/stage.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { decode, T } from '../helpers/wire.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

/** Answers "slow.*" after 300 ms, the rest at once. */
async function upstream(): Promise<Upstream> {
  const up = await startUpstream((q) => ({ answers: [{ name: q.name, type: T.A, address: '192.0.2.1', ttl: 60 }], ...(q.name.startsWith('slow') ? { delayMs: 300 } : {}) }));
  open.push(up);
  return up;
}

describe('load shedding', () => {
  for (const overload of ['refuse', 'drop'] as const) {
    it(`sheds questions beyond maxPending (${overload}), and takes new ones once answers come back`, async () => {
      const up = await upstream();
      const f = new ForwardStage({ upstreams: [{ host: '127.0.0.1', port: up.port, family: 4 }], timeoutMs: 1000, penaltyMs: 0, maxPending: 3, overload });
      try {
        const pending = [1, 2, 3].map((i) => f.resolve(query(`slow${i}.example`, T.A)) as Promise<Answer>);
        expect(f.pending).toBe(3);
        const shed = f.resolve(query('extra.example', T.A));
        expect(shed).not.toBeInstanceOf(Promise);
        const a = shed as Answer;
        expect(a.unlogged).toBe(true);
        if (overload === 'refuse') {
          expect(decode(a.reply!).header.rcode).toBe(5);
        } else expect(a.reply).toBeNull();
        expect(f.shed).toBe(1);
        expect(up.received.some((q) => q.name === 'extra.example')).toBe(false);
        for (const p of pending) expect((await p).action).toBe('allowed');
        expect(f.pending).toBe(0);
        expect((await f.resolve(query('after.example', T.A))).action).toBe('allowed');
      } finally {
        f.close();
      }
    });
  }

  it('end to end: queries over the bound are REFUSED and counted in c2dns_overload_shed_total, not logged', async () => {
    const up = await upstream();
    const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], cache: { maxEntries: 0 }, upstream: { maxPending: 2 } });
    open.push(c2);
    const slow = [1, 2].map((i) => ask(c2.port, `slow${i}.e2e.test`, T.A, { timeoutMs: 2000 }));
    await new Promise((r) => setTimeout(r, 50));
    const shed = await ask(c2.port, 'shed.e2e.test', T.A, { timeoutMs: 2000 });
    expect(shed.packet.header.rcode).toBe(5);
    for (const r of await Promise.all(slow)) expect(r.packet.answers).toHaveLength(1);
    const text = await c2.server.metrics.registry.getSingleMetricAsString('c2dns_overload_shed_total');
    expect(text).toMatch(/^c2dns_overload_shed_total 1$/m);
    const lines = await c2.waitForLog(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.map((l) => l.qname).sort()).toEqual(['slow1.e2e.test', 'slow2.e2e.test']);
  });
});
