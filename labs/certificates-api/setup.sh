#!/usr/bin/env bash
# Start of the certificates-api lab: the learner makes everything, so there is nothing to create;
# but the cluster may hold what an earlier run left, and the learner is told (NOTE: lines are shown).
# `ckslab start|reset certificates-api` runs it in the workspace with KUBECONFIG set to the admin
# kubeconfig, the pinned kubectl first on PATH and CKSLAB_USER.
set -euo pipefail
user="${CKSLAB_USER:-jane}"
# After `ckslab reset certificates-api --step S` past csr-object (CKSLAB_KEPT_STEPS names it), the CSR is this run's.
kept=" ${CKSLAB_KEPT_STEPS:-} "
if [[ $kept != *" csr-object "* ]] && status=$(kubectl get csr "$user" -o jsonpath='{.status.conditions[*].type}' 2>/dev/null); then
  echo "NOTE: The CSR $user from an earlier run is still in the cluster (${status:-Pending}). A CSR's spec" \
       "cannot be changed: delete it before you create yours: kubectl delete csr $user"
fi
