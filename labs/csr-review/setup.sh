#!/usr/bin/env bash
# Setup of the csr-review lab: five users submit CertificateSigningRequests for the reviewer.
# `ckslab start csr-review` runs it in the lab's workspace with KUBECONFIG set to the admin
# kubeconfig, the pinned kubectl first on PATH, and CKSLAB_USER (reviewer by default).
# Safe to run twice: a later `ckslab start` keeps the requests there are, with your decisions, and
# submits only the missing ones; CKSLAB_AGAIN=1 (`ckslab reset`, `ckslab solve`, `ckslab start --again`)
# deletes what an earlier run made and submits every request again, pending.
#
# The requesters' keys and requests are kept in requests/. Each CSR is created *as* its requester
# (impersonation, which the admin may do: it is cluster-admin), so spec.username and the
# REQUESTOR column of `kubectl get csr` show who asked, as on a real cluster.
set -euo pipefail
user="${CKSLAB_USER:-reviewer}"
requesters=("$user-alice" "$user-bob" "$user-carol" "$user-dave" "$user-erin")

rbac=("clusterrolebinding/$user-ops-admins" "clusterrolebinding/$user-csr-requesters" "clusterrole/$user-csr-requester")
if [ -n "${CKSLAB_AGAIN:-}" ]; then
  kubectl delete --ignore-not-found "${requesters[@]/#/csr/}" "${rbac[@]}"
fi
kept=()
for name in "${requesters[@]}"; do
  if condition=$(kubectl get csr "$name" -o jsonpath='{.status.conditions[*].type}' 2>/dev/null); then
    kept+=("$name (${condition:-Pending})")
  fi
done
if [ ${#kept[@]} -gt 0 ]; then
  echo "NOTE: Kept from an earlier start, with your decisions: $(printf '%s, ' "${kept[@]}" | sed 's/, $//')." \
       "To submit every request again, pending: ckslab reset csr-review"
fi

# The group of the ops team's certificates, bound to cluster-admin; and, since users may not create
# CSRs by default, the right to create them for the five requesters (the verbs the docs list).
kubectl get "${rbac[@]}" >/dev/null 2>&1 || {
  kubectl delete --ignore-not-found "${rbac[@]}" >/dev/null
  cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $user-ops-admins
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: $user-ops-admins}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: $user-csr-requester
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $user-csr-requesters
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $user-csr-requester}
subjects:
YAML
  printf -- '- {apiGroup: rbac.authorization.k8s.io, kind: User, name: %s}\n' "${requesters[@]}"
} | kubectl create -f -

# submit NAME SUBJECT USAGE...: a key, a request for SUBJECT, and the CSR NAME created by NAME.
submit() {
  local name=$1 subject=$2
  shift 2
  if kubectl get csr "$name" >/dev/null 2>&1; then
    return  # kept (said above)
  fi
  openssl genrsa -out "requests/$name.key" 2048 2>/dev/null
  openssl req -new -key "requests/$name.key" -subj "$subject" -out "requests/$name.csr"
  {
    cat <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $name
spec:
  request: $(base64 -w 0 "requests/$name.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages:
YAML
    printf '  - %s\n' "$@"
  } > "requests/$name-csr.yaml"
  kubectl create --as="$name" -f "requests/$name-csr.yaml"
}

mkdir -p requests
client=("digital signature" "key encipherment" "client auth")
submit "$user-alice" "/O=$user-developers/CN=$user-alice" "${client[@]}"
submit "$user-bob" "/O=$user-developers/CN=$user-bob" "${client[@]}"
submit "$user-carol" "/O=$user-developers/O=$user-ops-admins/CN=$user-carol" "${client[@]}"
submit "$user-dave" "/CN=system:kube-controller-manager" "${client[@]}"
submit "$user-erin" "/O=$user-developers/CN=$user-erin" "digital signature" "key encipherment" "server auth"

# What the notebook demonstrates, asked of this cluster rather than assumed: does the API server's
# CertificateSubjectRestriction admission plugin refuse a system:masters request? (A dry run: nothing is stored.)
openssl genrsa -out requests/.probe.key 2048 2>/dev/null
openssl req -new -key requests/.probe.key -subj "/O=system:masters/CN=$user-probe" -out requests/.probe.csr
if answer=$(kubectl create --dry-run=server -o name -f - 2>&1 <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $user-probe
spec:
  request: $(base64 -w 0 requests/.probe.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
); then
  echo "NOTE: this cluster's API server accepts a system:masters request (CertificateSubjectRestriction is" \
       "disabled): the refusal the notebook shows will not happen here, and only your review stands in the way."
else
  echo "NOTE: CertificateSubjectRestriction is enabled on this cluster: the API server refuses a system:masters" \
       "request (${answer##*: })."
fi
rm -f requests/.probe.key requests/.probe.csr
