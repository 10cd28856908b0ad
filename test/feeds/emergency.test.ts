// Emergency blocks through the admin API: live at once, audited, persisted across a restart,
// removable, refused for shared infrastructure, and a retro-hunt for clients that resolved the
// name before it was blocked.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const TOKEN = 'test-token-0123456789abcdef';
const stateDir = mkdtempSync(join(tmpdir(), 'c2dns-em-'));
let up: Upstream;
beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'fresh-c2.example 1': [{ name: 'fresh-c2.example', type: T.A, address: '203.0.113.9', ttl: 60 }] }));
});
afterAll(async () => up.close());

const config = () => ({ upstreams: [`127.0.0.1:${up.port}`], state: { dir: stateDir }, cache: { maxEntries: 0 }, admin: { listen: '127.0.0.1:0', token: TOKEN } });
const api = (base: string, method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
  fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('emergency blocks', () => {
  it('block via the API: live at once, retro-hunted, persisted, then removed', async () => {
    const c2 = await startC2dns(config());
    const base = c2.server.admin!.url;
    try {
      // Resolved before anyone knew it was C2.
      expect((await ask(c2.port, 'fresh-c2.example', T.A)).packet.answers[0]!.address).toBe('203.0.113.9');
      expect((await api(base, 'POST', '/api/block', { names: ['fresh-c2.example'], reason: 'vendor advisory' }, null)).status).toBe(401);
      const res = await api(base, 'POST', '/api/block', { names: ['Fresh-C2.example.'], reason: 'vendor advisory', expiresIn: '1h' });
      expect(res.status).toBe(201);
      expect((await ask(c2.port, 'www.fresh-c2.example', T.A)).packet.answers[0]!.address).toBe('0.0.0.0');
      const { blocks: list } = (await (await api(base, 'GET', '/api/block')).json()) as { blocks: { name: string; reason: string }[] };
      expect(list.map((b) => [b.name, b.reason])).toEqual([['fresh-c2.example', 'vendor advisory']]);

      // The retro-hunt finds the earlier resolution (history is flushed before hunting).
      const end = Date.now() + 5000;
      let retro: Record<string, unknown> | undefined;
      while (!retro && Date.now() < end) {
        retro = c2.server.alerting!.events.since(0).find((e) => e.type === 'retro-hunt') as Record<string, unknown> | undefined;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(retro).toMatchObject({ client: '127.0.0.1', name: 'fresh-c2.example', resolved: true });
    } finally {
      await c2.close();
    }
    const again = await startC2dns(config());
    try {
      expect((await ask(again.port, 'fresh-c2.example', T.A)).packet.answers[0]!.address).toBe('0.0.0.0');
      expect((await api(again.server.admin!.url, 'DELETE', '/api/block/fresh-c2.example')).status).toBe(200);
      expect((await ask(again.port, 'fresh-c2.example', T.A)).packet.answers[0]!.address).toBe('203.0.113.9');
    } finally {
      await again.close();
    }
  });

  it('refuses shared infrastructure and invalid names with 400, blocking nothing', async () => {
    const c2 = await startC2dns({ ...config(), state: { dir: mkdtempSync(join(tmpdir(), 'c2dns-em-')) } });
    try {
      const gh = await api(c2.server.admin!.url, 'POST', '/api/block', { names: ['fresh-c2.example', 'raw.githubusercontent.com'], reason: 'x' });
      expect(gh.status).toBe(400);
      expect(JSON.stringify(await gh.json())).toMatch(/protected shared infrastructure/);
      expect((await ask(c2.port, 'fresh-c2.example', T.A)).packet.answers[0]!.address).toBe('203.0.113.9');
      expect((await api(c2.server.admin!.url, 'POST', '/api/block', { names: ['bad name'], reason: 'x' })).status).toBe(400);
    } finally {
      await c2.close();
    }
  });
});
