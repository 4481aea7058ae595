#!/usr/bin/env bash
# Reference solution of the jane-access lab, with the commands of the exam.
# `ckslab solve jane-access` runs it in the lab's workspace after setup.sh, with KUBECONFIG set to
# the admin kubeconfig, the pinned kubectl first on PATH, and CKSLAB_USER (jane by default).
set -euo pipefail
user="${CKSLAB_USER:-jane}"
namespace="development${CKSLAB_SUFFIX-}"
group="developers${CKSLAB_SUFFIX-}"

# Start again from setup's state: a binding's roleRef cannot change, so delete, then create.
kubectl delete rolebinding developer-binding configmap-reader-binding -n "$namespace" --ignore-not-found
kubectl delete role developer configmap-reader -n "$namespace" --ignore-not-found

# 1. the Role, 2. the RoleBinding for the user (CN)
kubectl create role developer --verb=get,list,watch,create,update,delete --resource=pods -n "$namespace"
kubectl create rolebinding developer-binding --role=developer --user="$user" -n "$namespace"

# 3. configmaps for the group (O)
kubectl create role configmap-reader --verb=get,list,watch --resource=configmaps -n "$namespace"
kubectl create rolebinding configmap-reader-binding --role=configmap-reader --group="$group" -n "$namespace"

# 4. the user's own view, 5. and what stays forbidden
kubectl auth can-i --list -n "$namespace" --kubeconfig="$user.kubeconfig"
kubectl get pods,configmaps --kubeconfig="$user.kubeconfig"
if kubectl get pods -n default --kubeconfig="$user.kubeconfig" 2>/dev/null; then
  echo "$user can list pods in default: some binding gives too much" >&2
  exit 1
fi
kubectl auth can-i get secrets -n "$namespace" --as="$user" --as-group="$group" || true
