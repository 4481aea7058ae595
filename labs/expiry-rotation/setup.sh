#!/usr/bin/env bash
# Start of the expiry-rotation lab: where lab certificates-api ended, but short-lived; and a leak.
# - $user.key, the CSR $user-original with spec.expirationSeconds: 600 (the minimum), approved and issued,
#   $user.crt (valid 10 minutes) and $user.kubeconfig. .setup/$user-original.crt keeps a copy of
#   that certificate, so the graders can tell the original key from a new one.
# - leaked/: the key, one-year certificate (its CSR had no expirationSeconds) and kubeconfig of
#   $user-ci, a CI robot, bound to the ClusterRole view by the ClusterRoleBinding $user-ci-view.
#   Its key "leaked": the step leak-response is to take every right away from that identity.
# `ckslab start|reset|solve expiry-rotation` runs it in the workspace with KUBECONFIG set to the
# admin kubeconfig, the pinned kubectl first on PATH and CKSLAB_USER. Idempotent: a credential
# whose files are intact and signed by this cluster's CA is kept (even expired: that is the
# lab's point), and the binding is made again only together with a new leaked credential.
set -euo pipefail
user="${CKSLAB_USER:-jane}"
robot="$user-ci"
mkdir -p .setup leaked
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
  | base64 -d > ca.crt
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')

intact() {  # KEY CRT: both exist, match, and the certificate is signed by this cluster's CA
  [[ -s $1 && -s $2 ]] || return 1
  openssl verify -no_check_time -CAfile ca.crt "$2" >/dev/null 2>&1 || return 1
  [[ "$(openssl pkey -in "$1" -pubout 2>/dev/null)" == "$(openssl x509 -in "$2" -noout -pubkey)" ]]
}

issue() {  # CSR NAME DIR [EXPIRATION_SECONDS]: a key for CN=NAME, the CSR CSR approved; DIR/NAME.*
  local csr=$1 name=$2 dir=$3 seconds=${4:-}
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  chmod 600 "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr"
  {
    cat <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $csr
spec:
  request: $(base64 -w 0 "$dir/$name.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages: [digital signature, key encipherment, client auth]
YAML
    [[ -z $seconds ]] || echo "  expirationSeconds: $seconds"
  } > "$dir/$name-csr.yaml"
  kubectl delete csr "$csr" --ignore-not-found >/dev/null
  kubectl apply -f "$dir/$name-csr.yaml" >/dev/null
  kubectl certificate approve "$csr" >/dev/null
  kubectl wait "csr/$csr" --for=jsonpath='{.status.certificate}' --timeout=60s >/dev/null
  kubectl get csr "$csr" -o jsonpath='{.status.certificate}' | base64 -d > "$dir/$name.crt"
}

kubeconfig() {  # NAME DIR: DIR/NAME.kubeconfig with DIR/NAME.{crt,key} embedded
  local name=$1 file=$2/$1.kubeconfig
  rm -f "$file"
  kubectl config set-cluster ckslab --server="$server" --certificate-authority=ca.crt --embed-certs \
    --kubeconfig="$file" >/dev/null
  kubectl config set-credentials "$name" --client-certificate="$2/$name.crt" \
    --client-key="$2/$name.key" --embed-certs --kubeconfig="$file" >/dev/null
  kubectl config set-context "$name" --cluster=ckslab --user="$name" --kubeconfig="$file" >/dev/null
  kubectl config use-context "$name" --kubeconfig="$file" >/dev/null
  chmod 600 "$file"
}

# The user's certificate: 10 minutes, the shortest the API server accepts.
if intact "$user.key" "$user.crt" && cmp -s "$user.crt" ".setup/$user-original.crt"; then
  echo "NOTE: $user.crt from an earlier run is kept (the original certificate of this lab, even expired)."
else
  issue "$user-original" "$user" . 600
  cp "$user.crt" ".setup/$user-original.crt"
  rm -f "$user.kubeconfig"
fi
[[ -s $user.kubeconfig ]] || kubeconfig "$user" .
openssl x509 -in "$user.crt" -noout -subject -dates

# The leaked credential: a one-year certificate, and rights to go with it.
if intact "leaked/$robot.key" "leaked/$robot.crt"; then
  echo "NOTE: leaked/$robot.crt from an earlier run is kept; its binding $robot-view is made again only with a new leak" \
       "(delete leaked/ and start again for a new one)."
else
  issue "$robot" "$robot" leaked
  kubeconfig "$robot" leaked
  kubectl delete clusterrolebinding "$robot-view" --ignore-not-found >/dev/null
  kubectl create clusterrolebinding "$robot-view" --clusterrole=view --user="$robot" >/dev/null
fi
openssl x509 -in "leaked/$robot.crt" -noout -subject -dates

# The signer's maximum, as this cluster runs it (the signing-config lab changes it): never assumed.
python3 -m graders.signing_duration || true
