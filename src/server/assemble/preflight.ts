// Preflight: everything start-up can fail on, checked before anything binds or loads, so that a
// mistake stops c2dns at once with the key to fix instead of surfacing after "serving" (a query
// log that cannot be written, a state directory that cannot be) or hanging half-started (an
// admin port already taken). Checked here:
//   - the admin token from the environment;
//   - log.destination: not on /proc or /sys, its directory creatable, the file appendable;
//   - state.dir: creatable and writable, else a warning (issue 10 item 12): c2dns starts with its
//     state in a temporary directory (stateDirUnusable) as long as every list can still be read
//     (a local file that cannot be read has no disk copy to fall back on then, and stops it);
//   - history.dir and the alert spool directory: creatable and writable; file alert sinks:
//     appendable;
//   - every local list: readable, or else a disk copy of the same source to start from (warning);
//   - the DoT/DoH certificate and key, upstream.caFile (./tls-preflight.ts);
//   - server.udpBatch: on needs the native addon built and workers: 1;
//   - listen addresses (UDP and TCP; TCP only for tls:// and https://) and admin.listen: bindable
//     now (each released at once).
// Cron expressions are checked by the schema (config/schema.ts) when the file is read.
// `c2dns config check` runs the same checks without creating anything (create: false).
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { adminListen, adminToken, ADMIN_TOKEN_ENV } from '../../admin/config.js';
import { ConfigError, keySource } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { LastGoodStore, sourceRef } from '../../feeds/store.js';
import { resolveHistoryConfig } from '../../history/config.js';
import type { OpLogger } from '../../observe/oplog.js';
import { spoolRoot } from '../../respond/alerting.js';
import { formatHostPort, type HostPort } from '../../upstream/address.js';
import { parseListen } from '../../config/encrypted.js';
import { tlsPreflight } from './tls-preflight.js';
import { loadUdpBatchAddon } from '../../native/udp-batch-addon.js';
import { chooseUdpPath } from '../udp-batch.js';

/** One or more preflight errors, one line each. A ConfigError: the CLI reports it and exits 1. */
export class PreflightError extends ConfigError {}

export interface PreflightOptions {
  /** serve: create the missing directories and the log file. config check: only look. */
  create: boolean;
  /** Try to bind every listen address and admin.listen (released at once). */
  ports: boolean;
  /** This process runs the admin listener and delivers alerts (not a forwarding cluster worker). */
  owner: boolean;
}

export interface PreflightReport {
  /** Each stops start-up; formatted like config errors ("config error in SOURCE: key "K": …"). */
  errors: string[];
  /** Start-up goes on (e.g. a list file is gone but its disk copy is used). */
  warnings: string[];
  /** Why state.dir cannot be used (start-up goes on with a temporary one), or null. */
  stateDirUnusable: string | null;
}

/** Runs the checks; throws PreflightError listing every error; logs the warnings. */
export async function assertPreflight(cfg: Config, oplog: OpLogger, options: PreflightOptions): Promise<PreflightReport> {
  const r = await preflight(cfg, options);
  for (const w of r.warnings) oplog.warn({ problem: w }, 'preflight warning');
  if (r.errors.length > 0) throw new PreflightError(r.errors.join('\n'));
  return r;
}

