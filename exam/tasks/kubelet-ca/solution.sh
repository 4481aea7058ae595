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
# On the node (ckslab exam ssh {{context}}): the flag in the API server's static pod manifest, after
# --kubelet-client-key. The file is replaced at once: the kubelet rereads the folder on every change, and an edit in
# two steps (sed -i twice) can make it start the API server twice, the second time after this script has seen the first.
manifest=/etc/kubernetes/manifests/kube-apiserver.yaml
ckslab node cat $manifest | sed -e '/--kubelet-certificate-authority=/d' \
  -e 's#^\( *\)- --kubelet-client-key=.*#&\n\1- --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt#' \
  | ckslab node write $manifest
ckslab node cat $manifest | grep -- --kubelet-certificate-authority
# The kubelet restarts the API server (a minute or two): wait for the running flag, then for it to answer.
verifies() {
  local flags
  flags=$(ckslab node flags apiserver) \
    && grep -qx -- '--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt' <<<"$flags" && kubectl get --raw /readyz
}
wait_for 240 "kube-apiserver to run with --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt and answer /readyz" \
  verifies
wait_for 60 "kubectl -n {{ns}} logs {{pod}} to work" kubectl -n {{ns}} logs {{pod}}
kubectl -n {{ns}} logs {{pod}}
