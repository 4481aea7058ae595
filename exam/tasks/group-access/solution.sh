#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl create role {{role}} -n {{ns}} --verb get,list,watch --resource pods --dry-run=client -o yaml \
  | kubectl apply -f -
kubectl create rolebinding {{role}} -n {{ns}} --role {{role}} --group {{group}} --dry-run=client -o yaml \
  | kubectl apply -f -
kubectl auth can-i list pods -n {{ns}} --as {{member}} --as-group {{group}}
