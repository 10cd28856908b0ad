// Environment overrides: every scalar key, and every list of scalars, has a C2DNS_ variable named
// by one rule from its path, derived from the schema (so no two keys share one); values are typed
// as the schema says and a bad one is an error naming the variable; precedence is defaults < file
// < environment < flags; a C2DNS_ variable that looks like a key but is none is a warning.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { z } from 'zod';
import { checkConfig } from '../../src/commands/config.js';
import { envKeys, envName, walkSchema } from '../../src/config/env.js';
import { keySource, loadConfig, type ConfigInput } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

/** Loads with only `env` as the environment, collecting warnings. */
function load(env: Record<string, string>, input: Omit<ConfigInput, 'env' | 'warn'> = {}): { cfg: ReturnType<typeof loadConfig>; warnings: string[] } {
  const warnings: string[] = [];
  const cfg = loadConfig({ ...input, env, warn: (w) => warnings.push(w) });
  return { cfg, warnings };
}

function configFile(content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-env-'));
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, YAML.stringify(content));
  return file;
}

const loadError = (env: Record<string, string>, input: Omit<ConfigInput, 'env' | 'warn'> = {}): string => {
  try {
    load(env, input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
};

describe('the naming rule', () => {
  it('C2DNS_ + the path in upper snake case, camelCase split, "_" between segments', () => {
    expect(envName(['admin', 'listen'])).toBe('C2DNS_ADMIN_LISTEN');
    expect(envName(['log', 'destination'])).toBe('C2DNS_LOG_DESTINATION');
    expect(envName(['cache', 'maxEntries'])).toBe('C2DNS_CACHE_MAX_ENTRIES');
    expect(envName(['rateLimit', 'ipv4Prefix'])).toBe('C2DNS_RATE_LIMIT_IPV4_PREFIX');
    expect(envName(['cache', 'serveStaleClientTimeoutMs'])).toBe('C2DNS_CACHE_SERVE_STALE_CLIENT_TIMEOUT_MS');
  });

  it('derived from the schema: every scalar and list-of-scalars key has its variable, including the existing C2DNS_ADMIN_TOKEN', () => {
    const vars = new Map(envKeys().keys.map((k) => [k.variable, k]));
    for (const v of ['C2DNS_UPSTREAMS', 'C2DNS_LISTEN', 'C2DNS_ADMIN_LISTEN', 'C2DNS_ADMIN_TOKEN', 'C2DNS_LOG_DESTINATION', 'C2DNS_CACHE_MAX_ENTRIES', 'C2DNS_WORKERS', 'C2DNS_SERVER_COOKIES_SECRET']) expect(vars.has(v), v).toBe(true);
    expect(vars.get('C2DNS_UPSTREAMS')!.list).toBe(true);
    expect(vars.get('C2DNS_ADMIN_TOKEN')!.secret).toBe(true);

    // Every leaf of the default configuration that is a scalar or a list of scalars is settable.
    const settable = new Set(envKeys().keys.map((k) => k.path.join('.')));
    const leaves: string[] = [];
    const visit = (v: unknown, path: string[]): void => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) visit(x, [...path, k]);
      } else if (!Array.isArray(v) || v.every((x) => x === null || typeof x !== 'object')) leaves.push(path.join('.'));
    };
    visit(configSchema.parse({ lists: [] }), []);
    expect(leaves.length).toBeGreaterThan(80);
    expect(leaves.filter((l) => !settable.has(l) && !l.startsWith('clients.names') && !l.startsWith('upstream.spkiPins') && !l.startsWith('alerts.staleFeedOverrides'))).toEqual(
      // Empty lists of mappings (file only) are leaves of the default too.
      ['groups', 'forwarding', 'localRecords', 'lists', 'alerts.sinks'],
    );
  });

  it('the mapping is injective over the whole schema, and a schema where two keys would share a name is refused', () => {
    const { keys, fileOnly } = envKeys();
    const names = [...keys, ...fileOnly].map((k) => k.variable);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set([...keys, ...fileOnly].map((k) => k.path.join('.'))).size).toBe(names.length);
    const clash = z.object({ a: z.object({ bC: z.string() }), aB: z.object({ c: z.string() }) });
    expect(() => walkSchema(clash)).toThrow('configuration keys a.bC and aB.c would share the environment variable C2DNS_A_B_C');
  });

  it('lists of mappings and maps have no variable; setting one is a warning saying so', () => {
    const fileOnly = envKeys().fileOnly.map((k) => k.path.join('.'));
    expect(fileOnly).toEqual(expect.arrayContaining(['lists', 'groups', 'alerts.sinks', 'clients.names']));
    const { cfg, warnings } = load({ C2DNS_LISTS: 'x' });
    expect(cfg.lists).toHaveLength(1); // the default list
    expect(warnings).toEqual(['environment variable C2DNS_LISTS ignored: "lists" is a list of mappings, set in the configuration file only']);
  });
});

