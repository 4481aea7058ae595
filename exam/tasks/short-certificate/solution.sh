#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p {{dir}}
openssl genrsa -out {{dir}}/{{user}}.key 2048
openssl req -new -key {{dir}}/{{user}}.key -subj "/CN={{user}}" -out {{dir}}/{{user}}.csr
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{user}}
spec:
  request: $(base64 -w0 {{dir}}/{{user}}.csr)
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: $(({{minutes}} * 60))
  usages: [client auth]
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
openssl x509 -in {{dir}}/{{user}}.crt -noout -dates
