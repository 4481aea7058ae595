#!/usr/bin/env bash
# A certificate issued by the cluster's signer for the unknown user, put in a kubeconfig in a Secret;
# its CSR is deleted (nothing names the user but the certificate itself). Keys stay in this folder.
set -euo pipefail
kubectl create namespace {{ns}} --dry-run=client -o yaml | kubectl apply -f -
kubectl delete --ignore-not-found -n {{ns}} secret/{{secret}} role/{{team}}-secrets rolebinding/{{team}}-secrets
kubectl delete --ignore-not-found csr/setup-{{secret}}
openssl genrsa -out key.pem 2048 2>/dev/null
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
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > ca.pem
kubectl config set-cluster cluster --kubeconfig found.kubeconfig --embed-certs --certificate-authority ca.pem \
  --server "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
kubectl config set-credentials unknown --kubeconfig found.kubeconfig --embed-certs \
  --client-certificate cert.pem --client-key key.pem
kubectl config set-context unknown --kubeconfig found.kubeconfig --cluster cluster --user unknown
kubectl config use-context unknown --kubeconfig found.kubeconfig
kubectl create secret generic {{secret}} -n {{ns}} --from-file kubeconfig=found.kubeconfig
if [ "{{allowed}}" = yes ]; then verbs=get,list,watch; else verbs=get; fi
kubectl create role {{team}}-secrets -n {{ns}} --verb "$verbs" --resource secrets
kubectl create rolebinding {{team}}-secrets -n {{ns}} --role {{team}}-secrets --group {{team}}
