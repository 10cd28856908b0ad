// End to end: a running c2dns records queries, and a list refresh that adds a
// name raises a retro-hunt security event for the client that resolved it earlier.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { hunt } from '../../src/history/hunt.js';

let up: Upstream;
let c2: TestServer;
beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'late-c2.example 1': [{ name: 'late-c2.example', type: T.A, ttl: 60, address: '203.0.113.66' }] }));
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'c2', path: 'c2.txt', refresh: '0 0 1 1 *' }] }, { 'c2.txt': 'early-c2.example\n' });
});
afterAll(async () => {
  await c2.close();
  await up.close();
});

it('records, then retro-hunts a name added by a refresh', async () => {
  const r = await ask(c2.port, 'late-c2.example', T.A);
  expect(r.packet.answers.length).toBeGreaterThanOrEqual(0);
  await ask(c2.port, 'early-c2.example', T.A);
  writeFileSync(join(c2.dir, 'c2.txt'), 'early-c2.example\nlate-c2.example\n');
  await new Promise((res) => setTimeout(res, 5));
  expect((await c2.server.feeds.refresh()).get('c2')).toBe('updated');
  const events = await (async () => {
    for (let i = 0; i < 200; i++) {
      const ev = c2.server.alerting!.events.since(0).filter((e) => e.type === 'retro-hunt');
      if (ev.length > 0) return ev;
      await new Promise((res) => setTimeout(res, 20));
    }
    return [];
  })();
  console.log(JSON.stringify(events, null, 1));
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ type: 'retro-hunt', client: '127.0.0.1', name: 'late-c2.example', indicator: 'late-c2.example', count: 1, actions: ['allowed'], answers: ['203.0.113.66'] });
  const hits = await hunt(join(c2.dir, 'state', 'history'), { names: new Set(['early-c2.example']), since: 0 });
  expect(hits[0]).toMatchObject({ actions: ['blocked'], answers: ['0.0.0.0'] });
});
