#!/usr/bin/env bash
# The controller manager as kubeadm writes it: no --cluster-signing-duration (the default 8760h).
set -euo pipefail
kubectl delete csr {{user}} --ignore-not-found
manifest=/etc/kubernetes/manifests/kube-controller-manager.yaml
if ckslab node cat $manifest | grep -q -- '--cluster-signing-duration'; then
  ckslab node cat $manifest | grep -v -- '--cluster-signing-duration' | ckslab node write $manifest
  for _ in $(seq 90); do  # the kubelet restarts it: until the new process runs (and signs)
    flags=$(ckslab node flags controller-manager 2>/dev/null) && ! grep -q -- '--cluster-signing-duration' <<<"$flags" && break
    sleep 1
  done
fi
