"""The certificates-api lab's files and the commands that fix them, for one user.

Every name derives from the user (``jane`` unless ``CKSLAB_USER`` says otherwise), so the
graders' tests can run side by side on one cluster with users of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabFiles:
    """Where the learner keeps this lab's files, and the commands the hints suggest."""

    workspace: Path
    user: str

    @property
    def key(self) -> Path:
        return self.workspace / f"{self.user}.key"

    @property
    def csr(self) -> Path:
        return self.workspace / f"{self.user}.csr"

    @property
    def manifest(self) -> Path:
        return self.workspace / f"{self.user}-csr.yaml"

    @property
    def crt(self) -> Path:
        return self.workspace / f"{self.user}.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.workspace / f"{self.user}.kubeconfig"

    # --- hints ------------------------------------------------------------------------------

    @property
    def make_key(self) -> str:
        return f"openssl genrsa -out {self.key.name} 2048"

    @property
    def make_csr(self) -> str:
        return f'openssl req -new -key {self.key.name} -subj "/CN={self.user}" -out {self.csr.name}'

    @property
    def apply(self) -> str:
        return f"kubectl apply -f {self.manifest.name}"

    @property
    def resubmit(self) -> str:
        return f"kubectl delete csr {self.user} --ignore-not-found && kubectl apply -f {self.manifest.name}"

    @property
    def approve(self) -> str:
        return f"kubectl certificate approve {self.user}"

    @property
    def save_crt(self) -> str:
        return (f"kubectl get csr {self.user} -o jsonpath='{{.status.certificate}}' "
                f"| base64 -d > {self.crt.name}")

    @property
    def set_credentials(self) -> str:
        return (f"kubectl config set-credentials {self.user} --client-certificate={self.crt.name} "
                f"--client-key={self.key.name} --embed-certs --kubeconfig {self.kubeconfig.name}")

    @property
    def whoami(self) -> str:
        return f"kubectl auth whoami --kubeconfig {self.kubeconfig.name}"
