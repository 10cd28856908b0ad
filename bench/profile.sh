#!/usr/bin/env bash
# Per-query CPU of c2dns measured so that a busy, shared machine does not change the figure:
# instructions per query counted by Valgrind (callgrind), or a V8 CPU profile (--cpu-prof) to see
# where they go. Wall-clock and CPU-time figures depend on what else runs; instruction counts do not.
#
#   bash bench/profile.sh [--profile full|lean] [--workload cached|blocked|mixed|miss] [--list 10000]
#                         [--queries N=1500] [--rate QPS=100] [--tool callgrind|cpuprof|cputime|syscalls]
#                         [--no-build | --dist DIR] [--udp-batch auto|on|off] [--fresh | --warm-file]
#
# Builds the working tree into bench/out/profile/dist (not dist/, which others may be building;
# --dist DIR: measure another build, e.g. an older commit's, instead; the native UDP batch addon of
# build/ is linked into it, and --udp-batch sets server.udpBatch: on = the addon, off = node:dgram),
# starts NSD on the bench zone (bench/data from bench/gen-data.mjs, the files bench/run.sh uses), then
# c2dns with the same "full" (the npm start defaults with the query log to a file) or "lean" (query
# log, history and admin off) configuration as bench/run.sh, on one core, under the tool. A warm-up
# pass fills the cache; then dnsperf sends --queries queries at --rate q/s (modest: Valgrind runs
# c2dns ~50x slower; a lost query makes the figure unreliable) and only that window is counted.
# --workload miss: every query is an upstream miss, as bench/run.sh's 100 %-miss workload (names
# under the zone's wildcard, TAG-NNNNNNNN.wild.bench.test A), each pass and window with names of its
# own, so the warm-up takes the miss path and never fills the cache with what is measured.
# --fresh (blocked, mixed): each warm-up pass and window sends the next QUERIES lines of the query file
# instead of its first QUERIES lines every time, so the window's names were never asked before (the
# bench's first pass over its file: rules first asked, table rows first read). --warm-file (blocked,
# mixed): the warm-up sends the whole query file once (at 2x --rate), then each window the next
# QUERIES lines from its start: names asked before, with the file's whole working set (the bench's
# ~92k distinct names at 1M) between two asks of one name, as in the bench's later passes. Without
# either, QUERIES names repeat (a working set that stays in the CPU caches). Prints one line:
#   profile=full workload=cached list=10000 answered=1500 lost=0 instructions_per_query=N (...)
# (callgrind: the main thread, which runs JS, GC and libuv (node --single-threaded), without V8's
# compiling, GC (reported beside it) and the timers' idle rate; the libuv pool's share of the query log's writes
# is a few instructions a query; outputs kept in bench/out/profile for callgrind_annotate) or the
# .cpuprofile path (cpuprof; node bench/cpuprof-top.mjs FILE --last=SECONDS shows where it went), or
# CPU µs per query of three windows (cputime: plain node, for A/B runs taken in turns; it moves with
# the machine's load), or system calls per query (syscalls: strace -c on every thread over one
# window, plain node: the kernel's side, which callgrind does not count, free of the machine's load).
# Two runs at once: give each its own PROFILE_OUT, PROFILE_PORT, PROFILE_UPSTREAM_PORT and PROFILE_ADMIN_PORT.
# Every process it starts is stopped by its PID on exit.
set -uo pipefail
{ # read whole before it runs: editing this file during a run does not change the run

B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$B")"
D="$B/data"
O="${PROFILE_OUT:-$B/out/profile}" # PROFILE_OUT: a directory of its own for a second profile run at the same time
log() { printf '[profile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

DIST="$O/dist" PROFILE=full WORKLOAD=cached LIST=10000 QUERIES=1500 RATE=100 TOOL=callgrind BUILD=1 UDP_BATCH=auto SPREAD=
PORT="${PROFILE_PORT:-5490}" UP_PORT="${PROFILE_UPSTREAM_PORT:-5481}" ADMIN="${PROFILE_ADMIN_PORT:-9490}"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:-}"; shift 2 ;;
    --workload) WORKLOAD="${2:-}"; shift 2 ;;
    --list) LIST="${2:-}"; shift 2 ;;
    --queries) QUERIES="${2:-}"; shift 2 ;;
    --rate) RATE="${2:-}"; shift 2 ;;
    --tool) TOOL="${2:-}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --udp-batch) UDP_BATCH="${2:-}"; shift 2 ;;
    --dist) DIST="${2:-}"; BUILD=0; shift 2 ;;
    --fresh) SPREAD=fresh; shift ;;
    --warm-file) SPREAD=warm-file; shift ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$PROFILE" in full|lean) ;; *) die "--profile must be full or lean, got '$PROFILE'" ;; esac
