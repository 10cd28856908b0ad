// Environment overrides, the container and Kubernetes way: every scalar key of the configuration,
// and every list of scalars, can be set by an environment variable. One rule names them all:
//   C2DNS_ + the key's path, each segment in upper snake case (camelCase split), joined by "_"
//   admin.listen → C2DNS_ADMIN_LISTEN, cache.maxEntries → C2DNS_CACHE_MAX_ENTRIES
// A list of scalars is comma-separated (C2DNS_UPSTREAMS=9.9.9.9,149.112.112.112). An empty
// variable counts as unset (what Compose and Kubernetes make of an unset reference). Lists of
// mappings (lists, groups, alerts.sinks, ...) and maps (clients.names) are file-only.
// The variables are derived by walking the zod schema, so a new key gets its variable with no
// other change; test/config/env.test.ts checks that no two keys share a name.
// Precedence: defaults < file < environment < command-line flags (load.ts applies them in order).
import type { z } from 'zod';
import { configSchema } from './schema.js';

export const ENV_PREFIX = 'C2DNS_';

/** What a variable's text may stand for: the scalar types the key's schema accepts. */
interface Accepts {
  strings: boolean;
  numbers: boolean;
  booleans: boolean;
  /** Enum members and literals, matched before anything else. */
  literals: string[];
}

export interface EnvKey {
  /** The key's path in the configuration, e.g. ["cache", "maxEntries"]. */
  path: string[];
  /** The environment variable, e.g. C2DNS_CACHE_MAX_ENTRIES. */
  variable: string;
  /** A list of scalars, given comma-separated. */
  list: boolean;
  accepts: Accepts;
  /** Its value is never printed (tokens, secrets, passwords). */
  secret: boolean;
}

/** A key that has no variable, and why (a list of mappings, a map): set in the file only. */
export interface FileOnlyKey {
  path: string[];
  variable: string;
  why: string;
}

