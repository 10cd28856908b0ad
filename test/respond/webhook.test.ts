// Webhook sink over loopback HTTP: a receiver that fails (HTTP 500, then connection refused)
// before it recovers still gets every event, in order; Slack/Teams payloads; headers; timeouts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlerting } from '../../src/respond/alerting.js';
import { alertsSchema } from '../../src/respond/config.js';
import { SecurityEvents, type C2HitEvent, type SecurityEvent } from '../../src/respond/security-events.js';
import { WebhookSink, webhookBody } from '../../src/respond/sinks/webhook.js';
import { Spool } from '../../src/respond/spool.js';
import { query, recordingLog, rule, waitFor } from './helpers.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  url: string;
  body: Record<string, unknown>;
}

type Reply = (r: Received) => number | 'hang';

const servers: http.Server[] = [];
const dirs: string[] = [];

function listen(reply: Reply, port = 0): Promise<{ server: http.Server; port: number; got: Received[] }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { headers: req.headers, url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> };
      const status = reply(r);
      if (status === 'hang') return;
      if (status >= 200 && status < 300) got.push(r);
      res.writeHead(status, status >= 300 && status < 400 ? { location: 'http://127.0.0.1:1/' } : {}).end('ok');
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, got })));
}

function stop(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'c2dns-webhook-'));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => (s.listening ? stop(s) : Promise.resolve())));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('at-least-once through a failing receiver', () => {
  it('HTTP 500 for the first attempts, then connection refused, then recovery: every event arrives once, in order', async () => {
    let attempts500 = 0;
    const first = await listen(() => {
      attempts500++;
      return 500;
    });
    const port = first.port;
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    const sink = new WebhookSink({ name: 'hook', url: `http://127.0.0.1:${port}/alerts`, timeoutMs: 1000 });
    const spool = new Spool(sink, { dir: join(tmp(), 'hook'), retryBaseMs: 5, retryMaxMs: 30 });
    se.subscribe((e) => spool.enqueue(e));
    const sent: SecurityEvent[] = [];
    for (let i = 0; i < 20; i++) sent.push(se.emit({ type: 'test-event', n: i }));

    await waitFor(() => attempts500 >= 3 && spool.stats().failedAttempts >= 3, 3000, 'three 500s');
    await stop(first.server); // now: connection refused
    const refusedFrom = spool.stats().failedAttempts;
    await waitFor(() => spool.stats().failedAttempts >= refusedFrom + 2, 3000, 'refused attempts');
    expect(spool.stats().lastError).toMatch(/ECONNREFUSED/);
    expect(spool.stats().sent).toBe(0);

    const second = await listen(() => 200, port);
    // The receiver records a request before the sender has read the answer: wait for both.
    await waitFor(() => second.got.length >= 20 && spool.stats().sent === 20, 5000, 'all events');
    expect(second.got.map((r) => r.body.id)).toEqual(sent.map((e) => e.id));
    expect(second.got.map((r) => r.body.n)).toEqual([...Array(20).keys()]);
    expect(spool.stats()).toMatchObject({ sent: 20, droppedOverflow: 0, queued: 0 });
    expect(spool.stats().failedAttempts).toBeGreaterThanOrEqual(5);
    await spool.close();
  });
});

describe('payloads', () => {
  const hit = (): SecurityEvent => {
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    let e: SecurityEvent | null = null;
    se.subscribe((x) => (e = x));
    se.onQuery(query('10.1.2.3', 'x.evil<script>.example', rule('evil<script>.example', ['c2', 'apt&x'], 'intel')));
    return e!;
  };

  it('json: the event as is, with custom headers', async () => {
    const rx = await listen(() => 204);
    const e = hit();
    await new WebhookSink({ name: 'j', url: `http://127.0.0.1:${rx.port}/in`, headers: { authorization: 'Bearer s3cret', 'x-tenant': 'acme' } }).send(e);
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.body).toEqual(JSON.parse(JSON.stringify(e)));
    expect(rx.got[0]!.headers).toMatchObject({ authorization: 'Bearer s3cret', 'x-tenant': 'acme', 'content-type': 'application/json' });
  });

  it('slack: {text} with a summary, mrkdwn control characters escaped', async () => {
    const rx = await listen(() => 200);
    await new WebhookSink({ name: 's', url: `http://127.0.0.1:${rx.port}/services/T000/B000/XXXX`, format: 'slack' }).send(hit());
    const body = rx.got[0]!.body;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toBe('[c2dns high] C2 domain blocked: 10.1.2.3 asked x.evil&lt;script&gt;.example A (list intel, rule evil&lt;script&gt;.example, tags c2,apt&amp;x)');
  });

  it('teams: a MessageCard with text, summary and facts', () => {
    const body = webhookBody(hit(), 'teams') as Record<string, unknown>;
    expect(body).toMatchObject({ '@type': 'MessageCard', themeColor: 'E67E22' });
    expect(body.text).toMatch(/^\[c2dns high\] C2 domain blocked: 10\.1\.2\.3/);
    const facts = (body.sections as { facts: { name: string; value: string }[] }[])[0]!.facts;
    expect(facts).toContainEqual({ name: 'client', value: '10.1.2.3' });
  });

  it('a summary event reads as a count over the window', () => {
    const se = new SecurityEvents({ sweepIntervalMs: 0, windowSeconds: 600 });
    const got: SecurityEvent[] = [];
    se.subscribe((e) => got.push(e));
    const r = rule('evil.example');
    for (let i = 0; i < 3; i++) se.onQuery(query('10.1.2.3', 'evil.example', r));
    se.stop();
    expect((webhookBody(got[1]!, 'slack') as { text: string }).text).toMatch(/^\[c2dns high\] C2 domain blocked 3 times in 10 min: 10\.1\.2\.3 → evil\.example \(list intel\)/);
  });
});

