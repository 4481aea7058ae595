#!/usr/bin/env bash
# What a candidate types on the node (ckslab exam ssh {{context}}), with `ckslab node` for the node here.
set -euo pipefail
kubectl config use-context {{context}}
cd "$(ckslab node path /)"   # the node's /: etc/kubernetes is /etc/kubernetes there
openssl x509 -in .{{dir}}/{{name}}.crt -noout -issuer -enddate
for ca in etc/kubernetes/pki/ca.crt etc/kubernetes/pki/front-proxy-ca.crt etc/kubernetes/pki/etcd/ca.crt; do
  if openssl verify -CAfile $ca .{{dir}}/{{name}}.crt >/dev/null 2>&1; then echo "/$ca" > .{{dir}}/{{name}}-ca.txt; fi
done
date -u -d "$(openssl x509 -in .{{dir}}/{{name}}.crt -noout -enddate | cut -d= -f2)" +%F > .{{dir}}/{{name}}-expires.txt
cat .{{dir}}/{{name}}-ca.txt .{{dir}}/{{name}}-expires.txt
