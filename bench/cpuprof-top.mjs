#!/usr/bin/env node
// Where the CPU went in a V8 .cpuprofile (node --cpu-prof; bench/profile.sh --tool cpuprof):
// self and total shares per function, idle time left out, the top N by self share.
//
//   node bench/cpuprof-top.mjs FILE.cpuprofile [N=40] [--total] [--last=SECONDS]
// --total sorts by inclusive share; --last counts only the samples of the profile's last SECONDS
// (bench/profile.sh's measuring window, without start-up and warm-up).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (file === undefined) {
  process.stderr.write('usage: node bench/cpuprof-top.mjs FILE.cpuprofile [N] [--total]\n');
  process.exit(2);
}
const top = Number(args.find((a) => /^\d+$/.test(a)) ?? 40);
const byTotal = args.includes('--total');
const lastArg = args.find((a) => a.startsWith('--last='));
const last = lastArg === undefined ? Infinity : Number(lastArg.slice('--last='.length));
const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
const from = prof.endTime - last * 1e6;
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i];
  if (t >= from) hits.set(prof.samples[i], (hits.get(prof.samples[i]) ?? 0) + 1);
}
const key = (n) => {
  const f = n.callFrame;
  const url = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
};
let busy = 0;
const self = new Map();
const total = new Map();
for (const [id, h] of hits) {
  const n = nodes.get(id);
  if (n.callFrame.functionName === '(idle)') continue;
  busy += h;
  self.set(key(n), (self.get(key(n)) ?? 0) + h);
  const seen = new Set();
  for (let p = id; p !== undefined; p = parent.get(p)) {
    const k = key(nodes.get(p));
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + h);
  }
}
const rows = [...(byTotal ? total : self).keys()].sort((a, b) => ((byTotal ? total : self).get(b) ?? 0) - ((byTotal ? total : self).get(a) ?? 0));
console.log(`busy samples ${busy}  (self %  total %  function)`);
for (const k of rows.slice(0, top)) {
  const s = ((100 * (self.get(k) ?? 0)) / busy).toFixed(1).padStart(5);
  const t = ((100 * (total.get(k) ?? 0)) / busy).toFixed(1).padStart(5);
  console.log(`${s} ${t}  ${k}`);
}
// --callers=NAME: who calls functions whose name starts with NAME, with their samples (self+below)
const callersArg = args.find((a) => a.startsWith('--callers='));
if (callersArg !== undefined) {
  const want = callersArg.slice('--callers='.length);
  const by = new Map();
  for (const [id, h] of hits) {
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const n = nodes.get(p);
      if (n.callFrame.functionName.startsWith(want)) {
        const chain = [];
        for (let q = parent.get(p), i = 0; q !== undefined && i < 4; q = parent.get(q), i++) chain.push(key(nodes.get(q)));
        const k = chain.join(' < ');
        by.set(k, (by.get(k) ?? 0) + h);
        break;
      }
    }
  }
  console.log(`\ncallers of ${want}:`);
  for (const [k, h] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${((100 * h) / busy).toFixed(1).padStart(5)}  ${k}`);
}
