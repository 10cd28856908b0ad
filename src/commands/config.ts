// `c2dns config check [--config FILE] [--print] [--ports]`: validates a configuration the way
// `c2dns serve` would, without serving and without creating anything: the schema (keys, values,
// cron expressions), the preflight checks (log destination, directories, list files, admin
// token; ports with --ports) and every list loaded offline (a local list that does not compile, an
// empty block list). --print writes the effective configuration, defaults included, as YAML.
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { configFileOf, envOverrides, keySource, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FeedManager, isEmptyBlockList } from '../feeds/manager.js';
import { createOpLog } from '../observe/oplog.js';
import { preflight } from '../server/assemble/preflight.js';
import { optionsOf, UsageError } from './usage.js';

export interface ConfigIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface CheckResult {
  errors: string[];
  warnings: string[];
}

/** Everything `serve` would refuse or warn about, without binding (unless `ports`) or writing. */
export async function checkConfig(cfg: Config, options: { ports: boolean }): Promise<CheckResult> {
  const r = await preflight(cfg, { create: false, ports: options.ports, owner: true });
  const errors = [...r.errors];
  // serve starts without a usable state.dir (a temporary one, /readyz degraded); a check says it is wrong.
  const warnings = r.stateDirUnusable === null ? [...r.warnings] : r.warnings.filter((w) => !w.startsWith('state.dir '));
  if (r.stateDirUnusable !== null) errors.push(`config error in ${keySource(cfg, 'state.dir')}: key "state.dir": ${r.stateDirUnusable} (c2dns serve would start with a temporary state directory: nothing kept across restarts)`);
  if (errors.length === 0) {
    // The lists as serve would load them at start, from files and disk copies (no network).
    const feeds = new FeedManager(cfg, createOpLog('silent'));
    feeds.persist = false;
    await feeds.loadInitial({ network: false });
    for (const s of feeds.sources) {
      if (s.compiled === null && s.config.path !== undefined) errors.push(`list "${s.config.name}": cannot load ${s.config.path}: ${s.lastFailure?.message ?? 'unknown error'}`);
      else if (s.compiled === null) warnings.push(`list "${s.config.name}": no disk copy of ${s.config.url} yet: it blocks nothing until the first fetch succeeds`);
      if (isEmptyBlockList(s)) warnings.push(`list "${s.config.name}": empty block list: it blocks nothing (wrong file?)`);
    }
  }
  return { errors, warnings };
}

/** The configuration as YAML, with the secrets it may hold replaced; a key the environment set says so in a comment. */
export function printableConfig(cfg: Config): string {
  const copy = structuredClone(cfg) as Config;
  if (copy.admin.token !== null) copy.admin.token = '<redacted>';
  for (const s of copy.alerts.sinks) {
    if (s.type === 'webhook') for (const k of Object.keys(s.headers)) s.headers[k] = '<redacted>';
  }
  const doc = new YAML.Document(copy);
  for (const [key, variable] of envOverrides(cfg)) {
    const path = key.split('.');
    const node = doc.getIn(path, true);
    // A list: on its key's line ("upstreams: # from C2DNS_UPSTREAMS"), not after its last item.
    const parent = doc.getIn(path.slice(0, -1), true) ?? doc.contents;
    const pair = YAML.isMap(parent) ? parent.items.find((p) => YAML.isScalar(p.key) && p.key.value === path[path.length - 1]) : undefined;
    if (YAML.isCollection(node) && pair !== undefined && YAML.isScalar(pair.key)) pair.key.comment = ` from ${variable}`;
    else if (YAML.isNode(node)) node.comment = ` from ${variable}`;
  }
  return doc.toString({ lineWidth: 0 });
}

/** "log.destination (C2DNS_LOG_DESTINATION), ..." or null when the environment set nothing. */
function fromEnvironment(cfg: Config): string | null {
  const set = [...envOverrides(cfg)].map(([key, variable]) => `${key} (${variable})`);
  return set.length === 0 ? null : `${set.length} key(s) from the environment: ${set.join(', ')}`;
}

export async function runConfig(argv: string[], io: ConfigIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: optionsOf('config'),
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1 || positionals[0] !== 'check') throw new UsageError(`config takes "check"${positionals.length > 0 ? `, not "${positionals.join(' ')}"` : ''}`);
  const cfg = loadConfig({ file: values.config }); // a ConfigError here: reported by the CLI, exit 1
  const where = configFileOf(cfg) ?? 'built-in defaults (no --config)';
  const r = await checkConfig(cfg, { ports: values.ports === true });
  if (values.print === true) io.stdout.write(printableConfig(cfg));
  for (const w of r.warnings) io.stderr.write(`c2dns: warning: ${w}\n`);
  for (const e of r.errors) io.stderr.write(`c2dns: ${e}\n`);
  if (r.errors.length > 0) {
    io.stderr.write(`c2dns: ${where}: ${r.errors.length} error(s): c2dns serve would not start\n`);
    return 1;
  }
  const env = fromEnvironment(cfg);
  const summary = `${where}: OK (${cfg.lists.length} list(s), listen ${cfg.listen.join(' ')}, admin ${cfg.admin.enabled ? cfg.admin.listen : 'off'}${values.ports === true ? '' : '; ports not tried, see --ports'})${env === null ? '' : `; ${env}`}\n`;
  // With --print, stdout is the YAML alone.
  (values.print === true ? io.stderr : io.stdout).write(values.print === true ? `c2dns: ${summary}` : summary);
  return 0;
}
