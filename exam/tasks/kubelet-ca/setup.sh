#!/usr/bin/env bash
# The kubelet serves a certificate the cluster CA signed (made here with the CA's key), the API server does not verify
# it, and a pod logs one line.
set -euo pipefail
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
ip=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
# The kubelet (no serverTLSBootstrap, no tlsCertFile) serves /var/lib/kubelet/pki/kubelet.crt, which it signs
# itself only when the file is missing: replaced by one the cluster CA signed, it serves that one.
pki=/var/lib/kubelet/pki
if ! ckslab node exec -- openssl verify -CAfile /etc/kubernetes/pki/ca.crt $pki/kubelet.crt >/dev/null 2>&1; then
  ckslab node exec -- sh -c "cd $pki && umask 077 \
    && openssl ecparam -name prime256v1 -genkey -noout -out kubelet.key.new \
    && openssl req -new -key kubelet.key.new -subj /O=system:nodes/CN=system:node:$node -out kubelet.csr.new \
    && printf 'subjectAltName=DNS:$node,IP:$ip\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n' > ext.cnf \
    && openssl x509 -req -in kubelet.csr.new -CA /etc/kubernetes/pki/ca.crt -CAkey /etc/kubernetes/pki/ca.key \
         -CAcreateserial -CAserial /tmp/ca.srl -days 365 -extfile ext.cnf -out kubelet.crt.new 2>/dev/null \
    && rm -f kubelet.csr.new ext.cnf /tmp/ca.srl && chmod 644 kubelet.crt.new \
    && mv kubelet.key.new kubelet.key && mv kubelet.crt.new kubelet.crt && systemctl restart kubelet"
fi
# A new cluster's API server runs without --kubelet-certificate-authority. One set up again (`ckslab exam solve`, the
# tests) loses the flag an earlier attempt added, so that only this attempt's work sets it: the manifest is replaced
# at once (an edit in two steps lets the kubelet start the API server twice), then the kubelet restarts the API server.
manifest=/etc/kubernetes/manifests/kube-apiserver.yaml
unverified() {
  local flags
  flags=$(ckslab node flags apiserver) && ! grep -q -- '^--kubelet-certificate-authority=' <<<"$flags" \
    && kubectl get --raw /readyz
}
if ckslab node exec -- grep -q -- '--kubelet-certificate-authority=' $manifest; then
  ckslab node cat $manifest | sed '/--kubelet-certificate-authority=/d' | ckslab node write $manifest
fi
wait_for 240 "kube-apiserver to run without --kubelet-certificate-authority and answer /readyz" unverified
kubectl create namespace {{ns}} --dry-run=client -o yaml | kubectl apply -f -
kubectl -n {{ns}} delete pod {{pod}} --ignore-not-found
# A new namespace's default ServiceAccount is made by the controller manager, which may be restarting after
# an API server restart: the pod is refused until it exists.
wait_for 120 "the controller manager to create the ServiceAccount {{ns}}/default" \
  kubectl -n {{ns}} get serviceaccount default
image=$(kubectl -n kube-system get daemonset kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}')
kubectl -n {{ns}} run {{pod}} --image "$image" --image-pull-policy Never --restart Never \
  --command -- sh -c 'echo "ready {{line}}"; exec sleep 86400'
kubectl -n {{ns}} wait pod/{{pod}} --for condition=Ready --timeout 120s
