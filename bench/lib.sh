# Shared by the bench scripts (source it): a scratch folder removed on exit, the processes a
# script started stopped by PID on exit, and the wait for sipws's ready line.
#
#   source "$(dirname "$0")/lib.sh"
#   bench_init                      # sets $dir (a new temporary folder) and the exit trap
#   "$build/sipws" run ... >"$dir/log" 2>&1 &
#   pid=$!; track "$pid"
#   wait_ready "$dir/log" "$pid" 10 # exits 1 with the log's tail if sipws is not ready in 10 s

bench_pids=()

# track PID...: processes to stop (SIGTERM, then wait) when the script exits.
track() { bench_pids+=("$@"); }

# untrack PID: a process the script stopped itself.
untrack() {
  local p keep=()
  for p in "${bench_pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  bench_pids=("${keep[@]}")
}

bench_cleanup() {
  local p
  for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${bench_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n ${dir:-} ]] && rm -rf "$dir"
}

bench_init() {
  dir=$(mktemp -d)
  trap bench_cleanup EXIT
}

# wait_ready LOG PID [SECONDS=10]: polls LOG for "sipws ready" (the process is ours, the wait
# bounded); exits 1 showing the log's tail when PID exits first or the time is up.
wait_ready() {
  local log=$1 pid=$2 limit=${3:-10} i
  for ((i = 0; i < limit * 10; i++)); do
    grep -q "sipws ready" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1  # polling the ready line of a process we started, bounded
  done
  grep -q "sipws ready" "$log" && return 0
  echo "sipws (pid $pid) did not get ready within $limit s:" >&2
  tail -n 20 "$log" >&2
  exit 1
}