export async function preflight(cfg: Config, o: PreflightOptions): Promise<PreflightReport> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const fail = (key: string, problem: string): void => void errors.push(`config error in ${keySource(cfg, key)}: key "${key}": ${problem}`);

  if (o.owner && cfg.admin.enabled) {
    try {
      adminToken(cfg.admin);
    } catch (err) {
      errors.push(`config error in environment variable ${ADMIN_TOKEN_ENV}: ${(err as Error).message.replace(/^environment variable \w+: /, '')}`);
    }
  }

  if (cfg.log.queries !== 'none' && cfg.log.destination !== 'stdout') {
    const p = appendableFile(cfg.log.destination, o.create);
    if (p !== null) fail('log.destination', p);
  }

  const stateDir = cfg.state.dir!;
  const stateProblem = writableDir(stateDir, o.create);
  // Not fatal: lists are read from their files and URLs, the rest of the state lives in a
  // temporary directory until a restart (server/app.ts). An unreadable local list fails below.
  if (stateProblem !== null) warnings.push(`state.dir (${keySource(cfg, 'state.dir')}): ${stateProblem}; starting without it: lists from their files and URLs (no last good copies), state (quarantine, marks, history, disk copies) in a temporary directory until restart`);
  const history = resolveHistoryConfig(cfg);
  // A history directory inside a state directory that failed would only repeat the same error.
  if (history.enabled && !(stateProblem !== null && cfg.history.dir === undefined)) {
    const p = writableDir(history.dir, o.create);
    if (p !== null) fail('history.dir', p);
  }
  if (o.owner && cfg.alerts.sinks.length > 0 && !(stateProblem !== null && cfg.alerts.spool.dir === undefined)) {
    const p = writableDir(spoolRoot(cfg.alerts, stateDir), o.create);
    if (p !== null) fail('alerts.spool.dir', p);
  }
  if (o.owner) {
    cfg.alerts.sinks.forEach((s, i) => {
      if (s.type !== 'file') return;
      const p = appendableFile(resolve(s.path), o.create);
      if (p !== null) fail(`alerts.sinks[${i}].path`, p);
    });
  }

  const store = stateProblem === null ? new LastGoodStore(stateDir, () => {}) : null;
  cfg.lists.forEach((l, i) => {
    if (l.path === undefined) return;
    const p = readableFile(l.path);
    if (p === null) return;
    const copy = store?.load(sourceRef(l)) ?? null;
    if (copy === null) fail(`lists[${i}].path`, `list "${l.name}": ${p}, and there is no disk copy of this source to start from`);
    else warnings.push(`list "${l.name}" (key "lists[${i}].path"): ${p}; starting from its disk copy of ${new Date(copy.meta.fetchedAt).toISOString()}`);
  });

  const tlsChecks = tlsPreflight(cfg);
  for (const e of tlsChecks.errors) fail(e.key, e.problem);
  warnings.push(...tlsChecks.warnings);

  const udp = chooseUdpPath(cfg.server.udpBatch, cfg.workers, loadUdpBatchAddon());
  if ('error' in udp) fail('server.udpBatch', udp.error);
  if (o.ports) errors.push(...(await portProblems(cfg, o.owner)));
  return { errors, warnings, stateDirUnusable: stateProblem };
}

// ---- files and directories ----

/** Kernel pseudo-filesystems: writing a query log or state there never does what was meant. */
function pseudo(path: string): string | null {
  const abs = resolve(path);
  for (const root of ['/proc', '/sys']) if (abs === root || abs.startsWith(`${root}${sep}`)) return root;
  return null;
}

