#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
# On the node (ckslab exam ssh {{context}}): the flag in the API server's static pod manifest.
manifest=/etc/kubernetes/manifests/kube-apiserver.yaml
ckslab node exec -- sh -c "sed -i '/--kubelet-certificate-authority=/d' $manifest \
  && sed -i 's#^\( *\)- --kubelet-client-key=.*#&\n\1- --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt#' $manifest \
  && grep -- --kubelet-certificate-authority $manifest"
# The kubelet restarts the API server (a minute or two): wait for the running flag, then for it to answer.
end=$((SECONDS + 240))
while [ $SECONDS -lt $end ]; do
  ckslab node flags kube-apiserver 2>/dev/null | grep -qx -- '--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt' \
    && kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 1
done
for _ in $(seq 20); do kubectl -n {{ns}} logs {{pod}} 2>/dev/null && break; sleep 1; done
kubectl -n {{ns}} logs {{pod}}