describe('values are typed as the schema says', () => {
  it('numbers, booleans, enums, "auto" or a number, and comma-separated lists', () => {
    const { cfg, warnings } = load({
      C2DNS_CACHE_MAX_ENTRIES: '5000',
      C2DNS_RATE_LIMIT_QPS: '12.5',
      C2DNS_CACHE_PREFETCH: 'false',
      C2DNS_RATE_LIMIT_ENABLED: 'TRUE',
      C2DNS_LOG_LEVEL: 'debug',
      C2DNS_WORKERS: 'auto',
      C2DNS_UPSTREAMS: '9.9.9.9, 149.112.112.112',
      C2DNS_LISTEN: '127.0.0.1:5300',
      C2DNS_CLIENTS_IDENTITY: 'ecs,mac',
      C2DNS_SERVER_NSID: '12',
      C2DNS_ADMIN_LISTEN: '0.0.0.0:9553',
    });
    expect(warnings).toEqual([]);
    expect(cfg.cache.maxEntries).toBe(5000);
    expect(cfg.rateLimit.qps).toBe(12.5);
    expect(cfg.cache.prefetch).toBe(false);
    expect(cfg.rateLimit.enabled).toBe(true);
    expect(cfg.log.level).toBe('debug');
    expect(cfg.workers).toBe('auto');
    expect(load({ C2DNS_WORKERS: '4' }).cfg.workers).toBe(4);
    expect(cfg.upstreams).toEqual(['9.9.9.9', '149.112.112.112']);
    expect(cfg.listen).toEqual(['127.0.0.1:5300']);
    expect(cfg.clients.identity).toEqual(['ecs', 'mac']);
    expect(cfg.server.nsid).toBe('12'); // a string key keeps digits as text
    expect(cfg.admin.listen).toBe('0.0.0.0:9553');
  });

  it('an empty variable counts as unset (what Compose and Kubernetes make of an unset reference)', () => {
    expect(load({ C2DNS_CACHE_MAX_ENTRIES: '', C2DNS_UPSTREAMS: ' ' }).cfg).toEqual(load({}).cfg);
  });

  const bad: [Record<string, string>, string][] = [
    [{ C2DNS_CACHE_MAX_ENTRIES: 'abc' }, 'config error in the environment: C2DNS_CACHE_MAX_ENTRIES=abc: expected a number'],
    [{ C2DNS_CACHE_PREFETCH: 'yes' }, 'config error in the environment: C2DNS_CACHE_PREFETCH=yes: expected true or false'],
    [{ C2DNS_LOG_LEVEL: 'verbose' }, 'config error in the environment: C2DNS_LOG_LEVEL=verbose: expected one of "fatal", "error", "warn", "info", "debug", "trace"'],
    [{ C2DNS_WORKERS: 'many' }, 'config error in the environment: C2DNS_WORKERS=many: expected "auto" or a number'],
    [{ C2DNS_CLIENTS_IDENTITY: 'mac,,ecs' }, 'config error in the environment: C2DNS_CLIENTS_IDENTITY=mac,,ecs: item 2 is empty (a comma-separated list)'],
    [{ C2DNS_CLIENTS_IDENTITY: 'mac,ip' }, 'config error in the environment: C2DNS_CLIENTS_IDENTITY=mac,ip: item 2 ("ip"): expected one of "mac", "ecs", "cpe-id"'],
    // Range and format: the schema's checks, still naming the variable.
    [{ C2DNS_CACHE_MAX_ENTRIES: '-5' }, 'config error in the environment: C2DNS_CACHE_MAX_ENTRIES=-5: key "cache.maxEntries": expected a number >= 0'],
    [{ C2DNS_CACHE_MAX_ENTRIES: '1.5' }, 'config error in the environment: C2DNS_CACHE_MAX_ENTRIES=1.5: key "cache.maxEntries": expected a whole number'],
    [{ C2DNS_ACCESS_ALLOW: '10.0.0.0/8,192.168.1.0/33' }, 'config error in the environment: C2DNS_ACCESS_ALLOW=10.0.0.0/8,192.168.1.0/33: key "access.allow[1]": expected an IP network'],
    // Secrets are never echoed.
    [{ C2DNS_ADMIN_TOKEN: 'hunter2' }, 'config error in the environment: C2DNS_ADMIN_TOKEN=<redacted, 7 characters>: key "admin.token": expected at least 16 characters'],
  ];
  for (const [env, message] of bad) {
    it(`${Object.entries(env)[0]!.join('=')}: ${message.slice(message.lastIndexOf(': ') + 2)}`, () => {
      const err = loadError(env);
      expect(err).toContain(message);
      expect(err).not.toContain('hunter2');
    });
  }
});

