#!/usr/bin/env bash
# Setup of the control-plane-certificates lab: a control plane whose certificates expire in 5 days.
# `ckslab start|reset control-plane-certificates` runs it in the lab's workspace with KUBECONFIG set
# to the admin kubeconfig (<root>/.lab/kubeconfig), the pinned kubectl, kubeadm and `ckslab` first on
# PATH. kubeadm runs where the cluster's /etc/kubernetes is, through `ckslab node kubeadm` (in kind's
# node container; on the local backend chrooted into .lab/local with --rootfs, as root or in a user
# namespace of one's own, unshare -r).
#
# A new cluster's certificates are minutes old, so renewing them proves little. This re-issues every
# certificate and kubeconfig kubeadm manages from the same CAs (kubeadm itself does it:
# `kubeadm certs renew all` with a ClusterConfiguration whose certificateValidityPeriod is 120h),
# restarts the controller manager and the scheduler on them (etcd and the API server reload their
# files by themselves), gives
# <root>/.lab/kubeconfig admin.conf's new credentials, and records every serial in
# <root>/.lab/control-plane-certificates/setup.json for the graders. The CAs are kept: the cluster
# keeps working for every other lab, and a reset starts the lab again from 5 days before expiry.
#
# Safe to run twice: when that record exists for this cluster (its CA), a later `ckslab start` keeps
# the certificates as they are and says whether they were renewed since; only CKSLAB_AGAIN=1 (`ckslab reset`,
# `ckslab solve`, `ckslab start --again`) re-issues the 5-day certificates. lab.yaml's backends keep
# it off the existing backend, whose files ckslab cannot reach.
set -euo pipefail
root="${CKSLAB_ROOT:-$(cd "$(dirname "$KUBECONFIG")/.." && pwd)}"
export CKSLAB_ROOT="$root"
validity=120h

if ! ckslab node info >/dev/null 2>&1; then
  echo "NOTE: control-plane-certificates cannot be done on this cluster: ckslab cannot reach the" \
       "files of a control plane it did not create. Use make up BACKEND=local (or kind)."
  exit 0
fi

record="$root/.lab/control-plane-certificates/setup.json"
if [ -z "${CKSLAB_AGAIN:-}" ] && [ -s "$record" ]; then
  # The cluster CA's SHA-256, as the record keeps it: the kubeconfig's certificate-authority-data is ca.crt.
  ca=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
    | base64 -d | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
  if grep -q "\"ca_fingerprint\": \"$ca\"" "$record"; then
    started=$(date -u -r "$record" '+%Y-%m-%d %H:%M UTC')
    expires=$(kubectl config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d \
      | openssl x509 -noout -enddate | cut -d= -f2)
    # Renewed since? The apiserver certificate's serial now against the one the record kept.
    now_serial=$(ckslab node cat /etc/kubernetes/pki/apiserver.crt | openssl x509 -noout -serial | cut -d= -f2 \
      | tr 'A-F' 'a-f' | sed 's/^0*//')
    kept_serial=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["certificates"]["apiserver"]["serial"])' \
      "$record" 2>/dev/null || true)
    if [ "$now_serial" = "$kept_serial" ]; then
      state="not renewed yet: they still expire 5 days after that start"
    else
      state="renewed since (the API server's certificate is not the one the lab issued)"
    fi
    echo "NOTE: The lab was started on this cluster at $started; its certificates are kept, $state." \
         ".lab/kubeconfig's certificate expires on $expires. To re-issue the 5-day certificates and do the lab" \
         "again: ckslab reset control-plane-certificates"
    exit 0
  fi
fi

short_config="apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
certificateValidityPeriod: $validity"
config=/etc/kubernetes/ckslab-short-validity.yaml
log=$(mktemp)
ckslab node write "$config" <<<"$short_config"
ckslab node kubeadm certs renew all --config "$config" >"$log" 2>&1 \
  || { ckslab node rm "$config"; cat "$log" >&2; rm -f "$log"; exit 1; }
ckslab node rm "$config"
rm -f "$log"

# The controller manager and the scheduler read their kubeconfigs only when they start: restart them.
# The API server and etcd reload their certificate files by themselves (v1.37): wait until the API
# server serves the new apiserver.crt.
for component in controller-manager scheduler; do
  ckslab controlplane restart "$component" >/dev/null
done
python3 -m graders.control_plane_certificates.record wait-serving
python3 -m graders.control_plane_certificates.record copy-admin
kubectl get --raw /readyz >/dev/null
python3 -m graders.control_plane_certificates.record write
expires=$(kubectl config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d \
  | openssl x509 -noout -enddate | cut -d= -f2)
echo "NOTE: The control plane's certificates (and .lab/kubeconfig's) now expire on $expires: renew them before then," \
     "or the cluster stops answering (ckslab solve control-plane-certificates renews them)."
