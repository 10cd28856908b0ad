// Reads the YAML file (if any), lays the C2DNS_ environment variables (env.ts) and then the
// command-line flags over it and validates the result: defaults < file < environment < flags. An
// error names where the value came from (file, variable or flag), the key, the bad value and what
// was expected; nothing is bound before the configuration is valid.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import type { ZodIssue } from 'zod';
import { configSchema, type Config } from './schema.js';
import { applyEnv, envKeys, shownValue } from './env.js';
import { bundledPath } from './paths.js';

export class ConfigError extends Error {}

export interface ConfigInput {
  file?: string | undefined;
  listen?: string[] | undefined;
  upstreams?: string[] | undefined;
  /** Where C2DNS_ variables are read from; default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Told about C2DNS_ variables that look like keys but are none; default: a line on stderr. */
  warn?: ((message: string) => void) | undefined;
}

/** Flag name for each top-level key a flag can set. */
const FLAG_FOR_KEY: Record<string, string> = { listen: '--listen', upstreams: '--upstream' };

/** Where each loaded configuration came from, for checks made after loading (see keySource). */
const origins = new WeakMap<Config, Origins>();

interface Origins {
  file: string | undefined;
  fromFlags: ReadonlySet<string>;
  /** Key path (e.g. "cache.maxEntries") → the variable that set it. */
  fromEnv: ReadonlyMap<string, string>;
}

/**
 * Where the value at `key` (e.g. "listen[0]", "log.destination") came from, in the words config
 * errors use: "command-line flag --listen", "environment variable C2DNS_LOG_DESTINATION", the
 * file's path, or "built-in defaults".
 */
export function keySource(cfg: Config, key: string): string {
  const o = origins.get(cfg);
  return o === undefined ? 'built-in defaults' : sourceOf(key, o);
}

function sourceOf(key: string, o: Origins): string {
  const top = /^[A-Za-z]+/.exec(key)?.[0] ?? '';
  if (o.fromFlags.has(top)) return `command-line flag ${FLAG_FOR_KEY[top]}`;
  const variable = envVariableOf(key, o.fromEnv);
  if (variable !== undefined) return `environment variable ${variable}`;
  return o.file ?? 'built-in defaults';
}

/** The variable that set `key` or the key it is in ("listen[1]" is in "listen"). */
function envVariableOf(key: string, fromEnv: ReadonlyMap<string, string>): string | undefined {
  for (const [k, variable] of fromEnv) if (key === k || key.startsWith(`${k}.`) || key.startsWith(`${k}[`)) return variable;
  return undefined;
}

/** The keys the environment set, each with its variable (for `config check --print`). */
export function envOverrides(cfg: Config): ReadonlyMap<string, string> {
  return origins.get(cfg)?.fromEnv ?? new Map();
}

/** The configuration file a loaded configuration was read from, if any. */
export function configFileOf(cfg: Config): string | undefined {
  return origins.get(cfg)?.file;
}

