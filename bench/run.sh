#!/usr/bin/env bash
# c2dns benchmark: c2dns as users run it, side by side with Unbound, in one run on one rig.
#
#   npm run bench            (= bash bench/run.sh; settings through BENCH_* variables, see bench/README.md)
#   npm run bench -- --misses     adds the 100 %-miss workload when BENCH_WORKLOADS leaves it out
#   npm run bench -- --encrypted  adds the DoT and DoH workloads (cached, over TLS) when BENCH_WORKLOADS leaves them out
#   npm run bench -- --peers      adds the peers Unbound local-zone and dnsmasq when BENCH_TARGETS leaves them out
#   npm run bench -- --js-udp     adds "c2dns full (JS UDP)" and "c2dns lean (JS UDP)" (targets full-js, lean-js:
#                                 server.udpBatch off, node:dgram) beside full and lean, which then must use the
#                                 native UDP batch addon (udpBatch on): both UDP paths in the same run (issue 11)
#   npm run bench -- --reload     adds the reload-under-load scenario (bench/reload.mjs) after the runs
#   npm run bench -- --reload-only   only that scenario (its section of RESULTS.md is replaced, the rest kept)
#
# For each list size (BENCH_LIST_SIZES): start every target (BENCH_TARGETS: Unbound local-zone, c2dns
# "full" = the defaults, c2dns "lean" = query log, history and admin off, optionally a c2dns baseline
# built from another git revision) one after the other on CPU 0, measuring ready time and RSS; warm
# their caches; then BENCH_RUNS rounds, each running every workload on every target (target order
# rotated per round) for BENCH_SECONDS with dnsperf on CPU 1, so a noisy phase of a shared machine
# hits all targets alike; then one latency run per workload and target at a common fixed rate.
# The authoritative upstream (NSD) also runs on CPU 1. Writes bench/RESULTS.md and prints the tables.
# Every process it starts is stopped by its PID on exit; everything listens on 127.0.0.1 only.
set -uo pipefail

B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$B")"
D="$B/data"
O="$B/out"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_peer() { [ "$1" = unbound ] || [ "$1" = dnsmasq ]; }

# ------------------------------------------------------------------ settings
KNOWN_VARS=" BENCH_RUNS BENCH_SECONDS BENCH_LAT_SECONDS BENCH_LAT_FRACTION BENCH_CLIENTS BENCH_OUTSTANDING BENCH_WORKLOADS
 BENCH_LIST_SIZES BENCH_TARGETS BENCH_BASELINE BENCH_BASELINE_PROFILE BENCH_CEILING BENCH_UPSTREAM BENCH_PORT
 BENCH_UPSTREAM_PORT BENCH_ADMIN_PORT BENCH_SERVER_CPU BENCH_GEN_CPU BENCH_MAX_QPS BENCH_INSTALL BENCH_BUILD
 BENCH_READY_TIMEOUT BENCH_LIST_TAGS BENCH_RELOAD_NAMES BENCH_RELOAD_RATE BENCH_RELOAD_SECONDS"
KNOWN_VARS=" $(echo $KNOWN_VARS) "
for v in $(compgen -e | grep '^BENCH_' || true); do
  case "$v" in
    BENCH_LIST_SIZE) die "BENCH_LIST_SIZE was replaced by BENCH_LIST_SIZES (space-separated, e.g. \"10000 1000000\")" ;;
    BENCH_QUERY_LOG) die "BENCH_QUERY_LOG was removed: the run measures c2dns \"full\" (query log all) and \"lean\" (query log none) side by side (BENCH_TARGETS)" ;;
  esac
  [[ "$KNOWN_VARS" == *" $v "* ]] || die "unknown variable $v (see bench/README.md for the BENCH_* settings)"
done

RUNS="${BENCH_RUNS:-3}"
SECS="${BENCH_SECONDS:-10}"
LAT_SECS="${BENCH_LAT_SECONDS:-5}"
LAT_FRAC="${BENCH_LAT_FRACTION:-0.5}"
CLIENTS="${BENCH_CLIENTS:-20}"
OUTST="${BENCH_OUTSTANDING:-100}"
WORKLOADS="${BENCH_WORKLOADS:-cached blocked mixed miss dot doh}"
SIZES="${BENCH_LIST_SIZES:-10000 1000000}"
TARGETS="${BENCH_TARGETS:-unbound full lean}"
BASELINE="${BENCH_BASELINE:-}"
BASE_PROFILE="${BENCH_BASELINE_PROFILE:-full}"
DO_CEILING="${BENCH_CEILING:-1}"
UPSTREAM="${BENCH_UPSTREAM:-nsd}"
PORT0="${BENCH_PORT:-5390}"
UP_PORT="${BENCH_UPSTREAM_PORT:-5381}"
ADMIN0="${BENCH_ADMIN_PORT:-9390}"
SCPU="${BENCH_SERVER_CPU:-0}"
GCPU="${BENCH_GEN_CPU:-1}"
MAX_QPS="${BENCH_MAX_QPS:-200000}"
DO_INSTALL="${BENCH_INSTALL:-1}"
DO_BUILD="${BENCH_BUILD:-1}"
READY_TIMEOUT="${BENCH_READY_TIMEOUT:-600}"
LIST_TAGS="${BENCH_LIST_TAGS-c2}"
RELOAD=0 # 1: the reload scenario after the runs; 2: only it
RELOAD_NAMES="${BENCH_RELOAD_NAMES:-1000000}"
RELOAD_RATE="${BENCH_RELOAD_RATE:-0}" # 0: 80 % of the capacity dnsperf measures just before
RELOAD_SECS="${BENCH_RELOAD_SECONDS:-30}"

for a in "$@"; do
  case "$a" in
    --misses) [[ " $WORKLOADS " == *" miss "* ]] || WORKLOADS="$WORKLOADS miss" ;;
    --encrypted) for e in dot doh; do [[ " $WORKLOADS " == *" $e "* ]] || WORKLOADS="$WORKLOADS $e"; done ;;
    --peers)
      [[ " $TARGETS " == *" dnsmasq "* ]] || TARGETS="dnsmasq $TARGETS"
      [[ " $TARGETS " == *" unbound "* ]] || TARGETS="unbound $TARGETS" ;;
    --js-udp) for t in full-js lean-js; do [[ " $TARGETS " == *" $t "* ]] || TARGETS="$TARGETS $t"; done ;;
    --reload) [ "$RELOAD" = 2 ] || RELOAD=1 ;;
    --reload-only) RELOAD=2 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$a' (known: --misses, --encrypted, --peers, --reload, --reload-only; settings are BENCH_* variables, see bench/README.md)" ;;
  esac
done

