// Shell completion, made from the command table the parser and the usage come from: the bash
// script is sourced into a real bash and its function called as bash calls it (COMP_WORDS,
// COMP_CWORD), with list and group names asked of the real CLI. The zsh script is checked for
// structure everywhere, and where zsh is installed (not on every machine: those say so in the
// test name) it is also loaded into an interactive zsh (zpty) and completed for real.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { completionScript, runCompletion } from '../../src/commands/completion.js';
import { COMMANDS, commandUsage, FLAGS, optionsOf, type CommandName } from '../../src/commands/usage.js';
import { buildCli, runCli, type BuiltCli } from '../helpers/cli.js';

const commands = Object.keys(COMMANDS) as CommandName[];
/** Every spelling parseArgs takes for a command: the truth the completion must match. */
const parsed = (cmd: CommandName): string[] =>
  Object.entries(optionsOf(cmd))
    .flatMap(([name, o]) => [`--${name}`, ...('short' in o ? [`-${o.short}`] : [])])
    .sort();

let built: BuiltCli;
let dir: string;
let c2dns: string;
let config: string;
let bashScript: string;

beforeAll(async () => {
  built = buildCli();
  dir = mkdtempSync(join(built.work, 'completion-'));
  // COMP_WORDS[0], as the user typed it: the scripts ask this command for list names.
  c2dns = join(dir, 'c2dns');
  writeFileSync(c2dns, `#!/bin/sh\nexec "${process.execPath}" "${built.cliJs}" "$@"\n`);
  chmodSync(c2dns, 0o755);
  config = join(dir, 'c2dns.yaml');
  writeFileSync(join(dir, 'a.txt'), 'a.example\n');
  writeFileSync(
    config,
    YAML.stringify({
      state: { dir: join(dir, 'state') },
      lists: ['threatfox', 'third-party', 'urlhaus'].map((name) => ({ name, path: 'a.txt' })),
      groups: [{ name: 'kids', clients: ['192.168.1.50'] }],
    }),
  );
  mkdirSync(join(dir, 'files'));
  for (const f of ['feed one.txt', 'feed.key', 'other.yaml']) writeFileSync(join(dir, 'files', f), '');
  // The script as the real CLI prints it.
  const r = runCli(built.cliJs, ['completion', 'bash']);
  let out = '';
  r.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  expect((await r.exited).code, r.stderr()).toBe(0);
  bashScript = join(dir, 'c2dns.bash');
  writeFileSync(bashScript, out);
}, 120_000);
afterAll(() => built?.cleanup());

