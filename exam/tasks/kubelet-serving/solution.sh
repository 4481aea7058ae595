#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
# On the node (ckslab exam ssh {{context}}):
ckslab node exec -- sh -c "grep -q '^serverTLSBootstrap: true' /var/lib/kubelet/config.yaml \
  || echo 'serverTLSBootstrap: true' >> /var/lib/kubelet/config.yaml; systemctl restart kubelet"
# Back here: the kubelet's request, requested by system:node:NODE for CN=system:node:NODE.
own=""
end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  own=$(kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving -o jsonpath="{range .items[?(@.spec.username=='system:node:$node')]}{.metadata.name}{' '}{.status.conditions[0].type}{'\n'}{end}" \
        | awk 'NF == 1 {print $1}' | tail -1)
  [ -n "$own" ] && break
  sleep 1
done
kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving \
  -o custom-columns=NAME:.metadata.name,REQUESTOR:.spec.username,CONDITION:.status.conditions[*].type
kubectl get csr csr-{{forged}} -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -text | grep -A1 'Alternative'
kubectl certificate deny csr-{{forged}}
kubectl certificate approve "$own"
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
  ckslab node exec -- sh -c 'echo | openssl s_client -connect 127.0.0.1:10250 2>/dev/null | openssl x509 -noout -issuer' \
    | grep -q 'CN *= *kubernetes' && break
  sleep 1
done
