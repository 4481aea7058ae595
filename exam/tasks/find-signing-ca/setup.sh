#!/usr/bin/env bash
# The found certificate, signed on the node with the {{signer}} key; its key and request are not kept.
set -euo pipefail
case {{signer}} in
  etcd-ca) ca=etc/kubernetes/pki/etcd/ca ;;
  front-proxy-ca) ca=etc/kubernetes/pki/front-proxy-ca ;;
esac
cd "$(ckslab node path /)"
rm -rf .{{dir}} && mkdir -p .{{dir}}
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/key" -subj "/CN={{name}}" -out "$work/csr" 2>/dev/null
openssl x509 -req -in "$work/csr" -CA $ca.crt -CAkey $ca.key -set_serial "0x$(openssl rand -hex 8)" \
  -days {{days}} -out .{{dir}}/{{name}}.crt 2>/dev/null
