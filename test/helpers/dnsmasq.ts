// A real router-style forwarder for tests: Debian's dnsmasq (package dnsmasq-base; .ci/run
// installs it), in the foreground, no configuration file, no /etc/hosts, no resolv.conf, no
// cache, forwarding everything to one server (c2dns) with the options the test gives, e.g.
// --add-subnet=32,128 --add-mac. It listens on the given addresses (127.0.0.1 by default) on a
// free port, retries when the port is taken, and is ready once it has answered a query.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { buildQuery, T } from './wire.js';
import { freePort } from './ports.js';
import { findProgram } from './programs.js';

export interface Dnsmasq {
  /** UDP and TCP port on every listen address. */
  port: number;
  /** What dnsmasq wrote (stderr: its log with --log-queries). */
  output(): string;
  /** Stops dnsmasq. Safe to call twice. */
  close(): Promise<void>;
}

export interface DnsmasqOptions {
  /** Where to forward: "127.0.0.1#5353". */
  server: string;
  /** Addresses to listen on (they must exist); default ["127.0.0.1"]. The first one is used for the readiness query. */
  listen?: string[];
  /** Extra dnsmasq options, e.g. ["--add-subnet=32,128", "--add-mac"]. */
  args?: string[];
  binary?: string;
  readyTimeoutMs?: number;
}

const MAX_PORT_TRIES = 5;

/** The dnsmasq binary (PATH first, then the sbin directories a non-root PATH often lacks), or null. */
export function findDnsmasq(): string | null {
  return findProgram('dnsmasq');
}

export async function startDnsmasq(o: DnsmasqOptions): Promise<Dnsmasq> {
  const binary = o.binary ?? findDnsmasq();
  if (binary === null) throw new Error('dnsmasq is not installed: the router tests want it (Debian: apt-get install dnsmasq-base)');
  const listen = o.listen ?? ['127.0.0.1'];
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(listen);
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--cache-size=0',
      '--pid-file=',
      '--log-facility=-',
      '--log-queries',
      `--port=${port}`,
      `--listen-address=${listen.join(',')}`,
      '--bind-interfaces',
      `--server=${o.server}`,
      // As root dnsmasq would switch to "nobody"; it needs nothing, but stays who it is here.
      ...(process.getuid?.() === 0 ? ['--user=root', '--group=root'] : []),
      ...(o.args ?? []),
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      child.once('exit', () => {
        exited = true;
        resolve();
      });
      child.once('error', (e) => {
        out += String(e);
        exited = true;
        resolve();
      });
    });
    const onExit = (): void => kill(child, 'SIGKILL');
    process.once('exit', onExit);
    let closing: Promise<void> | null = null;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        if (!exited) {
          kill(child, 'SIGTERM');
          const inTime = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
          if (!inTime) {
            kill(child, 'SIGKILL');
            await exit;
          }
        }
        process.removeListener('exit', onExit);
      })());
    const end = Date.now() + (o.readyTimeoutMs ?? 10_000);
    while (!exited && Date.now() < end) {
      if (await answers(listen[0]!, port, 300)) return { port, output: () => out, close };
      await new Promise((r) => setTimeout(r, 50));
    }
    await close();
    if (/Address already in use/i.test(out) && attempt < MAX_PORT_TRIES) continue;
    throw new Error(`dnsmasq did not start (${exited ? `exited: ${child.exitCode ?? child.signalCode}` : 'no answer'}): ${binary} ${args.join(' ')}\n${out}`);
  }
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Any well-formed answer to a query (whatever its rcode) means dnsmasq is listening. */
function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const id = Math.floor(Math.random() * 65536);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('error', () => finish(false));
    sock.on('message', (m) => {
      if (m.length >= 12 && m.readUInt16BE(0) === id) finish(true);
    });
    sock.send(buildQuery('dnsmasq-ready.test', T.A, { id }), port, host);
  });
}

