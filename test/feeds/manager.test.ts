// The fault matrix, end to end: c2dns serves a feed fetched from a local HTTP server; every way
// an update can go wrong is played, and after each one the C2 names are still blocked, the
// rejection is visible in the source's status, and a restart with the feed down still blocks.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signFeed } from '../../src/feeds/sign.js';
import { sourceRef } from '../../src/feeds/store.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { startFeedServer, text, type FeedServer, type Route } from './feed-server.js';
import { gzipBomb } from './vectors.js';

const GOOD = ['# c2 feed v1', 'akamaicontainer.com', 'msstorageazure.com', 'sbmsa.wiki', ...Array.from({ length: 20 }, (_, i) => `c2-${i}.example`)].join('\n') + '\n';
const V2 = `${GOOD}new-c2.example\n`;
const keys = generateKeyPair();

let feed: FeedServer;
let up: Upstream;
let current: Route = text(GOOD);
let sig: Route = text(signFeed(GOOD, keys.privateKeyPem));
const stateDir = mkdtempSync(join(tmpdir(), 'c2dns-state-'));

beforeAll(async () => {
  feed = await startFeedServer({ '/c2.txt': (req, res) => current(req, res), '/c2.txt.sig': (req, res) => sig(req, res), '/signed.txt': (req, res) => current(req, res) });
  up = await startUpstream(zoneScript({}));
});
afterAll(async () => {
  await feed.close();
  await up.close();
});

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: [`127.0.0.1:${up.port}`],
    state: { dir: stateDir },
    lists: [{ name: 'feed', url: feed.url('/c2.txt'), format: 'plain', tags: ['c2'], refresh: '0 0 1 1 *', timeoutMs: 400, retries: 0, maxBytes: 1024 * 1024, ...extra }],
  };
}

async function blocked(c2: TestServer, name: string): Promise<boolean> {
  const { packet } = await ask(c2.port, name, T.A);
  return packet.answers[0]?.address === '0.0.0.0';
}

describe('a feed that goes bad never turns blocking off', () => {
  let c2: TestServer;
  beforeAll(async () => {
    current = text(GOOD);
    c2 = await startC2dns(config());
  });
  afterAll(async () => c2.close());

  it('blocks what the feed lists once it is fetched', async () => {
    expect(await blocked(c2, 'akamaicontainer.com')).toBe(true);
    expect(await blocked(c2, 'x.c2-7.example')).toBe(true);
    expect(c2.server.feeds.sources[0]!.compiled!.rules).toHaveLength(23);
  });

  const faults: { name: string; route: Route; reason: string }[] = [
    { name: 'server down (connection reset)', route: (req) => req.socket.destroy(), reason: 'network' },
    { name: 'HTTP 500', route: (_q, res) => res.writeHead(500).end('oops'), reason: 'http-status' },
    { name: 'HTML error page with 200', route: text('<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head></html>', { 'content-type': 'text/html' }), reason: 'html' },
    { name: 'captive portal HTML labelled text/plain', route: text('<html><body>Please log in to the hotel Wi-Fi</body></html>\n'), reason: 'html' },
    { name: 'empty body', route: text(''), reason: 'empty' },
    { name: 'header only', route: text('# c2 feed v2\n# nothing today\n'), reason: 'empty' },
    {
      name: 'truncated transfer',
      route: (_q, res) => {
        res.writeHead(200, { 'content-length': String(GOOD.length + 500) });
        res.write(GOOD.slice(0, 40));
        setTimeout(() => res.socket?.destroy(), 20);
      },
      reason: 'truncated',
    },
    { name: 'slow drip beyond the timeout', route: (_q, res) => res.writeHead(200).write('akamaicontainer.com\n'), reason: 'timeout' },
    { name: 'binary junk', route: text(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256))), reason: 'binary' },
    { name: 'gzip bomb', route: text(gzipBomb()), reason: 'too-large' },
    { name: 'shrunk to one name', route: text('akamaicontainer.com\n'), reason: 'shrunk' },
    { name: 'all lines rejected', route: text('this is not a list\nnor is this one\n'), reason: 'parse' },
  ];

  for (const f of faults) {
    it(`rejects an update: ${f.name} (${f.reason}); the last good rules stay live`, async () => {
      current = f.route;
      const out = await c2.server.feeds.refresh(['feed']);
      expect(out.get('feed')).toBe('failed');
      const s = c2.server.feeds.sources[0]!;
      expect(s.lastFailure?.reason).toMatch(new RegExp(`^(${f.reason}|decompression)$`));
      expect(s.compiled!.rules).toHaveLength(23);
      expect(await blocked(c2, 'akamaicontainer.com')).toBe(true);
      expect(await blocked(c2, 'c2-19.example')).toBe(true);
      expect(c2.server.feeds.store.loadStatus(sourceRef(s.config))?.lastFailure?.reason).toBe(s.lastFailure?.reason);
    });
  }

  it('accepts a good update and swaps it in; a repeat with the same ETag is a 304', async () => {
    current = text(V2, { etag: '"v2"' });
    expect((await c2.server.feeds.refresh(['feed'])).get('feed')).toBe('updated');
    expect(await blocked(c2, 'new-c2.example')).toBe(true);
    expect((await c2.server.feeds.refresh(['feed'])).get('feed')).toBe('unchanged');
    expect(feed.requests.at(-1)!.headers['if-none-match']).toBe('"v2"');
  });
});

