// Everything that can fail is checked before anything binds: the real CLI with configurations an
// operator gets wrong (a log file it cannot create, a cron expression node-cron refuses, a state
// or history directory it cannot write, a list file that is gone, an admin or DNS port already
// taken). Each must exit 1 promptly with a message naming the key, and leave every port free.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/app.js';
import { buildCli, opLines, runCli as runCliAt, type BuiltCli, type Cli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { freePort, portFree } from '../helpers/ports.js';

let built: BuiltCli;
let up: Upstream;

beforeAll(async () => {
  built = buildCli();
  up = await startUpstream(zoneScript({}));
}, 60_000);

afterAll(async () => {
  await up?.close();
  built?.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));



interface Setup {
  dir: string;
  config: string;
  dnsPort: number;
  adminPort: number;
}

/** A config file in a fresh directory: one local list, admin on a free port, the given overrides. */
async function setup(overrides: (dir: string) => Record<string, unknown>): Promise<Setup> {
  const dir = mkdtempSync(join(built.work, 'pre-'));
  writeFileSync(join(dir, 'c2.txt'), 'akamaicontainer.com\n');
  const dnsPort = await freePort();
  const adminPort = await freePort();
  const cfg = {
    listen: [`127.0.0.1:${dnsPort}`],
    upstreams: [`127.0.0.1:${up.port}`],
    admin: { listen: `127.0.0.1:${adminPort}` },
    state: { dir: join(dir, 'state') },
    lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2'] }],
    log: { destination: join(dir, 'queries.log') },
    ...overrides(dir),
  };
  const config = join(dir, 'c2dns.yaml');
  writeFileSync(config, YAML.stringify(cfg));
  return { dir, config, dnsPort, adminPort };
}

const serve = (s: Setup, timeoutMs = 8000): Cli => runCliAt(built.cliJs, ['serve', '--config', s.config], timeoutMs);

/** Runs `serve`, expects exit 1 within 5 s, nothing announced, both ports free; returns stderr. */
async function failsBeforeBinding(s: Setup): Promise<string> {
  const cli = serve(s);
  const exit = await cli.exited;
  const err = cli.stderr();
  expect({ code: exit.code, signal: exit.signal }, err).toEqual({ code: 1, signal: null });
  expect(exit.ms).toBeLessThan(5000);
  expect(err).not.toContain('c2dns serving');
  expect(err).not.toMatch(/\n\s+at /); // one message, no stack trace
  expect(await portFree(s.dnsPort)).toBe(true);
  expect(await portFree(s.adminPort)).toBe(true);
  return err;
}

describe('serve checks everything before it binds', () => {
  it('log.destination under /proc: config error naming the key, exit 1 (it used to spin and ignore SIGTERM)', async () => {
    const s = await setup(() => ({ log: { destination: '/proc/c2dns/queries.log' } }));
    const err = await failsBeforeBinding(s);
    expect(err).toContain(`config error in ${s.config}: key "log.destination"`);
    expect(err).toContain('/proc/c2dns/queries.log');
    expect(err).not.toContain('list loaded'); // stopped before loading anything
  });

  it('log.destination whose directory cannot be created (a file is in the way): config error, exit 1', async () => {
    const s = await setup((dir) => {
      writeFileSync(join(dir, 'not-a-dir'), 'x');
      return { log: { destination: join(dir, 'not-a-dir', 'queries.log') } };
    });
    const err = await failsBeforeBinding(s);
    expect(err).toMatch(/key "log\.destination": cannot (create|open|write)/);
  });

  it('an invalid cron expression: config error naming lists[0].refresh, no stack trace, exit 1', async () => {
    const s = await setup(() => ({ lists: [{ name: 'c2', path: 'c2.txt', refresh: 'every hour' }] }));
    const err = await failsBeforeBinding(s);
    expect(err).toContain(`config error in ${s.config}: key "lists[0].refresh"`);
    expect(err).toContain('"every hour"');
    expect(err).not.toContain('list loaded');
  });

  it('a state directory that cannot be created: serves from the list files with a temporary state directory, says so (issue 10 item 12)', async () => {
    const s = await setup((dir) => {
      writeFileSync(join(dir, 'file'), 'x');
      return { state: { dir: join(dir, 'file', 'state') } };
    });
    const cli = serve(s);
    const end = Date.now() + 8000;
    while (!opLines(cli.stderr()).some((l) => l.msg === 'c2dns serving')) {
      if (cli.child.exitCode !== null || Date.now() > end) throw new Error(`did not start:\n${cli.stderr()}`);
      await sleep(20);
    }
    const lines = opLines(cli.stderr());
    expect(lines.find((l) => l.msg === 'preflight warning')?.problem).toMatch(/^state\.dir .*cannot create .*file\/state/);
    expect(lines.some((l) => l.msg === 'state directory unusable: serving with a temporary one')).toBe(true);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('a state directory that cannot be created and a list file that cannot be read: config error naming the list, exit 1', async () => {
    const s = await setup((dir) => {
      writeFileSync(join(dir, 'file'), 'x');
      return { state: { dir: join(dir, 'file', 'state') }, lists: [{ name: 'c2', path: 'gone.txt' }] };
    });
    const err = await failsBeforeBinding(s);
    expect(err).toMatch(/key "lists\[0\]\.path": list "c2": cannot read .*gone\.txt.*no disk copy/);
  });

  it('a history directory that cannot be created: config error naming history.dir, exit 1', async () => {
    const s = await setup((dir) => {
      writeFileSync(join(dir, 'file'), 'x');
      return { history: { dir: join(dir, 'file', 'history') } };
    });
    const err = await failsBeforeBinding(s);
    expect(err).toMatch(/key "history\.dir"/);
  });

  it('a local list whose file is gone and that has no disk copy: error naming lists[0].path, before anything loads', async () => {
    const s = await setup(() => ({ lists: [{ name: 'c2', path: 'missing.txt' }] }));
    const err = await failsBeforeBinding(s);
    expect(err).toMatch(/key "lists\[0\]\.path": list "c2": cannot read .*missing\.txt.*no disk copy/);
    expect(err).not.toContain('list loaded');
  });

  it('the admin port already in use: exit 1 with a clear message naming admin.listen (it used to hang)', async () => {
    const s = await setup(() => ({}));
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(s.adminPort, '127.0.0.1', () => r()));
    try {
      const cli = serve(s);
      const exit = await cli.exited;
      const err = cli.stderr();
      expect({ code: exit.code, signal: exit.signal }, err).toEqual({ code: 1, signal: null });
      expect(exit.ms).toBeLessThan(5000);
      expect(err).toMatch(new RegExp(`c2dns: cannot listen: EADDRINUSE: 127\\.0\\.0\\.1:${s.adminPort} .*key "admin\\.listen"`));
      expect(err).not.toContain('c2dns serving');
      expect(await portFree(s.dnsPort)).toBe(true);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  it('a DNS port whose TCP side is taken: exit 1 naming listen[0], the admin port stays free', async () => {
    const s = await setup(() => ({}));
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(s.dnsPort, '127.0.0.1', () => r()));
    try {
      const cli = serve(s);
      const exit = await cli.exited;
      const err = cli.stderr();
      expect(exit.code, err).toBe(1);
      expect(err).toMatch(new RegExp(`cannot listen: EADDRINUSE: 127\\.0\\.0\\.1:${s.dnsPort} \\(TCP\\).*key "listen\\[0\\]"`));
      expect(err).not.toContain('list loaded');
      expect(await portFree(s.adminPort)).toBe(true);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  it('the same checks pass on a good configuration: it serves, then stops on SIGTERM', async () => {
    const s = await setup(() => ({}));
    const cli = serve(s);
    const end = Date.now() + 8000;
    while (!opLines(cli.stderr()).some((l) => l.msg === 'c2dns serving')) {
      if (cli.child.exitCode !== null || Date.now() > end) throw new Error(`did not start:\n${cli.stderr()}`);
      await sleep(20);
    }
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});

describe('a port taken between the checks and the bind (in-process, checks of ports skipped)', () => {
  async function start(s: Setup): Promise<unknown> {
    const cfg = loadConfig({ file: s.config });
    try {
      const server = await startServer(cfg, pino({ level: 'silent' }), { refresh: false, checkPorts: false });
      await server.close(0);
      return null;
    } catch (err) {
      return err;
    }
  }

  it('admin port: start-up fails with EADDRINUSE and no DNS socket was ever bound', async () => {
    const s = await setup(() => ({}));
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(s.adminPort, '127.0.0.1', () => r()));
    try {
      expect((await start(s)) as NodeJS.ErrnoException).toMatchObject({ code: 'EADDRINUSE' });
      expect(await portFree(s.dnsPort)).toBe(true);
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  it('DNS port: start-up fails with EADDRINUSE and the admin listener it had bound is closed', async () => {
    const s = await setup(() => ({}));
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(s.dnsPort, '127.0.0.1', () => r()));
    try {
      expect((await start(s)) as NodeJS.ErrnoException).toMatchObject({ code: 'EADDRINUSE' });
      expect(await portFree(s.adminPort)).toBe(true);
    } finally {
      squatter.close();
    }
  });
});

// As root, file modes do not stop anything; the child then runs as "nobody" so that they do.
const root = process.getuid?.() === 0;

describe('permission errors are config errors too', () => {
  it('a log directory c2dns may not write: config error naming log.destination, exit 1', async () => {
    const s = await setup((dir) => {
      mkdirSync(join(dir, 'locked'), { mode: 0o555 });
      chmodSync(join(dir, 'locked'), 0o555);
      return { log: { destination: join(dir, 'locked', 'sub', 'queries.log') }, state: { dir: join(dir, 'state') } };
    });
    if (root) {
      // The child must be able to reach the built CLI and the config as nobody, and own its state.
      for (const d of [built.work, s.dir]) chmodSync(d, 0o755);
      mkdirSync(join(s.dir, 'state'), { mode: 0o777 });
      chmodSync(join(s.dir, 'state'), 0o777);
    }
    const cli = root ? runAsNobody(['serve', '--config', s.config]) : serve(s);
    const exit = await cli.exited;
    const err = cli.stderr();
    expect(exit.code, err).toBe(1);
    expect(err).toMatch(/key "log\.destination": cannot create .*permission denied|key "log\.destination": .*EACCES/i);
    expect(await portFree(s.dnsPort)).toBe(true);
  });
});

/** The CLI as uid/gid 65534 (nobody), like runCli. */
function runAsNobody(args: string[]): Cli {
  const child = spawn(process.execPath, [built.cliJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], uid: 65534, gid: 65534 });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const started = Date.now();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, ms: Date.now() - started });
    });
  });
  return { child, stderr: () => err, exited };
}
