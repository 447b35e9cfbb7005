#!/usr/bin/env bash
# Runs every test of sipws: installs what is missing, builds, then
#   0. the layering check (scripts/check-layering.py: every #include against the CMake link
#      lines and docs/architecture.md) and the lint (scripts/lint.sh: clang-format on every C++
#      file, clang-tidy with .clang-tidy on the translation units of src/ and tools/, warnings
#      as errors; a few minutes on 2 cores),
#   1. unit tests (GoogleTest via CTest, release build with -Werror; the store's on SQLite and
#      on a real PostgreSQL and MariaDB that the tests start in temporary folders),
#   2. integration tests (the real daemon with JsSIP in Node and SIPp, node --test), and the
#      RFC 4475 torture messages against the daemon over UDP and WS in a network namespace,
#   3. end-to-end tests: the demo web phone in headless Chromium (Playwright) calling through
#      the daemon (release build only),
#   4. the libFuzzer targets for a bounded time each (clang): the SIP parser, the SDP parser,
#      one WS message on its way to the SIP stack, the WS opening handshake, STUN / ICE-lite on
#      the media ports (with the demultiplexer), the session cookie, the /login body, and
#      Digest credentials (the Authorization parser, SIP digest auth and the WS upgrade's),
#   5. unit + integration tests again under ASan + UBSan, and a 2-minute soak of that build
#      (bench/soak.sh: idle WSS flows while registrations and calls churn).
# Set SIPWS_FUZZ_SECONDS (default 60: the SIP parser) and SIPWS_WS_FUZZ_SECONDS (default 30 per
# other target) to change the fuzzing time; SIPWS_SKIP_ASAN=1 to skip 5.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test || exit 1
# The store and cluster tests start their own PostgreSQL and MariaDB: here, a server that cannot
# start fails them instead of skipping them.
export SIPWS_REQUIRE_DB=1

passed=0
failed=0
failures=()
timings=()  # "SECONDS s  STAGE", printed at the end: where CI time goes
# What a failed node --test run printed for its failing tests, repeated at the end of the output
# (CI shows its tail).
failed_tests=$(mktemp)
trap 'rm -f "$failed_tests"' EXIT
stage() {  # stage NAME COMMAND...
  local name=$1
  shift
  echo "=== ${name}"
  stage_name=$name
  local started=$SECONDS
  if keep_failures "$@"; then
    passed=$((passed + 1))
    echo "=== ${name}: passed in $((SECONDS - started)) s"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== ${name}: FAILED after $((SECONDS - started)) s"
  fi
  timings+=("$((SECONDS - started)) s  ${name}")
}

build() {  # build PRESET [TARGETS...]
  local preset=$1
  shift
  cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset" ${1:+--target "$@"}
}

# keep_failures COMMAND...: runs COMMAND with its output passed through; when it fails, the
# failing node --test subtests (with their error blocks), GoogleTest's failure lines and CTest's
# list of failed tests are kept for the summary at the end.
keep_failures() {
  local log rc
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if ((rc != 0)); then
    { echo "--- ${stage_name}: what failed"
      awk '/^not ok /{show=1} /^ok /{show=0} /^The following tests FAILED/{show=1}
           show || /\[  FAILED  \]|: Failure$/' "$log" |
        head -n 200; } >>"$failed_tests"
  fi
  rm -f "$log"
  return "$rc"
}

integration() {  # integration BINARY
  # install.test.mjs installs the demo page, whose JsSIP bundle is vendored first.
  { [[ -f www/demo-jssip/vendor/jssip.min.js ]] || www/demo-jssip/build.sh; } &&
    (cd tests && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; }) &&
    SIPWS_BIN="$PWD/$1" node --test --test-concurrency=1 tests/integration/
}

