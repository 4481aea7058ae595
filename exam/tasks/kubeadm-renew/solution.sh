#!/usr/bin/env bash
# What a candidate types on the node (ckslab exam ssh {{context}}), with `ckslab node` for the node here.
set -euo pipefail
kubectl config use-context {{context}}
kubeadm() { ckslab node kubeadm "$@"; }
cd "$(ckslab node path /)"   # the node's /: etc/kubernetes is /etc/kubernetes there
# `kubeadm certs check-expiration` shows the table; its EXPIRES column, read here with -o json (one
# kubeadm run): the names whose notAfter is within {{within}} days.
kubeadm certs check-expiration -o json 2>/dev/null | python3 -c '
import datetime as dt, json, sys
rows = json.load(sys.stdin)["certificates"]
limit = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days={{within}})
for row in rows:
    if dt.datetime.fromisoformat(row["expirationDate"].replace("Z", "+00:00")) < limit:
        print(row["name"])
' > ".{{report}}"
cat ".{{report}}"
kubeadm certs renew all
# kubeadm: "You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd".
# (etcd reads its certificate files on every new TLS handshake; the API server's restart makes new ones.)
ckslab controlplane restart apiserver
timeout 120 sh -c 'until kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done'
for component in controller-manager scheduler; do
  ckslab controlplane restart "$component"
done
cp etc/kubernetes/admin.conf ".{{kubeconfig}}"
kubectl --kubeconfig ".{{kubeconfig}}" auth whoami
