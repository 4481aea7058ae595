#!/usr/bin/env bash
# What a candidate types on the node (ckslab exam ssh {{context}}), with `ckslab node` for the node here.
set -euo pipefail
kubectl config use-context {{context}}
kubeadm() { ckslab node kubeadm "$@"; }
cd "$(ckslab node path /)"   # the node's /: etc/kubernetes is /etc/kubernetes there
pki=etc/kubernetes/pki
openssl x509 -in $pki/apiserver.crt -noout -ext subjectAltName
old=$(openssl x509 -in $pki/apiserver.crt -noout -ext subjectAltName | tail -1 | sed 's/DNS://g; s/IP Address://g; s/ //g')
mkdir -p root/apiserver-old && mv $pki/apiserver.crt $pki/apiserver.key root/apiserver-old/
kubeadm init phase certs apiserver --apiserver-cert-extra-sans "$old,{{dns}},{{ip}}" 2>&1 | grep -v -e 'could not fetch' -e 'falling back'
ckslab controlplane restart apiserver
timeout 120 sh -c 'until kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done'
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
openssl s_client -connect "${server#https://}" </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName
