// The built c2dns reloads a big list through its compile worker (src/feeds/compile-worker.ts runs
// as a worker thread only as built JavaScript, and only for lists of 1 MiB or more): on SIGHUP a
// 1.4 MiB list replaced on disk blocks its new names, answers the names it dropped, keeps the
// others blocked, and answering never stops meanwhile.
import { mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { WORKER_MIN_BYTES } from '../../src/feeds/compile-worker.js';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli, type BuiltCli, type Cli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const NAMES = 60_000;
const name = (i: number): string => `c2-host-${i}.sighup.example`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let built: BuiltCli;
let up: Upstream;
let cli: Cli;
let port: number;
let listFile: string;

const answer = async (n: string): Promise<string | null> => ((await ask(port, n, T.A)).packet.answers[0] as { address?: string } | undefined)?.address ?? null;

beforeAll(async () => {
  built = buildCli();
  const dir = mkdtempSync(join(built.work, 'reload-worker-'));
  listFile = join(dir, 'big.txt');
  writeFileSync(listFile, Array.from({ length: NAMES }, (_, i) => name(i)).join('\n') + '\n');
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, YAML.stringify({ upstreams: ['192.0.2.53'], state: { dir: join(dir, 'state') }, admin: { enabled: false }, log: { queries: 'none' }, lists: [{ name: 'big', path: listFile, format: 'plain' }] }));
  up = await startUpstream(zoneScript({ [`${name(NAMES - 1)} 1`]: [{ name: name(NAMES - 1), type: T.A, address: '192.0.2.7', ttl: 300 }] }));
  cli = runCli(built.cliJs, ['serve', '--config', file, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`], 120_000);
  for (const end = Date.now() + 60_000; ; await sleep(50)) {
    const serving = opLines(cli.stderr()).find((l) => l.msg === 'c2dns serving');
    if (serving !== undefined) {
      port = Number((serving.listen as string[])[0]!.split(':').pop());
      break;
    }
    if (Date.now() > end) throw new Error(`c2dns did not start:\n${cli.stderr()}`);
  }
}, 180_000);

afterAll(async () => {
  cli?.child.kill('SIGTERM');
  await cli?.exited;
  await up?.close();
  built?.cleanup();
});

/** Threads of the serving process at nice 19 (field 19 of /proc/PID/task/T/stat): the update compile thread. */
const niced = (): string[] =>
  readdirSync(`/proc/${cli.child.pid}/task`).filter((t) => {
    try {
      const stat = readFileSync(`/proc/${cli.child.pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16] === '19';
    } catch {
      return false; // ended meanwhile
    }
  });

describe('SIGHUP with a list big enough for the compile worker', () => {
  it('blocks the new names, answers the dropped ones, keeps the rest blocked, and answers throughout', async () => {
    expect(await answer(name(NAMES - 1))).toBe('0.0.0.0');
    // The thread updates compile in is there before the first SIGHUP, and is the one that compiles it.
    const linux = process.platform === 'linux';
    let before: string[] = [];
    for (const end = Date.now() + 10_000; linux && before.length === 0 && Date.now() < end; await sleep(20)) before = niced(); // it renices itself as it boots
    if (linux) expect(before).toHaveLength(1);
    const fresh = Array.from({ length: 600 }, (_, i) => `new-${i}.sighup.example`);
    const text = Array.from({ length: NAMES - fresh.length }, (_, i) => name(i)).concat(fresh).join('\n') + '\n';
    expect(text.length).toBeGreaterThan(WORKER_MIN_BYTES);
    writeFileSync(`${listFile}.tmp`, text);
    renameSync(`${listFile}.tmp`, listFile);
    cli.child.kill('SIGHUP');

    // Ask every 20 ms until the update is live: every query answered, the kept names blocked.
    let asked = 0;
    for (const end = Date.now() + 60_000; (await answer(fresh[0]!)) !== '0.0.0.0'; await sleep(20)) {
      expect(Date.now()).toBeLessThan(end);
      expect(await answer(`www.${name(asked++ % (NAMES - fresh.length))}`)).toBe('0.0.0.0');
    }
    expect(await answer(`a.b.${fresh.at(-1)!}`)).toBe('0.0.0.0');
    expect(await answer(name(NAMES - 1))).toBe('192.0.2.7'); // dropped: answered from upstream again
    expect(await answer(name(0))).toBe('0.0.0.0');
    const updated = opLines(cli.stderr()).find((l) => l.msg === 'list updated');
    expect(updated).toMatchObject({ list: 'big', entries: NAMES });
    if (linux) expect(niced()).toEqual(before);
  }, 120_000);
});
