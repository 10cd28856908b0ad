// Failures after start-up are not silent: a query log that cannot be written, a query history
// whose directory went away and an alert spool that cannot write each make /readyz unready with
// a named problem and log an operational error (once), and the spool's problem ends when it can
// write again. The process dies loudly on an uncaught exception, and a SIGTERM ends it within the
// grace period even with a query stuck on an upstream that never answers.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli, type BuiltCli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream(zoneScript({}));
});
afterAll(async () => up?.close());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Running {
  server: RunningServer;
  dir: string;
  /** Operational log lines so far. */
  ops: Record<string, unknown>[];
  readyz(): Promise<{ status: number; body: { ready: boolean; problems: string[] } }>;
}

/** c2dns in-process from a YAML file, with its operational log captured. */
async function start(overrides: (dir: string) => Record<string, unknown>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-ops-'));
  writeFileSync(join(dir, 'c2.txt'), 'akamaicontainer.com\nmsstorageazure.com\nsbmsa.wiki\n');
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(
    file,
    YAML.stringify({
      listen: ['127.0.0.1:0'],
      upstreams: [`127.0.0.1:${up.port}`],
      admin: { listen: '127.0.0.1:0' },
      state: { dir: join(dir, 'state') },
      lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2'] }],
      log: { destination: join(dir, 'queries.log') },
      ...overrides(dir),
    }),
  );
  const ops: Record<string, unknown>[] = [];
  const oplog = pino({ level: 'info' }, { write: (line: string) => void ops.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await startServer(loadConfig({ file }), oplog);
  return {
    server,
    dir,
    ops,
    async readyz() {
      const r = await fetch(`${server.admin!.url}/readyz`);
      return { status: r.status, body: (await r.json()) as { ready: boolean; problems: string[] } };
    },
  };
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 4000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

const problemsLogged = (r: Running, component: string): Record<string, unknown>[] => r.ops.filter((l) => l.msg === 'operational problem: not ready until it is resolved' && l.component === component);

describe('failures after start-up show in /readyz and the log', () => {
  it('a query log that cannot be written (ENOSPC on /dev/full): unready, named, logged once; DNS keeps answering', async () => {
    const r = await start(() => ({ log: { destination: '/dev/full' } }));
    try {
      expect((await r.readyz()).status).toBe(200);
      // The upstream's empty zone answers NXDOMAIN: answering goes on without a log.
      for (let i = 0; i < 3; i++) expect((await ask(r.server.udp[0]!.port, `q${i}.example`, T.A)).packet.header.rcode).toBe(3);
      const ready = await until('readyz to turn 503', () => r.readyz(), (x) => x.status === 503);
      expect(ready.body.ready).toBe(false);
      expect(ready.body.problems).toEqual([expect.stringMatching(/^query log: cannot write to \/dev\/full: .*ENOSPC.*\(since /)]);
      // More queries, more failed writes: still one error in the log.
      for (let i = 0; i < 3; i++) await ask(r.server.udp[0]!.port, `again${i}.example`, T.A);
      await sleep(600);
      expect(problemsLogged(r, 'query log')).toHaveLength(1);
      expect(problemsLogged(r, 'query log')[0]).toMatchObject({ level: 50, problem: expect.stringContaining('/dev/full') as unknown });
    } finally {
      await r.server.close(0);
    }
  });

  it('a query history whose directory is gone: unready with "query history", logged', async () => {
    const r = await start((dir) => ({ history: { dir: join(dir, 'history') } }));
    try {
      expect((await r.readyz()).status).toBe(200);
      const hist = join(r.dir, 'history');
      rmSync(hist, { recursive: true, force: true });
      writeFileSync(hist, 'not a directory');
      await ask(r.server.udp[0]!.port, 'recorded.example', T.A);
      await r.server.history!.flush();
      const ready = await until('readyz to turn 503', () => r.readyz(), (x) => x.status === 503);
      expect(ready.body.problems).toEqual([expect.stringMatching(/^query history: cannot record queries in .*history: /)]);
      expect(problemsLogged(r, 'query history')).toHaveLength(1);
    } finally {
      await r.server.close(0);
    }
  });

  it('an alert spool that cannot write: unready with the sink named; ready again once it can', async () => {
    const r = await start((dir) => ({ alerts: { sinks: [{ type: 'file', name: 'siem', path: join(dir, 'events.jsonl') }] } }));
    try {
      expect((await r.readyz()).status).toBe(200);
      const spoolDir = join(r.dir, 'state', 'alerts', 'siem');
      expect(readdirSync(join(r.dir, 'state', 'alerts'))).toContain('siem');
      rmSync(spoolDir, { recursive: true, force: true });
      writeFileSync(spoolDir, 'not a directory');
      // A blocked query on a c2-tagged rule raises a security event, which the spool must write.
      expect((await ask(r.server.udp[0]!.port, 'akamaicontainer.com', T.A)).packet.answers[0]?.address).toBe('0.0.0.0');
      const bad = await until('readyz to turn 503', () => r.readyz(), (x) => x.status === 503);
      expect(bad.body.problems).toEqual([expect.stringMatching(/^alert spool "siem": cannot write security events to disk: /)]);
      expect(problemsLogged(r, 'alert spool "siem"')).toHaveLength(1);

      rmSync(spoolDir, { force: true });
      mkdirSync(spoolDir);
      await ask(r.server.udp[0]!.port, 'msstorageazure.com', T.A, { from: '127.0.0.2' });
      const good = await until('readyz to turn 200', () => r.readyz(), (x) => x.status === 200);
      expect(good.body.problems).toEqual([]);
      expect(r.ops.some((l) => l.msg === 'operational problem resolved' && l.component === 'alert spool "siem"')).toBe(true);
    } finally {
      await r.server.close(0);
    }
  });
});

describe('the process ends when it must', () => {
  let built: BuiltCli;
  beforeAll(() => {
    built = buildCli();
  }, 60_000);
  afterAll(() => built?.cleanup());

  /** Runs `trigger` in a real Node process with the serving process's handler (server/process.ts) installed as `c2dns serve` installs it. */
  async function dieOf(trigger: string): Promise<{ code: number | null; stderr: string }> {
    const processJs = join(built.cliJs, '..', 'server', 'process.js');
    const script = `
      import pino from 'pino';
      const { exitOnUncaughtException } = await import(${JSON.stringify(processJs)});
      const log = pino({ level: 'info' }, pino.destination({ dest: 2, sync: true }));
      exitOnUncaughtException(log, () => process.stderr.write('flushed\\n'));
      setInterval(() => {}, 1000); // something that would keep a limping process alive
      setTimeout(() => { ${trigger} }, 50);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: join(built.cliJs, '..', '..', '..'), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    return { code, stderr };
  }

  it('an uncaught exception ends the process: exit 1, a fatal log line naming the error, the query log flushed', async () => {
    const { code, stderr } = await dieOf(`throw new Error('boom in a timer');`);
    expect(code, stderr).toBe(1);
    const fatal = opLines(stderr).find((l) => l.level === 60);
    expect(fatal).toMatchObject({ msg: expect.stringMatching(/^uncaught exception: exiting/) as unknown, err: { message: 'boom in a timer' } });
    expect(stderr).toContain('flushed');
  });

  it('an unhandled promise rejection ends the process the same way (it used to be logged "kept running" and the process limped on)', async () => {
    const { code, stderr } = await dieOf(`void Promise.reject(new Error('nobody awaited this'));`);
    expect(code, stderr).toBe(1);
    const fatal = opLines(stderr).find((l) => l.level === 60);
    expect(fatal).toMatchObject({ msg: expect.stringMatching(/^unhandled promise rejection: exiting/) as unknown, err: { message: 'nobody awaited this' } });
    expect(stderr).toContain('flushed');
  });

  it('SIGTERM with a query log that cannot be written (/dev/full): stops promptly, exit 0 (the final flush used to block for ever)', async () => {
    const dir = mkdtempSync(join(built.work, 'full-'));
    const config = join(dir, 'c2dns.yaml');
    writeFileSync(config, YAML.stringify({ admin: { enabled: false }, state: { dir: join(dir, 'state') }, lists: [], log: { destination: '/dev/full' } }));
    const cli = runCli(built.cliJs, ['serve', '--config', config, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`], 15_000);
    try {
      const serving = await until('c2dns serving', async () => opLines(cli.stderr()).find((l) => l.msg === 'c2dns serving'), (l) => l !== undefined, 8000);
      const port = Number((serving!.listen as string[])[0]!.split(':').pop());
      for (let i = 0; i < 5; i++) await ask(port, `full${i}.example`, T.A);
      await until('the query log error', async () => opLines(cli.stderr()).find((l) => l.component === 'query log'), (l) => l !== undefined);
      const signalled = Date.now();
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect({ code: exit.code, signal: exit.signal }, cli.stderr()).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalled).toBeLessThan(2000);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  // The benchmark rig pins c2dns to one core, as a 1-vCPU VM or `docker --cpuset-cpus=0` does.
  const taskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  it.skipIf(!taskset)('pinned to one CPU, serve runs the parallel GC phases on its main thread and says so (skipped only without taskset)', async () => {
    const dir = mkdtempSync(join(built.work, 'one-cpu-'));
    const config = join(dir, 'c2dns.yaml');
    writeFileSync(config, YAML.stringify({ admin: { enabled: false }, state: { dir: join(dir, 'state') }, lists: [], log: { destination: join(dir, 'q.log') } }));
    const child = spawn('taskset', ['-c', '0', process.execPath, built.cliJs, 'serve', '--config', config, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const serving = await until('c2dns serving', async () => opLines(stderr).find((l) => l.msg === 'c2dns serving'), (l) => l !== undefined, 8000);
      expect(opLines(stderr).find((l) => l.gc !== undefined)).toMatchObject({ gc: 'main-thread', msg: expect.stringMatching(/^one CPU: V8 scavenges, compacts and sweeps on the main thread/) as unknown });
      const port = Number((serving!.listen as string[])[0]!.split(':').pop());
      expect((await ask(port, 'pinned.example', T.A)).packet.header.rcode).toBe(3); // the test upstream's NXDOMAIN: it was forwarded
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('SIGTERM with a TCP query stuck on an upstream that never answers: exits within the 5 s grace period', async () => {
    const silent = await startUpstream(() => ({ drop: true }));
    const dir = mkdtempSync(join(built.work, 'stuck-'));
    const config = join(dir, 'c2dns.yaml');
    writeFileSync(config, YAML.stringify({ admin: { enabled: false }, state: { dir: join(dir, 'state') }, lists: [], upstream: { timeoutMs: 60_000 }, log: { destination: join(dir, 'q.log') } }));
    const cli = runCli(built.cliJs, ['serve', '--config', config, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${silent.port}`], 15_000);
    try {
      let port = 0;
      await until(
        'c2dns serving',
        async () => opLines(cli.stderr()).find((l) => l.msg === 'c2dns serving'),
        (l) => l !== undefined,
        8000,
      ).then((l) => (port = Number((l!.listen as string[])[0]!.split(':').pop())));
      void ask(port, 'never.example', T.A, { tcp: true, timeoutMs: 8000 }).catch(() => null);
      await until('the query to reach the upstream', async () => silent.received.length, (n) => n > 0);
      const signalled = Date.now();
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.signal).toBeNull();
      expect(Date.now() - signalled).toBeLessThan(5500);
      expect(opLines(cli.stderr()).some((l) => l.msg === 'shutting down: finishing in-flight queries')).toBe(true);
    } finally {
      cli.child.kill('SIGKILL');
      await silent.close();
    }
  });
});
