#!/usr/bin/env bash
# c2dns benchmark: throughput, CPU per query and latency of c2dns under dnsperf, on loopback.
#
#   npm run bench            (= bash bench/run.sh; settings through BENCH_* variables, see bench/README.md)
#
# Steps: install dnsperf + the upstream (NSD by default) when missing, build c2dns, generate bench/data/,
# start the authoritative upstream (CPU 1) and c2dns (CPU 0, query log "all" to bench/out/query.log),
# warm the cache, then BENCH_RUNS rounds of {rig ceiling, cached, blocked, mixed} saturated runs of
# BENCH_SECONDS each (dnsperf on CPU 1), then one fixed-rate latency run per workload at
# BENCH_LAT_FRACTION of its median qps. Writes bench/RESULTS.md and prints the table.
# Every process it starts is stopped by its PID on exit; everything listens on 127.0.0.1 only.
set -uo pipefail

B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$B")"
D="$B/data"
O="$B/out"

RUNS="${BENCH_RUNS:-3}"
SECS="${BENCH_SECONDS:-10}"
LAT_SECS="${BENCH_LAT_SECONDS:-5}"
LAT_FRAC="${BENCH_LAT_FRACTION:-0.5}"
CLIENTS="${BENCH_CLIENTS:-20}"
OUTST="${BENCH_OUTSTANDING:-100}"
PORT="${BENCH_PORT:-5380}"
UP_PORT="${BENCH_UPSTREAM_PORT:-5381}"
SCPU="${BENCH_SERVER_CPU:-0}"
GCPU="${BENCH_GEN_CPU:-1}"
UPSTREAM="${BENCH_UPSTREAM:-nsd}"
WORKLOADS="${BENCH_WORKLOADS:-cached blocked mixed}"
LIST_SIZE="${BENCH_LIST_SIZE:-10000}"
MAX_QPS="${BENCH_MAX_QPS:-100000}"
DO_INSTALL="${BENCH_INSTALL:-1}"
DO_BUILD="${BENCH_BUILD:-1}"
DO_CEILING="${BENCH_CEILING:-1}"
QUERY_LOG="${BENCH_QUERY_LOG:-all}"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

for v in RUNS SECS LAT_SECS CLIENTS OUTST PORT UP_PORT SCPU GCPU LIST_SIZE MAX_QPS; do
  is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"
done
[ "$RUNS" -ge 1 ] && [ "$SECS" -ge 1 ] && [ "$LAT_SECS" -ge 0 ] || die "BENCH_RUNS and BENCH_SECONDS must be >= 1"
[[ "$LAT_FRAC" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || die "BENCH_LAT_FRACTION must be in (0, 1], got '$LAT_FRAC'"
for w in $WORKLOADS; do case "$w" in cached|blocked|mixed) ;; *) die "unknown workload '$w' in BENCH_WORKLOADS (cached blocked mixed)" ;; esac; done
case "$QUERY_LOG" in all|blocked|none) ;; *) die "BENCH_QUERY_LOG must be all, blocked or none, got '$QUERY_LOG'" ;; esac
case "$UPSTREAM" in nsd|bind) ;; *) die "BENCH_UPSTREAM must be nsd or bind, got '$UPSTREAM'" ;; esac
[ "$PORT" != "$UP_PORT" ] || die "BENCH_PORT and BENCH_UPSTREAM_PORT must differ"

# ------------------------------------------------------------------ processes we own, stopped on exit
C_PID=""
UP_PID=""
stop_pid() { # PID NAME: SIGTERM, up to 10 s, then SIGKILL; only this PID
  local pid="$1" name="$2"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name (pid $pid) still running 10 s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; fi
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  stop_pid "$C_PID" c2dns; C_PID=""
  stop_pid "$UP_PID" upstream; UP_PID=""
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ prerequisites
command -v node >/dev/null || die "node not found (Node.js >= 20 is required)"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || die "Node.js >= 20 required, found $(node --version)"

find_bin() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
install_pkgs() {
  local sudo=""
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
    case "$svc" in nsd) s=nsd ;; bind9) s=named ;; *) continue ;; esac
    log "stopping and disabling the $s system service that the package just started (the bench runs its own instance)"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then
      $sudo "/etc/init.d/$s" stop >/dev/null 2>&1 || true
      $sudo update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  done
}

# bench/out holds this run's configs, logs and raw dnsperf output; it is rewritten every run.
rm -rf "$O"
mkdir -p "$O" "$D"