for pair in BENCH_RUNS:RUNS BENCH_SECONDS:SECS BENCH_LAT_SECONDS:LAT_SECS BENCH_CLIENTS:CLIENTS BENCH_OUTSTANDING:OUTST \
    BENCH_PORT:PORT0 BENCH_UPSTREAM_PORT:UP_PORT BENCH_ADMIN_PORT:ADMIN0 BENCH_SERVER_CPU:SCPU BENCH_GEN_CPU:GCPU \
    BENCH_MAX_QPS:MAX_QPS BENCH_READY_TIMEOUT:READY_TIMEOUT BENCH_RELOAD_NAMES:RELOAD_NAMES BENCH_RELOAD_RATE:RELOAD_RATE \
    BENCH_RELOAD_SECONDS:RELOAD_SECS; do
  v="${pair#*:}"
  is_uint "${!v}" || die "${pair%%:*} must be a non-negative integer, got '${!v}'"
done
[ "$RUNS" -ge 1 ] || die "BENCH_RUNS must be >= 1, got $RUNS"
[ "$SECS" -ge 1 ] || die "BENCH_SECONDS must be >= 1, got $SECS"
[ "$CLIENTS" -ge 1 ] && [ "$OUTST" -ge 1 ] || die "BENCH_CLIENTS and BENCH_OUTSTANDING must be >= 1"
[ "$MAX_QPS" -ge 1000 ] || die "BENCH_MAX_QPS must be >= 1000, got $MAX_QPS"
[ "$READY_TIMEOUT" -ge 1 ] || die "BENCH_READY_TIMEOUT must be >= 1"
{ [ "$RELOAD_NAMES" -ge 100 ] && [ "$RELOAD_NAMES" -le 10000000 ]; } || die "BENCH_RELOAD_NAMES must be a list size from 100 to 10000000, got $RELOAD_NAMES"
[ "$RELOAD_SECS" -ge 20 ] || die "BENCH_RELOAD_SECONDS must be >= 20 (SIGHUP at 5 s and 15 s), got $RELOAD_SECS"
[[ "$LAT_FRAC" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] && awk -v f="$LAT_FRAC" 'BEGIN {exit !(f > 0)}' ||
  die "BENCH_LAT_FRACTION must be in (0, 1], got '$LAT_FRAC'"
for b in DO_CEILING DO_INSTALL DO_BUILD; do case "${!b}" in 0|1) ;; *) die "BENCH_${b#DO_} must be 0 or 1, got '${!b}'" ;; esac; done
[ -n "${WORKLOADS// /}" ] || die "BENCH_WORKLOADS is empty"
for w in $WORKLOADS; do case "$w" in cached|blocked|mixed|miss|dot|doh) ;; *) die "unknown workload '$w' in BENCH_WORKLOADS (cached blocked mixed miss dot doh)" ;; esac; done
# dot, doh: the cached workload over DNS over TLS (dnsperf -m dot) / HTTPS (h2load, GET), to each target's own
# DoT and DoH listener (from BENCH_PORT + 50: two ports per target) with a certificate made per run.
ENCRYPTED_WL=0
for w in $WORKLOADS; do case "$w" in dot|doh) ENCRYPTED_WL=1 ;; esac; done
[ "$(tr ' ' '\n' <<<"$WORKLOADS" | grep . | sort | uniq -d)" = "" ] || die "BENCH_WORKLOADS names a workload twice: '$WORKLOADS'"
[ -n "${SIZES// /}" ] || die "BENCH_LIST_SIZES is empty"
for n in $SIZES; do
  { is_uint "$n" && [ "$n" -ge 100 ] && [ "$n" -le 10000000 ]; } || die "BENCH_LIST_SIZES: '$n' is not a list size from 100 to 10000000"
done
[ "$(tr ' ' '\n' <<<"$SIZES" | grep . | sort | uniq -d)" = "" ] || die "BENCH_LIST_SIZES names a size twice: '$SIZES'"
for t in $TARGETS; do
  case "$t" in
    unbound|dnsmasq|full|lean|full-js|lean-js) ;;
    baseline) die "BENCH_TARGETS: 'baseline' is added by BENCH_BASELINE=<git ref>, do not list it" ;;
    *) die "unknown target '$t' in BENCH_TARGETS (unbound dnsmasq full lean full-js lean-js)" ;;
  esac
done
[ "$(tr ' ' '\n' <<<"$TARGETS" | grep . | sort | uniq -d)" = "" ] || die "BENCH_TARGETS names a target twice: '$TARGETS'"
[[ "$LIST_TAGS" =~ ^([A-Za-z0-9._:-]+(,[A-Za-z0-9._:-]+)*)?$ ]] || die "BENCH_LIST_TAGS must be comma-separated tags of letters, digits, . _ : - (or empty), got '$LIST_TAGS'"
case "$BASE_PROFILE" in full|lean) ;; *) die "BENCH_BASELINE_PROFILE must be full or lean, got '$BASE_PROFILE'" ;; esac
BASE_SHA=""
if [ -n "$BASELINE" ]; then
  BASE_SHA="$(git -C "$ROOT" rev-parse --verify --quiet "$BASELINE^{commit}")" || die "BENCH_BASELINE='$BASELINE' is not a commit of this repository"
  TARGETS="$TARGETS baseline"
fi
TARGETS="$(echo $TARGETS)"
[ -n "$TARGETS" ] || die "no targets: BENCH_TARGETS is empty and BENCH_BASELINE is not set"
case "$UPSTREAM" in nsd|bind) ;; *) die "BENCH_UPSTREAM must be nsd or bind, got '$UPSTREAM'" ;; esac

# One resolver port and (for c2dns) one admin port per target, in BENCH_TARGETS order.
declare -A T_PORT T_ADMIN T_PID T_LABEL
i=0
for t in $TARGETS; do T_PORT[$t]=$((PORT0 + i)); T_ADMIN[$t]=$((ADMIN0 + i)); i=$((i + 1)); done
RELOAD_PORT=$((PORT0 + i)); RELOAD_ADMIN=$((ADMIN0 + i)) # the reload scenario's own c2dns
ALL_PORTS="$UP_PORT"
for t in $TARGETS; do ALL_PORTS="$ALL_PORTS ${T_PORT[$t]}"; is_peer "$t" || ALL_PORTS="$ALL_PORTS ${T_ADMIN[$t]}"; done
[ "$RELOAD" = 0 ] || ALL_PORTS="$ALL_PORTS $RELOAD_PORT $RELOAD_ADMIN"
declare -A T_DOT T_DOH
j=0
for t in $TARGETS; do T_DOT[$t]=$((PORT0 + 50 + 2 * j)); T_DOH[$t]=$((PORT0 + 51 + 2 * j)); j=$((j + 1)); done
[ "$ENCRYPTED_WL" = 0 ] || for t in $TARGETS; do ALL_PORTS="$ALL_PORTS ${T_DOT[$t]} ${T_DOH[$t]}"; done
for p in $ALL_PORTS; do [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] || die "port $p out of range 1024..65535 (BENCH_PORT, BENCH_UPSTREAM_PORT, BENCH_ADMIN_PORT)"; done
[ "$(tr ' ' '\n' <<<"$ALL_PORTS" | sort | uniq -d)" = "" ] ||
  die "ports overlap: upstream $UP_PORT, resolvers from $PORT0, admin from $ADMIN0 (one of each per target); move BENCH_PORT / BENCH_ADMIN_PORT / BENCH_UPSTREAM_PORT"