describe('failures', () => {
  it('non-2xx (including redirects) fails; errors name the origin, never the secret path', async () => {
    const rx = await listen((r) => (r.url.endsWith('moved') ? 301 : 400));
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    const e = se.emit({ type: 'x' });
    await expect(new WebhookSink({ name: 'h', url: `http://127.0.0.1:${rx.port}/hooks/SECRET-TOKEN` }).send(e)).rejects.toThrow(`webhook h: HTTP 400 from http://127.0.0.1:${rx.port}`);
    const err = await new WebhookSink({ name: 'h', url: `http://127.0.0.1:${rx.port}/SECRET/moved` }).send(e).catch((x: Error) => x);
    expect(String(err)).toMatch(/HTTP 301/);
    expect(String(err)).not.toMatch(/SECRET/);
  });

  it('a receiver that never answers fails within timeoutMs', async () => {
    const rx = await listen(() => 'hang');
    const e = new SecurityEvents({ sweepIntervalMs: 0 }).emit({ type: 'x' });
    const t = Date.now();
    await expect(new WebhookSink({ name: 'slow', url: `http://127.0.0.1:${rx.port}/`, timeoutMs: 150 }).send(e)).rejects.toThrow(/within 150 ms/);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});

describe('createAlerting', () => {
  it('wires events → spool → webhook from the parsed config, and close() drains', async () => {
    const rx = await listen(() => 200);
    const cfg = alertsSchema.parse({ windowSeconds: 60, sinks: [{ type: 'webhook', url: `http://127.0.0.1:${rx.port}/a`, format: 'json' }] });
    const state = tmp();
    const log = recordingLog();
    const a = createAlerting(cfg, state, log, { sweepIntervalMs: 0 });
    expect(a.sinks.map((s) => s.sink.name)).toEqual([expect.stringMatching(/^webhook-[0-9a-f]{10}$/)]);
    const r = rule('evil.example');
    a.events.onQuery(query('10.9.9.9', 'evil.example', r));
    a.events.onQuery(query('10.9.9.9', 'evil.example', r));
    expect(await a.close(2000)).toBe(true);
    expect(rx.got.map((x) => [x.body.type, x.body.count])).toEqual([
      ['c2-hit', 1],
      ['c2-hit-summary', 2],
    ]);
    expect(a.stats()[0]).toMatchObject({ sent: 2, queued: 0 });
    expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
  });

  it('a sink added by a reload gets the events raised from then on; without sinks they are only kept for the API', async () => {
    const rx = await listen(() => 200);
    const a = createAlerting(alertsSchema.parse({}), tmp(), recordingLog(), { sweepIntervalMs: 0 });
    const r = rule('evil.example');
    a.events.onQuery(query('10.9.9.1', 'evil.example', r));
    await a.setSinks(alertsSchema.parse({ sinks: [{ type: 'webhook', url: `http://127.0.0.1:${rx.port}/a`, format: 'json' }] }).sinks);
    a.events.onQuery(query('10.9.9.2', 'evil.example', r));
    await a.setSinks([]);
    a.events.onQuery(query('10.9.9.3', 'evil.example', r));
    expect(a.events.since(0).map((e) => (e as C2HitEvent).client)).toEqual(['10.9.9.1', '10.9.9.2', '10.9.9.3']);
    expect(rx.got.map((x) => [x.body.type, x.body.client])).toEqual([['c2-hit', '10.9.9.2']]);
    await a.close(2000);
  });
});
