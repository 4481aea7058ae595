#!/usr/bin/env bash
# Setup of the signing-config lab: keep the controller manager's original configuration, and
# give it back when the lab is started again (`ckslab reset signing-config` runs this too).
# `ckslab start` runs it in the lab's workspace with KUBECONFIG set to the admin kubeconfig
# (<root>/.lab/kubeconfig), the pinned kubectl and `ckslab` first on PATH, and CKSLAB_USER. The node
# is reached with `ckslab node` (the same on every backend ckslab runs).
#
# The first run saves the manifest in <root>/.lab/signing-config/ (again for a new cluster: the
# copy is tied to the cluster's API server and CA). A later run restores that manifest if it was
# changed, and restarts the controller manager if the flags it runs with are not the original
# ones: on the local backend with `ckslab controlplane restart`, on kind the kubelet does it.
# The controller manager is shared: this puts it back for every learner of the cluster.
# Safe to run twice: a plain `ckslab start` keeps a manifest changed since the lab started, and says so;
# only CKSLAB_AGAIN=1 (`ckslab reset`, `ckslab solve`, `ckslab start --again`) restores the original.
# lab.yaml's backends keep it off the existing backend, whose controller manager ckslab cannot change.
set -euo pipefail
root="${CKSLAB_ROOT:-$(cd "$(dirname "$KUBECONFIG")/.." && pwd)}"
export CKSLAB_ROOT="$root"
store="$root/.lab/signing-config"
original="$store/original-kube-controller-manager.yaml"
manifest=/etc/kubernetes/manifests/kube-controller-manager.yaml

if ! info=$(ckslab node info 2>&1); then
  echo "signing-config cannot be done on this cluster: ckslab neither sees nor changes the" \
       "controller manager of a cluster it did not create. Use make up BACKEND=local (or kind)."
  exit 0
fi
kubelet=$(sed -n 's/^kubelet: //p' <<<"$info")  # yes: the kubelet restarts the static pod by itself

mkdir -p "$store"
ckslab node cat "$manifest" > "$store/current.yaml"
cluster=$(kubectl config view --raw --minify \
  -o jsonpath='{.clusters[0].cluster.server}{.clusters[0].cluster.certificate-authority-data}' \
  | sha256sum | cut -d' ' -f1)

if [ ! -s "$original" ] || [ "$(cat "$store/cluster" 2>/dev/null)" != "$cluster" ]; then
  mv "$store/current.yaml" "$original"
  echo "$cluster" > "$store/cluster"
  echo "saved the controller manager's manifest as $original"
elif ! cmp -s "$store/current.yaml" "$original" && [ -z "${CKSLAB_AGAIN:-}" ]; then
  duration=$(sed -n 's/^ *- --cluster-signing-duration=/--cluster-signing-duration=/p' "$store/current.yaml" | tail -1)
  rm -f "$store/current.yaml"
  echo "NOTE: $(ckslab node path "$manifest") was changed since the lab started: your change is kept (it has" \
       "${duration:-no --cluster-signing-duration flag})." \
       "signing.yaml still records the duration from before your change. To put the original back and do the lab again:" \
       "ckslab reset signing-config"
  exit 0
elif ! cmp -s "$store/current.yaml" "$original"; then
  echo "NOTE: An earlier run changed $(ckslab node path "$manifest"): the original is restored (for every learner of this cluster)."
  ckslab node write "$manifest" < "$original"  # written beside, then renamed: never half a file
fi
rm -f "$store/current.yaml"

# The flags of the original command, without the program, one a line.
wanted=$(python3 -c 'import sys, yaml
print("\n".join(yaml.safe_load(open(sys.argv[1]))["spec"]["containers"][0]["command"][1:]))' "$original")

running_flags() {
  { ckslab node flags controller-manager 2>/dev/null || true; } | tail -n +2
}

if [ "$(running_flags)" != "$wanted" ]; then
  if [ "$kubelet" = yes ]; then
    echo "waiting for the kubelet to restart the controller manager with its original flags"
    for _ in $(seq 90); do
      [ "$(running_flags)" = "$wanted" ] && break
      sleep 2
    done
    [ "$(running_flags)" = "$wanted" ] || { echo "the controller manager did not come back with its original flags" >&2; exit 1; }
  else
    ckslab controlplane restart controller-manager
  fi
fi
echo "the controller manager runs with its original configuration:"
running_flags | grep -E -- '^--(cluster-signing|controllers)' || true
duration=$(running_flags | grep -- '^--cluster-signing-duration=' | tail -1 || true)
echo "NOTE: The controller manager runs with its original configuration: ${duration:-no --cluster-signing-duration flag (the default, 8760h)}."
