#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
for csr in {{good1}} {{good2}} {{decoy}}; do
  echo "$csr: $(kubectl get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject)"
done
kubectl certificate approve {{good1}} {{good2}}
kubectl certificate deny {{decoy}}