describe('restart while the feed is down', () => {
  it('loads the last good copy from the state directory and keeps blocking', async () => {
    current = (req) => req.socket.destroy();
    const c2 = await startC2dns(config());
    try {
      const s = c2.server.feeds.sources[0]!;
      expect(s.fromLastGood).toBe(true);
      expect(await blocked(c2, 'new-c2.example')).toBe(true);
      expect(await blocked(c2, 'sbmsa.wiki')).toBe(true);
    } finally {
      await c2.close();
    }
  });
});

describe('signed feeds', () => {
  it('accepts a correctly signed update and refuses a bad signature, keeping the previous rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-state-'));
    current = text(GOOD);
    sig = text(signFeed(GOOD, keys.privateKeyPem));
    const c2 = await startC2dns({ ...config({ signature: { publicKey: keys.publicKey } }), state: { dir } });
    try {
      expect(await blocked(c2, 'akamaicontainer.com')).toBe(true);
      current = text(V2); // a poisoned update: content changed, signature did not
      expect((await c2.server.feeds.refresh(['feed'])).get('feed')).toBe('failed');
      expect(c2.server.feeds.sources[0]!.lastFailure?.reason).toBe('bad-signature');
      expect(await blocked(c2, 'new-c2.example')).toBe(false);
      expect(await blocked(c2, 'akamaicontainer.com')).toBe(true);
    } finally {
      await c2.close();
    }
  });

  it('refuses a feed whose SHA-256 does not match the pin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-state-'));
    current = text(GOOD);
    const c2 = await startC2dns({ ...config({ sha256: '0'.repeat(64) }), state: { dir } });
    try {
      expect(c2.server.feeds.sources[0]!.lastFailure?.reason).toBe('pin-mismatch');
      expect(c2.server.feeds.sources[0]!.compiled).toBeNull();
    } finally {
      await c2.close();
    }
  });
});

describe('local lists', () => {
  it('refuses to start when a configured local list cannot be read and has no disk copy, naming it', async () => {
    await expect(startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'mine', path: '/nonexistent/c2.txt' }] })).rejects.toThrow(
      /key "lists\[0\]\.path": list "mine": cannot read \/nonexistent\/c2\.txt: ENOENT.*no disk copy/,
    );
  });

  it('refuses to start when a readable local list fails verification, naming it', async () => {
    await expect(
      startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'pinned', path: 'c2.txt', sha256: '0'.repeat(64) }] }, { 'c2.txt': 'akamaicontainer.com\n' }),
    ).rejects.toThrow(/list "pinned": cannot load .*c2\.txt/);
  });
});
