#!/usr/bin/env bash
set -euo pipefail
kubectl create namespace {{ns}} --dry-run=client -o yaml | kubectl apply -f -
kubectl delete --ignore-not-found -n {{ns}} role/{{role}} rolebinding/{{role}}
