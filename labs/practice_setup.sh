# The practice tests' shared setup functions (labs/practice_set.py puts this before every lab's
# `setup:`). Every object made here carries the label ckslab.dev/practice, and the first thing a
# setup does is delete those of the last attempt (of any lab): a practice test leaves one set of
# objects in the cluster, never the lab's own.
set -euo pipefail
kubectl delete csr,clusterrole,clusterrolebinding -l ckslab.dev/practice --ignore-not-found >/dev/null
kubectl delete role,rolebinding --all-namespaces -l ckslab.dev/practice --ignore-not-found >/dev/null

# submit NAME SUBJECT SIGNER USAGES [AS_USER [AS_GROUP [EXPIRATION_SECONDS [SANS]]]]
# A new key and PKCS#10 request for SUBJECT (openssl's /CN=.../O=...), submitted as the CSR NAME
# by AS_USER in AS_GROUP (impersonation, as `kubectl create --as`); USAGES a YAML list's items.
submit() {
  local name=$1 subject=$2 signer=$3 usages=$4 as=${5:-} group=${6:-} seconds=${7:-} sans=${8:-}
  local ext=() impersonate=() expiration=""
  [ -n "$sans" ] && ext=(-addext "subjectAltName=$sans")
  [ -n "$as" ] && impersonate=(--as "$as")
  [ -n "$group" ] && impersonate+=(--as-group "$group")
  [ -n "$seconds" ] && expiration="expirationSeconds: $seconds"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" \
    -subj "$subject" "${ext[@]}" -out "$name.csr" 2>/dev/null
  kubectl create "${impersonate[@]}" -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $name
  labels: {ckslab.dev/practice: "true"}
spec:
  request: $(base64 -w0 "$name.csr")
  signerName: $signer
  usages: [$usages]
  $expiration
YAML
}

# requesters USER...: let these users create CSRs (as the labs' own requesters may).
requesters() {
  kubectl create clusterrole ckslab-practice-requesters --verb create,get,list,watch \
    --resource certificatesigningrequests.certificates.k8s.io >/dev/null
  local users=()
  for user in "$@"; do users+=(--user "$user"); done
  kubectl create clusterrolebinding ckslab-practice-requesters --clusterrole ckslab-practice-requesters \
    "${users[@]}" >/dev/null
  label clusterrole/ckslab-practice-requesters clusterrolebinding/ckslab-practice-requesters
}

# approve NAME...: approve, then wait (up to a minute) until the signer has issued or failed each one.
approve() {
  kubectl certificate approve "$@" >/dev/null
  local name state
  for name in "$@"; do
    for _ in $(seq 120); do
      state=$(kubectl get csr "$name" -o jsonpath='{.status.certificate}{.status.conditions[?(@.type=="Failed")].type}')
      [ -n "$state" ] && continue 2
      sleep 0.5
    done
    echo "the signer did not sign the CSR $name within a minute: is the controller manager running?" >&2
    return 1
  done
}

# deny NAME...
deny() { kubectl certificate deny "$@" >/dev/null; }

# label KIND/NAME [-n NS]: mark an object made with kubectl create as the practice test's.
label() { kubectl label "$@" ckslab.dev/practice=true --overwrite >/dev/null; }

