#!/usr/bin/env node
// The bench's DoH load (workload doh, bench/run.sh): h2load (nghttp2-client) asks the names of a
// dnsperf query file as RFC 8484 GET requests (?dns=BASE64URL, ID 0) over HTTP/2, and its result
// is printed in dnsperf's summary format, so report.mjs reads it like every other run. dnsperf's
// own DoH mode cannot be used: it handles one complete answer per read (a fatal "frame received
// when already having a dns msg" as soon as a server sends two answers in one TLS record), and
// its POST waits on Nagle for every request body.
//
//   node bench/doh-load.mjs --h2load PATH --url https://127.0.0.1:PORT/dns-query --queries FILE
//        --clients N --outstanding N --seconds S [--rate QPS] --work DIR
//
// Requests still in flight when the time is up are left out (dnsperf waits for its own instead).
// --outstanding is shared out as HTTP/2 streams per connection (at least 1); --rate (0: unlimited)
// as requests per second per connection, with one "> NOERROR name type seconds" line per answered
// request (dnsperf -v's form) for the latency percentiles.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    h2load: { type: 'string' },
    url: { type: 'string' },
    queries: { type: 'string' },
    clients: { type: 'string' },
    outstanding: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string', default: '0' },
    work: { type: 'string' },
  },
});
for (const k of ['h2load', 'url', 'queries', 'clients', 'outstanding', 'seconds', 'work']) {
  if (a[k] === undefined) {
    process.stderr.write(`doh-load.mjs: --${k} is required\n`);
    process.exit(2);
  }
}
const clients = Number(a.clients);
const streams = Math.max(1, Math.floor(Number(a.outstanding) / clients));
const rate = Number(a.rate);

const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, HTTPS: 65 };
/** A DNS query (ID 0, RD, no EDNS) for NAME TYPE. */
function query(name, type) {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const m = Buffer.alloc(12 + qname.length + 4);
  m.writeUInt16BE(0x0100, 2);
  m.writeUInt16BE(1, 4);
  qname.copy(m, 12);
  m.writeUInt16BE(TYPES[type.toUpperCase()] ?? Number(type), 12 + qname.length);
  m.writeUInt16BE(1, 12 + qname.length + 2);
  return m;
}

// One URI per query line, made once per query file and URL.
const uris = join(a.work, `doh-uris-${createHash('sha256').update(`${a.url} ${a.queries}`).digest('hex').slice(0, 16)}.txt`);
const lines = readFileSync(a.queries, 'utf8').split('\n').filter((l) => l.trim() !== '');
if (!existsSync(uris)) {
  writeFileSync(uris, `${lines.map((l) => {
    const [name, type = 'A'] = l.trim().split(/\s+/);
    return `${a.url}?dns=${query(name, type).toString('base64url')}`;
  }).join('\n')}\n`);
}
const names = lines.map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '));

const log = join(a.work, `h2load-${process.pid}.log`);
const args = ['-c', String(clients), '-m', String(streams), '-D', a.seconds, '-i', uris];
if (rate > 0) args.push(`--rps=${Math.max(1, Math.round(rate / clients))}`, `--log-file=${log}`);
let out;
try {
  out = execFileSync(a.h2load, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
} catch (err) {
  process.stdout.write(`${err.stdout ?? ''}${err.stderr ?? ''}\nh2load failed: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write(`[Status] h2load ${args.join(' ')}\n${out}\n`);

const num = (re) => Number(out.match(re)?.[1] ?? NaN);
// Requests still in flight when the duration ended are not counted (dnsperf waits for them instead).
const done = num(/requests: \d+ total, \d+ started, (\d+) done/);
const ok = num(/status codes: (\d+) 2xx/);
const secs = num(/finished in ([\d.]+)s/);
const meanUs = (() => {
  const m = out.match(/time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/);
  if (!m) return NaN;
  return Number(m[5]) * { us: 1, ms: 1000, s: 1e6 }[m[6]];
})();
if (rate > 0 && existsSync(log)) {
  // h2load --log-file: start time, HTTP status, duration in µs, one request per line.
  let i = 0;
  const perLine = [];
  for (const l of readFileSync(log, 'utf8').split('\n')) {
    const [, status, us] = l.split('\t');
    if (status === '200') perLine.push(`> NOERROR ${names[i++ % names.length]} ${(Number(us) / 1e6).toFixed(6)}`);
  }
  process.stdout.write(`${perLine.join('\n')}\n`);
}
// dnsperf's summary lines, as report.mjs parses them; an answer is a 2xx (DNS rcodes are not seen here).
process.stdout.write(
  [
    'Statistics:',
    `  Queries sent:         ${done}`,
    `  Queries completed:    ${ok}`,
    `  Queries lost:         ${done - ok}`,
    `  Run time (s):         ${secs}`,
    `  Queries per second:   ${(ok / secs).toFixed(6)}`,
    `  Average Latency (s):  ${(meanUs / 1e6).toFixed(6)}`,
    `  (h2load: ${done} done, ${ok} with HTTP 2xx)`,
    '',
  ].join('\n'),
);
