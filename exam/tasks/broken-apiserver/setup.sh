#!/usr/bin/env bash
# One certificate flag of the API server's manifest changed to a file it cannot use: it stops.
set -euo pipefail
case {{flag}} in
  tls-cert-file) broken=apiserver-tls.crt ;;
  client-ca-file) broken=client-ca.crt ;;
  etcd-certfile) broken=apiserver-etcd-client.key ;;
esac
broken=$(ckslab node path /etc/kubernetes/pki/$broken)
manifest=/etc/kubernetes/manifests/kube-apiserver.yaml
ckslab node cat $manifest | sed "s|--{{flag}}=.*|--{{flag}}=$broken|" | ckslab node write $manifest
for _ in $(seq 90); do  # the kubelet stops the running API server, and the new one does not start
  ckslab node flags apiserver >/dev/null 2>&1 || break
  sleep 1
done
sleep 2
