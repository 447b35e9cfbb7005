#!/usr/bin/env bash
# One round of sipws-load suites against one sipws binary, for before/after comparisons of a
# change (run it alternately for the old and the new binary, 3 rounds each, and take medians):
#   bench/ab.sh OLD_BIN old; bench/ab.sh NEW_BIN new; bench/ab.sh OLD_BIN old; ...
# Prints "LABEL suite ops/s server_cpu_us_per_op p50_ms p99_ms server_pss_kb" per suite:
# ws-register (auth=off), udp-register, ws-call (WS -> a `sipws-load respond` UAS over UDP),
# ws-register-digest (50 users load1000..load1049, password = user name, made once per LABEL).
# Ports 38080/38081/35060/35070 on 127.0.0.1; state in /tmp/sipws-ab/LABEL. Needs jq.
# SIPWS_SETS="threads=1 ..." adds `--set` overrides to the daemon (e.g. one shard against two).
set -euo pipefail
BIN=$1
L=$2
LOAD=${LOAD:-$(dirname "$BIN")/sipws-load}
D=/tmp/sipws-ab/$L
mkdir -p "$D"
P=""
R=""
cleanup() {
  [[ -n $R ]] && kill "$R" 2>/dev/null || true
  [[ -n $P ]] && kill "$P" 2>/dev/null || true
}
trap cleanup EXIT
if [[ ! -f $D/users.done ]]; then
  for i in $(seq 1000 1049); do
    "$BIN" user add "load$i@localhost" "load$i" --set "store=sqlite:$D/s.db" >/dev/null
  done
  touch "$D/users.done"
fi
start() { # AUTH
  "$BIN" run --set auth="$1" --set media_anchor=never \
    --set listen=ws:127.0.0.1:38080,udp:127.0.0.1:35060 --set admin_listen=127.0.0.1:38081 \
    --set "store=sqlite:$D/s.db" --set domain=localhost --set ws_max_message_rate=0 \
    --set ws_max_connections_per_ip=0 --set flood_max_requests=0 \
    $(for x in ${SIPWS_SETS:-}; do printf -- '--set %s ' "$x"; done) >"$D/d.log" 2>&1 &
  P=$!
  for _ in $(seq 100); do grep -q "sipws ready" "$D/d.log" && return; sleep 0.1; done
  echo "ab.sh: $BIN did not start, see $D/d.log" >&2
  exit 1
}
stop() { kill "$P"; wait "$P" 2>/dev/null || true; P=""; }
run() { # SUITE ARGS...
  local s=$1
  shift
  timeout 30 "$LOAD" "$@" --duration 5 --warmup 1 --quiet --pid "$P" --json "$D/$s.json" \
    >/dev/null 2>&1 || true
  jq -r --arg l "$L" --arg s "$s" \
    '"\($l) \($s) \(.ops_per_s|floor) \(.pids[0].cpu_us_per_op) \(.latency_ms.p50) \(.latency_ms.p99) \(.pids[0].pss_kb)"' \
    "$D/$s.json"
}
start off
run ws-register register --target ws://127.0.0.1:38080 --domain localhost --connections 50
run udp-register register --target udp:127.0.0.1:35060 --domain localhost --connections 50
"$LOAD" respond --listen udp:127.0.0.1:35070 --duration 30 >/dev/null 2>&1 &
R=$!
for _ in $(seq 50); do ss -lun | grep -q ':35070 ' && break; sleep 0.1; done
run ws-call call --target ws://127.0.0.1:38080 --domain localhost --connections 50 \
  --to sip:uas@127.0.0.1:35070
kill "$R"
wait "$R" 2>/dev/null || true
R=""
stop
start digest
run ws-register-digest register --target ws://127.0.0.1:38080 --domain localhost --connections 50
stop
