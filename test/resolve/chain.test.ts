// The chain is one list: the README's diagram, the start-up log and /api/status all show it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHAIN, composeChain } from '../../src/resolve/chain.js';
import type { StageModule } from '../../src/resolve/module.js';
import type { Answer, Query, Stage } from '../../src/resolve/types.js';
import { startC2dns } from '../helpers/c2dns.js';

describe('the stage chain', () => {
  it('is drawn in the README exactly as the list in src/resolve/chain.ts', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const line = /^ {4}listener \(UDP\/TCP\) → (.+)$/m.exec(readme);
    expect(line, 'the diagram line in README.md').not.toBeNull();
    expect(line![1]!.split(' → ')).toEqual(CHAIN.map((m) => m.name));
  });

  it('composes enabled modules in order, each handed the next, and names them', () => {
    const order: string[] = [];
    const mod = (name: string, on = true): StageModule => ({
      name,
      enabled: () => on,
      create: (_d, next): Stage => ({
        resolve: (q: Query): Answer | Promise<Answer> => {
          order.push(name);
          return next === null ? { action: 'allowed', reply: null, stored: null, upstream: null } : next.resolve(q);
        },
      }),
    });
    const chain = composeChain({} as never, [mod('a'), mod('off', false), mod('b'), mod('last')]);
    expect(chain.names).toEqual(['a', 'b', 'last']);
    void chain.head.resolve({} as Query);
    expect(order).toEqual(['a', 'b', 'last']);
  });

  it('is what a running server reports (cache, quarantine and conditional only when enabled)', async () => {
    const c2 = await startC2dns({ upstreams: ['127.0.0.1:9'], cache: { maxEntries: 0 } });
    try {
      expect(c2.server.chain).toEqual(CHAIN.map((m) => m.name).filter((n) => n !== 'cache' && n !== 'quarantine' && n !== 'conditional'));
      expect(c2.server.chain).toContain('response');
      const status = (await (await fetch(`${c2.server.admin!.url}/api/status`)).json()) as { chain: string[] };
      expect(status.chain).toEqual(c2.server.chain);
    } finally {
      await c2.close();
    }
  });
});
