#!/usr/bin/env bash
# Quick start: installs what is missing, builds build/sipws and runs the gateway on the embedded
# default (SQLite in ./var, udp/tcp 127.0.0.1:5060, ws 127.0.0.1:8080, wss 0.0.0.0:8443 with the
# demo page, domain localhost). Extra arguments go to `sipws run` (e.g. --set log_level=debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sipws
# The demo page's JsSIP bundle comes from npm (served locally, no CDN).
[[ -f www/demo-jssip/vendor/jssip.min.js ]] || www/demo-jssip/build.sh
exec build/sipws run "$@"
