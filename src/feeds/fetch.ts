// Getting a feed's bytes from an HTTP(S) URL or a local file with everything a broken or hostile
// server can do bounded: one time budget for the whole exchange (a server that drips one byte a
// second never finishes), a byte cap enforced while streaming (before and after Content-Encoding
// is undone, so a gzip bomb stops at the cap), redirects counted and never downgraded to plain
// http, and a body shorter than announced reported as truncated rather than handed on.
// The bytes are returned as received (minus Content-Encoding); judging them is decode.ts's job.
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { FeedError } from './errors.js';

export interface FetchOptions {
  /** Budget for the whole fetch: connect, every redirect, headers and the complete body. */
  timeoutMs: number;
  /** Cap on the body, checked on the wire and again after Content-Encoding is undone. */
  maxBytes: number;
  /** From the last good copy: sent as If-None-Match. */
  etag?: string;
  /** From the last good copy: sent as If-Modified-Since. */
  lastModified?: string;
  /** Extra request headers (e.g. an API key). Sent only to the origin of `url`, never across a redirect to another origin. */
  headers?: Record<string, string>;
  /** Cancels the fetch (shutdown); it then fails with reason 'aborted'. */
  signal?: AbortSignal;
}

export type FetchResult =
  | { notModified: true }
  | {
      notModified: false;
      body: Buffer;
      etag?: string;
      lastModified?: string;
      contentType?: string;
      /** Where the body came from after redirects, for provenance logs. */
      finalUrl: string;
    };

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'c2dns feed fetcher';

export async function fetchFeed(url: string, opts: FetchOptions): Promise<FetchResult> {
  const start = parseFeedUrl(url);
  const ctl = new AbortController();
  const timer = setTimeout(() => {
    ctl.abort(new FeedError('timeout', `${display(start)}: no complete answer within ${opts.timeoutMs} ms (connect, redirects and body together); expected the whole feed within the timeout`));
  }, opts.timeoutMs);
  const onCallerAbort = (): void => ctl.abort(new FeedError('aborted', `${display(start)}: fetch cancelled`));
  if (opts.signal?.aborted === true) onCallerAbort();
  else opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    return await fetchFollowingRedirects(start, opts, ctl.signal);
  } catch (err) {
    // Whatever broke after the deadline (a reset socket, an aborted stream) broke because of it.
    if (ctl.signal.aborted && ctl.signal.reason instanceof FeedError) throw ctl.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}

