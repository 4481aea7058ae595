"""What goes into the node image built here: packages, kind's node files, our files, images.

Pure: no I/O beyond reading the files it names. The build follows kind's own recipe
(``images/base/Dockerfile`` and ``pkg/build/nodeimage/buildcontext.go`` of the pinned kind
module) with Debian's packages in place of kind's source builds of containerd, runc and the CNI
plugins, and without kindnetd and local-path-provisioner (no registry serves them here, and the
Go module proxy does not serve kindnetd): one node's pods get a plain bridge CNI configuration,
and the default StorageClass is kind's own fallback (``host-path``, no provisioner pod).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cluster.versions import (
    COREDNS_VERSION, CRI_TOOLS_VERSION, ETCD_VERSION, KIND_VERSION, KUBERNETES_VERSION, NODE_IMAGE_DEBIAN_SUITE,
    PAUSE_VERSION,
)

#: The local node image's name; the tag is the Kubernetes release, as kindest/node's is.
IMAGE_REPOSITORY = "ckslab/node"
IMAGE = f"{IMAGE_REPOSITORY}:{KUBERNETES_VERSION}"
#: The label that says which recipe made an image (a changed recipe means a rebuild).
RECIPE_LABEL = "io.ckslab.node-image.recipe"

#: kind's base packages (images/base/Dockerfile) that kind builds from source come from Debian
#: here: containerd, runc, containernetworking-plugins. dbus lets systemd answer systemctl fast.
NODE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
    "util-linux", "mount", "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq",
    "procps", "e2fsprogs", "socat", "containerd", "runc", "containernetworking-plugins",
)
#: The kube-proxy image's base: what its nftables mode execs (nft) and conntrack clean-up.
PROXY_PACKAGES = ("nftables", "conntrack", "iptables", "kmod")

#: kind's node files (images/base/files in the kind module) and their modes, as its Dockerfile
#: copies them: (path in the module below images/base/files, mode).
KIND_FILES = (
    ("usr/local/bin/entrypoint", 0o755),
    ("usr/local/bin/clean-install", 0o755),
    ("kind/README.txt", 0o644),
    ("kind/bin/mount-product-files.sh", 0o755),
    ("kind/bin/undo-mount-hacks.sh", 0o755),
    ("kind/bin/create-kubelet-cgroup-v2.sh", 0o755),
    ("etc/crictl.yaml", 0o644),
    ("etc/containerd/config.toml", 0o644),
    ("etc/default/kubelet", 0o644),
    ("etc/sysctl.d/10-network-security.conf", 0o644),
    ("etc/sysctl.d/10-network-magic.conf", 0o644),
    ("etc/systemd/system/kubelet.slice", 0o644),
    ("etc/systemd/system/kubelet.service", 0o644),
    ("etc/systemd/system/containerd.service", 0o644),
    ("etc/systemd/system/undo-mount-hacks.service", 0o644),
    ("etc/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644),
    ("etc/systemd/system/kubelet.service.d/11-kind.conf", 0o644),
)

#: The CNI configuration of a node (pod subnet: kind's default podSubnet 10.244.0.0/16, of which
#: the first node's podCIDR is 10.244.0.0/24). One node's pods reach each other, the node and
#: Services; pods on other nodes are not routed (that is kindnetd's job).
CNI_CONFIG = {
    "cniVersion": "1.0.0",
    "name": "ckslab",
    "plugins": [
        {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
CNI_CONFIG_PATH = "/etc/cni/net.d/10-ckslab-bridge.conflist"

#: kind's fallback StorageClass (pkg/cluster/internal/create/actions/installstorage/storage.go),
#: written where kind looks first, so kind applies it and no provisioner image is needed.
DEFAULT_STORAGE = """# host-path based default storage class (kind's fallback; no provisioner pod)
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  namespace: kube-system
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
"""

#: Commands run in the root filesystem after the files are in, as kind's Dockerfile does.
CUSTOMIZE = """set -eu
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/*
rm -f /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev*
rm -f /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo ReadKMsg=no >> /etc/systemd/journald.conf
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests /opt/cni
ln -sfn /usr/lib/cni /opt/cni/bin
ln -sf /usr/bin/containerd /usr/local/bin/containerd
sed -i 's#sandbox_image = .*#sandbox_image = "registry.k8s.io/pause:{pause}"#' /etc/containerd/config.toml
ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {{"path": "/kind/bin/mount-product-files.sh"}}' \\
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/share/doc /usr/share/man
""".format(pause=PAUSE_VERSION)

#: The binaries placed in the node (kind's build copies them to /usr/bin).
NODE_BINARIES = (("kubeadm", "/usr/bin/kubeadm"), ("kubelet", "/usr/bin/kubelet"), ("kubectl", "/usr/bin/kubectl"),
                 ("crictl", "/usr/local/bin/crictl"))


@dataclass(frozen=True)
class Component:
    """An image kubeadm asks for, and the binaries of ours that make it."""

    repository: str  # the reference without the tag, as kubeadm prints it
    binaries: tuple[tuple[str, str], ...]  # (name in cluster.binaries or "pause", path in the image)
    entrypoint: tuple[str, ...] = ()
    debian_base: bool = False  # on PROXY_PACKAGES' root filesystem instead of an empty one


#: By repository (``kubeadm config images list`` gives the tags). Entrypoints as in the images
#: Kubernetes publishes; kubeadm's manifests give a command anyway, CoreDNS's only args.
COMPONENTS = {
    c.repository: c for c in (
        Component("registry.k8s.io/kube-apiserver", (("kube-apiserver", "/usr/local/bin/kube-apiserver"),)),
        Component("registry.k8s.io/kube-controller-manager",
                  (("kube-controller-manager", "/usr/local/bin/kube-controller-manager"),)),
        Component("registry.k8s.io/kube-scheduler", (("kube-scheduler", "/usr/local/bin/kube-scheduler"),)),
        Component("registry.k8s.io/kube-proxy", (("kube-proxy", "/usr/local/bin/kube-proxy"),), debian_base=True),
        Component("registry.k8s.io/etcd", (("etcd", "/usr/local/bin/etcd"),), ("/usr/local/bin/etcd",)),
        Component("registry.k8s.io/coredns/coredns", (("coredns", "/coredns"),), ("/coredns",)),
        Component("registry.k8s.io/pause", (("pause", "/pause"),), ("/pause",)),
    )
}


def component_for(reference: str) -> Component:
    """The component that makes ``reference`` (``repo:tag``); KeyError for one we cannot make."""
    return COMPONENTS[reference.rpartition(":")[0]]


def recipe_id(kind_module: Path, own_sources: list[Path]) -> str:
    """A short hash of everything that decides the image: versions, packages, files, this code.

    ``kind_module`` is the pinned kind module's folder; ``own_sources`` the files of this package.
    """
    digest = hashlib.sha256()
    facts = [KUBERNETES_VERSION, ETCD_VERSION, COREDNS_VERSION, PAUSE_VERSION, CRI_TOOLS_VERSION, KIND_VERSION,
             NODE_IMAGE_DEBIAN_SUITE, *NODE_PACKAGES, *PROXY_PACKAGES, CUSTOMIZE, DEFAULT_STORAGE,
             json.dumps(CNI_CONFIG, sort_keys=True)]
    digest.update("\0".join(facts).encode())
    for rel, mode in KIND_FILES:
        digest.update(f"{rel}:{mode:o}".encode())
        digest.update((kind_module / "images" / "base" / "files" / rel).read_bytes())
    for source in sorted(own_sources):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]