# ------------------------------------------------------------------ processes we own, stopped on exit
UP_PID=""
PROBE_PID=""
LAST_EXIT=""
LAST_KILLED=0
stop_pid() { # PID NAME: SIGTERM, up to 15 s, then SIGKILL; only this PID. Sets LAST_EXIT, LAST_KILLED.
  local pid="$1" name="$2"
  LAST_EXIT=""; LAST_KILLED=0
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name (pid $pid) still running 15 s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; LAST_KILLED=1; fi
  fi
  wait "$pid" 2>/dev/null
  LAST_EXIT=$?
  return 0
}
cleanup() {
  local t
  for t in "${!T_PID[@]}"; do stop_pid "${T_PID[$t]}" "$t"; done
  T_PID=()
  stop_pid "$PROBE_PID" "readiness probe"; PROBE_PID=""
  stop_pid "$UP_PID" upstream; UP_PID=""
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ prerequisites
command -v node >/dev/null || die "node not found (Node.js >= 20 is required)"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || die "Node.js >= 20 required, found $(node --version)"

# bench/out holds this run's configs, logs and raw dnsperf output and is rewritten every run, except
# bench/out/baseline (the baseline's git worktree and build, reused while BENCH_BASELINE names the same commit).
mkdir -p "$O" "$D"
find "$O" -mindepth 1 -maxdepth 1 ! -name baseline -exec rm -rf {} +

find_bin() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
install_pkgs() {
  local sudo="" svc s
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need to install: $*; run as root or install them first"
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || die "need to install: $* (no apt-get here; install them and re-run)"
  log "installing: $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$O/apt.log" 2>&1 ||
    { $sudo apt-get update >>"$O/apt.log" 2>&1 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$O/apt.log" 2>&1; } ||
    die "apt-get install $* failed, see $O/apt.log"
  # The Debian packages start a system-wide daemon on port 53; the bench runs its own on a high port.
  for svc in "$@"; do
    case "$svc" in nsd) s=nsd ;; bind9) s=named ;; unbound) s=unbound ;; *) continue ;; esac
    log "stopping and disabling the $s system service that the package just started (the bench runs its own instance)"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then
      $sudo "/etc/init.d/$s" stop >/dev/null 2>&1 || true
      $sudo update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  done
}

missing=()
[ -n "$(find_bin dnsperf)" ] || missing+=(dnsperf)
[ -n "$(find_bin taskset)" ] || missing+=(util-linux)
if [ "$UPSTREAM" = nsd ]; then [ -n "$(find_bin nsd)" ] || missing+=(nsd); else [ -n "$(find_bin named)" ] || missing+=(bind9); fi
[[ " $TARGETS " != *" unbound "* ]] || [ -n "$(find_bin unbound)" ] || missing+=(unbound)
[[ " $WORKLOADS " != *" doh "* ]] || [ -n "$(find_bin h2load)" ] || missing+=(nghttp2-client)
[[ " $TARGETS " != *" dnsmasq "* ]] || [ -n "$(find_bin dnsmasq)" ] || missing+=(dnsmasq-base)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$DO_INSTALL" = 1 ] || die "missing packages: ${missing[*]} (BENCH_INSTALL=0)"
  install_pkgs "${missing[@]}"
fi
DNSPERF="$(find_bin dnsperf)"
NSD="$(find_bin nsd)"
NAMED="$(find_bin named)"
UNBOUND="$(find_bin unbound)"
H2LOAD="$(find_bin h2load)"
# Unbound serves DoH only when built with nghttp2 (Debian's is: --with-libnghttp2).
UNBOUND_DOH=0
[ -z "$UNBOUND" ] || ! "$UNBOUND" -V 2>&1 | grep -q nghttp2 || UNBOUND_DOH=1
DNSMASQ="$(find_bin dnsmasq)"

LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
NPROC="$(nproc)"
PINNED=1
if [ "$NPROC" -lt 2 ]; then
  log "WARNING: only $NPROC CPU: the resolvers, dnsperf and the upstream share it (figures are not comparable)"
  SCPU=0; GCPU=0; PINNED=0
fi
{ [ "$SCPU" -lt "$NPROC" ] && [ "$GCPU" -lt "$NPROC" ]; } || die "BENCH_SERVER_CPU=$SCPU / BENCH_GEN_CPU=$GCPU: this machine has CPUs 0..$((NPROC - 1))"
[ "$SCPU" != "$GCPU" ] || [ "$PINNED" = 0 ] || die "BENCH_SERVER_CPU and BENCH_GEN_CPU must differ"

# ------------------------------------------------------------------ build (HEAD's working tree, and the baseline)
cd "$ROOT" || die "cannot cd to $ROOT"
if [ "$DO_BUILD" = 1 ]; then
  if [ ! -x node_modules/.bin/tsc ]; then
    log "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund >"$O/npm-ci.log" 2>&1 || die "npm ci failed, see $O/npm-ci.log"
  fi
  log "building c2dns (npm run build)"
  npm run build >"$O/build.log" 2>&1 || die "npm run build failed, see $O/build.log"
  # The native UDP batch addon (npm ci builds it; again here so that it matches native/ as it is now).
  node native/install.mjs >>"$O/build.log" 2>&1
  log "$(grep '^c2dns: native UDP' "$O/build.log" | tail -n 1)"
fi
ADDON="$ROOT/build/Release/c2dns_udp_batch.node"
# With JS UDP targets, full and lean must really run the addon (udpBatch on), or both columns would measure node:dgram.
JS_UDP=0
[[ " $TARGETS " != *" full-js "* && " $TARGETS " != *" lean-js "* ]] || JS_UDP=1
[ "$JS_UDP" = 0 ] || [ -f "$ADDON" ] || die "the JS UDP targets compare against the native UDP batch addon, which is not built: node native/install.mjs says why"

[ -f "$ROOT/dist/src/cli.js" ] || die "dist/src/cli.js missing: run npm run build"
HEAD_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
HEAD_DIRTY=0
[ -z "$(git -C "$ROOT" status --porcelain -- src package.json package-lock.json tsconfig.json 2>/dev/null)" ] || HEAD_DIRTY=1