/** "EACCES: permission denied" from Node's "EACCES: permission denied, mkdir '/x'". */
function reason(err: unknown): string {
  return (err as Error).message.replace(/, \w+ '.*'$/s, '');
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The nearest ancestor of `path` that exists (to say why a directory could not be created). */
function existingAncestor(path: string): { path: string; st: Stats } {
  for (let p = resolve(path); ; p = dirname(p)) {
    const st = statOrNull(p);
    if (st !== null) return { path: p, st };
    if (dirname(p) === p) return { path: p, st: statSync(p) };
  }
}

/** Problem text, or null when `dir` exists (or could be created) and is writable. */
function writableDir(dir: string, create: boolean): string | null {
  const fs = pseudo(dir);
  if (fs !== null) return `${dir} is under ${fs}, a kernel pseudo-filesystem: expected a directory on disk`;
  if (create) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      return `cannot create ${dir}: ${reason(err)}`;
    }
    if (statOrNull(dir)?.isDirectory() !== true) return `${dir} is not a directory`;
    const probe = join(dir, `.c2dns-preflight-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      writeFileSync(probe, '', { flag: 'wx', mode: 0o600 });
      unlinkSync(probe);
    } catch (err) {
      return `${dir} is not writable: ${reason(err)}`;
    }
    return null;
  }
  const st = statOrNull(dir);
  if (st !== null) {
    if (!st.isDirectory()) return `${dir} is not a directory`;
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
      return null;
    } catch (err) {
      return `${dir} is not writable: ${reason(err)}`;
    }
  }
  const a = existingAncestor(dir);
  if (!a.st.isDirectory()) return `cannot create ${dir}: ${a.path} is not a directory`;
  try {
    accessSync(a.path, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    return `cannot create ${dir}: ${a.path} is not writable (${reason(err)})`;
  }
}

/** Problem text, or null when `path` can be appended to (created, with its directory, if missing). */
function appendableFile(path: string, create: boolean): string | null {
  const fs = pseudo(path);
  if (fs !== null) return `${path} is under ${fs}, a kernel pseudo-filesystem: expected a file on disk`;
  const st = statOrNull(path);
  if (st !== null && st.isDirectory()) return `${path} is a directory: expected a file`;
  if (st !== null && !st.isFile()) {
    // A device or a pipe (/dev/null, a log shipper's FIFO): opening it here could block; permission is what can be checked.
    try {
      accessSync(path, constants.W_OK);
      return null;
    } catch (err) {
      return `cannot write ${path}: ${reason(err)}`;
    }
  }
  if (!create) {
    if (st !== null) {
      try {
        accessSync(path, constants.W_OK);
        return null;
      } catch (err) {
        return `cannot write ${path}: ${reason(err)}`;
      }
    }
    const p = writableDir(dirname(path), false);
    return p === null ? null : `cannot create ${path}: ${p}`;
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    return `cannot create ${dirname(path)}: ${reason(err)}`;
  }
  try {
    closeSync(openSync(path, 'a'));
    return null;
  } catch (err) {
    return `cannot open ${path} for appending: ${reason(err)}`;
  }
}

/** Problem text, or null when `path` is a readable file. */
function readableFile(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return `cannot read ${path}: not a regular file`;
    closeSync(openSync(path, 'r'));
    return null;
  } catch (err) {
    return `cannot read ${path}: ${reason(err)}`;
  }
}

// ---- ports ----

const WHY: Record<string, string> = {
  EADDRINUSE: 'is already in use by another process',
  EACCES: 'needs privileges (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'is not an address of this host',
};

async function portProblems(cfg: Config, owner: boolean): Promise<string[]> {
  const out: string[] = [];
  const where = (key: string): string => {
    const src = keySource(cfg, key);
    return src.startsWith('command-line flag') ? `key "${key}" from ${src}` : src === 'built-in defaults' ? `key "${key}", built-in default` : `key "${key}" in ${src}`;
  };
  const targets: { key: string; hp: HostPort; protos: ('udp' | 'tcp')[] }[] = [];
  cfg.listen.forEach((s, i) => {
    const r = parseListen(s);
    if (typeof r !== 'string') targets.push({ key: `listen[${i}]`, hp: r.addr, protos: r.kind === 'dns' ? ['udp', 'tcp'] : ['tcp'] });
  });
  if (owner && cfg.admin.enabled) {
    const hp = adminListen(cfg.admin);
    const clash = targets.find((t) => t.hp.port !== 0 && t.hp.port === hp.port && t.hp.host === hp.host);
    if (clash !== undefined) out.push(`config error in ${keySource(cfg, 'admin.listen')}: key "admin.listen": ${formatHostPort(hp)} is also ${clash.key}: expected different addresses for DNS and the admin API`);
    else targets.push({ key: 'admin.listen', hp, protos: ['tcp'] });
  }
  for (const t of targets) {
    if (t.hp.port === 0) continue; // any free port: nothing to check
    for (const proto of t.protos) {
      const err = await tryBind(t.hp, proto);
      if (err === null) continue;
      const code = err.code ?? 'error';
      out.push(`cannot listen: ${code}: ${formatHostPort(t.hp)} (${proto.toUpperCase()}) ${WHY[code] ?? `cannot be bound (${err.message})`} (${where(t.key)})`);
      break;
    }
  }
  return out;
}

function tryBind(hp: HostPort, proto: 'udp' | 'tcp'): Promise<NodeJS.ErrnoException | null> {
  return new Promise((done) => {
    if (proto === 'udp') {
      const s = dgram.createSocket({ type: hp.family === 6 ? 'udp6' : 'udp4', ipv6Only: hp.family === 6 });
      s.once('error', (err) => {
        s.close();
        done(err);
      });
      s.bind({ port: hp.port, address: hp.host, exclusive: true }, () => s.close(() => done(null)));
      return;
    }
    const srv = net.createServer();
    srv.once('error', (err) => done(err));
    srv.listen({ port: hp.port, host: hp.host, exclusive: true, ipv6Only: hp.family === 6 }, () => srv.close(() => done(null)));
  });
}
