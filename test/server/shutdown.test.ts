// The real CLI as a child process: SIGTERM/SIGINT with queries in flight (they are answered and
// logged, the exit code is 0), a bad config file (non-zero exit naming the file and key, nothing
// bound) and a --listen port that is taken (non-zero exit, clear message).
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli as runCliAt, type BuiltCli, type Cli } from '../helpers/cli.js';
import { startUpstream, type ScriptedReply, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';
import { freePort, portFree } from '../helpers/ports.js';


/** "d<ms>.<anything>" answers after <ms> milliseconds; every name gets A 192.0.2.1. */
function slowScript(q: { name: string }): ScriptedReply {
  const m = /^d(\d+)\./i.exec(q.name);
  return { answers: [{ name: q.name, type: T.A, address: '192.0.2.1', ttl: 60 }], ...(m ? { delayMs: Number(m[1]) } : {}) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let work: string;
let cliJs: string;
let up: Upstream;

let built: BuiltCli;
beforeAll(async () => {
  built = buildCli();
  work = built.work;
  cliJs = built.cliJs;
  up = await startUpstream(slowScript);
}, 60_000);

afterAll(async () => {
  await up?.close();
  built?.cleanup();
});

const runCli = (args: string[], timeoutMs = 8000): Cli => runCliAt(cliJs, args, timeoutMs);

/** Starts `c2dns serve` on 127.0.0.1:0 and returns the port it bound (from the startup line). */
async function serve(): Promise<{ cli: Cli; port: number; logFile: string }> {
  const base = mkdtempSync(join(work, 'serve-'));
  const logFile = join(base, 'queries.log');
  const config = join(base, 'c2dns.yaml');
  // No lists: these tests are about the listeners and the stop, not about list loading.
  writeFileSync(config, `admin: {enabled: false}\nstate: {dir: ${join(base, 'state')}}\nlists: []\ncache:\n  maxEntries: 0\nlog:\n  destination: ${logFile}\n`);
  const cli = runCli(['serve', '--config', config, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`]);
  const end = Date.now() + 8000;
  for (;;) {
    const ready = opLines(cli.stderr()).find((l) => l.msg === 'c2dns serving');
    if (ready) {
      const listen = ready.listen as string[];
      return { cli, port: Number(listen[0]!.split(':').pop()), logFile };
    }
    if (cli.child.exitCode !== null || Date.now() > end) throw new Error(`c2dns did not start:\n${cli.stderr()}`);
    await sleep(20);
  }
}

/** A config that loads no lists and logs queries to a temp file. */
function noListsConfig(): string {
  const base = mkdtempSync(join(work, 'cfg-'));
  const file = join(base, 'c2dns.yaml');
  writeFileSync(file, `admin: {enabled: false}\nstate: {dir: ${join(base, 'state')}}\nlists: []\nlog:\n  destination: ${join(base, 'queries.log')}\n`);
  return file;
}

function queryLog(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}



describe('graceful stop', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with a UDP and a TCP query in flight: both answered and logged, exit code 0`, async () => {
      const { cli, port, logFile } = await serve();
      try {
        const tag = signal.toLowerCase();
        const udpName = `d500.${tag}-udp.test`;
        const tcpName = `d500.${tag}-tcp.test`;
        const udpAnswer = ask(port, udpName, T.A, { timeoutMs: 4000 });
        const tcpAnswer = ask(port, tcpName, T.A, { tcp: true, timeoutMs: 4000 });
        // Both have reached the upstream (which sits on them for 500 ms): they are in flight.
        await waitUntil(() => [udpName, tcpName].every((n) => up.received.some((q) => q.name === n)), 3000, 'both queries to reach the upstream');
        const signalledAt = Date.now();
        cli.child.kill(signal);

        const [u, t] = await Promise.all([udpAnswer, tcpAnswer]);
        expect(u.packet.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
        expect(t.packet.answers.map((a) => a.address)).toEqual(['192.0.2.1']);

        const exit = await cli.exited;
        expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
        expect(Date.now() - signalledAt).toBeLessThan(3000); // no waiting out the 5 s grace

        const lines = queryLog(logFile);
        expect(lines.find((l) => l.qname === udpName)).toMatchObject({ transport: 'udp', action: 'allowed', rcode: 'NOERROR' });
        expect(lines.find((l) => l.qname === tcpName)).toMatchObject({ transport: 'tcp', action: 'allowed', rcode: 'NOERROR' });

        const ops = opLines(cli.stderr());
        expect(ops.find((l) => l.msg === 'shutting down: finishing in-flight queries')).toMatchObject({ signal });
        expect(ops.some((l) => l.msg === 'stopped')).toBe(true);
        expect(ops.filter((l) => (l.level as number) >= 50)).toEqual([]); // no errors logged
      } finally {
        cli.child.kill('SIGKILL');
      }
    });
  }

  it('SIGTERM with an idle TCP connection open: the server closes it and exits promptly', async () => {
    const { cli, port } = await serve();
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.on('error', () => {});
    let closedAt = 0;
    sock.on('close', () => (closedAt = Date.now()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(2000); // not the 5 s grace period
    await waitUntil(() => closedAt !== 0, 1000, 'the connection to close');
  });

  it('SIGTERM with nothing in flight exits 0 promptly and frees the port', async () => {
    const { cli, port, logFile } = await serve();
    const { packet } = await ask(port, 'idle.test', T.A);
    expect(packet.answers).toHaveLength(1);
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(queryLog(logFile).map((l) => l.qname)).toEqual(['idle.test']);
    expect(await portFree(port)).toBe(true);
  });
});

describe('startup failures', () => {
  const badConfigs = [
    { name: 'a value out of range', yaml: 'tcp:\n  idleTimeoutMs: 5\n', key: 'tcp.idleTimeoutMs' },
    { name: 'a value not in the enum', yaml: 'blocking:\n  action: drop\n', key: 'blocking.action' },
    { name: 'an unknown key', yaml: 'tcp:\n  idleTimeout: 300\n', key: 'tcp.idleTimeout' },
  ];
  for (const c of badConfigs) {
    it(`a config file with ${c.name} exits 1 naming the file and key, and binds nothing`, async () => {
      const dir = mkdtempSync(join(work, 'bad-'));
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, c.yaml);
      const port = await freePort();
      const cli = runCli(['serve', '--config', file, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${up.port}`]);
      const exit = await cli.exited;
      expect(exit.code).toBe(1);
      const err = cli.stderr();
      expect(err).toContain(file);
      expect(err).toContain(`key "${c.key}"`);
      expect(err).not.toContain('c2dns serving');
      expect(err).not.toContain('list loaded'); // it stopped before doing anything
      expect(await portFree(port)).toBe(true);
    });
  }

  it('--listen on a port whose UDP side is taken exits 1 with a clear message', async () => {
    const port = await freePort();
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(port, '127.0.0.1', () => r()));
    try {
      const cli = runCli(['serve', '--config', noListsConfig(), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${up.port}`]);
      const exit = await cli.exited;
      expect(exit.code).toBe(1);
      expect(exit.ms).toBeLessThan(5000);
      expect(cli.stderr()).toMatch(new RegExp(`c2dns: cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
      expect(cli.stderr()).not.toContain('c2dns serving');
    } finally {
      squatter.close();
    }
  });

  it('--listen on a port whose TCP side is taken exits 1 with a clear message and releases the UDP side', async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
    try {
      const cli = runCli(['serve', '--config', noListsConfig(), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${up.port}`]);
      const exit = await cli.exited;
      expect(exit.code).toBe(1);
      expect(exit.ms).toBeLessThan(5000); // the UDP socket it had bound does not keep it alive
      expect(cli.stderr()).toMatch(new RegExp(`c2dns: cannot listen: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
      expect(cli.stderr()).not.toContain('c2dns serving');
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });
});
