#!/usr/bin/env bash
# The bootstrap RBAC kubeadm makes, an existing Node object, and two kubelet client CSRs created as
# bootstrap token users (impersonated: no kubelet runs). The keys stay in this private folder.
set -euo pipefail
kubectl delete --ignore-not-found csr/{{legit}} csr/{{forged}} node/{{existing}} node/{{joining}} \
  clusterrolebinding/kubelet-bootstrap-{{team}}
kubectl apply -f - <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubelet-bootstrap-{{team}}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-bootstrapper}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:bootstrappers}]
---
apiVersion: v1
kind: Node
metadata:
  name: {{existing}}
  labels: {kubernetes.io/hostname: {{existing}}, kubernetes.io/os: linux}
YAML
submit() {  # name, subject, token id
  openssl ecparam -genkey -name prime256v1 -noout -out "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  kubectl create --as "system:bootstrap:$3" --as-group system:bootstrappers --as-group system:authenticated -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $1
spec:
  request: $(base64 -w0 "$1.csr")
  signerName: kubernetes.io/kube-apiserver-client-kubelet
  usages: [digital signature, client auth]
YAML
}
if [ "{{forged_kind}}" = other-node ]; then
  forged=("/O=system:nodes/CN=system:node:{{existing}}" {{other_token}})
else
  forged=("/O=system:nodes/O=system:masters/CN=system:node:{{joining}}" {{token}})
fi
for name in {{names}}; do
  name=${name%,}
  if [ "$name" = {{legit}} ]; then submit "$name" "/O=system:nodes/CN=system:node:{{joining}}" {{token}}
  else submit "$name" "${forged[0]}" "${forged[1]}"; fi
done
