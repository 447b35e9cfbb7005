#!/usr/bin/env bash
# Makes a development CA and a server certificate signed by it, for sipws's `tls_cert` /
# `tls_key` (WSS and SIP over TLS), so that browsers and phones on other devices trust the demo
# once the CA is imported there. See certs/README.md.
#
#   certs/make-dev-ca.sh [-o DIR] [--days N] [--new-ca] NAME [NAME...]
#
# NAME: DNS names and IP addresses (IPv4 or IPv6) the server is reached by; all go into
# subjectAltName, the first is also the subject CN. Writes into DIR (default: certs/dev beside
# this script; created with mode 0700):
#   ca.crt, ca.key            the CA (EC P-256, 10 years); kept and reused on later runs,
#                             so a CA imported once keeps working for new server certificates
#   server.crt, server.key    the server certificate (EC P-256, signed by the CA, N days,
#                             default 397: what browsers accept for a leaf) and its key
#   server-fullchain.crt      server.crt then ca.crt, for `tls_cert`
# Keys are written with mode 0600. An existing ca.key is never overwritten unless --new-ca is
# given (then every device must import the new ca.crt). Needs openssl 1.1.1 or later.
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

out="$(cd "$(dirname "$0")" && pwd)/dev"
days=397
new_ca=0
names=()
while (($#)); do
  case $1 in
    -o | --out)
      [[ $# -ge 2 ]] || usage
      out=$2
      shift 2
      ;;
    --days)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || usage
      days=$2
      shift 2
      ;;
    --new-ca)
      new_ca=1
      shift
      ;;
    -h | --help) usage ;;
    -*)
      echo "make-dev-ca.sh: unknown option $1" >&2
      usage
      ;;
    *)
      names+=("$1")
      shift
      ;;
  esac
done
((${#names[@]})) || usage
command -v openssl >/dev/null || {
  echo "make-dev-ca.sh: openssl not found (apt-get install openssl)" >&2
  exit 1
}

# subjectAltName: IP literals as IP:, everything else as DNS: (checked to be a host name).
san=()
for n in "${names[@]}"; do
  if [[ $n =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || $n == *:* ]]; then
    san+=("IP:$n")
  elif [[ $n =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
    san+=("DNS:$n")
  else
    echo "make-dev-ca.sh: '$n' is neither a host name nor an IP address" >&2
    exit 2
  fi
done
san_list=$(IFS=,; echo "${san[*]}")

umask 077
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ -e $out/ca.key && $new_ca == 0 ]]; then
  [[ -s $out/ca.crt ]] || {
    echo "make-dev-ca.sh: $out/ca.key exists without ca.crt; refusing to overwrite the CA key" \
      "(give --new-ca to replace it)" >&2
    exit 1
  }
  echo "reusing the CA in $out (ca.crt, ca.key); --new-ca makes a new one"
else
  [[ -e $out/ca.key ]] && echo "replacing the CA in $out (--new-ca): import the new ca.crt everywhere"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key"
  cat >"$tmp/ca.ext" <<CAEXT
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CAEXT
  # A unique subject per CA, so that two imported development CAs do not look alike.
  openssl req -new -x509 -key "$tmp/ca.key" -sha256 -days 3650 -set_serial "0x$(openssl rand -hex 16)" \
    -subj "/O=sipws development/CN=sipws dev CA $(hostname -s 2>/dev/null || echo host) $(date -u +%Y%m%d%H%M%S)" \
    -extensions v3_ca -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\n'; cat "$tmp/ca.ext") \
    -out "$tmp/ca.crt"
  mv -f "$tmp/ca.key" "$out/ca.key"
  mv -f "$tmp/ca.crt" "$out/ca.crt"
  chmod 600 "$out/ca.key"
  chmod 644 "$out/ca.crt"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/server.key"
openssl req -new -key "$tmp/server.key" -subj "/O=sipws development/CN=${names[0]}" \
  -out "$tmp/server.csr"
cat >"$tmp/server.ext" <<SRVEXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san_list
SRVEXT
openssl x509 -req -in "$tmp/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$tmp/server.ext" \
  -out "$tmp/server.crt" 2>/dev/null
openssl verify -CAfile "$out/ca.crt" "$tmp/server.crt" >/dev/null
mv -f "$tmp/server.key" "$out/server.key"
mv -f "$tmp/server.crt" "$out/server.crt"
cat "$out/server.crt" "$out/ca.crt" >"$out/server-fullchain.crt"
chmod 600 "$out/server.key"
chmod 644 "$out/server.crt" "$out/server-fullchain.crt"

cat <<DONE
server certificate for $san_list, valid $days days:
  $out/server-fullchain.crt
  $out/server.key
Use it in sipws's configuration (WSS and TLS listeners):
  "tls_cert": "$out/server-fullchain.crt",
  "tls_key": "$out/server.key"
or: sipws run --set tls_cert=$out/server-fullchain.crt --set tls_key=$out/server.key
Then import $out/ca.crt (not the key) once on each device as a trusted certificate authority.
Without tls_cert/tls_key sipws generates its own self-signed certificate for localhost in
dev_cert_dir (default ./var/certs/sipws-dev.crt under the working directory).
DONE
