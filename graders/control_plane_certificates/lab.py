"""The control-plane-certificates lab's files and the commands its hints give. No I/O.

The commands are the ones a learner types where kubeadm's files are, as the cluster's node names
them (``Node.kubeadm_typed``): in the kind node (``<engine> exec <node> kubeadm ...``), or on the
local backend chrooted into ``.lab/local`` with ``--rootfs`` (kubeadm v1.37 reads kubeconfigs from
``/etc/kubernetes`` only: there is no ``--kubeconfig-dir`` for ``certs renew`` or
``check-expiration``), as root or in a user namespace of one's own, ``unshare -r``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cluster.backends.node import Node
from cluster.paths import LabPaths

LAB_ID = "control-plane-certificates"
#: ``ckslab controlplane restart`` names, by the component's own name.
SHORT = {"etcd": "etcd", "kube-apiserver": "apiserver", "kube-controller-manager": "controller-manager",
         "kube-scheduler": "scheduler"}


@dataclass(frozen=True)
class CertLab:
    """Where the learner's answers are, and the hints' commands for this cluster."""

    workspace: Path
    user: str
    root: Path
    #: The cluster's control-plane node, where kubeadm's files are.
    node: Node

    @property
    def expiration(self) -> Path:
        return self.workspace / "expiration.yaml"

    @property
    def cas(self) -> Path:
        return self.workspace / "cas.yaml"

    @property
    def kubeconfig(self) -> Path:
        """ckslab's admin kubeconfig: the learner's own copy of admin.conf."""
        return LabPaths(self.root).kubeconfig

    @property
    def start(self) -> str:
        return f"ckslab start {LAB_ID}"

    @property
    def reset(self) -> str:
        """Starts the lab over (a second ``start`` keeps the certificates as they are)."""
        return f"ckslab reset {LAB_ID}"

    def kubeadm(self, args: str) -> str:
        return self.node.kubeadm_typed(args)

    @property
    def check(self) -> str:
        return self.kubeadm("certs check-expiration")

    def renew(self, name: str = "all") -> str:
        return self.kubeadm(f"certs renew {name}")

    @staticmethod
    def restart(component: str) -> str:
        return f"ckslab controlplane restart {SHORT.get(component, component)}"

    @property
    def copy_admin(self) -> str:
        return self.node.admin_kubeconfig_typed(str(self.kubeconfig))
