#!/usr/bin/env bash
# The shared store at scale (issue 16): REGISTER/s and bindings that PostgreSQL sustains for one
# and two sipws nodes, and what cluster mode's store read adds to call setup.
#
# Starts a throwaway PostgreSQL 15 (initdb in a temporary folder, a free 127.0.0.1 port, fsync
# ON and synchronous_commit on: a real deployment's durability; as root it runs as the user
# `postgres` through setpriv), a fresh database per run, and sipws nodes on it (auth=off,
# media_anchor=never, threads=2, store_pool=4, store_sync=ack, every rate limit off). Suites,
# ROUNDS runs each (closed loop, 50 connections per generator, SECONDS measured after 1 s):
#   udp-reg-{sqlite,pg,pg-cluster}   UDP REGISTER on one node (SQLite baseline; PostgreSQL
#                                    without and with cluster mode); -c200: 200 connections;
#                                    -batch: store_sync=batch
#   udp-reg-pg-2nodes                two cluster nodes at once, one generator each (AORs differ)
#   ws-reg-{pg,pg-cluster,pg-2nodes} WS REGISTER (WS bindings are stored only in cluster mode)
#   call-c50-{sqlite,pg,pg-cluster}  INVITE -> 200 setup and calls/s: `sipws-load call` (UDP, 50
#                                    connections) to 50 WS users of `sipws-load answer` on the
#                                    same node; call-c1-*: one call at a time (latency alone)
#   udp-reg-pg-*-async               synchronous_commit=off for the sipws role (ALTER ROLE)
#   statements-*                     one run each with pg_stat_statements (loaded with
#                                    track=none; track=all for these runs only): what sipws
#                                    sends per REGISTER and per call
#   bindings                         BINDINGS distinct AORs over UDP on a cluster node (100 flows
#                                    at a time), count(*) and the location table's size, the
#                                    lookup's plan, calls with them in the table (*-held), a node
#                                    restart that loads them
# Every run records the 1-minute load average and the machine's busy CPU over the second before
# (other people's work); above BUSY_MAX % it waits (at most 60 s) for it to fall.
# Prints one line per run and a table of medians. CPU: 100 % = one core, from /proc (sipws-load
# --pid): sipws (summed over the nodes), PostgreSQL (the postmaster and all its children).
#
# Usage: bench/cluster-scale.sh SIPWS SIPWS_LOAD [SECONDS=10]
#   env: ROUNDS=3  BINDINGS=50000  BUSY_MAX=30  SIPWS_PG_BINDIR=/usr/lib/postgresql/15/bin
#        ONLY="suite-prefix ..." (e.g. ONLY="udp-reg call") to run a subset
#        KEEP_RESULTS=FILE: copy the per-run lines (tab-separated) there
# Needs jq, python3 (free ports), psql; as root, setpriv and a `postgres` user.
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n 2,34p "$0"; exit 2; }
sipws=$(realpath "$1") load=$(realpath "$2") seconds=${3:-10}
rounds=${ROUNDS:-3} bindings=${BINDINGS:-50000} busy_max=${BUSY_MAX:-30}
pgbin=${SIPWS_PG_BINDIR:-/usr/lib/postgresql/15/bin}
for p in "$sipws" "$load" "$pgbin/initdb" "$pgbin/postgres" "$pgbin/psql" "$pgbin/pg_isready"; do
  [[ -x $p ]] || { echo "not found: $p" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"
bench_init
chmod 711 "$dir"
results=$dir/results.tsv
: >"$results"

wants() { # SUITE: whether ONLY (if set) names a prefix of it
  [[ -z ${ONLY:-} ]] && return 0
  local o
  for o in $ONLY; do [[ $1 == "$o"* ]] && return 0; done
  return 1
}

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); t = s.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", t)); print(t)'
}

# ---- PostgreSQL ------------------------------------------------------------------------------
pgpid="" pgport="" pgpw=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
as_pg=()
if [[ $(id -u) == 0 ]]; then
  as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups --pdeathsig=SIGKILL --)