BD="$O/baseline"
if [ -n "$BASELINE" ]; then
  if [ -f "$BD/.bench-built" ] && [ "$(cat "$BD/.bench-built")" = "$BASE_SHA" ] && [ -f "$BD/dist/src/cli.js" ] &&
     [ "$(git -C "$BD" rev-parse HEAD 2>/dev/null)" = "$BASE_SHA" ]; then
    log "baseline ${BASE_SHA:0:7} already built in $BD"
  else
    if [ -e "$BD" ]; then
      git -C "$ROOT" worktree remove --force "$BD" >/dev/null 2>&1 || rm -rf "$BD"
    fi
    git -C "$ROOT" worktree prune
    log "baseline: git worktree add $BD ${BASE_SHA:0:7}"
    git -C "$ROOT" worktree add --detach "$BD" "$BASE_SHA" >"$O/baseline-worktree.log" 2>&1 || die "git worktree add failed, see $O/baseline-worktree.log"
    log "baseline: npm ci + npm run build in $BD"
    (cd "$BD" && npm ci --prefer-offline --no-audit --no-fund) >"$O/baseline-npm-ci.log" 2>&1 || die "npm ci in the baseline failed, see $O/baseline-npm-ci.log"
    (cd "$BD" && npm run build) >"$O/baseline-build.log" 2>&1 || die "npm run build in the baseline failed, see $O/baseline-build.log"
    [ -f "$BD/dist/src/cli.js" ] || die "the baseline build made no dist/src/cli.js"
    echo "$BASE_SHA" >"$BD/.bench-built"
  fi
fi

T_LABEL[unbound]="Unbound"
T_LABEL[dnsmasq]="dnsmasq"
T_LABEL[full]="c2dns full"
T_LABEL[lean]="c2dns lean"
T_LABEL[full-js]="c2dns full (JS UDP)"
T_LABEL[lean-js]="c2dns lean (JS UDP)"
T_LABEL[baseline]="baseline ${BASE_SHA:0:7} ($BASE_PROFILE)"

# ------------------------------------------------------------------ data
log "generating data in bench/data/ (kept between runs while the parameters do not change)"
DATA_SIZES="$SIZES"
[ "$RELOAD" = 0 ] || [[ " $SIZES " == *" $RELOAD_NAMES "* ]] || DATA_SIZES="$SIZES $RELOAD_NAMES"
[ "$RELOAD" != 2 ] || DATA_SIZES="$RELOAD_NAMES"
# The reload scenario sends its mixed queries from the latency file: enough lines for its run at up to 30,000 q/s.
LAT_LINES=$((LAT_SECS * MAX_QPS + 20))
[ "$RELOAD" = 0 ] || [ "$LAT_LINES" -ge $((RELOAD_SECS * 30000)) ] || LAT_LINES=$((RELOAD_SECS * 30000))
node "$B/gen-data.mjs" --sizes "$(echo $DATA_SIZES | tr ' ' ',')" --runs "$RUNS" --mixed-lines $((SECS * MAX_QPS)) \
  --lat-lines "$LAT_LINES" >&2 || die "data generation failed"
# dnsmasq: every listed name an address=/NAME/# line (0.0.0.0 and :: for the name and its subdomains,
# like Unbound's always_null), made from the plain list when it is newer than the last conversion.
if [[ " $TARGETS " == *" dnsmasq "* ]] && [ "$RELOAD" != 2 ]; then
  for n in $SIZES; do
    [ "$D/dnsmasq-$n.conf" -nt "$D/blocklist-$n.txt" ] ||
      { grep -v '^#' "$D/blocklist-$n.txt" | sed 's|.*|address=/&/#|' >"$D/dnsmasq-$n.conf.tmp" && mv "$D/dnsmasq-$n.conf.tmp" "$D/dnsmasq-$n.conf"; } ||
      die "writing $D/dnsmasq-$n.conf failed"
  done
fi

node "$B/probe.mjs" free $ALL_PORTS || die "a port is in use (set BENCH_PORT / BENCH_ADMIN_PORT / BENCH_UPSTREAM_PORT)"

# The DoT/DoH workloads: a throwaway CA and a certificate it signs for 127.0.0.1 (EC P-256, 2 days),
# in bench/out/tls. dnsperf does not verify it; the targets serve it.
if [ "$ENCRYPTED_WL" = 1 ]; then
  command -v openssl >/dev/null || die "openssl is needed for the dot/doh workloads' certificate (apt-get install openssl)"
  mkdir -p "$O/tls"
  (
    cd "$O/tls" &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=c2dns bench CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -keyout ca.key -out ca.pem &&
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out leaf.csr &&
      printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >leaf.ext &&
      openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile leaf.ext -out cert.pem
  ) >"$O/tls/openssl.log" 2>&1 || die "making the DoT/DoH certificate failed, see $O/tls/openssl.log"
fi
# Whether TARGET answers WORKLOAD: every target the UDP ones; DoT and DoH c2dns (a baseline from
# before DoT/DoH does not) and Unbound (DoH when built with nghttp2), not dnsmasq.
serves() { # TARGET WORKLOAD
  case "$2" in dot|doh) ;; *) return 0 ;; esac
  case "$1" in
    full|lean|full-js|lean-js) return 0 ;;
    baseline) [ -f "$BD/src/config/encrypted.ts" ] ;;
    unbound) [ "$2" = dot ] || [ "$UNBOUND_DOH" = 1 ] ;;
    *) return 1 ;;
  esac
}

