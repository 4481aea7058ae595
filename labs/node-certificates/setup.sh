#!/usr/bin/env bash
# Setup of the node-certificates lab (`ckslab start` and `ckslab reset node-certificates` run it):
# the control-plane node's kubelet asks for a serving certificate, and a forged request waits beside it.
# It runs in the lab's workspace with KUBECONFIG (the admin kubeconfig), the pinned kubectl and
# python3 and `ckslab` first on PATH; the node is reached with `ckslab node` (kind's container).
# Safe to run twice: when an earlier start on this node recorded its forged CSR (and the kubelet still has
# serverTLSBootstrap: true), a later `ckslab start` keeps the lab as it is (your decisions, the kubelet's certificates) and says so. With
# CKSLAB_AGAIN=1 (`ckslab reset`, `ckslab solve`, `ckslab start --again`) it starts the lab over, for every
# learner of the cluster (the kubelet is shared):
#
# 1. deletes the forged CSR of an earlier run and every kubernetes.io/kubelet-serving CSR of the node;
# 2. sets serverTLSBootstrap: true in the node's /var/lib/kubelet/config.yaml (kept from then on: an
#    approved serving certificate is what the kubelet should run with; the original file is kept in
#    <root>/.lab/node-certificates/), removes the kubelet's serving certificates
#    (/var/lib/kubelet/pki/kubelet-server-*.pem) and restarts the kubelet, which then requests a new one
#    and waits: until it is approved the kubelet serves no TLS, and `kubectl logs`/`exec` fail;
# 3. submits a forged kubelet-serving CSR for the node's name, as a service account (impersonation,
#    which the admin may do), with one address that is not the node's: the kubernetes Service's IP.
set -euo pipefail
root="${CKSLAB_ROOT:-$(cd "$(dirname "$KUBECONFIG")/.." && pwd)}"
store="$root/.lab/node-certificates"
info=$(ckslab node info 2>/dev/null || true)
if [ "$(sed -n 's/^kubelet: //p' <<<"$info")" != yes ]; then
  echo "node-certificates needs BACKEND=kind: ckslab changes the kubelet inside the node container." >&2
  exit 1
fi
node=$(sed -n 's/^name: //p' <<<"$info")
serving=kubernetes.io/kubelet-serving
forger=system:serviceaccount:monitoring:node-exporter
mkdir -p "$store"
chmod 700 "$store"

# The CSR names of the serving signer requested by USER ("" for every requester).
serving_csrs() {
  kubectl get csr --field-selector "spec.signerName=$serving" -o json | python3 -c 'import json, sys
who = sys.argv[1]
for item in json.load(sys.stdin)["items"]:
    if not who or item["spec"].get("username") == who:
        print(item["metadata"]["name"], "pending" if not item.get("status", {}).get("conditions") else "decided")' "${1:-}"
}

# Started before on this node: its forged CSR was recorded, and the kubelet runs with serverTLSBootstrap (a new
# cluster's does not). The CSRs themselves may be gone: the csrcleaner deletes decided ones after an hour.
if [ -z "${CKSLAB_AGAIN:-}" ] && [ -s "$store/forged-csr" ] \
   && ckslab node exec -- grep -q '^serverTLSBootstrap: true' /var/lib/kubelet/config.yaml; then
  forged=$(cat "$store/forged-csr")
  condition=$(kubectl get csr "$forged" -o jsonpath='{.status.conditions[*].type}' 2>/dev/null || echo "deleted")
  echo "NOTE: The lab was started on this node before: it is kept as it is (the forged CSR $forged:" \
       "${condition:-Pending}; the kubelet keeps its serving certificate, if approved). To start over:" \
       "ckslab reset node-certificates"
  exit 0
fi

# 1. Start over.
if [ -s "$store/forged-csr" ]; then
  kubectl delete csr "$(cat "$store/forged-csr")" --ignore-not-found
fi
old=$(serving_csrs "system:node:$node" | cut -d' ' -f1)
[ -z "$old" ] || kubectl delete csr $old
kubectl delete --ignore-not-found clusterrolebinding/node-certificates-csr-creator clusterrole/node-certificates-csr-creator

# 2. serverTLSBootstrap on, no serving certificate, kubelet restarted.
config=/var/lib/kubelet/config.yaml
[ -s "$store/original-kubelet-config.yaml" ] || ckslab node cat "$config" > "$store/original-kubelet-config.yaml"
ckslab node exec -- sh -c "grep -q '^serverTLSBootstrap:' $config \
  && sed -i 's/^serverTLSBootstrap:.*/serverTLSBootstrap: true/' $config \
  || echo 'serverTLSBootstrap: true' >> $config
rm -f /var/lib/kubelet/pki/kubelet-server-*.pem
systemctl restart kubelet"
echo "serverTLSBootstrap: true in $config of $node; the kubelet restarted without a serving certificate"
real=""
for _ in $(seq 90); do
  real=$(serving_csrs "system:node:$node" | awk '$2 == "pending" {print $1}' | head -1)
  [ -n "$real" ] && break
  sleep 1
done
[ -n "$real" ] || { echo "the kubelet of $node did not request a serving certificate within 90s" \
  "(ckslab node exec -- journalctl -u kubelet says why)" >&2; exit 1; }
echo "the kubelet requested its serving certificate: CSR $real (Pending)"

# 3. The forged request: the node's subject and names, plus the kubernetes Service's ClusterIP.
ip=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
service_ip=$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')
cat <<YAML | kubectl create -f -
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: node-certificates-csr-creator
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: node-certificates-csr-creator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-certificates-csr-creator}
subjects:
- {kind: ServiceAccount, name: ${forger##*:}, namespace: monitoring}
YAML
( umask 077
  openssl ecparam -name prime256v1 -genkey -noout -out "$store/forged.key"
  openssl req -new -key "$store/forged.key" -subj "/O=system:nodes/CN=system:node:$node" \
    -addext "subjectAltName=DNS:$node,IP:$ip,IP:$service_ip" -out "$store/forged.csr" )
forged=$(kubectl create --as="$forger" -o jsonpath='{.metadata.name}' -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  generateName: csr-
spec:
  request: $(base64 -w 0 "$store/forged.csr")
  signerName: $serving
  usages: [digital signature, server auth]
YAML
)
echo "$forged" > "$store/forged-csr"
echo "NOTE: The kubelet of $node waits for its serving certificate (kubectl get csr): until one is approved," \
     "kubectl logs and kubectl exec on $node fail."
