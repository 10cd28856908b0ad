// `c2dns completion bash|zsh`: a shell completion script made from the command table in
// usage.ts (commands, their subcommands and flags, what each flag's value is), so it never lists
// a flag the parser does not take. List and group names come from the configuration at the moment
// of completing: the scripts run `c2dns completion lists|groups [--config FILE]` (with the
// --config already on the command line), which prints them one per line.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { COMMANDS, FLAGS, flagHelp, optionsOf, UsageError, type CommandName, type CommandSpec, type FlagName, type FlagSpec } from './usage.js';

export interface CompletionIo {
  stdout: { write(s: string): unknown };
}

const SHELLS = ['bash', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

const commandNames = Object.keys(COMMANDS) as CommandName[];
const spec = (c: CommandName): CommandSpec => COMMANDS[c];
type Operands = NonNullable<CommandSpec['operands']>;
const flagSpec = (f: FlagName): FlagSpec => FLAGS[f];
/** A command's flags with --help, as in optionsOf. */
const flagsOf = (c: CommandName): FlagName[] => [...spec(c).flags, 'help'];
const spellings = (f: FlagName): string[] => [`--${f}`, ...(flagSpec(f).short !== undefined ? [`-${flagSpec(f).short!}`] : [])];

export async function runCompletion(argv: string[], io: CompletionIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: optionsOf('completion'), allowPositionals: true, strict: true });
  const [what, ...extra] = positionals;
  if (extra.length > 0 || what === undefined) throw new UsageError('completion takes bash, zsh, lists or groups');
  if (what === 'bash' || what === 'zsh') {
    io.stdout.write(completionScript(what));
    return 0;
  }
  if (what !== 'lists' && what !== 'groups') throw new UsageError(`completion takes bash, zsh, lists or groups, not "${what}"`);
  // Completing must stay quiet: a look-alike C2DNS_ variable is reported by the command itself.
  const cfg = loadConfig({ file: values.config, warn: () => {} });
  const names = what === 'lists' ? cfg.lists.map((l) => l.name) : ['default', ...cfg.groups.map((g) => g.name).filter((n) => n !== 'default')];
  io.stdout.write(names.map((n) => `${n}\n`).join(''));
  return 0;
}

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? bashScript() : zshScript();
}

// ------------------------------------------------------------------------------------- bash

/** The bash statement that fills COMPREPLY with the values of flag `f` for the word "$cur". */
function bashValues(f: FlagName): string {
  const c = flagSpec(f).complete;
  if (c === undefined) return 'COMPREPLY=()'; // a free value (an address, a duration): nothing to offer
  if (c === 'file') return '_c2dns_files -f';
  if (c === 'dir') return '_c2dns_files -d';
  if (c === 'list' || c === 'group') return `COMPREPLY=($(compgen -W "$(_c2dns_names ${c}s)" -- "$cur"))`;
  return `COMPREPLY=($(compgen -W "${c.join(' ')}" -- "$cur"))`;
}

function bashScript(): string {
  const valued = (Object.keys(FLAGS) as FlagName[]).filter((f) => flagSpec(f).type === 'string');
  const perCommand = commandNames.map((c) => {
    const o: Operands = spec(c).operands ?? {};
    const words = c === 'help' ? commandNames.filter((n) => n !== 'help') : (o.words ?? []);
    const vars = [`flags="${flagsOf(c).flatMap(spellings).join(' ')}"`, `words="${words.join(' ')}"`, `files=${o.files === true ? 1 : ''}`, `listsafter=${o.listsAfter ?? ''}`];
    return `    ${c}) ${vars.join('; ')} ;;`;
  });
  const values = valued.map((f) => `    ${spellings(f).join(' | ')}) ${bashValues(f)} ;;`);
  return `# bash completion for c2dns, made by \`c2dns completion bash\` from its command table.
# Load it with: source <(c2dns completion bash)    (e.g. in ~/.bashrc)

# The configuration's list or group names ($1: lists or groups), from the --config on the line.
_c2dns_names() {
  local i cfg=
  for ((i = 2; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
    --config | -c) cfg=\${COMP_WORDS[i + 1]} ;;
    --config=*) cfg=\${COMP_WORDS[i]#--config=} ;;
    esac
  done
  cfg=\${cfg/#\\~/$HOME}
  "\${COMP_WORDS[0]}" completion "$1" \${cfg:+--config "$cfg"} 2>/dev/null
}

# Files (-f) or directories (-d) for "$cur", appended to COMPREPLY; names with spaces kept whole.
_c2dns_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t -O "\${#COMPREPLY[@]}" COMPREPLY < <(compgen "$1" -- "$cur")
}

_c2dns() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${commandNames.join(' ')} --version --help" -- "$cur"))
    return 0
  fi
  local cmd=\${COMP_WORDS[1]} flags= words= files= listsafter=
  case $cmd in
${perCommand.join('\n')}
    *) return 0 ;;
  esac
  # The value of the flag before the cursor, if it takes one.
  local valued=" ${valued.flatMap(spellings).join(' ')} "
  if [[ " $flags " == *" $prev "* && $valued == *" $prev "* ]]; then
    case $prev in
${values.join('\n')}
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return 0
  fi
  # Operands: how many come before the cursor, and the first (a subcommand).
  local i w n=0 first=
  for ((i = 2; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ $valued == *" $w "* ]]; then
      ((i += 1))
    elif [[ $w != -* ]]; then
      ((n += 1))
      [[ -z $first ]] && first=$w
    fi
  done
  if [[ -n $listsafter && $first == "$listsafter" ]]; then
    COMPREPLY=($(compgen -W "$(_c2dns_names lists)" -- "$cur"))
    return 0
  fi
  if ((n == 0)) && [[ -n $words ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
  if [[ -n $files ]]; then
    _c2dns_files -f
  fi
  return 0
}

complete -F _c2dns c2dns
`;
}

