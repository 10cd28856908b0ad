// Hot reload through the real CLI (`c2dns serve`, kill -HUP): an invalid file keeps the running
// configuration and says why; a list added by reload blocks within a second; dnsperf at a steady
// rate across reloads loses no query. The --listen and --upstream flags stay on top of the file.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli, type BuiltCli, type Cli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { rcodeOf, T } from '../helpers/wire.js';

const DNSPERF = '/usr/bin/dnsperf';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let built: BuiltCli;
let up: Upstream;
let dir: string;
let file: string;
let cli: Cli;
let port: number;
let admin: string;

const list = (name: string): { name: string; path: string } => ({ name, path: join(dir, `${name}.txt`) });
/** The file as an operator edits it; upstreams here are overridden by --upstream. */
const write = (o: Record<string, unknown>): void =>
  writeFileSync(file, YAML.stringify({ upstreams: ['192.0.2.53'], state: { dir: join(dir, 'state') }, admin: { listen: '127.0.0.1:0' }, log: { queries: 'none' }, lists: [list('a')], ...o }));

async function until<V>(what: string, get: () => V | Promise<V>, ok: (v: V) => boolean, timeoutMs = 5000): Promise<V> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await sleep(20);
  }
}

const blocked = async (name: string): Promise<boolean> => ((await ask(port, name, T.A)).packet.answers[0] as { address?: string } | undefined)?.address === '0.0.0.0';
const reloadLines = (): Record<string, unknown>[] => opLines(cli.stderr()).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration reload'));

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    request(`${admin}/metrics`, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    })
      .on('error', reject)
      .end();
  });
}

beforeAll(async () => {
  built = buildCli();
  dir = mkdtempSync(join(built.work, 'reload-'));
  file = join(dir, 'c2dns.yaml');
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, `${n}.txt`), `${n}-c2.example\n`);
  up = await startUpstream(zoneScript({ 'www.example 1': [{ name: 'www.example', type: T.A, address: '192.0.2.1', ttl: 300 }] }));
  write({});
  cli = runCli(built.cliJs, ['serve', '--config', file, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`], 120_000);
  const serving = await until('c2dns serving', () => opLines(cli.stderr()).find((l) => l.msg === 'c2dns serving'), (l) => l !== undefined, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${cli.stderr()}`);
  });
  port = Number((serving!.listen as string[])[0]!.split(':').pop());
  admin = serving!.admin as string;
}, 120_000);

afterAll(async () => {
  cli?.child.kill('SIGTERM');
  await cli?.exited;
  await up?.close();
  built?.cleanup();
});

