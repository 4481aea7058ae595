#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl get csr {{legit}} {{forged}} -o custom-columns=NAME:.metadata.name,REQUESTOR:.spec.username,SIGNER:.spec.signerName
for csr in {{legit}} {{forged}}; do
  echo "$csr: $(kubectl get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject)"
done
kubectl certificate approve {{legit}}
kubectl certificate deny {{forged}}
kubectl wait csr/{{legit}} --for=jsonpath='{.status.certificate}' --timeout=60s
