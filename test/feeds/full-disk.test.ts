// A full state disk (issue 10 item 12), on a real 1 MiB tmpfs (root only; otherwise the tmpfs
// tests are skipped with a message): a list refresh that cannot save its last good copy still
// publishes the verified list, and says the disk copy is stale (/readyz `degraded` and the list's
// diskCopyStale, c2dns_list_disk_copy_stale, the log); once there is room again the next refresh
// saves it. Query history records lost to the full disk are counted (c2dns_history_records_total
// {outcome="dropped"}) and named under /readyz `degraded`. And a state directory that is a file no
// longer stops start-up while every list can be read, but does when a local list cannot.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync, writeSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { LastGoodStore, sourceRef } from '../../src/feeds/store.js';
import { PreflightError } from '../../src/server/assemble/preflight.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { ask } from '../helpers/client.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream(zoneScript({}));
});
afterAll(async () => up?.close());

/** Mounts a tmpfs of `size`; null (with the reason) when this process may not. */
function mountTmpfs(dir: string, size: string): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Fills the filesystem of `dir` until ENOSPC; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 0x78);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

interface Running {
  server: RunningServer;
  port: number;
  logs: Record<string, unknown>[];
  readyz(): Promise<{ ready: boolean; problems: string[]; degraded: string[]; lists: { list: string; diskCopyStale: { since: string; problem: string } | null }[] }>;
  metric(name: string): Promise<string>;
  close(): Promise<void>;
}

async function start(dir: string, config: Record<string, unknown>): Promise<Running> {
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, YAML.stringify({ listen: ['127.0.0.1:0'], upstreams: [`127.0.0.1:${up.port}`], admin: { listen: '127.0.0.1:0' }, log: { queries: 'none' }, ...config }));
  const logs: Record<string, unknown>[] = [];
  const oplog = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await startServer(loadConfig({ file }), oplog);
  return {
    server,
    port: server.udp[0]!.port,
    logs,
    readyz: async () => (await (await fetch(`${server.admin!.url}/readyz`)).json()) as Awaited<ReturnType<Running['readyz']>>,
    metric: async (name) => (await server.metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n'),
    close: () => server.close(500),
  };
}

const blocked = async (port: number, name: string): Promise<boolean> => (await ask(port, name, T.A)).packet.answers[0]?.address === '0.0.0.0';

describe('a full state disk (1 MiB tmpfs)', () => {
  const work = mkdtempSync(join(tmpdir(), 'c2dns-full-'));
  const mnt = join(work, 'state');
  mkdirSync(mnt);
  const why = mountTmpfs(mnt, '1m');
  if (why !== null) console.log(`full-disk tests on a tmpfs skipped: ${why}`);
  afterAll(() => {
    if (why === null) execFileSync('umount', [mnt]);
    rmSync(work, { recursive: true, force: true });
  });

  it.skipIf(why !== null)('publishes a verified update it cannot save, says the disk copy is stale, saves it once there is room', async () => {
    const list = join(work, 'c2.txt');
    writeFileSync(list, 'old-c2.example\n');
    const c2 = await start(work, { state: { dir: mnt }, lists: [{ name: 'c2', path: list, tags: ['c2'] }], history: { enabled: true } });
    try {
      expect(await blocked(c2.port, 'old-c2.example')).toBe(true);
      await c2.server.feeds.idle(); // the start's disk copy is written after it answers
      const filler = fill(mnt);
      // A newly published C2 name (and enough others that the copy needs room).
      writeFileSync(list, ['old-c2.example', 'new-c2.example', ...Array.from({ length: 2000 }, (_, i) => `filler-${i}.c2.example`)].join('\n') + '\n');
      expect((await c2.server.feeds.refresh(['c2'])).get('c2')).toBe('updated');
      expect(await blocked(c2.port, 'new-c2.example')).toBe(true); // blocking did not freeze

      const r = await c2.readyz();
      // Not a reason to be unready (the history on the same full disk is: a broken promise of its own).
      expect(r.problems.filter((p) => !p.startsWith('query history:'))).toEqual([]);
      const stale = r.lists.find((l) => l.list === 'c2')!.diskCopyStale;
      expect(stale?.problem).toMatch(/ENOSPC/);
      expect(r.degraded.join('\n')).toMatch(/list "c2": serving an update whose last good copy could not be saved/);
      expect(await c2.metric('c2dns_list_disk_copy_stale')).toContain('c2dns_list_disk_copy_stale{list="c2"} 1');
      expect(c2.logs.some((l) => String(l.msg).includes('its last good copy could not be saved') && l.list === 'c2')).toBe(true);
      // The disk still has the old copy; a restart would start from it.
      expect(new LastGoodStore(mnt, () => {}).load(sourceRef({ name: 'c2', path: list }))?.meta.entries).toBe(1);

      // History: the queries of a full disk are lost, counted, and named.
      for (let i = 0; i < 200; i++) await ask(c2.port, `h${i}.example`, T.A);
      await c2.server.history!.flush();
      expect(await c2.metric('c2dns_history_records_total')).toMatch(/outcome="dropped"} [1-9]/);
      expect((await c2.readyz()).degraded.join('\n')).toMatch(/query history: \d+ records lost since start/);

      // Room again: the next refresh saves the copy and the list is current on disk.
      rmSync(filler);
      expect((await c2.server.feeds.refresh(['c2'])).get('c2')).toBe('unchanged');
      expect((await c2.readyz()).lists.find((l) => l.list === 'c2')!.diskCopyStale).toBeNull();
      expect(await c2.metric('c2dns_list_disk_copy_stale')).toContain('c2dns_list_disk_copy_stale{list="c2"} 0');
      expect(new LastGoodStore(mnt, () => {}).load(sourceRef({ name: 'c2', path: list }))?.meta.entries).toBe(2002);
      expect(c2.logs.some((l) => String(l.msg).includes('the disk copy of the list is current again'))).toBe(true);
    } finally {
      await c2.close();
      for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a state directory that cannot be used', () => {
  it('does not stop start-up while every list can be read: served from the files, state in a temporary directory, /readyz degraded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-statefile-'));
    writeFileSync(join(dir, 'state'), 'not a directory');
    writeFileSync(join(dir, 'c2.txt'), 'c2.example\n');
    const c2 = await start(dir, { state: { dir: join(dir, 'state') }, lists: [{ name: 'c2', path: join(dir, 'c2.txt'), tags: ['c2'] }], quarantine: { enabled: true } });
    try {
      expect(await blocked(c2.port, 'c2.example')).toBe(true);
      const r = await c2.readyz();
      expect(r.ready).toBe(true);
      expect(r.degraded.join('\n')).toMatch(/state\.dir .*state: .*(not a directory|EEXIST).*state kept in .*c2dns-state-/);
      expect(c2.logs.some((l) => l.msg === 'state directory unusable: serving with a temporary one')).toBe(true);
      expect(c2.logs.some((l) => l.msg === 'preflight warning' && String(l.problem).startsWith('state.dir'))).toBe(true);
    } finally {
      await c2.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops start-up when a local list cannot be read either (no disk copy to fall back on)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-statefile-'));
    writeFileSync(join(dir, 'state'), 'not a directory');
    try {
      const err = await start(dir, { state: { dir: join(dir, 'state') }, lists: [{ name: 'c2', path: join(dir, 'missing.txt') }] }).then(
        async (c) => {
          await c.close();
          return null;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PreflightError);
      expect((err as Error).message).toMatch(/key "lists\[0\]\.path": list "c2": cannot read .*missing\.txt.*no disk copy/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
