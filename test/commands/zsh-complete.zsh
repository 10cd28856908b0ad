# zsh -f zsh-complete.zsh SCRIPT PATHDIR OUT LINE
# Drives an interactive zsh in a pseudo-terminal (zpty): compinit, the completion SCRIPT, PATHDIR
# first in PATH, then LINE and a TAB; every match zsh's completion system adds (compadd) is
# appended to the file OUT. Used by completion.test.ts where zsh is installed.
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='READY> '"
zpty -r z junk '*READY> '
send() { zpty -w z "$1"; zpty -r z junk '*READY> '; }
send "PATH=${(q)2}:\$PATH; autoload -Uz compinit; compinit -u -D"
send "source ${(q)1}"
send "compadd() { local -a m; builtin compadd -O m \"\$@\"; (( \$#m )) && print -rl -- \$m >> ${(q)3}; builtin compadd \"\$@\"; }"
zpty -n -w z "$4"$'\t'
# The matches arrive once the completion ran (list names: after the CLI answered).
for i in {1..300}; do [[ -s $3 ]] && break; sleep 0.1; done
sleep 0.5
zpty -d z
