#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
# The issued certificate does not verify against the cluster CA:
tmp=$(mktemp -d)
kubectl get csr {{user}} -o jsonpath='{.status.certificate}' | base64 -d > $tmp/{{user}}-old.crt
ckslab node cat /etc/kubernetes/pki/ca.crt > $tmp/cluster-ca.crt
openssl verify -CAfile $tmp/cluster-ca.crt $tmp/{{user}}-old.crt || true
# On the node (ckslab exam ssh {{context}}): the signer's CA files are not the cluster's.
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml | grep -- --cluster-signing
ca=$(ckslab node path /etc/kubernetes/pki/ca.crt); cakey=$(ckslab node path /etc/kubernetes/pki/ca.key)
ckslab node cat /etc/kubernetes/manifests/kube-controller-manager.yaml \
  | sed -e "s|--cluster-signing-cert-file=.*|--cluster-signing-cert-file=$ca|" \
        -e "s|--cluster-signing-key-file=.*|--cluster-signing-key-file=$cakey|" \
  | ckslab node write /etc/kubernetes/manifests/kube-controller-manager.yaml
for _ in $(seq 90); do  # the kubelet restarts it (ckslab node flags kube-controller-manager)
  flags=$(ckslab node flags controller-manager 2>/dev/null) && grep -qx -- "--cluster-signing-key-file=$cakey" <<<"$flags" && break
  sleep 1
done
# A new certificate for {{user}}, issued by the fixed signer.
mkdir -p {{dir}}
openssl genrsa -out {{dir}}/{{user}}.key 2048
openssl req -new -key {{dir}}/{{user}}.key -subj "/CN={{user}}" -out {{dir}}/{{user}}.csr
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{user}}-new
spec:
  request: $(base64 -w0 {{dir}}/{{user}}.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
kubectl certificate approve {{user}}-new
kubectl wait csr/{{user}}-new --for=jsonpath='{.status.certificate}' --timeout=90s
kubectl get csr {{user}}-new -o jsonpath='{.status.certificate}' | base64 -d > {{dir}}/{{user}}.crt
openssl verify -CAfile $tmp/cluster-ca.crt {{dir}}/{{user}}.crt
rm -r $tmp
