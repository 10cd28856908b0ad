// A real authoritative server for tests: Debian's NSD on 127.0.0.1, run unprivileged from a
// temporary directory (config, zone files, pid file, logs; no database, no remote control, no
// zone file writing). Needs nsd (Debian: apt-get install nsd; .ci/run installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildQuery, decode, rcodeOf, T } from './wire.js';
import { freePort } from './ports.js';
import { findProgram, isExecutable } from './programs.js';

export interface Nsd {
  /** UDP and TCP port on 127.0.0.1. */
  port: number;
  /** The temporary directory holding nsd.conf, the zone files and nsd.log (removed by close). */
  dir: string;
  /** Stops nsd and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

export interface NsdOptions {
  /** The nsd binary; default: found on PATH or in /usr/sbin. */
  binary?: string;
  /** How long to wait for every zone to answer its SOA. Default 10 s. */
  readyTimeoutMs?: number;
}

const MAX_PORT_TRIES = 5;

/** The nsd binary (PATH first, then the sbin directories a non-root PATH often lacks), or null. */
export function findNsd(): string | null {
  return findProgram('nsd');
}

/** Starts nsd serving `zones` (origin → zone file text) and resolves once every zone answers its SOA over UDP. */
export async function startNsd(zones: Record<string, string>, opts: NsdOptions = {}): Promise<Nsd> {
  const binary = opts.binary ?? findNsd();
  if (binary === null || !isExecutable(binary)) {
    throw new Error(`nsd is not installed${binary === null ? '' : ` (no executable at ${binary})`}: the tests that need a real authoritative server want it (Debian: apt-get install nsd)`);
  }
  const origins = Object.keys(zones).map(canonicalOrigin);
  if (origins.length === 0) throw new Error('startNsd: give at least one zone');

  const dir = mkdtempSync(join(tmpdir(), 'c2dns-nsd-'));
  try {
    Object.values(zones).forEach((text, i) => writeFileSync(join(dir, zoneFile(i)), text.endsWith('\n') ? text : `${text}\n`));
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(join(dir, 'nsd.conf'), config(dir, port, origins));
      for (const f of ['nsd.log', 'nsd.pid']) rmSync(join(dir, f), { force: true }); // a failed try's leftovers
      const run = launch(binary, dir);
      const ready = await waitReady(run, port, origins, opts.readyTimeoutMs ?? 10_000);
      if (ready.kind === 'ok') return { port, dir, close: once(() => stop(run, dir)) };
      await stop(run, null);
      if (ready.kind === 'port-taken' && attempt < MAX_PORT_TRIES) continue;
      const why = ready.kind === 'port-taken' ? `port still taken after ${attempt} tries` : ready.why;
      throw new Error(`nsd did not start (${why}):\n${run.output()}`);
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function canonicalOrigin(origin: string): string {
  const o = origin.endsWith('.') ? origin : `${origin}.`;
  if (!/^([A-Za-z0-9_-]+\.)+$/.test(o)) throw new Error(`startNsd: not a zone origin: ${JSON.stringify(origin)}`);
  return o.toLowerCase();
}

const zoneFile = (i: number): string => `zone-${i}.zone`;

function config(dir: string, port: number, origins: string[]): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    'server:',
    '  ip-address: 127.0.0.1',
    `  port: ${port}`,
    '  do-ip4: yes',
    '  do-ip6: no',
    '  reuseport: no',
    '  server-count: 1',
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: ${q(dir)}`,
    '  database: ""',
    `  zonelistfile: ${q(join(dir, 'zone.list'))}`,
    `  pidfile: ${q(join(dir, 'nsd.pid'))}`,
    `  xfrdfile: ${q(join(dir, 'xfrd.state'))}`,
    `  xfrdir: ${q(dir)}`,
    `  logfile: ${q(join(dir, 'nsd.log'))}`,
    '  verbosity: 0',
    '  hide-version: yes',
    '  zonefiles-check: yes',
    '  zonefiles-write: 0',
    'remote-control:',
    '  control-enable: no',
    ...origins.flatMap((o, i) => ['zone:', `  name: ${q(o)}`, `  zonefile: ${q(zoneFile(i))}`]),
    '',
  ].join('\n');
}


interface Run {
  child: ChildProcess;
  /** Set once the process has exited (or could not be started). */
  exited: Promise<void>;
  hasExited(): boolean;
  /** What nsd said: its log file and its stderr. */
  output(): string;
  forgetOnExit(): void;
}

function launch(binary: string, dir: string): Run {
  // Its own process group, so a stop that has to resort to SIGKILL takes nsd's children too.
  const child = spawn(binary, ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  let spawnError: Error | null = null;
  let done = false;
  child.stdout?.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', (e) => {
      spawnError = e;
      done = true;
      resolve();
    });
  });
  // If the test process goes away without close(), nsd goes with it.
  const onExit = (): void => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);
  return {
    child,
    exited,
    hasExited: () => done,
    output: () => {
      let log = '';
      try {
        log = readFileSync(join(dir, 'nsd.log'), 'utf8');
      } catch {
        // not written yet
      }
      return [log.trim(), stderr.trim(), spawnError === null ? '' : String(spawnError)].filter((s) => s !== '').join('\n') || '(nsd wrote nothing)';
    },
    forgetOnExit: () => process.removeListener('exit', onExit),
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

type Readiness = { kind: 'ok' } | { kind: 'port-taken' } | { kind: 'failed'; why: string };

async function waitReady(run: Run, port: number, origins: string[], timeoutMs: number): Promise<Readiness> {
  const pending = new Set(origins);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (run.hasExited()) {
      const out = run.output();
      if (/Address already in use/i.test(out)) return { kind: 'port-taken' };
      return { kind: 'failed', why: `exited with code ${run.child.exitCode ?? run.child.signalCode ?? 'unknown'}` };
    }
    for (const origin of [...pending]) {
      const answer = await soaQuery(port, origin, 250);
      if (answer === 'ok') pending.delete(origin);
      // SERVFAIL for a configured zone with an error logged: the zone file did not load.
      else if (answer === 'servfail' && /\berror:/.test(run.output())) return { kind: 'failed', why: `zone ${origin} did not load` };
    }
    if (pending.size === 0) return { kind: 'ok' };
    await new Promise((r) => setTimeout(r, 50));
  }
  return { kind: 'failed', why: `no SOA answer within ${timeoutMs} ms for ${[...pending].join(', ')}` };
}

/** One SOA query over UDP: 'ok' for an authoritative answer holding the SOA. */
function soaQuery(port: number, origin: string, timeoutMs: number): Promise<'ok' | 'servfail' | 'no'> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 65536);
    const finish = (r: 'ok' | 'servfail' | 'no'): void => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish('no'), timeoutMs);
    sock.on('error', () => finish('no'));
    sock.on('message', (msg) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      if (rcodeOf(msg) === 2) return finish('servfail');
      try {
        const p = decode(msg);
        const ok = p.header.aa === 1 && p.answers.some((a) => a.type === T.SOA && a.name.toLowerCase() === origin.slice(0, -1));
        finish(ok ? 'ok' : 'no');
      } catch {
        finish('no');
      }
    });
    sock.send(buildQuery(origin, T.SOA, { id, rd: false }), port, '127.0.0.1');
  });
}

async function stop(run: Run, dir: string | null): Promise<void> {
  if (!run.hasExited()) {
    run.child.kill('SIGTERM');
    const exitedInTime = await Promise.race([run.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!exitedInTime) {
      killGroup(run.child, 'SIGKILL');
      await run.exited;
    }
  }
  run.forgetOnExit();
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
}

function once(f: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | null = null;
  return () => (p ??= f());
}
