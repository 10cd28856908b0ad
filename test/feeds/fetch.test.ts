// The feed fetcher against a loopback server playing every faulty feed: down, slow, cut short,
// oversized, compressed bombs, redirect games, conditional GET. A failed fetch is a FeedError
// with a reason; nothing half-received is ever returned as a body.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFeed } from '../../src/feeds/decode.js';
import { fetchFeed, readLocalFeed, redirectTarget, MAX_REDIRECTS, type FetchOptions } from '../../src/feeds/fetch.js';
import { closedPort, startFeedServer, text, type FeedServer, type Route } from './feed-server.js';
import { gzipBomb, MiB, rejectsFeed, throwsFeed } from './vectors.js';

const LIST = 'a.example\nb.example\nc.example\n';
const ETAG = '"v1-abc"';
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
const opts = (o: Partial<FetchOptions> = {}): FetchOptions => ({ timeoutMs: 2000, maxBytes: MiB, ...o });

// /hopN redirects to /hop(N-1); /hop0 is the list.
const hops: Record<string, Route> = {};
for (let n = 0; n <= MAX_REDIRECTS + 1; n++) hops[`/hop${n}`] = n === 0 ? text(LIST) : (_req, res) => res.writeHead(302, { location: `/hop${n - 1}` }).end();

let srv: FeedServer;
let other: FeedServer;
const bomb = gzipBomb();

beforeAll(async () => {
  other = await startFeedServer({
    '/echo': (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers)),
  });
  srv = await startFeedServer({
    '/list': text(LIST, { etag: ETAG }),
    '/echo': (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers)),
    '/etag': (req, res) => {
      if (req.headers['if-none-match'] === ETAG) res.writeHead(304, { etag: ETAG }).end();
      else text(LIST, { etag: ETAG })(req, res);
    },
    '/last-modified': (req, res) => {
      if (req.headers['if-modified-since'] === LAST_MODIFIED) res.writeHead(304).end();
      else text(LIST, { 'last-modified': LAST_MODIFIED })(req, res);
    },
    '/always-304': (_req, res) => res.writeHead(304).end(),
    '/slow': (_req, res) => {
      // Headers at once, then one line every 50 ms: never done within the budget.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 });
      const t = setInterval(() => res.write('drip.example\n'), 50);
      res.on('close', () => clearInterval(t));
    },
    '/hang': () => {
      // Accepts the connection, never answers.
    },
    '/html': text('<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>', { 'content-type': 'text/html; charset=utf-8' }),
    '/portal': text('\n  <html><head><title>Hotel Wi-Fi</title></head><body><form>Accept the terms</form></body></html>\n', { 'content-type': 'text/plain' }),
    '/empty': text(''),
    '/header-only': text('# ThreatFox IOCs\n# Number of entries: 0\n#\n\n'),
    '/truncated': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
      res.write('a.example\nb.example\nmsstorageaz');
      setTimeout(() => res.socket?.destroy(), 20);
    },
    '/cut-chunked': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a.example\nb.example\nmsstorageaz');
      setTimeout(() => res.socket?.destroy(), 20);
    },
    '/gzip': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(zlib.gzipSync(LIST)),
    '/gzip-cut': (_req, res) => {
      const gz = zlib.gzipSync(LIST.repeat(50));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(gz.subarray(0, gz.length - 10));
    },
    '/gzip-garbage': (_req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end('this is not gzip at all'),
    '/brotli': (_req, res) => res.writeHead(200, { 'content-encoding': 'br' }).end(zlib.brotliCompressSync(LIST)),
    '/weird-encoding': (_req, res) => res.writeHead(200, { 'content-encoding': 'compress' }).end('x'),
    '/list.gz': (_req, res) => res.writeHead(200, { 'content-type': 'application/gzip' }).end(zlib.gzipSync(LIST)),
    '/bomb': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb),
    '/bomb.gz': (_req, res) => res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': bomb.length }).end(bomb),
    '/500': (_req, res) => res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>'),
    '/big': text('x'.repeat(2 * MiB)),
    '/big-chunked': (_req, res) => {
      // No Content-Length: only counting while streaming can stop this one.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = Buffer.from('big.example\n'.repeat(1000));
      let sent = 0;
      const pump = (): void => {
        while (sent < 4 * MiB) {
          sent += line.length;
          if (!res.write(line)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => {});
      pump();
    },
    '/loop-a': (_req, res) => res.writeHead(302, { location: '/loop-b' }).end(),
    '/loop-b': (_req, res) => res.writeHead(301, { location: '/loop-a' }).end(),
    '/relative': (_req, res) => res.writeHead(307, { location: 'list' }).end(),
    '/no-location': (_req, res) => res.writeHead(302).end(),
    '/to-ftp': (_req, res) => res.writeHead(302, { location: 'ftp://127.0.0.1/list' }).end(),
    '/to-other-origin': (_req, res) => res.writeHead(302, { location: other.url('/echo') }).end(),
    ...hops,
  });
});

