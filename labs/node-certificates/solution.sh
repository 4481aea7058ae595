#!/usr/bin/env bash
# Reference solution of the node-certificates lab, with the commands of the exam.
# `ckslab solve node-certificates` runs it in the lab's workspace right after setup.sh, with
# KUBECONFIG (the admin kubeconfig), the pinned kubectl and `ckslab` first on PATH. The node is
# reached with `ckslab node` (kind's node container: what the engine's exec does by hand).
set -euo pipefail
node=$(ckslab node info | sed -n 's/^name: //p')
in_node() { ckslab node exec -- "$@"; }

# 1. The kubelet's client certificate: the file, its subject and end date, its CSR, its rotation.
in_node ls -l /var/lib/kubelet/pki/
client=$(in_node readlink -f /var/lib/kubelet/pki/kubelet-client-current.pem)
in_node cat /var/lib/kubelet/pki/kubelet-client-current.pem | openssl x509 -noout -subject -enddate
kubectl get csr --field-selector spec.signerName=kubernetes.io/kube-apiserver-client-kubelet
subject=$(in_node cat "$client" | openssl x509 -noout -subject -nameopt sep_multiline,sname)
end=$(in_node cat "$client" | openssl x509 -noout -enddate | cut -d= -f2)
rotate=$(in_node sed -n 's/^rotateCertificates: *//p' /var/lib/kubelet/config.yaml)
cat > kubelet-client.yaml <<YAML
file: $client
common_name: $(sed -n 's/^ *CN=//p' <<<"$subject")
organization: $(sed -n 's/^ *O=//p' <<<"$subject")
signer: kubernetes.io/kube-apiserver-client-kubelet
not_after: $(date -u -d "$end" +%Y-%m-%d)
rotate_certificates: ${rotate:-false}
YAML
cat kubelet-client.yaml

# 2. Review every pending kubelet-serving CSR: the requestor must be the node named in the CN,
#    and every SAN one of the node's names or addresses (kubectl get node -o wide).
names=" DNS:$node $(kubectl get node "$node" -o jsonpath='{range .status.addresses[*]}{.type} {.address}{"\n"}{end}' \
  | awk '$1 == "InternalIP" || $1 == "ExternalIP" {print "IP:" $2} $1 == "Hostname" || $1 ~ /DNS/ {print "DNS:" $2}' | tr '\n' ' ')"
kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving
approved=""
for csr in $(kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving \
               -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[0].type}{"\n"}{end}' \
             | awk 'NF == 1 {print $1}'); do
  requestor=$(kubectl get csr "$csr" -o jsonpath='{.spec.username}')
  request=$(kubectl get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d)
  cn=$(openssl req -noout -subject -nameopt sep_multiline,sname <<<"$request" | sed -n 's/^ *CN=//p')
  sans=$(openssl req -noout -text <<<"$request" | grep -A1 'Subject Alternative Name' | tail -1 \
    | tr -d ' ' | tr ',' ' ' | sed 's/IPAddress:/IP:/g')
  echo "$csr: requested by $requestor for CN=$cn, SANs $sans"
  foreign=""
  for san in $sans; do
    [[ "$names" == *" $san "* ]] || foreign="$foreign $san"
  done
  if [ "$requestor" = "system:node:$node" ] && [ "$cn" = "$requestor" ] && [ -z "$foreign" ]; then
    kubectl certificate approve "$csr"
    approved="$csr"
  else
    echo "  not the node's own request (requestor $requestor; SANs not the node's:${foreign:- none})"
    kubectl certificate deny "$csr"
  fi
done
[ -n "$approved" ] || { echo "no pending serving CSR of $node to approve" >&2; exit 1; }
kubectl wait "csr/$approved" --for=jsonpath='{.status.certificate}' --timeout=60s
for _ in $(seq 30); do
  in_node test -e /var/lib/kubelet/pki/kubelet-server-current.pem && break
  sleep 1
done
in_node ls -l /var/lib/kubelet/pki/

# 3. kubectl logs and exec reach the kubelet again.
pod=$(kubectl -n kube-system get pod -l k8s-app=kube-proxy --field-selector "spec.nodeName=$node" \
  -o jsonpath='{.items[0].metadata.name}')
for _ in $(seq 30); do
  kubectl -n kube-system logs "$pod" > logs.txt 2>/dev/null && break
  sleep 1
done
kubectl -n kube-system logs "$pod" > logs.txt
kubectl -n kube-system exec "$pod" -- kube-proxy --version > exec.txt
head -3 logs.txt
cat exec.txt