/** COMPREPLY after bash's completion function ran for `words` with the cursor on the last one. */
function complete(...words: string[]): string[] {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const line = [c2dns, ...words].map(q).join(' ');
  const script = `source ${q(bashScript)}; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; _c2dns; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['--norc', '-c', script], { cwd: join(dir, 'files'), encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '');
}

describe('bash', () => {
  it('the real CLI prints the script the table makes, and bash accepts it', () => {
    execFileSync('bash', ['-n', bashScript]);
    expect(completionScript('bash')).toMatch(/^complete -F _c2dns c2dns$/m);
  });

  it('commands at the first word', () => {
    expect(complete('')).toEqual([...commands, '--version', '--help']);
    expect(complete('li')).toEqual(['lists']);
    expect(complete('co')).toEqual(['convert', 'config', 'completion']);
  });

  it('each command offers exactly the flags its parser takes', () => {
    for (const cmd of commands) expect(complete(cmd, '-').sort(), cmd).toEqual(parsed(cmd));
    expect(complete('serve', '--u')).toEqual(['--upstream']);
  });

  it('subcommands, and list names from the configuration for `lists update`, --list and --group', () => {
    expect(complete('lists', '')).toEqual(['update']);
    expect(complete('lists', '--config', config, 'update', '')).toEqual(['threatfox', 'third-party', 'urlhaus']);
    expect(complete('lists', '-c', config, 'update', 'threatfox', 'th')).toEqual(['threatfox', 'third-party']);
    expect(complete('hunt', '--config', config, '--list', 'u')).toEqual(['urlhaus']);
    expect(complete('check', 'x.example', '--config', config, '--group', '')).toEqual(['default', 'kids']);
    expect(complete('config', '')).toEqual(['check']);
    expect(complete('quarantine', '')).toEqual(['list', 'release']);
    expect(complete('completion', '')).toEqual(['bash', 'zsh']);
    expect(complete('help', 'un')).toEqual(['unblock']);
  });

  it('files for --config and other FILE values, fixed words for --to and --format, nothing for free values', () => {
    // (compgen lists files in directory order: sorted here)
    expect(complete('serve', '--config', '').sort()).toEqual(['feed one.txt', 'feed.key', 'other.yaml']);
    expect(complete('sign', 'x', '--key', 'feed.')).toEqual(['feed.key']);
    expect(complete('convert', '').sort()).toEqual(['feed one.txt', 'feed.key', 'other.yaml']);
    const sign = complete('sign', '');
    expect(sign[0]).toBe('keygen');
    expect(sign.slice(1).sort()).toEqual(['feed one.txt', 'feed.key', 'other.yaml']);
    expect(complete('convert', 'x.txt', '--to', '')).toEqual(['domains', 'hosts', 'rpz']);
    expect(complete('convert', 'x.txt', '--format', 'st')).toEqual(['stix']);
    expect(complete('serve', '--listen', '')).toEqual([]);
    expect(complete('check', '')).toEqual([]); // a NAME: nothing to offer
  });
});

describe('the names the scripts ask for', () => {
  it('`c2dns completion lists|groups` prints them one per line (built-in defaults without --config)', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) } };
    expect(await runCompletion(['lists', '--config', config], io)).toBe(0);
    expect(out).toBe('threatfox\nthird-party\nurlhaus\n');
    out = '';
    await runCompletion(['groups'], io);
    expect(out).toBe('default\n');
    await expect(runCompletion(['fish'], io)).rejects.toThrow('completion takes bash, zsh, lists or groups, not "fish"');
  });
});

describe('zsh', () => {
  const script = completionScript('zsh');
  const zsh = (() => {
    try {
      return execFileSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  })();

  it(zsh === null ? 'zsh is not installed: the script is checked for structure only' : 'zsh parses the script', () => {
    if (zsh !== null) execFileSync(zsh, ['-n', '-c', script]);
    expect(script.startsWith('#compdef c2dns\n')).toBe(true);
    expect(script).toMatch(/compdef _c2dns c2dns/);
    // Every quote closed on its line (an apostrophe in a help text would open a string for ever).
    for (const line of script.split('\n').filter((l) => !l.startsWith('#'))) expect(line.replace(/'\\''/g, '').split("'").length % 2, line).toBe(1);
  });

  it('one branch per command, with exactly the flags its parser takes and what their values complete to', () => {
    for (const cmd of commands) {
      expect(script).toContain(`    '${cmd}:`);
      const branch = new RegExp(`\\n  \\(${cmd}\\)\\n([\\s\\S]*?)\\n    ;;`).exec(script)?.[1];
      expect(branch, cmd).toBeDefined();
      const flags = [...branch!.matchAll(/\{([-\w,]+)\}|'\*?(--?[\w-]+)\[/g)].flatMap((m) => (m[1] ?? m[2]!).split(','));
      expect([...new Set(flags)].sort(), cmd).toEqual(parsed(cmd));
      // Descriptions: brackets escaped inside [...].
      for (const d of branch!.matchAll(/\[((?:\\.|[^\]\\])*)\]/g)) expect(d[1]!, cmd).not.toMatch(/(^|[^\\])\[/);
    }
    const branchOf = (cmd: string): string => new RegExp(`\\n  \\(${cmd}\\)\\n([\\s\\S]*?)\\n    ;;`).exec(script)![1]!;
    expect(branchOf('serve')).toMatch(/\{--config,-c\}'\[[^\n]*\]:FILE:_files'/);
    expect(branchOf('hunt')).toContain(':NAME:{_c2dns_names lists}');
    expect(branchOf('lists')).toContain(`'1:subcommand:(update)'`);
    expect(branchOf('lists')).toContain(`'*:list:{_c2dns_names lists}'`);
    expect(branchOf('convert')).toContain(':domains|hosts|rpz:(domains hosts rpz)');
    expect(branchOf('hunt')).toContain(':DIR:_files -/');
  });
});

describe('zsh, completing for real', () => {
  const zsh = (() => {
    try {
      return execFileSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  })();
  const title = zsh === null ? 'skipped: zsh is not installed here (the structure checks above stand)' : 'commands, flags, fixed words and list names from the real CLI';
  // CI installs zsh (.ci/run): there a missing zsh fails the test instead of skipping it.
  it.skipIf(zsh === null && process.env.CI !== 'true')(title, () => {
    if (zsh === null) throw new Error('zsh is not installed (.ci/run installs it)');
    const script = join(dir, '_c2dns');
    writeFileSync(script, completionScript('zsh'));
    const driver = fileURLToPath(new URL('zsh-complete.zsh', import.meta.url));
    let n = 0;
    const zshComplete = (line: string): string[] => {
      const out = join(dir, `zsh-${n++}.out`);
      execFileSync(zsh, ['-f', driver, script, dir, out, line], { cwd: join(dir, 'files'), timeout: 60_000 });
      return [...new Set(readFileSync(out, 'utf8').split('\n').filter((l) => l !== ''))].sort();
    };
    expect(zshComplete('c2dns li')).toEqual(['lists']);
    expect(zshComplete('c2dns serve --')).toEqual(parsed('serve').filter((f) => f.startsWith('--')));
    expect(zshComplete('c2dns convert x.txt --to ')).toEqual(['domains', 'hosts', 'rpz']);
    expect(zshComplete(`c2dns lists --config ${config} update `)).toEqual(['third-party', 'threatfox', 'urlhaus']);
    expect(zshComplete(`c2dns check x.example --config ${config} --group `)).toEqual(['default', 'kids']);
    expect(zshComplete('c2dns block evil.example --')).toEqual(parsed('block').filter((f) => f.startsWith('--')));
    expect(zshComplete('c2dns quarantine ')).toEqual(['list', 'release']);
  }, 240_000);
});

describe('the table is what the usage documents', () => {
  it("every flag a command's parser takes is in its usage, with its value's placeholder", () => {
    for (const cmd of commands) {
      const usage = commandUsage(cmd)!;
      for (const name of Object.keys(optionsOf(cmd)).filter((n) => n !== 'help')) {
        const f = FLAGS[name as keyof typeof FLAGS];
        expect(usage, `${cmd} --${name}`).toContain(`--${name}${'arg' in f ? ` ${f.arg}` : ''}`);
      }
    }
  });
});
