#!/usr/bin/env bash
# Installs what sipws needs to build and test on Debian 12, only what is missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(cmake ninja-build ccache g++ pkg-config libboost-all-dev libssl-dev libwebsocketpp-dev
      nlohmann-json3-dev libsqlite3-dev libsoci-dev libspdlog-dev libcli11-dev libgtest-dev
      libbenchmark-dev libsrtp2-dev libc-ares-dev libmimalloc-dev zlib1g-dev openssl
      libpq-dev libmariadb-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(sip-tester clang libclang-rt-14-dev iproute2 util-linux dnsmasq-base kamailio
         kamailio-websocket-modules kamailio-tls-modules chromium sipvicious python3 clang-format
         clang-tidy sqlite3 curl)
  # trace-pcap.test.mjs decodes the trace_pcap file with tshark.
  pkgs+=(tshark)
  # install.test.mjs: cpack -G DEB runs dpkg-shlibdeps; the unit is checked by systemd-analyze;
  # dpkg -i of the package needs adduser (postinst), and systemd boots it in a namespace.
  pkgs+=(dpkg-dev systemd adduser)
  # The store tests start their own PostgreSQL and MariaDB servers (tests/unit/store/db_servers.hpp).
  pkgs+=(postgresql mariadb-server mariadb-client)
  # store_layout kamailio is tested on the schema Kamailio's own scripts create.
  pkgs+=(kamailio-postgres-modules kamailio-mysql-modules)
fi
# Node.js (demo page bundle, tests) may come from another package source than Debian's: check
# the commands instead of the packages.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
