// BIND 9 (named) as an authoritative upstream for interop tests: on 127.0.0.1 in the foreground
// from a temporary directory, one zone, no recursion, no control channel. BIND answers DNS Cookies
// (RFC 7873, server cookies per RFC 9018) by default; `requireServerCookie` makes it answer
// BADCOOKIE to UDP queries without a valid one. Needs named (Debian: apt-get install bind9).
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildQuery } from './wire.js';
import { freePort } from './ports.js';
import { findProgram } from './programs.js';

export interface Named {
  port: number;
  close(): Promise<void>;
}

export interface NamedOptions {
  /** answer-cookie (default BIND's: yes). */
  answerCookie?: boolean;
  requireServerCookie?: boolean;
}

export function findNamed(): string | null {
  return findProgram('named');
}

/** Starts named serving `origin` from `zone` (zone file text); resolves once it answers the zone's SOA. */
export async function startNamed(origin: string, zone: string, o: NamedOptions = {}): Promise<Named> {
  const binary = findNamed();
  if (binary === null) throw new Error('named is not installed (Debian: apt-get install bind9)');
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-named-'));
  const port = await freePort();
  const q = (s: string): string => JSON.stringify(s);
  writeFileSync(join(dir, 'zone.db'), zone.endsWith('\n') ? zone : `${zone}\n`);
  writeFileSync(
    join(dir, 'named.conf'),
    [
      'options {',
      `  directory ${q(dir)};`,
      `  pid-file ${q(join(dir, 'named.pid'))};`,
      `  session-keyfile ${q(join(dir, 'session.key'))};`,
      `  managed-keys-directory ${q(dir)};`,
      `  listen-on port ${port} { 127.0.0.1; };`,
      '  listen-on-v6 { none; };',
      '  recursion no;',
      '  dnssec-validation no;',
      `  answer-cookie ${o.answerCookie === false ? 'no' : 'yes'};`,
      `  require-server-cookie ${o.requireServerCookie === true ? 'yes' : 'no'};`,
      '};',
      'controls { };',
      `zone ${q(origin)} { type primary; file ${q(join(dir, 'zone.db'))}; };`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['-g', '-n', '1', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await answers(port, origin)) return { port, close };
    await new Promise((r) => setTimeout(r, 100));
  }
  await close();
  throw new Error(`named did not start:\n${stderr}`);
}

function answers(port: number, origin: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(false);
    }, 300);
    s.on('message', () => {
      clearTimeout(timer);
      s.close();
      resolve(true);
    });
    s.send(buildQuery(origin, 6), port, '127.0.0.1');
  });
}
