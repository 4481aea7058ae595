#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p "$(dirname {{file}})"
: > {{file}}
for user in {{soon1}} {{soon2}} {{later1}} {{later2}} {{refused}}; do
  cert=$(kubectl get csr "$user" -o jsonpath='{.status.certificate}')
  [ -n "$cert" ] || continue   # never issued: nothing to expire
  if ! base64 -d <<< "$cert" | openssl x509 -noout -checkend $(({{hours}} * 3600)) >/dev/null; then
    echo "$user" >> {{file}}
  fi
done
cat {{file}}