afterAll(async () => {
  await srv.close();
  await other.close();
});

describe('fetchFeed: success paths', () => {
  it('returns the body with ETag and Content-Type, and asks for gzip', async () => {
    const r = await fetchFeed(srv.url('/list'), opts());
    expect(r).toMatchObject({ notModified: false, etag: ETAG, contentType: 'text/plain; charset=utf-8', finalUrl: srv.url('/list') });
    if (!r.notModified) expect(r.body.toString()).toBe(LIST);
    const sent = srv.requests.at(-1)!.headers;
    expect(sent['accept-encoding']).toBe('gzip');
    expect(sent['if-none-match']).toBeUndefined();
  });

  it('304 with ETag: If-None-Match is sent and "not modified" comes back', async () => {
    const first = await fetchFeed(srv.url('/etag'), opts());
    expect(first.notModified).toBe(false);
    const again = await fetchFeed(srv.url('/etag'), opts({ etag: ETAG }));
    expect(again).toEqual({ notModified: true });
    expect(srv.requests.at(-1)!.headers['if-none-match']).toBe(ETAG);
  });

  it('304 with Last-Modified: If-Modified-Since is sent and "not modified" comes back', async () => {
    const first = await fetchFeed(srv.url('/last-modified'), opts());
    expect(first).toMatchObject({ notModified: false, lastModified: LAST_MODIFIED });
    expect(await fetchFeed(srv.url('/last-modified'), opts({ lastModified: LAST_MODIFIED }))).toEqual({ notModified: true });
    expect(srv.requests.at(-1)!.headers['if-modified-since']).toBe(LAST_MODIFIED);
  });

  it('a stale validator gets the full body', async () => {
    const r = await fetchFeed(srv.url('/etag'), opts({ etag: '"old"' }));
    expect(r.notModified).toBe(false);
  });

  it('Content-Encoding gzip and br are undone', async () => {
    for (const path of ['/gzip', '/brotli']) {
      const r = await fetchFeed(srv.url(path), opts());
      if (r.notModified) throw new Error('unexpected 304');
      expect(r.body.toString()).toBe(LIST);
    }
  });

  it('a .gz file served as application/gzip arrives as is; decodeFeed unpacks it', async () => {
    const r = await fetchFeed(srv.url('/list.gz'), opts());
    if (r.notModified) throw new Error('unexpected 304');
    expect(r.body[0]).toBe(0x1f);
    expect(decodeFeed(r.body, { maxBytes: MiB, contentType: r.contentType })).toBe(LIST);
  });

  it(`follows up to ${MAX_REDIRECTS} redirects, relative ones too`, async () => {
    const r = await fetchFeed(srv.url(`/hop${MAX_REDIRECTS}`), opts());
    expect(r).toMatchObject({ notModified: false, finalUrl: srv.url('/hop0') });
    expect(await fetchFeed(srv.url('/relative'), opts())).toMatchObject({ finalUrl: srv.url('/list') });
  });

  it('caller headers go to the configured origin only, not across a redirect elsewhere', async () => {
    const same = await fetchFeed(srv.url('/echo'), opts({ headers: { 'Auth-Key': 'secret' } }));
    if (same.notModified) throw new Error('unexpected 304');
    expect(JSON.parse(same.body.toString())['auth-key']).toBe('secret');
    const elsewhere = await fetchFeed(srv.url('/to-other-origin'), opts({ headers: { 'Auth-Key': 'secret' } }));
    if (elsewhere.notModified) throw new Error('unexpected 304');
    expect(JSON.parse(elsewhere.body.toString())['auth-key']).toBeUndefined();
  });
});