describe('precedence: defaults < file < environment < command-line flags', () => {
  it('the environment wins over the file and loses to flags', () => {
    const file = configFile({ cache: { maxEntries: 10, minTtl: 5 }, listen: ['127.0.0.1:5301'], upstreams: ['192.0.2.1'] });
    const { cfg } = load({ C2DNS_CACHE_MAX_ENTRIES: '20', C2DNS_LISTEN: '127.0.0.1:5302', C2DNS_UPSTREAMS: '192.0.2.2' }, { file, upstreams: ['192.0.2.3'] });
    expect(cfg.cache.maxEntries).toBe(20);
    expect(cfg.cache.minTtl).toBe(5); // the rest of the file's section stays
    expect(cfg.cache.maxTtl).toBe(86_400); // and the defaults under it
    expect(cfg.listen).toEqual(['127.0.0.1:5302']);
    expect(cfg.upstreams).toEqual(['192.0.2.3']);
    expect(keySource(cfg, 'cache.maxEntries')).toBe('environment variable C2DNS_CACHE_MAX_ENTRIES');
    expect(keySource(cfg, 'listen[0]')).toBe('environment variable C2DNS_LISTEN');
    expect(keySource(cfg, 'upstreams[0]')).toBe('command-line flag --upstream');
    expect(keySource(cfg, 'cache.minTtl')).toBe(file);
  });

  it('checks made after loading (the preflight of serve and config check) name the variable too', async () => {
    const file = configFile({ lists: [] });
    const { cfg } = load({ C2DNS_LOG_DESTINATION: '/proc/c2dns/queries.log', C2DNS_STATE_DIR: 'state' }, { file });
    const r = await checkConfig(cfg, { ports: false });
    expect(r.errors).toContainEqual(expect.stringMatching(/^config error in environment variable C2DNS_LOG_DESTINATION: key "log\.destination": \/proc\/c2dns\/queries\.log is under \/proc/));
  });

  it('a relative path from the environment is relative to the configuration file, as in the file', () => {
    const file = configFile({});
    const { cfg } = load({ C2DNS_LOG_DESTINATION: 'logs/q.log', C2DNS_STATE_DIR: 'state' }, { file });
    expect(cfg.log.destination).toBe(join(file, '..', 'logs', 'q.log'));
    expect(cfg.state.dir).toBe(join(file, '..', 'state'));
  });

  it('a section the file gives a scalar cannot take a variable: the error says so', () => {
    const file = configFile({ cache: 5 });
    expect(loadError({ C2DNS_CACHE_MAX_ENTRIES: '9' }, { file })).toContain('C2DNS_CACHE_MAX_ENTRIES=9: cannot set key "cache.maxEntries": the configuration file gives "cache" a value that is not a mapping');
  });
});

describe('C2DNS_ variables that are no key', () => {
  it('one that looks like a key is a warning with the name meant; others (test knobs) are left alone', () => {
    const { warnings } = load({ C2DNS_CACHE_MAXENTRIES: '5', C2DNS_LOG_LEVLE: 'debug', C2DNS_CACHE_COLOUR: 'blue', C2DNS_FUZZ_SEED: '7', C2DNS_FLOOD_QPS: '100' });
    expect(warnings).toEqual([
      'environment variable C2DNS_CACHE_MAXENTRIES ignored: no configuration key has this name; did you mean C2DNS_CACHE_MAX_ENTRIES?',
      'environment variable C2DNS_LOG_LEVLE ignored: no configuration key has this name; did you mean C2DNS_LOG_LEVEL?',
      'environment variable C2DNS_CACHE_COLOUR ignored: no configuration key has this name (the rule and every name: README "Environment variables")',
    ]);
  });
});

describe('the packages use real variable names', () => {
  it('every C2DNS_ variable docker-compose.yml and the Kubernetes Deployment set is a configuration key', () => {
    const known = new Set(envKeys().keys.map((k) => k.variable));
    const compose = YAML.parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { services: { c2dns: { environment: Record<string, string> } } };
    const deployment = YAML.parse(readFileSync(new URL('../../deploy/kubernetes/deployment.yaml', import.meta.url), 'utf8')) as { spec: { template: { spec: { containers: { env: { name: string }[] }[] } } } };
    const names = [...Object.keys(compose.services.c2dns.environment), ...deployment.spec.template.spec.containers.flatMap((c) => c.env.map((e) => e.name))];
    expect(names).toContain('C2DNS_UPSTREAMS');
    expect(names.filter((n) => !known.has(n))).toEqual([]);
  });
});