# ------------------------------------------------------------------ measurement helpers
HZ="$(getconf CLK_TCK)"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
# The process and its descendants (c2dns with workers > 1 forks; Unbound with one thread does not).
tree_pids() { local p="$1" c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done; }
# utime+stime (clock ticks, all threads) of a process tree; the comm field may contain spaces.
proc_ticks() {
  local t=0 p s
  for p in $(tree_pids "$1"); do
    s="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    s="${s##*) }"
    t=$((t + $(awk '{print $12 + $13}' <<<"$s")))
  done
  echo "$t"
}
rss_kb() { local t=0 p k; for p in $(tree_pids "$1"); do k="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)"; t=$((t + ${k:-0})); done; echo "$t"; }
# busy, total and steal ticks of one CPU (busy = user+nice+system+irq+softirq+steal)
core_ticks() { awk -v c="cpu$1" '$1 == c {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6, $9}' /proc/stat; }
# ns the process's main thread spent runnable but waiting for its CPU (other processes on the core,
# plus the process's own helper threads)
rq_wait_ns() { local w=0; read -r _ w _ <"/proc/$1/schedstat" 2>/dev/null; echo "${w:-0}"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
qps_of() { awk '/Queries per second:/ {print $4}' "$1"; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) {print 0; exit} if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
json_str() { local s="$1"; s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }

# Work a resolver does after the last answer (query-log lines written by the libuv pool, the history
# flushed once a second, GC) belongs to the run that caused it: wait 1.2 s, then until its CPU time grew
# by at most one tick in each of two consecutive 0.25 s windows and its query log stopped growing (at
# most 10 s more). Every target gets the same wait.
settle() { # PID QUERYLOG|""
  local pid="$1" qlog="$2" pt ps ct cs stable=0
  sleep 1.2
  pt="$(proc_ticks "$pid")"; ps="$([ -n "$qlog" ] && stat -c %s "$qlog" 2>/dev/null)"
  for _ in $(seq 1 40); do
    sleep 0.25
    ct="$(proc_ticks "$pid")"; cs="$([ -n "$qlog" ] && stat -c %s "$qlog" 2>/dev/null)"
    if [ $((ct - pt)) -le 1 ] && [ "$cs" = "$ps" ]; then stable=$((stable + 1)); [ "$stable" -ge 2 ] && return; else stable=0; fi
    pt="$ct"; ps="$cs"
  done
}

qfile() { # WORKLOAD LIST ROUND|lat
  case "$1" in
    cached|ceiling|dot|doh) echo "$D/queries-cached.txt" ;;
    blocked) echo "$D/queries-blocked-$2.txt" ;;
    mixed) echo "$D/queries-mixed-$2-$3.txt" ;;
    miss) echo "$D/queries-miss-$3.txt" ;;
  esac
}
# The c2dns profile a target runs ("" for Unbound and the ceiling), and its query log when it writes one.
profile_of() { case "$1" in full|lean) echo "$1" ;; full-js|lean-js) echo "${1%-js}" ;; baseline) echo "$BASE_PROFILE" ;; esac; }
# server.udpBatch of a c2dns target: off for the JS UDP targets; on for full and lean beside them (issue 11).
udp_batch_of() { case "$1" in *-js) echo off ;; full|lean) [ "$JS_UDP" = 1 ] && echo on || echo auto ;; *) echo auto ;; esac; }
qlog_of() { [ "$(profile_of "$1")" = full ] && echo "$O/$2/$1/query.log"; }

# One dnsperf run against TARGET (or "ceiling": dnsperf on the server CPU straight to the upstream).
# PHASE = sat|lat, RATE = 0 for unlimited. Appends one JSON line to out/runs.jsonl (report.mjs parses
# the dnsperf output it names); sets LAST_QPS.
LAST_QPS=0
measure() { # LIST TARGET WORKLOAD ROUND PHASE RATE DURATION
  local n="$1" t="$2" w="$3" run="$4" phase="$5" rate="$6" dur="$7"
  local qf out cpu port pid qlog t0 tr t1 w0 w1 w2 cb0 ct0 cs0 cb1 ct1 cs1 rq0 rq1 l0 lines=0
  qf="$(qfile "$w" "$n" "$run")"
  out="$O/$n/dnsperf-$t-$w-$phase-$run.txt"
  if [ "$t" = ceiling ]; then cpu="$SCPU"; port="$UP_PORT"; pid="$UP_PID"; else cpu="$GCPU"; port="${T_PORT[$t]}"; pid="${T_PID[$t]}"; fi
  local mode=() # dot: dnsperf's own TLS connections (one per client); doh: h2load, see doh-load.mjs
  case "$w" in
    dot) port="${T_DOT[$t]}"; mode=(-m dot) ;;
    doh) port="${T_DOH[$t]}" ;;
  esac
  qlog="$(qlog_of "$t" "$n")"
  local cmd=(taskset -c "$cpu" "$DNSPERF" "${mode[@]}" -s 127.0.0.1 -p "$port" -d "$qf" -c "$CLIENTS" -q "$OUTST" -l "$dur")
  [ "$rate" -gt 0 ] && cmd+=(-Q "$rate" -v)
  [ "$w" != doh ] || cmd=(taskset -c "$cpu" node "$B/doh-load.mjs" --h2load "$H2LOAD" --url "https://127.0.0.1:$port/dns-query" --queries "$qf"
    --clients "$CLIENTS" --outstanding "$OUTST" --seconds "$dur" --rate "$rate" --work "$O/tls")
  [ -n "$qlog" ] && : >"$qlog"
  l0="$(load1)"
  t0="$(proc_ticks "$pid")"; rq0="$(rq_wait_ns "$pid")"; read -r cb0 ct0 cs0 < <(core_ticks "$SCPU"); w0="$(now)"
  "${cmd[@]}" >"$out" 2>&1 || log "dnsperf exited with $? ($out)"
  w1="$(now)"; tr="$(proc_ticks "$pid")"; rq1="$(rq_wait_ns "$pid")"; read -r cb1 ct1 cs1 < <(core_ticks "$SCPU")
  [ "$t" = ceiling ] || settle "$pid" "$qlog"
  [ -n "$qlog" ] && lines="$(wc -l <"$qlog" 2>/dev/null || echo 0)"
  w2="$(now)"; t1="$(proc_ticks "$pid")"
  kill -0 "$pid" 2>/dev/null || die "$t (pid $pid) died during $w run $run with the $n-name list (see $O/$n/)"
  printf '{"list":%s,"target":"%s","workload":"%s","run":"%s","phase":"%s","rate":%s,"duration":%s,"out":%s,"cmd":%s,"qfile":%s,"qfile_lines":%s,"ticks":%s,"ticks_run":%s,"hz":%s,"wall":%s,"wall_cpu":%s,"core_busy":%s,"core_total":%s,"core_steal":%s,"rq_wait_ns":%s,"log_lines":%s,"query_log":%s,"load1":%s}\n' \
    "$n" "$t" "$w" "$run" "$phase" "$rate" "$dur" "$(json_str "$out")" "$(json_str "${cmd[*]}")" "$(json_str "$qf")" \
    "$(wc -l <"$qf")" "$((t1 - t0))" "$((tr - t0))" "$HZ" "$(elapsed "$w0" "$w1")" "$(elapsed "$w0" "$w2")" \
    "$((cb1 - cb0))" "$((ct1 - ct0))" "$((cs1 - cs0))" "$((rq1 - rq0))" "$lines" "$([ -n "$qlog" ] && echo true || echo false)" "$l0" >>"$O/runs.jsonl"
  LAST_QPS="$(qps_of "$out")"
  LAST_QPS="${LAST_QPS:-0}"
}

# ------------------------------------------------------------------ upstream (authoritative for bench.test.)
mkdir -p "$O/upstream"
if [ "$UPSTREAM" = nsd ]; then
  cat >"$O/upstream/nsd.conf" <<EOF
