#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
# wait_for SECONDS WHAT COMMAND...: run COMMAND each second until it succeeds. Says what it waits for, and past SECONDS
# that it waited in vain (then the script fails with that line).
wait_for() {
  local limit=$1 what=$2 end=$((SECONDS + $1)); shift 2
  "$@" >/dev/null 2>&1 && return
  echo "waiting for $what" >&2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { echo "waited ${limit}s for $what, in vain" >&2; return 1; }
    sleep 1
  done
}
node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
# On the node (ckslab exam ssh {{context}}):
ckslab node exec -- sh -c "grep -q '^serverTLSBootstrap: true' /var/lib/kubelet/config.yaml \
  || echo 'serverTLSBootstrap: true' >> /var/lib/kubelet/config.yaml; systemctl restart kubelet"
# Back here: the kubelet's pending request, requested by system:node:NODE for CN=system:node:NODE.
own=""
pending_own() {
  own=$(kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving -o jsonpath="{range .items[?(@.spec.username=='system:node:$node')]}{.metadata.name}{' '}{.status.conditions[0].type}{'\n'}{end}" \
        | awk 'NF == 1 {print $1}' | tail -1)
  [ -n "$own" ]
}
wait_for 150 "a pending kubelet-serving CSR requested by system:node:$node (the restarted kubelet's)" pending_own
pending_own
kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving \
  -o custom-columns=NAME:.metadata.name,REQUESTOR:.spec.username,CONDITION:.status.conditions[*].type
kubectl get csr csr-{{forged}} -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -text | grep -A1 'Alternative'
kubectl certificate deny csr-{{forged}}
kubectl certificate approve "$own"
# The controller manager signs it (it may be restarting after an API server restart), then the kubelet serves it.
issued() { [ -n "$(kubectl get csr "$own" -o jsonpath='{.status.certificate}')" ]; }
wait_for 150 "the controller manager to issue the certificate of the approved csr/$own" issued
fingerprint=$(kubectl get csr "$own" -o jsonpath='{.status.certificate}' | base64 -d | openssl x509 -noout -fingerprint -sha256)
serves_it() {
  [ "$(ckslab node exec -- sh -c 'echo | openssl s_client -connect 127.0.0.1:10250 2>/dev/null \
       | openssl x509 -noout -fingerprint -sha256')" = "$fingerprint" ]
}
wait_for 90 "the kubelet to serve on port 10250 the certificate issued for csr/$own" serves_it