// -------------------------------------------------------------------------------------- zsh

/** Text inside an _arguments description "[...]" within a single-quoted word. */
const zshDescription = (s: string): string => s.replace(/\\/g, '\\\\').replace(/[[\]]/g, (m) => `\\${m}`).replace(/'/g, `'\\''`);

/** The ":PLACEHOLDER:action" part of a flag that takes a value. */
function zshValue(f: FlagName): string {
  const s = flagSpec(f);
  if (s.type === 'boolean') return '';
  const message = (s.arg ?? 'VALUE').replace(/:/g, '\\:');
  const c = s.complete;
  const action = c === undefined ? ' ' : c === 'file' ? '_files' : c === 'dir' ? '_files -/' : c === 'list' || c === 'group' ? `{_c2dns_names ${c}s}` : `(${c.join(' ')})`;
  return `:${message}:${action}`;
}

/** One _arguments spec for flag `f` of command `c`. */
function zshFlag(c: CommandName, f: FlagName): string {
  const s = flagSpec(f);
  const names = spellings(f);
  const body = `[${zshDescription(flagHelp(c, f))}]${zshValue(f)}'`;
  if (names.length === 1) return `'${s.multiple === true ? '*' : ''}${names[0]}${body}`;
  // Both spellings by brace expansion; a single-use flag excludes itself in either spelling.
  return `'${s.multiple === true ? '*' : `(${names.join(' ')})`}'{${names.join(',')}}'${body}`;
}

function zshOperands(c: CommandName): string[] {
  const o: Operands = spec(c).operands ?? {};
  if (c === 'help') return [`'1:command:(${commandNames.filter((n) => n !== 'help').join(' ')})'`];
  const out: string[] = [];
  const words = o.words ?? [];
  if (words.length > 0 && o.files === true) out.push(`'1: :_alternative "subcommands:subcommand:(${words.join(' ')})" "files:file:_files"'`);
  else if (words.length > 0) out.push(`'1:subcommand:(${words.join(' ')})'`);
  if (o.listsAfter !== undefined) out.push(`'*:list:{_c2dns_names lists}'`);
  else if (o.files === true) out.push(`'*:file:_files'`);
  // Other operands (a NAME, a CLIENT) are free text: declared, so flags after them still complete.
  else out.push(`'*:argument: '`);
  return out;
}

function zshScript(): string {
  const menu = commandNames.map((c) => `    '${c}:${zshDescription(spec(c).summary).replace(/:/g, '\\:')}'`);
  const branches = commandNames.map((c) => {
    const specs = [...flagsOf(c).map((f) => zshFlag(c, f)), ...zshOperands(c)];
    return `  (${c})\n    _arguments -s \\\n      ${specs.join(' \\\n      ')}\n    ;;`;
  });
  return `#compdef c2dns
# zsh completion for c2dns, made by \`c2dns completion zsh\` from its command table.
# Install: c2dns completion zsh > "\${fpath[1]}/_c2dns" and restart zsh (compinit), or after
# compinit in ~/.zshrc: source <(c2dns completion zsh)

# The configuration's list or group names ($1: lists or groups), from the --config on the line.
_c2dns_names() {
  local cfg=\${opt_args[--config]:-\${opt_args[-c]}}
  local -a names config
  [[ -n $cfg ]] && config=(--config \${~cfg}) # two words (zsh does not split \${cfg:+--config $cfg})
  names=(\${(f)"$(\${_c2dns_cmd:-c2dns} completion $1 $config 2>/dev/null)"})
  _describe -t $1 \${1%s} names
}

_c2dns() {
  local _c2dns_cmd=\${words[1]}
  local -a commands
  commands=(
${menu.join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'c2dns command' commands
    return
  fi
  local cmd=\${words[2]}
  shift words
  (( CURRENT-- ))
  case $cmd in
${branches.join('\n')}
  esac
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _c2dns "$@"
else
  compdef _c2dns c2dns
fi
`;
}
