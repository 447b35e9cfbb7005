#!/usr/bin/env bash
# User-space instructions of the whole daemon per REGISTER, counted by callgrind (which the
# machine's other load does not change): sipws runs under valgrind with threads=1 while
# sipws-load sends COUNT REGISTERs over 50 connections, closed loop.
#
# Usage: bench/callgrind-register.sh BUILD_DIR ws|udp off|digest COUNT OUT.callgrind
#   then: callgrind_annotate --inclusive=yes OUT.callgrind | less
# Run it for two counts (e.g. 2000 and 6000) and divide the difference of the totals by the
# difference of the counts: start-up (certificate loading, ~200 M instructions) cancels out.
# digest: 50 subscribers load1000..load1049 (password = name), as sipws-load expects.
set -euo pipefail
[[ $# -eq 5 ]] || { sed -n 2,10p "$0"; exit 2; }
build=$1 transport=$2 auth=$3 count=$4 out=$5
case $transport in ws|udp) ;; *) echo "transport must be ws or udp" >&2; exit 2 ;; esac
case $auth in off|digest) ;; *) echo "auth must be off or digest" >&2; exit 2 ;; esac
port=$((38000 + RANDOM % 1000))
source "$(dirname "$0")/lib.sh"
bench_init
store="sqlite:$dir/s.db"
if [[ $auth == digest ]]; then
  "$build/sipws" user add load1000@localhost load1000 --set "store=$store" >/dev/null
  seq 1001 1049 | xargs -P 2 -I{} "$build/sipws" user add "load{}@localhost" "load{}" \
    --set "store=$store" >/dev/null
fi
valgrind --tool=callgrind --callgrind-out-file="$out" "$build/sipws" run \
  --set "listen=$transport:127.0.0.1:$port" --set threads=1 --set "auth=$auth" \
  --set media_anchor=never --set domain=localhost --set "store=$store" --set log_level=warn \
  --set "admin_listen=127.0.0.1:$((port + 1000))" --set "dev_cert_dir=$dir" \
  --set ws_max_connections=0 --set ws_max_connections_per_ip=0 --set ws_max_message_rate=0 \
  --set flood_max_requests=0 --set auth_max_failures=0 --set auth_max_user_failures=0 \
  >"$dir/log" 2>&1 &
pid=$!
track "$pid"
wait_ready "$dir/log" "$pid" 60  # valgrind starts slowly
target="ws://127.0.0.1:$port"
[[ $transport == udp ]] && target="udp:127.0.0.1:$port"
timeout 600 "$build/sipws-load" register --target "$target" --domain localhost --connections 50 \
  --count "$count" --duration 1000 --timeout 60000 --quiet
kill -INT "$pid"
wait "$pid" || true
untrack "$pid"
grep -E '^(summary|totals):' "$out"
