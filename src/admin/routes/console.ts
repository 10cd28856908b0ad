// The web console: its pages and files (not part of the OpenAPI description), the JSON it is
// drawn from, the live query stream (server-sent events) and the tickets that open it.
// Every console response carries a strict Content-Security-Policy; the changes the console makes
// go through the ordinary API routes (block, unblock, release, refresh) with the bearer token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { consoleAssets } from '../console/assets.js';
import type { ConsoleFeed } from '../console/feed.js';
import { PAGES, renderPage } from '../console/pages.js';
import type { TailEntry, TailFilter } from '../console/tail.js';
import { ConsoleViews } from '../console/views.js';
import type { AdminContext } from '../context.js';
import { badRequest, HttpError, notFound } from '../http.js';
import type { Route, RouteResult } from './types.js';

/** Sent with every console response: pages, files, the console's JSON and its stream. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Open live streams at most (each holds a connection; the listener allows 256). */
export const MAX_STREAMS = 16;
/** Queries sent to one stream per second at most; beyond, they are counted and reported as dropped. */
export const STREAM_MAX_PER_SECOND = 200;
/** Queries replayed when a stream opens (the newest, matching its filters). */
export const STREAM_BACKLOG = 200;
/** Bytes waiting in a stream's socket beyond which queries are dropped rather than queued. */
const STREAM_MAX_BUFFERED = 256 * 1024;
const HEARTBEAT_S = 15;
export const QUERIES_MAX_LIMIT = 1000;

const views = new WeakMap<AdminContext, ConsoleViews>();

function feedOf(ctx: AdminContext): ConsoleFeed {
  if (ctx.console === undefined) throw notFound('the web console has no query feed in this process (the admin context was built without one)');
  return ctx.console;
}

function viewsOf(ctx: AdminContext): ConsoleViews {
  let v = views.get(ctx);
  if (v === undefined) views.set(ctx, (v = new ConsoleViews(ctx, feedOf(ctx))));
  return v;
}

const consoleJson = (status: number, body: unknown): RouteResult => ({ status, json: body, headers: { ...CONSOLE_HEADERS } });

function filterOf(q: URLSearchParams): TailFilter {
  const f: TailFilter = {};
  for (const k of ['client', 'name', 'action', 'list'] as const) {
    const v = q.get(k);
    if (v !== null && v.trim() !== '') {
      if (v.length > 256) throw badRequest(`${k}: at most 256 characters`);
      f[k] = v;
    }
  }
  return f;
}

function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw badRequest(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

const pageRoutes: Route[] = PAGES.map((p) => {
  const html = renderPage(p);
  return { method: 'GET', path: p.path, openapi: false, handle: () => ({ status: 200, text: html, contentType: 'text/html; charset=utf-8', headers: { ...CONSOLE_HEADERS } }) };
});

const assetRoute: Route = {
  method: 'GET',
  path: '/assets/{file}',
  openapi: false,
  handle: ({ params }) => {
    const a = consoleAssets().get(params.file!);
    if (a === undefined) throw notFound(`no console file "${params.file}"`);
    return { status: 200, text: a.text, contentType: a.contentType, headers: { ...CONSOLE_HEADERS } };
  },
};

/** Server-sent events: `query` events (a TailEntry each, with its id), `dropped` notices, heartbeats. */
function openStream(feed: ConsoleFeed, filter: TailFilter, after: number, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    ...CONSOLE_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no', // a reverse proxy must not hold events back
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.socket?.setNoDelay(true);
  let budget = STREAM_MAX_PER_SECOND;
  let dropped = 0;
  let tick = 0;
  const send = (e: TailEntry): void => {
    if (budget <= 0 || res.writableLength > STREAM_MAX_BUFFERED) {
      dropped++;
      return;
    }
    budget--;
    res.write(`id: ${e.id}\nevent: query\ndata: ${JSON.stringify(e)}\n\n`);
  };
  res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ lastId: feed.tail.lastId, maxPerSecond: STREAM_MAX_PER_SECOND })}\n\n`);
  const backlog = feed.tail.recent(filter, STREAM_BACKLOG, after);
  for (let i = backlog.length - 1; i >= 0; i--) res.write(`id: ${backlog[i]!.id}\nevent: query\ndata: ${JSON.stringify(backlog[i])}\n\n`);
  const unsubscribe = feed.tail.subscribe(filter, send);
  const timer = setInterval(() => {
    budget = STREAM_MAX_PER_SECOND;
    if (dropped > 0) {
      res.write(`event: dropped\ndata: ${JSON.stringify({ dropped })}\n\n`);
      dropped = 0;
    } else if (++tick % HEARTBEAT_S === 0) res.write(': keep-alive\n\n');
  }, 1000);
  timer.unref();
  const stop = (): void => {
    clearInterval(timer);
    unsubscribe();
  };
  res.once('close', stop);
  res.once('error', stop);
}

const apiRoutes: Route[] = [
  { method: 'GET', path: '/api/console/overview', handle: async ({ ctx }) => consoleJson(200, await viewsOf(ctx).overview()) },
  {
    method: 'GET',
    path: '/api/console/queries',
    handle: ({ ctx, query }) => {
      const feed = feedOf(ctx);
      const limit = intParam(query, 'limit', 100, 1, QUERIES_MAX_LIMIT);
      const after = intParam(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      return consoleJson(200, { lastId: feed.tail.lastId, queries: feed.tail.recent(filterOf(query), limit, after) });
    },
  },
  {
    method: 'GET',
    path: '/api/console/stream',
    ticket: true,
    handle: ({ ctx, query, headers }) => {
      const feed = feedOf(ctx);
      const accept = headers.accept ?? '';
      if (!/text\/event-stream/i.test(accept)) throw new HttpError(406, 'not_acceptable', 'this is a stream of server-sent events: send "Accept: text/event-stream" (GET /api/console/queries lists the same queries as JSON)');
      const filter = filterOf(query);
      const lastEvent = headers['last-event-id'];
      const after = typeof lastEvent === 'string' && /^\d+$/.test(lastEvent) ? Number(lastEvent) : intParam(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      if (feed.tail.subscribers >= MAX_STREAMS) throw new HttpError(429, 'too_many_requests', `at most ${MAX_STREAMS} live streams are open at once: close a Queries page`, { 'retry-after': '10' });
      return {
        status: 200,
        stream: (req, res) => openStream(feed, filter, after, req, res),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/console/ticket',
    handle: ({ ctx, tickets }) => {
      feedOf(ctx);
      const t = tickets.issue();
      return consoleJson(201, { ticket: t.ticket, expiresAt: new Date(t.expiresAt).toISOString() });
    },
  },
  { method: 'GET', path: '/api/console/clients', handle: async ({ ctx, query }) => consoleJson(200, await viewsOf(ctx).clients(query.get('window'))) },
  {
    method: 'GET',
    path: '/api/console/clients/{client}',
    handle: async ({ ctx, params, query }) => consoleJson(200, await viewsOf(ctx).timeline(params.client!, query.get('window'))),
  },
];

export const consoleRoutes: Route[] = [...pageRoutes, assetRoute, ...apiRoutes];
