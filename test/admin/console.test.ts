// The web console over real sockets, against c2dns started from a real config file: pages and
// files with their security headers and size budget, the live stream (a query asked through the
// DNS listener reaches it; tickets where reads need the token), the console's JSON, and the
// CSRF rules every change meets (token, JSON Content-Type, Origin).
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGES } from '../../src/admin/console/pages.js';
import { CONSOLE_CSP } from '../../src/admin/routes/console.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const TOKEN = 'console-test-token-0123456789';
const BUDGET_BYTES = 300 * 1024;

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

interface Req {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Sent as is (no Content-Type added). */
  raw?: string;
}

function request(port: number, path: string, o: Req = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  let body = o.raw;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        if ((res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text) as Record<string, unknown>;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };

interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Resolves with the first event that satisfies `pred` (already received or later). */
  next(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
  /** The body of a refused stream (JSON error). */
  text: string;
}

/** Opens a server-sent event stream with node:http and parses events as they arrive. */
function openStream(port: number, path: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      const events: SseEvent[] = [];
      const waiters: { pred: (e: SseEvent) => boolean; done: (e: SseEvent) => void }[] = [];
      let buf = '';
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const e: SseEvent = { event: 'message', id: null, data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'event') e.event = v;
            else if (k === 'id') e.id = v;
            else if (k === 'data') {
              e.data += (hasData ? '\n' : '') + v;
              hasData = true;
            }
          }
          if (!hasData) continue;
          events.push(e);
          for (const w of [...waiters]) {
            if (w.pred(e)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.done(e);
            }
          }
        }
      });
      const stream: Stream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        get text() {
          return text;
        },
        next(pred, timeoutMs = 2000) {
          const have = events.find(pred);
          if (have !== undefined) return Promise.resolve(have);
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((x) => x.event).join(',')}`)), timeoutMs);
            waiters.push({
              pred,
              done: (e) => {
                clearTimeout(timer);
                ok(e);
              },
            });
          });
        },
        close: () => req.destroy(),
      };
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

const query = (e: SseEvent): Record<string, unknown> => JSON.parse(e.data) as Record<string, unknown>;

let up: Upstream;
/** Admin on loopback: console reads open, changes need the token. History on. */
let lo: TestServer;
/** Admin on 0.0.0.0 (admin.allow keeps it to loopback callers): reads need the token. History off. */
let off: TestServer;
/** Admin on 0.0.0.0 with admin.consoleAuth: none. */
let open: TestServer;
const port = (s: TestServer): number => s.server.admin!.address.port;

beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
  const base = { upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2', '3cx'] }] };
  const files = { 'c2.txt': 'akamaicontainer.com\nmsstorageazure.com\n' };
  [lo, off, open] = await Promise.all([
    startC2dns({ ...base, admin: { listen: '127.0.0.1:0', token: TOKEN } }, files),
    startC2dns({ ...base, history: { enabled: false }, admin: { listen: '0.0.0.0:0', allow: ['127.0.0.0/8'], token: TOKEN } }, files),
    startC2dns({ ...base, history: { enabled: false }, admin: { listen: '0.0.0.0:0', allow: ['127.0.0.0/8'], token: TOKEN, consoleAuth: 'none' } }, files),
  ]);
});

afterAll(async () => {
  await Promise.all([lo?.close(), off?.close(), open?.close()]);
  await up?.close();
});

describe('pages and files', () => {
  it('every page is server-rendered HTML with the strict CSP, nosniff, no-referrer, no framing, and nothing inline', async () => {
    for (const p of PAGES) {
      for (const s of [lo, off]) {
        const r = await request(port(s), p.path);
        expect(r.status, p.path).toBe(200);
        expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
        expect(CONSOLE_CSP).toBe(
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
        expect(r.headers['x-content-type-options']).toBe('nosniff');
        expect(r.headers['referrer-policy']).toBe('no-referrer');
        expect(r.headers['x-frame-options']).toBe('DENY');
        expect(r.headers['set-cookie']).toBeUndefined();
        expect(r.text).toMatch(/^<!doctype html>\n<html lang="en">/);
        expect(r.text).toContain(`<title>${p.title} · c2dns</title>`);
        expect(r.text).toContain(`<a href="${p.path}" aria-current="page">`);
        expect(r.text).toContain('<main id="main"');
        expect(r.text).toContain('<script type="module" src="/assets/console.js"></script>');
        expect(r.text).not.toMatch(/<script>|<script (?![^>]*src=)| style=|<style|javascript:|https?:\/\//);
        // Every input, select and textarea has a label.
        for (const m of r.text.matchAll(/<(?:input|select|textarea)[^>]* id="([^"]+)"/g)) expect(r.text, `${p.path} #${m[1]}`).toContain(`<label for="${m[1]}"`);
      }
    }
  });

  it('the script and the style sheet are served with their types and the CSP; HEAD works; an unknown file is 404', async () => {
    const js = await request(port(lo), '/assets/console.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(js.text).toContain('sessionStorage');
    expect(js.text).not.toMatch(/document\.cookie|innerHTML|eval\(|new Function/);
    const css = await request(port(lo), '/assets/console.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await request(port(lo), '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect((await request(port(lo), '/assets/nope.js')).status).toBe(404);
    expect((await request(port(lo), '/assets/..%2Fconsole.ts')).status).toBe(404);
  });

  it('pages and files together stay within the 300 KB budget', async () => {
    const paths = [...PAGES.map((p) => p.path), '/assets/console.js', '/assets/console.css'];
    const sizes: Record<string, number> = {};
    for (const path of paths) sizes[path] = Buffer.byteLength((await request(port(lo), path)).text);
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    console.log(`console sizes (bytes): ${JSON.stringify(sizes)}, total ${total}`);
    expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('pages hold no data, so they need no token; their data does off loopback unless admin.consoleAuth is none', async () => {
    expect((await request(port(off), '/')).status).toBe(200);
    const denied = await request(port(off), '/api/console/overview');
    expect(denied.status).toBe(401);
    expect((await request(port(off), '/api/console/overview', { headers: bearer })).status).toBe(200);
    expect((await request(port(lo), '/api/console/overview')).status).toBe(200);
    expect((await request(port(open), '/api/console/overview')).status).toBe(200);
    expect((await request(port(open), '/api/status')).status).toBe(200);
    // consoleAuth none opens reads only: changes still need the token.
    expect((await request(port(open), '/api/block', { method: 'POST', body: { names: ['x.example'], reason: 'r' } })).status).toBe(401);
  });
});

describe('live queries (server-sent events)', () => {
  it('a query asked through the DNS listener reaches an open stream with its decision', async () => {
    const s = await openStream(port(lo), '/api/console/stream');
    try {
      expect(s.status).toBe(200);
      expect(s.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(s.headers['content-security-policy']).toBe(CONSOLE_CSP);
      await s.next((e) => e.event === 'hello');
      const t0 = Date.now();
      await ask(lo.port, 'cdn.akamaicontainer.com', T.A);
      const hit = query(await s.next((e) => e.event === 'query' && query(e).qname === 'cdn.akamaicontainer.com'));
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(hit).toMatchObject({ client: '127.0.0.1', qtype: 'A', action: 'blocked', decidedBy: 'list', verdict: 'block', list: 'c2', rule: 'akamaicontainer.com', reason: 'list=c2 rule=akamaicontainer.com', chain: ['cdn.akamaicontainer.com'] });
      await ask(lo.port, 'example.org', T.A);
      const fwd = query(await s.next((e) => e.event === 'query' && query(e).qname === 'example.org'));
      expect(fwd).toMatchObject({ action: 'allowed', rcode: 'NOERROR', reason: null, upstream: `127.0.0.1:${up.port}` });
    } finally {
      s.close();
    }
  });

  it('filters by client, name, action and list, and replays the newest matching queries first', async () => {
    await ask(lo.port, 'msstorageazure.com', T.AAAA);
    await ask(lo.port, 'example.org', T.A);
    const s = await openStream(port(lo), '/api/console/stream?action=blocked&list=c2&client=127.0.0&name=STORAGE');
    try {
      const replayed = query(await s.next((e) => e.event === 'query'));
      expect(replayed).toMatchObject({ qname: 'msstorageazure.com', qtype: 'AAAA', action: 'blocked' });
      await ask(lo.port, 'example.org', T.A);
      await ask(lo.port, 'x.msstorageazure.com', T.A);
      await s.next((e) => e.event === 'query' && query(e).qname === 'x.msstorageazure.com');
      expect(s.events.filter((e) => e.event === 'query').every((e) => (query(e).qname as string).includes('storage'))).toBe(true);
      // Resume after a known id: only later queries come back.
      const last = Number(s.events.at(-1)!.id);
      const again = await openStream(port(lo), `/api/console/stream?name=storage&after=${last}`);
      await again.next((e) => e.event === 'hello');
      await new Promise((r) => setTimeout(r, 100));
      expect(again.events.filter((e) => e.event === 'query')).toEqual([]);
      again.close();
    } finally {
      s.close();
    }
    const j = await request(port(lo), '/api/console/queries?name=storage&limit=1');
    expect((j.json.queries as unknown[]).length).toBe(1);
  });

  it('is refused without text/event-stream in Accept (406)', async () => {
    const r = await request(port(lo), '/api/console/stream', { headers: { accept: 'application/json' } });
    expect(r.status).toBe(406);
    expect(r.json.error).toBe('not_acceptable');
  });

  it('where reads need the token: 401 without it, a single-use ticket bought with the token opens it', async () => {
    const refused = await openStream(port(off), '/api/console/stream');
    expect(refused.status).toBe(401);
    refused.close();
    expect((await request(port(off), '/api/console/ticket', { method: 'POST' })).status).toBe(401);
    const t = await request(port(off), '/api/console/ticket', { method: 'POST', headers: bearer });
    expect(t.status).toBe(201);
    const ticket = t.json.ticket as string;
    expect(Date.parse(t.json.expiresAt as string)).toBeGreaterThan(Date.now());
    const s = await openStream(port(off), `/api/console/stream?ticket=${encodeURIComponent(ticket)}`);
    try {
      expect(s.status).toBe(200);
      await s.next((e) => e.event === 'hello');
      await ask(off.port, 'akamaicontainer.com', T.A);
      expect(query(await s.next((e) => e.event === 'query' && query(e).qname === 'akamaicontainer.com')).action).toBe('blocked');
    } finally {
      s.close();
    }
    const reused = await openStream(port(off), `/api/console/stream?ticket=${encodeURIComponent(ticket)}`);
    expect(reused.status).toBe(401);
    await new Promise((r) => setTimeout(r, 50));
    expect(reused.text).toMatch(/already used/);
    reused.close();
    const forged = await openStream(port(off), `/api/console/stream?ticket=${encodeURIComponent(ticket.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))}`);
    expect(forged.status).toBe(401);
    forged.close();
    // The bearer header works too (curl), and the ticket is no way around the token for other reads.
    const withHeader = await openStream(port(off), '/api/console/stream', bearer);
    expect(withHeader.status).toBe(200);
    withHeader.close();
    const t2 = await request(port(off), '/api/console/ticket', { method: 'POST', headers: bearer });
    expect((await request(port(off), `/api/console/overview?ticket=${encodeURIComponent(t2.json.ticket as string)}`)).status).toBe(401);
  });
});

describe('changes: token, JSON and Origin (CSRF)', () => {
  it('an emergency block without the token is 401; with it, it is in force and DNS answers it blocked', async () => {
    const body = { names: ['console-block.example'], reason: 'console test', expiresIn: '1h' };
    expect((await request(port(lo), '/api/block', { method: 'POST', body })).status).toBe(401);
    expect((await request(port(lo), '/api/block', { method: 'POST', body, headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const ok = await request(port(lo), '/api/block', { method: 'POST', body, headers: bearer });
    expect(ok.status).toBe(201);
    const blocks = (await request(port(lo), '/api/block')).json.blocks as { name: string }[];
    expect(blocks.map((b) => b.name)).toContain('console-block.example');
    const a = await ask(lo.port, 'www.console-block.example', T.A);
    expect(a.packet.answers[0]).toMatchObject({ address: '0.0.0.0' });
    expect((await request(port(lo), '/api/block/console-block.example', { method: 'DELETE', headers: bearer })).status).toBe(200);
  });

  it('refuses a request from a page of another origin (403), and accepts this listener as Origin', async () => {
    const body = { names: ['origin.example'], reason: 'x' };
    const host = `127.0.0.1:${port(lo)}`;
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${port(lo) + 1}`, `https://localhost:${port(lo)}`]) {
      const r = await request(port(lo), '/api/block', { method: 'POST', body, headers: { ...bearer, origin } });
      expect(r.status, origin).toBe(403);
      expect(r.json.error).toBe('forbidden');
      expect(r.json.detail).toMatch(/refused: the admin listener only answers pages it served itself/);
    }
    expect((await request(port(lo), '/api/console/ticket', { method: 'POST', headers: { ...bearer, origin: 'http://evil.example' } })).status).toBe(403);
    expect((await request(port(lo), '/api/console/overview', { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    const same = await request(port(lo), '/api/block', { method: 'POST', body, headers: { ...bearer, origin: `http://${host}` } });
    expect(same.status).toBe(201);
    expect((await request(port(lo), '/api/block/origin.example', { method: 'DELETE', headers: { ...bearer, origin: `http://${host}` } })).status).toBe(200);
  });

  it('a change must declare JSON: a form type or a body without Content-Type is 415', async () => {
    const raw = JSON.stringify({ names: ['form.example'], reason: 'x' });
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const r = await request(port(lo), '/api/block', { method: 'POST', raw, headers: { ...bearer, 'content-type': type } });
      expect(r.status, type).toBe(415);
    }
    expect((await request(port(lo), '/api/block', { method: 'POST', raw, headers: bearer })).status).toBe(415);
    // A change without a body needs no Content-Type (DELETE, a ticket).
    expect((await request(port(lo), '/api/console/ticket', { method: 'POST', headers: bearer })).status).toBe(201);
  });
});

describe('console data', () => {
  it('overview: per-minute counts, C2 hits of the last 24 h with client and name, lists, upstreams', async () => {
    await ask(lo.port, 'akamaicontainer.com', T.A);
    const o = (await request(port(lo), '/api/console/overview')).json as Record<string, any>;
    expect(o.traffic.series.queries).toHaveLength(61);
    expect(o.traffic.series.queries.at(-1)).toBeGreaterThanOrEqual(1);
    expect(o.traffic.series.blocked.at(-1)).toBeGreaterThanOrEqual(1);
    expect(o.traffic.sparkline.queries.split(' ')).toHaveLength(61);
    expect(o.c2Hits).toEqual(expect.arrayContaining([expect.objectContaining({ client: '127.0.0.1', list: 'c2', rule: 'akamaicontainer.com' })]));
    expect(o.lists).toEqual([expect.objectContaining({ list: 'c2', kind: 'block', loaded: true, entries: 2, lastFailure: null })]);
    expect(o.upstreams).toEqual([expect.objectContaining({ upstream: `127.0.0.1:${up.port}`, healthy: true })]);
    expect(o.quarantine).toEqual([]);
  });

  it('clients from the query history when it is on, with a client timeline', async () => {
    await ask(lo.port, 'akamaicontainer.com', T.A);
    let c: Record<string, any> = {};
    const end = Date.now() + 8000;
    // The history writes its batches every second; the console keeps a summary for 2 s.
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 300));
      c = (await request(port(lo), '/api/console/clients?window=15m')).json;
      if ((c.topBlocked as { name: string }[]).some((b) => b.name === 'akamaicontainer.com')) break;
    }
    expect(c.source).toBe('history');
    expect(c.topClients[0]).toMatchObject({ client: '127.0.0.1' });
    expect(c.topClients[0].blocked).toBeGreaterThanOrEqual(1);
    expect(c.topBlocked).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'akamaicontainer.com', clients: 1 })]));
    const t = (await request(port(lo), '/api/console/clients/127.0.0.1?window=15m')).json as Record<string, any>;
    expect(t).toMatchObject({ client: '127.0.0.1', source: 'history', quarantine: null });
    expect(t.identity).toMatchObject({ mac: null, clientName: null });
    expect(t.timeline.some((r: { name: string; action: string }) => r.name === 'akamaicontainer.com' && r.action === 'blocked')).toBe(true);
    expect((await request(port(lo), '/api/console/clients?window=2y')).status).toBe(400);
    expect((await request(port(lo), '/api/console/clients/aa:bb:cc:dd:ee:ff')).status).toBe(404);
  });

  it('clients from the in-memory ring when the history is off, and says so', async () => {
    await ask(off.port, 'msstorageazure.com', T.A);
    const c = (await request(port(off), '/api/console/clients?window=1h', { headers: bearer })).json as Record<string, any>;
    expect(c.source).toBe('memory');
    expect(c.note).toMatch(/history is off/);
    expect(c.topBlocked).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'msstorageazure.com' })]));
    const t = (await request(port(off), '/api/console/clients/127.0.0.1', { headers: bearer })).json as Record<string, any>;
    expect(t.source).toBe('memory');
    expect(t.timeline[0]).toMatchObject({ name: 'msstorageazure.com', action: 'blocked', reason: 'list=c2 rule=msstorageazure.com' });
  });
});
