#!/usr/bin/env bash
# Memory after a burst: sipws (auth=off, SQLite) takes FLOWS WebSocket connections that each
# register (sipws-load connect), holds them HOLD seconds, then they all close. Prints sipws's
# resident memory before, at the peak, right after the close and every 5 s for 20 s: what
# release_free_memory() (every 10 s per shard) gives back. Run it a few times: when the
# allocator's segments empty differs from run to run.
#
# Usage: bench/burst-memory.sh BUILD_DIR [FLOWS=8000] [HOLD=3]
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n 2,8p "$0"; exit 2; }
build=$1 flows=${2:-8000} hold=${3:-3}
source "$(dirname "$0")/lib.sh"
bench_init
(( $(ulimit -n) > flows + 200 )) || ulimit -n $((flows + 200))

port=$((41000 + RANDOM % 1000))
"$build/sipws" run --set "listen=ws:127.0.0.1:$port" --set auth=off --set domain=localhost \
  --set "store=sqlite:$dir/s.db" --set log_level=warn --set "admin_listen=127.0.0.1:$((port + 1000))" \
  --set ws_max_connections=0 --set ws_max_connections_per_ip=0 >"$dir/log" 2>&1 &
pid=$!
track "$pid"
wait_ready "$dir/log" "$pid"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

echo "before: $(rss) kB"
"$build/sipws-load" connect --target "ws://127.0.0.1:$port" --domain localhost \
  --connections "$flows" --threads 2 --hold-for "$hold" --quiet --pid "$pid" |
  grep -E '^(connected|pid)'
echo "closed: $(rss) kB"
for t in 5 10 15 20; do
  sleep 5  # sampling a process's memory over time
  echo "+${t} s: $(rss) kB"
done
