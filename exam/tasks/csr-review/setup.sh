#!/usr/bin/env bash
# Three pending CSRs, each created as its requester; the keys stay in this private folder.
set -euo pipefail
kubectl delete --ignore-not-found csr/{{good1}} csr/{{good2}} csr/{{decoy}} \
  clusterrolebinding/{{admins}} clusterrolebinding/csr-requesters-{{team}} clusterrole/csr-requesters-{{team}}
kubectl create clusterrolebinding {{admins}} --clusterrole cluster-admin --group {{admins}}
kubectl create clusterrole csr-requesters-{{team}} --verb create,get,list,watch \
  --resource certificatesigningrequests.certificates.k8s.io
kubectl create clusterrolebinding csr-requesters-{{team}} --clusterrole csr-requesters-{{team}} \
  --user {{good1}} --user {{good2}} --user {{decoy}}
submit() {
  openssl genrsa -out "$1.key" 2048 2>/dev/null
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  kubectl create --as "$1" --as-group {{team}} -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $1
spec:
  request: $(base64 -w0 "$1.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages: [digital signature, client auth]
YAML
}
if [ "{{decoy_kind}}" = admin-group ]; then decoy="/CN={{decoy}}/O={{team}}/O={{admins}}"
else decoy="/CN={{decoy_cn}}/O={{team}}"; fi
for who in {{good1}} {{good2}} {{decoy}}; do
  if [ "$who" = {{decoy}} ]; then submit "$who" "$decoy"; else submit "$who" "/CN=$who/O={{team}}"; fi
done