case "$WORKLOAD" in cached|blocked|mixed|miss) ;; *) die "--workload must be cached, blocked, mixed or miss, got '$WORKLOAD'" ;; esac
case "$TOOL" in callgrind|cpuprof|cputime|syscalls) ;; *) die "--tool must be callgrind, cpuprof, cputime or syscalls, got '$TOOL'" ;; esac
case "$UDP_BATCH" in auto|on|off) ;; *) die "--udp-batch must be auto, on or off, got '$UDP_BATCH'" ;; esac
case "$SPREAD:$WORKLOAD" in :*|*:blocked|*:mixed) ;; *) die "--$SPREAD needs --workload blocked or mixed" ;; esac
for v in LIST QUERIES RATE PORT UP_PORT ADMIN; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"; done
for b in dnsperf nsd valgrind taskset $([ "$TOOL" = syscalls ] && echo strace); do command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b is not installed"; done
NSD="$(command -v nsd || echo /usr/sbin/nsd)"

UP_PID="" C_PID=""
stop() { # PID: SIGTERM, then SIGKILL after 30 s (Valgrind writes its output on exit)
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
trap 'stop "$C_PID"; stop "$UP_PID"' EXIT

mkdir -p "$O"
if [ "$BUILD" = 1 ]; then
  log "building into $O/dist"
  rm -rf "$O/dist"
  (cd "$ROOT" && npx tsc -p tsconfig.json --outDir "$O/dist") || die "build failed"
  cp -r "$ROOT/src/admin/console/assets" "$O/dist/src/admin/console/assets"
  # The addon is looked up beside dist/ (src/server/udp-batch.ts): dist/build -> build.
  ln -sfn "$ROOT/build" "$O/dist/build"
  # Packages resolve from the build's ancestors: a PROFILE_OUT outside the repo (/tmp/...) has none.
  [ -e "$O/node_modules" ] || ln -sfn "$ROOT/node_modules" "$O/node_modules"
fi
[ -f "$DIST/src/cli.js" ] || die "no build in $DIST (run without --no-build)"
case "$WORKLOAD" in
  cached) QF="$D/queries-cached.txt" ;;
  blocked) QF="$D/queries-blocked-$LIST.txt" ;;
  mixed) QF="$D/queries-mixed-$LIST-lat.txt" ;;
  miss) QF="" ;; # written per pass (never-cached names, below)
esac
# bench/run.sh's files are used as they are (gen-data rewrites them when its parameters differ from
# the last run's); made with run.sh's default parameters only when missing.
if { [ -n "$QF" ] && [ ! -f "$QF" ]; } || [ ! -f "$D/blocklist-$LIST.txt" ] || [ ! -f "$D/bench.test.zone" ]; then
  node "$B/gen-data.mjs" --sizes "$LIST" --runs 3 --mixed-lines 2000000 --lat-lines 1000020 >&2 || die "data generation failed"
fi
node "$B/probe.mjs" free "$PORT" "$UP_PORT" "$ADMIN" || die "a port is in use (PROFILE_PORT, PROFILE_UPSTREAM_PORT, PROFILE_ADMIN_PORT)"

# Upstream: NSD authoritative for bench.test (answers the cache's warm-up and the mixed misses), its
# files in a directory of its own per port (two runs on other ports may share the machine).
UPD="$O/upstream-$UP_PORT"
mkdir -p "$UPD"
{
  echo "server:"
  for kv in "ip-address: 127.0.0.1@$UP_PORT" "port: $UP_PORT" "server-count: 1" 'username: ""' 'chroot: ""' "zonesdir: \"$D\"" 'database: ""' \
    "zonelistfile: \"$UPD/zone.list\"" "xfrdfile: \"$UPD/xfrd.state\"" "xfrdir: \"$UPD\"" "pidfile: \"$UPD/nsd.pid\"" "logfile: \"$UPD/nsd.log\"" \
    "rrl-ratelimit: 0" "rrl-whitelist-ratelimit: 0"; do echo "    $kv"; done
  printf 'remote-control:\n    control-enable: no\nzone:\n    name: "bench.test"\n    zonefile: "bench.test.zone"\n'
} >"$UPD/nsd.conf"
"$NSD" -d -c "$UPD/nsd.conf" >>"$UPD/nsd.log" 2>&1 &
UP_PID=$!
node "$B/probe.mjs" wait "$UP_PORT" 60 "$UP_PID" h000001.bench.test=10.0.0.1 || die "NSD did not answer (log: $UPD/nsd.log)"

