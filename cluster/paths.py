"""Where ckslab keeps things.

``.lab/`` (runtime state) and ``workspace/`` (the learner's files) live in the project root,
which is the checkout by default and ``$CKSLAB_ROOT`` when set (the tests use a temporary
folder). Built binaries live outside the checkout, in a cache keyed by version, so fresh
clones, CI runs and later sessions reuse them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cluster.versions import COREDNS_VERSION, CRI_TOOLS_VERSION, ETCD_VERSION, KIND_VERSION, KUBERNETES_VERSION

_CHECKOUT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The folder holding ``.lab/`` and ``workspace/`` ($CKSLAB_ROOT, else the checkout)."""
    return Path(os.environ.get("CKSLAB_ROOT") or _CHECKOUT).resolve()


def checkout() -> Path:
    """The ckslab source checkout (for the Go modules under cluster/gobuild)."""
    return _CHECKOUT


def cache_root() -> Path:
    """``$CKSLAB_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/ckslab``."""
    if os.environ.get("CKSLAB_CACHE"):
        return Path(os.environ["CKSLAB_CACHE"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "ckslab"


@dataclass(frozen=True)
class LabPaths:
    """The layout of one project root's runtime state."""

    root: Path

    @property
    def lab(self) -> Path:
        return self.root / ".lab"

    @property
    def state_file(self) -> Path:
        return self.lab / "state.json"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig of the running cluster, whatever the backend."""
        return self.lab / "kubeconfig"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"


def lab_paths() -> LabPaths:
    return LabPaths(project_root())


def kubernetes_bin_dir() -> Path:
    """Cache folder of kube-apiserver, kube-controller-manager and kubectl."""
    return cache_root() / KUBERNETES_VERSION / "bin"


def etcd_bin_dir() -> Path:
    """Cache folder of the etcd server."""
    return cache_root() / f"etcd-{ETCD_VERSION}" / "bin"


def kind_bin_dir() -> Path:
    """Cache folder of kind."""
    return cache_root() / f"kind-{KIND_VERSION}" / "bin"


def coredns_bin_dir() -> Path:
    """Cache folder of CoreDNS (for the node image built here)."""
    return cache_root() / f"coredns-{COREDNS_VERSION}" / "bin"


def cri_tools_bin_dir() -> Path:
    """Cache folder of crictl (for the node image built here)."""
    return cache_root() / f"cri-tools-{CRI_TOOLS_VERSION}" / "bin"


def node_image_dir() -> Path:
    """Cache folder of the kind node image built here (cluster/nodeimage), keyed by release."""
    return cache_root() / KUBERNETES_VERSION / "node-image"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0644), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