async function fetchFollowingRedirects(start: URL, opts: FetchOptions, signal: AbortSignal): Promise<FetchResult> {
  const visited = new Set<string>();
  let current = start;
  for (let redirects = 0; ; redirects++) {
    visited.add(current.href);
    const res = await get(current, requestHeaders(start, current, opts), signal);
    const status = res.statusCode ?? 0;
    if (REDIRECT_STATUSES.has(status)) {
      res.destroy();
      if (redirects >= MAX_REDIRECTS) {
        throw new FeedError('redirect', `${display(start)}: still redirected after ${MAX_REDIRECTS} redirects (now at ${display(current)}); expected at most ${MAX_REDIRECTS}`);
      }
      const next = redirectTarget(current, res.headers.location);
      if (visited.has(next.href)) throw new FeedError('redirect', `${display(start)}: redirect loop, ${display(current)} sends back to ${display(next)}`);
      current = next;
      continue;
    }
    if (status === 304) {
      res.destroy();
      // A 304 only means "what you have is current" if we said what we have.
      if (opts.etag === undefined && opts.lastModified === undefined) {
        throw new FeedError('http-status', `${display(current)}: HTTP 304 Not Modified to a request without If-None-Match or If-Modified-Since; expected 200 with the feed`);
      }
      return { notModified: true };
    }
    // 206 would be part of a file: we never ask for ranges, so it is as good as truncated.
    if (status < 200 || status > 299 || status === 206) {
      res.destroy();
      throw new FeedError('http-status', `${display(current)}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + '; expected 200 (or 304 to a conditional request)');
    }
    const body = await readBody(res, current, opts.maxBytes, signal);
    const etag = header(res, 'etag');
    const lastModified = header(res, 'last-modified');
    const contentType = header(res, 'content-type');
    return {
      notModified: false,
      body,
      finalUrl: current.href,
      ...(etag !== undefined ? { etag } : {}),
      ...(lastModified !== undefined ? { lastModified } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
    };
  }
}

/**
 * Where a redirect leads, or why it is not followed: a missing or unparseable Location, a
 * scheme other than http(s), or https → http (that would hand the feed to anyone on the path).
 */
export function redirectTarget(current: URL, location: string | undefined): URL {
  if (location === undefined || location.trim() === '') {
    throw new FeedError('redirect', `${display(current)}: redirect without a Location header; expected where to go next`);
  }
  let next: URL;
  try {
    next = new URL(location.trim(), current);
  } catch {
    throw new FeedError('redirect', `${display(current)}: redirect to an unparseable Location ${JSON.stringify(location.slice(0, 200))}`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new FeedError('redirect', `${display(current)}: redirect to a ${next.protocol} URL; expected http: or https:`);
  }
  if (current.protocol === 'https:' && next.protocol === 'http:') {
    throw new FeedError('redirect', `${display(current)}: refusing the redirect from https to plain http (${display(next)}); expected https`);
  }
  return next;
}

function parseFeedUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FeedError('config', `feed URL ${JSON.stringify(url.slice(0, 200))} is not a URL; expected http://… or https://…`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FeedError('config', `feed URL ${display(u)} uses ${u.protocol}; expected http: or https:`);
  return u;
}

function requestHeaders(start: URL, current: URL, opts: FetchOptions): Record<string, string> {
  const h: Record<string, string> = {
    'user-agent': USER_AGENT,
    accept: 'text/plain, text/csv, application/json;q=0.9, */*;q=0.8',
    'accept-encoding': 'gzip',
  };
  if (opts.etag !== undefined) h['if-none-match'] = opts.etag;
  if (opts.lastModified !== undefined) h['if-modified-since'] = opts.lastModified;
  // Caller headers usually carry credentials: they go to the configured origin only.
  if (current.origin === start.origin) for (const [k, v] of Object.entries(opts.headers ?? {})) h[k.toLowerCase()] = v;
  return h;
}

function get(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    let req: http.ClientRequest;
    try {
      // agent: false: one connection per fetch, nothing pooled between rare refreshes.
      req = mod.request(url, { method: 'GET', headers, agent: false, signal }, resolve);
    } catch (err) {
      reject(new FeedError('config', `${display(url)}: cannot build the request: ${(err as Error).message}`, { cause: err }));
      return;
    }
    // Stays attached after the response arrives so a later socket error is never unhandled.
    req.on('error', (err) => reject(new FeedError('network', `cannot fetch ${display(url)}: ${err.message}`, { cause: err })));
    req.end();
  });
}

async function readBody(res: http.IncomingMessage, url: URL, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const announced = contentLength(res);
  if (announced !== null && announced > maxBytes) {
    res.destroy();
    throw new FeedError('too-large', `${display(url)}: Content-Length is ${announced} bytes; expected at most ${maxBytes} (maxBytes)`);
  }
  const encoding = (header(res, 'content-encoding') ?? 'identity').toLowerCase();
  const decompressor = decompressorFor(encoding, url);
  let wire = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      wire += chunk.length;
      if (wire > maxBytes) cb(new FeedError('too-large', `${display(url)}: more than ${maxBytes} bytes received; expected at most ${maxBytes} (maxBytes)`));
      else cb(null, chunk);
    },
  });
  const sink = new Collector(maxBytes, () => `${display(url)}: more than ${maxBytes} bytes after ${encoding} decompression (a compression bomb, or a feed over the cap); expected at most ${maxBytes} (maxBytes)`);
  try {
    if (decompressor === null) await pipeline(res, counter, sink, { signal });
    else await pipeline(res, counter, decompressor, sink, { signal });
  } catch (err) {
    throw bodyError(err, url, wire, announced, encoding);
  }
  if ((announced !== null && wire !== announced) || !res.complete) {
    throw new FeedError('truncated', `${display(url)}: body ended after ${wire} bytes${announced !== null ? ` of the ${announced} announced by Content-Length` : ''}; expected the complete response`);
  }
  return sink.body();
}

