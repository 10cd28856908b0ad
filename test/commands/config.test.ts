// A command line that explains itself, through the real CLI: `c2dns config check` validates what
// serve would refuse without serving or creating anything, and --print shows the effective
// configuration; --version; every command has its own --help (and `c2dns help CMD`); a usage
// error shows that command's usage; ordinary file errors are one line, exit 1, no stack trace.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ADMIN_DEFAULT_LISTEN } from '../../src/admin/config.js';
import { loadConfig } from '../../src/config/load.js';
import { buildCli, opLines, runCli, type BuiltCli } from '../helpers/cli.js';

let built: BuiltCli;
beforeAll(() => {
  built = buildCli();
}, 60_000);
afterAll(() => built?.cleanup());

async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; err: string }> {
  const c = runCli(built.cliJs, args, 15_000, env);
  let out = '';
  c.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = await c.exited;
  return { code: exit.code, out, err: c.stderr() };
}

/** A directory with a config file (state inside it, not yet created) and a small list. */
function setup(cfg: (dir: string) => Record<string, unknown> = () => ({})): { dir: string; config: string } {
  const dir = mkdtempSync(join(built.work, 'cfg-'));
  writeFileSync(join(dir, 'c2.txt'), 'akamaicontainer.com\n');
  const config = join(dir, 'c2dns.yaml');
  writeFileSync(config, YAML.stringify({ state: { dir: join(dir, 'state') }, lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2'] }], log: { destination: join(dir, 'logs', 'q.log') }, ...cfg(dir) }));
  return { dir, config };
}

const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at /);

describe('c2dns config check', () => {
  it('a good configuration: exit 0, says OK, creates nothing (no state directory, no log file)', async () => {
    const { dir, config } = setup();
    const r = await cli(['config', 'check', '--config', config]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK \\(1 list\\(s\\)`));
    expect(existsSync(join(dir, 'state'))).toBe(false);
    expect(existsSync(join(dir, 'logs'))).toBe(false);
  });

  const bad: { name: string; cfg: (dir: string) => Record<string, unknown>; expect: RegExp }[] = [
    { name: 'an invalid cron expression', cfg: () => ({ lists: [{ name: 'c2', path: 'c2.txt', refresh: 'every hour' }] }), expect: /key "lists\[0\]\.refresh": expected a cron expression.*got "every hour"/ },
    { name: 'a query log under /proc', cfg: () => ({ log: { destination: '/proc/c2dns/queries.log' } }), expect: /key "log\.destination": \/proc\/c2dns\/queries\.log is under \/proc/ },
    {
      name: 'a state directory that cannot be created',
      cfg: (dir) => {
        writeFileSync(join(dir, 'file'), 'x');
        return { state: { dir: join(dir, 'file', 'state') } };
      },
      expect: /key "state\.dir": cannot create .*file\/state: .*is not a directory/,
    },
    { name: 'a local list that is missing', cfg: () => ({ lists: [{ name: 'c2', path: 'gone.txt' }] }), expect: /key "lists\[0\]\.path": list "c2": cannot read .*gone\.txt/ },
    { name: 'a local list that fails verification', cfg: () => ({ lists: [{ name: 'c2', path: 'c2.txt', sha256: 'a'.repeat(64) }] }), expect: /list "c2": cannot load .*c2\.txt: .*sha256/ },
    { name: 'an unknown key (the schema)', cfg: () => ({ cache: { maxEntires: 10 } }), expect: /key "cache\.maxEntires": unknown key/ },
  ];
  for (const b of bad) {
    it(`${b.name}: exit 1 with the key and why, no stack trace`, async () => {
      const { config } = setup(b.cfg);
      const r = await cli(['config', 'check', '--config', config]);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(b.expect);
      noStack(r.err);
    });
  }

  it('an empty block list is a warning, not an error', async () => {
    const { dir, config } = setup();
    writeFileSync(join(dir, 'c2.txt'), '# nothing\n');
    const r = await cli(['config', 'check', '--config', config]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('c2dns: warning: list "c2": empty block list: it blocks nothing');
  });

  it('ports are only tried with --ports (a running c2dns holds them)', async () => {
    const squatter = net.createServer();
    const port = await new Promise<number>((r) => squatter.listen(0, '127.0.0.1', () => r((squatter.address() as net.AddressInfo).port)));
    try {
      const { config } = setup(() => ({ admin: { listen: `127.0.0.1:${port}` } }));
      expect((await cli(['config', 'check', '--config', config])).code).toBe(0);
      const r = await cli(['config', 'check', '--config', config, '--ports']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`cannot listen: EADDRINUSE: 127\\.0\\.0\\.1:${port} \\(TCP\\).*key "admin\\.listen"`));
    } finally {
      squatter.close();
    }
  });

  it('--print: the effective configuration with every default, as YAML that loads back to the same, secrets redacted', async () => {
    const { config } = setup(() => ({ admin: { token: 'a-very-secret-token-0123456789' } }));
    const r = await cli(['config', 'check', '--config', config, '--print']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/OK/);
    const printed = YAML.parse(r.out) as Record<string, any>;
    expect(printed.admin.listen).toBe(ADMIN_DEFAULT_LISTEN);
    expect(printed.admin.token).toBe('<redacted>');
    expect(printed.cache.maxEntries).toBe(100_000);
    expect(printed.lists[0]).toMatchObject({ name: 'c2', kind: 'block', match: 'subtree', jitterSeconds: 60, retries: 3 });
    expect(r.out).not.toContain('a-very-secret-token');
    // Reloaded, it is the same configuration (paths were already absolute).
    const again = join(mkdtempSync(join(built.work, 'print-')), 'printed.yaml');
    writeFileSync(again, r.out.replace('<redacted>', 'a-very-secret-token-0123456789'));
    expect(loadConfig({ file: again })).toEqual(loadConfig({ file: config }));
  });

  it('--print with C2DNS_ variables: the environment applied over the file, each key it set marked with its variable; a bad value names the variable', async () => {
    const { config } = setup(() => ({ cache: { maxEntries: 10 } }));
    const env = { ...process.env, C2DNS_CACHE_MAX_ENTRIES: '5000', C2DNS_UPSTREAMS: '192.0.2.1,192.0.2.2', C2DNS_LOG_LEVEL: 'warn', C2DNS_LOG_LEVLE: 'x' };
    const r = await cli(['config', 'check', '--config', config, '--print'], env);
    expect(r.code, r.err).toBe(0);
    const printed = YAML.parse(r.out) as Record<string, any>;
    expect(printed.cache.maxEntries).toBe(5000);
    expect(printed.upstreams).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(r.out).toMatch(/^ {2}maxEntries: 5000 # from C2DNS_CACHE_MAX_ENTRIES$/m);
    expect(r.out).toMatch(/^ {2}level: warn # from C2DNS_LOG_LEVEL$/m);
    expect(r.out).toMatch(/^upstreams: # from C2DNS_UPSTREAMS\n  - 192\.0\.2\.1\n/m);
    expect(r.err).toContain('3 key(s) from the environment: ');
    expect(r.err).toContain('cache.maxEntries (C2DNS_CACHE_MAX_ENTRIES)');
    expect(r.err).toContain('c2dns: warning: environment variable C2DNS_LOG_LEVLE ignored: no configuration key has this name; did you mean C2DNS_LOG_LEVEL?');

    const bad = await cli(['config', 'check', '--config', config], { ...process.env, C2DNS_CACHE_MAX_ENTRIES: 'abc' });
    expect(bad.code).toBe(1);
    expect(bad.err.trim()).toBe('c2dns: config error in the environment: C2DNS_CACHE_MAX_ENTRIES=abc: expected a number');
  });

  it('serve takes the C2DNS_ variables too, and logs a look-alike one in its operational log', async () => {
    const { config } = setup(() => ({ admin: { enabled: false } }));
    const c = runCli(built.cliJs, ['serve', '--config', config], 15_000, { ...process.env, C2DNS_LISTEN: '127.0.0.1:0', C2DNS_UPSTREAMS: '127.0.0.1:9', C2DNS_LOG_LEVLE: 'debug' });
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !opLines(c.stderr()).some((l) => l.msg === 'c2dns serving')) await new Promise((r) => setTimeout(r, 100));
      const lines = opLines(c.stderr());
      expect(lines.find((l) => l.msg === 'c2dns serving')?.listen, c.stderr()).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: 'environment variable C2DNS_LOG_LEVLE ignored: no configuration key has this name; did you mean C2DNS_LOG_LEVEL?' }));
    } finally {
      c.child.kill('SIGTERM');
      await c.exited;
    }
  });

  it('without --config it checks the built-in defaults', async () => {
    const r = await cli(['config', 'check']);
    // The default state directory may or may not be writable here; either way it is a verdict, not a crash.
    expect([0, 1]).toContain(r.code);
    expect(r.out + r.err).toMatch(/built-in defaults/);
    noStack(r.err);
  });
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`c2dns ${version}\n`);
    }
  });

  const commands = ['serve', 'check', 'lists', 'convert', 'hunt', 'quarantine', 'block', 'unblock', 'sign', 'config'];
  it('every command has its own usage with its flags: `c2dns CMD --help` and `c2dns help CMD` print it, exit 0', async () => {
    const runs: { cmd: string; viaFlag: Awaited<ReturnType<typeof cli>>; viaHelp: Awaited<ReturnType<typeof cli>> }[] = [];
    for (const cmd of commands) {
      const [viaFlag, viaHelp] = await Promise.all([cli([cmd, '--help']), cli(['help', cmd])]);
      runs.push({ cmd, viaFlag, viaHelp });
    }
    for (const { cmd, viaFlag, viaHelp } of runs) {
      expect(viaFlag.code, cmd).toBe(0);
      expect(viaFlag.out, cmd).toMatch(new RegExp(`^usage: c2dns ${cmd}`));
      expect(viaFlag.out, cmd).toMatch(/examples?:/);
      expect(viaHelp.out, cmd).toBe(viaFlag.out);
    }
    expect(new Set(runs.map((r) => r.viaFlag.out)).size).toBe(commands.length); // not one global text
  }, 120_000);

  it('the flags the issue found undocumented are documented', async () => {
    expect((await cli(['help', 'quarantine'])).out).toMatch(/--admin URL[\s\S]*--token TOKEN/);
    expect((await cli(['help', 'hunt'])).out).toMatch(/--until[\s\S]*--dir DIR/);
    expect((await cli(['help', 'config'])).out).toMatch(/--print[\s\S]*--ports/);
  });

  it('a usage error shows that command’s usage and exits 2; an unknown command the overview', async () => {
    const r = await cli(['convert', 'x.txt']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^c2dns: convert takes FILE and --to domains\|hosts\|rpz\nusage: c2dns convert/);
    const u = await cli(['frobnicate']);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/unknown command "frobnicate"[\s\S]*c2dns config check/);
    expect((await cli(['help', 'frobnicate'])).code).toBe(2);
  });
});

describe('ordinary file errors: one line, exit 1', () => {
  it('convert of a missing file', async () => {
    const r = await cli(['convert', join(built.work, 'missing.txt'), '--to', 'domains']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`c2dns: cannot open ${join(built.work, 'missing.txt')}: no such file or directory\n`);
  });

  it('sign with a missing key, with a file that is not a key; keygen over an existing key', async () => {
    const dir = mkdtempSync(join(built.work, 'sign-'));
    writeFileSync(join(dir, 'feed.txt'), 'a.example\n');
    writeFileSync(join(dir, 'junk.key'), 'not a key\n');
    const missing = await cli(['sign', join(dir, 'feed.txt'), '--key', join(dir, 'nope.key')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`c2dns: cannot open ${join(dir, 'nope.key')}: no such file or directory\n`);
    const junk = await cli(['sign', join(dir, 'feed.txt'), '--key', join(dir, 'junk.key')]);
    expect(junk.code).toBe(1);
    expect(junk.err.trim().split('\n')).toHaveLength(1);
    expect(junk.err).toMatch(/^c2dns: the signing key is not a PEM private key/);
    const over = await cli(['sign', 'keygen', '--out', join(dir, 'junk.key')]);
    expect(over.code).toBe(1);
    expect(over.err).toBe(`c2dns: ${join(dir, 'junk.key')} already exists (not overwritten)\n`);
    expect(readFileSync(join(dir, 'junk.key'), 'utf8')).toBe('not a key\n');
  });
});
