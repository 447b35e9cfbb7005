#!/usr/bin/env bash
# sipws against Kamailio 5.6 on the same loads, on 127.0.0.1 (bench/README.md).
#
#   bench/compare.sh [--sipws PATH] [--load PATH] [--rounds N] [--duration S] [--only LIST]
#                    [--json FILE] [--quick] [--flows LIST] [--threads N] [--port-base P]
#                    [--servers kamailio,sipws] [--kamailio-args "ARGS"] [--keep]
#   bench/compare.sh --report FILE.json       (the tables again from an earlier --json file)
#
# Each run starts a fresh server (Kamailio: bench/kamailio/kamailio.cfg; sipws: --set keys),
# runs one generator (sipws-load or SIPp) bounded by --duration / a count and by `timeout`,
# measures, and stops the server; rounds alternate Kamailio, sipws, Kamailio, sipws... Every
# process started here is recorded by PID and killed by PID on exit. Needs kamailio and its
# websocket and tls modules, sipp, openssl, jq.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

SUITES_ALL=(ws-register ws-register-digest ws-call udp-call udp-register udp-call-sipp idle-ws
            idle-wss)
sipws_bin="$root/build/sipws"
load_bin=""
rounds=3
duration=10
only=""
json_out=""
flows="5000,20000"
threads=1
port_base=25000
keep=0
servers="kamailio,sipws"
report=""
kamailio_extra="-x tlsf -X tlsf"   # Debian builds qm with memory debugging: tlsf is much cheaper
conns=50          # connections of the throughput suites (sipws-load) / SIPp -users
hold_for=3        # idle suites: seconds to hold the flows once all are registered

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
  case "$1" in
    --sipws) sipws_bin="$2"; shift 2 ;;
    --load) load_bin="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    --quick) rounds=1; duration=3; shift ;;
    --flows) flows="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    --kamailio-args) kamailio_extra="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --report) report="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage 2 >&2 ;;
  esac
done
[[ -n "$load_bin" ]] || load_bin="$(dirname "$sipws_bin")/sipws-load"
sipws_bin="$(realpath -m "$sipws_bin")"
load_bin="$(realpath -m "$load_bin")"

