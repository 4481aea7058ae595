#!/usr/bin/env bash
# Start of the jane-access lab: where lab certificates-api ended, plus a group.
# The user gets a client certificate through the Certificates API (CN=$user, O=developers$CKSLAB_SUFFIX),
# approved and issued, and $user.kubeconfig that authenticates with it; the namespace
# development$CKSLAB_SUFFIX exists and is empty of RBAC. So the user authenticates but may do nothing.
# `ckslab start|reset|solve jane-access` runs it in the workspace with KUBECONFIG set to the admin
# kubeconfig, the pinned kubectl first on PATH and CKSLAB_USER. Idempotent: a kubeconfig that
# still authenticates as the user, in the group, is kept.
set -euo pipefail
user="${CKSLAB_USER:-jane}"
namespace="development${CKSLAB_SUFFIX-}"
group="developers${CKSLAB_SUFFIX-}"
csr="$user-developer"

# A reset deletes the namespace (kubectl waits for it); wait in case a deletion is still going.
if [[ "$(kubectl get namespace "$namespace" -o jsonpath='{.status.phase}' 2>/dev/null)" == Terminating ]]; then
  kubectl wait --for=delete "namespace/$namespace" --timeout=60s >/dev/null
fi
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

identity() {  # "user group1 group2 ..." as the API server sees the kubeconfig, or nothing
  kubectl auth whoami --kubeconfig="$user.kubeconfig" \
    -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups[*]}' 2>/dev/null || true
}
seen=$(identity)
if [[ "$seen" == "$user "* && " $seen " == *" $group "* ]]; then
  echo "NOTE: $user.kubeconfig from an earlier run is kept: it already authenticates as $user in the group $group."
  exit 0
fi

# The certificate, the way lab certificates-api made it, with O for the group.
openssl genrsa -out "$user.key" 2048 2>/dev/null
chmod 600 "$user.key"
openssl req -new -key "$user.key" -subj "/CN=$user/O=$group" -out "$user.csr"
kubectl delete csr "$csr" --ignore-not-found >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $csr
spec:
  request: $(base64 -w 0 "$user.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages: [digital signature, key encipherment, client auth]
YAML
kubectl certificate approve "$csr" >/dev/null
kubectl wait "csr/$csr" --for=jsonpath='{.status.certificate}' --timeout=60s >/dev/null
kubectl get csr "$csr" -o jsonpath='{.status.certificate}' | base64 -d > "$user.crt"

# The kubeconfig: the cluster, the user's certificate, and development$CKSLAB_SUFFIX as its namespace.
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
  | base64 -d > ca.crt
rm -f "$user.kubeconfig"
kubectl config set-cluster ckslab --server="$server" --certificate-authority=ca.crt --embed-certs \
  --kubeconfig="$user.kubeconfig" >/dev/null
kubectl config set-credentials "$user" --client-certificate="$user.crt" --client-key="$user.key" \
  --embed-certs --kubeconfig="$user.kubeconfig" >/dev/null
kubectl config set-context "$user" --cluster=ckslab --user="$user" --namespace="$namespace" \
  --kubeconfig="$user.kubeconfig" >/dev/null
kubectl config use-context "$user" --kubeconfig="$user.kubeconfig" >/dev/null
chmod 600 "$user.kubeconfig"
echo "$user.kubeconfig authenticates as $user in the group $group: $(identity)"
