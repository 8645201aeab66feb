#!/usr/bin/env bash
# Writes a throw-away PKI for the TLS tests into DIR (openssl, EC P-256):
#   ca.pem                        the CA that signs the server and client
#   server.pem server.key         for "localhost" and 127.0.0.1
#   client.pem client.key         a client certificate from ca.pem
#   other_ca.pem                  an unrelated CA
#   other_client.pem other_client.key  a client certificate from other_ca.pem
# Usage: make_certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

ca() {  # name
  openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=slimserve test $1" \
    -keyout "$1.key" -out "$1.pem" 2>/dev/null
}

leaf() {  # name ca extensions...
  local name=$1 ca=$2
  shift 2
  openssl req "${ec[@]}" -subj "/CN=$name" -keyout "$name.key" \
    -out "$name.csr" 2>/dev/null
  printf '%s\n' "$@" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
    -CAcreateserial -days 30 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca ca
ca other_ca
leaf server ca "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  "extendedKeyUsage=serverAuth"
leaf client ca "extendedKeyUsage=clientAuth"
leaf other_client other_ca "extendedKeyUsage=clientAuth"
