#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p "$(dirname {{file}})"
: > {{file}}
kubectl get csr {{soon1}} {{soon2}} {{later1}} {{later2}} {{refused}} -o jsonpath='{range .items[*]}{.metadata.name} {.status.certificate}{"\n"}{end}' |
while read -r user cert; do
  [ -n "$cert" ] || continue   # never issued (denied): no certificate, nothing to expire
  if ! base64 -d <<< "$cert" | openssl x509 -noout -checkend $(({{hours}} * 3600)) >/dev/null; then
    echo "$user" >> {{file}}
  fi
done
cat {{file}}
