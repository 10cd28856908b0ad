#!/usr/bin/env node
// c2dns command line: serve, check, lists, convert, sign.
// The commands serve never runs are imported when run: a start then loads (resolves, reads,
// compiles) none of their modules.
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import { FEED_FORMATS, type Config } from './config/schema.js';
import { check, formatCheck } from './commands/check.js';
import type { ConvertTarget } from './commands/convert.js';
import { knownGroup } from './config/lan.js';
import { AdminCallError, callAdmin, type AdminTarget } from './commands/admin-client.js';
import { fileErrorMessage } from './commands/errors.js';
import type { FleetView, Propagation } from './fleet/types.js';
import { commandUsage, optionsOf, UsageError, version } from './commands/usage.js';
import { adminListen } from './admin/config.js';
import { formatHostPort } from './upstream/address.js';
import { Guard, DEFAULT_PROTECTED } from './blocklist/guard.js';
import { readEmergencyBlocks } from './feeds/emergency.js';
import { FeedError } from './feeds/errors.js';
import { FeedManager, SourceLoadError } from './feeds/manager.js';
import { createOpLog } from './observe/oplog.js';
import { startServer, type RunningServer } from './server/app.js';
import { assertPreflight } from './server/assemble/preflight.js';
import { boundHeapGrowth, boundMallocRetention, exitOnUncaughtException, exitSoon, gcForCpuBudget, stopOnSignals } from './server/process.js';
import { reopenQueryLog } from './server/admin-context.js';
import { receiveAlert } from './respond/cluster.js';
import { announceListsChanged, isPrimaryOfMany, onClusterMessages, ownsRefresh, runPrimary, workerCount } from './server/cluster.js';

const USAGE = `usage:
  c2dns serve [--config FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...
  c2dns check NAME|IP [--config FILE] [--group G] [--json]  the Decision for NAME (rule, list, trigger, tags) or the guard that refused it; for an IP, the IP rules acting on it; --group: with that group's lists and action
  c2dns lists [--config FILE] [--json]             every list: format, entries, rejected lines, last success/failure
  c2dns lists update [NAME]... [--config FILE]     fetch, verify and store now (a running server loads it on SIGHUP)
  c2dns convert FILE --to domains|hosts|rpz [--format FORMAT]
  c2dns hunt [--since 30d] [--list NAME | --names FILE] [--config FILE] [--json]   who asked for these names (query history)
  c2dns quarantine list|release CLIENT             quarantined clients of the running server (admin API); CLIENT: IP, MAC or name
  c2dns block NAME... --reason TEXT [--expires 1h] [--wait]   emergency block, live at once (admin API); --wait: until every fleet instance acknowledged
  c2dns unblock NAME [--wait]                      remove an emergency block (admin API)
  c2dns fleet [--json]                             the fleet's instances, their policy and list versions (admin API; config cluster)
  c2dns sign keygen --out KEYFILE                  Ed25519 key for a feed publisher; prints the public key
  c2dns sign FILE --key KEYFILE                    writes FILE.sig
  c2dns config check [--config FILE] [--print]     validate the configuration as serve would, without serving
  c2dns help COMMAND                               COMMAND's own usage, flags and examples (or: c2dns COMMAND --help)
  c2dns completion bash|zsh                        shell completion script (source <(c2dns completion bash))
  c2dns --version

  --config FILE        YAML configuration (see config/c2dns.example.yaml); optional
  --listen ADDR:PORT   listen on this address, UDP and TCP (repeatable; replaces "listen")
  --upstream ADDR:PORT forward to this resolver (repeatable; replaces "upstreams")
`;

