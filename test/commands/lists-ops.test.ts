// Lists as an operator handles them, through the real CLI: `lists update NAME` then SIGHUP puts
// the running server on the new rules (it used to get a 304 and keep the old ones); a list
// re-pointed to a missing file never starts from the old file's copy; an empty block list is a
// warning (an empty allowlist is not); `check` sees emergency blocks; `lists` and `check` leave
// the state directory as they found it.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_PROTECTED, Guard } from '../../src/blocklist/guard.js';
import { EmergencyStore } from '../../src/feeds/emergency.js';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli, type BuiltCli, type Cli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { startFeedServer, type FeedServer } from '../feeds/feed-server.js';

let built: BuiltCli;
let up: Upstream;
let feed: FeedServer;
/** What the feed serves now; its ETag is its version number. */
let version = 1;
let body = 'akamaicontainer.com\nmsstorageazure.com\n';

beforeAll(async () => {
  built = buildCli();
  up = await startUpstream(zoneScript({}));
  feed = await startFeedServer({
    '/c2.txt': (req, res) => {
      const etag = `"v${version}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', etag }).end(body);
    },
  });
}, 60_000);

afterAll(async () => {
  await feed?.close();
  await up?.close();
  built?.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a CLI command to its end: exit code, stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const c = runCli(built.cliJs, args, 15_000);
  let out = '';
  c.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = await c.exited;
  return { code: exit.code, out, err: c.stderr() };
}

async function serving(c: Cli): Promise<number> {
  const end = Date.now() + 10_000;
  for (;;) {
    const l = opLines(c.stderr()).find((x) => x.msg === 'c2dns serving');
    if (l !== undefined) return Number((l.listen as string[])[0]!.split(':').pop());
    if (c.child.exitCode !== null || Date.now() > end) throw new Error(`c2dns did not start:\n${c.stderr()}`);
    await sleep(20);
  }
}

function writeConfig(dir: string, cfg: Record<string, unknown>): string {
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, YAML.stringify({ listen: ['127.0.0.1:0'], upstreams: [`127.0.0.1:${up.port}`], admin: { enabled: false }, state: { dir: join(dir, 'state') }, log: { destination: join(dir, 'q.log') }, ...cfg }));
  return file;
}

const blocked = async (port: number, name: string): Promise<boolean> => (await ask(port, name, T.A)).packet.answers[0]?.address === '0.0.0.0';

describe('lists update NAME, then SIGHUP', () => {
  it('the running server ends up on the rules the CLI stored', async () => {
    version = 1;
    body = 'akamaicontainer.com\nmsstorageazure.com\n';
    const dir = mkdtempSync(join(built.work, 'hup-'));
    const config = writeConfig(dir, { lists: [{ name: 'feed', url: feed.url('/c2.txt'), format: 'plain', refresh: '0 0 1 1 *', tags: ['c2'] }] });
    const server = runCli(built.cliJs, ['serve', '--config', config], 30_000);
    try {
      const port = await serving(server);
      expect(await blocked(port, 'akamaicontainer.com')).toBe(true);
      expect(await blocked(port, 'sbmsa.wiki')).toBe(false);

      version = 2;
      body = 'akamaicontainer.com\nmsstorageazure.com\nsbmsa.wiki\n';
      const upd = await cli(['lists', 'update', 'feed', '--config', config]);
      expect(upd.code, upd.err).toBe(0);
      expect(upd.out).toMatch(/^feed: updated, 3 entries/m);

      const before = feed.requests.length;
      server.child.kill('SIGHUP');
      // The server asks with the stored copy's ETag and gets a 304: the stored copy is current.
      const end = Date.now() + 5000;
      while (!(await blocked(port, 'sbmsa.wiki'))) {
        if (Date.now() > end) throw new Error(`still on the old rules after SIGHUP:\n${server.stderr()}`);
        await sleep(50);
      }
      expect(feed.requests.slice(before).map((r) => r.headers['if-none-match'])).toContain('"v2"');
      expect(opLines(server.stderr()).some((l) => l.msg === 'list loaded from a newer disk copy' && l.list === 'feed')).toBe(true);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});

describe('a list re-pointed to another file', () => {
  it('never starts from the old file’s disk copy: a missing new file stops start-up naming the key', async () => {
    const dir = mkdtempSync(join(built.work, 'repoint-'));
    writeFileSync(join(dir, 'old.txt'), 'akamaicontainer.com\n');
    const config = writeConfig(dir, { lists: [{ name: 'mine', path: 'old.txt' }] });
    const first = runCli(built.cliJs, ['serve', '--config', config], 15_000);
    await serving(first);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(readdirSync(join(dir, 'state')).some((f) => f.startsWith('mine.') && f.endsWith('.meta.json'))).toBe(true);

    writeConfig(dir, { lists: [{ name: 'mine', path: 'new.txt' }] });
    const second = await cli(['serve', '--config', config]);
    expect(second.code).toBe(1);
    expect(second.err).toMatch(/key "lists\[0\]\.path": list "mine": cannot read .*new\.txt: .*no disk copy of this source/);
    expect(second.err).not.toContain('c2dns serving');
  });
});

describe('empty lists', () => {
  it('an empty local block list is a warning at start and in `c2dns lists`; an empty allowlist is not', async () => {
    const dir = mkdtempSync(join(built.work, 'empty-'));
    writeFileSync(join(dir, 'block.txt'), '# nothing yet\n');
    writeFileSync(join(dir, 'allow.txt'), '');
    const config = writeConfig(dir, {
      lists: [
        { name: 'empty-block', path: 'block.txt' },
        { name: 'empty-allow', path: 'allow.txt', kind: 'allow' },
      ],
    });
    const server = runCli(built.cliJs, ['serve', '--config', config], 15_000);
    try {
      await serving(server);
      const warned = opLines(server.stderr()).filter((l) => l.msg === 'list is empty: a block list with no entries blocks nothing (wrong file?)');
      expect(warned.map((l) => [l.list, l.level])).toEqual([['empty-block', 40]]);
    } finally {
      server.child.kill('SIGKILL');
    }
    const text = await cli(['lists', '--config', config]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^empty-block .*\n(  .*\n)*  warning: empty block list: it blocks nothing/m);
    const json = JSON.parse((await cli(['lists', '--config', config, '--json'])).out) as { name: string; warnings: string[] }[];
    expect(json.map((r) => [r.name, r.warnings])).toEqual([
      ['empty-block', ['empty block list: it blocks nothing (wrong file?)']],
      ['empty-allow', []],
    ]);
  });
});

describe('offline commands', () => {
  it('`c2dns check` includes emergency blocks', async () => {
    const dir = mkdtempSync(join(built.work, 'emerg-'));
    writeFileSync(join(dir, 'c2.txt'), 'akamaicontainer.com\n');
    const config = writeConfig(dir, { lists: [{ name: 'c2', path: 'c2.txt' }] });
    mkdirSync(join(dir, 'state'));
    new EmergencyStore(join(dir, 'state'), new Guard(DEFAULT_PROTECTED), () => {}).add(['evil-update.example'], 'vendor advisory', null, 'analyst');
    const r = await cli(['check', 'cdn.evil-update.example', '--config', config]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/cdn\.evil-update\.example: BLOCKED by list "emergency", rule "evil-update\.example"/);
    const j = JSON.parse((await cli(['check', 'evil-update.example', '--config', config, '--json'])).out) as { decision: string; list: string };
    expect(j).toMatchObject({ decision: 'blocked', list: 'emergency' });
  });

  it('`c2dns lists` and `c2dns check` do not write into the state directory', async () => {
    const dir = mkdtempSync(join(built.work, 'ro-'));
    writeFileSync(join(dir, 'c2.txt'), 'akamaicontainer.com\n');
    const config = writeConfig(dir, { lists: [{ name: 'c2', path: 'c2.txt' }, { name: 'remote', url: feed.url('/c2.txt') }] });
    // No state directory at all: they must not create one.
    expect((await cli(['lists', '--config', config])).code).toBe(0);
    expect((await cli(['check', 'akamaicontainer.com', '--config', config])).code).toBe(0);
    expect(existsSync(join(dir, 'state'))).toBe(false);
    // A state directory the server filled: left exactly as it was.
    const state = join(dir, 'state');
    const server = runCli(built.cliJs, ['serve', '--config', config], 15_000);
    await serving(server);
    server.child.kill('SIGTERM');
    await server.exited;
    const snapshot = (): string[] => readdirSync(state).map((f) => `${f}@${statSync(join(state, f)).mtimeMs}`).sort();
    const before = snapshot();
    await sleep(20);
    expect((await cli(['lists', '--config', config])).code).toBe(0);
    expect((await cli(['check', 'akamaicontainer.com', '--config', config])).code).toBe(0);
    expect(snapshot()).toEqual(before);
  });
});
