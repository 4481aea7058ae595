#!/usr/bin/env bash
set -euo pipefail
# On the node (ckslab exam ssh {{context}}): add the flag, with its unit, to the controller manager's manifest.
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml | grep -v -- --cluster-signing-duration \
  | sed 's|^\( *\)- kube-controller-manager$|&\n\1- --cluster-signing-duration={{hours}}h|' \
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
# The kubelet restarts it: wait for the running process to have the flag (ckslab node flags kube-controller-manager).
for _ in $(seq 90); do
  ckslab node flags controller-manager 2>/dev/null | grep -qx -- '--cluster-signing-duration={{hours}}h' && break
  sleep 1
done
# Back in the exam folder: a certificate issued after the restart, without expirationSeconds.
kubectl config use-context {{context}}
kubectl delete csr {{user}} --ignore-not-found   # a CSR's spec cannot change: a new request needs a new object
mkdir -p {{dir}}
openssl genrsa -out {{dir}}/{{user}}.key 2048
openssl req -new -key {{dir}}/{{user}}.key -subj "/CN={{user}}" -out {{dir}}/{{user}}.csr
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{user}}
spec:
  request: $(base64 -w0 {{dir}}/{{user}}.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=90s
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
openssl x509 -in {{dir}}/{{user}}.crt -noout -dates
