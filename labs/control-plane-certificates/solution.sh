#!/usr/bin/env bash
# Reference solution of the control-plane-certificates lab, with kubeadm's commands.
# `ckslab solve control-plane-certificates` runs it in the lab's workspace right after setup.sh, with
# KUBECONFIG set to the admin kubeconfig (<root>/.lab/kubeconfig), the pinned kubectl, kubeadm and
# `ckslab` first on PATH.
set -euo pipefail
root="${CKSLAB_ROOT:-$(cd "$(dirname "$KUBECONFIG")/.." && pwd)}"
export CKSLAB_ROOT="$root"
info=$(ckslab node info) || { echo "control-plane-certificates cannot be done on this cluster." >&2; exit 1; }
kubelet=$(sed -n 's/^kubelet: //p' <<<"$info")  # yes: the control plane runs as static pods

# kubeadm where the cluster's /etc/kubernetes is: in the node on kind; here, chrooted into .lab/local
# (--rootfs), as root or in a user namespace of one's own (unshare -r). `ckslab node kubeadm` does either.
kubeadm_on_node() { ckslab node kubeadm "$@"; }

# 1. When does everything expire? (kubeadm's text table without -o.)
kubeadm_on_node certs check-expiration -o json 2>/dev/null > .expiration.json
python3 - <<'PY'
import json
info = json.load(open(".expiration.json"))
date = lambda rows, name: next(r["expirationDate"][:10] for r in rows if r["name"] == name)
with open("expiration.yaml", "w") as out:
    out.write(f"apiserver_expires: {date(info['certificates'], 'apiserver')}\n")
    out.write(f"ca_expires: {date(info['certificateAuthorities'], 'ca')}\n")
PY
cat expiration.yaml

# 2. Renew every certificate kubeadm manages (not the CAs).
kubeadm_on_node certs renew all 2>&1 | grep -v -e 'could not fetch a Kubernetes version' -e 'falling back to the local'

# 3. Restart the control plane, as kubeadm says: the controller manager and the scheduler read their
#    kubeconfigs only when they start. etcd and the API server first: while they restart, the
#    controller manager and the scheduler may lose their leader lease and exit (on kind), and the
#    kubelet starts them again after a back-off. Then wait until every static pod is Ready.
for component in etcd apiserver; do
  ckslab controlplane restart "$component"
done
timeout 120 sh -c 'until kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done'
for component in controller-manager scheduler; do
  ckslab controlplane restart "$component"
done
if [ "$kubelet" = yes ]; then
  kubectl -n kube-system wait pod -l tier=control-plane --for=condition=Ready --timeout=300s
fi

# 4. The API server's certificate, as it serves it.
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
hostport=${server#https://}
openssl s_client -connect "$hostport" </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate

# 5. admin.conf was renewed: your own copy of it (here .lab/kubeconfig) is not; give it the new credentials.
python3 -m graders.control_plane_certificates.record copy-admin
kubectl auth whoami

# 6. The CAs: kubeadm certs renew renews none of them.
kubeadm_on_node certs check-expiration -o json 2>/dev/null > .expiration.json
python3 - <<'PY'
import json
info = json.load(open(".expiration.json"))
with open("cas.yaml", "w") as out:
    out.write("renewed_cas: []\nexpires:\n")
    for row in info["certificateAuthorities"]:
        out.write(f"  {row['name']}: {row['expirationDate'][:10]}\n")
PY
rm -f .expiration.json
cat cas.yaml
