#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl get rolebindings,clusterrolebindings -A -o wide | grep -e {{leaked}} -e {{group}}
kubectl patch rolebinding {{binding}} -n {{ns}} --type json \
  -p '[{"op": "replace", "path": "/subjects", "value": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "{{keep}}"}]}]'
kubectl delete rolebinding {{group}}-secrets -n {{ns}}
kubectl auth can-i get secrets -n {{ns}} --as {{leaked}} --as-group {{group}} || true