fi
psql_su() { # DB SQL: as the superuser over the unix socket; rows tab-separated
  "$pgbin/psql" -X -w -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -h "$dir/pg/run" -p "$pgport" \
    -U postgres -d "$1" -c "$2"
}
pg_start() {
  mkdir -p "$dir/pg/data" "$dir/pg/run"
  chmod 700 "$dir/pg/data"
  if [[ ${#as_pg[@]} -gt 0 ]]; then chown postgres: "$dir/pg" "$dir/pg/data" "$dir/pg/run"; fi
  timeout 120 "${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C --no-instructions >"$dir/pg/initdb.log" 2>&1 ||
    { tail -20 "$dir/pg/initdb.log" >&2; exit 1; }
  pgport=$(free_port)
  # fsync, full_page_writes and synchronous_commit stay at their defaults (on)
  "${as_pg[@]}" "$pgbin/postgres" -D "$dir/pg/data" -p "$pgport" -k "$dir/pg/run" \
    -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=128MB \
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=none \
    >"$dir/pg/log" 2>&1 &
  pgpid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    "$pgbin/pg_isready" -q -h "$dir/pg/run" -p "$pgport" -U postgres -t 1 && break
    kill -0 "$pgpid" 2>/dev/null || break
    sleep 0.1  # PostgreSQL we started: bounded wait for it to accept connections
  done
  "$pgbin/pg_isready" -q -h "$dir/pg/run" -p "$pgport" -U postgres -t 1 ||
    { echo "PostgreSQL did not start:" >&2; tail -20 "$dir/pg/log" >&2; exit 1; }
  psql_su postgres "CREATE ROLE sipws LOGIN PASSWORD '$pgpw'" >/dev/null
}
pg_stop() { # fast shutdown (SIGINT), bounded; SIGKILL after 30 s
  [[ -n $pgpid ]] || return 0
  kill -INT "$pgpid" 2>/dev/null || true
  local i
  for ((i = 0; i < 300; i++)); do kill -0 "$pgpid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pgpid" 2>/dev/null || true
  wait "$pgpid" 2>/dev/null || true
  pgpid=""
}
ndb=0
new_db() { # sets $db (name) and $store (sipws's URI) to a new empty database
  db=bench_$((++ndb))
  psql_su postgres "CREATE DATABASE $db OWNER sipws" >/dev/null
  store="postgresql://sipws:$pgpw@127.0.0.1:$pgport/$db"
}
pg_pids() { echo "$pgpid"; pgrep -P "$pgpid" || true; }

cleanup() {
  local p
  for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${bench_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_pids=()
  pg_stop
  bench_cleanup
}
trap cleanup EXIT

# ---- sipws nodes -----------------------------------------------------------------------------
declare -A npid nudp nws nstore
extra_sets=() # more --set arguments for the nodes of one suite
start_node() { # ID STORE yes|no [--set ...]: one sipws; cluster mode with node id ID if yes
  local id=$1 st=$2 cl=$3
  shift 3
  local udp ws adm
  udp=$(free_port) ws=$(free_port) adm=$(free_port)
  mkdir -p "$dir/$id"
  local sets=(--set "listen=udp:127.0.0.1:$udp,ws:127.0.0.1:$ws" --set "admin_listen=127.0.0.1:$adm"
    --set "state_dir=$dir/$id" --set "store=$st" --set store_pool=4 --set store_sync=ack
    --set auth=off --set media_anchor=never --set domain=localhost --set log_level=warn
    --set threads=2 --set flood_max_requests=0 --set ws_max_message_rate=0
    --set ws_max_connections_per_ip=0 --set ws_max_connections=0)
  if [[ $cl == yes ]]; then
    sets+=(--set "cluster={\"node\":\"$id\",\"address\":\"sip:127.0.0.1:$udp;transport=udp\",\"secret\":\"0123456789abcdef-bench\"}")
  fi
  "$sipws" run "${sets[@]}" "${extra_sets[@]}" "$@" >"$dir/$id.log" 2>&1 &
  npid[$id]=$!
  track "${npid[$id]}"
  wait_ready "$dir/$id.log" "${npid[$id]}" 30
  nudp[$id]=$udp nws[$id]=$ws nstore[$id]=$st
}
stop_node() { # ID
  local p=${npid[$1]}
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  untrack "$p"
  if grep -q -E '\[(error|critical)\]' "$dir/$1.log"; then
    echo "  sipws $1 logged errors:" >&2
    grep -E '\[(error|critical)\]' "$dir/$1.log" | head -3 >&2
  fi
}

# ---- machine state ---------------------------------------------------------------------------
busy_pct() { # the machine's busy CPU (all cores, 100 = all busy) over 1 s
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 1
  read -r -a b < <(head -1 /proc/stat)
  awk -v a="${a[*]:1:8}" -v b="${b[*]:1:8}" 'BEGIN {
    split(a, x); split(b, y); t = 0; for (i = 1; i <= 8; i++) t += y[i] - x[i]
    idle = (y[4] - x[4]) + (y[5] - x[5]); printf "%.0f", t ? 100 * (t - idle) / t : 0 }'
}
state="" # "load1 busy%" before the current run
quiet_machine() { # waits (at most 60 s) until the machine's busy CPU is under BUSY_MAX
  local i busy
  for ((i = 0; i < 30; i++)); do
    busy=$(busy_pct)
    ((busy <= busy_max)) && break
    sleep 1  # someone else's work on the cores: bounded wait (60 s in all)
  done
  state="$(cut -d' ' -f1 /proc/loadavg) $busy"
  ((busy <= busy_max)) || echo "  (busy $busy % before the run after waiting 60 s)" >&2
}

# ---- one generator run -----------------------------------------------------------------------
# gen JSON ARGS...: sipws-load, bounded by --duration and by timeout; never fails the script
gen() {
  local out=$1
  shift
  timeout $((seconds + 60)) "$load" "$@" --quiet --json "$out" >/dev/null 2>"$out.err" || true
  [[ -s $out ]] || { echo '{}' >"$out"; echo "  sipws-load failed: $(tail -2 "$out.err")" >&2; }
}
# record SUITE ROUND JSON_MAIN [JSON_OTHER]: one result line. JSON_MAIN's pids: the sipws nodes
# (NODES of them, first), then PostgreSQL's processes; JSON_OTHER: a parallel generator (its
# pids: its own node only). Columns: suite round ops/s p50 p99 errors sipws_cpu% sipws_us/op
# pg_cpu% pg_us/op gen_cpu% load1 busy%
NODES=1
record() {
  local suite=$1 round=$2 main=$3 other=${4:-}
  local line
  line=$(jq -r -s --argjson n "$NODES" --arg s "$suite" --arg r "$round" --arg st "$state" '
    def errs: [(.errors // {}) | .[]] | add // 0;
    .[0] as $m | (.[1] // {}) as $o |
    (($m.ops_per_s // 0) + ($o.ops_per_s // 0)) as $ops |
    ((($m.pids // [])[0:$n] | map(.cpu_percent) | add // 0) +
     (($o.pids // []) | map(.cpu_percent) | add // 0)) as $scpu |
    (($m.pids // [])[$n:] | map(.cpu_percent) | add // 0) as $pcpu |
    def us($c): if $ops > 0 then ($c * 10000 / $ops) else 0 end;
    [$s, $r, ($ops | floor),
     ([$m.latency_ms.p50, ($o.latency_ms.p50 // empty)] | max // 0),
     ([$m.latency_ms.p99, ($o.latency_ms.p99 // empty)] | max // 0),
     (($m | errs) + ($o | errs)),
     ($scpu | round), (us($scpu) * 10 | round / 10), ($pcpu | round), (us($pcpu) * 10 | round / 10),
     ((($m.self.cpu_percent // 0) + ($o.self.cpu_percent // 0)) | round)] + ($st | split(" "))
    | @tsv' "$main" ${other:+"$other"})
  echo "$line" >>"$results"
  local kinds
  kinds=$(jq -r -s '[.[] | (.errors // {}) | to_entries[] | select(.value > 0) | "\(.key) \(.value)"] | join(", ")' "$main" ${other:+"$other"})
  [[ -z $kinds ]] || echo "  errors: $kinds"
  echo "$line" | awk -F'\t' '{ printf "%-22s round %s: %8s ops/s  p50 %6s p99 %6s ms  errors %s  sipws %s %% %s us/op  pg %s %% %s us/op  gen %s %%  (load %s, busy %s %%)\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
}
pid_args() { # PID...: --pid PID for each
  local p
  for p in "$@"; do printf -- '--pid\n%s\n' "$p"; done
}

# register_suite SUITE STORE_KIND(sqlite|pg) CLUSTER(yes|no) NODES(1|2) TRANSPORT(udp|ws) [CONNS=50]
register_suite() {
  local suite=$1 kind=$2 cl=$3 nodes=$4 tr=$5 conns=${6:-50} r st
  wants "$suite" || return 0
  for ((r = 1; r <= rounds; r++)); do
    if [[ $kind == sqlite ]]; then
      st="sqlite:$dir/sqlite-$suite-$r.db"
    else
      new_db
      st=$store
    fi
    start_node a "$st" "$cl"
    if [[ $nodes == 2 ]]; then start_node b "$st" "$cl"; fi
    local ta="udp:127.0.0.1:${nudp[a]}" tb="udp:127.0.0.1:${nudp[b]:-0}"
    if [[ $tr == ws ]]; then ta="ws://127.0.0.1:${nws[a]}" tb="ws://127.0.0.1:${nws[b]:-0}"; fi
    local pids
    if [[ $kind == pg ]]; then
      mapfile -t pids < <(pid_args "${npid[a]}" $(pg_pids))
    else
      mapfile -t pids < <(pid_args "${npid[a]}")
    fi
    quiet_machine
    NODES=1
    if [[ $nodes == 2 ]]; then
      gen "$dir/$suite-$r-b.json" register --target "$tb" --domain localhost --connections "$conns" \
        --user-base 200000 --duration "$seconds" --warmup 1 --pid "${npid[b]}" &
      local gb=$!
      track "$gb"
      gen "$dir/$suite-$r.json" register --target "$ta" --domain localhost --connections "$conns" \
        --user-base 100000 --duration "$seconds" --warmup 1 "${pids[@]}"
      wait "$gb" || true
      untrack "$gb"
      record "$suite" "$r" "$dir/$suite-$r.json" "$dir/$suite-$r-b.json"
    else
      gen "$dir/$suite-$r.json" register --target "$ta" --domain localhost --connections "$conns" \
        --user-base 100000 --duration "$seconds" --warmup 1 "${pids[@]}"
      record "$suite" "$r" "$dir/$suite-$r.json"
    fi
    stop_node a
    if [[ $nodes == 2 ]]; then stop_node b; fi
    unset 'nudp[b]'
    if [[ $kind == pg ]]; then psql_su postgres "DROP DATABASE $db" >/dev/null; fi
  done
}

# call_round SUITE ROUND CONNECTIONS: `answer` (50 WS users ans1..ans50 on node a) and `call`
# (UDP, --to sip:ans{n}@localhost) against the running node a
call_round() {
  local suite=$1 r=$2 c=$3 i
  local aout=$dir/$suite-$r-answer.err
  : >"$aout"
  quiet_machine
  # the answerer outlives the call run (stopped by PID below)
  "$load" answer --target "ws://127.0.0.1:${nws[a]}" --domain localhost --user-prefix ans \
    --user-base 1 --connections 50 --duration $((seconds + 120)) >/dev/null 2>"$aout" &
  local ap=$!
  track "$ap"
  for ((i = 0; i < 200; i++)); do
    grep -q "answer: 50 registered" "$aout" && break
    kill -0 "$ap" 2>/dev/null || break
    sleep 0.1  # the answerer we started registers its users: bounded wait
  done
  if ! grep -q "answer: 50 registered" "$aout"; then
    echo "  $suite round $r skipped: sipws-load answer did not register its 50 users in 20 s" >&2
    kill "$ap" 2>/dev/null || true
    wait "$ap" 2>/dev/null || true
    untrack "$ap"
    return 0
  fi
  local pids
  if [[ ${nstore[a]} == postgresql:* ]]; then
    mapfile -t pids < <(pid_args "${npid[a]}" $(pg_pids))
  else
    mapfile -t pids < <(pid_args "${npid[a]}")
  fi
  NODES=1
  gen "$dir/$suite-$r.json" call --target "udp:127.0.0.1:${nudp[a]}" --domain localhost \
    --to 'sip:ans{n}@localhost' --to-range 50 --user-base 1 --connections "$c" \
    --duration "$seconds" --warmup 1 "${pids[@]}"
  record "$suite" "$r" "$dir/$suite-$r.json"
  kill "$ap" 2>/dev/null || true
  wait "$ap" 2>/dev/null || true
  untrack "$ap"
}
call_suite() { # SUITE STORE_KIND(sqlite|pg) CLUSTER(yes|no) CONNECTIONS
  local suite=$1 kind=$2 cl=$3 c=$4 r
  wants "$suite" || return 0
  for ((r = 1; r <= rounds; r++)); do
    if [[ $kind == sqlite ]]; then
      start_node a "sqlite:$dir/sqlite-$suite-$r.db" no
    else
      new_db
      start_node a "$store" "$cl"
    fi
    call_round "$suite" "$r" "$c"
    stop_node a
    if [[ $kind == pg ]]; then psql_su postgres "DROP DATABASE $db" >/dev/null; fi
  done
}

# ---- the runs --------------------------------------------------------------------------------
echo "cluster-scale: $(date -u '+%F %T') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sipws $sipws, sipws-load $load, $seconds s x $rounds rounds"
if [[ -x $pgbin/pg_test_fsync ]]; then
  echo "this disk (pg_test_fsync, one 8 kB write + sync, 1 s each):"
  timeout 60 "$pgbin/pg_test_fsync" -s 1 -f "$dir/fsync.test" 2>&1 |
    awk '/one 8kB write/ { on = 1 } on && /(fdatasync|open_datasync) / { print "  " $0 } /two 8kB/ { on = 0 }' || true
  rm -f "$dir/fsync.test"
fi
pg_start
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pgport," \
  "fsync=$(psql_su postgres 'SHOW fsync'), synchronous_commit=$(psql_su postgres 'SHOW synchronous_commit')," \
  "wal_sync_method=$(psql_su postgres 'SHOW wal_sync_method')"

register_suite udp-reg-sqlite sqlite no 1 udp
register_suite udp-reg-pg pg no 1 udp
register_suite udp-reg-pg-cluster pg yes 1 udp
register_suite udp-reg-pg-2nodes pg yes 2 udp
register_suite udp-reg-pg-cluster-c200 pg yes 1 udp 200
extra_sets=(--set store_sync=batch)
register_suite udp-reg-pg-cluster-batch pg yes 1 udp
extra_sets=()
register_suite ws-reg-pg pg no 1 ws
register_suite ws-reg-pg-cluster pg yes 1 ws
register_suite ws-reg-pg-2nodes pg yes 2 ws
call_suite call-c50-sqlite sqlite no 50
call_suite call-c50-pg pg no 50
call_suite call-c50-pg-cluster pg yes 50
call_suite call-c1-sqlite sqlite no 1
call_suite call-c1-pg pg no 1
call_suite call-c1-pg-cluster pg yes 1
if wants udp-reg-pg-cluster-async || wants udp-reg-pg-2nodes-async; then
  psql_su postgres "ALTER ROLE sipws SET synchronous_commit = off" >/dev/null
  register_suite udp-reg-pg-cluster-async pg yes 1 udp
  register_suite udp-reg-pg-2nodes-async pg yes 2 udp
  psql_su postgres "ALTER ROLE sipws RESET synchronous_commit" >/dev/null
fi

# What sipws sends PostgreSQL per operation: pg_stat_statements over one UDP REGISTER run (ack,
# batch) and one call run (without and with cluster mode) each (the library is loaded with track=none; these runs alone set
# track=all for the sipws role); the counts, not the rates, of these runs are the figures.
statements() { # SUITE KIND(register|call) CLUSTER(yes|no)
  local suite=$1 kind=$2 cl=$3
  wants "$suite" || return 0
  new_db
  psql_su "$db" "CREATE EXTENSION pg_stat_statements" >/dev/null
  psql_su postgres "ALTER ROLE sipws SET pg_stat_statements.track = 'all'" >/dev/null
  psql_su "$db" "SELECT pg_stat_statements_reset()" >/dev/null
  start_node a "$store" "$cl"
  if [[ $kind == register ]]; then
    quiet_machine
    gen "$dir/$suite-1.json" register --target "udp:127.0.0.1:${nudp[a]}" --domain localhost \
      --connections 50 --user-base 100000 --duration "$seconds" --warmup 1 \
      $(pid_args "${npid[a]}" $(pg_pids))
    record "$suite" 1 "$dir/$suite-1.json"
  else
    call_round "$suite" 1 50
  fi
  stop_node a
  psql_su postgres "ALTER ROLE sipws RESET pg_stat_statements.track" >/dev/null
  print_statements
  psql_su postgres "DROP DATABASE $db" >/dev/null
}
print_statements() { # the most frequent statements of the sipws role in $db
  echo "  statements of the sipws role in this run, the 8 most frequent (calls, mean execution us):"
  psql_su "$db" "SELECT calls, round((mean_exec_time * 1000)::numeric, 1) AS mean_us,
      left(regexp_replace(query, '\s+', ' ', 'g'), 90)
    FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
    WHERE r.rolname = 'sipws' ORDER BY calls DESC LIMIT 8" | sed 's/^/    /'
}
statements statements-udp-reg-cluster register yes
extra_sets=(--set store_sync=batch)
statements statements-udp-reg-cluster-batch register yes
extra_sets=()
statements statements-call-pg call no
statements statements-call-pg-cluster call yes

# BINDINGS distinct AORs on one cluster node, then calls with them in the table
if wants bindings; then
  new_db
  t0=$(date +%s.%N)
  start_node a "$store" yes
  t1=$(date +%s.%N)
  printf 'node start with an empty store: %.1f s to "sipws ready"\n' \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  quiet_machine
  batch=100 t0=$(date +%s.%N)
  for ((base = 1000000; base < 1000000 + bindings; base += batch)); do
    n=$((bindings - (base - 1000000) < batch ? bindings - (base - 1000000) : batch))
    # n UDP flows, each registering its own AOR (b<base+i>); a closed loop answered in order
    # finishes about every flow twice in --count 2n (a datagram lost once is retried)
    timeout 60 "$load" register --target "udp:127.0.0.1:${nudp[a]}" --domain localhost \
      --user-prefix b --user-base "$base" --connections "$n" --count $((2 * n)) \
      --expires 3600 --timeout 5000 --warmup 0 --duration 30 --quiet \
      --json "$dir/bind.json" >/dev/null 2>&1 || true
    if [[ -n ${DEBUG_BIND:-} ]]; then jq -c '{operations, ops_per_s, errors, first_error}' "$dir/bind.json"; fi
  done
  t1=$(date +%s.%N)
  read -r rows total table index < <(psql_su "$db" "SELECT count(*), pg_total_relation_size('location'),
    pg_relation_size('location'), pg_indexes_size('location') FROM location" | tr '\t' ' ')
  printf 'bindings: %s rows in location after %.0f s of registering (%s AORs asked), %s: table %s, indexes %s\n' \
    "$rows" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$bindings" "$(numfmt --to=iec "$total")" \
    "$(numfmt --to=iec "$table")" "$(numfmt --to=iec "$index")"
  printf 'bindings\t%s\t%s\t%s\t%s\t%s\n' "$rows" "$total" "$table" "$index" "$bindings" >"$dir/bindings.tsv"
  psql_su "$db" "ANALYZE location" >/dev/null
  aor=$(psql_su "$db" "SELECT aor FROM location LIMIT 1")
  echo "the lookup's plan with $rows rows (one AOR):"
  psql_su "$db" "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT aor, contact, instance, reg_id, path,
    received, expires_at, q, call_id, cseq, user_agent, node, route FROM location
    WHERE aor = '$aor' ORDER BY aor, contact" | sed 's/^/  /'
  for ((r = 1; r <= rounds; r++)); do
    call_round call-c50-pg-cluster-held "$r" 50
  done
  call_round call-c1-pg-cluster-held 1 1
  stop_node a
  # again with pg_stat_statements: the lookup's execution time among 50k rows, and the start
  # of a node that loads them
  psql_su "$db" "CREATE EXTENSION pg_stat_statements" >/dev/null
  psql_su postgres "ALTER ROLE sipws SET pg_stat_statements.track = 'all'" >/dev/null
  psql_su "$db" "SELECT pg_stat_statements_reset()" >/dev/null
  t0=$(date +%s.%N)
  start_node a "$store" yes
  t1=$(date +%s.%N)
  printf 'node start with %s bindings in the store: %.1f s to "sipws ready"\n' "$rows" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  call_round statements-call-pg-cluster-held 1 50
  stop_node a
  psql_su postgres "ALTER ROLE sipws RESET pg_stat_statements.track" >/dev/null
  print_statements
fi

# ---- the table -------------------------------------------------------------------------------
echo
echo "medians of each column over the rounds (CPU: 100 % = one core; pg = every PostgreSQL process)"
printf '%-28s %9s %8s %8s %7s %9s %10s %7s %9s %6s %s\n' suite ops/s p50_ms p99_ms errors \
  sipws_cpu sipws_us/op pg_cpu pg_us/op gen% "load1 busy%(first run)"
awk -F'\t' '
  { n[$1]++; for (c = 3; c <= 11; c++) v[$1, c, n[$1]] = $c
    if (!($1 in first)) { first[$1] = $12 " " $13; order[++k] = $1 } }
  function med(s, c,   i, j, a, m, t) {
    m = n[s]; for (i = 1; i <= m; i++) a[i] = v[s, c, i] + 0
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return a[int((m + 1) / 2)] }
  END { for (i = 1; i <= k; i++) { s = order[i]
    printf "%-28s %9d %8s %8s %7d %8s%% %10s %6s%% %9s %5s%% %s\n", s, med(s, 3), med(s, 4),
      med(s, 5), med(s, 6), med(s, 7), med(s, 8), med(s, 9), med(s, 10), med(s, 11), first[s] } }' "$results"
if [[ -s $dir/bindings.tsv ]]; then awk -F'\t' '{ printf "bindings: %d rows (of %d asked); location %.1f MB in all (table %.1f MB, indexes %.1f MB), %.0f bytes per binding\n", $2, $6, $3 / 1048576, $4 / 1048576, $5 / 1048576, $3 / ($2 ? $2 : 1) }' "$dir/bindings.tsv"; fi
if [[ -n ${KEEP_RESULTS:-} ]]; then cp "$results" "$KEEP_RESULTS"; fi