# generated by bench/run.sh: authoritative for bench.test. on 127.0.0.1:$UP_PORT, one server process
server:
    ip-address: 127.0.0.1@$UP_PORT
    port: $UP_PORT
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$D"
    zonelistfile: "$O/upstream/zone.list"
    xfrdfile: "$O/upstream/xfrd.state"
    xfrdir: "$O/upstream"
    pidfile: "$O/upstream/nsd.pid"
    logfile: "$O/upstream.log"
    verbosity: 1
    hide-version: yes
    minimal-responses: yes
    # response rate limiting would throttle a single client (dnsperf) to a few hundred qps
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "bench.test"
    zonefile: "bench.test.zone"
EOF
  UP_CMD=(taskset -c "$GCPU" "$NSD" -d -c "$O/upstream/nsd.conf")
  UP_VERSION="$("$NSD" -v 2>&1 | head -1)"
else
  cat >"$O/upstream/named.conf" <<EOF
// generated by bench/run.sh: authoritative for bench.test. on 127.0.0.1:$UP_PORT, one worker thread
options {
    directory "$O/upstream";
    pid-file "$O/upstream/named.pid";
    session-keyfile "$O/upstream/session.key";
    managed-keys-directory "$O/upstream";
    listen-on port $UP_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { 127.0.0.0/8; };
    notify no;
    minimal-responses yes;
    dnssec-validation no;
    querylog no;
};
controls { };
zone "bench.test" { type primary; file "$D/bench.test.zone"; };
EOF
  UP_CMD=(taskset -c "$GCPU" "$NAMED" -g -4 -n 1 -c "$O/upstream/named.conf")
  UP_VERSION="$("$NAMED" -v 2>&1 | head -1)"
fi
log "starting upstream: ${UP_CMD[*]}"
"${UP_CMD[@]}" >>"$O/upstream.log" 2>&1 &
UP_PID=$!
if ! taskset -c "$GCPU" node "$B/probe.mjs" wait "$UP_PORT" 60 "$UP_PID" h000001.bench.test=10.0.0.1; then
  tail -5 "$O/upstream.log" >&2
  if [ "$UPSTREAM" = bind ] && grep -qs '^named (enforce)\|/usr/sbin/named (enforce)' /sys/kernel/security/apparmor/profiles; then
    log "named runs under an enforcing AppArmor profile that forbids reading $O: use BENCH_UPSTREAM=nsd (the default)"
  fi
  die "upstream did not answer on 127.0.0.1:$UP_PORT (log: $O/upstream.log)"
fi

# ------------------------------------------------------------------ targets
# c2dns configuration: the defaults (what `npm start` gives), except what a benchmark must set: the
# list (tagged BENCH_LIST_TAGS, default c2 like the bundled default list, so blocks raise security
# events as they do out of the box), a state directory under bench/out, the query log to a file instead
# of stdout, and a free loopback port for the admin listener. "lean" also switches off the query log,
# the history and the admin API.
c2dns_config() { # PROFILE DIR LIST_FILE ADMIN_PORT [tls: the DoT/DoH certificate]
  local profile="$1" dir="$2" list="$3" admin="$4"
  cat <<EOF
# generated by bench/run.sh: c2dns "$profile" (listen and upstream come from the command line)
lists:
  - name: bench
    path: "$list"
    format: plain
    tags: [$(sed 's/,/, /g' <<<"$LIST_TAGS")]
state:
  dir: "$dir/state"
log:
  queries: $([ "$profile" = lean ] && echo none || echo all)
  destination: "$dir/query.log"
EOF
  [ "${5:-}" != tls ] || printf 'tls:\n  certFile: "%s"\n  keyFile: "%s"\n' "$O/tls/cert.pem" "$O/tls/key.pem"
  if [ "$profile" = lean ]; then
    printf 'history:\n  enabled: false\nadmin:\n  enabled: false\n'
  else
    printf 'admin:\n  listen: "127.0.0.1:%s"\n' "$admin"
  fi
}

# Unbound as a filtering forwarder: every blocked name a local-zone always_null (0.0.0.0 / ::, like
# c2dns's default action), everything else forwarded to the upstream; one thread, no validator,
# remote control off. Caches sized to hold well over 100,000 answers (c2dns: cache.maxEntries 100,000).
# Unbound's DoT (tls-port) and DoH (https-port) listeners for the dot/doh workloads, with 100 TCP
# connections per thread (its default of 10 would turn dnsperf's 20 clients away).
unbound_tls() { # DOT_PORT DOH_PORT
  [ "$ENCRYPTED_WL" = 1 ] || return 0
  printf '    interface: 127.0.0.1@%s\n    tls-port: %s\n' "$1" "$1"
  [ "$UNBOUND_DOH" = 0 ] || printf '    interface: 127.0.0.1@%s\n    https-port: %s\n    http-endpoint: "/dns-query"\n' "$2" "$2"
  printf '    tls-service-key: "%s"\n    tls-service-pem: "%s"\n    incoming-num-tcp: 100\n' "$O/tls/key.pem" "$O/tls/cert.pem"
}

unbound_config() { # DIR PORT LIST_SIZE DOT_PORT DOH_PORT
  cat <<EOF
# generated by bench/run.sh: Unbound local-zone, $3 blocked names
server:
    interface: 127.0.0.1@$2
    port: $2
    do-ip4: yes
    do-ip6: no
    do-tcp: yes
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$1"
    pidfile: "$1/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    msg-cache-size: 32m
    rrset-cache-size: 64m
    key-cache-size: 1m
    num-queries-per-thread: 4096
    outgoing-range: 8192
    minimal-responses: yes
    qname-minimisation: no
    prefetch: no
    statistics-interval: 0
    # test. is one of Unbound's default local zones (RFC 6761); the benchmark zone lives under it
    local-zone: "test." nodefault
    include: "$D/unbound-$3.conf"
$(unbound_tls "$4" "$5")
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP_PORT
EOF
}

# dnsmasq as a filtering forwarder: the list as address=/NAME/# lines, everything else forwarded to
# the upstream; no /etc/hosts or resolv.conf, a cache of 100,000 names like c2dns's
# (cache.maxEntries), up to 4,096 queries forwarded at once (the default 150 drops dnsperf bursts).
dnsmasq_config() { # DIR PORT LIST_SIZE
  cat <<EOF
# generated by bench/run.sh: dnsmasq, $3 blocked names
port=$2
listen-address=127.0.0.1
bind-interfaces
user=$(id -un)
pid-file=$1/dnsmasq.pid
no-resolv
no-hosts
no-poll
server=127.0.0.1#$UP_PORT
cache-size=100000
dns-forward-max=4096
conf-file=$D/dnsmasq-$3.conf
EOF
}

