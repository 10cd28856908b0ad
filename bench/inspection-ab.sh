#!/usr/bin/env bash
# Response inspection's cost, A/B in one run (issue 8): the same build started twice with the
# "full" profile that `npm start` gives (query log, history, admin/metrics, events), once with
# blocking.inspectResponses true (the default) and once false, driven alternately with the mixed
# workload (80 % cached / 15 % blocked / 5 % misses) by dnsperf. CPU µs per answered query from
# /proc/PID/stat, per round; prints the medians and the paired difference. Needs `npm run bench`
# to have generated bench/data and bench/out/upstream (NSD) once.
#   ROUNDS=5 SECS=5 LIST=10000 bash bench/inspection-ab.sh
set -uo pipefail
B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; ROOT="$(dirname "$B")"; D="$B/data"; O="$B/out/inspection-ab"
ROUNDS="${ROUNDS:-5}"; SECS="${SECS:-5}"; LIST="${LIST:-10000}"; UP_PORT=5381
[ -f "$D/blocklist-$LIST.txt" ] && [ -f "$B/out/upstream/nsd.conf" ] || { echo "run npm run bench once first (bench/data, bench/out/upstream)"; exit 1; }
rm -rf "$O"; mkdir -p "$O"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
taskset -c 1 /usr/sbin/nsd -d -c "$B/out/upstream/nsd.conf" >/dev/null 2>&1 & PIDS+=($!)
node "$B/probe.mjs" wait "$UP_PORT" 60 "${PIDS[0]}" h000001.bench.test=10.0.0.1 >/dev/null || { echo "NSD did not start"; exit 1; }
declare -A PORT=([on]=5396 [off]=5397) PID=()
for v in on off; do
  mkdir -p "$O/$v"
  cat >"$O/$v/c2dns.yaml" <<YAML
lists: [{ name: bench, path: "$D/blocklist-$LIST.txt", format: plain, tags: [c2] }]
state: { dir: "$O/$v/state" }
log: { queries: all, destination: "$O/$v/query.log" }
admin: { listen: "127.0.0.1:$((PORT[$v] + 4000))" }
blocking: { inspectResponses: $([ $v = on ] && echo true || echo false) }
YAML
  taskset -c 0 node "$ROOT/dist/src/cli.js" serve --config "$O/$v/c2dns.yaml" --listen "127.0.0.1:${PORT[$v]}" --upstream "127.0.0.1:$UP_PORT" >"$O/$v/out.log" 2>&1 &
  PID[$v]=$!; PIDS+=($!)
  node "$B/probe.mjs" wait "${PORT[$v]}" 60 "${PID[$v]}" h000001.bench.test=10.0.0.1 >/dev/null || { echo "c2dns ($v) did not start"; cat "$O/$v/out.log"; exit 1; }
  taskset -c 1 dnsperf -s 127.0.0.1 -p "${PORT[$v]}" -d "$D/queries-cached.txt" -n 1 -c 4 -q 50 >/dev/null 2>&1
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
for r in $(seq 1 "$ROUNDS"); do
  order="on off"; [ $((r % 2)) -eq 0 ] && order="off on"
  for v in $order; do
    c0=$(cpu "${PID[$v]}")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "${PORT[$v]}" -d "$D/queries-mixed-$LIST-1.txt" -c 20 -q 100 -l "$SECS" 2>&1)
    sleep 1
    c1=$(cpu "${PID[$v]}")
    n=$(echo "$out" | awk '/Queries completed:/ {print $3}')
    us=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t * 1e6 / n }')
    echo "round $r $v completed=$n us_per_query=$us load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$O/rounds.txt"
  done
done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const by = (v) => rows.filter((r) => r[2] === v).map((r) => Number(r[4].split("=")[1]));
const on = by("on"), off = by("off");
const diff = on.map((x, i) => x - off[i]);
console.log(`mixed ${process.argv[2]} names, ${on.length} rounds: inspection on ${med(on).toFixed(2)} µs/query, off ${med(off).toFixed(2)} µs/query, paired difference median ${med(diff).toFixed(2)} (min ${Math.min(...diff).toFixed(2)}, max ${Math.max(...diff).toFixed(2)})`);
' "$O/rounds.txt" "$LIST"
