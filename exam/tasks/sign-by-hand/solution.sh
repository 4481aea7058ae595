#!/usr/bin/env bash
# What a candidate types on the node (ckslab exam ssh {{context}}), with `ckslab node` for the node here.
set -euo pipefail
kubectl config use-context {{context}}
cd "$(ckslab node path /)"   # the node's /: etc/kubernetes is /etc/kubernetes there
grep -- --client-ca-file etc/kubernetes/manifests/kube-apiserver.yaml
mkdir -p .{{dir}}
openssl genrsa -out .{{dir}}/{{user}}.key 2048
openssl req -new -key .{{dir}}/{{user}}.key -subj "/CN={{user}}/O={{group}}" -out .{{dir}}/{{user}}.csr
openssl x509 -req -in .{{dir}}/{{user}}.csr -CA etc/kubernetes/pki/ca.crt -CAkey etc/kubernetes/pki/ca.key \
  -CAcreateserial -days {{days}} -out .{{dir}}/{{user}}.crt
openssl verify -CAfile etc/kubernetes/pki/ca.crt .{{dir}}/{{user}}.crt
