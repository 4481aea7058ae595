#!/usr/bin/env bash
set -euo pipefail
kubectl create namespace {{ns}} --dry-run=client -o yaml | kubectl apply -f -
kubectl delete --ignore-not-found -n {{ns}} role/secret-reader rolebinding/{{binding}} rolebinding/{{group}}-secrets
kubectl create role secret-reader -n {{ns}} --verb get,list --resource secrets
kubectl create rolebinding {{binding}} -n {{ns}} --role secret-reader --user {{leaked}} --user {{keep}}
kubectl create rolebinding {{group}}-secrets -n {{ns}} --role secret-reader --group {{group}}
