#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p {{dir}} "$(dirname {{cause_file}})"
failed() { kubectl get csr {{csr}} -o jsonpath="{.status.conditions[?(@.type==\"Failed\")].$1}"; }
printf 'reason: %s\nmessage: %s\n' "$(failed reason)" "$(failed message)" > {{cause_file}}
cat {{cause_file}}
kubectl apply -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{fixed}}
spec:
  request: $(kubectl get csr {{csr}} -o jsonpath='{.spec.request}')
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
kubectl certificate approve {{fixed}}
kubectl wait csr/{{fixed}} --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr {{fixed}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{colleague}}.crt