# Tables per suite from a JSON-lines file of runs: medians over the runs whose error rate is
# below 1 %.
print_tables() {
  echo
  jq -rs '
    def median: map(select(. != null)) | sort | if length == 0 then null
      elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def fmt: if . == null then "-" elif (. | type) == "number" then
      (if . >= 100 then (. | round | tostring) else ((. * 100 | round) / 100 | tostring) end) else tostring end;
    def valid: (.error_rate // 0) < 0.01;
    ["ops_per_s", "p50_ms", "p90_ms", "p99_ms", "errors", "server_cpu_percent",
     "server_cpu_us_per_op", "server_pss_kb", "pss_kb_per_flow", "gen_cpu_percent",
     "helper_cpu_percent"] as $metrics
    | group_by(.suite) | .[] | . as $runs
    | "## \($runs[0].suite) (\($runs | map(select(.server == "kamailio")) | length) + \($runs | map(select(.server == "sipws")) | length) runs)",
      "| metric | Kamailio median | sipws median | sipws / Kamailio |",
      "| --- | --- | --- | --- |",
      "| runs left out of the medians (error rate >= 1 %, e.g. the server died) | \($runs | map(select(.server == "kamailio" and (valid | not))) | length) | \($runs | map(select(.server == "sipws" and (valid | not))) | length) | |",
      ($metrics[] as $m
       | ($runs | map(select(.server == "kamailio" and valid) | .[$m]) | median) as $k
       | ($runs | map(select(.server == "sipws" and valid) | .[$m]) | median) as $s
       | select($k != null or $s != null)
       | "| \($m) | \($k | fmt) | \($s | fmt) | \(if $k != null and $s != null and $k != 0 then ($s / $k | fmt) else "-" end) |"),
      ""' "$1"
  echo "(generator / helper CPU near 100 % of one core means the load, not the server, was the limit;"
  echo " idle suites: ops_per_s, latencies and CPU per op are the connect + REGISTER setup of the flows)"
}

if [[ -n "$report" ]]; then
  jq -c '.runs[] | . + {error_rate: (.error_rate // (if ((.ops // 0) + (.errors // 0)) > 0
    then (.errors // 0) / ((.ops // 0) + (.errors // 0)) else 0 end))}' "$report" >"${TMPDIR:-/tmp}/compare-report.$$"
  print_tables "${TMPDIR:-/tmp}/compare-report.$$"
  rm -f "${TMPDIR:-/tmp}/compare-report.$$"
  exit 0
fi

suites=()
if [[ -n "$only" ]]; then
  IFS=, read -r -a suites <<<"$only"
  for s in "${suites[@]}"; do
    [[ " ${SUITES_ALL[*]} " == *" $s "* ]] || { echo "compare.sh: unknown suite $s (known: ${SUITES_ALL[*]})" >&2; exit 2; }
  done
else
  suites=("${SUITES_ALL[@]}")
fi

for tool in kamailio sipp openssl jq ss; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (scripts/install-deps.sh --test; jq: apt-get install jq)" >&2; exit 2; }
done
IFS=, read -r -a server_list <<<"$servers"
if [[ ",$servers," == *,sipws,* ]]; then
  [[ -x "$sipws_bin" ]] || { echo "compare.sh: no sipws at $sipws_bin (--sipws)" >&2; exit 2; }
fi
if [[ " ${suites[*]} " != " udp-register udp-call-sipp " && " ${suites[*]} " != " udp-call-sipp udp-register "
      && " ${suites[*]} " != " udp-register " && " ${suites[*]} " != " udp-call-sipp " ]]; then
  [[ -x "$load_bin" ]] || { echo "compare.sh: no sipws-load at $load_bin (--load)" >&2; exit 2; }
fi
kmod=/usr/lib/x86_64-linux-gnu/kamailio/modules
for m in websocket xhttp tls; do
  [[ -f "$kmod/$m.so" ]] || { echo "compare.sh: Kamailio module $m.so missing (kamailio-websocket-modules, kamailio-tls-modules)" >&2; exit 2; }
done

# --- processes --------------------------------------------------------------------------------
pids=()            # every process started here
tmp="$(mktemp -d /tmp/sipws-compare.XXXXXX)"
track() { pids+=("$1"); }
alive() { kill -0 "$1" 2>/dev/null; }
stop_pid() {       # stop_pid PID [grace seconds]: TERM, then KILL after the grace
  local p="$1" g="${2:-5}" i
  alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < g * 10; i++)); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${pids[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
  if ((keep)); then echo "compare.sh: logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- environment ------------------------------------------------------------------------------
ncpu="$(nproc)"
clk_tck="$(getconf CLK_TCK)"
hard_nofile="$(ulimit -Hn)"
[[ "$hard_nofile" == unlimited ]] && hard_nofile=1048576
want_nofile=65536
((hard_nofile < want_nofile)) && want_nofile=$hard_nofile
ulimit -n "$want_nofile"       # inherited by both servers and the generators
# No core files: a crashing Kamailio dumps its whole shared memory (-m 4096: 4 GB) into its
# working directory. Kamailio runs in the run's temp dir anyway (-w).
ulimit -c 0
# The largest flow count this fd limit allows (server and generator each hold one fd per flow,
# plus listeners, logs, epoll...).
max_flows=$((want_nofile - 256))

sip_port=$((port_base + 60))   # UDP and TCP SIP
uac_port=$((port_base + 70))   # SIPp caller's local port
ws_port=$((port_base + 80))
admin_port=$((port_base + 81)) # sipws admin HTTP
uas_port=$((port_base + 90))   # SIPp UAS
wss_port=$((port_base + 443))
domain=bench.test
for p in $sip_port $uac_port $ws_port $admin_port $uas_port $wss_port; do
  if ss -Htuln "sport = :$p" | grep -q .; then
    echo "compare.sh: port $p is in use (--port-base)" >&2; exit 2
  fi
done

# One self-signed certificate for both servers' WSS (ECDSA P-256).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

# Users load1000.. (sipws-load's default prefix and base: connection i is load<1000+i>, password
# = user name). sipws's store gets them through `sipws user add` (one user per process: run in
# parallel); Kamailio computes the password from the user name.
store="$tmp/sipws.db"
make_sipws_users() {   # make_sipws_users N
  local n="$1"
  "$sipws_bin" user add "load1000@$domain" load1000 --set "store=sqlite:$store" >/dev/null
  seq 1001 $((1000 + n - 1)) | xargs -P "$ncpu" -I{} \
    "$sipws_bin" user add "load{}@$domain" "load{}" --set "store=sqlite:$store" >/dev/null
}

# Server CPU: utime + stime of the given PIDs, in clock ticks.
cpu_ticks() {
  local t=0 p s f
  for p in "$@"; do
    s="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    s="${s##*) }"
    read -r -a f <<<"$s"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}
now_ms() { date +%s%3N; }

# --- servers ----------------------------------------------------------------------------------
server_pids=()    # the PIDs of the running server (Kamailio: main and every child)
server_main=""
wait_port() {     # wait_port tcp|udp PORT TIMEOUT_S
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if [[ "$1" == tcp ]]; then ss -Htln "sport = :$2" | grep -q . && return 0
    else ss -Hufn "sport = :$2" -a | grep -q . && return 0; fi
    sleep 0.1
  done
  return 1
}
start_kamailio() {   # start_kamailio AUTH(on|off) TLS(on|off) LOGDIR
  local args=(-DD -E -f "$here/kamailio/kamailio.cfg" -Y "$3" -w "$3" -m 4096 -M 64
              -A "UDP_PORT=$sip_port" -A "WS_PORT=$ws_port" -A "NCHILD=$ncpu"
              -A "MAX_FILES=$want_nofile" -A "DOMAIN=\"$domain\"")
  [[ "$1" == on ]] && args+=(-A WITH_AUTH)
  local extra
  read -r -a extra <<<"$kamailio_extra"
  args+=("${extra[@]}")
  [[ "$2" == on ]] && args+=(-A WITH_TLS -A "WSS_PORT=$wss_port" -A "TLS_CERT=\"$tmp/cert.pem\""
                             -A "TLS_KEY=\"$tmp/key.pem\"")
  setsid kamailio "${args[@]}" >"$3/server.log" 2>&1 &
  server_main=$!
  track "$server_main"
  wait_port tcp "$ws_port" 15 || { tail -20 "$3/server.log" >&2; return 1; }
  [[ "$2" == on ]] && { wait_port tcp "$wss_port" 15 || return 1; }
  sleep 1   # every child forked and initialised
  server_pids=("$server_main")
  local c
  for c in $(pgrep -P "$server_main"); do server_pids+=("$c"); track "$c"; done
}
start_sipws() {      # start_sipws AUTH(on|off) TLS(on|off) LOGDIR
  local listen="udp:127.0.0.1:$sip_port,tcp:127.0.0.1:$sip_port,ws:127.0.0.1:$ws_port"
  [[ "$2" == on ]] && listen+=",wss:127.0.0.1:$wss_port"
  local auth=off
  [[ "$1" == on ]] && auth=digest
  "$sipws_bin" run --set "listen=$listen" --set "domain=$domain" --set "store=sqlite:$store" \
    --set "auth=$auth" --set media_anchor=never --set log_level=warn \
    --set "admin_listen=127.0.0.1:$admin_port" \
    --set "tls_cert=$tmp/cert.pem" --set "tls_key=$tmp/key.pem" --set "dev_cert_dir=$3" \
    --set ws_max_connections=0 --set ws_max_connections_per_ip=0 --set ws_max_message_rate=0 \
    --set tcp_max_connections=0 --set flood_max_requests=0 --set auth_max_failures=0 \
    --set auth_max_user_failures=0 --set registrar_max_expires=3600 \
    >"$3/server.log" 2>&1 &
  server_main=$!
  track "$server_main"
  local i
  for ((i = 0; i < 150; i++)); do
    grep -q "sipws ready" "$3/server.log" && break
    alive "$server_main" || { tail -20 "$3/server.log" >&2; return 1; }
    sleep 0.1
  done
  grep -q "sipws ready" "$3/server.log" || { tail -20 "$3/server.log" >&2; return 1; }
  server_pids=("$server_main")
}
stop_server() {
  local p
  stop_pid "$server_main" 10
  for p in "${server_pids[@]}"; do stop_pid "$p" 2; done
  server_pids=()
  server_main=""
}
pid_args() { local p; for p in "${server_pids[@]}"; do printf -- '--pid\n%s\n' "$p"; done; }

# --- one run ----------------------------------------------------------------------------------
# Every run writes $dir/run.json: the normalised metrics and the generator's raw report.
runs_file="$tmp/runs.jsonl"
: >"$runs_file"

time_cpu_percent() {   # time_cpu_percent FILE (/usr/bin/time -f '%e %U %S')
  awk 'END { if ($1 > 0) printf "%.1f", ($2 + $3) / $1 * 100; else print "null" }' "$1"
}

# sipws-load report -> normalised metrics (servers summed: every Kamailio process is one entry).
load_metrics() {       # load_metrics REPORT.json GEN_TIME HELPER_CPU
  # The report lists the sampled servers under "pids" (the contract said "servers": both read)
  # and its own CPU under "self" (over the measured window: preferred to /usr/bin/time's).
  jq --arg gen "$(time_cpu_percent "$2")" --arg helper "$3" '
    def sum(f): [(.servers // .pids // [])[] | f // empty]
      | if length > 0 then (add * 100 | round / 100) else null end;
    {
      ops: .operations, ops_per_s: .ops_per_s,
      p50_ms: .latency_ms.p50, p90_ms: .latency_ms.p90, p99_ms: .latency_ms.p99,
      errors: ([.errors[]?] | add // 0),
      server_cpu_percent: sum(.cpu_percent),
      server_cpu_us_per_op: sum(.cpu_us_per_op),
      server_pss_kb: sum(.pss_kb),
      pss_kb_per_flow: sum(.pss_kb_per_flow),
      gen_cpu_percent: (.self.cpu_percent // ($gen | tonumber? // null)),
      helper_cpu_percent: ($helper | tonumber? // null) }' "$1"
}

# SIPp caller's files in DIR -> normalised metrics (server CPU measured here over the run).
sipp_metrics() {       # sipp_metrics DIR SERVER_TICKS WALL_MS GEN_TIME HELPER_CPU
  local dir="$1" stat rtt
  stat="$(ls "$dir"/*_.csv 2>/dev/null | head -1)"
  rtt="$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1)"
  [[ -n "$stat" ]] || { echo '{}'; return; }
  local ok failed elapsed
  read -r ok failed elapsed < <(awk -F';' '
      NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      { last = $0 }
      END { n = split(last, f, ";");
            split(f[col["ElapsedTime(C)"]], t, ":");
            print f[col["SuccessfulCall(C)"]], f[col["FailedCall(C)"]], t[1]*3600 + t[2]*60 + t[3] }' "$stat")
  local pct='null null null'
  if [[ -n "$rtt" ]]; then
    pct="$(awk -F';' 'NR > 1 { print $2 }' "$rtt" | sort -n | awk '
        { v[NR] = $1 } END { if (NR == 0) { print "null null null"; exit }
          printf "%s %s %s", v[int(NR*0.5)+(NR*0.5>int(NR*0.5))], v[int(NR*0.9)+(NR*0.9>int(NR*0.9))],
                 v[int(NR*0.99)+(NR*0.99>int(NR*0.99))] }')"
  fi
  read -r p50 p90 p99 <<<"$pct"
  local wall_s
  wall_s="$(awk -v ms="$3" 'BEGIN { printf "%.3f", ms / 1000 }')"
  jq -n --argjson ok "${ok:-0}" --argjson failed "${failed:-0}" --argjson el "${elapsed:-0}" \
    --argjson ticks "$2" --argjson wall "$wall_s" --argjson hz "$clk_tck" --argjson dur "$duration" \
    --arg p50 "$p50" --arg p90 "$p90" --arg p99 "$p99" \
    --arg gen "$(time_cpu_percent "$4")" --arg helper "$5" '
    # SIPp stops new calls at --duration, then waits up to -recv_timeout for calls in flight:
    # the rate is over the calling period, not that tail.
    ($ticks / $hz) as $cpu_s
    | ([(if $el > 0 then $el else $wall end), $dur] | min) as $secs | {
      ops: $ok, ops_per_s: (if $secs > 0 then ($ok / $secs * 10 | round / 10) else null end),
      p50_ms: ($p50 | tonumber? // null), p90_ms: ($p90 | tonumber? // null),
      p99_ms: ($p99 | tonumber? // null), errors: $failed,
      server_cpu_percent: (if $wall > 0 then ($cpu_s / $wall * 1000 | round / 10) else null end),
      server_cpu_us_per_op: (if $ok > 0 then ($cpu_s * 1e6 / $ok * 10 | round / 10) else null end),
      server_pss_kb: null, pss_kb_per_flow: null,
      gen_cpu_percent: ($gen | tonumber? // null),
      helper_cpu_percent: ($helper | tonumber? // null) }'
}

# Runs a generator in the background (so that the trap can stop it), waits for it, and returns
# its exit code. Its wall and CPU time go to $dir/gen.time.
run_gen() {            # run_gen DIR LIMIT_S CMD...
  local dir="$1" limit="$2" rc=0 p
  shift 2
  (cd "$dir" && exec timeout -k 5 "$limit" /usr/bin/time -f '%e %U %S' -o "$dir/gen.time" "$@") \
    >"$dir/gen.out" 2>"$dir/gen.err" &
  p=$!
  track "$p"
  wait "$p" || rc=$?
  return "$rc"
}

start_helper() {       # start_helper DIR NAME CMD... (sets helper_pid)
  local dir="$1" name="$2"
  shift 2
  (cd "$dir" && exec "$@") >"$dir/$name.out" 2>"$dir/$name.err" &
  helper_pid=$!
  track "$helper_pid"
}
helper_pid=""

sipp_uas() { start_helper "$1" uas sipp -sf "$here/sipp/uas.xml" -i 127.0.0.1 -p "$uas_port" -nostdin; }
sipp_uac() {           # sipp_uac DIR SCENARIO CSV
  # -timeout stops new calls; a call still waiting for an answer then fails after -recv_timeout
  run_gen "$1" $((duration + 30)) sipp "127.0.0.1:$sip_port" -sf "$here/sipp/$2" -inf "$3" \
    -i 127.0.0.1 -p "$uac_port" -users "$conns" -timeout "${duration}s" -recv_timeout 5000 -nostdin \
    -trace_stat -fd 1 -trace_rtt -rtt_freq 100
}
csv_users() {          # csv_users FILE N SEP: lines "load1000<SEP>bench.test;", in turn
  { echo SEQUENTIAL; seq 1000 $((1000 + $2 - 1)) | sed "s/.*/load&$3$domain;/"; } >"$1"
}

run_one() {            # run_one SUITE SERVER ROUND [FLOWS]
  local suite="$1" server="$2" round="$3" nflows="${4:-}"
  local name="$suite${nflows:+-$nflows}"
  local dir="$tmp/$name/$server-$round"
  mkdir -p "$dir"
  local auth=off tls=off
  [[ "$suite" == ws-register-digest ]] && auth=on
  [[ "$suite" == idle-wss ]] && tls=on
  if [[ "$server" == kamailio ]]; then start_kamailio $auth $tls "$dir"
  else start_sipws $auth $tls "$dir"; fi

  local rc=0 metrics helper_cpu=null t0 t1 h0 h1 w0 w1
  local common=(--domain "$domain" --threads "$threads" --json "$dir/report.json" --quiet)
  local pidargs
  mapfile -t pidargs < <(pid_args)
  case "$suite" in
    ws-register|ws-register-digest)
      run_gen "$dir" $((duration + 60)) "$load_bin" register --target "ws://127.0.0.1:$ws_port" \
        --connections "$conns" --duration "$duration" --warmup 1 "${common[@]}" "${pidargs[@]}" || rc=$?
      metrics="$(load_metrics "$dir/report.json" "$dir/gen.time" null)" ;;
    ws-call)
      sipp_uas "$dir"; local uas=$helper_pid; sleep 0.5
      h0=$(cpu_ticks "$uas"); w0=$(now_ms)
      run_gen "$dir" $((duration + 60)) "$load_bin" call --target "ws://127.0.0.1:$ws_port" \
        --to "sip:uas@127.0.0.1:$uas_port" --hold 0 --connections "$conns" \
        --duration "$duration" --warmup 1 "${common[@]}" "${pidargs[@]}" || rc=$?
      h1=$(cpu_ticks "$uas"); w1=$(now_ms)
      helper_cpu=$(awk -v t=$((h1 > h0 ? h1 - h0 : 0)) -v hz="$clk_tck" -v ms=$((w1 - w0)) 'BEGIN { printf "%.1f", t / hz / (ms / 1000) * 100 }')
      stop_pid "$uas"
      metrics="$(load_metrics "$dir/report.json" "$dir/gen.time" "$helper_cpu")" ;;
    udp-call)
      start_helper "$dir" answer "$load_bin" answer --target "ws://127.0.0.1:$ws_port" \
        --connections "$conns" --duration $((duration + 30)) --domain "$domain" --threads "$threads" \
        --json "$dir/answer.json"
      local ans=$helper_pid i
      for ((i = 0; i < 100; i++)); do
        grep -qi "registered" "$dir/answer.err" 2>/dev/null && break
        alive "$ans" || break
        sleep 0.1
      done
      sleep 0.5
      csv_users "$dir/users.csv" "$conns" @      # uac_call.xml: sip:[field0]
      t0=$(cpu_ticks "${server_pids[@]}"); h0=$(cpu_ticks "$ans"); w0=$(now_ms)
      sipp_uac "$dir" uac_call.xml "$dir/users.csv" || rc=$?
      t1=$(cpu_ticks "${server_pids[@]}"); h1=$(cpu_ticks "$ans"); w1=$(now_ms)
      helper_cpu=$(awk -v t=$((h1 > h0 ? h1 - h0 : 0)) -v hz="$clk_tck" -v ms=$((w1 - w0)) 'BEGIN { printf "%.1f", t / hz / (ms / 1000) * 100 }')
      stop_pid "$ans"
      metrics="$(sipp_metrics "$dir" $((t1 - t0)) $((w1 - w0)) "$dir/gen.time" "$helper_cpu")" ;;
    udp-register)
      csv_users "$dir/users.csv" 1000 ';'       # register.xml: [field0]@[field1]
      t0=$(cpu_ticks "${server_pids[@]}"); w0=$(now_ms)
      sipp_uac "$dir" register.xml "$dir/users.csv" || rc=$?
      t1=$(cpu_ticks "${server_pids[@]}"); w1=$(now_ms)
      metrics="$(sipp_metrics "$dir" $((t1 - t0)) $((w1 - w0)) "$dir/gen.time" null)" ;;
    udp-call-sipp)
      sipp_uas "$dir"; local uas2=$helper_pid; sleep 0.5
      printf 'SEQUENTIAL\nuas@127.0.0.1:%s;\n' "$uas_port" >"$dir/uas.csv"
      t0=$(cpu_ticks "${server_pids[@]}"); h0=$(cpu_ticks "$uas2"); w0=$(now_ms)
      sipp_uac "$dir" uac_call.xml "$dir/uas.csv" || rc=$?
      t1=$(cpu_ticks "${server_pids[@]}"); h1=$(cpu_ticks "$uas2"); w1=$(now_ms)
      helper_cpu=$(awk -v t=$((h1 > h0 ? h1 - h0 : 0)) -v hz="$clk_tck" -v ms=$((w1 - w0)) 'BEGIN { printf "%.1f", t / hz / (ms / 1000) * 100 }')
      stop_pid "$uas2"
      metrics="$(sipp_metrics "$dir" $((t1 - t0)) $((w1 - w0)) "$dir/gen.time" "$helper_cpu")" ;;
    idle-ws|idle-wss)
      local scheme=ws port=$ws_port src=()
      [[ "$suite" == idle-wss ]] && { scheme=wss; port=$wss_port; }
      # >28k loopback connections from one address run out of ports: spread over 127.0.0.1-4
      # shellcheck disable=SC2054  # one argument: the comma-separated list
      ((nflows > 10000)) && src=(--source 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4)
      run_gen "$dir" $((nflows / 50 + hold_for + 120)) "$load_bin" connect \
        --target "$scheme://127.0.0.1:$port" --connections "$nflows" --hold-for "$hold_for" \
        --timeout 30000 "${src[@]}" "${common[@]}" "${pidargs[@]}" || rc=$?
      metrics="$(load_metrics "$dir/report.json" "$dir/gen.time" null)" ;;
  esac
  stop_server
  local raw='null'
  [[ -s "$dir/report.json" ]] && raw="$(jq -c . "$dir/report.json" 2>/dev/null || echo null)"
  [[ -n "$metrics" ]] || metrics='{}'
  jq -cn --arg suite "$name" --arg server "$server" --argjson round "$round" --argjson rc "$rc" \
    --argjson m "$metrics" --argjson raw "$raw" --arg dir "$dir" \
    '{suite: $suite, server: $server, round: $round, exit_code: $rc, dir: $dir} + $m
     + {error_rate: (if (($m.ops // 0) + ($m.errors // 0)) > 0
                     then ($m.errors // 0) / (($m.ops // 0) + ($m.errors // 0)) else 0 end),
        raw: $raw}' \
    | tee -a "$runs_file" | jq -r '"  \(.suite) \(.server) round \(.round): \(.ops_per_s // "-") ops/s, p50 \(.p50_ms // "-") ms, p99 \(.p99_ms // "-") ms, errors \(.errors // "-"), server CPU \(.server_cpu_percent // "-") % (\(.server_cpu_us_per_op // "-") us/op), PSS/flow \(.pss_kb_per_flow // "-") kB, generator CPU \(.gen_cpu_percent // "-") %, helper CPU \(.helper_cpu_percent // "-") %, exit \(.exit_code)"'
}

# --- main -------------------------------------------------------------------------------------
echo "compare.sh: $(date -Is), $ncpu cores, load $(cut -d' ' -f1-3 /proc/loadavg), fd limit $want_nofile"
echo "  sipws $sipws_bin, sipws-load $load_bin (repo HEAD $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'): a binary built from a working tree may differ)"
echo "  kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $2}'), sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1)"
echo "  rounds $rounds, duration ${duration}s, connections $conns, generator threads $threads"
if [[ " ${suites[*]} " == *" ws-register-digest "* && ",$servers," == *,sipws,* ]]; then
  make_sipws_users "$conns"
fi

for suite in "${suites[@]}"; do
  sizes=("")
  if [[ "$suite" == idle-* ]]; then
    IFS=, read -r -a sizes <<<"$flows"
    for i in "${!sizes[@]}"; do
      if ((sizes[i] > max_flows)); then
        echo "  $suite: ${sizes[i]} flows need more than the fd limit $want_nofile allows: $max_flows flows instead"
        sizes[i]=$max_flows
      fi
    done
  fi
  for n in "${sizes[@]}"; do
    for ((r = 1; r <= rounds; r++)); do
      for server in "${server_list[@]}"; do
        run_one "$suite" "$server" "$r" "$n" || echo "  $suite${n:+-$n} $server round $r: failed to run (logs: $tmp)" >&2
      done
    done
  done
done

# --- tables and JSON ----------------------------------------------------------------------------
print_tables "$runs_file"

if [[ -n "$json_out" ]]; then
  jq -s --arg date "$(date -Is)" --arg rev "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg sipws "$sipws_bin" --arg gen "$load_bin" --argjson rounds "$rounds" \
    --argjson duration "$duration" --argjson cores "$ncpu" \
    '{date: $date, repo_head: $rev, sipws: $sipws, sipws_load: $gen, loadavg_end: $load,
      cores: $cores, rounds: $rounds,
      duration_s: $duration, runs: .}' "$runs_file" >"$json_out"
  echo "compare.sh: raw runs in $json_out"
fi
