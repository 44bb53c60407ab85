#!/bin/sh
# Makes TEST-ONLY certificates for envoy/envoy-tls.yaml in build/test-certs/
# (or the directory given as $1): a CA, a server certificate for
# demo.ppv2.test/localhost/127.0.0.1, and a client certificate with
# CN=ppv2-test-client and the URI SAN spiffe://ppv2.test/client (for
# connection.uri_san_peer_certificate). The keys are generated here and never
# committed.
set -eu
dir="${1:-build/test-certs}"
command -v openssl >/dev/null 2>&1 || { echo "make-test-certs: openssl is not installed (Debian: apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
days=3650
openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=ppv2-wasm TEST-ONLY CA" \
  -keyout ca.key -out ca.crt 2>/dev/null
ext() { printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' "$1" "$2" > "$3"; }
ext serverAuth 'subjectAltName=DNS:demo.ppv2.test,DNS:localhost,IP:127.0.0.1,IP:::1' server.ext
ext clientAuth 'subjectAltName=URI:spiffe://ppv2.test/client' client.ext
for who in server client; do
  cn=$([ "$who" = server ] && echo demo.ppv2.test || echo ppv2-test-client)
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$who.key" -out "$who.csr" 2>/dev/null
  openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$who.ext" -out "$who.crt" 2>/dev/null
  rm -f "$who.csr" "$who.ext"
done
rm -f ca.srl
chmod 600 ./*.key
echo "make-test-certs: wrote TEST-ONLY ca.crt server.crt/key client.crt/key in $dir"
