#!/usr/bin/env bash
# One pending CSR, created as its requester (so spec.username and spec.groups are theirs).
set -euo pipefail
kubectl delete --ignore-not-found csr/{{csr}} clusterrolebinding/csr-create-{{requester}}
kubectl create clusterrolebinding csr-create-{{requester}} --clusterrole system:node-bootstrapper \
  --user {{requester}}
openssl genrsa -out key.pem 2048 2>/dev/null
openssl req -new -key key.pem -subj "/CN={{requester}}/O={{team}}" -out req.pem
kubectl create --as {{requester}} --as-group {{team}} -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{csr}}
spec:
  request: $(base64 -w0 req.pem)
  signerName: {{signer}}
  usages: [{{usages}}]
YAML
