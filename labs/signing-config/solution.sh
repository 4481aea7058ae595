#!/usr/bin/env bash
# Reference solution of the signing-config lab, with the commands of the exam.
# `ckslab solve signing-config` runs it in the lab's workspace with KUBECONFIG set to the admin
# kubeconfig (<root>/.lab/kubeconfig), the pinned kubectl and `ckslab` first on PATH, and
# CKSLAB_USER (jane by default), right after setup.sh gave back the original configuration.
set -euo pipefail
user="${CKSLAB_USER:-jane}"
name="$user-short"
duration=720h
root="${CKSLAB_ROOT:-$(cd "$(dirname "$KUBECONFIG")/.." && pwd)}"
export CKSLAB_ROOT="$root"
info=$(ckslab node info) || { echo "signing-config cannot be done on this cluster." >&2; exit 1; }
kubelet=$(sed -n 's/^kubelet: //p' <<<"$info")  # yes: the kubelet restarts the static pod by itself

# 1. The flags the controller manager runs with (its process on the control-plane node).
flags=$(ckslab node flags controller-manager)
flag() { grep -- "^--$1=" <<<"$flags" | tail -1 | cut -d= -f2- || true; }
grep -E -- '^--(cluster-signing|controllers)' <<<"$flags"
controllers=$(flag controllers)
# `*` runs every controller that is on by default: csrsigning, csrapproving and csrcleaner are.
case ",${controllers:-*}," in
  *,\*,*) ;;
  *) echo "--controllers=$controllers has no '*': list its CSR controllers by hand" >&2; exit 1 ;;
esac
current=$(flag cluster-signing-duration)
cat > signing.yaml <<YAML
cert_file: $(flag cluster-signing-cert-file)
key_file: $(flag cluster-signing-key-file)
controllers: [csrsigning, csrapproving, csrcleaner]
duration: ${current:-8760h}
YAML
cat signing.yaml

# 2. --cluster-signing-duration in the static pod's manifest, then the restart.
manifest=/etc/kubernetes/manifests/kube-controller-manager.yaml
set_duration="import sys, yaml
doc = yaml.safe_load(sys.stdin)
container = doc['spec']['containers'][0]
command = [c for c in container['command'] if not c.startswith('--cluster-signing-duration')]
container['command'] = command + ['--cluster-signing-duration=$duration']
sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))"
# node write reads all its input before it replaces the file (beside, then renamed): never half a file.
ckslab node cat "$manifest" | python3 -c "$set_duration" | ckslab node write "$manifest"
if [ "$kubelet" = yes ]; then
  echo "waiting for the kubelet to restart the static pod"
  for _ in $(seq 90); do
    kubectl -n kube-system get pod -l component=kube-controller-manager \
      -o jsonpath='{.items[0].spec.containers[0].command}' | grep -q -- "--cluster-signing-duration=$duration" \
      && kubectl -n kube-system wait pod -l component=kube-controller-manager --for=condition=Ready --timeout=5s \
      && break
    sleep 2
  done
else
  ckslab controlplane restart controller-manager  # waits until the CSR signer runs again
fi
grep -- --cluster-signing-duration <(ckslab controlplane show controller-manager)

# 3. A new certificate, without expirationSeconds: it lasts what the signer allows.
openssl genrsa -out "$name.key" 2048
openssl req -new -key "$name.key" -subj "/CN=$user" -out "$name.csr"
cat > "$name-csr.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $name
spec:
  request: $(base64 -w 0 "$name.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages:
  - digital signature
  - key encipherment
  - client auth
YAML
kubectl delete csr "$name" --ignore-not-found
kubectl apply -f "$name-csr.yaml"
kubectl certificate approve "$name"
kubectl wait "csr/$name" --for=jsonpath='{.status.certificate}' --timeout=60s
kubectl get csr "$name" -o jsonpath='{.status.certificate}' | base64 -d > "$name.crt"
openssl x509 -in "$name.crt" -noout -dates
