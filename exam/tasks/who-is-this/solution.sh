#!/usr/bin/env bash
set -euo pipefail
kubectl config use-context {{context}}
mkdir -p "$(dirname {{file}})"
found=$(mktemp)
kubectl get secret {{secret}} -n {{ns}} -o jsonpath='{.data.kubeconfig}' | base64 -d > "$found"
cert=$(kubectl config view --kubeconfig "$found" --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d)
subject=$(openssl x509 -noout -subject -nameopt RFC2253 <<< "$cert")   # subject=O=team,O=group,CN=user
user=$(tr ',+' '\n\n' <<< "${subject#subject=}" | sed -n 's/^CN=//p')
groups=$(tr ',+' '\n\n' <<< "${subject#subject=}" | sed -n 's/^O=//p' | tac | paste -sd, | sed 's/,/, /g')
expires=$(date -u -d "$(openssl x509 -noout -enddate <<< "$cert" | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
can=$(kubectl --kubeconfig "$found" auth can-i list secrets -n {{ns}} || true)
rm -f "$found"
printf 'user: %s\ngroups: %s\nexpires: %s\nlist-secrets: %s\n' "$user" "$groups" "$expires" "$can" > {{file}}
cat {{file}}
