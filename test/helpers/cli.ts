// The real CLI as a child process. It is compiled into a private directory (not the shared
// dist/, which other test runs may be rebuilding): dist/ plus a package.json naming the package,
// and links to node_modules and the bundled blocklists, the layout the published package has.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface BuiltCli {
  cliJs: string;
  work: string;
  cleanup(): void;
}

export function buildCli(): BuiltCli {
  const work = mkdtempSync(join(tmpdir(), 'c2dns-cli-'));
  const out = join(work, 'pkg');
  let tscOutput = '';
  try {
    execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.json'), '--outDir', join(out, 'dist')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    tscOutput = String((err as { stdout?: string }).stdout ?? err); // type errors still emit JS
  }
  const cliJs = join(out, 'dist/src/cli.js');
  if (!existsSync(cliJs)) throw new Error(`tsc did not produce ${cliJs}:\n${tscOutput}`);
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: 'c2dns', version, type: 'module' }));
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'), 'dir');
  symlinkSync(join(REPO, 'blocklists'), join(out, 'blocklists'), 'dir');
  return { cliJs, work, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}

export interface Cli {
  child: ChildProcess;
  stderr(): string;
  /** Resolves when the process has exited (killed after `timeoutMs` if it has not). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export function runCli(cliJs: string, args: string[], timeoutMs = 8000, env: NodeJS.ProcessEnv = process.env): Cli {
  const child = spawn(process.execPath, [cliJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const started = Date.now();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, ms: Date.now() - started });
    });
  });
  return { child, stderr: () => err, exited };
}

/** Op log lines (JSON on stderr) parsed, skipping anything else. */
export function opLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
