#!/usr/bin/env node
// What a cached answer really costs in memory, against what cache.maxBytes counts for it
// (issue 10 item 15: 100,000 entries used to cost ~3 KB each of RSS).
//
//   npm run build && node --expose-gc bench/cache-memory.mjs [--entries 100000] [--answers 1]
//
// Fills a CacheStage (with the response stage above it, as in the server) with N distinct
// one-question answers of --answers A records each, through a synchronous stub upstream, and
// reports per entry: the bytes the cache counts (entrySize: wire + TTL offsets + key + the fixed
// ENTRY_OVERHEAD + RECORD_OVERHEAD per record), the answer bytes alone, and what stayed
// allocated after gc (V8 heap plus ArrayBuffer memory) against a baseline taken before. RSS is shown but not compared: it
// includes whatever the allocator keeps for later.
import { parseArgs } from 'node:util';
import { CacheStage, ENTRY_OVERHEAD, RECORD_OVERHEAD } from '../dist/src/resolve/cache.js';
import { ResponseStage } from '../dist/src/resolve/response.js';
import { BlockAnswers } from '../dist/src/resolve/block-answer.js';
import { PolicyHolder } from '../dist/src/policy/snapshot.js';
import { parseQuery } from '../dist/src/dns/query.js';
import { replay, storeResponse } from '../dist/src/dns/relay.js';
import { peerIdentity } from '../dist/src/resolve/types.js';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, answers: { type: 'string', default: '1' } } });
const N = Number(values.entries);
const A = Number(values.answers);
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function queryFor(name, id) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const msg = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return { msg, pq: parseQuery(msg), clientAddress: '127.0.0.1', clientPort: 1, transport: 'udp', receivedAt: 0, decision: null, identity: peerIdentity('127.0.0.1'), forwardOptions: null };
}

/** The upstream's answer: A records owned by the question's name (compression pointer). */
function answerWire(q, i) {
  const rrs = [];
  for (let k = 0; k < A; k++) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(3600, 6);
    rr.writeUInt16BE(4, 10);
    rr.writeUInt32BE((0xc0000200 + i * 7 + k) >>> 0, 12);
    rrs.push(rr);
  }
  const out = Buffer.concat([q.msg.subarray(0, q.pq.qEnd), ...rrs]);
  out.writeUInt16BE(0x8180, 2);
  out.writeUInt16BE(A, 6);
  return out;
}

const upstream = {
  resolve(q) {
    const s = storeResponse(answerWire(q, q.pq.id), q.pq.qEnd, performance.now());
    return { action: 'allowed', reply: replay(s, q.msg, q.pq, s.storedAt), stored: s, upstream: 'bench' };
  },
};
const cache = new CacheStage({ maxEntries: 10_000_000, minTtl: 0, maxTtl: 86_400, negativeMaxTtl: 3600, maxBytes: 2 ** 40 }, upstream);
const policy = new PolicyHolder();
const top = new ResponseStage(policy, new BlockAnswers({ defaultAction: 'null', sinkholeIpv4: null, sinkholeIpv6: null, ttl: 60 }), cache);

gc();
gc();
const m0 = process.memoryUsage();
for (let i = 0; i < N; i++) top.resolve(queryFor(`host-${i}.zone-${i % 97}.example`, i & 0xffff));
// Held until measured: the response stage's memo per stored answer (ResponseStage.facts and
// verdicts, WeakMaps keyed by the answer) lives as long as the cache entry does, in the server too.
globalThis.measured = { cache, top, policy };
gc();
gc();
const m1 = process.memoryUsage();
let wire = 0;
for (const [, , w] of cache.sizes()) wire += w;
const kept = m1.heapUsed - m0.heapUsed + (m1.arrayBuffers - m0.arrayBuffers);
const per = (n) => (n / N).toFixed(0).padStart(6);
console.log(`entries ${cache.size} (${A} A record${A === 1 ? '' : 's'} each), ENTRY_OVERHEAD ${ENTRY_OVERHEAD}, RECORD_OVERHEAD ${RECORD_OVERHEAD}`);
console.log(`per entry, bytes: counted ${per(cache.bytes)}  answer ${per(wire)}  heap+arrayBuffers kept ${per(kept)}  rss ${per(m1.rss - m0.rss)}`);
console.log(`counted / kept: ${(cache.bytes / kept).toFixed(2)}`);