missing=()
[ -n "$(find_bin dnsperf)" ] || missing+=(dnsperf)
[ -n "$(find_bin taskset)" ] || missing+=(util-linux)
if [ "$UPSTREAM" = nsd ]; then [ -n "$(find_bin nsd)" ] || missing+=(nsd); else [ -n "$(find_bin named)" ] || missing+=(bind9); fi
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$DO_INSTALL" = 1 ] || die "missing packages: ${missing[*]} (BENCH_INSTALL=0)"
  install_pkgs "${missing[@]}"
fi
DNSPERF="$(find_bin dnsperf)"
NSD="$(find_bin nsd)"
NAMED="$(find_bin named)"

LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
NPROC="$(nproc)"
PINNED=1
if [ "$NPROC" -lt 2 ]; then
  log "WARNING: only $NPROC CPU: c2dns, dnsperf and the upstream share it (figures are not comparable)"
  SCPU=0; GCPU=0; PINNED=0
fi
{ [ "$SCPU" -lt "$NPROC" ] && [ "$GCPU" -lt "$NPROC" ]; } || die "BENCH_SERVER_CPU=$SCPU / BENCH_GEN_CPU=$GCPU: this machine has CPUs 0..$((NPROC - 1))"
[ "$SCPU" != "$GCPU" ] || [ "$PINNED" = 0 ] || die "BENCH_SERVER_CPU and BENCH_GEN_CPU must differ"

# ------------------------------------------------------------------ build + data
cd "$ROOT" || die "cannot cd to $ROOT"
if [ "$DO_BUILD" = 1 ]; then
  if [ ! -x node_modules/.bin/tsc ]; then
    log "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund >"$O/npm-ci.log" 2>&1 || die "npm ci failed, see $O/npm-ci.log"
  fi
  log "building c2dns (npm run build)"
  npm run build >"$O/build.log" 2>&1 || die "npm run build failed, see $O/build.log"
fi
[ -f "$ROOT/dist/src/cli.js" ] || die "dist/src/cli.js missing: run npm run build"

log "generating data in bench/data/ (kept between runs while the parameters do not change)"
node "$B/gen-data.mjs" --runs "$RUNS" --mixed-lines $((SECS * MAX_QPS)) --lat-lines $((LAT_SECS * MAX_QPS + 20)) \
  --list-size "$LIST_SIZE" >&2 || die "data generation failed"

for p in "$PORT" "$UP_PORT"; do
  node "$B/probe.mjs" free "$p" || die "127.0.0.1:$p is in use (set BENCH_PORT / BENCH_UPSTREAM_PORT)"
done

# ------------------------------------------------------------------ measurement helpers
HZ="$(getconf CLK_TCK)"
now() { date +%s.%N; }
# utime+stime (clock ticks, all threads) of one process; the comm field may contain spaces.
proc_ticks() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }; s="${s##*) }"; awk '{print $12 + $13}' <<<"$s"; }
# busy, total and steal ticks of one CPU (busy = user+nice+system+irq+softirq+steal)
core_ticks() { awk -v c="cpu$1" '$1 == c {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6, $9}' /proc/stat; }
# ns the process's main thread (the event loop) spent runnable but waiting for its CPU: mostly other
# processes on the core, plus the process's own helper threads (libuv pool writing the log, GC)
rq_wait_ns() { local w=0; read -r _ w _ <"/proc/$1/schedstat" 2>/dev/null; echo "${w:-0}"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
qps_of() { awk '/Queries per second:/ {print $4}' "$1"; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) {print 0; exit} if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
json_str() { local s="$1"; s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }
wait_ready() { # SECONDS PID check-command...
  local t="$1" pid="$2"; shift 2
  local end=$((SECONDS + t))
  while [ "$SECONDS" -lt "$end" ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# The query log is written asynchronously: wait until it stops growing (max 10 s) so the CPU
# spent writing a run's log lines is charged to that run.
settle_log() {
  local prev=-1 cur stable=0
  for _ in $(seq 1 100); do
    cur="$(stat -c %s "$O/query.log" 2>/dev/null || echo 0)"
    if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); [ "$stable" -ge 3 ] && return; else stable=0; fi
    prev="$cur"
    sleep 0.1
  done
}

qfile() { # WORKLOAD RUN|lat
  case "$1" in
    cached) echo "$D/queries-cached.txt" ;;
    blocked) echo "$D/queries-blocked.txt" ;;
    mixed) echo "$D/queries-mixed-$2.txt" ;;
    ceiling) echo "$D/queries-cached.txt" ;;
  esac
}