function decompressorFor(encoding: string, url: URL): Transform | null {
  switch (encoding) {
    case 'identity':
    case '':
      return null;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      throw new FeedError('decompression', `${display(url)}: Content-Encoding "${encoding.slice(0, 50)}" is not supported; expected gzip, deflate, br or none`);
  }
}

function bodyError(err: unknown, url: URL, wire: number, announced: number | null, encoding: string): FeedError {
  if (err instanceof FeedError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  // zlib: Z_BUF_ERROR is "unexpected end of file", a stream cut short; anything else is corrupt data.
  if (code === 'Z_BUF_ERROR') {
    return new FeedError('truncated', `${display(url)}: the ${encoding} stream ends early after ${wire} bytes; expected a complete compressed body`, { cause: err });
  }
  // Brotli reports corrupt input as ERR__ERROR_FORMAT_*.
  if (code.startsWith('Z_') || code.startsWith('ERR__ERROR')) {
    return new FeedError('decompression', `${display(url)}: corrupt ${encoding} data (${(err as Error).message}); expected a valid ${encoding} body`, { cause: err });
  }
  const of = announced !== null ? ` of ${announced} announced by Content-Length` : '';
  return new FeedError('truncated', `${display(url)}: connection closed after ${wire} bytes${of} (${(err as Error).message}); expected the complete response`, { cause: err });
}

/** Collects a stream into one Buffer, failing as soon as it passes the cap. */
class Collector extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly max: number,
    private readonly overMessage: () => string,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.max) {
      cb(new FeedError('too-large', this.overMessage()));
      return;
    }
    this.chunks.push(chunk);
    cb();
  }

  body(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function contentLength(res: http.IncomingMessage): number | null {
  const v = header(res, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.trim();
}

/** A URL fit for logs and the status file: no user:password, no query string (API keys live there). */
export function display(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}${u.search !== '' ? '?…' : ''}`;
}

/**
 * Reads a local feed file, refusing anything but a regular file (a FIFO or /dev/zero would
 * block or never end) and anything over the cap, even if the file grows while being read.
 */
function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

export async function readLocalFeed(path: string, maxBytes: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; no effect on regular files.
    fh = await open(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new FeedError('io', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FeedError('io', `${path} is not a regular file (a directory, device or pipe); expected a list file`);
    if (st.size > maxBytes) throw new FeedError('too-large', `${path} is ${st.size} bytes; expected at most ${maxBytes} (maxBytes)`);
    // Read in place into one buffer of the size stat() gave, plus the byte that catches a file
    // that grew since: no concatenation at the end (a 20 MB memcpy on the serving thread). Shared
    // memory, which the list compile worker reads as it is instead of the serving thread copying
    // it over (nothing writes to a body once read).
    let buf = sharedBuffer(st.size + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        const grown = sharedBuffer(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(grown, 0, 0, total);
        buf = grown;
      }
      const { bytesRead } = await fh.read(buf, total, Math.min(1 << 20, buf.length - total), null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new FeedError('too-large', `${path} grew past ${maxBytes} bytes while being read; expected at most ${maxBytes} (maxBytes)`);
    }
    return buf.subarray(0, total);
  } catch (err) {
    if (err instanceof FeedError) throw err;
    throw new FeedError('io', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}
