#!/usr/bin/env node
// What policy groups cost in memory (issue 9: "memory for 10 groups over the same 1M lists stays
// within 10 % of one group"). Groups with the same list set share one compiled PolicyTables in the
// snapshot (policy/snapshot.ts buildGroupTables), so ten of them should cost what one does.
//
//   npm run build && node --expose-gc bench/groups-memory.mjs [--names 1000000]
//
// Two plain lists (90 % and 10 % of --names distinct synthetic names, deterministic, written to a
// temporary directory) are loaded by a FeedManager exactly as `c2dns serve` loads them (decode,
// compile, chunked table build, publish), each scenario in a fresh child process:
//   one        no groups: everyone is "default"
//   ten        nine groups selected by CIDR, MAC and name plus "default", all over the same lists
//              (some omit `lists`, some name both lists, in either order): one shared table
//   distinct   the same ten groups, but one uses only the smaller list: a second table (the cost
//              of a distinct list set, for comparison)
// Per scenario: heap = V8 heapUsed + arrayBuffers after gc, against a baseline taken in the same
// process before loading; rss = process RSS growth over the same baseline; the distinct tables
// objects in the snapshot; load wall time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { names: { type: 'string', default: '1000000' }, child: { type: 'string' }, dir: { type: 'string' } } });

if (values.child !== undefined) {
  await child(values.child, values.dir);
} else {
  await parent(Number(values.names));
}

async function parent(n) {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-groups-mem-'));
  try {
    const big = Math.round(n * 0.9);
    writeList(join(dir, 'feed.txt'), 0, big);
    writeList(join(dir, 'c2.txt'), big, n);
    const rows = [];
    for (const scenario of ['one', 'ten', 'distinct']) {
      const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', scenario, '--dir', dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
      rows.push(JSON.parse(out));
    }
    const one = rows[0];
    const mb = (b) => (b / 1048576).toFixed(1);
    console.log(`groups-memory: ${n.toLocaleString('en')} names in two lists (${big.toLocaleString('en')} + ${(n - big).toLocaleString('en')}), Node ${process.version}`);
    console.log('scenario   groups  tables  heap MB  vs one   rss MB  vs one   load s');
    for (const r of rows) {
      const dh = ((r.heap / one.heap - 1) * 100).toFixed(1);
      const dr = ((r.rss / one.rss - 1) * 100).toFixed(1);
      console.log(`${r.scenario.padEnd(10)} ${String(r.groups).padStart(6)}  ${String(r.tables).padStart(6)}  ${mb(r.heap).padStart(7)}  ${(dh >= 0 ? '+' : '') + dh}%`.padEnd(50) + `${mb(r.rss).padStart(7)}  ${(dr >= 0 ? '+' : '') + dr}%`.padEnd(17) + `${(r.loadMs / 1000).toFixed(1).padStart(6)}`);
    }
    const ten = rows[1];
    const within = ten.heap <= one.heap * 1.1;
    console.log(`ten groups over the same lists: heap ${within ? 'within' : 'NOT within'} 10 % of one group (${((ten.heap / one.heap - 1) * 100).toFixed(1)} %)`);
    if (!within) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Names [from, to) of a deterministic synthetic set: 2–3 labels, ~20 TLDs. */
function writeList(file, from, to) {
  const tlds = ['com', 'net', 'org', 'info', 'io', 'xyz', 'top', 'ru', 'cn', 'de', 'co.uk', 'com.br', 'biz', 'online', 'site', 'club', 'shop', 'app', 'dev', 'me'];
  const lines = [];
  let x = 0x9e3779b9;
  for (let i = from; i < to; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) >>> 0;
    const label = `${(x % 46656).toString(36)}${i.toString(36)}`;
    const name = `${label}.${tlds[x % tlds.length]}`;
    lines.push(i % 5 === 0 ? `cdn${x % 97}.${name}` : name);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

async function child(scenario, dir) {
  const { loadConfig } = await import('../dist/src/config/load.js');
  const { FeedManager } = await import('../dist/src/feeds/manager.js');
  const { createOpLog } = await import('../dist/src/observe/oplog.js');
  const ten = [
    { name: 'servers', clients: ['10.0.0.0/24'] },
    { name: 'printers', clients: ['printer'] },
    { name: 'laptops', clients: ['aa:bb:cc:dd:ee:01'], action: 'nxdomain' },
    { name: 'kids', clients: ['10.1.0.0/16'], lists: ['feed', 'c2'], action: 'refused' },
    { name: 'guests', clients: ['10.2.0.0/16'], lists: ['c2', 'feed'] },
    { name: 'iot', clients: ['10.3.0.0/16'], quarantine: false },
    { name: 'lab', clients: ['10.4.0.0/16'] },
    { name: 'office', clients: ['10.5.0.0/16'] },
    { name: 'voip', clients: ['10.6.0.0/16'] },
    { name: 'default', lists: ['feed', 'c2'] },
  ];
  const groups = scenario === 'one' ? [] : scenario === 'ten' ? ten : ten.map((g) => (g.name === 'lab' ? { ...g, lists: ['c2'] } : g));
  const cfgFile = join(dir, `${scenario}.yaml`);
  writeFileSync(
    cfgFile,
    JSON.stringify({
      state: { dir: join(dir, `state-${scenario}`) },
      lists: [
        { name: 'feed', path: join(dir, 'feed.txt'), format: 'plain', tags: ['c2'] },
        { name: 'c2', path: join(dir, 'c2.txt'), format: 'plain', tags: ['c2'] },
      ],
      clients: { names: { '192.168.1.20': 'printer' } },
      groups,
    }),
  );
  const cfg = loadConfig({ file: cfgFile });
  const measure = () => {
    for (let i = 0; i < 3; i++) globalThis.gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
  };
  const feeds = new FeedManager(cfg, createOpLog('silent'));
  feeds.persist = false;
  const base = measure();
  const start = performance.now();
  await feeds.loadInitial({ network: false });
  const loadMs = performance.now() - start;
  const after = measure();
  const snap = feeds.policy.current;
  const tables = new Set(snap.groups.values()).size;
  // Keep everything alive until after the measurement.
  if (snap.tables.names.match('example.invalid') === undefined) console.error('unreachable');
  process.stdout.write(JSON.stringify({ scenario, groups: snap.groups.size, tables, heap: after.heap - base.heap, rss: after.rss - base.rss, loadMs }));
}
