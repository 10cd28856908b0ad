#!/usr/bin/env node
// What a cached answer really costs in memory, against what cache.maxBytes counts for it
// (issue 10 item 15: 100,000 entries used to cost ~3 KB each of RSS).
//
//   npm run build && node --expose-gc bench/cache-memory.mjs [--entries 100000] [--answers 1] [--chain 0] [--objects]
//
// Fills a CacheStage (with the response stage above it, as in the server) with N distinct
// one-question answers of --answers A records each (after --chain CNAME records: the question's
// name -> c1.<name> -> c2.<name> ..., the A records owned by the last), through a synchronous stub
// upstream, and reports per entry: the bytes the cache counts (entrySize: wire + key + the fixed
// ENTRY_OVERHEAD), the answer bytes alone, and what stayed
// allocated after gc (V8 heap plus ArrayBuffer memory) against a baseline taken before. RSS is shown but not compared: it
// includes whatever the allocator keeps for later.
// --objects: also the heap objects per entry (what every Mark-Compact visits), from a heap snapshot
// before and after the fill, in total and by class (snapshot node type and name). A snapshot of
// 100,000 entries is large: --entries 20000 is plenty for these counts.
import { parseArgs } from 'node:util';
import { getHeapSnapshot } from 'node:v8';
import { CacheStage, ENTRY_OVERHEAD } from '../dist/src/resolve/cache.js';
import { ResponseStage } from '../dist/src/resolve/response.js';
import { BlockAnswers } from '../dist/src/resolve/block-answer.js';
import { PolicyHolder } from '../dist/src/policy/snapshot.js';
import { parseQuery } from '../dist/src/dns/query.js';
import { replay, storeResponse } from '../dist/src/dns/relay.js';
import { peerIdentity } from '../dist/src/resolve/types.js';

const { values } = parseArgs({
  options: { entries: { type: 'string', default: '100000' }, answers: { type: 'string', default: '1' }, chain: { type: 'string', default: '0' }, objects: { type: 'boolean', default: false } },
});
const N = Number(values.entries);
const A = Number(values.answers);
const CHAIN = Number(values.chain);
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function queryFor(name, id) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const msg = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return { msg, pq: parseQuery(msg), clientAddress: '127.0.0.1', clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity('127.0.0.1'), forwardOptions: null };
}

/**
 * The upstream's answer: CHAIN CNAME records (each target a label "cN" before the question's name,
 * compressed as a pointer to it; each next owner a pointer to the previous target), then A records
 * owned by the last name (compression pointers).
 */
function answerWire(q, i) {
  const rrs = [];
  let owner = 0xc00c;
  let at = q.pq.qEnd;
  for (let k = 1; k <= CHAIN; k++) {
    const label = Buffer.from(`c${k}`, 'latin1');
    const rr = Buffer.alloc(12 + 1 + label.length + 2);
    rr.writeUInt16BE(owner, 0);
    rr.writeUInt16BE(5, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(3600, 6);
    rr.writeUInt16BE(1 + label.length + 2, 10);
    rr[12] = label.length;
    label.copy(rr, 13);
    rr.writeUInt16BE(0xc00c, 13 + label.length);
    owner = 0xc000 | (at + 12);
    at += rr.length;
    rrs.push(rr);
  }
  for (let k = 0; k < A; k++) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(owner, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(3600, 6);
    rr.writeUInt16BE(4, 10);
    rr.writeUInt32BE((0xc0000200 + i * 7 + k) >>> 0, 12);
    rrs.push(rr);
  }
  const out = Buffer.concat([q.msg.subarray(0, q.pq.qEnd), ...rrs]);
  out.writeUInt16BE(0x8180, 2);
  out.writeUInt16BE(CHAIN + A, 6);
  return out;
}

const upstream = {
  resolve(q) {
    // Whole milliseconds, as the forward stage stores them (a fractional one would make V8 box
    // every answer's storedAt in a HeapNumber of its own).
    const s = storeResponse(answerWire(q, q.pq.id), q.pq.qEnd, Math.floor(performance.now()));
    return { action: 'allowed', reply: replay(s, q.msg, q.pq, s.storedAt), stored: s, upstream: 'bench' };
  },
};
const cache = new CacheStage({ maxEntries: 10_000_000, minTtl: 0, maxTtl: 86_400, negativeMaxTtl: 3600, maxBytes: 2 ** 40 }, upstream);
const policy = new PolicyHolder();
const top = new ResponseStage(policy, new BlockAnswers({ defaultAction: 'null', sinkholeIpv4: null, sinkholeIpv6: null, ttl: 60 }), cache);

/** Heap snapshot node counts by class ("type name"; strings by type alone) and in total. */
async function heapObjects() {
  let text = '';
  for await (const chunk of getHeapSnapshot()) text += chunk;
  const snap = JSON.parse(text);
  text = '';
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const T = fields.indexOf('type');
  const NAME = fields.indexOf('name');
  const byClass = new Map();
  const nodes = snap.nodes;
  let total = 0;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + T]];
    if (type === 'synthetic') continue;
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' ? '' : snap.strings[nodes[i + NAME]];
    const cls = `${type} ${name}`.trim().slice(0, 60);
    byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
    total++;
  }
  return { total, byClass };
}

gc();
gc();
// Twice: what taking the first snapshot leaves behind (strings of its own) is in the baseline.
if (values.objects) await heapObjects();
const o0 = values.objects ? await heapObjects() : null;
gc();
gc();
const m0 = process.memoryUsage();
for (let i = 0; i < N; i++) top.resolve(queryFor(`host-${i}.zone-${i % 97}.example`, i & 0xffff));
// Held until measured: whatever the response stage keeps per stored answer lives as long as the
// cache entry does, in the server too.
globalThis.measured = { cache, top, policy };
gc();
gc();
const m1 = process.memoryUsage();
let wire = 0;
for (const [, , w] of cache.sizes()) wire += w;
const kept = m1.heapUsed - m0.heapUsed + (m1.arrayBuffers - m0.arrayBuffers);
const per = (n) => (n / N).toFixed(0).padStart(6);
console.log(`entries ${cache.size} (${CHAIN > 0 ? `${CHAIN} CNAME + ` : ''}${A} A record${A === 1 ? '' : 's'} each), ENTRY_OVERHEAD ${ENTRY_OVERHEAD}`);
console.log(`per entry, bytes: counted ${per(cache.bytes)}  answer ${per(wire)}  heap+arrayBuffers kept ${per(kept)}  rss ${per(m1.rss - m0.rss)}`);
console.log(`counted / kept: ${(cache.bytes / kept).toFixed(2)}`);
if (o0 !== null) {
  gc();
  const o1 = await heapObjects();
  console.log(`heap objects per entry: ${((o1.total - o0.total) / N).toFixed(2)}`);
  const rows = [...o1.byClass].map(([cls, n]) => [cls, (n - (o0.byClass.get(cls) ?? 0)) / N]).filter(([, d]) => Math.abs(d) >= 0.05);
  rows.sort((a, b) => b[1] - a[1]);
  for (const [cls, d] of rows) console.log(`  ${d.toFixed(2).padStart(6)}  ${cls}`);
}
