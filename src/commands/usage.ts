// Per-command help: `c2dns CMD --help` and `c2dns help CMD` print the command's own usage, every
// flag it takes, and examples. The one-screen overview of all commands stays in cli.ts (USAGE).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_DEFAULT_LISTEN, ADMIN_TOKEN_ENV } from '../admin/config.js';
import { FEED_FORMATS } from '../config/schema.js';
import { packageRoot } from '../config/paths.js';
import { HUNT_USAGE } from './hunt.js';

/** A command line the user got wrong: the message, the command's usage, exit code 2. */
export class UsageError extends Error {}

const CONFIG_FLAG = `  --config FILE, -c FILE  YAML configuration (every key: config/c2dns.example.yaml); default: built-in defaults`;

const ADMIN_FLAGS = `  --admin URL             the admin API of the running c2dns (default: http://admin.listen, ${ADMIN_DEFAULT_LISTEN})
  --token TOKEN           bearer token for the admin API (default: ${ADMIN_TOKEN_ENV}, then admin.token)
${CONFIG_FLAG}`;

const USAGES: Record<string, string> = {
  serve: `usage: c2dns serve [--config FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...
  Answers DNS on the listen addresses, blocking what the lists name. Everything that can fail is
  checked before anything binds (see \`c2dns config check\`). Signals: SIGHUP refreshes every list
  (and loads a newer copy stored by \`c2dns lists update\`), SIGUSR1 reopens the query log,
  SIGINT/SIGTERM stop within 5 s. Exit 1: configuration or start-up error.
${CONFIG_FLAG}
  --listen ADDR:PORT, -l  answer on this address, UDP and TCP; repeatable; replaces "listen". IPv6: [::1]:53
  --upstream ADDR[:PORT], -u  forward to this resolver; repeatable; replaces "upstreams"
examples:
  c2dns serve
  c2dns serve --config /etc/c2dns/c2dns.yaml
  c2dns serve --listen 0.0.0.0:53 --listen [::]:53 --upstream 192.168.1.1
`,
  check: `usage: c2dns check NAME|IP [--config FILE] [--group G] [--json]
  What c2dns would do with NAME, and why: the rule, list, line, tags and answer, or the guard that
  refused it; for an IP, the IP rules acting on it. Reads the lists as they are on disk (local
  files, last good copies, emergency blocks); writes nothing. Exit 0: blocked, 1: not blocked, 2: invalid.
${CONFIG_FLAG}
  --group G               decide with policy group G's lists and action (config "groups"); default: "default"
  --json                  the result as JSON
examples:
  c2dns check akamaicontainer.com
  c2dns check cdn.msstorageazure.com --json
  c2dns check ads.example --group kids
`,
  lists: `usage: c2dns lists [--config FILE] [--json]
       c2dns lists update [NAME]... [--config FILE]
  lists: every source with its format, entries, rejected lines, guarded and unsupported entries, last
  success and last failure, and warnings (an empty block list). Writes nothing.
  lists update: fetch, verify and store the named lists (all when none is named) in state.dir now;
  a running server loads them on SIGHUP. Exit 1 when an update failed.
${CONFIG_FLAG}
  --json                  the table as JSON (lists only)
examples:
  c2dns lists
  c2dns lists update threatfox && kill -HUP "$(pidof c2dns)"
`,
  convert: `usage: c2dns convert FILE --to domains|hosts|rpz [--format FORMAT] [--config FILE]
  What c2dns understood from a feed, written out for other resolvers (after normalisation and the
  guard). Entries the guard refused are reported on stderr.
  --to domains|hosts|rpz  output format
  --format FORMAT         input format: ${FEED_FORMATS.join(', ')} (default auto)
${CONFIG_FLAG} (guard.protect applies)
examples:
  c2dns convert iocs.csv --to rpz > c2.rpz
  c2dns convert hosts.txt --format hosts --to domains
`,
  hunt: `${HUNT_USAGE}examples:
  c2dns hunt --since 7d
  c2dns hunt --name msstorageazure.com --json
`,
  quarantine: `usage: c2dns quarantine [list] [--admin URL] [--token TOKEN] [--config FILE]
       c2dns quarantine release CLIENT [--admin URL] [--token TOKEN] [--config FILE]
  The quarantined clients of the running c2dns, or release one (CLIENT: IP, MAC or client name).
  Release needs the admin token.
${ADMIN_FLAGS}
examples:
  c2dns quarantine list
  C2DNS_ADMIN_TOKEN=... c2dns quarantine release 192.168.1.77
`,
  block: `usage: c2dns block NAME... --reason TEXT [--expires DURATION] [--admin URL] [--token TOKEN] [--config FILE]
  Emergency block on the running c2dns: live at once, kept across restarts, audited, tagged
  "emergency" and "c2" (so it raises c2-hit alerts and can quarantine clients). Needs the admin token.
  --reason TEXT           why (required; audited)
  --expires DURATION      remove it after this long, e.g. 90m, 12h, 7d (default: never)
${ADMIN_FLAGS}
examples:
  c2dns block evil-update.example --reason "vendor advisory 2026-12-03" --expires 7d
`,
  unblock: `usage: c2dns unblock NAME [--admin URL] [--token TOKEN] [--config FILE]
  Removes an emergency block from the running c2dns. Needs the admin token.
${ADMIN_FLAGS}
example:
  c2dns unblock evil-update.example
`,
  sign: `usage: c2dns sign keygen --out KEYFILE
       c2dns sign FILE --key KEYFILE
  For feed publishers. keygen writes an Ed25519 private key (PEM, mode 600; never overwrites one)
  and prints the public key for consumers' signature.publicKey. sign writes FILE.sig.
  --out KEYFILE           where keygen writes the private key
  --key KEYFILE           the private key to sign with
examples:
  c2dns sign keygen --out feed.key
  c2dns sign c2.txt --key feed.key
`,
  config: `usage: c2dns config check [--config FILE] [--print] [--ports]
  Validates the configuration as \`c2dns serve\` would, without serving: every key, cron
  expressions, the query log destination, the state, history and alert spool directories, every
  local list (loaded and compiled) and the admin token; creates nothing. Exit 0: valid, 1: not.
${CONFIG_FLAG}
  --print                 print the effective configuration, defaults included, as YAML (secrets redacted)
  --ports                 also try to bind the listen and admin addresses (fails while c2dns runs)
examples:
  c2dns config check --config /etc/c2dns/c2dns.yaml
  c2dns config check --print > effective.yaml
`,
  help: `usage: c2dns help [COMMAND]
  The overview of all commands, or COMMAND's own usage (the same as c2dns COMMAND --help).
`,
};

/** The usage text of `cmd`, or null for an unknown command. */
export function commandUsage(cmd: string): string | null {
  return USAGES[cmd] ?? null;
}

/** c2dns's version, from its package.json. */
export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}
