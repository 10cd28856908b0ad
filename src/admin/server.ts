// The admin HTTP listener (node:http): Prometheus metrics, health probes, the management API and
// the web console. Order of checks for every request: caller's address in admin.allow (403), Host
// header (421, DNS rebinding), Origin header when present (403: a page of another site), route
// (404), method (405), token (403 when none is configured, 401 when missing or wrong) for
// POST/DELETE and, when the listener is not bound to loopback and admin.consoleAuth is token, for
// every /api read too (a stream ticket may stand in for it), Content-Type of a change (415), body
// (413/415/400), then the route itself. Every error is JSON {error, detail}; nothing a
// client sends can take the listener down.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../upstream/address.js';
import { HostNames, isLoopback, NetworkList, plainAddress } from './access.js';
import { Tickets } from './console/tickets.js';
import { AdminInputError, type AdminContext } from './context.js';
import { badRequest, checkBearer, HttpError, MAX_BODY_BYTES, readJsonBody, type ErrorBody } from './http.js';
import { ROUTES } from './routes/index.js';
import type { Method, Route, RouteResult } from './routes/types.js';

export interface AdminServerOptions {
  listen: { host: string; port: number };
  /** admin.allow: networks that may use the listener at all. */
  allow: readonly string[];
  /** admin.hosts: names the Host header may carry besides localhost and IP literals. */
  hosts: readonly string[];
  context: AdminContext;
  /** Unexpected failures inside a route (answered 500); for the operational log. */
  onError?: (err: unknown) => void;
  maxBodyBytes?: number;
  /** Routes to serve; default ROUTES (tests may add to them). */
  routes?: readonly Route[];
  /** admin.consoleAuth: 'none' opens /api reads (and the console drawn from them) off loopback too. Default 'token'. */
  consoleAuth?: 'token' | 'none';
}

type Segment = string | { param: string };

interface CompiledRoute {
  route: Route;
  segments: Segment[];
}

function compile(route: Route): CompiledRoute {
  const segments = route.path
    .split('/')
    .slice(1)
    .map((s): Segment => {
      const m = /^\{(\w+)\}$/.exec(s);
      return m === null ? s : { param: m[1]! };
    });
  return { route, segments };
}

/** The path's parameters if `parts` fits the template; null if not. Throws 400 on bad %-escapes. */
function matchPath(c: CompiledRoute, parts: readonly string[]): Record<string, string> | null {
  if (parts.length !== c.segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = c.segments[i]!;
    const part = parts[i]!;
    if (typeof seg === 'string') {
      if (seg !== part) return null;
    } else {
      if (part === '') return null;
      try {
        params[seg.param] = decodeURIComponent(part);
      } catch {
        throw badRequest(`path segment "${part}" is not valid percent-encoding`);
      }
    }
  }
  return params;
}