version_of() { # TARGET
  case "$1" in
    unbound) "$UNBOUND" -V 2>&1 | head -1 ;;
    dnsmasq) "$DNSMASQ" --version 2>&1 | head -1 ;;
    baseline) echo "c2dns ${BASE_SHA:0:7} ($BASELINE), profile $BASE_PROFILE" ;;
    *) echo "c2dns $HEAD_REV$([ "$HEAD_DIRTY" = 1 ] && echo ' + uncommitted changes in src/'), profile $(profile_of "$1"), server.udpBatch $(udp_batch_of "$1")" ;;
  esac
}

start_target() { # TARGET LIST_SIZE [restart: started again on the state its first run left]
  local enc=() tls="" # c2dns's DoT/DoH listeners, when a workload uses them
  if [ "$ENCRYPTED_WL" = 1 ]; then
    serves "$1" dot && enc+=(--listen "tls://127.0.0.1:${T_DOT[$1]}")
    serves "$1" doh && enc+=(--listen "https://127.0.0.1:${T_DOH[$1]}/dns-query")
    [ "${#enc[@]}" = 0 ] || tls=tls
  fi
  local t="$1" n="$2" dir="$O/$2/$1" cmd ready_s rss last armed word="" again="${3:-}"
  mkdir -p "$dir"
  case "$t" in
    unbound)
      unbound_config "$dir" "${T_PORT[$t]}" "$n" "${T_DOT[$t]}" "${T_DOH[$t]}" >"$dir/unbound.conf"
      cmd=(taskset -c "$SCPU" "$UNBOUND" -d -p -c "$dir/unbound.conf") ;;
    dnsmasq)
      dnsmasq_config "$dir" "${T_PORT[$t]}" "$n" >"$dir/dnsmasq.conf"
      cmd=(taskset -c "$SCPU" "$DNSMASQ" --keep-in-foreground --log-facility=- --conf-file="$dir/dnsmasq.conf") ;;
    full|lean|full-js|lean-js)
      { c2dns_config "$(profile_of "$t")" "$dir" "$D/blocklist-$n.txt" "${T_ADMIN[$t]}" $tls; printf 'server:\n  udpBatch: %s\n' "$(udp_batch_of "$t")"; } >"$dir/c2dns.yaml"
      cmd=(taskset -c "$SCPU" node "$ROOT/dist/src/cli.js" serve --config "$dir/c2dns.yaml" --listen "127.0.0.1:${T_PORT[$t]}" "${enc[@]}" --upstream "127.0.0.1:$UP_PORT") ;;
    baseline)
      c2dns_config "$BASE_PROFILE" "$dir" "$D/blocklist-$n.txt" "${T_ADMIN[$t]}" $tls >"$dir/c2dns.yaml"
      cmd=(taskset -c "$SCPU" node "$BD/dist/src/cli.js" serve --config "$dir/c2dns.yaml" --listen "127.0.0.1:${T_PORT[$t]}" "${enc[@]}" --upstream "127.0.0.1:$UP_PORT") ;;
  esac
  last="$(tail -n 1 "$D/blocklist-$n.txt")"
  # Ready: an allowed name answered through the upstream, and two blocked names answered 0.0.0.0: a
  # subdomain of a 3CX name and the last name of the list (a list loaded in parts would fail it).
  # The probe (on the generator CPU) is started and armed first, then told the PID right after the
  # target is spawned, and times from that moment: its own start-up is not part of the ready time.
  rm -f "$dir/.probe-in" "$dir/.probe-out"
  mkfifo "$dir/.probe-in" "$dir/.probe-out" || die "mkfifo in $dir failed"
  taskset -c "$GCPU" node "$B/probe.mjs" wait "${T_PORT[$t]}" "$READY_TIMEOUT" - \
    h000001.bench.test=10.0.0.1 www.zacharryblogs.com=0.0.0.0 "$last=0.0.0.0" <"$dir/.probe-in" >"$dir/.probe-out" 2>"$dir/ready.log" &
  PROBE_PID=$!
  exec 3>"$dir/.probe-in" 4<"$dir/.probe-out"
  read -r -t 120 -u 4 armed || armed=""
  [ "$armed" = armed ] || { exec 3>&- 4<&-; die "the readiness probe did not start (log: $dir/ready.log)"; }
  log "list $n: starting $t: ${cmd[*]}"
  "${cmd[@]}" >"$dir/stdout.log" 2>"$dir/stderr.log" 3>&- 4<&- &
  T_PID[$t]=$!
  echo "${T_PID[$t]}" >&3
  read -r -t "$((READY_TIMEOUT + 30))" -u 4 word ready_s || ready_s=""
  exec 3>&- 4<&-
  wait "$PROBE_PID" 2>/dev/null
  PROBE_PID=""
  rm -f "$dir/.probe-in" "$dir/.probe-out"
  if [ "$word" != ready ] || [ -z "$ready_s" ]; then
    cat "$dir/ready.log" >&2; tail -5 "$dir/stderr.log" >&2
    die "$t did not become ready with the $n-name list within ${READY_TIMEOUT} s (logs: $dir/)"
  fi
  sleep 1 # let allocations right after the load settle before reading RSS
  rss="$(rss_kb "${T_PID[$t]}")"
  log "list $n: $t ${again:+re}started, ready in $ready_s s (pid ${T_PID[$t]}, RSS $((rss / 1024)) MB)"
  if [ -n "$again" ]; then
    printf '{"event":"restarted","list":%s,"target":"%s","restart_s":%s,"rss_restart_kb":%s}\n' "$n" "$t" "$ready_s" "$rss" >>"$O/targets.jsonl"
    return
  fi
  # Warm the cache with the 10,000 allowed names: two gentle passes; the second is all cache hits.
  if [[ " $WORKLOADS " == *" cached "* || " $WORKLOADS " == *" mixed "* || "$ENCRYPTED_WL" = 1 ]]; then
    for i in 1 2; do
      taskset -c "$GCPU" "$DNSPERF" -s 127.0.0.1 -p "${T_PORT[$t]}" -d "$D/queries-cached.txt" -n 1 -c 4 -q 50 >"$dir/warmup-$i.txt" 2>&1
    done
  fi
  printf '{"event":"ready","list":%s,"target":"%s","profile":"%s","label":%s,"version":%s,"port":%s,"cmd":%s,"dir":%s,"ready_s":%s,"rss_ready_kb":%s}\n' \
    "$n" "$t" "$(profile_of "$t")" "$(json_str "${T_LABEL[$t]}")" "$(json_str "$(version_of "$t")")" "${T_PORT[$t]}" "$(json_str "${cmd[*]}")" "$(json_str "$dir")" \
    "$ready_s" "$rss" >>"$O/targets.jsonl"
}

