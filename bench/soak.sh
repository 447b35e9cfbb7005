#!/usr/bin/env bash
# Soak (issue 18): sipws holds FLOWS idle registered WSS flows (keep-alive pings every
# ws_ping_interval, re-REGISTERs at half the expiry) while REG_RATE registrations/s over UDP
# (each a store write) and CALL_RATE calls/s (WS caller -> sipws -> WS callee, 1 s hold) churn,
# for SECONDS (all from 127.0.0.1: the per-IP, flood and message-rate limits are off, and so is
# ws_first_message_timeout, which would close the caller connections the call rate leaves
# unused). Every SAMPLE seconds it prints sipws's resident memory, open descriptors, open WS
# flows (opened - dead) and the error and close counters that moved; at the end each load's
# result. Fails (exit 1) when sipws died or exited non-zero (a sanitizer report), an idle flow
# was dropped, or a load's error rate reached 1 %.
#
# Usage: bench/soak.sh SIPWS_BIN LOAD_BIN [SECONDS=3600] [FLOWS=20000] [REG_RATE=200]
#                      [CALL_RATE=20] [SAMPLE=10]
#   SIPWS_BIN may be a sanitizer build; LOAD_BIN is sipws-load (a release build). The flows
#   are limited by the descriptor hard limit (ulimit -Hn): sipws and sipws-load each hold one
#   per flow. The samples also go to soak.csv in $SOAK_OUT (default: a temporary folder,
#   removed).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n 2,16p "$0"; exit 2; }
sipws=$1 load=$2 seconds=${3:-3600} flows=${4:-20000} reg_rate=${5:-200} call_rate=${6:-20}
sample=${7:-10}
source "$(dirname "$0")/lib.sh"
bench_init
out=${SOAK_OUT:-$dir}
mkdir -p "$out"

hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
if ((flows + 500 > hard)); then
  echo "soak: descriptor hard limit $hard: $((hard - 500)) idle flows instead of $flows" >&2
  flows=$((hard - 500))
fi
ulimit -n "$hard"

base=$((42000 + RANDOM % 2000))
udp=$base ws=$((base + 1)) wss=$((base + 2)) admin=$((base + 3))
"$sipws" run --set "listen=udp:127.0.0.1:$udp,ws:127.0.0.1:$ws,wss:127.0.0.1:$wss" \
  --set auth=off --set domain=localhost --set "store=sqlite:$dir/s.db" --set log_level=warn \
  --set "admin_listen=127.0.0.1:$admin" --set media_anchor=never --set flood_max_requests=0 \
  --set ws_max_connections=0 --set ws_max_connections_per_ip=0 --set ws_max_message_rate=0 \
  --set ws_first_message_timeout=0 --set "dev_cert_dir=$dir/certs" >"$out/sipws.log" 2>&1 &
spid=$!
track "$spid"
wait_ready "$out/sipws.log" "$spid" 30

metrics() { curl -sf --max-time 5 "http://127.0.0.1:$admin/metrics" || true; }
metric() { awk -v n="sipws_$2" '$1 == n {print $2; f=1} END {if (!f) print 0}' <<<"$1"; }

# run_load NAME ARGS...: one sipws-load in the background (PID in load_pid[NAME]), its JSON
# report in $dir/NAME.json.
declare -A load_pid
run_load() {
  local name=$1
  shift
  "$load" "$@" --json "$dir/$name.json" >"$dir/$name.out" 2>"$dir/$name.err" &
  track "$!"
  load_pid[$name]=$!
}
# wait_line NAME REGEX SECONDS: waits until NAME's stderr shows REGEX.
wait_line() {
  for _ in $(seq $(($3 * 10))); do
    grep -Eq "$2" "$dir/$1.err" && return 0
    sleep 0.1  # polling a line of a process we started, bounded
  done
  echo "soak: $1 did not print '$2' within $3 s" >&2
  cat "$dir/$1.err" >&2
  return 1
}

echo "soak: $flows idle WSS flows, $reg_rate REGISTER/s (UDP), $call_rate calls/s (WS), ${seconds} s"
t0=$(date +%s)
run_load idle connect --target "wss://127.0.0.1:$wss" --domain localhost --user-prefix idle \
  --connections "$flows" --threads 2 --hold-for $((seconds + 30)) --expires 600 --timeout 20000
run_load callee answer --target "ws://127.0.0.1:$ws" --domain localhost --user-prefix callee \
  --user-base 1 --connections 20 --duration $((seconds + 30))
