#!/usr/bin/env bash
# Five CSRs with different expirationSeconds: four approved and issued, one denied. Keys stay here.
set -euo pipefail
kubectl delete --ignore-not-found csr/{{soon1}} csr/{{soon2}} csr/{{later1}} csr/{{later2}} csr/{{refused}}
request() {  # user, hours: one CSR document
  openssl ecparam -genkey -name prime256v1 -noout -out "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  cat <<YAML
---
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $1
spec:
  request: $(base64 -w0 "$1.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: $(($2 * 3600))
  usages: [client auth]
YAML
}
{
  request {{soon1}} {{soon1_h}}
  request {{later1}} {{later1_h}}
  request {{refused}} {{refused_h}}
  request {{soon2}} {{soon2_h}}
  request {{later2}} {{later2_h}}
} | kubectl create -f -
kubectl certificate approve {{soon1}} {{soon2}} {{later1}} {{later2}}
kubectl certificate deny {{refused}}
kubectl wait csr/{{soon1}} csr/{{soon2}} csr/{{later1}} csr/{{later2}} --for=jsonpath='{.status.certificate}' --timeout=60s
