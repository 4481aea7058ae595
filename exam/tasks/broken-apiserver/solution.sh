#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl get --raw /readyz || true   # connection refused
# On the node (ckslab exam ssh {{context}}): the API server's log says why it stops.
ckslab node cat /var/log/kube-apiserver.log | grep -E '^ *(E[0-9]{4}|Error)' | tail -2
ckslab node cat /etc/kubernetes/manifests/kube-apiserver.yaml | grep -- --{{flag}}
# kubeadm's file for --{{flag}}: /etc/kubernetes/pki/{{right}}
right=$(ckslab node path /etc/kubernetes/pki/{{right}})
ckslab node cat /etc/kubernetes/manifests/kube-apiserver.yaml | sed "s|--{{flag}}=.*|--{{flag}}=$right|" \
  | ckslab node write /etc/kubernetes/manifests/kube-apiserver.yaml
for _ in $(seq 120); do  # the kubelet starts it again
  kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 1
done
kubectl get --raw /readyz
echo "--{{flag}}" > {{cause}}