# The demo page in headless Chromium against the daemon: needs its JsSIP bundle vendored.
e2e() {  # e2e BINARY
  { [[ -f www/demo-jssip/vendor/jssip.min.js ]] || www/demo-jssip/build.sh; } &&
    (cd tests && { [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund --loglevel=error; }) &&
    SIPWS_BIN="$PWD/$1" timeout 300 node --test --test-concurrency=1 tests/e2e/
}

# RFC 4475 torture messages against the daemon: sipws may try to forward them to the hosts they
# name, so they run in a network namespace with only loopback up (nothing leaves the machine).
netns() {  # netns BINARY
  local cmd="ip link set lo up && SIPWS_BIN='$PWD/$1' node --test --test-concurrency=1 tests/netns/"
  if unshare -n true 2>/dev/null; then
    unshare -n sh -c "$cmd"
  elif unshare -rn true 2>/dev/null; then
    unshare -rn sh -c "$cmd"
  else
    echo "no network namespace available here: tests/netns/ cannot run" >&2
    return 1
  fi
}

fuzz() {  # fuzz TARGET SECONDS SEED_FILES...
  local target=$1 seconds=$2 corpus
  shift 2
  corpus=$(mktemp -d)
  cp "$@" "$corpus"/
  build-fuzz/"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    "$corpus" 2>&1 | tail -n 15
  local rc=${PIPESTATUS[0]}
  rm -rf "$corpus"
  return "$rc"
}

stage "build (release)" build release
stage "layering" scripts/check-layering.py build
stage "lint (clang-format, clang-tidy)" scripts/lint.sh build
stage "unit tests" ctest --test-dir build -L unit --output-on-failure -j2
stage "integration tests" integration build/sipws
stage "RFC 4475 against the daemon (netns)" netns build/sipws
stage "e2e tests (Chromium)" e2e build/sipws
stage "build (fuzz)" build fuzz sip_parser_fuzz sdp_fuzz ws_message_fuzz ws_upgrade_fuzz \
  stun_fuzz auth_cookie_fuzz auth_login_fuzz auth_digest_fuzz
stage "layering (fuzz targets)" scripts/check-layering.py build-fuzz
stage "fuzz sip parser" fuzz sip_parser_fuzz "${SIPWS_FUZZ_SECONDS:-60}" \
  tests/vectors/rfc4475/*.dat tests/vectors/rfc5118/*.sip
stage "fuzz sdp parser" fuzz sdp_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/sdp/*
stage "fuzz ws message" fuzz ws_message_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/ws_message/*
stage "fuzz ws upgrade" fuzz ws_upgrade_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/ws_upgrade/*
stage "fuzz stun / ice-lite" fuzz stun_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/stun/*
stage "fuzz session cookie" fuzz auth_cookie_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/auth_cookie/*
stage "fuzz login body" fuzz auth_login_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/auth_login/*
stage "fuzz digest credentials" fuzz auth_digest_fuzz "${SIPWS_WS_FUZZ_SECONDS:-30}" tests/fuzz/corpus/auth_digest/*
if [[ "${SIPWS_SKIP_ASAN:-0}" != 1 ]]; then
  stage "build (asan-ubsan)" build asan-ubsan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  stage "unit tests (asan-ubsan)" ctest --test-dir build-asan -L unit --output-on-failure -j2
  stage "integration tests (asan-ubsan)" integration build-asan/sipws
  stage "RFC 4475 against the daemon (netns, asan-ubsan)" netns build-asan/sipws
  # bench/soak.sh for 2 minutes: 2,000 idle WSS flows, 200 REGISTER/s, 20 calls/s.
  stage "soak (asan-ubsan, 2 min)" bench/soak.sh build-asan/sipws build/sipws-load 120 2000 200 20 10
fi

echo
cat "$failed_tests"
printf 'stage time: %s\n' "${timings[@]}"
((failed)) && printf 'failed stage: %s\n' "${failures[@]}"
echo "stages: ${passed} passed, ${failed} failed"
((failed == 0))