/** "maxEntries" → "MAX_ENTRIES", "ipv4Prefix" → "IPV4_PREFIX", "caFile" → "CA_FILE". */
export function envSegment(segment: string): string {
  return segment
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

export function envName(path: readonly string[]): string {
  return ENV_PREFIX + path.map(envSegment).join('_');
}

export const keyText = (path: readonly string[]): string => path.join('.');

/** Keys whose values never appear in messages: secrets, and the Redis URL (it may carry a password). */
const SECRET = /(^|[a-z])(token|secret|password)$|^redis$/i;

type AnyZod = z.ZodTypeAny;

/** The schema under defaults, optionals, refinements and transforms. */
function unwrap(t: AnyZod): AnyZod {
  for (;;) {
    const def = t._def as { typeName: string; innerType?: AnyZod; schema?: AnyZod; in?: AnyZod; type?: AnyZod; getter?: () => AnyZod };
    switch (def.typeName) {
      case 'ZodDefault':
      case 'ZodOptional':
      case 'ZodNullable':
      case 'ZodCatch':
      case 'ZodReadonly':
        t = def.innerType!;
        break;
      case 'ZodEffects':
        t = def.schema!;
        break;
      case 'ZodPipeline':
        t = def.in!;
        break;
      case 'ZodBranded':
        t = def.type!;
        break;
      case 'ZodLazy':
        t = def.getter!();
        break;
      default:
        return t;
    }
  }
}

/** What a variable can give this schema; null when no text can (an object, a list, a map). */
function accepts(t: AnyZod): Accepts | null {
  const u = unwrap(t);
  const def = u._def as { typeName: string; values?: unknown; value?: unknown; options?: AnyZod[] };
  const none: Accepts = { strings: false, numbers: false, booleans: false, literals: [] };
  switch (def.typeName) {
    case 'ZodString':
      return { ...none, strings: true };
    case 'ZodNumber':
      return { ...none, numbers: true };
    case 'ZodBoolean':
      return { ...none, booleans: true };
    case 'ZodEnum':
      return { ...none, literals: [...(def.values as string[])] };
    case 'ZodNativeEnum':
      return { ...none, literals: Object.values(def.values as object).filter((v): v is string => typeof v === 'string') };
    case 'ZodLiteral':
      return typeof def.value === 'string' ? { ...none, literals: [def.value] } : null;
    case 'ZodUnion': {
      // The options a text can be: a union of a string and a mapping (an upstream) takes the string.
      const parts = def.options!.map(accepts).filter((a): a is Accepts => a !== null);
      if (parts.length === 0) return null;
      return parts.reduce((a, b) => ({ strings: a.strings || b.strings, numbers: a.numbers || b.numbers, booleans: a.booleans || b.booleans, literals: [...a.literals, ...b.literals] }));
    }
    default:
      return null;
  }
}

export interface Walked {
  keys: EnvKey[];
  fileOnly: FileOnlyKey[];
}

function walk(t: AnyZod, path: string[], out: Walked): void {
  const u = unwrap(t);
  const def = u._def as { typeName: string; type?: AnyZod };
  if (def.typeName === 'ZodObject') {
    for (const [k, v] of Object.entries((u as z.AnyZodObject).shape as Record<string, AnyZod>)) walk(v, [...path, k], out);
    return;
  }
  const variable = envName(path);
  const secret = SECRET.test(path[path.length - 1] ?? '');
  if (def.typeName === 'ZodArray') {
    const a = accepts(def.type!);
    if (a !== null) out.keys.push({ path, variable, list: true, accepts: a, secret });
    else out.fileOnly.push({ path, variable, why: 'a list of mappings' });
    return;
  }
  const a = accepts(u);
  if (a !== null) out.keys.push({ path, variable, list: false, accepts: a, secret });
  else out.fileOnly.push({ path, variable, why: def.typeName === 'ZodRecord' ? 'a map' : def.typeName === 'ZodDiscriminatedUnion' ? 'a mapping' : 'not a scalar' });
}

let walked: Walked | null = null;

/** Every key a variable can set, and the keys only the file can, from the configuration schema. */
export function envKeys(): Walked {
  walked ??= walkSchema(configSchema);
  return walked;
}

/** The variables of a schema's keys; throws when two keys would share one. */
export function walkSchema(schema: AnyZod): Walked {
  const w: Walked = { keys: [], fileOnly: [] };
  walk(schema, [], w);
  // Two keys with one variable would make a variable mean two things: a bug in a new key's name.
  const seen = new Map<string, string>();
  for (const k of [...w.keys, ...w.fileOnly]) {
    const other = seen.get(k.variable);
    if (other !== undefined) throw new Error(`configuration keys ${other} and ${keyText(k.path)} would share the environment variable ${k.variable}`);
    seen.set(k.variable, keyText(k.path));
  }
  return w;
}

export interface EnvApplied {
  /** Key path text (e.g. "cache.maxEntries") → the variable that set it. */
  fromEnv: Map<string, string>;
  /** Values that could not be read: the configuration is not loaded. */
  errors: string[];
  /** C2DNS_ variables that look like configuration keys but are none: said, not ignored silently. */
  warnings: string[];
}

/** How a variable's value is shown in messages: secrets never. */
export function shownValue(k: EnvKey, value: string): string {
  return k.secret ? `<redacted, ${value.length} characters>` : value;
}

function expectation(a: Accepts): string {
  const parts = [
    ...(a.literals.length > 0 ? [a.literals.length === 1 && (a.numbers || a.strings) ? JSON.stringify(a.literals[0]) : `one of ${a.literals.map((l) => JSON.stringify(l)).join(', ')}`] : []),
    ...(a.numbers ? ['a number'] : []),
    ...(a.booleans ? ['true or false'] : []),
  ];
  return `expected ${parts.join(' or ')}`;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** One scalar from text, as the key's schema types it; a string saying what was expected when it cannot be. */
function scalar(text: string, a: Accepts): { value: string | number | boolean } | { error: string } {
  if (a.literals.includes(text)) return { value: text };
  if (a.numbers && NUMBER.test(text)) return { value: Number(text) };
  if (a.booleans && /^(true|false)$/i.test(text)) return { value: text.toLowerCase() === 'true' };
  if (a.strings) return { value: text };
  return { error: expectation(a) };
}

/**
 * Lays the environment's C2DNS_ variables over `raw` (the file's mapping, changed in place): each
 * value typed as its key's schema says. Range and format checks are the schema's, made after.
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvApplied {
  const { keys, fileOnly } = envKeys();
  const out: EnvApplied = { fromEnv: new Map(), errors: [], warnings: [] };
  const byName = new Map(keys.map((k) => [k.variable, k]));
  for (const [variable, text] of Object.entries(env)) {
    if (!variable.startsWith(ENV_PREFIX) || text === undefined) continue;
    const k = byName.get(variable);
    if (k === undefined) {
      const w = unknownVariable(variable, keys, fileOnly);
      if (w !== null) out.warnings.push(w);
      continue;
    }
    const trimmed = text.trim();
    if (trimmed === '') continue;
    const where = `${variable}=${shownValue(k, text)}`;
    let value: unknown;
    if (k.list) {
      const items = trimmed.split(',').map((s) => s.trim());
      const values: unknown[] = [];
      items.forEach((item, i) => {
        if (item === '') return void out.errors.push(`${where}: item ${i + 1} is empty (a comma-separated list)`);
        const v = scalar(item, k.accepts);
        if ('error' in v) out.errors.push(`${where}: item ${i + 1} (${k.secret ? '<redacted>' : JSON.stringify(item)}): ${v.error}`);
        else values.push(v.value);
      });
      value = values;
    } else {
      const v = scalar(trimmed, k.accepts);
      if ('error' in v) {
        out.errors.push(`${where}: ${v.error}`);
        continue;
      }
      value = v.value;
    }
    if (setAt(raw, k.path, value)) out.fromEnv.set(keyText(k.path), variable);
    else out.errors.push(`${where}: cannot set key "${keyText(k.path)}": the configuration file gives "${keyText(k.path.slice(0, -1))}" a value that is not a mapping`);
  }
  return out;
}

/** Sets `path` in `root`, making the mappings on the way; false when the file put something else there. */
function setAt(root: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let o = root;
  for (const seg of path.slice(0, -1)) {
    const next = o[seg];
    if (next === undefined || next === null) o[seg] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) return false;
    o = o[seg] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
  return true;
}

/**
 * A warning for a C2DNS_ variable that is not a key's but looks like one (it begins with a
 * top-level key's name); null for others (C2DNS_FUZZ_SEED and the like are not configuration).
 */
function unknownVariable(variable: string, keys: readonly EnvKey[], fileOnly: readonly FileOnlyKey[]): string | null {
  const f = fileOnly.find((k) => k.variable === variable);
  if (f !== undefined) return `environment variable ${variable} ignored: "${keyText(f.path)}" is ${f.why}, set in the configuration file only`;
  const rest = variable.slice(ENV_PREFIX.length);
  const sections = new Set([...keys, ...fileOnly].map((k) => envSegment(k.path[0]!)));
  const looksLikeKey = [...sections].some((s) => rest === s || rest.startsWith(`${s}_`));
  if (!looksLikeKey) return null;
  const squash = (s: string): string => s.replace(/_/g, '');
  const near = keys.filter((k) => squash(k.variable) === squash(variable) || editDistance(k.variable, variable) <= 2).map((k) => k.variable);
  return `environment variable ${variable} ignored: no configuration key has this name${near.length > 0 ? `; did you mean ${near.join(' or ')}?` : ' (the rule and every name: README "Environment variables")'}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
