#!/usr/bin/env bash
# Reference solution of the csr-review lab, with the commands of the exam.
# `ckslab solve csr-review` runs it in the lab's workspace (after setup.sh) with KUBECONFIG set to
# the admin kubeconfig, the pinned kubectl first on PATH, and CKSLAB_USER (reviewer by default).
set -euo pipefail
user="${CKSLAB_USER:-reviewer}"

# Review: who asked (REQUESTOR), for which signer and usages, and for which identity (CN, O).
columns=NAME:.metadata.name,REQUESTOR:.spec.username,SIGNER:.spec.signerName,USAGES:.spec.usages
kubectl get csr -o custom-columns="$columns"
for name in "$user-alice" "$user-bob" "$user-carol" "$user-dave" "$user-erin"; do
  printf '%s: ' "$name"
  kubectl get csr "$name" -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject
done
kubectl get clusterrolebinding "$user-ops-admins" -o wide   # the group $user-ops-admins is cluster-admin

# alice and bob ask for their own names in the developers group, for client auth: approve.
kubectl certificate approve "$user-alice" "$user-bob"
# carol asks for the cluster-admin group, dave for the controller manager's identity, erin for a
# server certificate from the client signer: deny.
kubectl certificate deny "$user-carol" "$user-dave" "$user-erin"

kubectl wait "csr/$user-alice" "csr/$user-bob" --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr "$user-alice" "$user-bob" "$user-carol" "$user-dave" "$user-erin"
