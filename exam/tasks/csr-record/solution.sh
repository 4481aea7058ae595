#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p "$(dirname {{file}})"
join() { kubectl get csr {{csr}} -o jsonpath="{$1}" | tr -d '[]"' | sed 's/,/, /g'; }
{
  echo "requestor: $(kubectl get csr {{csr}} -o jsonpath='{.spec.username}')"
  echo "groups: $(join .spec.groups)"
  echo "signer: $(kubectl get csr {{csr}} -o jsonpath='{.spec.signerName}')"
  echo "usages: $(join .spec.usages)"
} > {{file}}
cat {{file}}
