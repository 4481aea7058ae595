#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
kubectl create role {{role}} -n {{ns}} --verb get,list,watch --resource pods
kubectl create rolebinding {{role}} -n {{ns}} --role {{role}} --group {{group}}
kubectl auth can-i list pods -n {{ns}} --as {{member}} --as-group {{group}}
