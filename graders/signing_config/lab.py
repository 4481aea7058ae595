"""The signing-config lab's files, the duration it asks for, and the commands that fix things.

Every name derives from the user (``jane`` unless ``CKSLAB_USER`` says otherwise). The
controller manager is the cluster's own, shared by every learner: only the answers file and the
CSR ``<user>-short`` are the learner's. Pure code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cluster.backends.node import Node

#: The --cluster-signing-duration the lab asks for: 30 days.
TARGET_TEXT = "720h"
TARGET = dt.timedelta(hours=720)
#: Where setup.sh keeps the controller manager's manifest as it was before the lab (reset
#: restores it), relative to the project root.
ORIGINAL_MANIFEST = Path(".lab") / "signing-config" / "original-kube-controller-manager.yaml"
#: The controller manager's static pod manifest on the control-plane node (kubeadm's path).
MANIFEST_DIR = "/etc/kubernetes/manifests"
MANIFEST = f"{MANIFEST_DIR}/kube-controller-manager.yaml"
SHOW = "ckslab controlplane show controller-manager"
RESTART = "ckslab controlplane restart controller-manager"


@dataclass(frozen=True)
class SigningLab:
    """One learner's copy of the lab: the workspace files and the project root of the cluster."""

    workspace: Path
    user: str
    root: Path

    @property
    def answers(self) -> Path:
        return self.workspace / "signing.yaml"

    @property
    def csr_name(self) -> str:
        return f"{self.user}-short"

    @property
    def key(self) -> Path:
        return self.workspace / f"{self.csr_name}.key"

    @property
    def csr(self) -> Path:
        return self.workspace / f"{self.csr_name}.csr"

    @property
    def manifest(self) -> Path:
        return self.workspace / f"{self.csr_name}-csr.yaml"

    @property
    def crt(self) -> Path:
        return self.workspace / f"{self.csr_name}.crt"

    @property
    def original_manifest(self) -> Path:
        return self.root / ORIGINAL_MANIFEST

    # --- hints ------------------------------------------------------------------------------

    @property
    def show_flags(self) -> str:
        return f"{SHOW} | grep -E -- '--cluster-signing|--controllers'"

    def change_duration(self, node: Node) -> str:
        if node.runs_kubelet:
            return (f"add the item - --cluster-signing-duration={TARGET_TEXT} to spec.containers[0].command in "
                    f"{MANIFEST} ({node.typed('bash', interactive=True)}); the kubelet restarts the static pod")
        return (f"add the item - --cluster-signing-duration={TARGET_TEXT} to spec.containers[0].command in "
                f"{node.path(MANIFEST)}, then {RESTART}")

    def restart(self, node: Node) -> str:
        if node.runs_kubelet:
            return ("the kubelet restarts the static pod when the manifest changes: "
                    "kubectl -n kube-system get pod -l component=kube-controller-manager")
        return RESTART

    @property
    def resubmit(self) -> str:
        return (f"kubectl delete csr {self.csr_name}, submit {self.csr_name}.csr again without "
                f"expirationSeconds, then kubectl certificate approve {self.csr_name}")

    @property
    def save_crt(self) -> str:
        return (f"kubectl get csr {self.csr_name} -o jsonpath='{{.status.certificate}}' "
                f"| base64 -d > {self.crt.name}")
