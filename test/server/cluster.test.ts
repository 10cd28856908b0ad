// `workers: 2`: two processes answer on one port (UDP and TCP), a list update fetched by worker 1
// reaches worker 2, and SIGTERM to the primary stops everything with exit code 0.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { buildCli, opLines, runCli, type BuiltCli } from '../helpers/cli.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

let built: BuiltCli;
let up: Upstream;
beforeAll(async () => {
  built = buildCli();
  up = await startUpstream(zoneScript({}));
}, 60_000);
afterAll(async () => {
  await up?.close();
  built?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('workers: 2', () => {
  it('answers from both workers, propagates a list update, and stops cleanly', async () => {
    const dir = mkdtempSync(join(built.work, 'cluster-'));
    const list = join(dir, 'c2.txt');
    writeFileSync(list, 'first-c2.example\n');
    writeFileSync(join(dir, 'c2dns.yaml'), `workers: 2\nadmin: {listen: '127.0.0.1:0'}\nstate: {dir: ${join(dir, 'state')}}\nlists:\n  - {name: c2, path: ${list}}\nlog: {queries: none}\n`);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const cli = runCli(built.cliJs, ['serve', '--config', join(dir, 'c2dns.yaml'), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${up.port}`], 20_000);
    const end = Date.now() + 10_000;
    while (opLines(cli.stderr()).filter((l) => l.msg === 'c2dns serving').length < 2 && Date.now() < end) await sleep(50);
    const pids = new Set(opLines(cli.stderr()).filter((l) => l.msg === 'c2dns serving').map((l) => l.pid));
    expect(pids.size).toBe(2);

    for (let i = 0; i < 10; i++) {
      const { packet } = await ask(port, 'first-c2.example', T.A, { tcp: i % 2 === 0 });
      expect(packet.answers[0]!.address).toBe('0.0.0.0');
    }

    // The list grows; SIGHUP makes worker 1 refresh; worker 2 reloads the stored copy.
    writeFileSync(list, 'first-c2.example\nsecond-c2.example\n');
    cli.child.kill('SIGHUP');
    const until = Date.now() + 5000;
    let blocked = 0;
    while (Date.now() < until && blocked < 20) {
      const { packet } = await ask(port, 'second-c2.example', T.A);
      blocked = packet.answers[0]?.address === '0.0.0.0' ? blocked + 1 : 0;
    }
    expect(blocked).toBe(20); // 20 in a row: both workers answer with the new list

    cli.child.kill('SIGTERM');
    const { code } = await cli.exited;
    expect(code).toBe(0);
  }, 30_000);
});
