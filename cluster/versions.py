"""The one place where ckslab pins what it runs.

Every backend runs the same Kubernetes release, so a lab behaves the same whether the learner
uses kind or the local control plane. The release is the one whose node image the pinned kind
release uses by default (kind v0.33.0 -> kindest/node:v1.37.0); the Go modules under
``cluster/gobuild/`` must require exactly these versions (``tests/test_versions.py`` checks it).
"""

from __future__ import annotations

#: The Kubernetes release of kube-apiserver, kube-controller-manager and kubectl.
KUBERNETES_VERSION = "v1.37.0"
#: When that release was tagged (the module's publication time); stamped as its build date.
KUBERNETES_BUILD_DATE = "2026-08-26T10:44:20Z"
#: The etcd server that release recommends (kubeadm's DefaultEtcdVersion "3.7.0-0").
ETCD_VERSION = "v3.7.0"
#: The kind release, and the node image it pins for KUBERNETES_VERSION.
KIND_VERSION = "v0.33.0"
#: Fully qualified: podman pulls no short name (cluster/imageref.py).
KIND_NODE_IMAGE = (
    "docker.io/kindest/node:v1.37.0"
    "@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
)
#: What kubeadm of KUBERNETES_VERSION deploys and runs (cmd/kubeadm/app/constants/constants.go:
#: CoreDNSVersion, PauseVersion); the node image built here (cluster/nodeimage) builds them.
COREDNS_VERSION = "v1.14.6"
PAUSE_VERSION = "3.10.2"
#: crictl, as kind v0.33.0's base image builds it (images/base/Dockerfile CRICTL_VERSION).
CRI_TOOLS_VERSION = "v1.36.0"
#: The Debian release of the node image built here (kind's own base is debian:trixie-slim; the
#: machines we build on are bookworm, whose mirror they reach).
NODE_IMAGE_DEBIAN_SUITE = "bookworm"
#: The oldest Go that builds KUBERNETES_VERSION (its go.mod's go directive).
GO_MINIMUM = (1, 26)


def minor(version: str = KUBERNETES_VERSION) -> int:
    """Return the minor number of a ``vMAJOR.MINOR.PATCH`` version (``v1.37.0`` -> 37)."""
    return int(version.lstrip("v").split(".")[1])