# c2dns: bench/run.sh's "full" and "lean".
RUN="$O/run-$TOOL-$PROFILE-$WORKLOAD-$PORT"
rm -rf "$RUN" && mkdir -p "$RUN"
{
  printf 'lists:\n  - name: bench\n    path: "%s"\n    format: plain\n    tags: [c2]\n' "$D/blocklist-$LIST.txt"
  printf 'state:\n  dir: "%s/state"\nlog:\n  queries: %s\n  destination: "%s/query.log"\n' "$RUN" "$([ "$PROFILE" = lean ] && echo none || echo all)" "$RUN"
  if [ "$PROFILE" = lean ]; then printf 'history:\n  enabled: false\nadmin:\n  enabled: false\n'; else printf 'admin:\n  listen: "127.0.0.1:%s"\n' "$ADMIN"; fi
  printf 'server:\n  udpBatch: %s\n' "$UDP_BATCH"
} >"$RUN/c2dns.yaml"
CLI=(node "$DIST/src/cli.js" serve --config "$RUN/c2dns.yaml" --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$UP_PORT")
OUTF="$O/$TOOL-$PROFILE-$WORKLOAD-$LIST-udp$UDP_BATCH${SPREAD:+-$SPREAD}-$(basename "$(dirname "$DIST/x")")"
rm -f "$OUTF".*
if [ "$TOOL" = callgrind ]; then
  # Counting starts switched off (start-up and warm-up are not counted); --smc-check for V8's JIT code.
  # One output per thread: the main thread (JS, its GC pauses, libuv) is the figure; V8's compiler and
  # GC helper threads and the libuv pool (query log writes) are reported beside it.
  # V8 --single-threaded: TurboFan compiles on the main thread when a function gets hot (during the
  # warm-up), not on a helper thread that Valgrind runs so slowly that the measured window would
  # still run baseline code and count the compiler; GC runs on the main thread too, so its share is
  # counted in full.
  CMD=(valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file --separate-threads=yes "--callgrind-out-file=$OUTF.out" node --single-threaded "${CLI[@]:1}")
elif [ "$TOOL" = cpuprof ]; then
  mkdir -p "$OUTF.d"
  CMD=(node --cpu-prof --cpu-prof-dir "$OUTF.d" "${CLI[@]:1}")
else
  CMD=("${CLI[@]}")
fi
log "starting: ${CMD[*]}"
taskset -c 0 "${CMD[@]}" >"$RUN/stdout.log" 2>"$RUN/stderr.log" &
C_PID=$!
node "$B/probe.mjs" wait "$PORT" 600 "$C_PID" h000001.bench.test=10.0.0.1 www.zacharryblogs.com=0.0.0.0 ||
  { tail -5 "$RUN/stderr.log" >&2; die "c2dns did not become ready"; }

# dnsperf sends exactly QUERIES queries (the first lines of the file, once) at RATE q/s at most.
[ -z "$QF" ] || head -n "$QUERIES" "$QF" >"$RUN/queries.txt"
# --fresh / --warm-file: slice K (1-based) is lines (K-1)*QUERIES+1 … K*QUERIES of the file.
slice() {
  awk -v a="$(( ($1 - 1) * QUERIES ))" -v b="$(( $1 * QUERIES ))" 'NR > a && NR <= b' "$QF" >"$RUN/queries.txt"
  [ "$(wc -l <"$RUN/queries.txt")" = "$QUERIES" ] || die "$QF has fewer than $(( $1 * QUERIES )) lines: lower --queries"
}
# Before each pass (TAG: wN warm-up N, mN window N): miss: QUERIES names this c2dns has never seen,
# tagged by pass (bench/gen-data.mjs's miss names); --fresh: the pass's own slice (warm-up passes
# first, then the windows); --warm-file: window N's slice.
fresh() {
  local k="${1:1}"
  if [ -z "$QF" ]; then awk -v n="$QUERIES" -v tag="$1" 'BEGIN {for (i = 0; i < n; i++) printf "%s-%08d.wild.bench.test A\n", tag, i}' >"$RUN/queries.txt"
  elif [ "$SPREAD" = fresh ]; then if [ "${1:0:1}" = m ]; then slice $((PASSES + k)); else slice "$k"; fi
  elif [ "$SPREAD" = warm-file ] && [ "${1:0:1}" = m ]; then slice "$k"
  fi
}
perf() { # RATE -> dnsperf output
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$RUN/queries.txt" -n 1 -c 4 -q 50 -Q "$1" -l 600 -t 30 2>&1
}
# Warm-up: the first pass fills the cache with every name the measurement asks and the next ones
# take the paths it takes (cache hits), until V8 has optimised them (at least 6,000 queries; losses
# do not matter here). A path first taken in the measured window would count its compilation.
PASSES=$(( (6000 + QUERIES - 1) / QUERIES )); [ "$PASSES" -ge 3 ] || PASSES=3
if [ "$SPREAD" = warm-file ]; then
  log "warm-up: the whole query file ($(wc -l <"$QF") queries) at $((RATE * 2)) q/s"
  cp "$QF" "$RUN/queries.txt"
  perf $((RATE * 2)) >>"$RUN/warm.txt"
else
  log "warm-up: $PASSES passes of $QUERIES queries at $((RATE * 2)) q/s"
  for p in $(seq 1 "$PASSES"); do fresh "w$p"; perf $((RATE * 2)) >>"$RUN/warm.txt"; done
fi
sleep 1
IDLE=5
WINDOWS=2
if [ "$TOOL" = callgrind ]; then
  # Two windows in a row, each dumped (parts 1 and 2): V8 may still be optimising or re-optimising
  # a path in the first; the lower figure is the steady state. The timers (history flush, query log,
  # sweeps) run whether queries come or not: an idle stretch after them (part 3) measures them per
  # second, and that share of each window is taken off.
  callgrind_control -i on "$C_PID" >/dev/null || die "callgrind_control failed"
elif [ "$TOOL" = cpuprof ] || [ "$TOOL" = syscalls ]; then
  WINDOWS=1
else
  WINDOWS=3
fi
# cputime: the process's user + system CPU (all threads, clock ticks) over each window. Depends on
# what else runs on the machine: for A/B runs taken in turns, not for absolute figures.
ticks() { local st; st="$(cat "/proc/$C_PID/stat")"; st="${st##*) }"; awk '{print $12 + $13}' <<<"$st"; }
CPU=()
SECS=()
for w in $(seq 1 "$WINDOWS"); do
  log "measuring (window $w): $QUERIES queries at $RATE q/s"
  fresh "m$w"
  K0=$(ticks)
  T0=$(date +%s.%N)
  S_PID=""
  if [ "$TOOL" = syscalls ]; then
    strace -f -c -p "$C_PID" -o "$OUTF.strace" 2>/dev/null &
    S_PID=$!
    sleep 1 # attached to every thread
  fi
  perf "$RATE" >"$RUN/measure.txt"
  sleep 1 # the query log's and history's deferred writes of this window
  [ -z "$S_PID" ] || { kill -INT "$S_PID"; wait "$S_PID" 2>/dev/null; }
  T1=$(date +%s.%N)
  CPU+=($(( $(ticks) - K0 )))
  SECS+=("$(awk -v a="$T0" -v b="$T1" 'BEGIN {print b - a}')")
  LOST_W="$(awk '/Queries lost:/ {print $3}' "$RUN/measure.txt")"
  [ "${LOST_W:-1}" = 0 ] || log "WARNING: window $w: $LOST_W queries lost (c2dns did not keep up under the tool): figure unreliable, lower --rate"
  [ "$TOOL" = callgrind ] && callgrind_control -d "$C_PID" >/dev/null
done
if [ "$TOOL" = callgrind ]; then
  sleep "$IDLE"
  callgrind_control -d "$C_PID" >/dev/null # the idle part
  callgrind_control -i off "$C_PID" >/dev/null
fi
ANSWERED="$(awk '/Queries completed:/ {print $3}' "$RUN/measure.txt")"
LOST="$(awk '/Queries lost:/ {print $3}' "$RUN/measure.txt")"
stop "$C_PID"; C_PID=""
if [ "$TOOL" = callgrind ]; then
  # Dumps are named OUT.PART-THREAD; thread 01 is the main thread.
  tot() { cat "$@" 2>/dev/null | awk '/^totals:/ {s += $2} END {print s + 0}'; }
  # Taken off and reported beside the figure, as their timing varies run to run: V8 compiling
  # (tiering a function up, lazily compiling one: a one-off, not a per-query cost) and GC (a
  # scavenge or a mark-compact falls into a 1,500-query window or not: up to ±10,000 a query; its
  # share grows with what is allocated and kept, so compare it over several windows and runs).
  incl() { callgrind_annotate --inclusive=yes --threshold=100 "$2" 2>/dev/null | awk -v re="$1" '$0 ~ re {gsub(",", "", $1); s += $1} END {print s + 0}'; }
  JIT_RE='v8::internal::Runtime_Compile[A-Za-z]*\('
  GC_RE='v8::internal::(IncrementalMarking::Step|Heap::CollectGarbage)\('
  IP=$((WINDOWS + 1))
  I_MAIN="$(tot "$OUTF.out.$IP-01")"; I_JIT="$(incl "$JIT_RE" "$OUTF.out.$IP-01")"; I_GC="$(incl "$GC_RE" "$OUTF.out.$IP-01")"
  [ -n "$ANSWERED" ] && [ "$ANSWERED" -gt 0 ] || die "no answers (see $RUN/measure.txt)"
  RESULTS=""
  for w in $(seq 1 "$WINDOWS"); do
    W_MAIN="$(tot "$OUTF.out.$w-01")"; W_JIT="$(incl "$JIT_RE" "$OUTF.out.$w-01")"; W_GC="$(incl "$GC_RE" "$OUTF.out.$w-01")"
    [ "$W_MAIN" -gt 0 ] || die "no counts in $OUTF.out.$w-01"
    RESULTS="$RESULTS$(awk -v wm="$W_MAIN" -v wj="$W_JIT" -v wg="$W_GC" -v im="$I_MAIN" -v ij="$I_JIT" -v ig="$I_GC" -v secs="${SECS[$((w - 1))]}" -v idle="$IDLE" -v n="$ANSWERED" 'BEGIN {
      printf "%d %d %d %.1f\n", (wm - wj - wg - (im - ij - ig) / idle * secs) / n, wj / n, wg / n, secs }')
