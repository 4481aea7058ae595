"""The control-plane-certificates lab's files and the commands its hints give, by backend. Pure code.

The commands are the ones a learner types where kubeadm's files are: in the kind node
(``docker exec <node> kubeadm ...``), or on the local backend chrooted into ``.lab/local`` with
``--rootfs`` (kubeadm v1.37 reads kubeconfigs from ``/etc/kubernetes`` only: there is no
``--kubeconfig-dir`` for ``certs renew`` or ``check-expiration``), as root or in a user namespace of
one's own, ``unshare -r``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    backend: str
    #: The kind node's container ("" on the local backend).
    node: str = ""
    #: The engine's client on kind (docker or podman).
    engine: str = "docker"

    @property
    def expiration(self) -> Path:
        return self.workspace / "expiration.yaml"

    @property
    def cas(self) -> Path:
        return self.workspace / "cas.yaml"

    @property
    def kubeconfig(self) -> Path:
        """ckslab's admin kubeconfig: the learner's own copy of admin.conf."""
        return self.root / ".lab" / "kubeconfig"

    @property
    def start(self) -> str:
        return f"ckslab start {LAB_ID}"

    @property
    def reset(self) -> str:
        """Starts the lab over (a second ``start`` keeps the certificates as they are)."""
        return f"ckslab reset {LAB_ID}"

    def kubeadm(self, args: str) -> str:
        if self.backend == "kind":
            return f"{self.engine} exec {self.node} kubeadm {args}"
        return f"unshare -r kubeadm {args} --rootfs {self.root / '.lab' / 'local'}"

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
        if self.backend == "kind":
            cluster = self.node.removesuffix("-control-plane")
            return f"kind export kubeconfig --name {cluster} --kubeconfig {self.kubeconfig}"
        return f"cp {self.root / '.lab' / 'local' / 'etc' / 'kubernetes' / 'admin.conf'} {self.kubeconfig}"
