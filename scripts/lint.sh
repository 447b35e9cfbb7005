#!/usr/bin/env bash
# Lint stage of scripts/test.sh: every C++ file of src/, tests/unit/, tests/fuzz/, tools/ and
# bench/ is formatted as .clang-format says, and clang-tidy (.clang-tidy: bugprone-*,
# performance-*) finds nothing in the translation units of src/ and tools/ (see TIDY_DIRS).
# A finding that is not a defect here is silenced on its line with
# `// NOLINT(check-name)` and the reason, or, for a whole check, in .clang-tidy with the reason.
# Usage: scripts/lint.sh [--format-only] [BUILD_DIR]   (default build: a configured build with
# compile_commands.json, e.g. after `cmake --preset release`; nothing needs to be built)
# SIPWS_LINT_JOBS (default 2) clang-tidy processes run at once. clang-tidy takes about 9 CPU
# minutes over the 86 translation units (2026-12-06: 11 min with 2 jobs on 2 cores shared with
# other work, load 4); no check dominates: the costliest, performance-unnecessary-value-param,
# is 10-15% of a file's check time, 40% in the two CLI11 mains (src/app, tools/load).
# --format-only: clang-format alone (seconds; no build directory needed).
set -uo pipefail
cd "$(dirname "$0")/.."
format_only=0
if [[ "${1:-}" == --format-only ]]; then
  format_only=1
  shift
fi
build=${1:-build}
FORMAT_DIRS=(src tests/unit tests/fuzz tools bench)
# tests/ would double clang-tidy's time (gtest and websocketpp make its TUs the largest) for
# findings in test code; the headers of src/ that the tests include are checked through src/.
TIDY_DIRS=(src tools)

rc=0
mapfile -t files < <(find "${FORMAT_DIRS[@]}" -name '*.cpp' -o -name '*.hpp' | sort)
unformatted=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if ((${#unformatted[@]})); then
  printf 'not formatted (clang-format -i FILE): %s\n' "${unformatted[@]}"
  rc=1
fi
echo "clang-format: ${#files[@]} files, ${#unformatted[@]} not formatted"
((format_only)) && exit "$rc"

if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "lint: $build/compile_commands.json is missing: configure first (cmake --preset release)"
  exit 1
fi
# The translation units of the build under TIDY_DIRS (headers are checked through them, as
# .clang-tidy's HeaderFilterRegex says).
pattern=$(printf '|%s/' "${TIDY_DIRS[@]}")
mapfile -t tus < <(python3 - "$build/compile_commands.json" "$PWD" "${pattern:1}" <<'EOF'
import json, os, re, sys
db, root, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
seen = set()
for e in json.load(open(db)):
    path = os.path.relpath(os.path.join(e["directory"], e["file"]), root)
    if re.match(f"({pattern})", path) and path not in seen:
        seen.add(path)
        print(path)
EOF
)
log=$(mktemp)
start=$SECONDS
# --quiet drops the per-file statistics; a finding is printed as "file:line:col: warning: ...".
printf '%s\n' "${tus[@]}" | xargs -P "${SIPWS_LINT_JOBS:-2}" -n 1 \
  clang-tidy -p "$build" --quiet --warnings-as-errors='*' >"$log" 2>&1
tidy_rc=$?
grep -E '(warning|error): ' "$log" | sort -u
echo "clang-tidy: ${#tus[@]} files in $((SECONDS - start)) s, $(grep -cE '(warning|error): ' "$log") findings"
((tidy_rc)) && { grep -E 'error: |Error' "$log" | grep -v 'warnings treated as errors' | head -5; rc=1; }
rm -f "$log"
exit "$rc"
