#!/usr/bin/env bash
# Reference solution of the expiry-rotation lab, with the commands of the exam.
# `ckslab solve expiry-rotation` runs it in the lab's workspace after setup.sh, with KUBECONFIG
# set to the admin kubeconfig, the pinned kubectl first on PATH, and CKSLAB_USER (jane by default).
set -euo pipefail
user="${CKSLAB_USER:-jane}"
robot="$user-ci"

# 1. the facts: the API server's minimum, the setup certificate's validity as issued
#    (600 s asked + 300 s of NotBefore backdating), and the signer's maximum, its
#    --cluster-signing-duration, measured: a CSR asking for two years gets the maximum.
#    (Never assumed: the signing-config lab changes it.)
seconds() {  # CRT: notAfter - notBefore, in seconds
  echo $(( $(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) \
         - $(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s) ))
}
openssl x509 -in "$user.crt" -noout -dates
probe="$user-probe"
kubectl delete csr "$probe" --ignore-not-found >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $probe
spec:
  request: $(base64 -w 0 "$user.csr" 2>/dev/null || openssl req -new -key "$user.key" -subj "/CN=$user" | base64 -w 0)
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 63072000
  usages: [client auth]
YAML
kubectl certificate approve "$probe" >/dev/null
kubectl wait "csr/$probe" --for=jsonpath='{.status.certificate}' --timeout=60s >/dev/null
kubectl get csr "$probe" -o jsonpath='{.status.certificate}' | base64 -d > "$probe.crt"
kubectl delete csr "$probe" >/dev/null
cat > expiry.yaml <<YAML
minimum_expiration_seconds: 600
setup_validity_seconds: $(seconds "$user.crt")
signing_duration_hours: $(( $(seconds "$probe.crt") / 3600 ))
YAML
rm -f "$probe.crt"
cat expiry.yaml

# 2. a new key: renewing a certificate for the old key renews the old key's exposure too
openssl genrsa -out "$user-new.key" 2048
chmod 600 "$user-new.key"

# 3. a CSR for one day, for the new key
openssl req -new -key "$user-new.key" -subj "/CN=$user" -out "$user-renewed.csr"
cat > "$user-renewed-csr.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $user-renewed
spec:
  request: $(base64 -w 0 "$user-renewed.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages:
  - digital signature
  - key encipherment
  - client auth
YAML
kubectl delete csr "$user-renewed" --ignore-not-found
kubectl apply -f "$user-renewed-csr.yaml"
kubectl certificate approve "$user-renewed"
kubectl wait "csr/$user-renewed" --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr "$user-renewed" -o jsonpath='{.status.certificate}' | base64 -d > "$user-renewed.crt"
openssl x509 -in "$user-renewed.crt" -noout -dates

# 4. the kubeconfig: same user entry, new certificate and key
kubectl config set-credentials "$user" --client-certificate="$user-renewed.crt" \
  --client-key="$user-new.key" --embed-certs --kubeconfig="$user.kubeconfig"
kubectl auth whoami --kubeconfig="$user.kubeconfig"

# 5. the leaked key of $robot: no revocation, so take every right away from that name
kubectl get clusterrolebindings,rolebindings -A -o wide | grep -w "$robot" || true
kubectl delete clusterrolebinding "$robot-view" --ignore-not-found
kubectl auth can-i list pods -A --as="$robot" || true
