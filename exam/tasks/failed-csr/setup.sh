#!/usr/bin/env bash
# The colleague's CSR, created as the colleague, approved: the signer refuses it and sets Failed.
# The key stays in this private folder (the colleague keeps it).
set -euo pipefail
kubectl delete --ignore-not-found csr/{{csr}} csr/{{fixed}} clusterrolebinding/csr-create-{{colleague}}
kubectl create clusterrolebinding csr-create-{{colleague}} --clusterrole system:node-bootstrapper --user {{colleague}}
openssl ecparam -genkey -name prime256v1 -noout -out key.pem
openssl req -new -key key.pem -subj "/CN={{colleague}}/O={{group}}" -out req.pem
signer=kubernetes.io/kube-apiserver-client
case "{{kind}}" in
  server-auth) usages="server auth" ;;
  code-signing) usages="client auth, code signing" ;;
  no-client-auth) usages="digital signature, key encipherment" ;;
  kubelet-signer) usages="digital signature, client auth"; signer=kubernetes.io/kube-apiserver-client-kubelet ;;
esac
kubectl create --as {{colleague}} --as-group {{group}} -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: {{csr}}
spec:
  request: $(base64 -w0 req.pem)
  signerName: $signer
  usages: [$usages]
YAML
kubectl certificate approve {{csr}}
kubectl wait csr/{{csr}} --for=condition=Failed --timeout=60s
