#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl get csr   # Approved, never Issued: the signer does not run
# On the node (ckslab exam ssh {{context}}): the controller manager's flags and its log say why.
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml | grep -- --controllers
ckslab node cat /var/log/kube-controller-manager.log | grep 'controller is disabled' | tail -1
# --controllers without -{{disabled}}: kubeadm's *,bootstrapsigner,tokencleaner. The kubelet restarts it.
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml \
  | sed 's|--controllers=.*|--controllers=*,bootstrapsigner,tokencleaner|' \
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
for user in {{first}} {{second}}; do
  kubectl wait csr/$user --for=jsonpath='{.status.certificate}' --timeout=90s
done
kubectl get csr {{first}} {{second}}
