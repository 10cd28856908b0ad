#!/usr/bin/env node
// Small helpers for bench/run.sh that would otherwise need dig or ss (not on every Debian).
//
//   node bench/probe.mjs free PORT                      exit 0 if 127.0.0.1:PORT is free for UDP and TCP
//   node bench/probe.mjs a PORT NAME EXPECTED_IPV4...   exit 0 if NAME's A answer from 127.0.0.1:PORT
//                                                       is exactly the expected address(es)
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';

const [cmd, portArg, name, ...expected] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`probe: bad port ${portArg}\n`);
  process.exit(2);
}

function udpFree() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function tcpFree() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function main() {
  if (cmd === 'free') return (await udpFree()) && (await tcpFree()) ? 0 : 1;
  if (cmd === 'a' && name) {
    const r = new Resolver({ timeout: 500, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    try {
      const got = (await r.resolve4(name)).sort();
      const ok = got.join(',') === [...expected].sort().join(',');
      if (!ok) process.stderr.write(`probe: ${name} -> ${got.join(',')} (expected ${expected.join(',')})\n`);
      return ok ? 0 : 1;
    } catch (err) {
      process.stderr.write(`probe: ${name}: ${err.code ?? err.message}\n`);
      return 1;
    }
  }
  process.stderr.write('usage: probe.mjs free PORT | probe.mjs a PORT NAME EXPECTED_IPV4...\n');
  return 2;
}

process.exitCode = await main();