# One dnsperf run. KIND = c2dns|ceiling, PHASE = sat|lat, RATE = 0 for unlimited. Appends one JSON
# line to out/runs.jsonl (report.mjs parses the dnsperf output it names); sets LAST_QPS.
LAST_QPS=0
measure() { # KIND WORKLOAD RUN PHASE RATE DURATION
  local kind="$1" w="$2" run="$3" phase="$4" rate="$5" dur="$6"
  local qf out cpu port pid t0 t1 w0 w1 w2 cb0 ct0 cs0 cb1 ct1 cs1 rq0 rq1 lines=0
  qf="$(qfile "$w" "$run")"
  out="$O/dnsperf-$kind-$w-$phase-$run.txt"
  if [ "$kind" = ceiling ]; then cpu="$SCPU"; port="$UP_PORT"; pid="$UP_PID"; else cpu="$GCPU"; port="$PORT"; pid="$C_PID"; fi
  local cmd=(taskset -c "$cpu" "$DNSPERF" -s 127.0.0.1 -p "$port" -d "$qf" -c "$CLIENTS" -q "$OUTST" -l "$dur")
  [ "$rate" -gt 0 ] && cmd+=(-Q "$rate" -v)
  [ "$kind" = c2dns ] && : >"$O/query.log"
  t0="$(proc_ticks "$pid")"; rq0="$(rq_wait_ns "$C_PID")"; read -r cb0 ct0 cs0 < <(core_ticks "$SCPU"); w0="$(now)"
  "${cmd[@]}" >"$out" 2>&1 || log "dnsperf exited with $? ($out)"
  w1="$(now)"
  if [ "$kind" = c2dns ]; then settle_log; lines="$(wc -l <"$O/query.log" 2>/dev/null || echo 0)"; fi
  w2="$(now)"; t1="$(proc_ticks "$pid")"; rq1="$(rq_wait_ns "$C_PID")"; read -r cb1 ct1 cs1 < <(core_ticks "$SCPU")
  kill -0 "$pid" 2>/dev/null || die "$kind process $pid died during $w run $run (see $O/)"
  printf '{"kind":"%s","workload":"%s","run":"%s","phase":"%s","rate":%s,"duration":%s,"out":%s,"cmd":%s,"qfile":%s,"qfile_lines":%s,"ticks":%s,"hz":%s,"wall":%s,"wall_cpu":%s,"core_busy":%s,"core_total":%s,"core_steal":%s,"rq_wait_ns":%s,"log_lines":%s}\n' \
    "$kind" "$w" "$run" "$phase" "$rate" "$dur" "$(json_str "$out")" "$(json_str "${cmd[*]}")" "$(json_str "$qf")" \
    "$(wc -l <"$qf")" "$((t1 - t0))" "$HZ" "$(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.3f", b - a}')" "$(awk -v a="$w0" -v b="$w2" 'BEGIN {printf "%.3f", b - a}')" \
    "$((cb1 - cb0))" "$((ct1 - ct0))" "$((cs1 - cs0))" "$((rq1 - rq0))" "$lines" >>"$O/runs.jsonl"
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
if ! wait_ready 60 "$UP_PID" node "$B/probe.mjs" a "$UP_PORT" h000001.bench.test 10.0.0.1; then
  tail -5 "$O/upstream.log" >&2
  if [ "$UPSTREAM" = bind ] && grep -qs '^named (enforce)\|/usr/sbin/named (enforce)' /sys/kernel/security/apparmor/profiles; then
    log "named runs under an enforcing AppArmor profile that forbids reading $O: use BENCH_UPSTREAM=nsd (the default)"
  fi
  die "upstream did not answer on 127.0.0.1:$UP_PORT (log: $O/upstream.log)"
fi

# ------------------------------------------------------------------ c2dns
cat >"$O/c2dns.yaml" <<EOF
# generated by bench/run.sh (listen and upstream come from the command line)
lists:
  - name: bench
    path: "$D/blocklist.txt"
    format: plain
log:
  queries: $QUERY_LOG
  destination: "$O/query.log"