/** The command being run, for the usage shown with a usage error. */
let command: string | undefined;

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: optionsOf('serve'),
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return usage(0);
  boundHeapGrowth();
  const gc = gcForCpuBudget();
  // C2DNS_ variables that look like keys but are none: in the operational log, once it exists.
  const envWarnings: string[] = [];
  const cfg = loadConfig({ file: values.config, listen: values.listen, upstreams: values.upstream, warn: (w) => envWarnings.push(w) });
  const oplog = createOpLog(cfg.log.level);
  for (const w of envWarnings) oplog.warn(w);
  const malloc = boundMallocRetention();
  if (gc === 'main-thread') oplog.info({ gc }, 'one CPU: V8 scavenges, compacts and sweeps on the main thread instead of helper threads that would take the CPU from it');
  else oplog.debug({ gc }, gc === 'command-line' ? 'GC threading as node\'s command line sets it' : 'GC threading left to V8 (more than one CPU)');
  oplog.debug({ mmapThreshold: malloc }, malloc === 'set' ? 'glibc mmap threshold fixed at 1 MiB: replaced list tables go back to the kernel' : `glibc mmap threshold left alone (${malloc})`);
  const workers = workerCount(cfg.workers);
  let running: RunningServer | null = null;
  // SIGUSR1 (logrotate): reopen the query log; the primary of a cluster passes it to its workers.
  // Handling it also keeps Node from opening its inspector on SIGUSR1.
  process.on('SIGUSR1', () => {
    if (cluster.isPrimary && workers > 1) for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGUSR1');
    else if (running !== null) void reopenQueryLog(running.queryLog, cfg.log, oplog, 'SIGUSR1').catch(() => undefined); // logged there
  });
  exitOnUncaughtException(oplog, () => running?.queryLog.flush());
  if (isPrimaryOfMany(workers)) {
    // The workers bind the shared sockets one after the other: the ports are checked once, here.
    await assertPreflight(cfg, oplog, { create: true, ports: true, owner: true });
    return runPrimary(workers, oplog);
  }
  // A reload reads the same file with the same command-line overrides on top.
  const reloadFrom = (): Config => loadConfig({ file: values.config, listen: values.listen, upstreams: values.upstream, warn: (w) => oplog.warn(w) });
  const starting = startServer(cfg, oplog, { refresh: ownsRefresh(), role: ownsRefresh() ? 'own' : 'forward', processMetrics: true, checkPorts: !cluster.isWorker, reloadFrom });
  // SIGINT/SIGTERM are handled from now on, also while starting: the stop waits for the start, then closes.
  const stopped = stopOnSignals(oplog, async (graceMs) => (await starting).close(graceMs));
  const server = await starting;
  running = server;
  const alerting = server.alerting;
  if (alerting !== null) process.on('message', (m) => receiveAlert(alerting.events, m));
  server.feeds.onUpdated = announceListsChanged;
  onClusterMessages(
    () => {
      server.emergency.reload();
      void server.feeds.setEmergency(server.emergency.list());
      void server.feeds.reloadFromStore();
    },
    () => void hangup(),
    () => void server.reloadConfig('cluster'),
  );

  // SIGHUP: the configuration file again (an invalid one keeps the running configuration; the
  // reload logs what it did), then every list refreshed, then the DoT/DoH certificate.
  const hangup = async (): Promise<void> => {
    oplog.info('SIGHUP: reloading the configuration, then refreshing every list');
    await server.reloadConfig('SIGHUP');
    if (ownsRefresh()) void server.feeds.refresh();
    server.reloadTls(); // DoT/DoH certificate (certbot renewals); logs what it did
  };
  process.on('SIGHUP', () => void hangup());
  await stopped;
  oplog.info('stopped');
  // A cluster worker's IPC channel would keep it alive: let go of it so the process can end.
  if (cluster.isWorker) process.disconnect();
  exitSoon(0);
  return 0;
}

/**
 * Lists as they are on disk (local files, last good copies, emergency blocks), for the offline
 * commands. Only `persist` (lists update) writes into the state directory: `check` and `lists`
 * read it and leave it as it was (run with sudo, they must not leave root-owned files there).
 */
