// Unbound as a reference forwarder for interop tests: Debian's unbound on 127.0.0.1, run
// unprivileged in the foreground from a temporary directory, forwarding everything to one
// upstream (no DNSSEC validation, no remote control). Needs unbound (apt-get install unbound;
// .ci/run installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildQuery } from './wire.js';
import { freePort } from './ports.js';
import { findProgram } from './programs.js';

export interface Unbound {
  port: number;
  close(): Promise<void>;
}

export function findUnbound(): string | null {
  return findProgram('unbound');
}

/** Starts unbound forwarding "." to 127.0.0.1:`upstreamPort`; resolves once it answers. */
export async function startUnbound(upstreamPort: number): Promise<Unbound> {
  const binary = findUnbound();
  if (binary === null) throw new Error('unbound is not installed (Debian: apt-get install unbound)');
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-unbound-'));
  const port = await freePort();
  const conf = join(dir, 'unbound.conf');
  writeFileSync(
    conf,
    [
      'server:',
      '  interface: 127.0.0.1',
      `  port: ${port}`,
      '  do-daemonize: no',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      `  pidfile: "${join(dir, 'unbound.pid')}"`,
      '  use-syslog: no',
      '  verbosity: 0',
      '  do-not-query-localhost: no',
      '  module-config: "iterator"',
      '  num-threads: 1',
      '  access-control: 127.0.0.0/8 allow',
      '  qname-minimisation: no',
      // Unbound answers the RFC 6761 names (test., invalid., …) itself; tests use test. zones.
      '  local-zone: "test." nodefault',
      'remote-control:',
      '  control-enable: no',
      'forward-zone:',
      '  name: "."',
      `  forward-addr: 127.0.0.1@${upstreamPort}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready when it answers anything over UDP.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`unbound exited: ${stderr.trim()}`);
    }
    if (await answers(port)) return { port, close };
    if (Date.now() > deadline) {
      await close();
      throw new Error(`unbound did not answer within 10 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 300);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(false);
    });
    s.send(buildQuery('.', 2), port, '127.0.0.1');
  });
}
