#!/usr/bin/env bash
# A certificate issued by the cluster's signer for the unknown user, put in a kubeconfig in a Secret;
# its CSR is deleted (nothing names the user but the certificate itself). Keys stay in this folder.
set -euo pipefail
kubectl delete --ignore-not-found csr/setup-{{secret}}
if [ "{{allowed}}" = yes ]; then verbs="get, list, watch"; else verbs=get; fi
kubectl apply -f - <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: {{ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: {{team}}-secrets, namespace: {{ns}}}
rules: [{apiGroups: [""], resources: [secrets], verbs: [$verbs]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: {{team}}-secrets, namespace: {{ns}}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: {{team}}-secrets}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {{team}}}]
YAML
openssl ecparam -genkey -name prime256v1 -noout -out key.pem
openssl req -new -key key.pem -subj "/CN={{user}}/O={{group}}/O={{team}}" -out req.pem
kubectl create -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: setup-{{secret}}
spec:
  request: $(base64 -w0 req.pem)
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: $(({{hours}} * 3600))
  usages: [client auth]
YAML
kubectl certificate approve setup-{{secret}}
kubectl wait csr/setup-{{secret}} --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr setup-{{secret}} -o jsonpath='{.status.certificate}' | base64 -d > cert.pem
kubectl delete csr setup-{{secret}}
cat > found.kubeconfig <<YAML
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
    certificate-authority-data: $(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
users:
- name: unknown
  user:
    client-certificate-data: $(base64 -w0 cert.pem)
    client-key-data: $(base64 -w0 key.pem)
contexts:
- name: unknown
  context: {cluster: cluster, user: unknown}
current-context: unknown
YAML
kubectl delete --ignore-not-found -n {{ns}} secret/{{secret}}
kubectl create secret generic {{secret}} -n {{ns}} --from-file kubeconfig=found.kubeconfig
