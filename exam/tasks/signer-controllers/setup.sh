#!/usr/bin/env bash
# The CSR signing controller turned off in the controller manager's --controllers; two approved CSRs waiting.
set -euo pipefail
manifest=/etc/kubernetes/manifests/kube-controller-manager.yaml
ckslab node cat $manifest | sed 's|^\( *- --controllers=.*\)$|\1,-{{disabled}}|' | ckslab node write $manifest
for _ in $(seq 90); do  # the kubelet restarts it: until the new process runs
  flags=$(ckslab node flags controller-manager 2>/dev/null) && grep -q -- ',-{{disabled}}' <<<"$flags" && break
  sleep 1
done
for user in {{first}} {{second}}; do
  kubectl delete csr $user --ignore-not-found
  openssl req -new -newkey rsa:2048 -nodes -keyout $user.key -subj "/CN=$user" -out $user.csr 2>/dev/null
  cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $user
spec:
  request: $(base64 -w0 $user.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
  kubectl certificate approve $user
done
