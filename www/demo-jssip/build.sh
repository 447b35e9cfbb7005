#!/bin/sh
# Vendors the JsSIP browser bundle for the demo phone.
#
# Installs the exact versions of package-lock.json (npm ci) and copies JsSIP's prebuilt browser
# bundle to vendor/jssip.min.js, which index.html loads. vendor/ and node_modules/ are build
# output (see .gitignore). Needs node >= 18 and npm; no other tool, no CDN at run time.
set -eu

cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error

bundle=node_modules/jssip/dist/jssip.min.js
if [ ! -f "$bundle" ]; then
  echo "build.sh: $bundle not found (JsSIP releases after 3.12.0 ship no dist/ bundle)" >&2
  exit 1
fi

mkdir -p vendor
cp "$bundle" vendor/jssip.min.js
cp node_modules/jssip/LICENSE vendor/jssip-LICENSE.txt
echo "build.sh: vendor/jssip.min.js ($(wc -c < vendor/jssip.min.js) bytes) from jssip $(node -p "require('./node_modules/jssip/package.json').version")"
