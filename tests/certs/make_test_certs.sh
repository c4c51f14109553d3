#!/bin/sh
# Writes a throw-away PKI for TLS tests into DIR (created if missing), with
# Debian 12's openssl 3.0; nothing is downloaded and nothing is kept in the
# repository. Every key is ECDSA P-256, unencrypted. Files (PEM):
#
#   ca.crt ca.key                  the test CA
#   other-ca.crt other-ca.key      a second, unrelated CA
#   server.crt server.key          the control plane: SAN DNS:localhost,
#                                  IP:127.0.0.1, signed by ca
#   other-server.crt/.key          the same names, signed by other-ca
#   node-1.crt/.key                client: CN=node-1 and URI SAN
#                                  spiffe://nginx-xds.test/node/node-1
#   blue-node-2.crt/.key           client: URI SAN
#                                  spiffe://nginx-xds.test/fleet/blue/node/node-2
#   cn-node-3.crt/.key             client: CN=node-3 only, no SAN
#   nameless.crt/.key              client: neither a CN nor a node URI
#   other-node-1.crt/.key          client node-1 signed by other-ca
#   expired-node-1.crt/.key        client node-1, valid only on 2020-01-01
#
# Usage: make_test_certs.sh DIR
set -eu

dir=$1
mkdir -p "$dir"
cd "$dir"
days=3

key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
}

ca() {
  key "$1"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# cert NAME CA SUBJECT EXTENSIONS [openssl ca dates...]
cert() {
  name=$1 signer=$2 subject=$3 ext=$4
  shift 4
  key "$name"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "$subject"
  printf '%s\n' "$ext" | tr ';' '\n' >"$name.ext"
  if [ $# -gt 0 ]; then
    # openssl x509 -req cannot backdate; openssl ca can.
    rm -rf "$name.db" && mkdir "$name.db" && : >"$name.db/index.txt" && echo 1000 >"$name.db/serial"
    cat >"$name.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $name.db/index.txt
new_certs_dir = $name.db
serial = $name.db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = optional
CNF
    openssl ca -batch -notext -config "$name.cnf" -cert "$signer.crt" -keyfile "$signer.key" \
      -in "$name.csr" -out "$name.crt" -extfile "$name.ext" "$@" 2>/dev/null
    rm -rf "$name.db" "$name.cnf"
  else
    openssl x509 -req -in "$name.csr" -CA "$signer.crt" -CAkey "$signer.key" -CAcreateserial \
      -days "$days" -out "$name.crt" -extfile "$name.ext" 2>/dev/null
  fi
  rm -f "$name.csr" "$name.ext"
}

server_ext="basicConstraints=CA:FALSE;extendedKeyUsage=serverAuth;subjectAltName=DNS:localhost,IP:127.0.0.1"
client_ext="basicConstraints=CA:FALSE;extendedKeyUsage=clientAuth"

ca ca "nginx-xds test CA"
ca other-ca "another test CA"
cert server ca "/CN=localhost" "$server_ext"
cert other-server other-ca "/CN=localhost" "$server_ext"
cert node-1 ca "/CN=node-1" "$client_ext;subjectAltName=URI:spiffe://nginx-xds.test/node/node-1"
cert blue-node-2 ca "/O=nginx-xds" \
  "$client_ext;subjectAltName=URI:spiffe://nginx-xds.test/fleet/blue/node/node-2"
cert cn-node-3 ca "/CN=node-3" "$client_ext"
cert nameless ca "/O=nginx-xds" "$client_ext;subjectAltName=URI:spiffe://nginx-xds.test/ns/x/sa/y"
cert other-node-1 other-ca "/CN=node-1" \
  "$client_ext;subjectAltName=URI:spiffe://nginx-xds.test/node/node-1"
cert expired-node-1 ca "/CN=node-1" \
  "$client_ext;subjectAltName=URI:spiffe://nginx-xds.test/node/node-1" \
  -startdate 20200101000000Z -enddate 20200102000000Z
rm -f ./*.srl
chmod 0644 ./*.crt ./*.key