stop_target() { # TARGET LIST_SIZE [restart: the stop after the restart, not recorded]
  local t="$1" n="$2" pid="${T_PID[$1]}" rss t0 stop_s
  rss="$(rss_kb "$pid")"
  t0="$(now)"
  stop_pid "$pid" "$t"
  stop_s="$(elapsed "$t0" "$(now)")"
  unset "T_PID[$t]"
  [ -z "${3:-}" ] || return 0
  printf '{"event":"stopped","list":%s,"target":"%s","rss_end_kb":%s,"stop_s":%s,"exit":%s,"killed":%s}\n' \
    "$n" "$t" "$rss" "$stop_s" "${LAST_EXIT:-null}" "$LAST_KILLED" >>"$O/targets.jsonl"
}

cat >"$O/settings.json" <<EOF
{"started":"$STARTED","runs":$RUNS,"seconds":$SECS,"lat_seconds":$LAT_SECS,"lat_fraction":$(awk -v f="$LAT_FRAC" 'BEGIN {print f + 0}'),"clients":$CLIENTS,"outstanding":$OUTST,
 "port":$PORT0,"admin_port":$ADMIN0,"upstream_port":$UP_PORT,"server_cpu":$SCPU,"gen_cpu":$GCPU,"pinned":$PINNED,"upstream":"$UPSTREAM",
 "upstream_version":$(json_str "$UP_VERSION"),"upstream_cmd":$(json_str "${UP_CMD[*]}"),
 "workloads":$(json_str "$WORKLOADS"),"list_sizes":$(json_str "$SIZES"),"targets":$(json_str "$TARGETS"),"max_qps":$MAX_QPS,
 "baseline":$(json_str "$BASELINE"),"baseline_sha":$(json_str "$BASE_SHA"),"baseline_profile":"$BASE_PROFILE","list_tags":$(json_str "$LIST_TAGS"),
 "head_rev":"$HEAD_REV","head_dirty":$HEAD_DIRTY,"dnsperf":$(json_str "$DNSPERF"),"ceiling":$DO_CEILING,"loadavg_start":$(json_str "$LOADAVG_START")}
EOF

# ------------------------------------------------------------------ per list size: start, rounds, latency, stop
NT="$(wc -w <<<"$TARGETS")"
declare -A QPS
[ "$RELOAD" != 2 ] || SIZES="" # --reload-only: no side-by-side runs
for n in $SIZES; do
  mkdir -p "$O/$n"
  for t in $TARGETS; do start_target "$t" "$n"; done

  # Round r runs every workload on every target; the target order rotates by one each round, so
  # no target is always the first (or last) after a pause.
  for r in $(seq 1 "$RUNS"); do
    if [ "$DO_CEILING" = 1 ]; then
      measure "$n" ceiling ceiling "$r" sat 0 "$SECS"
      log "list $n round $r/$RUNS  rig ceiling (dnsperf -> $UPSTREAM): ${LAST_QPS%.*} qps"
    fi
    read -r -a tl <<<"$TARGETS"
    k=$(((r - 1) % NT))
    order=("${tl[@]:k}" "${tl[@]:0:k}")
    for w in $WORKLOADS; do
      line=""
      for t in "${order[@]}"; do
        serves "$t" "$w" || continue
        measure "$n" "$t" "$w" "$r" sat 0 "$SECS"
        QPS["$n $w $t"]+="$LAST_QPS "
        line="$line  $t ${LAST_QPS%.*}"
      done
      log "list $n round $r/$RUNS  $w qps:$line"
    done
  done

  # Latency: every target at the same fixed rate, BENCH_LAT_FRACTION of the slowest target's median qps.
  if [ "$LAT_SECS" -gt 0 ]; then
    for w in $WORKLOADS; do
      slow=""
      for t in $TARGETS; do
        serves "$t" "$w" || continue
        m="$(tr ' ' '\n' <<<"${QPS["$n $w $t"]}" | grep . | median)"
        if [ -z "$slow" ] || awk -v a="$m" -v b="$slow" 'BEGIN {exit !(a < b)}'; then slow="$m"; fi
      done
      rate="$(awk -v m="$slow" -v f="$LAT_FRAC" 'BEGIN {r = int(m * f); print (r < 1 ? 1 : r)}')"
      line=""
      for t in $TARGETS; do
        serves "$t" "$w" || continue
        measure "$n" "$t" "$w" lat lat "$rate" "$LAT_SECS"
        line="$line  $t ${LAST_QPS%.*}"
      done
      log "list $n latency $w at -Q $rate, achieved:$line"
    done
  fi

  for t in $TARGETS; do stop_target "$t" "$n"; done
  # Restart with state (issue 11 target 3): each c2dns target started again, alone, on the state
  # directory its run left (last good copy, first-seen table, history), and stopped.
  for t in $TARGETS; do
    case "$t" in unbound|dnsmasq) continue ;; esac
    start_target "$t" "$n" restart
    stop_target "$t" "$n" restart
  done
done

# Reload under load: its own c2dns "full" (the defaults) serving a copy of the list that reload.mjs
# replaces before each SIGHUP; the load generator on the generator CPU, c2dns on the server CPU.
if [ "$RELOAD" != 0 ]; then
  RD="$O/reload"
  mkdir -p "$RD"
  c2dns_config full "$RD" "$RD/list.txt" "$RELOAD_ADMIN" >"$RD/c2dns.yaml"
  log "reload under load: $RELOAD_NAMES names, $([ "$RELOAD_RATE" = 0 ] && echo '80 % of capacity' || echo "$RELOAD_RATE q/s"), $RELOAD_SECS s, SIGHUP at 5 s and 15 s"
  taskset -c "$GCPU" node "$B/reload.mjs" run --config "$RD/c2dns.yaml" --list "$RD/list.txt" --source "$D/blocklist-$RELOAD_NAMES.txt" \
    --queries "$(qfile mixed "$RELOAD_NAMES" lat)" --capacity-queries "$(qfile mixed "$RELOAD_NAMES" 1)" --dnsperf "$DNSPERF" \
    --port "$RELOAD_PORT" --upstream "127.0.0.1:$UP_PORT" --cpu "$SCPU" --rate "$RELOAD_RATE" --seconds "$RELOAD_SECS" --out "$RD" \
    >"$RD/stdout.log" 2>"$RD/stderr.log" || { tail -20 "$RD/stderr.log" >&2; die "the reload scenario failed (logs: $RD/)"; }
  cat "$RD/stdout.log" >&2
fi

stop_pid "$UP_PID" upstream; UP_PID=""
printf '{"loadavg_end":%s,"finished":"%s"}\n' "$(json_str "$(cut -d' ' -f1-3 /proc/loadavg)")" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" >"$O/end.json"

[ "$RELOAD" = 2 ] || node "$B/report.mjs" "$O" "$B/RESULTS.md" || die "report failed"
[ "$RELOAD" = 0 ] || node "$B/reload.mjs" insert "$O/reload/reload.md" "$B/RESULTS.md" || die "adding the reload section to RESULTS.md failed"
log "done: $B/RESULTS.md (raw output in $O/)"
