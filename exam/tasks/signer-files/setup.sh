#!/usr/bin/env bash
# A CA that is not the cluster's (same name, CN=kubernetes) given to the CSR signer; one CSR issued by it.
set -euo pipefail
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubernetes" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" 2>/dev/null
ckslab node write /etc/kubernetes/pki/{{ca}}.crt < ca.crt
ckslab node write /etc/kubernetes/pki/{{ca}}.key < ca.key
ckslab node exec -- chmod 600 "$(ckslab node path /etc/kubernetes/pki/{{ca}}.key)"
crt=$(ckslab node path /etc/kubernetes/pki/{{ca}}.crt)
key=$(ckslab node path /etc/kubernetes/pki/{{ca}}.key)
manifest=/etc/kubernetes/manifests/kube-controller-manager.yaml
ckslab node cat $manifest | sed -e "s|--cluster-signing-cert-file=.*|--cluster-signing-cert-file=$crt|" \
  -e "s|--cluster-signing-key-file=.*|--cluster-signing-key-file=$key|" | ckslab node write $manifest
for _ in $(seq 90); do  # the kubelet restarts it: until the new process runs
  flags=$(ckslab node flags controller-manager 2>/dev/null) && grep -q -- "{{ca}}.key" <<<"$flags" && break
  sleep 1
done
kubectl delete csr {{user}} {{user}}-new --ignore-not-found
openssl req -new -newkey rsa:2048 -nodes -keyout user.key -subj "/CN={{user}}" -out user.csr 2>/dev/null
cat <<YAML | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{user}}
spec:
  request: $(base64 -w0 user.csr)
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
kubectl certificate approve {{user}}
kubectl wait csr/{{user}} --for=jsonpath='{.status.certificate}' --timeout=90s