EOF
C_CMD=(taskset -c "$SCPU" node "$ROOT/dist/src/cli.js" serve --config "$O/c2dns.yaml" --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UP_PORT")
log "starting c2dns: ${C_CMD[*]}"
T_START="$(now)"
"${C_CMD[@]}" >"$O/c2dns.stdout.log" 2>"$O/c2dns.stderr.log" &
C_PID=$!
c2dns_ready() {
  node "$B/probe.mjs" a "$PORT" h000001.bench.test 10.0.0.1 && node "$B/probe.mjs" a "$PORT" www.zacharryblogs.com 0.0.0.0
}
wait_ready 120 "$C_PID" c2dns_ready || { tail -5 "$O/c2dns.stderr.log" >&2; die "c2dns did not become ready (log: $O/c2dns.stderr.log)"; }
STARTUP_S="$(awk -v a="$T_START" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')"
RSS_START="$(rss_kb "$C_PID")"
log "c2dns ready in ${STARTUP_S} s (pid $C_PID, RSS $((RSS_START / 1024)) MB)"

# Warm-up: two gentle passes over the 10,000 cached names; the second one must be all cache hits.
if [[ " $WORKLOADS " == *" cached "* || " $WORKLOADS " == *" mixed "* ]]; then
  log "warming the cache (2 passes over $D/queries-cached.txt)"
  for i in 1 2; do
    taskset -c "$GCPU" "$DNSPERF" -s 127.0.0.1 -p "$PORT" -d "$D/queries-cached.txt" -n 1 -c 4 -q 50 >"$O/warmup-$i.txt" 2>&1
  done
fi

cat >"$O/settings.json" <<EOF
{"started":"$STARTED","runs":$RUNS,"seconds":$SECS,"lat_seconds":$LAT_SECS,"lat_fraction":$(awk -v f="$LAT_FRAC" 'BEGIN {print f + 0}'),"clients":$CLIENTS,"outstanding":$OUTST,
 "port":$PORT,"upstream_port":$UP_PORT,"server_cpu":$SCPU,"gen_cpu":$GCPU,"pinned":$PINNED,"upstream":"$UPSTREAM","query_log":"$QUERY_LOG",
 "upstream_version":$(json_str "$UP_VERSION"),"upstream_cmd":$(json_str "${UP_CMD[*]}"),"c2dns_cmd":$(json_str "${C_CMD[*]}"),
 "workloads":$(json_str "$WORKLOADS"),"list_size":$LIST_SIZE,"max_qps":$MAX_QPS,"startup_s":$STARTUP_S,"rss_start_kb":$RSS_START,
 "dnsperf":$(json_str "$DNSPERF"),"ceiling":$DO_CEILING,"loadavg_start":$(json_str "$LOADAVG_START")}
EOF

# ------------------------------------------------------------------ saturated runs, interleaved
# Each round runs every workload once, so a slow phase of the (shared) machine hits all of them.
declare -A QPS
for r in $(seq 1 "$RUNS"); do
  if [ "$DO_CEILING" = 1 ]; then
    measure ceiling ceiling "$r" sat 0 "$SECS"; q="$LAST_QPS"
    log "round $r/$RUNS  rig ceiling (dnsperf -> $UPSTREAM): ${q%.*} qps"
  fi
  for w in $WORKLOADS; do
    measure c2dns "$w" "$r" sat 0 "$SECS"; q="$LAST_QPS"; QPS[$w]+="$q "
    log "round $r/$RUNS  $w: ${q%.*} qps"
  done
done

# ------------------------------------------------------------------ latency at a fixed fraction of the median max
if [ "$LAT_SECS" -gt 0 ]; then
  for w in $WORKLOADS; do
    med="$(tr ' ' '\n' <<<"${QPS[$w]}" | grep . | median)"
    rate="$(awk -v m="$med" -v f="$LAT_FRAC" 'BEGIN {r = int(m * f); print (r < 1 ? 1 : r)}')"
    measure c2dns "$w" lat lat "$rate" "$LAT_SECS"; q="$LAST_QPS"
    log "latency $w at -Q $rate: achieved ${q%.*} qps"
  done
fi

RSS_END="$(rss_kb "$C_PID")"
T_STOP="$(now)"
stop_pid "$C_PID" c2dns
C_EXIT=0; [ -s "$O/c2dns.stderr.log" ] && grep -q '"msg":"stopped"' "$O/c2dns.stderr.log" || C_EXIT=1
STOP_S="$(awk -v a="$T_STOP" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')"
C_PID=""
stop_pid "$UP_PID" upstream; UP_PID=""
printf '{"rss_end_kb":%s,"stop_s":%s,"stopped_cleanly":%s}\n' "$RSS_END" "$STOP_S" "$([ "$C_EXIT" = 0 ] && echo true || echo false)" >"$O/end.json"

node "$B/report.mjs" "$O" "$B/RESULTS.md" || die "report failed"
log "done: $B/RESULTS.md (raw output in $O/)"