describe('c2dns serve reloads its configuration on SIGHUP', () => {
  it('an invalid file keeps serving the old configuration; the log says why and the metric counts it', async () => {
    expect(await blocked('a-c2.example')).toBe(true);
    write({ lists: [list('a')], access: { allow: ['192.168.1.77/33'] } });
    cli.child.kill('SIGHUP');
    const refused = await until('the refusal', () => reloadLines().find((l) => l.msg === 'configuration reload refused: the running configuration stays'), (l) => l !== undefined);
    expect(refused).toMatchObject({ level: 50, via: 'SIGHUP' });
    expect(String(refused!.problem)).toMatch(/access\.allow/);
    expect(await blocked('a-c2.example')).toBe(true);
    expect(((await ask(port, 'www.example', T.A)).packet.answers[0] as { address: string }).address).toBe('192.0.2.1');
    expect(await metrics()).toMatch(/c2dns_config_reload_total\{result="invalid"\} 1/);
  });

  it('a list added by reload blocks within 1 s of SIGHUP; --upstream stays on top of the file', async () => {
    expect(await blocked('b-c2.example')).toBe(false);
    write({ lists: [list('a'), list('b')] });
    const t0 = Date.now();
    cli.child.kill('SIGHUP');
    await until('b-c2.example blocked', () => blocked('b-c2.example'), (b) => b, 3000);
    const ms = Date.now() - t0;
    const done = await until('the reload line', () => reloadLines().find((l) => l.msg === 'configuration reloaded'), (l) => l !== undefined);
    expect(ms, JSON.stringify(opLines(cli.stderr()).slice(-8))).toBeLessThan(1000);
    expect(done).toMatchObject({ via: 'SIGHUP', applied: ['lists'], lists: { added: ['b'] } });
    // The file names 192.0.2.53; --upstream still wins.
    expect(((await ask(port, 'www.example', T.A)).packet.answers[0] as { address: string }).address).toBe('192.0.2.1');
    expect(await metrics()).toMatch(/c2dns_config_reload_total\{result="ok"\} 1/);
  });

  it.skipIf(!existsSync(DNSPERF))('dnsperf at 500 queries/s for 6 s across three reloads loses no query', async () => {
    const data = join(dir, 'queries.txt');
    writeFileSync(data, ['www.example A', 'a-c2.example A', 'b-c2.example A', 'c-c2.example A', 'nx.example A'].join('\n') + '\n');
    const run = promisify(execFile)(DNSPERF, ['-s', '127.0.0.1', '-p', String(port), '-d', data, '-l', '6', '-Q', '500', '-c', '4', '-t', '2'], { timeout: 20_000 });
    const before = reloadLines().length;
    // Lists, blocking answers, access and rate limits change under load; the chain is swapped each time.
    const files = [
      { lists: [list('a'), list('b'), list('c')], blocking: { action: 'nxdomain' } },
      { lists: [list('a')], access: { allow: ['127.0.0.0/8', '10.0.0.0/8'] }, rateLimit: { qps: 2000, burst: 4000 } },
      { lists: [list('a'), list('c')] },
    ];
    for (const f of files) {
      await sleep(1500);
      write(f);
      cli.child.kill('SIGHUP');
    }
    const { stdout } = await run;
    const lost = /Queries lost:\s+(\d+)/.exec(stdout);
    const sent = /Queries sent:\s+(\d+)/.exec(stdout);
    expect(lost, stdout).not.toBeNull();
    expect(Number(sent![1])).toBeGreaterThan(2500);
    expect(Number(lost![1]), stdout).toBe(0);
    const reloads = reloadLines().slice(before).filter((l) => l.msg === 'configuration reloaded');
    expect(reloads).toHaveLength(3);
    expect(rcodeOf((await ask(port, 'c-c2.example', T.A)).raw)).toBe(0); // the last file: blocking back to the default answer
    expect(await blocked('c-c2.example')).toBe(true);
  }, 30_000);
});

describe('with workers: 2, every worker reloads', () => {
  const TOKEN = 'reload-cluster-token-0123456789ab';
  it('SIGHUP reaches both workers; POST /api/reload in worker 1 is passed on to worker 2', async () => {
    const cdir = mkdtempSync(join(built.work, 'reload-cluster-'));
    const cfile = join(cdir, 'c2dns.yaml');
    const cwrite = (lists: string[]): void =>
      writeFileSync(cfile, YAML.stringify({ workers: 2, state: { dir: join(cdir, 'state') }, admin: { listen: '127.0.0.1:0', token: TOKEN }, log: { queries: 'none' }, lists: lists.map(list) }));
    cwrite(['a']);
    const cport = 20000 + Math.floor(Math.random() * 20000);
    const c = runCli(built.cliJs, ['serve', '--config', cfile, '--listen', `127.0.0.1:${cport}`, '--upstream', `127.0.0.1:${up.port}`], 60_000);
    try {
      const servingLines = await until('two workers serving', () => opLines(c.stderr()).filter((l) => l.msg === 'c2dns serving'), (l) => l.length === 2, 20_000);
      const adminUrl = servingLines.map((l) => l.admin).find((a) => typeof a === 'string') as string;
      const blockedHere = async (name: string): Promise<boolean> => ((await ask(cport, name, T.A)).packet.answers[0] as { address?: string } | undefined)?.address === '0.0.0.0';
      // 20 in a row: the kernel spreads datagrams over both workers.
      const allBlock = async (name: string): Promise<number> => {
        let n = 0;
        for (let i = 0; i < 20; i++) if (await blockedHere(name)) n++;
        return n;
      };
      cwrite(['a', 'b']);
      c.child.kill('SIGHUP');
      expect(await until('b blocked by both workers', () => allBlock('b-c2.example'), (n) => n === 20, 5000)).toBe(20);
      cwrite(['a', 'b', 'c']);
      const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        request(`${adminUrl}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        })
          .on('error', reject)
          .end();
      });
      expect(answer).toMatchObject({ status: 200, body: { result: 'ok', lists: { added: ['c'] } } });
      expect(await until('c blocked by both workers', () => allBlock('c-c2.example'), (n) => n === 20, 5000)).toBe(20);
      const pids = new Set(opLines(c.stderr()).filter((l) => l.msg === 'configuration reloaded').map((l) => l.pid));
      expect(pids.size).toBe(2);
    } finally {
      c.child.kill('SIGTERM');
      await c.exited;
    }
  }, 60_000);
});