export function loadConfig(input: ConfigInput): Config {
  let raw: unknown = {};
  const file = input.file === undefined ? undefined : resolve(input.file);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config error: cannot read ${file}: ${(err as Error).message}`);
    }
    const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) throw new ConfigError(`config error in ${file}: YAML: ${doc.errors[0]!.message}`);
    raw = doc.toJS() ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config error in ${file}: expected a mapping of keys at the top level, got ${describe(raw)}`);
  }
  const merged = structuredClone(raw as Record<string, unknown>);
  const env = applyEnv(merged, input.env ?? process.env);
  if (env.errors.length > 0) throw new ConfigError(env.errors.map((e) => `config error in the environment: ${e}`).join('\n'));
  const warn = input.warn ?? ((m: string) => process.stderr.write(`c2dns: warning: ${m}\n`));
  for (const w of env.warnings) warn(w);
  const fromFlags = new Set<string>();
  if (input.listen !== undefined && input.listen.length > 0) {
    merged.listen = input.listen;
    fromFlags.add('listen');
  }
  if (input.upstreams !== undefined && input.upstreams.length > 0) {
    merged.upstreams = input.upstreams;
    fromFlags.add('upstreams');
  }
  const from: Origins = { file, fromFlags, fromEnv: env.fromEnv };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => formatIssue(issue, merged, from, input.env ?? process.env));
    throw new ConfigError(lines.join('\n'));
  }
  const cfg = parsed.data;
  const base = file === undefined ? process.cwd() : dirname(file);
  const fix = (p: string): string => (p.startsWith('<bundled>/') ? bundledPath(p.slice('<bundled>/'.length)) : isAbsolute(p) ? p : resolve(base, p));
  for (const l of cfg.lists) {
    if (l.path !== undefined) l.path = fix(l.path);
    if (l.signature?.path !== undefined) l.signature.path = fix(l.signature.path);
  }
  cfg.state.dir = cfg.state.dir === undefined ? defaultStateDir() : fix(cfg.state.dir);
  if (cfg.history.dir !== undefined) cfg.history.dir = fix(cfg.history.dir);
  if (cfg.tls.certFile !== undefined) cfg.tls.certFile = fix(cfg.tls.certFile);
  if (cfg.tls.keyFile !== undefined) cfg.tls.keyFile = fix(cfg.tls.keyFile);
  if (cfg.upstream.caFile !== null) cfg.upstream.caFile = fix(cfg.upstream.caFile);
  if (cfg.alerts.spool.dir !== undefined) cfg.alerts.spool.dir = fix(cfg.alerts.spool.dir);
  for (const s of cfg.alerts.sinks) if (s.type === 'file') s.path = fix(s.path);
  if (cfg.log.destination !== 'stdout' && !isAbsolute(cfg.log.destination)) cfg.log.destination = resolve(base, cfg.log.destination);
  origins.set(cfg, from);
  return cfg;
}

function defaultStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'state'), 'c2dns');
}

function formatIssue(issue: ZodIssue, raw: Record<string, unknown>, o: Origins, env: NodeJS.ProcessEnv): string {
  const key = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
  const where = sourceOf(key, o);
  const variable = where.startsWith('environment variable ') ? envVariableOf(key, o.fromEnv) : undefined;
  // From a variable: the variable as it was set, then the key and what it expected.
  const value = variable === undefined ? describe(valueAt(raw, issue.path)) : null;
  const lead = variable === undefined ? `config error in ${where}: key "${key || '(top level)'}"` : envLead(variable, key, env);
  let expected = issue.message;
  if (issue.code === 'unrecognized_keys') {
    return `config error in ${where}: key "${[key, issue.keys[0]].filter(Boolean).join('.')}": unknown key; expected one of the documented keys (see config/c2dns.example.yaml)`;
  }
  if (issue.code === 'invalid_type') expected = `expected ${issue.expected}`;
  if (issue.code === 'invalid_enum_value') expected = `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
  if (issue.code === 'too_small') expected = issue.type === 'array' ? `expected at least ${issue.minimum} item(s)` : issue.type === 'string' ? tooShort(issue.message, Number(issue.minimum)) : `expected a number >= ${issue.minimum}`;
  if (issue.code === 'too_big') expected = issue.type === 'array' ? `expected at most ${issue.maximum} item(s)` : `expected a number <= ${issue.maximum}`;
  if (issue.code === 'invalid_type' && issue.expected === 'integer') expected = 'expected a whole number';
  return value === null ? `${lead}: ${expected}` : `${lead}: ${expected}, got ${value}`;
}

/** "config error in the environment: C2DNS_X=value: key "x.y"" (secrets shown as their length only). */
function envLead(variable: string, key: string, env: NodeJS.ProcessEnv): string {
  const k = envKeys().keys.find((e) => e.variable === variable)!;
  return `config error in the environment: ${variable}=${shownValue(k, env[variable] ?? '')}: key "${key}"`;
}

/** A schema's own message ("expected at least 16 characters (e.g. ...)") rather than zod's. */
function tooShort(message: string, minimum: number): string {
  if (message.startsWith('expected')) return message;
  return minimum <= 1 ? 'expected a non-empty string' : `expected at least ${minimum} characters`;
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
