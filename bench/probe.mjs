#!/usr/bin/env node
// Small helpers for bench/run.sh that would otherwise need dig or ss (not on every Debian).
//
//   node bench/probe.mjs free PORT...                  exit 0 if every 127.0.0.1:PORT is free for UDP and TCP
//                                                      (names the busy ones on stderr)
//   node bench/probe.mjs a PORT NAME EXPECTED_IPV4...  exit 0 if NAME's A answer from 127.0.0.1:PORT
//                                                      is exactly the expected address(es)
//   node bench/probe.mjs wait PORT SECONDS PID|- NAME=IPV4...
//                                                      poll 127.0.0.1:PORT every 20 ms until every NAME
//                                                      answers exactly its IPV4 in the same pass; exit 0
//                                                      then, 1 after SECONDS or as soon as PID is gone.
//                                                      With "-": print "armed", read the PID as the first
//                                                      line of stdin, and time from that moment; on
//                                                      success print "ready SECONDS" (so the probe's own
//                                                      start-up is not counted in a ready time)
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const [cmd, ...rest] = process.argv.slice(2);

function port(s) {
  const p = Number(s);
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    process.stderr.write(`probe: bad port ${s}\n`);
    process.exit(2);
  }
  return p;
}

function udpFree(p) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function tcpFree(p) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** '' when NAME answers exactly the expected addresses, else what went wrong. */
async function check(resolver, name, expected) {
  try {
    const got = (await resolver.resolve4(name)).sort();
    return got.join(',') === [...expected].sort().join(',') ? '' : `${name} -> ${got.join(',')} (expected ${expected.join(',')})`;
  } catch (err) {
    return `${name}: ${err.code ?? err.message}`;
  }
}

function resolverFor(p, timeoutMs) {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  r.setServers([`127.0.0.1:${p}`]);
  return r;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function firstLine(stream) {
  return new Promise((resolve) => {
    let buf = '';
    const done = (v) => {
      stream.removeAllListeners('data');
      stream.destroy();
      resolve(v);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i >= 0) done(buf.slice(0, i).trim());
    });
    stream.on('end', () => done(buf.trim()));
  });
}

async function main() {
  if (cmd === 'free' && rest.length) {
    const busy = [];
    for (const s of rest) {
      const p = port(s);
      if (!((await udpFree(p)) && (await tcpFree(p)))) busy.push(p);
    }
    if (busy.length) process.stderr.write(`probe: in use on 127.0.0.1: ${busy.join(', ')}\n`);
    return busy.length ? 1 : 0;
  }
  if (cmd === 'a' && rest.length >= 3) {
    const [p, name, ...expected] = rest;
    const why = await check(resolverFor(port(p), 500), name, expected);
    if (why) process.stderr.write(`probe: ${why}\n`);
    return why ? 1 : 0;
  }
  if (cmd === 'wait' && rest.length >= 4) {
    const [p, secs, pidArg, ...pairs] = rest;
    const checks = pairs.map((s) => {
      const i = s.lastIndexOf('=');
      if (i <= 0) {
        process.stderr.write(`probe: expected NAME=IPV4, got ${s}\n`);
        process.exit(2);
      }
      return [s.slice(0, i), s.slice(i + 1).split(',')];
    });
    let pid = Number(pidArg);
    if (pidArg === '-') {
      process.stdout.write('armed\n');
      pid = Number(await firstLine(process.stdin));
      if (!Number.isInteger(pid) || pid < 1) {
        process.stderr.write('probe: expected a PID on stdin\n');
        return 2;
      }
    }
    const t0 = performance.now();
    const end = Date.now() + Number(secs) * 1000;
    const r = resolverFor(port(p), 300);
    let last = '';
    while (Date.now() < end) {
      if (pid > 0 && !alive(pid)) {
        process.stderr.write(`probe: process ${pid} exited before it was ready (last: ${last})\n`);
        return 1;
      }
      last = '';
      for (const [name, expected] of checks) {
        last = await check(r, name, expected);
        if (last) break;
      }
      if (!last) {
        if (pidArg === '-') process.stdout.write(`ready ${((performance.now() - t0) / 1000).toFixed(3)}\n`);
        return 0;
      }
      await sleep(20);
    }
    process.stderr.write(`probe: not ready after ${secs} s (last: ${last})\n`);
    return 1;
  }
  process.stderr.write('usage: probe.mjs free PORT... | a PORT NAME EXPECTED_IPV4... | wait PORT SECONDS PID NAME=IPV4...\n');
  return 2;
}

process.exitCode = await main();
