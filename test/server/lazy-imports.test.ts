// What `c2dns serve` loads at start: the modules of the other commands and the DoH server are
// imported only when used (each module costs the start its resolve, read and compile), and the
// commands loaded on demand still run. The real CLI as a child process, with a module-load hook
// that writes down every URL Node loads.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, opLines, runCli, type BuiltCli } from '../helpers/cli.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let built: BuiltCli;
let up: Upstream;
let hook: string;

beforeAll(async () => {
  built = buildCli();
  up = await startUpstream(() => ({ answers: [] }));
  hook = join(built.work, 'record-loads.mjs');
  writeFileSync(join(built.work, 'loads-hook.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(process.env.C2DNS_TEST_LOADS, url + '\\n');\n  return next(url, context);\n}\n`);
  writeFileSync(hook, `import { register } from 'node:module';\nregister(new URL('./loads-hook.mjs', import.meta.url));\n`);
}, 60_000);

afterAll(async () => {
  await up?.close();
  built?.cleanup();
});

/** Runs the CLI with the hook; the modules it loaded, as paths under dist/src. */
function withHook(dir: string): { env: NodeJS.ProcessEnv; loaded: () => string[] } {
  const file = join(dir, 'loads.txt');
  writeFileSync(file, '');
  return {
    env: { ...process.env, NODE_OPTIONS: `--import=${hook}`, C2DNS_TEST_LOADS: file },
    loaded: () => readFileSync(file, 'utf8').split('\n').filter((u) => u.includes('/dist/src/')).map((u) => u.replace(/.*\/dist\/src\//, '')),
  };
}

describe('serve imports only what it runs', () => {
  it('loads no other command and no DoH server when DoH is not configured', async () => {
    const dir = mkdtempSync(join(built.work, 'serve-'));
    const config = join(dir, 'c2dns.yaml');
    writeFileSync(config, `admin: {enabled: false}\nstate: {dir: ${join(dir, 'state')}}\nlists: []\nlog:\n  queries: none\n`);
    const h = withHook(dir);
    const cli = runCli(built.cliJs, ['serve', '--config', config, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`], 15_000, h.env);
    const end = Date.now() + 12_000;
    while (!opLines(cli.stderr()).some((l) => l.msg === 'c2dns serving')) {
      if (cli.child.exitCode !== null || Date.now() > end) throw new Error(`c2dns did not start:\n${cli.stderr()}`);
      await sleep(20);
    }
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    const loaded = h.loaded();
    expect(loaded).toContain('server/app.js'); // the hook saw the server's modules
    expect(loaded).toContain('commands/check.js'); // the admin API's explain uses it
    for (const lazy of ['commands/convert.js', 'commands/lists.js', 'commands/sign.js', 'commands/hunt.js', 'commands/fleet.js', 'commands/config.js', 'commands/completion.js', 'server/doh.js']) {
      expect(loaded, lazy).not.toContain(lazy);
    }
  }, 30_000);

  it('a command imported on demand runs as before (convert)', async () => {
    const dir = mkdtempSync(join(built.work, 'convert-'));
    const list = join(dir, 'list.txt');
    writeFileSync(list, 'evil.example\n0.0.0.0 bad.example\n');
    const h = withHook(dir);
    const cli = runCli(built.cliJs, ['convert', list, '--to', 'domains', '--format', 'hosts'], 15_000, h.env);
    let out = '';
    cli.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    expect((await cli.exited).code).toBe(0);
    expect(out).toContain('bad.example');
    expect(h.loaded()).toContain('commands/convert.js');
  }, 30_000);
});
