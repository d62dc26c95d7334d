#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# mkcerts.sh DIR: a test CA and a server certificate it signed, for
# tests/kube/apiserver.py, made with openssl into DIR (created if needed):
#
#   DIR/ca.crt, DIR/ca.key          the CA (P-256, CA:TRUE, keyCertSign)
#   DIR/server.crt, DIR/server.key  the server's (serverAuth), with the SANs
#                                   localhost, kubernetes.default.svc,
#                                   127.0.0.1 and ::1
#
# Valid for 2 days: a test's certificates never outlive it.  Keys are 0600.
# Run twice into two directories for a CA that did not sign the server
# (a client trusting that one must fail verification).
set -eu
dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
umask 077
cd "$dir"

cat >openssl.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = tailplane test CA
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, DNS:kubernetes.default.svc, IP:127.0.0.1, IP:::1
CNF

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -out ca.crt -days 2 -sha256 \
	-config openssl.cnf -extensions ca_ext -subj "/CN=tailplane test CA $$" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
openssl req -new -key server.key -out server.csr -config openssl.cnf \
	-subj "/CN=kube-apiserver" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out server.crt -days 2 -sha256 -extfile openssl.cnf -extensions server_ext 2>/dev/null
rm -f server.csr ca.srl openssl.cnf
chmod 644 ca.crt server.crt
openssl verify -CAfile ca.crt server.crt >/dev/null
