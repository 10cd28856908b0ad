// End to end with a real c2dns: SecurityEvents added to the running server's observers (what
// app.ts will do), real queries over UDP and TCP from two clients to lists tagged c2 and not,
// events delivered through the spool to a file sink; stale-feed checks on the server's own feeds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlerting } from '../../src/respond/alerting.js';
import { alertsSchema } from '../../src/respond/config.js';
import type { C2HitSummaryEvent, SecurityEvent } from '../../src/respond/security-events.js';
import { toEventView } from '../../src/respond/view.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { T } from '../helpers/wire.js';
import { Clock, recordingLog } from './helpers.js';

let c2: TestServer;

beforeAll(async () => {
  c2 = await startC2dns(
    {
      upstreams: ['127.0.0.1:9'], // never used: every query below is blocked
      lists: [
        { name: 'intel', path: 'c2.txt', tags: ['c2', '3cx'] },
        { name: 'ads', path: 'ads.txt', tags: ['ads'] },
      ],
    },
    { 'c2.txt': 'msstorageazure.com\nakamaicontainer.com\n', 'ads.txt': 'ads.example\n' },
  );
});
afterAll(async () => {
  await c2?.close();
});

describe('alerts from real blocked answers', () => {
  it('c2-hit per (client, rule), a summary for repeats, nothing for non-C2 blocks; stale lists; file sink', async () => {
    const clock = new Clock(Date.now());
    const sinkFile = join(c2.dir, 'alerts', 'events.jsonl');
    const cfg = alertsSchema.parse({ windowSeconds: 600, staleFeedOverrides: { ads: 0 }, sinks: [{ type: 'file', path: sinkFile }] });
    const log = recordingLog();
    const alerting = createAlerting(cfg, join(c2.dir, 'state'), log, { now: clock.now, sweepIntervalMs: 0 });
    c2.server.observers.push(alerting.events);

    const asks: [string, number, string, boolean][] = [
      ['cdn.msstorageazure.com', T.A, '127.0.0.1', false],
      ['cdn.msstorageazure.com', T.AAAA, '127.0.0.1', true],
      ['msstorageazure.com', T.A, '127.0.0.1', false],
      ['akamaicontainer.com', T.AAAA, '127.0.0.1', false],
      ['msstorageazure.com', T.A, '127.0.0.2', false],
      ['ads.example', T.A, '127.0.0.1', false],
    ];
    for (const [name, type, from, tcp] of asks) {
      const r = await ask(c2.port, name, type, { from, tcp });
      expect(r.packet.header.rcode).toBe(0);
    }
    const lines = await c2.waitForLog(asks.length, 3000);
    expect(lines.map((l) => l.action)).toEqual(asks.map(() => 'blocked'));
    expect(alerting.events.counters).toMatchObject({ c2Hits: 3, aggregated: 2 });
    clock.advance(600_000);
    alerting.events.sweep();
    // Stale check against the server's own feed state: 7 h later intel is stale, ads is exempt (0).
    const stale = alerting.events.checkStaleFeeds(c2.server.feeds.sources, clock.t + 7 * 3600_000);
    expect(stale.map((e) => [e.type, e.list])).toEqual([['stale-feed', 'intel']]);
    expect(alerting.events.staleLists().map((s) => s.list)).toEqual(['intel']);

    expect(await alerting.close(3000)).toBe(true);
    const written = readFileSync(sinkFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SecurityEvent & Record<string, unknown>);
    expect(written.map((e) => [e.type, e.client ?? e.list, e.rule ?? null])).toEqual([
      ['c2-hit', '127.0.0.1', 'msstorageazure.com'],
      ['c2-hit', '127.0.0.1', 'akamaicontainer.com'],
      ['c2-hit', '127.0.0.2', 'msstorageazure.com'],
      ['c2-hit-summary', '127.0.0.1', 'msstorageazure.com'],
      ['stale-feed', 'intel', null],
    ]);
    const summary = written[3] as unknown as C2HitSummaryEvent;
    expect(summary).toMatchObject({ count: 3, qname: 'cdn.msstorageazure.com', qtype: 'A', transport: 'udp', list: 'intel', tags: ['c2', '3cx'], qnames: ['cdn.msstorageazure.com', 'msstorageazure.com'], summaryOf: written[0]!.id });
    expect(written[0]!.clientPort).toBe(lines[0]!.clientPort);
    expect(written[0]!.identity).toBeNull();

    // The admin API's view of the same events.
    const views = alerting.events.since(0).map(toEventView);
    expect(views.map((v) => v.kind)).toEqual(['c2-hit', 'c2-hit', 'c2-hit', 'c2-hit-summary', 'stale-feed']);
    expect(views[0]).toMatchObject({ client: '127.0.0.1', message: expect.stringMatching(/^C2 domain blocked: 127\.0\.0\.1 asked cdn\.msstorageazure\.com A/), details: { rule: 'msstorageazure.com', tags: ['c2', '3cx'] } });
    expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
  });
});