async function offlineFeeds(cfg: Config, persist = false): Promise<FeedManager> {
  const feeds = new FeedManager(cfg, createOpLog('silent'));
  feeds.persist = persist;
  await feeds.loadInitial({ network: false });
  await feeds.setEmergency(readEmergencyBlocks(cfg.state.dir!).blocks);
  return feeds;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  command = cmd;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`c2dns ${version()}\n`);
    return 0;
  }
  // `c2dns help CMD` and `c2dns CMD --help`: the command's own usage.
  if (cmd === 'help' && rest.length > 0) {
    const text = commandUsage(rest[0]!);
    if (text === null) throw new UsageError(`unknown command "${rest[0]}"`);
    process.stdout.write(text);
    return 0;
  }
  if (cmd !== undefined && commandUsage(cmd) !== null && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(commandUsage(cmd)!);
    return 0;
  }
  switch (cmd) {
    case 'serve':
      return serve(rest);
    case 'check': {
      const { values, positionals } = parseArgs({ args: rest, options: optionsOf('check'), allowPositionals: true });
      if (values.help) return usage(0);
      if (positionals.length !== 1) throw new UsageError('check takes exactly one NAME');
      const cfg = loadConfig({ file: values.config });
      if (values.group !== undefined && !knownGroup(cfg, values.group)) throw new UsageError(`no group named "${values.group}" in the configuration (groups: ${['default', ...cfg.groups.map((g) => g.name).filter((n) => n !== 'default')].join(', ')})`);
      const r = check(positionals[0]!, await offlineFeeds(cfg), cfg, values.group);
      process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatCheck(r));
      return r.decision === 'blocked' ? 0 : r.decision === 'invalid' ? 2 : 1;
    }
    case 'lists': {
      const { values, positionals } = parseArgs({ args: rest, options: optionsOf('lists'), allowPositionals: true });
      if (values.help) return usage(0);
      const cfg = loadConfig({ file: values.config });
      const feeds = await offlineFeeds(cfg, positionals[0] === 'update');
      if (positionals[0] === 'update') {
        const names = positionals.slice(1);
        const unknown = names.filter((n) => !cfg.lists.some((l) => l.name === n));
        if (unknown.length > 0) throw new UsageError(`no list named ${unknown.join(', ')} in the configuration`);
        const outcomes = await feeds.refresh(names);
        const { formatOutcomes } = await import('./commands/lists.js');
        process.stdout.write(formatOutcomes(outcomes, feeds));
        return [...outcomes.values()].includes('failed') ? 1 : 0;
      }
      if (positionals.length > 0) throw new UsageError(`unknown "lists ${positionals.join(' ')}"`);
      const { formatRows, listRows } = await import('./commands/lists.js');
      const rows = listRows(feeds);
      process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : formatRows(rows));
      return 0;
    }
    case 'convert': {
      const { values, positionals } = parseArgs({ args: rest, options: optionsOf('convert'), allowPositionals: true });
      if (values.help) return usage(0);
      const to = values.to as ConvertTarget | undefined;
      if (positionals.length !== 1 || !to || !['domains', 'hosts', 'rpz'].includes(to)) throw new UsageError('convert takes FILE and --to domains|hosts|rpz');
      const format = values.format ?? 'auto';
      if (!(FEED_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format: expected one of ${FEED_FORMATS.join(', ')}, got "${format}"`);
      const cfg = loadConfig({ file: values.config });
      const guard = new Guard([...(cfg.guard.builtinProtected ? DEFAULT_PROTECTED : []), ...cfg.guard.protect]);
      const { convertFile, render } = await import('./commands/convert.js');
      const compiled = convertFile(positionals[0]!, format, guard);
      process.stdout.write(render(compiled, to));
      for (const r of [...compiled.guarded, ...compiled.notEnforceable]) process.stderr.write(`c2dns: line ${r.line}: ${r.fromUrl ?? r.name}: ${r.reason}\n`);
      return 0;
    }
    case 'sign': {
      const { values, positionals } = parseArgs({ args: rest, options: optionsOf('sign'), allowPositionals: true });
      if (values.help) return usage(0);
      const { keygen, signFile } = await import('./commands/sign.js');
      if (positionals[0] === 'keygen') {
        if (!values.out) throw new UsageError('sign keygen needs --out KEYFILE');
        process.stdout.write(`private key written to ${values.out}\npublic key (for signature.publicKey): ${keygen(values.out)}\n`);
        return 0;
      }
      if (positionals.length !== 1 || !values.key) throw new UsageError('sign takes FILE and --key KEYFILE');
      process.stdout.write(`${signFile(positionals[0]!, values.key)}\n`);
      return 0;
    }
    case 'hunt':
      return (await import('./commands/hunt.js')).runHunt(rest, { stdout: process.stdout, stderr: process.stderr });
    case 'config':
      return (await import('./commands/config.js')).runConfig(rest, { stdout: process.stdout, stderr: process.stderr });
    case 'completion':
      return (await import('./commands/completion.js')).runCompletion(rest, { stdout: process.stdout });
    case 'quarantine':
    case 'block':
    case 'unblock':
    case 'fleet': {
      const { values, positionals } = parseArgs({
        args: rest,
        // Each command's own flags (a --reason to quarantine is a usage error), typed as all four's.
        options: optionsOf(cmd as 'quarantine' | 'block' | 'unblock' | 'fleet'),
        allowPositionals: true,
      });
      if (values.help) return usage(0);
      const cfg = loadConfig({ file: values.config });
      const target: AdminTarget = {
        baseUrl: values.admin ?? `http://${formatHostPort(adminListen(cfg.admin))}`,
        token: values.token ?? process.env.C2DNS_ADMIN_TOKEN ?? cfg.admin.token ?? null,
      };
      let out: unknown;
      if (cmd === 'quarantine') {
        if (positionals[0] === 'list' || positionals.length === 0) out = await callAdmin(target, 'GET', '/api/quarantine');
        else if (positionals[0] === 'release' && positionals.length === 2) out = await callAdmin(target, 'DELETE', `/api/quarantine/${encodeURIComponent(positionals[1]!)}`);
        else throw new UsageError('quarantine takes "list" or "release CLIENT"');
      } else if (cmd === 'block') {
        if (positionals.length === 0 || !values.reason) throw new UsageError('block takes NAME... and --reason TEXT');
        out = await callAdmin(target, 'POST', `/api/block${values.wait ? '?wait=1' : ''}`, { names: positionals, reason: values.reason, ...(values.expires ? { expiresIn: values.expires } : {}) });
      } else if (cmd === 'fleet') {
        if (positionals.length > 0) throw new UsageError('fleet takes no arguments');
        const { formatFleet } = await import('./commands/fleet.js');
        const view = (await callAdmin(target, 'GET', '/api/fleet')) as FleetView;
        process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : formatFleet(view));
        return 0;
      } else {
        if (positionals.length !== 1) throw new UsageError('unblock takes one NAME');
        out = await callAdmin(target, 'DELETE', `/api/block/${encodeURIComponent(positionals[0]!)}${values.wait ? '?wait=1' : ''}`);
      }
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      if (values.wait && cmd !== 'quarantine') {
        // The change is made either way; exit 3 says not every instance confirmed it in time.
        const { propagationLine } = await import('./commands/fleet.js');
        const p = propagationLine((out as { propagation?: Propagation | null }).propagation);
        process.stderr.write(`c2dns: ${p.line}\n`);
        return p.complete ? 0 : 3;
      }
      return 0;
    }
    case undefined:
      return usage(2);
    case 'help':
    case '--help':
    case '-h':
      return usage(0);
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

function usage(code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(USAGE);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Exit now: a start-up that failed half-way may still hold timers or sockets.
    process.exit(reportError(err));
  },
);

/** Writes what went wrong for the operator (one line unless it is a bug); returns the exit code. */
function reportError(err: unknown): number {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof ConfigError || err instanceof SourceLoadError || err instanceof AdminCallError || err instanceof FeedError) {
    process.stderr.write(`${e.message.split('\n').map((l) => `c2dns: ${l}`).join('\n')}\n`);
    return 1;
  }
  if (err instanceof UsageError || (e.code ?? '').startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`c2dns: ${e.message}\n${(command !== undefined ? commandUsage(command) : null) ?? USAGE}`);
    return 2;
  }
  if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
    if (e.syscall === 'bind' || e.syscall === 'listen') {
      process.stderr.write(`c2dns: cannot listen: ${e.message}\n`);
      return 1;
    }
  }
  const file = fileErrorMessage(err);
  if (file !== null) {
    process.stderr.write(`c2dns: ${file}\n`);
    return 1;
  }
  process.stderr.write(`c2dns: ${e.stack ?? String(err)}\n`);
  return 1;
}