"
  done
  echo "$RESULTS" | awk -v head="profile=$PROFILE workload=$WORKLOAD list=$LIST udp_batch=$UDP_BATCH answered=$ANSWERED/window lost=$LOST" -v idle="$(awk -v im="$I_MAIN" -v ij="$I_JIT" -v ig="$I_GC" -v idle="$IDLE" 'BEGIN {print int((im - ij - ig) / idle)}')" '
    NF == 4 { if (best == "" || $1 < best) best = $1; w = w sprintf("%s%d (JIT %d, GC %d, %.1f s)", (w == "" ? "" : "; "), $1, $2, $3, $4) }
    END { printf "%s instructions_per_query=%d (main thread, the lower of the windows: %s; taken off per window: JIT compiling, GC and the idle rate %d/s)\n", head, best, w, idle }'
elif [ "$TOOL" = cpuprof ]; then
  echo "profile=$PROFILE workload=$WORKLOAD list=$LIST answered=$ANSWERED cpuprofile=$(ls "$OUTF.d"/*.cpuprofile)"
elif [ "$TOOL" = syscalls ]; then
  # strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall; "total" last.
  awk -v n="$ANSWERED" -v head="profile=$PROFILE workload=$WORKLOAD list=$LIST udp_batch=$UDP_BATCH answered=$ANSWERED lost=$LOST" '
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c[$NF] = $4; order[++k] = $NF }
    $NF == "total" { total = $4 }
    END { for (i = 1; i <= k; i++) if (c[order[i]] / n >= 0.05) top = top sprintf("%s%s %.2f", (top == "" ? "" : ", "), order[i], c[order[i]] / n)
          printf "%s syscalls_per_query=%.2f (every thread, one window, strace -c; those at 0.05 a query or more: %s)\n", head, total / n, top }' "$OUTF.strace"
else
  ALLW="$(printf '%s\n' "${CPU[@]}" | awk -v hz="$(getconf CLK_TCK)" -v n="$ANSWERED" '{printf "%s%.1f", (NR > 1 ? " " : ""), $1 / hz * 1e6 / n}')"
  MED="$(tr ' ' '\n' <<<"$ALLW" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
  echo "profile=$PROFILE workload=$WORKLOAD list=$LIST udp_batch=$UDP_BATCH answered=$ANSWERED/window lost=$LOST cpu_us_per_query=$MED (median of windows: $ALLW; user+system, all threads)"
fi
[ "$TOOL" != callgrind ] || log "callgrind output: $OUTF.out.1-01 (the window, main thread; callgrind_annotate)"
exit 0
}
