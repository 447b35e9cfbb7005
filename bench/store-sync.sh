#!/usr/bin/env bash
# REGISTER/s with store_sync=ack against store_sync=batch. Over UDP (the default) every
# REGISTER of a phone is a binding write, so this is the cost of acknowledging only what is
# committed; over ws (the performance issue's load: browsers) bindings die with their flow and
# are never stored, so both modes should do the same.
# sipws (threads=1, auth=off, SQLite on the machine's disk) takes a closed-loop sipws-load
# register run per mode; the modes alternate ROUNDS times so that the machine's other load
# falls on both alike. Prints one line per run (rate, latency) and the median rate of each mode.
#
# Usage: bench/store-sync.sh BUILD_DIR [ROUNDS=3] [SECONDS=10] [CONNECTIONS=50] [udp|ws]
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n 2,10p "$0"; exit 2; }
build=$1 rounds=${2:-3} seconds=${3:-10} conns=${4:-50} transport=${5:-udp}
case $transport in udp|ws) ;; *) echo "transport must be udp or ws" >&2; exit 2 ;; esac
source "$(dirname "$0")/lib.sh"
bench_init

# run MODE: one sipws on a fresh store, one measured load run; prints REGISTER/s.
run() {
  local mode=$1 port=$((39000 + RANDOM % 1000))
  rm -rf "$dir/s.db"*
  "$build/sipws" run --set "listen=$transport:127.0.0.1:$port" --set threads=1 --set auth=off \
    --set media_anchor=never --set domain=localhost --set "store=sqlite:$dir/s.db" \
    --set "store_sync=$mode" --set log_level=warn --set "admin_listen=127.0.0.1:$((port + 1000))" \
    --set flood_max_requests=0 --set ws_max_message_rate=0 --set ws_max_connections_per_ip=0 \
    >"$dir/log" 2>&1 &
  local pid=$!
  track "$pid"
  wait_ready "$dir/log" "$pid"
  local target="udp:127.0.0.1:$port"
  [[ $transport == ws ]] && target="ws://127.0.0.1:$port"
  "$build/sipws-load" register --target "$target" --domain localhost \
    --connections "$conns" --duration "$seconds" --warmup 2 --quiet --json "$dir/r.json" \
    >/dev/null
  kill "$pid" && wait "$pid" 2>/dev/null || true
  untrack "$pid"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); l=j["latency_ms"]
print(round(j["ops_per_s"]), l["p50"], l["p99"], j["error_rate"])' "$dir/r.json"
}

declare -A all
for r in $(seq "$rounds"); do
  for mode in ack batch; do
    read -r rate p50 p99 err < <(run "$mode")
    echo "round $r $mode: $rate REGISTER/s, latency p50 $p50 ms p99 $p99 ms, error rate $err"
    all[$mode]+="$rate "
  done
done
for mode in ack batch; do
  median=$(printf '%s\n' ${all[$mode]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$mode median: $median REGISTER/s"
done
