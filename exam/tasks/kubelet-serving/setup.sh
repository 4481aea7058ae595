#!/usr/bin/env bash
# The kubelet serves a self-signed certificate (no serverTLSBootstrap) and a forged kubelet-serving CSR is pending:
# in the node's name, requested by a service account, with one address that is not the node's.
set -euo pipefail
node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
config=/var/lib/kubelet/config.yaml
# A new cluster's kubelet has no serverTLSBootstrap and no kubelet-server-*.pem. One set up again (`ckslab exam solve`,
# the tests) loses both, so that the kubelet sends a new CSR once this attempt sets serverTLSBootstrap (with a saved
# certificate it would not), and the kubelet is restarted only when it had the setting.
ckslab node exec -- sh -c "rm -f /var/lib/kubelet/pki/kubelet-server-*.pem; ! grep -q '^serverTLSBootstrap:' $config \
  || { sed -i '/^serverTLSBootstrap:/d' $config && systemctl restart kubelet; }"
# Every kubelet-serving CSR of an earlier attempt goes, so that the only ones are this attempt's.
old=$(kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving -o name)
[ -z "$old" ] || kubectl delete $old
kubectl create namespace {{forger_ns}} --dry-run=client -o yaml | kubectl apply -f -
kubectl -n {{forger_ns}} create serviceaccount {{forger}} --dry-run=client -o yaml | kubectl apply -f -
kubectl create clusterrole {{forger}} --verb create,get,list,watch \
  --resource certificatesigningrequests.certificates.k8s.io --dry-run=client -o yaml | kubectl apply -f -
kubectl create clusterrolebinding {{forger}} --clusterrole {{forger}} --serviceaccount {{forger_ns}}:{{forger}} \
  --dry-run=client -o yaml | kubectl apply -f -
ip=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
if [ "{{extra}}" = service-ip ]; then extra=$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')
else extra="${ip%.*}.{{foreign_octet}}"; [ "$extra" != "$ip" ] || extra="${ip%.*}.254"; fi
openssl ecparam -name prime256v1 -genkey -noout -out forged.key
openssl req -new -key forged.key -subj "/O=system:nodes/CN=system:node:$node" \
  -addext "subjectAltName=DNS:$node,IP:$ip,IP:$extra" -out forged.csr
kubectl delete csr csr-{{forged}} --ignore-not-found
kubectl create --as system:serviceaccount:{{forger_ns}}:{{forger}} -f - <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: csr-{{forged}}
spec:
  request: $(base64 -w0 forged.csr)
  signerName: kubernetes.io/kubelet-serving
  usages: [digital signature, server auth]
YAML
