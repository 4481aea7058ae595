#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p {{dir}} && cd {{dir}}
openssl genrsa -out {{user}}.key 2048
openssl req -new -key {{user}}.key -subj "/CN={{user}}/O={{group}}" -out {{user}}.csr
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{user}}
spec:
  request: $(base64 -w0 {{user}}.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{user}}.crt
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > ca.crt
kubectl config set-cluster {{context}} --kubeconfig {{user}}.kubeconfig --embed-certs --certificate-authority ca.crt \
  --server "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
kubectl config set-credentials {{user}} --kubeconfig {{user}}.kubeconfig --embed-certs \
  --client-certificate {{user}}.crt --client-key {{user}}.key
kubectl config set-context {{user}} --kubeconfig {{user}}.kubeconfig --cluster {{context}} --user {{user}}
kubectl auth whoami --kubeconfig {{user}}.kubeconfig --context {{user}}
