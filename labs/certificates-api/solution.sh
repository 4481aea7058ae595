#!/usr/bin/env bash
# Reference solution of the certificates-api lab, with the commands of the exam.
# `ckslab solve certificates-api` runs it in the lab's workspace with KUBECONFIG set to the
# admin kubeconfig, the pinned kubectl first on PATH, and CKSLAB_USER (jane by default).
set -euo pipefail
user="${CKSLAB_USER:-jane}"

# 1. private key, 2. signing request
openssl genrsa -out "$user.key" 2048
openssl req -new -key "$user.key" -subj "/CN=$user" -out "$user.csr"

# 3. the CertificateSigningRequest object (v1: signerName required, base64 on one line)
cat > "$user-csr.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $user
spec:
  request: $(base64 -w 0 "$user.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages:
  - digital signature
  - key encipherment
  - client auth
YAML
kubectl delete csr "$user" --ignore-not-found
kubectl apply -f "$user-csr.yaml"

# 4. approve, 5. the certificate
kubectl certificate approve "$user"
kubectl wait "csr/$user" --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr "$user" -o jsonpath='{.status.certificate}' | base64 -d > "$user.crt"

# 6. a kubeconfig for the user
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
  | base64 -d > ca.crt
kubectl config set-cluster ckslab --server="$server" --certificate-authority=ca.crt --embed-certs \
  --kubeconfig="$user.kubeconfig"
kubectl config set-credentials "$user" --client-certificate="$user.crt" --client-key="$user.key" \
  --embed-certs --kubeconfig="$user.kubeconfig"
kubectl config set-context "$user" --cluster=ckslab --user="$user" --kubeconfig="$user.kubeconfig"
kubectl config use-context "$user" --kubeconfig="$user.kubeconfig"
chmod 600 "$user.kubeconfig"
kubectl auth whoami --kubeconfig="$user.kubeconfig"
