// The command line's one table: every command with its flags, operands and help. The parseArgs
// options of each command (optionsOf), its own usage (`c2dns CMD --help`, `c2dns help CMD`) and
// the shell completion (completion.ts) are all made from it, so a flag added here is parsed,
// documented and completed. The one-screen overview of all commands stays in cli.ts (USAGE).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_DEFAULT_LISTEN, ADMIN_TOKEN_ENV } from '../admin/config.js';
import { FEED_FORMATS } from '../config/schema.js';
import { packageRoot } from '../config/paths.js';

/** A command line the user got wrong: the message, the command's usage, exit code 2. */
export class UsageError extends Error {}

/** What a flag's value completes to: files, directories, the configuration's list or group names, or fixed words. */
export type Completes = 'file' | 'dir' | 'list' | 'group' | readonly string[];

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's placeholder in the usage ("FILE"). */
  readonly arg?: string;
  readonly complete?: Completes;
  readonly help: string;
}

export const FLAGS = {
  config: { type: 'string', short: 'c', arg: 'FILE', complete: 'file', help: 'YAML configuration (every key: config/c2dns.example.yaml); default: built-in defaults' },
  help: { type: 'boolean', short: 'h', help: 'this usage' },
  json: { type: 'boolean', help: 'the result as JSON' },
  listen: { type: 'string', short: 'l', multiple: true, arg: 'ADDR:PORT', help: 'answer on this address, UDP and TCP; repeatable; replaces "listen". IPv6: [::1]:53' },
  upstream: { type: 'string', short: 'u', multiple: true, arg: 'ADDR[:PORT]', help: 'forward to this resolver; repeatable; replaces "upstreams"' },
  group: { type: 'string', arg: 'G', complete: 'group', help: 'decide with policy group G\'s lists and action (config "groups"); default: "default"' },
  to: { type: 'string', arg: 'domains|hosts|rpz', complete: ['domains', 'hosts', 'rpz'], help: 'output format' },
  format: { type: 'string', arg: 'FORMAT', complete: FEED_FORMATS, help: `input format: ${FEED_FORMATS.join(', ')} (default auto)` },
  out: { type: 'string', arg: 'KEYFILE', complete: 'file', help: 'where keygen writes the private key' },
  key: { type: 'string', arg: 'KEYFILE', complete: 'file', help: 'the private key to sign with' },
  admin: { type: 'string', arg: 'URL', help: `the admin API of the running c2dns (default: http://admin.listen, ${ADMIN_DEFAULT_LISTEN})` },
  token: { type: 'string', arg: 'TOKEN', help: `bearer token for the admin API (default: ${ADMIN_TOKEN_ENV}, then admin.token)` },
  reason: { type: 'string', arg: 'TEXT', help: 'why (required; audited)' },
  expires: { type: 'string', arg: 'DURATION', help: 'remove it after this long, e.g. 90m, 12h, 7d (default: never)' },
  wait: { type: 'boolean', help: 'wait until every fleet instance acknowledged (exit 3 if not all did in time)' },
  since: { type: 'string', arg: 'AGE|ISO', help: 'from this time (default 30d); AGE in s, m, h, d or w' },
  until: { type: 'string', arg: 'AGE|ISO', help: 'up to this time (exclusive; default now)' },
  list: { type: 'string', multiple: true, arg: 'NAME', complete: 'list', help: 'the names of a configured list, as last loaded (repeatable)' },
  names: {
    type: 'string',
    multiple: true,
    arg: 'FILE',
    complete: 'file',
    help: 'one name per line, # comments, read as a plain list (as an ioc-text list when it is defanged: evil[.]com, hxxps://...); lines that give no name are reported (repeatable)',
  },
  name: { type: 'string', multiple: true, arg: 'NAME', help: 'one name; defanged and URLs accepted (repeatable)' },
  dir: { type: 'string', arg: 'DIR', complete: 'dir', help: 'history directory (default: history.dir, or <state.dir>/history)' },
  print: { type: 'boolean', help: 'print the effective configuration, defaults and environment variables included, as YAML (secrets redacted)' },
  ports: { type: 'boolean', help: 'also try to bind the listen and admin addresses (fails while c2dns runs)' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

export interface CommandSpec {
  /** One line for the overview and zsh's command menu. */
  readonly summary: string;
  /** Usage lines after "c2dns ". */
  readonly synopsis: readonly string[];
  /** What it does (indented, wrapped). */
  readonly about: string;
  /** Its flags, in usage order (--help is every command's). */
  readonly flags: readonly FlagName[];
  /** This command's own wording of a shared flag's help. */
  readonly flagHelp?: Partial<Record<FlagName, string>>;
  /** What its operands complete to: first-operand words, files, list names after a word. */
  readonly operands?: { readonly words?: readonly string[]; readonly files?: boolean; readonly listsAfter?: string };
  readonly examples: readonly string[];
}

const ADMIN = ['admin', 'token', 'config'] as const;

export const COMMANDS = {
  serve: {
    summary: 'answer DNS, blocking what the lists name',
    synopsis: ['serve [--config FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...'],
    about: `Answers DNS on the listen addresses, blocking what the lists name. Everything that can fail is
checked before anything binds (see \`c2dns config check\`). Signals: SIGHUP reads the
configuration file again with the same flags and applies it without dropping queries (an invalid
file keeps the running configuration and the log says why; keys such as state.dir or workers are
named as needing a restart; also POST /api/reload), then refreshes every list (and loads a newer
copy stored by \`c2dns lists update\`) and re-reads the TLS certificate; SIGUSR1 reopens the query log,
SIGINT/SIGTERM stop within 5 s. Exit 1: configuration or start-up error. Configuration keys can
also be set by C2DNS_ environment variables (README "Environment variables").`,
    flags: ['config', 'listen', 'upstream'],
    examples: ['c2dns serve', 'c2dns serve --config /etc/c2dns/c2dns.yaml', 'c2dns serve --listen 0.0.0.0:53 --listen [::]:53 --upstream 192.168.1.1'],
  },
  check: {
    summary: 'what c2dns would do with a name or IP, and why',
    synopsis: ['check NAME|IP [--config FILE] [--group G] [--json]'],
    about: `What c2dns would do with NAME, and why: the rule, list, line, tags and answer, or the guard that
refused it; for an IP, the IP rules acting on it. Reads the lists as they are on disk (local
files, last good copies, emergency blocks); writes nothing. Exit 0: blocked, 1: not blocked, 2: invalid.`,
    flags: ['config', 'group', 'json'],
    examples: ['c2dns check akamaicontainer.com', 'c2dns check cdn.msstorageazure.com --json', 'c2dns check ads.example --group kids'],
  },
  lists: {
    summary: 'every list, or update lists now',
    synopsis: ['lists [--config FILE] [--json]', 'lists update [NAME]... [--config FILE]'],
    about: `lists: every source with its format, entries, rejected lines, guarded and unsupported entries, last
success and last failure, and warnings (an empty block list). Writes nothing.
lists update: fetch, verify and store the named lists (all when none is named) in state.dir now;
a running server loads them on SIGHUP. Exit 1 when an update failed.`,
    flags: ['config', 'json'],
    flagHelp: { json: 'the table as JSON (lists only)' },
    operands: { words: ['update'], listsAfter: 'update' },
    examples: ['c2dns lists', 'c2dns lists update threatfox && kill -HUP "$(pidof c2dns)"'],
  },
  convert: {
    summary: 'write a feed out for other resolvers',
    synopsis: ['convert FILE --to domains|hosts|rpz [--format FORMAT] [--config FILE]'],
    about: `What c2dns understood from a feed, written out for other resolvers (after normalisation and the
guard). Entries the guard refused are reported on stderr.`,
    flags: ['to', 'format', 'config'],
    flagHelp: { config: `${FLAGS.config.help} (guard.protect applies)` },
    operands: { files: true },
    examples: ['c2dns convert iocs.csv --to rpz > c2.rpz', 'c2dns convert hosts.txt --format hosts --to domains'],
  },
  hunt: {
    summary: 'who asked for these names (query history)',
    synopsis: ['hunt [--since 30d|12h|ISO] [--until 1h|ISO] [--list NAME]... [--names FILE]... [--name NAME]... [--dir DIR] [--config FILE] [--json]'],
    about: `Searches the query history for the names and their subdomains; without --list/--names/--name,
every configured block list. Exit 0: hits found, 1: none, 2: usage error.`,
    flags: ['since', 'until', 'list', 'names', 'name', 'dir', 'config', 'json'],
    flagHelp: { json: 'one JSON document instead of the table' },
    examples: ['c2dns hunt --since 7d', 'c2dns hunt --name msstorageazure.com --json'],
  },
  quarantine: {
    summary: 'quarantined clients of the running server, or release one',
    synopsis: ['quarantine [list] [--admin URL] [--token TOKEN] [--config FILE]', 'quarantine release CLIENT [--admin URL] [--token TOKEN] [--config FILE]'],
    about: `The quarantined clients of the running c2dns, or release one (CLIENT: IP, MAC or client name).
Release needs the admin token.`,
    flags: ADMIN,
    operands: { words: ['list', 'release'] },
    examples: ['c2dns quarantine list', `${ADMIN_TOKEN_ENV}=... c2dns quarantine release 192.168.1.77`],
  },
  block: {
    summary: 'emergency block, live at once',
    synopsis: ['block NAME... --reason TEXT [--expires DURATION] [--wait] [--admin URL] [--token TOKEN] [--config FILE]'],
    about: `Emergency block on the running c2dns: live at once, kept across restarts, audited, tagged
"emergency" and "c2" (so it raises c2-hit alerts and can quarantine clients). Needs the admin token.`,
    flags: ['reason', 'expires', 'wait', ...ADMIN],
    examples: ['c2dns block evil-update.example --reason "vendor advisory 2026-12-03" --expires 7d'],
  },
  unblock: {
    summary: 'remove an emergency block',
    synopsis: ['unblock NAME [--wait] [--admin URL] [--token TOKEN] [--config FILE]'],
    about: 'Removes an emergency block from the running c2dns. Needs the admin token.',
    flags: ['wait', ...ADMIN],
    examples: ['c2dns unblock evil-update.example'],
  },
  fleet: {
    summary: "the fleet's instances, their policy and list versions",
    synopsis: ['fleet [--json] [--admin URL] [--token TOKEN] [--config FILE]'],
    about: `The instances of the fleet the running c2dns is in (config "cluster"), with their policy and
list versions, from its admin API.`,
    flags: ['json', ...ADMIN],
    examples: ['c2dns fleet', 'c2dns fleet --json'],
  },
  sign: {
    summary: 'sign a feed (for feed publishers)',
    synopsis: ['sign keygen --out KEYFILE', 'sign FILE --key KEYFILE'],
    about: `For feed publishers. keygen writes an Ed25519 private key (PEM, mode 600; never overwrites one)
and prints the public key for consumers' signature.publicKey. sign writes FILE.sig.`,
    flags: ['out', 'key'],
    operands: { words: ['keygen'], files: true },
    examples: ['c2dns sign keygen --out feed.key', 'c2dns sign c2.txt --key feed.key'],
  },
  config: {
    summary: 'validate the configuration without serving',
    synopsis: ['config check [--config FILE] [--print] [--ports]'],
    about: `Validates the configuration as \`c2dns serve\` would, without serving: every key (file and C2DNS_
environment variables), cron expressions, the query log destination, the state, history and
alert spool directories, every local list (loaded and compiled) and the admin token; creates
nothing. Exit 0: valid, 1: not.`,
    flags: ['config', 'print', 'ports'],
    operands: { words: ['check'] },
    examples: ['c2dns config check --config /etc/c2dns/c2dns.yaml', 'c2dns config check --print > effective.yaml'],
  },
  completion: {
    summary: 'shell completion script for bash or zsh',
    synopsis: ['completion bash|zsh'],
    about: `Prints a completion script: commands, subcommands, each command's flags, files for FILE
arguments, the configuration's list and group names for \`lists update\`, --list and --group.
(\`c2dns completion lists|groups [--config FILE]\` prints those names; the scripts call it.)`,
    flags: ['config'],
    operands: { words: ['bash', 'zsh'] },
    examples: ['source <(c2dns completion bash)            # in ~/.bashrc', 'c2dns completion zsh > "${fpath[1]}/_c2dns"   # then: compinit'],
  },
  help: {
    summary: "a command's own usage",
    synopsis: ['help [COMMAND]'],
    about: "The overview of all commands, or COMMAND's own usage (the same as c2dns COMMAND --help).",
    flags: [],
    examples: ['c2dns help lists'],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export const isCommand = (s: string): s is CommandName => Object.hasOwn(COMMANDS, s);

/** A command's flags with --help, in parseArgs's form. */
export function optionsOf<C extends CommandName>(cmd: C): Pick<typeof FLAGS, (typeof COMMANDS)[C]['flags'][number] | 'help'> {
  const names: readonly FlagName[] = [...COMMANDS[cmd].flags, 'help'];
  return Object.fromEntries(names.map((n) => [n, FLAGS[n]])) as Pick<typeof FLAGS, (typeof COMMANDS)[C]['flags'][number] | 'help'>;
}

/** "--config FILE, -c": how the usage names a flag. */
export function flagLabel(name: FlagName): string {
  const f: FlagSpec = FLAGS[name];
  return `--${name}${f.arg !== undefined ? ` ${f.arg}` : ''}${f.short !== undefined ? `, -${f.short}` : ''}`;
}

export function flagHelp(cmd: CommandName, name: FlagName): string {
  const own: Partial<Record<FlagName, string>> | undefined = (COMMANDS[cmd] as CommandSpec).flagHelp;
  return own?.[name] ?? FLAGS[name].help;
}

const WIDTH = 100;
const COLUMN = 26;

/** `text` wrapped at WIDTH, its first line after `lead` (padded to `indent`), the others indented to `indent`. */
function wrap(text: string, lead: string, indent: number): string {
  const lines: string[] = [];
  let line = lead.padEnd(indent);
  let fresh = true;
  for (const word of text.split(/\s+/)) {
    if (!fresh && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = ' '.repeat(indent);
      fresh = true;
    }
    line += fresh ? word : ` ${word}`;
    fresh = false;
  }
  lines.push(line);
  return lines.join('\n');
}

function render(cmd: CommandName): string {
  const c: CommandSpec = COMMANDS[cmd];
  const usage = c.synopsis.map((s, i) => `${i === 0 ? 'usage: ' : '       '}c2dns ${s}`).join('\n');
  const about = c.about
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  const flags = c.flags.map((f) => {
    const label = `  ${flagLabel(f)}`;
    return wrap(flagHelp(cmd, f), label.length >= COLUMN ? `${label} ` : label, COLUMN);
  });
  const examples = `example${c.examples.length > 1 ? 's' : ''}:\n${c.examples.map((e) => `  ${e}`).join('\n')}`;
  return `${[usage, about, ...flags, examples].join('\n')}\n`;
}

/** The usage text of `cmd`, or null for an unknown command. */
export function commandUsage(cmd: string): string | null {
  return isCommand(cmd) ? render(cmd) : null;
}

/** c2dns's version, from its package.json. */
export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}