const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function send(res: http.ServerResponse, status: number, body: string, contentType: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy(); // a failure after the answer started: cut it rather than send a corrupt one
    return;
  }
  res.writeHead(status, { ...COMMON_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

const JSON_TYPE = 'application/json; charset=utf-8';

function sendJson(res: http.ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  send(res, status, `${JSON.stringify(value, null, 2)}\n`, JSON_TYPE, headers);
}

function sendError(res: http.ServerResponse, e: HttpError): void {
  const body: ErrorBody = e.body();
  sendJson(res, e.status, body, e.headers);
}

export class AdminServer {
  private readonly routes: CompiledRoute[];
  private readonly startedAt: number;
  private readonly maxBody: number;
  private readonly allow: NetworkList;
  private readonly hosts: HostNames;
  /** Set once bound: /api reads need the token unless the listener is on loopback (or admin.consoleAuth is none). */
  private readsNeedToken = true;
  private readonly tickets = new Tickets();
  /** Responses a route writes over time (the console's live stream): ended when the listener closes. */
  private readonly streams = new Set<http.ServerResponse>();

  private constructor(
    private readonly server: http.Server,
    private readonly opts: AdminServerOptions,
  ) {
    this.routes = (opts.routes ?? ROUTES).map(compile);
    this.startedAt = opts.context.startedAt ?? Date.now();
    this.maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
    this.allow = new NetworkList(opts.allow);
    this.hosts = new HostNames(opts.hosts);
  }

  static async start(opts: AdminServerOptions): Promise<AdminServer> {
    const server = http.createServer({
      // Slow or idle clients must not hold sockets: the listener is for probes and operators.
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    });
    server.maxConnections = 256;
    const admin = new AdminServer(server, opts);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => void admin.handle(req, res));
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listen.port, opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    admin.readsNeedToken = !isLoopback(admin.address.host) && opts.consoleAuth !== 'none';
    return admin;
  }

  /** The bound address (the real port when 0 was asked for). */
  get address(): HostPort {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
  }

  /** True when the listener is not bound to loopback (and admin.consoleAuth is token): every /api call needs the bearer token. */
  get apiReadsNeedToken(): boolean {
    return this.readsNeedToken;
  }

  get url(): string {
    const a = this.address;
    return `http://${a.family === 6 ? `[${a.host}]` : a.host}:${a.port}`;
  }

  /** Stops listening; requests in progress get `graceMs` to finish, then their sockets are closed. */
  async close(graceMs = 1000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const result = await this.dispatch(req);
      if ('json' in result) sendJson(res, result.status, result.json, result.headers);
      else if ('text' in result) send(res, result.status, result.text, result.contentType, result.headers);
      else {
        this.streams.add(res);
        res.once('close', () => this.streams.delete(res));
        result.stream(req, res);
      }
    } catch (err) {
      if (err instanceof HttpError) sendError(res, err);
      else if (err instanceof AdminInputError) sendError(res, badRequest(err.message));
      else {
        this.opts.onError?.(err);
        sendError(res, new HttpError(500, 'internal_error', 'the request failed inside c2dns; the operational log has the details'));
      }
    }
  }

  private async dispatch(req: http.IncomingMessage): Promise<RouteResult> {
    const remote = req.socket.remoteAddress;
    if (remote === undefined || !this.allow.has(remote)) {
      throw new HttpError(
        403,
        'forbidden',
        `${remote === undefined ? 'this caller' : plainAddress(remote)} is not in admin.allow (${this.allow.networks.join(', ')}): add its network there to use the admin listener`,
      );
    }
    const misdirected = this.hosts.check(req.headers.host);
    if (misdirected !== null) throw new HttpError(421, 'misdirected_request', misdirected);
    const foreign = crossOrigin(req.headers.origin, req.headers.host);
    if (foreign !== null) throw new HttpError(403, 'forbidden', foreign);

    const rawUrl = req.url ?? '/';
    if (!rawUrl.startsWith('/')) throw badRequest('expected a request target in origin form (/path?query)');
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const parts = pathname.split('/').slice(1);
    // HEAD is GET without the body (node:http leaves the body out).
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');

    let found: { route: Route; params: Record<string, string> } | null = null;
    const allowed: Method[] = [];
    for (const c of this.routes) {
      const params = matchPath(c, parts);
      if (params === null) continue;
      allowed.push(c.route.method);
      if (c.route.method === method) found = { route: c.route, params };
    }
    if (allowed.length === 0) throw new HttpError(404, 'not_found', `no route ${req.method ?? ''} ${pathname}; GET /api/openapi.json lists them`);
    if (found === null) {
      const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
      throw new HttpError(405, 'method_not_allowed', `${pathname} accepts ${allow.join(', ')}, not ${req.method ?? ''}`, { allow: allow.join(', ') });
    }

    const ctx = this.opts.context;
    if (found.route.method !== 'GET') {
      const denied = checkBearer(req.headers.authorization, ctx.token, 'change');
      if (denied !== null) throw denied;
      const unsupported = changeMediaType(req);
      if (unsupported !== null) throw unsupported;
    } else if (this.readsNeedToken && isApiPath(pathname)) {
      const ticket = found.route.ticket === true && req.headers.authorization === undefined ? query.get('ticket') : null;
      if (ticket !== null) {
        const refused = this.tickets.redeem(ticket);
        if (refused !== null) throw new HttpError(401, 'unauthorized', refused);
      } else {
        const denied = checkBearer(req.headers.authorization, ctx.token, 'read');
        if (denied !== null) throw denied;
      }
    }
    const body = found.route.body === true ? await readJsonBody(req, this.maxBody) : undefined;
    return found.route.handle({ ctx, params: found.params, query, body, remote: plainAddress(remote), startedAt: this.startedAt, headers: req.headers, tickets: this.tickets });
  }
}

/**
 * CSRF defence in depth for browsers (changes already need a bearer header, which a form or a
 * cross-site request cannot carry without a CORS preflight this listener never answers): a change
 * must declare its body as JSON, and a body without a Content-Type is refused too.
 */
function changeMediaType(req: http.IncomingMessage): HttpError | null {
  const type = req.headers['content-type'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (type === undefined ? !hasBody : /^application\/json\s*(;|$)/i.test(type)) return null;
  return new HttpError(415, 'unsupported_media_type', type === undefined ? 'a request body needs the header "Content-Type: application/json"' : `expected Content-Type: application/json, got "${type}"`);
}

/**
 * Why a request from a browser page of another origin is refused, or null. Browsers send Origin
 * with every cross-origin request and with same-origin changes; it must then name this listener
 * as the Host header does (the Host header itself was checked against DNS rebinding). Tools
 * (curl, Prometheus, kubelet) send no Origin and are not affected.
 */
export function crossOrigin(origin: string | undefined, host: string | undefined): string | null {
  if (origin === undefined) return null;
  let u: URL | null = null;
  try {
    u = new URL(origin);
  } catch {
    // "null" (sandboxed frames, file: pages) and garbage: refused below
  }
  const h = (host ?? '').trim().toLowerCase();
  const dflt = u?.protocol === 'https:' ? ':443' : ':80';
  const same = u !== null && (u.protocol === 'http:' || u.protocol === 'https:') && u.host === (h.endsWith(dflt) ? h.slice(0, -dflt.length) : h);
  return same ? null : `a request from a web page at ${origin === 'null' ? 'an opaque origin ("null")' : origin} is refused: the admin listener only answers pages it served itself (Host ${host ?? '(none)'})`;
}

/** The management API; /healthz, /readyz and /metrics are not part of it. */
export function isApiPath(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/');
}
