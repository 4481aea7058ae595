#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
cat <<YAML | kubectl apply -f -
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{role}}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [get, list, watch]
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests/approval]
  verbs: [update]
- apiGroups: [certificates.k8s.io]
  resources: [signers]
  resourceNames: [{{signer}}]
  verbs: [approve]
YAML
kubectl create clusterrolebinding {{role}} --clusterrole {{role}} --user {{user}} --dry-run=client -o yaml \
  | kubectl apply -f -
# kubectl auth can-i cannot check signers (not a served resource); a SubjectAccessReview can:
kubectl create -o jsonpath='{.status.allowed}{"\n"}' -f - <<YAML
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: {{user}}
  resourceAttributes: {group: certificates.k8s.io, resource: signers, verb: approve, name: "{{signer}}"}
YAML