wait_line idle "connect: [0-9]+ registered" 600
wait_line callee "answer: 20 registered" 30
echo "soak: set-up $(($(date +%s) - t0)) s; churn starts"
run_load reg register --target "udp:127.0.0.1:$udp" --domain localhost --user-prefix churn \
  --connections 50 --rate "$reg_rate" --duration "$seconds" --warmup 0 --expires 60
run_load call call --target "ws://127.0.0.1:$ws" --domain localhost --user-prefix caller \
  --connections $((call_rate * 2 + 10)) --rate "$call_rate" --duration "$seconds" --warmup 0 \
  --to 'sip:callee{n}@localhost' --to-range 20 --user-base 1 --hold 1000

echo "t_s,rss_kb,fds,ws_flows_open,errors_and_closes" >"$out/soak.csv"
printf '%6s %9s %6s %8s  %s\n' t_s rss_kB fds ws_open "counters that moved since the last sample"
declare -A last
watched='ws_flows_dead|ws_send_queue_overflows|ws_rate_limited|ws_protocol_errors|ws_pong_timeouts|ws_handshake_timeouts|ws_first_message_timeouts|transport_send_queue_overflows|transport_write_errors|store_write_errors|store_read_errors|sip_txn_timeouts|proxy_branch_timeouts|registrar_register_not_durable|ws_refused_no_descriptors|sip_parse_errors'
start=$(date +%s)
end=$((start + seconds))
rss_first=""
rss_max=0
while (($(date +%s) < end)); do
  sleep "$sample"  # the sampling period of a soak
  kill -0 "$spid" 2>/dev/null || { echo "soak: sipws died" >&2; break; }
  m=$(metrics)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
  fds=$(find "/proc/$spid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  open=$(($(metric "$m" ws_connections_opened) - $(metric "$m" ws_flows_dead)))
  moved=""
  while read -r name value; do
    [[ -n $name ]] || continue
    d=$((value - ${last[$name]:-0}))
    ((d != 0)) && moved+="${name#sipws_}+$d "
    last[$name]=$value
  done < <(grep -E "^sipws_($watched) " <<<"$m")
  t=$(($(date +%s) - start))
  [[ -z $rss_first ]] && rss_first=$rss
  ((rss > rss_max)) && rss_max=$rss
  printf '%6d %9d %6d %8d  %s\n' "$t" "$rss" "$fds" "$open" "$moved"
  echo "$t,$rss,$fds,$open,\"$moved\"" >>"$out/soak.csv"
done

# The churn ends by itself; the idle flows and the callees are told to stop.
wait "${load_pid[reg]}" "${load_pid[call]}" || true
kill -INT "${load_pid[idle]}" "${load_pid[callee]}" 2>/dev/null || true
wait "${load_pid[idle]}" "${load_pid[callee]}" || true
failed=0
for name in idle callee reg call; do
  if [[ ! -s $dir/$name.json ]]; then
    echo "soak: $name wrote no report: $(tail -n 3 "$dir/$name.err")" >&2
    failed=1
    continue
  fi
  python3 - "$dir/$name.json" "$name" <<'PY' || failed=1
import json, sys
j = json.load(open(sys.argv[1])); name = sys.argv[2]
errs = {k: v for k, v in j["errors"].items() if v}
line = f'{name}: {j["mode"]} {j["operations"]} operations ({j["ops_per_s"]:.1f}/s), error rate {j["error_rate"]:.4f} {errs or ""}'
if "registered" in j: line += f', registered {j["registered"]}'
if "dropped" in j: line += f', dropped {j["dropped"]}'
if j.get("first_error"): line += f', first error: {j["first_error"]}'
print(line)
bad = j["error_rate"] >= 0.01 or j.get("dropped", 0) > 0
sys.exit(1 if bad else 0)
PY
done
echo "sipws resident memory: first sample ${rss_first:-?} kB, highest ${rss_max} kB"
if kill -0 "$spid" 2>/dev/null; then
  kill -TERM "$spid"
  if wait "$spid"; then echo "sipws exited 0"; else echo "soak: sipws exited $?" >&2; failed=1; fi
else
  wait "$spid" || true
  failed=1
fi
untrack "$spid"
if ((failed)); then
  echo "soak: FAILED (sipws log: $out/sipws.log)" >&2
  grep -E "ERROR|AddressSanitizer|runtime error" "$out/sipws.log" | head -n 20 >&2 || true
  [[ $out == "$dir" ]] && tail -n 40 "$out/sipws.log" >&2
  exit 1
fi
echo "soak: passed"