describe('fetchFeed: faulty feeds', () => {
  it('down (connection refused) → network', async () => {
    const port = await closedPort();
    await rejectsFeed(fetchFeed(`http://127.0.0.1:${port}/list`, opts()), 'network', /ECONNREFUSED/);
  });

  it('slow drip past the budget → timeout, and promptly', async () => {
    const t0 = Date.now();
    await rejectsFeed(fetchFeed(srv.url('/slow'), opts({ timeoutMs: 300 })), 'timeout', /300 ms/);
    // Generous for loaded CI machines; the drip alone would take minutes.
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('no answer at all → timeout', async () => {
    await rejectsFeed(fetchFeed(srv.url('/hang'), opts({ timeoutMs: 200 })), 'timeout');
  });

  it('the caller can cancel → aborted', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    await rejectsFeed(fetchFeed(srv.url('/hang'), opts({ signal: ctl.signal })), 'aborted');
  });

  it('HTML with 200 is fetched, and decodeFeed refuses it', async () => {
    const r = await fetchFeed(srv.url('/html'), opts());
    if (r.notModified) throw new Error('unexpected 304');
    throwsFeed(() => decodeFeed(r.body, { maxBytes: MiB, contentType: r.contentType }), 'html', /text\/html/);
  });

  it('captive-portal HTML labelled text/plain is refused by its content', async () => {
    const r = await fetchFeed(srv.url('/portal'), opts());
    if (r.notModified) throw new Error('unexpected 304');
    expect(r.contentType).toBe('text/plain');
    throwsFeed(() => decodeFeed(r.body, { maxBytes: MiB, contentType: r.contentType }), 'html', /HTML page/);
  });

  it('empty and header-only bodies → empty', async () => {
    for (const path of ['/empty', '/header-only']) {
      const r = await fetchFeed(srv.url(path), opts());
      if (r.notModified) throw new Error('unexpected 304');
      throwsFeed(() => decodeFeed(r.body, { maxBytes: MiB }), 'empty');
    }
  });

  it('Content-Length larger than the body, connection cut → truncated', async () => {
    await rejectsFeed(fetchFeed(srv.url('/truncated'), opts()), 'truncated', /of 1000 announced/);
  });

  it('chunked body cut mid-stream → truncated', async () => {
    await rejectsFeed(fetchFeed(srv.url('/cut-chunked'), opts()), 'truncated');
  });

  it('a gzip stream cut short → truncated; garbage labelled gzip → decompression', async () => {
    await rejectsFeed(fetchFeed(srv.url('/gzip-cut'), opts()), 'truncated', /gzip stream ends early/);
    await rejectsFeed(fetchFeed(srv.url('/gzip-garbage'), opts()), 'decompression');
  });

  it('an unknown Content-Encoding → decompression', async () => {
    await rejectsFeed(fetchFeed(srv.url('/weird-encoding'), opts()), 'decompression', /compress/);
  });

  it('gzip bomb (100 MiB of zeros in ~100 KB) with a 10 MiB cap → too-large while streaming', async () => {
    expect(bomb.length).toBeLessThan(MiB);
    await rejectsFeed(fetchFeed(srv.url('/bomb'), opts({ maxBytes: 10 * MiB })), 'too-large', /after gzip decompression/);
  });

  it('the same bomb as a .gz file passes the wire cap and is stopped by decodeFeed', async () => {
    const r = await fetchFeed(srv.url('/bomb.gz'), opts({ maxBytes: 10 * MiB }));
    if (r.notModified) throw new Error('unexpected 304');
    throwsFeed(() => decodeFeed(r.body, { maxBytes: 10 * MiB }), 'too-large', /inflates past/);
  });

  it('oversized body: refused from Content-Length, or while streaming without one', async () => {
    await rejectsFeed(fetchFeed(srv.url('/big'), opts({ maxBytes: MiB })), 'too-large', /Content-Length is 2097152/);
    await rejectsFeed(fetchFeed(srv.url('/big-chunked'), opts({ maxBytes: MiB })), 'too-large', /more than 1048576 bytes received/);
  });

  it('HTTP 500 and an unknown path (404) → http-status', async () => {
    await rejectsFeed(fetchFeed(srv.url('/500'), opts()), 'http-status', /HTTP 500/);
    await rejectsFeed(fetchFeed(srv.url('/nope'), opts()), 'http-status', /HTTP 404/);
  });

  it('304 to a request that named no version → http-status', async () => {
    await rejectsFeed(fetchFeed(srv.url('/always-304'), opts()), 'http-status', /304/);
  });

  it('redirect loop → redirect', async () => {
    await rejectsFeed(fetchFeed(srv.url('/loop-a'), opts()), 'redirect', /loop/);
  });

  it(`more than ${MAX_REDIRECTS} redirects → redirect`, async () => {
    await rejectsFeed(fetchFeed(srv.url(`/hop${MAX_REDIRECTS + 1}`), opts()), 'redirect', /after 5 redirects/);
  });

  it('redirect without Location, or to another scheme → redirect', async () => {
    await rejectsFeed(fetchFeed(srv.url('/no-location'), opts()), 'redirect', /without a Location/);
    await rejectsFeed(fetchFeed(srv.url('/to-ftp'), opts()), 'redirect', /ftp:/);
  });

  it('a URL that is not http(s) → config', async () => {
    await rejectsFeed(fetchFeed('file:///etc/passwd', opts()), 'config');
    await rejectsFeed(fetchFeed('not a url', opts()), 'config');
  });
});

describe('redirectTarget', () => {
  const https = new URL('https://feeds.example/list.txt');
  it('allows http → https and https → https, resolving relative locations', () => {
    expect(redirectTarget(new URL('http://feeds.example/a'), 'https://cdn.example/a').href).toBe('https://cdn.example/a');
    expect(redirectTarget(https, '/v2/list.txt').href).toBe('https://feeds.example/v2/list.txt');
  });
  it('refuses https → http', () => {
    throwsFeed(() => redirectTarget(https, 'http://feeds.example/list.txt'), 'redirect', /https to plain http/);
  });
});

describe('messages keep secrets out', () => {
  it('query strings (API keys) are not echoed in errors', async () => {
    const e = await rejectsFeed(fetchFeed(`${srv.url('/500')}?auth-key=hunter2`, opts()), 'http-status');
    expect(e.message).not.toContain('hunter2');
  });
});

describe('readLocalFeed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-local-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file up to the cap', async () => {
    const f = join(dir, 'list.txt');
    writeFileSync(f, LIST);
    expect((await readLocalFeed(f, MiB)).toString()).toBe(LIST);
    expect((await readLocalFeed(f, LIST.length)).toString()).toBe(LIST);
    await rejectsFeed(readLocalFeed(f, LIST.length - 1), 'too-large');
  });

  it('into shared memory, which the list compile worker reads without a copy', async () => {
    const f = join(dir, 'shared.txt');
    writeFileSync(f, LIST);
    const body = await readLocalFeed(f, MiB);
    expect(body.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(body.toString()).toBe(LIST);
  });

  it('a missing file or a directory → io', async () => {
    await rejectsFeed(readLocalFeed(join(dir, 'missing.txt'), MiB), 'io', /missing\.txt/);
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    await rejectsFeed(readLocalFeed(sub, MiB), 'io', /not a regular file/);
  });
});
