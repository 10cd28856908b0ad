#!/usr/bin/env node
// The long fuzz run (issue 10): `npm run fuzz -- --count 1000000 [--tcp N] [--seed S]` runs
// test/server/fuzz.test.ts with COUNT hostile UDP messages (default 1,000,000) and N hostile TCP
// messages (default COUNT / 10), through vitest like CI does, with a timeout that grows with the
// count. The test prints one line of figures (what the README quotes).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    tcp: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run fuzz -- [--count UDP_MESSAGES] [--tcp TCP_MESSAGES] [--seed N]');
  process.exit(0);
}
const whole = (name, s) => {
  if (!/^\d+$/.test(s)) {
    console.error(`fuzz: --${name} expects a whole number, got ${JSON.stringify(s)}`);
    process.exit(2);
  }
  return Number(s);
};
const udp = whole('count', values.count);
const tcp = values.tcp === undefined ? Math.ceil(udp / 10) : whole('tcp', values.tcp);
const env = {
  ...process.env,
  C2DNS_FUZZ_UDP: String(udp),
  C2DNS_FUZZ_TCP: String(tcp),
  // 1 ms per message is ample here (about 0.06 ms is spent per message on a loaded 2-core machine).
  C2DNS_FUZZ_TIMEOUT_MS: String(Math.max(120_000, udp + tcp * 2)),
  ...(values.seed !== undefined ? { C2DNS_FUZZ_SEED: String(whole('seed', values.seed)) } : {}),
};
const r = spawnSync('npx', ['vitest', 'run', 'test/server/fuzz.test.ts'], { env, stdio: 'inherit' });
process.exit(r.status ?? 1);
